//! `installer-tool doctor`: the release's inputs checked before anything is
//! compiled, every problem reported at once, each as a [`Finding`] with a
//! stable id, the file and field, and the fix in one line.
//!
//! It starts from the gates `release.toml` must pass to load at all (a
//! finding for each: the loader runs every check that does not need
//! another to pass first), then checks what a release
//! must not ship and what is about to go wrong: debugging entitlements,
//! provisioning profiles that fail their checks or expire soon, a notary
//! key others can read, and a version that would not replace the one
//! already installed.

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
};

use apple_codesign::AppleCertificate;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use vpn_release::version_order::is_newer;

use crate::{
    config::{ConfigError, Release},
    entitlements::{Entitlements, EntitlementsError},
    provisioning::{self, Expected},
    signing::{Purpose, SigningIdentity},
};

/// Entitlements that open a hardened process to debuggers or injected
/// code: fine while developing, never in a release ("Hardened Runtime",
/// Apple's documentation of its exceptions and `get-task-allow`).
pub const DEBUGGING_ENTITLEMENTS: [&str; 4] = [
    "com.apple.security.get-task-allow",
    "com.apple.security.cs.disable-library-validation",
    "com.apple.security.cs.allow-dyld-environment-variables",
    "com.apple.security.cs.allow-unsigned-executable-memory",
];

/// The id of a debugging-entitlement finding, which a `--dev` build allows.
pub const DEBUGGING_ENTITLEMENT: &str = "debugging-entitlement";

/// A profile that expires sooner than this gets a warning: a release built
/// today would stop launching within that time.
pub const EXPIRY_WARNING_DAYS: i64 = 30;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable, for CI to match on.
    pub id: &'static str,
    pub severity: Severity,
    pub file: PathBuf,
    /// The key or field in that file, when there is one.
    pub field: String,
    pub problem: String,
    pub fix: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct DoctorReport {
    pub schema_version: u32,
    pub config: PathBuf,
    pub findings: Vec<Finding>,
}

impl DoctorReport {
    pub const SCHEMA_VERSION: u32 = 1;

    pub fn has_errors(&self) -> bool {
        has_errors(&self.findings)
    }
}

/// Whether any of `findings` is an error: what makes `doctor` and `verify`
/// exit 1.
pub fn has_errors(findings: &[Finding]) -> bool {
    findings.iter().any(|f| f.severity == Severity::Error)
}

/// What the doctor is asked to look at besides the config.
#[derive(Clone, Debug)]
pub struct DoctorRequest {
    pub config: PathBuf,
    /// The App Store Connect API key notarization will use.
    pub api_key: Option<PathBuf>,
    /// The p12 identities the release signs with, each with the variable
    /// holding its password and the purpose it must serve.
    pub identities: Vec<IdentityToCheck>,
    /// The pkg this release replaces.
    pub previous: Option<PathBuf>,
    pub now: DateTime<Utc>,
}

/// A p12 doctor is asked to check.
#[derive(Clone, Debug)]
pub struct IdentityToCheck {
    pub p12: PathBuf,
    pub password_env: &'static str,
    pub purpose: Purpose,
}

pub fn doctor(request: &DoctorRequest) -> DoctorReport {
    let mut findings = Vec::new();
    if let Some(key) = &request.api_key {
        findings.extend(notary_key(key));
    }
    match Release::load(&request.config) {
        Err(error) => findings.extend(error.into_problems().iter().map(config_finding)),
        Ok(release) => {
            findings.extend(release_findings(&release, request.now));
            for identity in &request.identities {
                findings.extend(identity_findings(identity, &release, request.now));
            }
            if let Some(previous) = &request.previous {
                findings.extend(previous_version(&release, previous));
            }
        }
    }
    DoctorReport {
        schema_version: DoctorReport::SCHEMA_VERSION,
        config: request.config.clone(),
        findings,
    }
}

/// What a loaded release can be found wanting on its own: the checks
/// build-pkg runs before building anything, and doctor reports.
pub fn release_findings(release: &Release, now: DateTime<Utc>) -> Vec<Finding> {
    let mut findings = Vec::new();
    for entitlements in [&release.app_entitlements, &release.extension_entitlements] {
        findings.extend(debugging_entitlements(entitlements));
    }
    findings.extend(profiles(release, now));
    findings.extend(minimum_macos(release));
    findings
}

/// A minimum macOS older than an API the app calls: Installer would put
/// the app on a Mac where it fails.
fn minimum_macos(release: &Release) -> Option<Finding> {
    let api = vpn_release::macos_apis::newest();
    is_newer(api.since, &release.minimum_macos).then(|| Finding {
        id: "minimum-macos-below-apis",
        severity: Severity::Error,
        file: release.config_file.clone(),
        field: "product.minimum-macos".into(),
        problem: format!(
            "the pkg installs on macOS {}, but the app calls {} ({}), which macOS {} introduced",
            release.minimum_macos, api.name, api.used_for, api.since
        ),
        fix: format!("set `minimum-macos = \"{}\"` or later", api.since),
    })
}

