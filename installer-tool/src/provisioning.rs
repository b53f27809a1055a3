//! Provisioning profiles (decoded by the `provisioning-profile` crate),
//! checked against what the bundles are signed with, before anything is
//! built.
//!
//! The two executables claim restricted entitlements (the packet-tunnel
//! network extension, system-extension install). On macOS only a
//! provisioning profile embedded at `Contents/embedded.provisionprofile`
//! authorizes those; an app signed by a Developer ID identity from Apple
//! that claims them without a matching profile is killed by AMFI at launch.
//! So with such an identity both profiles are required, and any profile
//! given (with any identity) must cover what is signed.
//!
//! What a profile holds and how macOS reads it is from Apple's TN3125,
//! "Inside Code Signing: Provisioning Profiles"
//! (<https://developer.apple.com/documentation/technotes/tn3125-inside-code-signing-provisioning-profiles>),
//! quoted as "TN3125" below. TN3125 warns the format is not API; these
//! checks mirror what it documents and are a preflight, not a guarantee.

use std::path::{Path, PathBuf};

use apple_codesign::AppleCertificate;
use chrono::{DateTime, Utc};
use plist::Value;
pub use provisioning_profile::{
    DecodeError, ProvisioningProfile, DEVELOPER_CERTIFICATES, ENTITLEMENTS, EXPIRATION_DATE,
    PROVISIONS_ALL_DEVICES, TEAM_IDENTIFIER,
};
use sha2::{Digest, Sha256};
use x509_certificate::CapturedX509Certificate;

use vpn_release::{BundleId, TeamId};

use crate::{
    config::{BundleSpec, Release},
    entitlements::Entitlements,
};

/// "On macOS the standard App ID entitlement is
/// `com.apple.application-identifier`" (TN3125, "The what"); other
/// platforms (and Mac Catalyst, besides) use `application-identifier`.
pub const MACOS_APP_ID: &str = "com.apple.application-identifier";
pub const APP_ID: &str = "application-identifier";

#[derive(Debug, thiserror::Error)]
pub enum ProvisioningError {
    #[error("release.toml sets no `{field}`, but the Developer ID Application identity ({subject}) is issued by Apple")]
    Missing {
        field: &'static str,
        bundle_id: BundleId,
        subject: String,
    },
    #[error("cannot read provisioning profile {path} (`{field}` in release.toml)")]
    Read {
        path: PathBuf,
        field: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("provisioning profile {path} is not a signed profile: {problem}")]
    Malformed { path: PathBuf, problem: DecodeError },
    #[error("provisioning profile {path}: `{key}` {problem}{}", more(*.others))]
    Invalid {
        path: PathBuf,
        key: String,
        problem: String,
        help: String,
        /// Further problems found in the same profile.
        others: usize,
    },
}

impl ProvisioningError {
    /// What to change, in one line.
    pub fn help(&self) -> Option<String> {
        Some(match self {
            Self::Missing { field, bundle_id, .. } => format!("`{bundle_id}` claims restricted entitlements, which macOS grants a Developer ID app only through a profile (AMFI kills it at launch otherwise): download the Developer ID profile for `{bundle_id}` from the developer portal and set `{field} = \"signing/<name>.provisionprofile\"`"),
            Self::Read { .. } => "download it from the developer portal, or fix the path".into(),
            Self::Malformed { .. } => "download the .provisionprofile again from the developer portal (`security cms -D -i FILE` on a Mac shows what it holds)".into(),
            Self::Invalid { help, .. } => help.clone(),
        })
    }
}

fn more(others: usize) -> String {
    match others {
        0 => String::new(),
        1 => "\n(and 1 more problem in this profile)".into(),
        n => format!("\n(and {n} more problems in this profile)"),
    }
}

/// What a profile must cover for one bundle.
#[derive(Clone, Copy, Debug)]
pub struct Expected<'a> {
    pub bundle_id: &'a BundleId,
    pub team: &'a TeamId,
    /// What the bundle's executable is signed with.
    pub entitlements: &'a Entitlements,
    /// The Application identity's certificate (DER); `None` when the app
    /// is signed ad-hoc (`--dev`), which no profile can list.
    pub certificate: Option<&'a [u8]>,
    pub now: DateTime<Utc>,
}

/// One thing wrong with a profile: the key, what is wrong, the fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub problem: String,
    pub help: String,
}

/// Whether `pattern` from a profile allows `value`. Profiles use a
/// trailing `*` as a prefix wildcard: "`SKMME9E2Y8.*` means that the app
/// can claim any keychain access group with the `SKMME9E2Y8.` prefix"
/// (TN3125, "The how"); the same form makes a wildcard App ID
/// (`TEAMID.com.example.*`, "The what").
pub fn pattern_allows(pattern: &str, value: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => value.starts_with(prefix),
        None => pattern == value,
    }
}

