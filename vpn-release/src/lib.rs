//! The contract between the release toolkit and the VPN it ships: what
//! `installer-tool` writes into a release and the app and extension read
//! back. Each rule is defined here once, so the two sides cannot drift:
//! the identities and the versioned Mach service name ([`ids`]), the
//! designated requirement of Developer ID code ([`code_requirement`]), the keys
//! of both Info.plists ([`info_plist`]), where the product keeps its data
//! ([`paths`]), the keys the extension reads from its VPN configuration
//! ([`provider_configuration`]), the [`RepairPolicy`] a release hands to `upgrade finish`,
//! the upgrade's state and report ([`upgrade_state`]), the update feed's
//! namespace ([`update_feed`]), how versions compare ([`version_order`]),
//! and the newest macOS API the app calls ([`macos_apis`]).

pub mod code_requirement;
pub mod ids;
pub mod info_plist;
pub mod macos_apis;
pub mod paths;
pub mod provider_configuration;
mod repair_policy;
pub mod update_feed;
pub mod upgrade_state;
pub mod version_order;

pub use ids::{BundleId, IdError, ServiceName, TeamId, Version};
pub use repair_policy::RepairPolicy;