fn config_finding(error: &ConfigError) -> Finding {
    let (file, field) = match error {
        ConfigError::Invalid { path, field, .. } => (path.clone(), field.to_string()),
        ConfigError::Entitlements(EntitlementsError::Invalid { path, key, .. }) => {
            (path.clone(), key.clone())
        }
        ConfigError::Entitlements(
            EntitlementsError::Read { path, .. } | EntitlementsError::Malformed { path, .. },
        ) => (path.clone(), String::new()),
        ConfigError::Read { path, .. } | ConfigError::Parse { path, .. } => {
            (path.clone(), String::new())
        }
        ConfigError::Several(problems) => return config_finding(&problems[0]),
    };
    let mut problem = error.to_string();
    if let Some(source) = std::error::Error::source(error) {
        problem = format!("{problem}: {source}");
    }
    Finding {
        id: "config",
        severity: Severity::Error,
        file,
        field,
        problem,
        fix: error
            .help()
            .unwrap_or_else(|| "fix the file named above".into()),
    }
}

fn debugging_entitlements(entitlements: &Entitlements) -> Vec<Finding> {
    DEBUGGING_ENTITLEMENTS
        .iter()
        .filter(|key| {
            entitlements
                .dict
                .get(key)
                .and_then(plist::Value::as_boolean)
                == Some(true)
        })
        .map(|key| Finding {
            id: DEBUGGING_ENTITLEMENT,
            severity: Severity::Error,
            file: entitlements.path.clone(),
            field: key.to_string(),
            problem: "is granted: it lets other code into the hardened process".into(),
            fix: format!(
                "remove `{key}` from the release's entitlements (keep it in a development copy)"
            ),
        })
        .collect()
}

fn profiles(release: &Release, now: DateTime<Utc>) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (field, spec, entitlements) in provisioning::profiled_bundles(release) {
        let Some(path) = &spec.provisioning_profile else {
            continue;
        };
        // The certificate a profile must list is known only at build time.
        let expected = Expected {
            bundle_id: &spec.bundle_id,
            team: &release.team_id,
            entitlements,
            certificate: None,
            now,
        };
        match provisioning::check_file(path, field, &expected) {
            Err(error) => findings.push(Finding {
                id: "profile",
                severity: Severity::Error,
                file: path.clone(),
                field: match &error {
                    provisioning::ProvisioningError::Invalid { key, .. } => key.clone(),
                    _ => field.to_string(),
                },
                problem: error.to_string(),
                fix: error.help().unwrap_or_default(),
            }),
            Ok(profile) => {
                let expires = profile
                    .expiration_date
                    .filter(|expires| *expires - now < Duration::days(EXPIRY_WARNING_DAYS));
                if let Some(expires) = expires {
                    findings.push(Finding {
                        id: "profile-expires-soon",
                        severity: Severity::Warning,
                        file: path.clone(),
                        field: provisioning::EXPIRATION_DATE.into(),
                        problem: format!(
                            "expires on {}, within {EXPIRY_WARNING_DAYS} days: the app stops launching then",
                            expires.format("%Y-%m-%d")
                        ),
                        fix: "renew the profile in the developer portal and release with the new one".into(),
                    });
                }
            }
        }
    }
    findings
}

fn notary_key(path: &Path) -> Option<Finding> {
    let finding = |severity, problem: String, fix: &str| Finding {
        id: "notary-key",
        severity,
        file: path.to_path_buf(),
        field: String::new(),
        problem,
        fix: fix.into(),
    };
    let metadata = match std::fs::File::open(path).and_then(|f| f.metadata()) {
        Ok(metadata) => metadata,
        Err(error) => {
            return Some(finding(
                Severity::Error,
                format!("cannot be read: {error}"),
                "pass the App Store Connect API key file notarization will use",
            ))
        }
    };
    let mode = metadata.permissions().mode();
    (mode & 0o077 != 0).then(|| {
        finding(
            Severity::Warning,
            format!("is readable by others (mode {:o})", mode & 0o777),
            "chmod 600 it: whoever can read it can notarize as your team",
        )
    })
}

/// A p12 the release signs with: readable with its password, of the kind
/// its purpose needs and of the release's team (the checks build-pkg makes
/// when it loads it), issued by Apple, and not expired or about to.
fn identity_findings(
    identity: &IdentityToCheck,
    release: &Release,
    now: DateTime<Utc>,
) -> Vec<Finding> {
    let finding = |problem: String, fix: String| Finding {
        id: "certificate",
        severity: Severity::Error,
        file: identity.p12.clone(),
        field: String::new(),
        problem,
        fix,
    };
    let Ok(password) = std::env::var(identity.password_env).map(zeroize::Zeroizing::new) else {
        return vec![finding(
            format!("has no password in ${}", identity.password_env),
            format!(
                "set ${} to the password it was exported with",
                identity.password_env
            ),
        )];
    };
    match SigningIdentity::from_p12(
        &identity.p12,
        &password,
        identity.password_env,
        identity.purpose,
        &release.team_id,
    ) {
        Ok(loaded) => certificate_findings(&identity.p12, &loaded.certificate, now),
        Err(error) => vec![finding(
            error.to_string(),
            error
                .help()
                .unwrap_or_else(|| "export the identity from Keychain Access again".into()),
        )],
    }
}