/// Entitlements macOS grants without a profile: "`com.apple.security.get-task-allow`,
/// `com.apple.security.application-groups`, those used to enable and configure
/// the App Sandbox, those used to configure the Hardened Runtime" (TN3125,
/// "Entitlements on macOS") - all of them under `com.apple.security.`.
/// Our app groups are team-prefixed ([`crate::entitlements`] refuses others),
/// the form macOS accepts without a profile.
fn is_unrestricted(key: &str) -> bool {
    key.starts_with("com.apple.security.")
}

fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => format!("`{s}`"),
        Value::Boolean(b) => format!("<{b}/>"),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(describe).collect::<Vec<_>>().join(", ")
        ),
        other => format!("{other:?}"),
    }
}

/// Why the profile's `allowed` value does not cover the `claimed` one, if it does not.
fn not_covered(allowed: &Value, claimed: &Value) -> Option<String> {
    let patterns: Vec<&str> = match allowed {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_string).collect(),
        _ => Vec::new(),
    };
    let string_allowed = |value: &str| patterns.iter().any(|p| pattern_allows(p, value));
    match claimed {
        // Claiming `false` asks for nothing.
        Value::Boolean(false) => None,
        Value::Boolean(true) => (allowed.as_boolean() != Some(true))
            .then(|| format!("is {}, but <true/> is signed", describe(allowed))),
        Value::String(s) => {
            (!string_allowed(s)).then(|| format!("allows {}, not `{s}`", describe(allowed)))
        }
        Value::Array(items) => {
            let refused: Vec<String> = items
                .iter()
                .filter(|item| match item {
                    Value::String(s) => !string_allowed(s),
                    other => !allowed.as_array().is_some_and(|a| a.contains(other)),
                })
                .map(describe)
                .collect();
            (!refused.is_empty()).then(|| {
                format!(
                    "allows {}, not {} that is signed",
                    describe(allowed),
                    refused.join(", ")
                )
            })
        }
        other => (allowed != other).then(|| {
            format!(
                "is {}, but {} is signed",
                describe(allowed),
                describe(other)
            )
        }),
    }
}

/// Every problem of `profile` for the bundle described by `expected`; empty
/// when macOS would accept it.
pub fn check(profile: &ProvisioningProfile, expected: &Expected<'_>) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut refuse = |key: &str, problem: String, help: String| {
        problems.push(Problem {
            key: key.to_string(),
            problem,
            help,
        })
    };
    let (team, bundle) = (expected.team, expected.bundle_id);
    let regenerate = format!(
        "download a Developer ID profile made for the App ID `{team}.{bundle}` from the developer portal"
    );

    // "Developer ID and In-House (Enterprise) distribution profiles have the
    // `ProvisionsAllDevices` property" (TN3125, "The where"); a development
    // profile lists devices and runs nowhere else.
    if profile.provisions_all_devices != Some(true) {
        refuse(
            PROVISIONS_ALL_DEVICES,
            "is missing or not <true/>: this is not a Developer ID profile".into(),
            format!("a development or App Store profile does not run on users' Macs: {regenerate} (type: Developer ID)"),
        );
    }

    // "Every profile has an `ExpirationDate` property which limits how long
    // the profile remains valid" (TN3125, "The when").
    match profile.expiration_date {
        Some(date) if date > expected.now => {}
        Some(date) => refuse(
            EXPIRATION_DATE,
            format!(
                "is {}, in the past: the profile has expired",
                date.to_rfc3339()
            ),
            format!("{regenerate} again: Developer ID profiles are renewed there"),
        ),
        None => refuse(
            EXPIRATION_DATE,
            "is missing or not a <date>".into(),
            regenerate.clone(),
        ),
    }

    match &profile.team_identifiers {
        Some(teams) if teams.iter().any(|t| t == team.as_str()) => {}
        Some(teams) => refuse(
            TEAM_IDENTIFIER,
            format!("is {teams:?}, without the release team `{team}`"),
            format!("use the profile of team {team}, or fix product.team-id in release.toml"),
        ),
        None => refuse(
            TEAM_IDENTIFIER,
            "is missing or not an array of strings".into(),
            regenerate.clone(),
        ),
    }

    // "Every profile has a `DeveloperCertificates` property holding the
    // certificates of each developer who can sign code covered by the
    // profile" (TN3125, "The who").
    if let Some(certificate) = expected.certificate {
        let fingerprint = hex::encode_upper(Sha256::digest(certificate));
        match &profile.developer_certificates {
            Some(listed) if listed.iter().any(|c| c.as_slice() == certificate) => {}
            found => refuse(
                DEVELOPER_CERTIFICATES,
                match found {
                    Some(listed) => format!(
                        "lists {} certificate(s), not the Application identity's (SHA-256 {fingerprint})",
                        listed.len()
                    ),
                    None => "is missing or not an array of <data>".into(),
                },
                "regenerate the profile with this Developer ID Application certificate selected, or sign with --app-p12 of a certificate it lists".into(),
            ),
        }
    }

    let Some(allowed) = &profile.entitlements else {
        refuse(
            ENTITLEMENTS,
            "is missing or not a <dict>".into(),
            regenerate,
        );
        return problems;
    };
    let app_id = format!("{team}.{bundle}");
    // "Most profiles apply to a single App ID, encoded in the `Entitlements`
    // > `application-identifier` property ... A profile might refer to a
    // wildcard App ID" (TN3125, "The what").
    let (app_id_key, profile_app_id) = [MACOS_APP_ID, APP_ID]
        .into_iter()
        .find_map(|key| Some((key, allowed.get(key)?)))
        .unwrap_or((MACOS_APP_ID, &Value::Boolean(false)));
    let app_id_entry = format!("{ENTITLEMENTS} > {app_id_key}");
    match profile_app_id.as_string() {
        Some(pattern) if pattern_allows(pattern, &app_id) => {}
        Some(pattern) => refuse(
            &app_id_entry,
            format!("is `{pattern}`, which does not cover `{app_id}`"),
            regenerate.clone(),
        ),
        None => refuse(
            &app_id_entry,
            "is missing: the profile names no App ID".into(),
            regenerate.clone(),
        ),
    }

    // "Every entitlement claimed by the app must be in the profile's
    // allowlist but the reverse isn't true" (TN3125, "The how").
    let file = expected.entitlements.path.display();
    for (key, claimed) in &expected.entitlements.dict {
        // The App ID was checked against the bundle above, whichever of
        // its two keys the profile uses.
        let checked_app_id =
            [MACOS_APP_ID, APP_ID].contains(&key.as_str()) && claimed.as_string() == Some(&app_id);
        if is_unrestricted(key) || checked_app_id {
            continue;
        }
        let entry = format!("{ENTITLEMENTS} > {key}");
        match allowed.get(key) {
            None => refuse(
                &entry,
                format!("is missing, but {file} claims it"),
                format!("enable the capability on the App ID `{bundle}` in the developer portal (for the network extension: Network Extensions, Packet Tunnel; System Extension for the install) and download the profile again"),
            ),
            Some(value) => {
                if let Some(problem) = not_covered(value, claimed) {
                    refuse(
                        &entry,
                        problem,
                        format!("the profile must allow what {file} claims: enable the matching capability on the App ID `{bundle}` (a Developer ID system extension needs `packet-tunnel-provider-systemextension`) and download the profile again"),
                    );
                }
            }
        }
    }
    problems
}

