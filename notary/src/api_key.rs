//! The App Store Connect API key and the short-lived ES256 tokens made from
//! it. Key material stays in memory: no error, log line or `Debug` output
//! carries it (the crate's `UnifiedApiKey` derives `Debug` over the key, so
//! the JSON form is read here instead).

use std::{
    path::{Path, PathBuf},
    sync::Mutex,
    time::{Duration, Instant},
};

use app_store_connect::ConnectTokenEncoder;
use base64::{engine::general_purpose::STANDARD, Engine};
use zeroize::Zeroizing;

use crate::NotaryError;

/// Apple refuses tokens that live longer than 20 minutes ("Generating
/// Tokens for API Requests", App Store Connect API documentation), and a
/// token that leaks should be worth little: no token lives longer.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(20 * 60);

/// Where the key comes from: a `.p8` with its ids, or the JSON file that
/// `rcodesign encode-app-store-connect-api-key` writes (ids included).
#[derive(Clone, Debug)]
pub struct ApiKeySource {
    pub path: PathBuf,
    pub issuer_id: Option<String>,
    pub key_id: Option<String>,
}

/// Mints bearer tokens, reusing one until half its life has passed so that
/// a long wait never sends an expired token.
pub struct TokenSource {
    encoder: ConnectTokenEncoder,
    key_id: String,
    lifetime: Duration,
    current: Mutex<Option<(Zeroizing<String>, Instant)>>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("key_id", &self.key_id)
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

fn key_error(path: &Path, reason: impl Into<String>) -> NotaryError {
    NotaryError::ApiKey {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

impl TokenSource {
    /// Loads the key; its tokens live `lifetime`, at most
    /// [`MAX_TOKEN_LIFETIME`].
    pub fn load(source: &ApiKeySource, lifetime: Duration) -> Result<Self, NotaryError> {
        let lifetime = lifetime.min(MAX_TOKEN_LIFETIME);
        let path = &source.path;
        let data = Zeroizing::new(
            std::fs::read(path).map_err(|e| key_error(path, format!("cannot read it ({e})")))?,
        );
        let (key_id, encoder) = if data.trim_ascii_start().starts_with(b"{") {
            let (issuer_id, key_id, der) = parse_json_key(path, &data)?;
            let encoder = ConnectTokenEncoder::from_ecdsa_der(key_id.clone(), issuer_id, &der)
                .map_err(|_| key_error(path, "its private_key is not an EC private key"))?;
            (key_id, encoder)
        } else {
            let (Some(issuer_id), Some(key_id)) = (&source.issuer_id, &source.key_id) else {
                return Err(NotaryError::MissingKeyIds { path: path.clone() });
            };
            let encoder =
                ConnectTokenEncoder::from_ecdsa_pem(key_id.clone(), issuer_id.clone(), &data)
                    .map_err(|_| {
                        key_error(
                            path,
                            "it is neither a PEM private key (.p8) nor a JSON API key",
                        )
                    })?;
            (key_id.clone(), encoder)
        };
        let tokens = Self {
            encoder,
            key_id,
            lifetime,
            current: Mutex::new(None),
        };
        // A key that cannot sign is reported now, not after an upload.
        tokens
            .mint()
            .map_err(|_| key_error(path, "it is not an EC P-256 private key (PKCS#8)"))?;
        Ok(tokens)
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    fn mint(&self) -> Result<Zeroizing<String>, NotaryError> {
        self.encoder
            .new_token(self.lifetime.as_secs().max(1))
            .map(Zeroizing::new)
            .map_err(|_| NotaryError::Token)
    }

    /// A token with at least half its lifetime left.
    pub fn token(&self) -> Result<Zeroizing<String>, NotaryError> {
        let mut current = self.current.lock().expect("token lock");
        if let Some((token, minted)) = current.as_ref() {
            if minted.elapsed() < self.lifetime / 2 {
                return Ok(token.clone());
            }
        }
        let token = self.mint()?;
        *current = Some((token.clone(), Instant::now()));
        Ok(token)
    }

    /// Drops the cached token, so the next request signs a fresh one.
    pub fn forget(&self) {
        *self.current.lock().expect("token lock") = None;
    }
}

/// `{"issuer_id": .., "key_id": .., "private_key": base64 PKCS#8 DER}`.
fn parse_json_key(
    path: &Path,
    data: &[u8],
) -> Result<(String, String, Zeroizing<Vec<u8>>), NotaryError> {
    let value: serde_json::Value = serde_json::from_slice(data).map_err(|e| {
        key_error(
            path,
            format!(
                "it is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    })?;
    let field = |name: &str| {
        value.get(name).and_then(|v| v.as_str()).ok_or_else(|| {
            key_error(
                path,
                format!("field `{name}` is missing or not a string (expected the JSON that `rcodesign encode-app-store-connect-api-key` writes)"),
            )
        })
    };
    let issuer_id = field("issuer_id")?.to_string();
    let key_id = field("key_id")?.to_string();
    let der = STANDARD
        .decode(field("private_key")?.trim())
        .map(Zeroizing::new)
        .map_err(|_| key_error(path, "field `private_key` is not base64"))?;
    Ok((issuer_id, key_id, der))
}

#[cfg(test)]
mod tests {
    use super::*;

    // A throwaway P-256 key (PKCS#8), generated for these tests only.
    const TEST_P8: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg8TH7UPWRgVK/pE/f
zZ45quyYJgZ1aPfCx6hBPqwhK8yhRANCAAQzT6RQX1F/D0loB7lCcGE39V0tCKse
1YY2cUwXOYTasM38NoEAJn5lqzEIFJ9yspB8f0zkBh3C7jJFbUbvZMSD
-----END PRIVATE KEY-----
";

    fn write(dir: &Path, name: &str, data: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, data).unwrap();
        path
    }

    fn source(path: PathBuf, ids: bool) -> ApiKeySource {
        ApiKeySource {
            path,
            issuer_id: ids.then(|| "issuer".to_string()),
            key_id: ids.then(|| "KEY123".to_string()),
        }
    }

    #[test]
    fn p8_needs_both_ids_and_json_carries_them() {
        let dir = tempfile::tempdir().unwrap();
        let p8 = write(dir.path(), "AuthKey.p8", TEST_P8);
        assert!(matches!(
            TokenSource::load(&source(p8.clone(), false), MAX_TOKEN_LIFETIME),
            Err(NotaryError::MissingKeyIds { .. })
        ));
        let tokens = TokenSource::load(&source(p8, true), MAX_TOKEN_LIFETIME).unwrap();
        assert_eq!(tokens.key_id(), "KEY123");

        let der: String = TEST_P8
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let json = format!(r#"{{"issuer_id":"i","key_id":"JSONKEY","private_key":"{der}"}}"#);
        let tokens = TokenSource::load(
            &source(write(dir.path(), "key.json", &json), false),
            MAX_TOKEN_LIFETIME,
        )
        .unwrap();
        assert_eq!(tokens.key_id(), "JSONKEY");
        let token = tokens.token().unwrap();
        assert_eq!(token.split('.').count(), 3, "a JWT");
        assert_eq!(*tokens.token().unwrap(), *token, "reused while fresh");
        tokens.forget();
    }

    #[test]
    fn no_token_lives_longer_than_twenty_minutes() {
        let dir = tempfile::tempdir().unwrap();
        let p8 = write(dir.path(), "AuthKey.p8", TEST_P8);
        for (asked, lives) in [(3600, 1200), (1200, 1200), (60, 60)] {
            let tokens =
                TokenSource::load(&source(p8.clone(), true), Duration::from_secs(asked)).unwrap();
            let token = tokens.token().unwrap();
            let claims = token.split('.').nth(1).unwrap();
            let claims: serde_json::Value = serde_json::from_slice(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(claims)
                    .unwrap(),
            )
            .unwrap();
            let expires = claims["exp"].as_u64().unwrap();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            assert!(
                expires <= now + lives && expires + 5 >= now + lives,
                "asked {asked} s: expires in {} s",
                expires.saturating_sub(now)
            );
        }
    }

    #[test]
    fn bad_keys_name_the_file_and_never_echo_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = write(
            dir.path(),
            "garbage.p8",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        );
        let json = write(
            dir.path(),
            "k.json",
            r#"{"issuer_id":"i","private_key":"c2VjcmV0"}"#,
        );
        for (path, expected) in [(garbage, "garbage.p8"), (json, "`key_id` is missing")] {
            let message = TokenSource::load(&source(path, true), MAX_TOKEN_LIFETIME)
                .unwrap_err()
                .to_string();
            assert!(message.contains(expected), "{message}");
            assert!(
                !message.contains("c2VjcmV0") && !message.contains("AAAA"),
                "{message}"
            );
        }
        let missing = dir.path().join("nope.p8");
        let message = TokenSource::load(&source(missing, true), MAX_TOKEN_LIFETIME)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("nope.p8") && message.contains("cannot read"),
            "{message}"
        );
    }
}