/// When `certificate` (from `file`) stops signing: an expired one signs
/// nothing Gatekeeper accepts, and one expiring soon should be renewed
/// before the next release; one not issued by Apple is for tests only.
pub fn certificate_findings(
    file: &Path,
    certificate: &x509_certificate::CapturedX509Certificate,
    now: DateTime<Utc>,
) -> Vec<Finding> {
    let subject = certificate
        .subject_common_name()
        .unwrap_or_else(|| "(no common name)".into());
    let expires = certificate.validity_not_after();
    let mut findings = Vec::new();
    let mut add = |id, severity, problem: String, fix: &str| {
        findings.push(Finding {
            id,
            severity,
            file: file.to_path_buf(),
            field: String::new(),
            problem,
            fix: fix.into(),
        })
    };
    if expires <= now {
        add(
            "certificate-expired",
            Severity::Error,
            format!("`{subject}` expired on {}", expires.format("%Y-%m-%d")),
            "create a new certificate in your Apple developer account and export it as .p12",
        );
    } else if expires - now < Duration::days(EXPIRY_WARNING_DAYS) {
        add(
            "certificate-expires-soon",
            Severity::Warning,
            format!(
                "`{subject}` expires on {}, within {EXPIRY_WARNING_DAYS} days",
                expires.format("%Y-%m-%d")
            ),
            "renew it before the next release (signatures with a time-stamp stay valid)",
        );
    }
    if !certificate.chains_to_apple_root_ca() {
        add(
            "certificate-not-from-apple",
            Severity::Warning,
            format!("`{subject}` is not issued by Apple: Gatekeeper rejects what it signs"),
            "sign releases with the Developer ID identity Apple issued your team",
        );
    }
    findings
}

/// Both version keys of the app and the extension must be strictly greater
/// than in the pkg being replaced, or macOS keeps the old extension.
fn previous_version(release: &Release, previous: &Path) -> Vec<Finding> {
    let unreadable = |problem: String| {
        vec![Finding {
            id: "previous-pkg",
            severity: Severity::Error,
            file: previous.to_path_buf(),
            field: String::new(),
            problem,
            fix: "pass the pkg of the release this one replaces".into(),
        }]
    };
    let bundles = match previous_bundles(previous) {
        Ok(bundles) => bundles,
        Err(problem) => return unreadable(problem),
    };
    let ours = [&release.app.bundle_id, &release.extension.bundle_id];
    let mut findings = Vec::new();
    for bundle in bundles
        .iter()
        .filter(|b| ours.iter().any(|id| id.as_str() == b.id))
    {
        let versions = [
            ("CFBundleVersion", &bundle.cf_bundle_version),
            (
                "CFBundleShortVersionString",
                &bundle.cf_bundle_short_version_string,
            ),
        ];
        for (key, old) in versions {
            let Some(old) = old else { continue };
            if !is_newer(release.version.as_str(), old) {
                findings.push(Finding {
                    id: "version-not-greater",
                    severity: Severity::Error,
                    file: release.root.join("Cargo.toml"),
                    field: "workspace.package.version".into(),
                    problem: format!(
                        "{} is not greater than the {key} {old} of {} in {}: macOS keeps the installed extension",
                        release.version, bundle.id, previous.display()
                    ),
                    fix: format!("raise the version above {old}"),
                });
            }
        }
    }
    findings
}

fn previous_bundles(
    previous: &Path,
) -> Result<Vec<apple_flat_package::distribution::Bundle>, String> {
    let file = std::fs::File::open(previous).map_err(|e| format!("cannot be read: {e}"))?;
    let mut reader = apple_flat_package::PkgReader::new(file)
        .map_err(|e| format!("is not a flat package: {e}"))?;
    let components = reader
        .component_packages()
        .map_err(|e| format!("has unreadable components: {e}"))?;
    Ok(components
        .iter()
        .filter_map(|c| c.package_info())
        .flat_map(|info| info.bundle.iter().cloned())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed Developer ID identity lives 30 days from now.
    #[test]
    fn a_certificate_is_judged_by_when_it_expires_and_who_issued_it() {
        let team: vpn_release::TeamId = "ABCDE12345".parse().unwrap();
        let identity = SigningIdentity::self_signed(Purpose::Installer, &team, "Test").unwrap();
        let ids = |now: DateTime<Utc>| -> Vec<&'static str> {
            certificate_findings(Path::new("id.p12"), &identity.certificate, now)
                .iter()
                .map(|f| f.id)
                .collect()
        };
        let now = Utc::now();
        assert_eq!(
            ids(now),
            ["certificate-expires-soon", "certificate-not-from-apple"]
        );
        assert_eq!(ids(now - Duration::days(5)), ["certificate-not-from-apple"]);
        assert_eq!(
            ids(now + Duration::days(31)),
            ["certificate-expired", "certificate-not-from-apple"]
        );
    }
}
