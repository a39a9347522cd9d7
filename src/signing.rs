//! Signing keys and token signing, for issuers (the auth router, tests).

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::crypto::CryptoProvider;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, EncodingKey};
use serde::Serialize;

use crate::error::KeyError;
use crate::key::{HmacKey, Key, crypto_provider};

/// Why a token could not be signed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The claims could not be serialized to JSON.
    #[error("claims cannot be serialized: {0}")]
    Claims(#[source] serde_json::Error),
    /// The crypto backend failed to sign.
    #[error("signing failed")]
    Backend,
}

// The HMAC variant is large (a pre-keyed state) and on the hot path: keep it inline.
#[allow(clippy::large_enum_variant)]
enum Material {
    Hmac(HmacKey),
    Private {
        key: EncodingKey,
        provider: &'static CryptoProvider,
    },
}

/// A key that signs tokens, pinned to one algorithm, with the matching
/// verification [`Key`].
///
/// `Debug` never shows key material.
pub struct SigningKey {
    alg: Algorithm,
    kid: Option<String>,
    /// The encoded header, computed once.
    header: String,
    material: Material,
    verifying: Key,
    jwk: Option<Jwk>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("material", &"[redacted]")
            .finish()
    }
}

impl SigningKey {
    /// An HMAC secret (`HS256/384/512`).
    ///
    /// # Errors
    ///
    /// As [`Key::hmac`]: the secret must be at least as long as the hash.
    pub fn hmac(alg: Algorithm, secret: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        let verifying = Key::hmac(alg, secret.as_ref())?;
        let material = Material::Hmac(HmacKey::from_secret(alg, secret.as_ref())?);
        Ok(Self::assemble(alg, material, verifying, None))
    }

    /// An RSA private key in PEM form (`RS*`/`PS*`).
    ///
    /// # Errors
    ///
    /// [`KeyError::AlgorithmMismatch`] or [`KeyError::Invalid`].
    pub fn rsa_pem(alg: Algorithm, pem: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        Self::private(
            alg,
            AlgorithmFamily::Rsa,
            EncodingKey::from_rsa_pem(pem.as_ref()),
        )
    }

    /// An ECDSA private key in PKCS#8 PEM form (`ES256`/`ES384`).
    ///
    /// # Errors
    ///
    /// As [`SigningKey::rsa_pem`].
    pub fn ec_pem(alg: Algorithm, pem: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        Self::private(
            alg,
            AlgorithmFamily::Ec,
            EncodingKey::from_ec_pem(pem.as_ref()),
        )
    }

    /// An Ed25519 private key in PKCS#8 PEM form (`EdDSA`).
    ///
    /// # Errors
    ///
    /// As [`SigningKey::rsa_pem`].
    pub fn ed_pem(pem: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        Self::private(
            Algorithm::EdDSA,
            AlgorithmFamily::Ed,
            EncodingKey::from_ed_pem(pem.as_ref()),
        )
    }

    fn private(
        alg: Algorithm,
        family: AlgorithmFamily,
        key: jsonwebtoken::errors::Result<EncodingKey>,
    ) -> Result<Self, KeyError> {
        if alg.family() != family {
            return Err(KeyError::AlgorithmMismatch(alg));
        }
        let key = key?;
        let provider = crypto_provider()?;
        (provider.signer_factory)(&alg, &key)?;
        let mut jwk = Jwk::from_encoding_key(&key, alg)?;
        jwk.common.key_algorithm =
            Some(jwk_algorithm(alg).ok_or(KeyError::AlgorithmMismatch(alg))?);
        let verifying = Key::from_decoding_key(alg, DecodingKey::from_jwk(&jwk)?)?;
        Ok(Self::assemble(
            alg,
            Material::Private { key, provider },
            verifying,
            Some(jwk),
        ))
    }

    fn assemble(alg: Algorithm, material: Material, verifying: Key, jwk: Option<Jwk>) -> Self {
        let mut key = Self {
            alg,
            kid: None,
            header: String::new(),
            material,
            verifying,
            jwk,
        };
        key.header = key.encode_header();
        key
    }

    fn encode_header(&self) -> String {
        #[derive(Serialize)]
        struct Header<'a> {
            alg: Algorithm,
            typ: &'static str,
            #[serde(skip_serializing_if = "Option::is_none")]
            kid: Option<&'a str>,
        }
        let json = serde_json::to_vec(&Header {
            alg: self.alg,
            typ: "JWT",
            kid: self.kid.as_deref(),
        })
        .unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    /// Names the key: tokens carry `kid` in their header, and the
    /// verification key and JWK carry it too.
    #[must_use]
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        let kid = kid.into();
        self.verifying = self.verifying.with_kid(kid.clone());
        if let Some(jwk) = &mut self.jwk {
            jwk.common.key_id = Some(kid.clone());
        }
        self.kid = Some(kid);
        self.header = self.encode_header();
        self
    }

    /// The algorithm tokens are signed with.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The key that verifies this key's signatures.
    pub fn verifying_key(&self) -> &Key {
        &self.verifying
    }

    /// The public key as a JWK with `alg` and `kid`, for a JWKS document.
    /// `None` for HMAC secrets, which must never be published.
    pub fn public_jwk(&self) -> Option<&Jwk> {
        self.jwk.as_ref()
    }

    /// Signs `claims` into a compact JWS.
    ///
    /// # Errors
    ///
    /// [`SignError`] if the claims do not serialize or the backend fails.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, SignError> {
        let payload = serde_json::to_vec(claims).map_err(SignError::Claims)?;
        let mut token = String::with_capacity(self.header.len() + payload.len() * 4 / 3 + 90);
        token.push_str(&self.header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        let signature = match &self.material {
            Material::Hmac(mac) => mac.sign(token.as_bytes()),
            Material::Private { key, provider } => {
                let signer =
                    (provider.signer_factory)(&self.alg, key).map_err(|_| SignError::Backend)?;
                signer
                    .try_sign(token.as_bytes())
                    .map_err(|_| SignError::Backend)?
            }
        };
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        Ok(token)
    }
}

fn jwk_algorithm(alg: Algorithm) -> Option<jsonwebtoken::jwk::KeyAlgorithm> {
    use jsonwebtoken::jwk::KeyAlgorithm as K;
    Some(match alg {
        Algorithm::HS256 => K::HS256,
        Algorithm::HS384 => K::HS384,
        Algorithm::HS512 => K::HS512,
        Algorithm::RS256 => K::RS256,
        Algorithm::RS384 => K::RS384,
        Algorithm::RS512 => K::RS512,
        Algorithm::PS256 => K::PS256,
        Algorithm::PS384 => K::PS384,
        Algorithm::PS512 => K::PS512,
        Algorithm::ES256 => K::ES256,
        Algorithm::ES384 => K::ES384,
        Algorithm::EdDSA => K::EdDSA,
        _ => return None,
    })
}
