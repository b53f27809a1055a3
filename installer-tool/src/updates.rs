//! Signed updates, in Sparkle's formats so that a Sparkle-based app and
//! `vpn-app update` read the same feed: `release.toml`'s `[updates]` (the
//! feed's URL and the public key, written into the app's Info.plist as
//! `SUFeedURL` and `SUPublicEDKey`) and the ed25519 key that signs each
//! pkg.
//!
//! The key file is what Sparkle's `generate_keys -x` exports: the base64 of
//! the 32-byte seed (Sparkle, generate_keys/main.swift), so a vendor can
//! move between Sparkle's tools and ours. Signatures are plain RFC 8032
//! ed25519 over the file's bytes, base64 with padding
//! (sign_update/main.swift; SUSignatureVerifier.m checks them that way).

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
};

use base64::{engine::general_purpose::STANDARD, Engine as _};
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::{
    config::ConfigError,
    output_file::{self, OutputError},
};

/// `[updates]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct UpdatesConfig {
    /// The appcast the app reads (`SUFeedURL`).
    #[serde(default)]
    pub feed_url: Option<String>,
    /// The base64 public key `generate-update-key` printed (`SUPublicEDKey`).
    #[serde(default)]
    pub public_ed_key: Option<String>,
}

/// `[updates]`, checked: both or neither.
#[derive(Debug, Clone, Default)]
pub struct UpdateSettings {
    pub feed_url: Option<url::Url>,
    pub public_ed_key: Option<String>,
}

impl UpdateSettings {
    pub fn check(config: UpdatesConfig, path: &Path) -> Result<Self, ConfigError> {
        let invalid = |field, problem: String, help: &str| ConfigError::Invalid {
            path: path.to_path_buf(),
            field,
            problem,
            help: help.into(),
        };
        let feed_url = config
            .feed_url
            .map(|text| match url::Url::parse(&text) {
                Ok(url) if url.scheme() == "https" => Ok(url),
                _ => Err(invalid(
                    "updates.feed-url",
                    format!("`{text}` is not an https URL"),
                    "the app fetches updates over HTTPS only: write https://host/path/appcast.xml",
                )),
            })
            .transpose()?;
        if let Some(key) = &config.public_ed_key {
            if public_key_bytes(key).is_none() {
                return Err(invalid(
                    "updates.public-ed-key",
                    format!("`{key}` is not the base64 of a 32-byte ed25519 public key"),
                    "paste the public key `installer-tool generate-update-key` printed",
                ));
            }
        }
        match (&feed_url, &config.public_ed_key) {
            (Some(_), None) => Err(invalid(
                "updates.public-ed-key",
                "is missing: the app could not check what the feed offers".into(),
                "run `installer-tool generate-update-key --output update.key` and paste the public key it prints",
            )),
            (None, Some(_)) => Err(invalid(
                "updates.feed-url",
                "is missing: the app would have a key but no feed".into(),
                "set the https URL where the appcast is published",
            )),
            _ => Ok(Self {
                feed_url,
                public_ed_key: config.public_ed_key,
            }),
        }
    }
}

fn public_key_bytes(text: &str) -> Option<[u8; 32]> {
    STANDARD.decode(text.trim()).ok()?.try_into().ok()
}

