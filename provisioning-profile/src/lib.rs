//! Provisioning profiles, read and written: "a property list wrapped within
//! a Cryptographic Message Syntax (CMS) signature" (Apple's TN3125, "Inside
//! Code Signing: Provisioning Profiles", "Unpack a profile":
//! <https://developer.apple.com/documentation/technotes/tn3125-inside-code-signing-provisioning-profiles>).
//!
//! [`ProvisioningProfile::from_der`] decodes a `.provisionprofile` and
//! verifies its signature; [`sign`] wraps a property list the way the
//! developer portal does (for tests and stand-ins: macOS trusts only
//! Apple's signature). What a profile must allow is the caller's business.

use chrono::{DateTime, Utc};
use cryptographic_message_syntax::{SignedData, SignedDataBuilder, SignerBuilder};
use plist::{Dictionary, Value};
use x509_certificate::{CapturedX509Certificate, InMemorySigningKeyPair};

/// The profile keys read here, as TN3125 names them.
pub const NAME: &str = "Name";
pub const ENTITLEMENTS: &str = "Entitlements";
pub const TEAM_IDENTIFIER: &str = "TeamIdentifier";
pub const DEVELOPER_CERTIFICATES: &str = "DeveloperCertificates";
pub const EXPIRATION_DATE: &str = "ExpirationDate";
pub const PROVISIONS_ALL_DEVICES: &str = "ProvisionsAllDevices";

/// Why bytes are not a provisioning profile.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("not a CMS SignedData structure ({0})")]
    NotCms(String),
    #[error("the CMS structure has no signer")]
    NoSigner,
    #[error("its CMS signature does not verify ({0})")]
    BadSignature(String),
    #[error("the CMS structure carries no content (a detached signature)")]
    NoContent,
    #[error("its content is not a property list ({0})")]
    NotPlist(String),
    #[error("its property list is not a <dict>")]
    NotDict,
}

/// Why a profile could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot sign the profile: {0}")]
pub struct SignError(String);

/// The parts of a profile a build checks. A key that is absent or of the
/// wrong type is `None`, for the caller to refuse by name.
#[derive(Clone, Debug)]
pub struct ProvisioningProfile {
    pub name: Option<String>,
    pub entitlements: Option<Dictionary>,
    pub team_identifiers: Option<Vec<String>>,
    /// DER certificates, as `<data>` elements.
    pub developer_certificates: Option<Vec<Vec<u8>>>,
    pub expiration_date: Option<DateTime<Utc>>,
    pub provisions_all_devices: Option<bool>,
}

impl ProvisioningProfile {
    /// Decodes a `.provisionprofile`. Every signer's signature is verified
    /// against the certificates the structure carries; whether they chain
    /// to Apple is not checked (macOS does that; test profiles are
    /// self-signed).
    pub fn from_der(data: &[u8]) -> Result<Self, DecodeError> {
        let signed = SignedData::parse_ber(data).map_err(|e| DecodeError::NotCms(e.to_string()))?;
        let mut signers = signed.signers().peekable();
        if signers.peek().is_none() {
            return Err(DecodeError::NoSigner);
        }
        for signer in signers {
            signer
                .verify_signature_with_signed_data(&signed)
                .map_err(|e| DecodeError::BadSignature(e.to_string()))?;
            // The signature covers the signed attributes; their digest is
            // what ties it to the content.
            if signer.signed_attributes().is_some() {
                signer
                    .verify_message_digest_with_signed_data(&signed)
                    .map_err(|e| DecodeError::BadSignature(e.to_string()))?;
            }
        }
        let content = signed.signed_content().ok_or(DecodeError::NoContent)?;
        let dict = Value::from_reader(std::io::Cursor::new(content))
            .map_err(|e| DecodeError::NotPlist(e.to_string()))?
            .into_dictionary()
            .ok_or(DecodeError::NotDict)?;
        Ok(Self::from_plist(&dict))
    }

    fn from_plist(dict: &Dictionary) -> Self {
        let strings = |key: &str| {
            dict.get(key).and_then(Value::as_array).map(|a| {
                a.iter()
                    .filter_map(Value::as_string)
                    .map(str::to_string)
                    .collect()
            })
        };
        Self {
            name: dict
                .get(NAME)
                .and_then(Value::as_string)
                .map(str::to_string),
            entitlements: dict
                .get(ENTITLEMENTS)
                .and_then(Value::as_dictionary)
                .cloned(),
            team_identifiers: strings(TEAM_IDENTIFIER),
            developer_certificates: dict
                .get(DEVELOPER_CERTIFICATES)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_data)
                        .map(<[u8]>::to_vec)
                        .collect()
                }),
            expiration_date: dict
                .get(EXPIRATION_DATE)
                .and_then(Value::as_date)
                .map(|d| DateTime::<Utc>::from(std::time::SystemTime::from(d))),
            provisions_all_devices: dict.get(PROVISIONS_ALL_DEVICES).and_then(Value::as_boolean),
        }
    }
}