/// Whether the app needs provisioning profiles: when its signing identity
/// was issued by Apple. A self-signed identity runs only where it is
/// explicitly trusted, and there macOS does not consult profiles either way.
pub fn profiles_required(certificate: Option<&CapturedX509Certificate>) -> bool {
    certificate.is_some_and(|c| c.chains_to_apple_root_ca())
}

/// Reads and decodes the profile at `path` and checks it.
pub fn check_file(
    path: &Path,
    field: &'static str,
    expected: &Expected<'_>,
) -> Result<ProvisioningProfile, ProvisioningError> {
    let data = std::fs::read(path).map_err(|source| ProvisioningError::Read {
        path: path.to_path_buf(),
        field,
        source,
    })?;
    let profile =
        ProvisioningProfile::from_der(&data).map_err(|problem| ProvisioningError::Malformed {
            path: path.to_path_buf(),
            problem,
        })?;
    let mut problems = check(&profile, expected).into_iter();
    match problems.next() {
        None => Ok(profile),
        Some(first) => Err(ProvisioningError::Invalid {
            path: path.to_path_buf(),
            key: first.key,
            problem: first.problem,
            help: first.help,
            others: problems.count(),
        }),
    }
}

/// Each bundle with the `release.toml` field naming its profile and the
/// entitlements that profile must allow.
pub fn profiled_bundles(release: &Release) -> [(&'static str, &BundleSpec, &Entitlements); 2] {
    [
        (
            "app.provisioning-profile",
            &release.app,
            &release.app_entitlements,
        ),
        (
            "extension.provisioning-profile",
            &release.extension,
            &release.extension_entitlements,
        ),
    ]
}

/// The release's profiles against the Application identity's certificate
/// (`None`: signed ad-hoc): required when it is Apple's, checked whenever
/// given. Cheap, so build-pkg runs it before building anything.
pub fn check_release(
    release: &Release,
    certificate: Option<&CapturedX509Certificate>,
    now: DateTime<Utc>,
) -> Result<(), ProvisioningError> {
    let required = profiles_required(certificate);
    for (field, spec, entitlements) in profiled_bundles(release) {
        let Some(path) = &spec.provisioning_profile else {
            if required {
                return Err(ProvisioningError::Missing {
                    field,
                    bundle_id: spec.bundle_id.clone(),
                    subject: certificate
                        .and_then(|c| c.subject_common_name())
                        .unwrap_or_default(),
                });
            }
            continue;
        };
        let expected = Expected {
            bundle_id: &spec.bundle_id,
            team: &release.team_id,
            entitlements,
            certificate: certificate.map(|c| c.constructed_data()),
            now,
        };
        check_file(path, field, &expected)?;
    }
    Ok(())
}
