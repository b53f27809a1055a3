//! Signing identities and the two signing steps: the app bundle (inside-out,
//! as `apple-codesign`'s bundle signer, with the payload's resource digests:
//! `bundle_signer.rs`) and the product archive (RSA + CMS, by `apple-xar`'s
//! signer, as `productsign` does: RSA alone breaks stapling).
//!
//! Identities: a p12 per purpose for releases (password from the
//! environment, never a flag, never logged), a freshly generated self-signed
//! identity for tests and the demo, and ad-hoc for the app in `--dev` only.
//!
//! `identity.rs` holds where keys come from; this module uses them.

mod bundle_signer;
mod identity;
mod resource_digests;
mod resource_rules;

pub use identity::{ad_hoc_summary, IdentityOrigin, IdentitySummary, Purpose, SigningIdentity};
pub use resource_digests::{ResourceDigester, ResourceDigests};

use std::{
    fs::{File, OpenOptions},
    io::{BufWriter, Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
};

use apple_codesign::{
    AppleCodesignError, CertificateProfile, CodeSignatureFlags, SettingsScope, SigningSettings,
};
use apple_xar::{reader::XarReader, signing::XarSigner};
use rsa::Pkcs1v15Sign;

use vpn_release::TeamId;

use crate::entitlements::Entitlements;

/// Apple's time-stamp server, used when the identity chains to Apple.
pub const APPLE_TIMESTAMP_URL: &str = "http://timestamp.apple.com/ts01";

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("cannot read p12 {path}")]
    ReadP12 {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("wrong password for p12 {path}")]
    BadPassword { path: PathBuf, env: &'static str },
    #[error("{path} is not a readable p12/PFX file: {message}")]
    BadP12 { path: PathBuf, message: String },
    #[error("{path} holds a {found} certificate, but {flag} needs a {expected} certificate")]
    WrongCertificate {
        path: PathBuf,
        found: String,
        expected: CertificateProfile,
        flag: &'static str,
    },
    #[error("{path} is for team {found}, but release.toml says product.team-id = {expected}")]
    TeamMismatch {
        path: PathBuf,
        found: String,
        expected: TeamId,
    },
    #[error("cannot generate the self-signed {purpose:?} identity: {message}")]
    Generate { purpose: Purpose, message: String },
    #[error("{path} holds a non-RSA key")]
    NotRsa { path: PathBuf },
    #[error("cannot sign the app bundle {path}")]
    Bundle {
        path: PathBuf,
        #[source]
        source: Box<AppleCodesignError>,
    },
    #[error("cannot sign the package {path}")]
    Package {
        path: PathBuf,
        #[source]
        source: Box<apple_xar::Error>,
    },
    #[error("cannot sign the package {path}: {message}")]
    PackageRsa { path: PathBuf, message: String },
    #[error("cannot sign the configuration profile: {message}")]
    Profile { message: String },
    #[error("invalid time-stamp URL `{url}`: {message}")]
    TimestampUrl { url: String, message: String },
    #[error("i/o error while signing {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl SigningError {
    /// What to change, in one line.
    pub fn help(&self) -> Option<String> {
        Some(match self {
            Self::BadPassword { env, .. } => {
                format!("set ${env} to the password it was exported with")
            }
            Self::BadP12 { .. } => "export the identity (certificate and private key) from Keychain Access as .p12".into(),
            Self::WrongCertificate { .. } => "the app is signed with `Developer ID Application`, the pkg with `Developer ID Installer`: pass each to its own flag".into(),
            Self::TeamMismatch { expected, .. } => {
                format!("use the identity of team {expected}, or fix product.team-id")
            }
            Self::NotRsa { .. } => "Developer ID identities are RSA; export the one from your Apple account".into(),
            Self::TimestampUrl { .. } => "pass a full http(s) URL to --timestamp-url".into(),
            _ => return None,
        })
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

/// Signs the app bundle at `bundle` in place, nested code first. With no
/// identity the signature is ad-hoc. Resources are sealed with the digests
/// `digests` gives (the payload archiver's, where it read the file).
pub fn sign_app_bundle_in_place(
    bundle: &Path,
    identity: Option<&SigningIdentity>,
    what: &BundleSigning<'_>,
    options: &SignOptions,
    digests: &ResourceDigests,
) -> Result<(), SigningError> {
    let settings = app_signing_settings(bundle, identity, what, options)?;
    bundle_signer::sign_bundle_in_place(bundle, &settings, digests)
        .map_err(|source| bundle_error(bundle, source))
}

fn bundle_error(bundle: &Path, source: AppleCodesignError) -> SigningError {
    SigningError::Bundle {
        path: bundle.to_path_buf(),
        source: Box::new(source),
    }
}

/// apple-codesign's settings for the app: identity, team, time-stamp,
/// each bundle's entitlements and the hardened runtime.
fn app_signing_settings<'a>(
    bundle: &Path,
    identity: Option<&'a SigningIdentity>,
    what: &BundleSigning<'_>,
    options: &SignOptions,
) -> Result<SigningSettings<'a>, SigningError> {
    let mut settings = SigningSettings::default();
    if let Some(identity) = identity {
        settings.set_signing_key(&identity.key, identity.certificate.clone());
        for issuer in identity.issuers() {
            settings.chain_certificate(issuer);
        }
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
            .map_err(|source| bundle_error(bundle, source))?;
        // Hardened runtime: notarization requires it of every executable.
        settings.set_code_signature_flags(scope, CodeSignatureFlags::RUNTIME);
    }
    Ok(settings)
}

