//! `installer-tool`: from one release config to a signed flat `.pkg` of a
//! macOS app with an embedded system network extension, on Linux or macOS.
//!
//! # Map
//! - [`config`]: `release.toml` -> a checked [`config::Release`] (version from
//!   the workspace `Cargo.toml`), made of `vpn-release`'s identities;
//!   [`doctor`]: every problem of a release's inputs, before a build.
//! - [`executables`]: where the two Mach-O executables come from (cargo on a
//!   Mac, [`cross_build`] elsewhere, `--prebuilt`, or zig-compiled
//!   stand-ins); [`macho`]: their checks; [`toolchain`]: zig and the
//!   Rust toolchain they are built with.
//! - [`bundle`] + [`info_plist`] + [`entitlements`]: `Name.app` with the
//!   extension at `Contents/Library/SystemExtensions/`, the versioned
//!   `NEMachServiceName`, checked entitlements; [`provisioning`]: the
//!   provisioning profiles, checked against them before anything is built.
//! - [`signing`]: identities and inside-out signing with `apple-codesign`;
//!   the pkg's RSA + CMS signature with `apple-xar`.
//! - [`pkg`]: the release's flat package (scripts and Distribution from
//!   [`templates`], what Installer.app shows from [`installer_pages`],
//!   written by the `flatpkg` crate);
//!   [`pkg::signing_split`] lets the payload be compressed while signing runs.
//! - [`build`]: the pipeline that ties them together; [`report`]: its JSON.
//!   Notarization and stapling are the `notary` crate's.
//! - [`mdm_profile`]: the configuration profile MDM pushes beside the pkg;
//!   [`updates`]: the update key and the app's feed, [`appcast`]: the
//!   signed feed of releases.
//!
//! The library never prints: progress goes through [`progress::Progress`]
//! and results come back as values.

pub mod appcast;
pub mod build;
pub mod bundle;
pub mod config;
pub mod cross_build;
pub mod doctor;
pub mod entitlements;
pub mod executables;
pub mod info_plist;
pub mod installer_pages;
pub mod macho;
pub mod mdm_profile;
pub mod output_file;
pub mod pkg;
pub mod progress;
pub mod provisioning;
pub mod report;
pub mod signing;
pub mod templates;
pub mod toolchain;
pub mod updates;
pub mod verify;
