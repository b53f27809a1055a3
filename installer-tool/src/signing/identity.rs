//! Signing identities: a p12 per purpose for releases (password from the
//! environment, never a flag, never logged) and a freshly generated
//! self-signed Developer ID identity for tests and the demo.

use std::path::{Path, PathBuf};

use apple_codesign::{
    cryptography::InMemoryPrivateKey, AppleCertificate, AppleCertificateBuilder, CertificateProfile,
};
use p12_keystore::{KeyStore, Pkcs12ImportPolicy};
use rsa::{
    pkcs8::{DecodePrivateKey, EncodePrivateKey},
    RsaPrivateKey,
};
use sha2::{Digest, Sha256};
use x509_certificate::{CapturedX509Certificate, InMemorySigningKeyPair, X509CertificateBuilder};

use super::SigningError;
use vpn_release::TeamId;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Purpose {
    /// Developer ID Application: Mach-O and bundles.
    Application,
    /// Developer ID Installer: the flat package.
    Installer,
}

impl Purpose {
    pub(super) fn profile(self) -> CertificateProfile {
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
    pub(super) key: InMemoryPrivateKey,
    /// The same key for the xar RSA signature, which must sign the TOC digest
    /// itself (see [`sign_package`]).
    pub(super) rsa: RsaPrivateKey,
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
    pub(super) fn issuers(&self) -> Vec<CapturedX509Certificate> {
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