/// Signs the unsigned product archive read from `unsigned` into `output`
/// with RSA and CMS signatures over the TOC checksum.
///
/// `apple-xar`'s signer writes the TOC, the CMS signature and the heap, but
/// its RSA signature is PKCS#1 v1.5 over SHA-256 *of* the TOC digest. The
/// `signature` element of a flat package is, as `productsign` writes it and
/// `xar` verifies it, PKCS#1 v1.5 with a SHA-1 DigestInfo over the digest
/// itself; the slot has the same size either way, so it is rewritten in place.
///
/// The CMS signing time is the current time (`apple-xar` sets it), so only
/// the unsigned archive is reproducible.
pub fn sign_package(
    unsigned: impl Read + Seek + std::fmt::Debug,
    output: &Path,
    identity: &SigningIdentity,
    timestamp_url: Option<&str>,
) -> Result<(), SigningError> {
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SigningError::Io { path, source }
    };
    let package_error = |source| SigningError::Package {
        path: output.to_path_buf(),
        source: Box::new(source),
    };
    let reader = XarReader::new(unsigned).map_err(package_error)?;
    let mut out = BufWriter::new(File::create(output).map_err(io_error(output))?);
    let timestamp = timestamp_url
        .map(|url| url::Url::parse(url).map_err(|e| timestamp_error(url, e)))
        .transpose()?;
    XarSigner::new(reader)
        .sign(
            &mut out,
            &identity.key,
            &identity.certificate,
            timestamp.as_ref(),
            identity.issuers().into_iter(),
        )
        .map_err(package_error)?;
    out.flush().map_err(io_error(output))?;
    drop(out);
    rewrite_rsa_signature(output, identity)
}

/// A configuration profile signed the way MDM servers and Apple
/// Configurator sign one: CMS SignedData (RFC 5652) that holds the profile
/// itself, with the signer's chain, so any Mac can check who made it.
pub fn sign_profile(profile: &[u8], identity: &SigningIdentity) -> Result<Vec<u8>, SigningError> {
    cryptographic_message_syntax::SignedDataBuilder::default()
        .content_inline(profile.to_vec())
        .signer(cryptographic_message_syntax::SignerBuilder::new(
            &identity.key,
            identity.certificate.clone(),
        ))
        .certificate(identity.certificate.clone())
        .certificates(identity.issuers().into_iter())
        .build_der()
        .map_err(|e| SigningError::Profile {
            message: e.to_string(),
        })
}

fn rewrite_rsa_signature(path: &Path, identity: &SigningIdentity) -> Result<(), SigningError> {
    let rsa_error = |message: String| SigningError::PackageRsa {
        path: path.to_path_buf(),
        message,
    };
    let mut reader = XarReader::new(File::open(path).map_err(|source| SigningError::Io {
        path: path.to_path_buf(),
        source,
    })?)
    .map_err(|e| rsa_error(e.to_string()))?;
    let digest = reader
        .checksum_data()
        .map_err(|e| rsa_error(e.to_string()))?;
    let slot = reader
        .table_of_contents()
        .signature
        .as_ref()
        .map(|s| (reader.heap_start_offset() + s.offset, s.size))
        .ok_or_else(|| rsa_error("the signed TOC has no RSA signature".into()))?;
    let signature = identity
        .rsa
        .sign(Pkcs1v15Sign::new::<sha1::Sha1>(), &digest)
        .map_err(|e| rsa_error(e.to_string()))?;
    if signature.len() as u64 != slot.1 {
        return Err(rsa_error(format!(
            "RSA signature is {} bytes but its slot holds {}",
            signature.len(),
            slot.1
        )));
    }
    let mut file = OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut f| f.seek(SeekFrom::Start(slot.0)).map(|_| f))
        .map_err(|source| SigningError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    file.write_all(&signature)
        .map_err(|source| SigningError::Io {
            path: path.to_path_buf(),
            source,
        })
}
