//! Strict JWKS parsing (placeholder until the strict parser lands).

use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::Jwk;

use crate::key::Key;

/// Why a JWKS could not be used.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum JwksError {
    /// Not a JSON object with a `keys` array.
    #[error("not a JSON object with a `keys` array")]
    NotAJwks,
    /// No key in the set can be used.
    #[error("no key in the set can be used")]
    NoUsableKeys,
}

pub(crate) struct ParsedJwks {
    pub(crate) keys: Vec<Key>,
    pub(crate) skipped: Vec<String>,
}

#[derive(serde::Deserialize)]
struct Document {
    keys: Vec<serde_json::Value>,
}

pub(crate) fn parse_jwks(body: &[u8], allowed: &[Algorithm]) -> Result<ParsedJwks, JwksError> {
    let document: Document = serde_json::from_slice(body).map_err(|_| JwksError::NotAJwks)?;
    let mut parsed = ParsedJwks {
        keys: Vec::new(),
        skipped: Vec::new(),
    };
    for value in document.keys {
        match serde_json::from_value::<Jwk>(value)
            .ok()
            .and_then(|jwk| Key::from_jwk(&jwk).ok())
        {
            Some(key) if allowed.contains(&key.algorithm()) => parsed.keys.push(key),
            _ => parsed.skipped.push("unusable key".to_owned()),
        }
    }
    Ok(parsed)
}
