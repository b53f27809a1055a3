//! The machine-readable summary of a build (`build-pkg --json`): a versioned
//! schema, so CI scripts can rely on it.

use std::path::PathBuf;

use serde::Serialize;

use notary::NotarizeReport;

use crate::signing::IdentitySummary;

#[derive(Clone, Debug, Serialize)]
pub struct BuildReport {
    pub schema_version: u32,
    pub pkg: PathBuf,
    pub pkg_size: u64,
    pub pkg_sha256: String,
    pub unsigned_pkg: Option<PathBuf>,
    /// The payload-free pkg that uninstalls the product, signed (and
    /// notarized) as the pkg is.
    pub uninstaller: PathBuf,
    pub product: String,
    pub version: String,
    pub app_bundle_id: String,
    pub extension_bundle_id: String,
    /// The versioned XPC Mach service name both Info.plists carry.
    pub service_name: String,
    /// Where the executables came from, in words.
    pub executables: String,
    /// True when the pkg carries stand-in executables, not the real VPN.
    pub stand_ins: bool,
    pub identities: Vec<IdentitySummary>,
    /// The app's, the pkg's and the uninstaller's notarization
    /// (`--notarize`), else empty.
    pub notarization: Vec<NotarizeReport>,
    pub payload: PayloadReport,
    pub timings: StepTimings,
}

impl BuildReport {
    pub const SCHEMA_VERSION: u32 = 1;
}

#[derive(Clone, Debug, Serialize)]
pub struct PayloadReport {
    /// File name of the component package inside the product archive.
    pub component: String,
    pub compressed_size: u64,
    /// Sum of the installed files' sizes.
    pub content_size: u64,
    pub entries: usize,
    pub sha1: String,
    pub bom_size: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct StepTimings {
    pub assemble_ms: u64,
    /// Signing the app, which runs while the payload is being compressed.
    pub sign_app_ms: u64,
    /// Writing the payload, from the start of signing to the last byte.
    pub payload_ms: u64,
    /// BOM, scripts and the unsigned xar around the payload.
    pub package_ms: u64,
    pub sign_pkg_ms: u64,
    pub total_ms: u64,
}