#[derive(Debug, thiserror::Error)]
pub enum UpdateKeyError {
    #[error(transparent)]
    Write(#[from] OutputError),
    #[error("cannot read the update key {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the update key {path} is readable by others (mode {mode:o})")]
    Exposed { path: PathBuf, mode: u32 },
    #[error("{path} is not an update key this tool signs with: {problem}")]
    Invalid {
        path: PathBuf,
        problem: String,
        /// Sparkle's legacy 96-byte export.
        legacy: bool,
    },
    #[error("cannot make a key: {message}")]
    Generate { message: String },
}

impl UpdateKeyError {
    pub fn help(&self) -> Option<String> {
        Some(match self {
            Self::Write(OutputError::Exists { .. }) => "choose another --output; remove the old key only if no release ever shipped its public half (apps that trust it take no update signed by another)".into(),
            Self::Exposed { path, .. } => format!("chmod 600 {}: whoever reads it can sign updates your users install", path.display()),
            Self::Invalid { legacy: true, .. } => "sign this release with Sparkle's `sign_update`, which reads that format: apps in the field trust only this key, and Sparkle cannot change the key of package updates".into(),
            Self::Invalid { .. } => "pass the file `installer-tool generate-update-key` (or Sparkle's `generate_keys -x`) wrote".into(),
            _ => return None,
        })
    }
}

/// What `generate-update-key` reports (never the private key).
#[derive(Debug, serde::Serialize)]
pub struct GeneratedKey {
    pub key_file: PathBuf,
    /// For `[updates] public-ed-key` (`SUPublicEDKey`).
    pub public_ed_key: String,
}

/// An ed25519 key that signs updates.
pub struct UpdateKey {
    pair: Ed25519KeyPair,
}

impl UpdateKey {
    /// A new key written to `path` (0600, refused if the file exists); the
    /// key, to print its public half.
    pub fn generate(path: &Path) -> Result<Self, UpdateKeyError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), seed.as_mut()).map_err(
            |_| UpdateKeyError::Generate {
                message: "the system's random source failed".into(),
            },
        )?;
        let key = Self::from_seed(seed.as_ref(), path)?;
        // Sparkle's export has no newline; its import trims one anyway.
        let text = Zeroizing::new(STANDARD.encode(seed.as_ref()));
        output_file::create_new(path, text.as_bytes(), 0o600)?;
        Ok(key)
    }

    /// The key in `path`, which only its owner may read.
    pub fn load(path: &Path) -> Result<Self, UpdateKeyError> {
        let read_error = |source| UpdateKeyError::Read {
            path: path.to_path_buf(),
            source,
        };
        let mode = std::fs::metadata(path)
            .map_err(read_error)?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(UpdateKeyError::Exposed {
                path: path.to_path_buf(),
                mode: mode & 0o777,
            });
        }
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(read_error)?);
        let invalid = |problem: &str| UpdateKeyError::Invalid {
            path: path.to_path_buf(),
            problem: problem.into(),
            legacy: false,
        };
        let bytes = Zeroizing::new(
            STANDARD
                .decode(text.trim())
                .map_err(|_| invalid("it is not base64"))?,
        );
        match bytes.len() {
            32 => Self::from_seed(&bytes, path),
            // Sparkle's legacy export: the expanded secret, from which the
            // seed cannot be recovered (common_cli/secret.swift).
            96 => Err(UpdateKeyError::Invalid {
                path: path.to_path_buf(),
                problem: "it is Sparkle's legacy 96-byte key, which holds no seed".into(),
                legacy: true,
            }),
            n => Err(invalid(&format!(
                "it holds {n} bytes, not a 32-byte ed25519 seed"
            ))),
        }
    }

    fn from_seed(seed: &[u8], path: &Path) -> Result<Self, UpdateKeyError> {
        let pair =
            Ed25519KeyPair::from_seed_unchecked(seed).map_err(|_| UpdateKeyError::Invalid {
                path: path.to_path_buf(),
                problem: "the seed is not an ed25519 key".into(),
                legacy: false,
            })?;
        Ok(Self { pair })
    }

    /// `SUPublicEDKey`: the base64 of the 32-byte public key.
    pub fn public_key(&self) -> String {
        STANDARD.encode(self.pair.public_key().as_ref())
    }

    /// `sparkle:edSignature` of `data`.
    pub fn sign(&self, data: &[u8]) -> String {
        STANDARD.encode(self.pair.sign(data).as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8032, section 7.1, TEST 2: a one-byte message.
    #[test]
    fn signatures_are_rfc_8032_ed25519() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        let seed = hex::decode("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
            .unwrap();
        std::fs::write(&path, STANDARD.encode(&seed)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let key = UpdateKey::load(&path).unwrap();
        assert_eq!(
            STANDARD.decode(key.public_key()).unwrap(),
            hex::decode("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
                .unwrap()
        );
        assert_eq!(
            STANDARD.decode(key.sign(&[0x72])).unwrap(),
            hex::decode(
                "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da\
                 085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
            )
            .unwrap()
        );
    }
}
