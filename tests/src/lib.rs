//! Harnesses shared by the cross-crate system tests: the `installer-tool`
//! binary, external readers (bsdtar, 7z, cpio, openssl) run with a
//! description, and throw-away signing identities made by openssl the way a
//! vendor's p12 is made (certificate + key, password protected).

pub mod apple_stubs;
pub mod codesig;
mod demo_pkg;
mod identities;
pub mod json_shape;
pub mod macos_sim;
pub mod netns;
pub mod notary_standin;
pub mod profiles;
mod readers;
mod workspace;
pub mod xar_layout;

pub use demo_pkg::{
    appcast, build_ok, build_pkg, build_with_p12s, demo_pkg, stand_in_release, update_key, BuiltPkg,
};
pub use identities::{make_p12, CertKind, P12_PASSWORD, TEAM_ID};
pub use readers::{
    assert_signature_verifies, cms_verify, fingerprint, signed_entitlements, unpack_cpio_gz,
    unpack_xar,
};
pub use workspace::{
    binary, installer_tool, release_binary, release_config_copy, release_config_with, run_ok, sh,
    verify_findings, workspace_root, zig,
};
