//! The bearer token check of the App Store Connect API: an ES256 JWT whose
//! header names the key (`kid`) and whose claims carry the issuer, the
//! `appstoreconnect-v1` audience and an expiry at most 20 minutes after
//! issue. Expiry is checked without leeway, so a client that keeps a token
//! past its life is refused.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Claims {
    iat: u64,
    exp: u64,
}

pub struct KeyCheck {
    pub key_id: String,
    pub issuer_id: String,
    key: DecodingKey,
}

impl KeyCheck {
    pub fn new(key_id: &str, issuer_id: &str, public_key_pem: &[u8]) -> Self {
        Self {
            key_id: key_id.to_string(),
            issuer_id: issuer_id.to_string(),
            key: DecodingKey::from_ec_pem(public_key_pem).expect("an EC public key in PEM"),
        }
    }

    /// The token when it is acceptable, else why not.
    pub fn check(&self, authorization: Option<&str>) -> Result<String, String> {
        let token = authorization
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or("no bearer token")?;
        let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
        if header.alg != Algorithm::ES256 {
            return Err(format!("algorithm {:?} is not ES256", header.alg));
        }
        if header.kid.as_deref() != Some(self.key_id.as_str()) {
            return Err(format!("unknown key id {:?}", header.kid));
        }
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(&["appstoreconnect-v1"]);
        validation.set_issuer(&[&self.issuer_id]);
        validation.set_required_spec_claims(&["exp", "aud", "iss"]);
        validation.leeway = 0;
        let claims = jsonwebtoken::decode::<Claims>(token, &self.key, &validation)
            .map_err(|e| e.to_string())?
            .claims;
        if claims.exp.saturating_sub(claims.iat) > 20 * 60 {
            return Err("token lifetime over 20 minutes".into());
        }
        Ok(token.to_string())
    }
}
