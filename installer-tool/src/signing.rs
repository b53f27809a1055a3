//! Signing identities and the two signing steps: the app bundle (inside-out,
//! by `apple-codesign`'s bundle signer) and the product archive (RSA + CMS,
//! by `apple-xar`'s signer, as `productsign` does: RSA alone breaks stapling).
//!
//! Identities: a p12 per purpose for releases (password from the
//! environment, never a flag, never logged), a freshly generated self-signed
//! identity for tests and the demo, and ad-hoc for the app in `--dev` only.

use std::{
    fs::File,
    io::BufWriter,
    path::{Path, PathBuf},
};

use apple_codesign::{
    cryptography::parse_pfx_data, AppleCertificate, AppleCodesignError, CertificateProfile,
    CodeSignatureFlags, SettingsScope, SigningSettings, UnifiedSigner,
};
use apple_xar::{reader::XarReader, signing::XarSigner};
use sha2::{Digest, Sha256};
use x509_certificate::{CapturedX509Certificate, KeyAlgorithm, KeyInfoSigner};

use crate::{entitlements::Entitlements, ids::TeamId};

/// Apple's time-stamp server, used when the identity chains to Apple.
pub const APPLE_TIMESTAMP_URL: &str = "http://timestamp.apple.com/ts01";

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Purpose {
    /// Developer ID Application: Mach-O and bundles.
    Application,
    /// Developer ID Installer: the flat package.
    Installer,
}

impl Purpose {
    fn profile(self) -> CertificateProfile {
        match self {
            Self::Application => CertificateProfile::DeveloperIdApplication,
            Self::Installer => CertificateProfile::DeveloperIdInstaller,
        }
    }

    fn flag(self) -> &'static str {
        match self {
            Self::Application => "--app-p12",
            Self::Installer => "--installer-p12",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("cannot read p12 {path}")]
    ReadP12 {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "wrong password for p12 {path}\nhelp: set ${env} to the password it was exported with"
    )]
    BadPassword { path: PathBuf, env: &'static str },
    #[error("{path} is not a readable p12/PFX file: {message}\nhelp: export the identity (certificate and private key) from Keychain Access as .p12")]
    BadP12 { path: PathBuf, message: String },
    #[error("{path} holds a {found} certificate, but {flag} needs a {expected} certificate\nhelp: {help}")]
    WrongCertificate {
        path: PathBuf,
        found: String,
        expected: CertificateProfile,
        flag: &'static str,
        help: &'static str,
    },
    #[error("{path} is for team {found}, but release.toml says product.team-id = {expected}\nhelp: use the identity of team {expected}, or fix product.team-id")]
    TeamMismatch {
        path: PathBuf,
        found: String,
        expected: TeamId,
    },
    #[error("cannot generate the self-signed {0:?} identity")]
    Generate(Purpose, #[source] AppleCodesignError),
    #[error("cannot sign the app bundle {path}")]
    Bundle {
        path: PathBuf,
        #[source]
        source: AppleCodesignError,
    },
    #[error("cannot sign the package {path}")]
    Package {
        path: PathBuf,
        #[source]
        source: apple_xar::Error,
    },
    #[error("invalid time-stamp URL `{url}`: {message}\nhelp: pass a full http(s) URL to --timestamp-url")]
    TimestampUrl { url: String, message: String },
    #[error("i/o error while signing {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// How an identity was obtained; reported so nobody mistakes a test pkg for a release.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum IdentityOrigin {
    P12 { path: PathBuf },
    SelfSigned,
    AdHoc,
}

/// A key and certificate able to sign for one purpose.
pub struct SigningIdentity {
    key: Box<dyn KeyInfoSigner>,
    pub certificate: CapturedX509Certificate,
    pub origin: IdentityOrigin,
}

/// What the JSON summary says about an identity (never key material).
#[derive(Clone, Debug, serde::Serialize)]
pub struct IdentitySummary {
    pub purpose: Purpose,
    pub origin: IdentityOrigin,
    pub subject: Option<String>,
    pub team_id: Option<String>,
    pub sha256_fingerprint: Option<String>,
    pub timestamped: bool,
}

impl SigningIdentity {
    /// Loads a p12 and checks it is the right kind of certificate for `team`.
    pub fn from_p12(
        path: &Path,
        password: &str,
        password_env: &'static str,
        purpose: Purpose,
        team: &TeamId,
    ) -> Result<Self, SigningError> {
        let data = std::fs::read(path).map_err(|source| SigningError::ReadP12 {
            path: path.to_path_buf(),
            source,
        })?;
        let (certificate, key) = parse_pfx_data(&data, password).map_err(|e| match e {
            AppleCodesignError::PfxBadPassword => SigningError::BadPassword {
                path: path.to_path_buf(),
                env: password_env,
            },
            other => SigningError::BadP12 {
                path: path.to_path_buf(),
                message: other.to_string(),
            },
        })?;
        let found = certificate.apple_guess_profile();
        if found != Some(purpose.profile()) {
            return Err(SigningError::WrongCertificate {
                path: path.to_path_buf(),
                found: found.map_or_else(|| "non-Developer-ID".to_string(), |p| p.to_string()),
                expected: purpose.profile(),
                flag: purpose.flag(),
                help: "the app is signed with `Developer ID Application`, the pkg with `Developer ID Installer`: pass each to its own flag",
            });
        }
        let cert_team = certificate.apple_team_id().unwrap_or_default();
        if cert_team != team.as_str() {
            return Err(SigningError::TeamMismatch {
                path: path.to_path_buf(),
                found: if cert_team.is_empty() {
                    "(none)".into()
                } else {
                    cert_team
                },
                expected: team.clone(),
            });
        }
        Ok(Self {
            key: Box::new(key),
            certificate,
            origin: IdentityOrigin::P12 {
                path: path.to_path_buf(),
            },
        })
    }

    /// A new self-signed Developer ID identity for `team`: installable only
    /// where it is explicitly trusted, which is what tests and demos need.
    pub fn self_signed(
        purpose: Purpose,
        team: &TeamId,
        person: &str,
    ) -> Result<Self, SigningError> {
        let (certificate, key) = apple_codesign::create_self_signed_code_signing_certificate(
            KeyAlgorithm::Rsa,
            purpose.profile(),
            team.as_str(),
            person,
            "US",
            chrono::Duration::days(30),
        )
        .map_err(|e| SigningError::Generate(purpose, e))?;
        Ok(Self {
            key: Box::new(key),
            certificate,
            origin: IdentityOrigin::SelfSigned,
        })
    }

    /// Real Developer ID identities chain to Apple; only they get a secure
    /// time-stamp by default (the server is Apple's, and it is what
    /// notarization requires).
    pub fn chains_to_apple(&self) -> bool {
        self.certificate.chains_to_apple_root_ca()
    }

    pub fn summary(&self, purpose: Purpose, timestamped: bool) -> IdentitySummary {
        IdentitySummary {
            purpose,
            origin: self.origin.clone(),
            subject: self.certificate.subject_common_name(),
            team_id: self.certificate.apple_team_id(),
            sha256_fingerprint: Some(hex::encode(Sha256::digest(
                self.certificate.constructed_data(),
            ))),
            timestamped,
        }
    }
}

pub fn ad_hoc_summary() -> IdentitySummary {
    IdentitySummary {
        purpose: Purpose::Application,
        origin: IdentityOrigin::AdHoc,
        subject: None,
        team_id: None,
        sha256_fingerprint: None,
        timestamped: false,
    }
}

fn timestamp_error(url: &str, error: impl std::fmt::Display) -> SigningError {
    SigningError::TimestampUrl {
        url: url.to_string(),
        message: error.to_string(),
    }
}

/// Options shared by both signing steps.
#[derive(Clone, Debug, Default)]
pub struct SignOptions {
    /// Time-stamp server; `None` signs without a secure time-stamp.
    pub timestamp_url: Option<String>,
    /// Fixed signing time (from `SOURCE_DATE_EPOCH`) for reproducible output.
    pub signing_time: Option<chrono::DateTime<chrono::Utc>>,
}

/// What to sign in the app bundle, inside-out: the extension bundle at
/// `extension_path` (relative to the app) with its entitlements, then the app.
pub struct BundleSigning<'a> {
    pub app_entitlements: &'a Entitlements,
    pub extension_path: &'a str,
    pub extension_entitlements: &'a Entitlements,
    pub team: &'a TeamId,
}

