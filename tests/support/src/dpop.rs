//! A DPoP client (RFC 9449) for the tests: a key pair of the test data and proofs made with
//! jsonwebtoken, not with the crate under test.

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};
use tower_jwt_auth::dpop::{access_token_hash, jwk_thumbprint};
use tower_jwt_auth::{Algorithm, SigningKey};

use crate::{data, now};

/// A client holding a private key and signing proofs with it.
pub struct DpopClient {
    alg: Algorithm,
    encoding: EncodingKey,
    jwk: Jwk,
}

impl DpopClient {
    /// The P-256 key of `tests/data/keys/ec256_private.pem`.
    pub fn es256() -> Self {
        let pem = data("keys/ec256_private.pem");
        Self::new(
            Algorithm::ES256,
            EncodingKey::from_ec_pem(&pem).unwrap(),
            &SigningKey::ec_pem(Algorithm::ES256, &pem).unwrap(),
        )
    }

    /// The Ed25519 key of `tests/data/keys/ed25519_private.pem`.
    pub fn eddsa() -> Self {
        let pem = data("keys/ed25519_private.pem");
        Self::new(
            Algorithm::EdDSA,
            EncodingKey::from_ed_pem(&pem).unwrap(),
            &SigningKey::ed_pem(&pem).unwrap(),
        )
    }

    fn new(alg: Algorithm, encoding: EncodingKey, signing: &SigningKey) -> Self {
        let mut jwk = signing.public_jwk().unwrap().clone();
        // As a client sends it: the public members alone.
        jwk.common = Default::default();
        Self { alg, encoding, jwk }
    }

    /// The RFC 7638 thumbprint of the public key.
    pub fn jkt(&self) -> String {
        jwk_thumbprint(&self.jwk).unwrap()
    }

    /// A fresh proof (new `jti`, `iat` now) for `method` on `url`, with `ath` when an access
    /// token comes along.
    pub fn proof(&self, method: &str, url: &str, token: Option<&str>) -> String {
        let mut claims = json!({ "jti": unique(), "htm": method, "htu": url, "iat": now() });
        if let Some(token) = token {
            claims["ath"] = Value::from(access_token_hash(token));
        }
        self.proof_of(&claims)
    }

    /// A proof with exactly these claims.
    pub fn proof_of(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(self.jwk.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

/// A `jti` never used before by this process.
fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "proof-{}-{}-{}",
        std::process::id(),
        now(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
