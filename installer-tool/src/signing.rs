//! Signing identities and the two signing steps: the app bundle (inside-out,
//! by `apple-codesign`'s bundle signer) and the product archive (RSA + CMS,
//! by `apple-xar`'s signer, as `productsign` does: RSA alone breaks stapling).
//!
//! Identities: a p12 per purpose for releases (password from the
//! environment, never a flag, never logged), a freshly generated self-signed
//! identity for tests and the demo, and ad-hoc for the app in `--dev` only.

use std::{
    fs::{File, OpenOptions},
    io::{BufWriter, Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
};

use apple_codesign::{
    cryptography::InMemoryPrivateKey, AppleCertificate, AppleCertificateBuilder,
    AppleCodesignError, CertificateProfile, CodeSignatureFlags, SettingsScope, SigningSettings,
    UnifiedSigner,
};
use apple_xar::{reader::XarReader, signing::XarSigner};
use p12_keystore::{KeyStore, Pkcs12ImportPolicy};
use rsa::{
    pkcs8::{DecodePrivateKey, EncodePrivateKey},
    Pkcs1v15Sign, RsaPrivateKey,
};
use sha2::{Digest, Sha256};
use x509_certificate::{CapturedX509Certificate, InMemorySigningKeyPair, X509CertificateBuilder};

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
    #[error("cannot generate the self-signed {purpose:?} identity: {message}")]
    Generate { purpose: Purpose, message: String },
    #[error("{path} holds a non-RSA key\nhelp: Developer ID identities are RSA; export the one from your Apple account")]
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
    /// The key as apple-codesign and the CMS builder use it.
    key: InMemoryPrivateKey,
    /// The same key for the xar RSA signature, which must sign the TOC digest
    /// itself (see [`sign_package`]).
    rsa: RsaPrivateKey,
    pub certificate: CapturedX509Certificate,
    /// Issuers shipped in the p12, then Apple's when the certificate is Apple's.
    chain: Vec<CapturedX509Certificate>,
    pub origin: IdentityOrigin,
}

/// Both views of one RSA private key given as PKCS#8 DER.
fn rsa_key_pair(der: &[u8]) -> Result<(InMemoryPrivateKey, RsaPrivateKey), ()> {
    let rsa = RsaPrivateKey::from_pkcs8_der(der).map_err(|_| ())?;
    let key = InMemoryPrivateKey::from_pkcs8_der(der).map_err(|_| ())?;
    Ok((key, rsa))
}

/// The leaf certificate, its private key (PKCS#8 DER) and the issuers.
type P12Contents = (
    CapturedX509Certificate,
    zeroize::Zeroizing<Vec<u8>>,
    Vec<CapturedX509Certificate>,
);

enum P12Problem {
    BadPassword,
    Invalid(String),
}

/// Reads the key and certificates of a p12. `p12-keystore` rather than
/// `apple-codesign`'s own reader: that one (the `p12` crate) panics on the
/// SHA-256 MAC and AES encryption that OpenSSL 3 writes by default.
fn parse_p12(data: &[u8], password: &str) -> Result<P12Contents, P12Problem> {
    let store =
        KeyStore::from_pkcs12(data, password, Pkcs12ImportPolicy::Strict).map_err(|e| match e {
            p12_keystore::error::Error::MacError(_) => P12Problem::BadPassword,
            other => P12Problem::Invalid(other.to_string()),
        })?;
    let (_, chain) = store.private_key_chain().ok_or_else(|| {
        P12Problem::Invalid("it holds no private key with its certificate".into())
    })?;
    let key = zeroize::Zeroizing::new(chain.key().as_der().to_vec());
    let mut certificates = chain
        .certs()
        .iter()
        .map(|c| CapturedX509Certificate::from_der(c.as_der().to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| P12Problem::Invalid(format!("unreadable certificate: {e}")))?;
    if certificates.is_empty() {
        return Err(P12Problem::Invalid(
            "it holds no certificate for its key".into(),
        ));
    }
    let leaf = certificates.remove(0);
    Ok((leaf, key, certificates))
}

impl SigningIdentity {
    /// The certificates to embed after the signing certificate.
    fn issuers(&self) -> Vec<CapturedX509Certificate> {
        let mut chain = self.chain.clone();
        if let Some(apple) = self.certificate.apple_root_certificate_chain() {
            chain.extend(
                apple
                    .into_iter()
                    .skip(1)
                    .filter(|c| !self.chain.contains(c)),
            );
        }
        chain
    }
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
        let (certificate, key_der, chain) = parse_p12(&data, password).map_err(|e| match e {
            P12Problem::BadPassword => SigningError::BadPassword {
                path: path.to_path_buf(),
                env: password_env,
            },
            P12Problem::Invalid(message) => SigningError::BadP12 {
                path: path.to_path_buf(),
                message,
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
        let (key, rsa) = rsa_key_pair(&key_der).map_err(|_| SigningError::NotRsa {
            path: path.to_path_buf(),
        })?;
        Ok(Self {
            key,
            rsa,
            certificate,
            chain,
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
        let generate = |message: String| SigningError::Generate { purpose, message };
        let rsa = RsaPrivateKey::new(&mut rand::thread_rng(), 2048)
            .map_err(|e| generate(e.to_string()))?;
        let der = rsa.to_pkcs8_der().map_err(|e| generate(e.to_string()))?;
        let key = InMemoryPrivateKey::from_pkcs8_der(der.as_bytes())
            .map_err(|e| generate(e.to_string()))?;
        let pair = InMemorySigningKeyPair::from_pkcs8_der(der.as_bytes())
            .map_err(|e| generate(e.to_string()))?;
        let mut builder = X509CertificateBuilder::default();
        builder
            .apple_certificate_profile(purpose.profile())
            .map_err(|e| generate(e.to_string()))?;
        builder
            .apple_subject(team.as_str(), person, "US")
            .map_err(|e| generate(e.to_string()))?;
        builder.validity_duration(chrono::Duration::days(30));
        let certificate = builder
            .create_with_key_pair(&pair)
            .map_err(|e| generate(e.to_string()))?;
        Ok(Self {
            key,
            rsa,
            certificate,
            chain: Vec::new(),
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

/// Signs the app bundle at `bundle` in place, nested code first. With no
/// identity the signature is ad-hoc.
pub fn sign_app_bundle_in_place(
    bundle: &Path,
    identity: Option<&SigningIdentity>,
    what: &BundleSigning<'_>,
    options: &SignOptions,
) -> Result<(), SigningError> {
    let bundle_error = |source| SigningError::Bundle {
        path: bundle.to_path_buf(),
        source: Box::new(source),
    };
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
            .map_err(bundle_error)?;
        // Hardened runtime: notarization requires it of every executable.
        settings.set_code_signature_flags(scope, CodeSignatureFlags::RUNTIME);
    }
    UnifiedSigner::new(settings)
        .sign_bundle(bundle, bundle)
        .map_err(bundle_error)
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