/// Signs the app bundle at `input` into `output` (a new directory). With no
/// identity the signature is ad-hoc.
pub fn sign_app_bundle(
    input: &Path,
    output: &Path,
    identity: Option<&SigningIdentity>,
    what: &BundleSigning<'_>,
    options: &SignOptions,
) -> Result<(), SigningError> {
    let bundle_error = |source| SigningError::Bundle {
        path: input.to_path_buf(),
        source,
    };
    let mut settings = SigningSettings::default();
    if let Some(identity) = identity {
        settings.set_signing_key(identity.key.as_ref(), identity.certificate.clone());
        settings.chain_apple_certificates();
        settings.set_team_id(what.team.as_str());
        if let Some(url) = &options.timestamp_url {
            settings
                .set_time_stamp_url(url.as_str())
                .map_err(|e| timestamp_error(url, e))?;
        }
    }
    if let Some(time) = options.signing_time {
        settings.set_signing_time(time);
    }
    let extension = SettingsScope::Path(what.extension_path.to_string());
    for (scope, entitlements) in [
        (SettingsScope::Main, what.app_entitlements),
        (extension, what.extension_entitlements),
    ] {
        settings
            .set_entitlements_xml(scope.clone(), entitlements.to_xml())
            .map_err(bundle_error)?;
        // Hardened runtime: notarization requires it of every executable.
        settings.set_code_signature_flags(scope, CodeSignatureFlags::RUNTIME);
    }
    UnifiedSigner::new(settings)
        .sign_bundle(input, output)
        .map_err(bundle_error)
}

/// Signs the unsigned product archive at `input` into `output` with RSA and
/// CMS signatures over the TOC checksum.
pub fn sign_package(
    input: &Path,
    output: &Path,
    identity: &SigningIdentity,
    options: &SignOptions,
) -> Result<(), SigningError> {
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SigningError::Io { path, source }
    };
    let package_error = |source| SigningError::Package {
        path: input.to_path_buf(),
        source,
    };
    let reader =
        XarReader::new(File::open(input).map_err(io_error(input))?).map_err(package_error)?;
    let mut out = BufWriter::new(File::create(output).map_err(io_error(output))?);
    let timestamp = options
        .timestamp_url
        .as_deref()
        .map(|url| url::Url::parse(url).map_err(|e| timestamp_error(url, e)))
        .transpose()?;
    let chain = identity
        .certificate
        .apple_root_certificate_chain()
        .map(|c| c.into_iter().skip(1).collect::<Vec<_>>())
        .unwrap_or_default();
    XarSigner::new(reader)
        .sign(
            &mut out,
            identity.key.as_ref(),
            &identity.certificate,
            timestamp.as_ref(),
            chain.into_iter(),
        )
        .map_err(package_error)?;
    std::io::Write::flush(&mut out).map_err(io_error(output))?;
    Ok(())
}