/// `plist` as XML inside CMS SignedData, signed by `key`, whose
/// `certificate` travels with it: the shape the developer portal writes.
pub fn sign(
    plist: &Dictionary,
    key: &InMemorySigningKeyPair,
    certificate: &CapturedX509Certificate,
) -> Result<Vec<u8>, SignError> {
    let mut xml = Vec::new();
    Value::Dictionary(plist.clone())
        .to_writer_xml(&mut xml)
        .map_err(|e| SignError(e.to_string()))?;
    SignedDataBuilder::default()
        .content_inline(xml)
        .signer(SignerBuilder::new(key, certificate.clone()))
        .certificate(certificate.clone())
        .build_der()
        .map_err(|e| SignError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use x509_certificate::{KeyAlgorithm, X509CertificateBuilder};

    use super::*;

    fn signed(plist: &Dictionary) -> Vec<u8> {
        let (certificate, key) = X509CertificateBuilder::default()
            .create_with_random_keypair(KeyAlgorithm::Ed25519)
            .unwrap();
        sign(plist, &key, &certificate).unwrap()
    }

    fn plist() -> Dictionary {
        let expires: DateTime<Utc> = "2027-06-01T00:00:00Z".parse().unwrap();
        let mut entitlements = Dictionary::new();
        entitlements.insert(
            "com.apple.developer.team-identifier".into(),
            "ABCDE12345".into(),
        );
        let mut plist = Dictionary::new();
        plist.insert(NAME.into(), "DemoVPN Developer ID".into());
        plist.insert(
            TEAM_IDENTIFIER.into(),
            Value::Array(vec!["ABCDE12345".into()]),
        );
        plist.insert(
            DEVELOPER_CERTIFICATES.into(),
            Value::Array(vec![Value::Data(vec![1, 2, 3])]),
        );
        plist.insert(
            EXPIRATION_DATE.into(),
            Value::Date(std::time::SystemTime::from(expires).into()),
        );
        plist.insert(PROVISIONS_ALL_DEVICES.into(), true.into());
        plist.insert(ENTITLEMENTS.into(), entitlements.clone().into());
        plist
    }

    #[test]
    fn a_signed_profile_reads_back() {
        let profile = ProvisioningProfile::from_der(&signed(&plist())).unwrap();
        assert_eq!(profile.name.as_deref(), Some("DemoVPN Developer ID"));
        assert_eq!(profile.team_identifiers, Some(vec!["ABCDE12345".into()]));
        assert_eq!(profile.developer_certificates, Some(vec![vec![1, 2, 3]]));
        assert_eq!(profile.provisions_all_devices, Some(true));
        assert_eq!(
            profile.expiration_date,
            Some("2027-06-01T00:00:00Z".parse().unwrap())
        );
        assert_eq!(
            profile.entitlements.unwrap()["com.apple.developer.team-identifier"],
            Value::from("ABCDE12345")
        );
    }

    #[test]
    fn keys_of_the_wrong_type_read_as_absent() {
        let mut plist = plist();
        plist.insert(TEAM_IDENTIFIER.into(), "ABCDE12345".into());
        plist.insert(PROVISIONS_ALL_DEVICES.into(), "yes".into());
        let profile = ProvisioningProfile::from_der(&signed(&plist)).unwrap();
        assert_eq!(profile.team_identifiers, None);
        assert_eq!(profile.provisions_all_devices, None);
    }

    #[test]
    fn bytes_that_are_not_a_signed_profile_are_refused() {
        assert!(matches!(
            ProvisioningProfile::from_der(b"profile bytes"),
            Err(DecodeError::NotCms(_))
        ));
        // A changed byte in the content breaks the signature.
        let mut signed = signed(&plist());
        let at = signed
            .windows(7)
            .position(|w| w == b"DemoVPN")
            .expect("the name is in the content");
        signed[at + 6] = b'X';
        assert!(matches!(
            ProvisioningProfile::from_der(&signed),
            Err(DecodeError::BadSignature(_))
        ));
    }
}
