//! Verification keys, key sets and the shared, replaceable key ring.
//!
//! Every [`Key`] is pinned to exactly one algorithm when it is built: the
//! token's `alg` header only ever *selects* among the keys, it never decides
//! how a key is used. Weak keys are refused here, when the key is built, not
//! when the first token arrives: an HMAC secret shorter than its hash output,
//! an RSA modulus under 2048 bits, an EC point off its curve, an Ed25519
//! point of small order (see `checks`).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use jsonwebtoken::crypto::{CryptoProvider, JwtVerifier};
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, KeyOperations, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, AlgorithmFamily};
use sha2::{Sha256, Sha384, Sha512};

pub use crate::error::KeyError;
use crate::error::TokenError;
use crate::jws;
/// jsonwebtoken's verification key, for [`Key::from_decoding_key`].
pub use jsonwebtoken::DecodingKey;
pub use jwks::JwksError;

pub mod jwk;
pub(crate) mod jwks;

mod checks;
#[cfg(feature = "aws-lc-rs")]
mod parsed;

/// The jsonwebtoken crypto provider this crate uses.
///
/// A provider installed process-wide by the application wins. Otherwise the
/// crate's backend feature decides (`aws-lc-rs` first, when both are on) and
/// is installed as the process default, so that jsonwebtoken's own helpers
/// work in the same process too.
pub(crate) fn crypto_provider() -> Result<&'static CryptoProvider, KeyError> {
    if let Some(provider) = CryptoProvider::try_get_default() {
        return Ok(provider);
    }
    #[cfg(feature = "aws-lc-rs")]
    let ours: Option<&'static CryptoProvider> =
        Some(&jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER);
    #[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
    let ours: Option<&'static CryptoProvider> =
        Some(&jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER);
    #[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
    let ours: Option<&'static CryptoProvider> = None;

    let ours = ours.ok_or(KeyError::NoCryptoProvider)?;
    // Losing a race against another installer is fine: use whoever won.
    let _ = ours.install_default();
    CryptoProvider::try_get_default().ok_or(KeyError::NoCryptoProvider)
}

/// The minimum HMAC secret length for an algorithm: its hash output size.
pub(crate) fn min_secret_len(alg: Algorithm) -> Option<usize> {
    match alg {
        Algorithm::HS256 => Some(32),
        Algorithm::HS384 => Some(48),
        Algorithm::HS512 => Some(64),
        _ => None,
    }
}

/// Every asymmetric algorithm: what keys from an identity provider may be
/// used with unless restricted. A JWKS key never verifies an HMAC token.
#[cfg_attr(not(feature = "remote"), allow(dead_code))]
pub(crate) const ASYMMETRIC_ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// The RSA algorithms, in the order a JWKS key without `alg` is expanded to.
pub(crate) const RSA_ALGORITHMS: [Algorithm; 6] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

/// What a JWK holds, as far as choosing its algorithm goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum JwkKind {
    /// `kty: oct`: an HMAC secret.
    Oct,
    /// `kty: RSA`.
    Rsa,
    /// `kty: EC` on P-256 or P-384: the one ECDSA algorithm of that curve.
    Ec(Algorithm),
    /// `kty: OKP` on Ed25519.
    Ed25519,
}

impl JwkKind {
    /// The kind of a JWK.
    ///
    /// # Errors
    ///
    /// [`KeyError::UnsupportedKey`] for another key type or curve.
    pub(crate) fn of(jwk: &Jwk) -> Result<Self, KeyError> {
        match &jwk.algorithm {
            AlgorithmParameters::OctetKey(_) => Ok(Self::Oct),
            AlgorithmParameters::RSA(_) => Ok(Self::Rsa),
            AlgorithmParameters::EllipticCurve(params) => match params.curve {
                EllipticCurve::P256 => Ok(Self::Ec(Algorithm::ES256)),
                EllipticCurve::P384 => Ok(Self::Ec(Algorithm::ES384)),
                _ => Err(KeyError::UnsupportedKey(
                    "an EC curve other than P-256 or P-384",
                )),
            },
            AlgorithmParameters::OctetKeyPair(params) => match params.curve {
                EllipticCurve::Ed25519 => Ok(Self::Ed25519),
                _ => Err(KeyError::UnsupportedKey("an OKP curve other than Ed25519")),
            },
            _ => Err(KeyError::UnsupportedKey(
                "a key type other than RSA, EC, OKP or oct, or a key lacking members of its type",
            )),
        }
    }

    /// Whether keys of this kind verify `alg`.
    pub(crate) fn fits(self, alg: Algorithm) -> bool {
        match self {
            Self::Oct => alg.family() == AlgorithmFamily::Hmac,
            Self::Rsa => alg.family() == AlgorithmFamily::Rsa,
            Self::Ec(curve_alg) => alg == curve_alg,
            Self::Ed25519 => alg == Algorithm::EdDSA,
        }
    }

    /// The algorithms a key of this kind without `alg` may verify: the one of
    /// its curve for EC and OKP keys, every RSA algorithm for RSA keys, none
    /// for `oct` keys (the hash is the app's choice).
    pub(crate) fn algorithms(self) -> &'static [Algorithm] {
        match self {
            Self::Oct => &[],
            Self::Rsa => &RSA_ALGORITHMS,
            Self::Ec(Algorithm::ES256) => &[Algorithm::ES256],
            Self::Ec(_) => &[Algorithm::ES384],
            Self::Ed25519 => &[Algorithm::EdDSA],
        }
    }
}

/// Refuses a JWK whose `use` is not `sig`, or whose `key_ops` lack `verify`
/// (RFC 7517 §4.2, §4.3).
pub(crate) fn check_jwk_use(jwk: &Jwk) -> Result<(), KeyError> {
    let use_ok = jwk
        .common
        .public_key_use
        .as_ref()
        .is_none_or(|usage| *usage == PublicKeyUse::Signature);
    let ops_ok = jwk
        .common
        .key_operations
        .as_ref()
        .is_none_or(|ops| ops.contains(&KeyOperations::Verify));
    if use_ok && ops_ok {
        Ok(())
    } else {
        Err(KeyError::NotForSigning)
    }
}

/// Refuses a JWK that is not for signatures ([`check_jwk_use`]), whose own
/// `alg` is another than `alg`, or whose type or curve does not fit `alg`.
pub(crate) fn check_jwk_fits(jwk: &Jwk, alg: Algorithm) -> Result<(), KeyError> {
    check_jwk_use(jwk)?;
    let kind = JwkKind::of(jwk)?;
    if jwk_algorithm(jwk)?.is_some_and(|own| own != alg) || !kind.fits(alg) {
        return Err(KeyError::AlgorithmMismatch(alg));
    }
    Ok(())
}

/// The algorithm a JWK's own `alg` names, if it has an `alg`.
///
/// # Errors
///
/// [`KeyError::NotForSigning`] for an encryption algorithm,
/// [`KeyError::UnsupportedKey`] for an unknown one.
pub(crate) fn jwk_algorithm(jwk: &Jwk) -> Result<Option<Algorithm>, KeyError> {
    match jwk.common.key_algorithm {
        None => Ok(None),
        Some(KeyAlgorithm::RSA1_5 | KeyAlgorithm::RSA_OAEP | KeyAlgorithm::RSA_OAEP_256) => {
            Err(KeyError::NotForSigning)
        }
        Some(alg) => Algorithm::try_from(alg)
            .map(Some)
            .map_err(|_| KeyError::UnsupportedKey("an unknown `alg`")),
    }
}

/// A pre-keyed HMAC state: the key schedule is computed once, and each
/// verification clones the state instead of re-keying.
#[derive(Clone)]
pub(crate) enum HmacKey {
    Hs256(Hmac<Sha256>),
    Hs384(Hmac<Sha384>),
    Hs512(Hmac<Sha512>),
}

impl HmacKey {
    fn new(alg: Algorithm, secret: &[u8]) -> Result<Self, KeyError> {
        let min = min_secret_len(alg).ok_or(KeyError::AlgorithmMismatch(alg))?;
        if secret.len() < min {
            return Err(KeyError::WeakSecret {
                alg,
                min,
                actual: secret.len(),
            });
        }
        // `new_from_slice` accepts any length for HMAC; the error arm is unreachable
        // in practice but mapped rather than unwrapped.
        let bad = |_| KeyError::AlgorithmMismatch(alg);
        Ok(match alg {
            Algorithm::HS256 => Self::Hs256(Hmac::new_from_slice(secret).map_err(bad)?),
            Algorithm::HS384 => Self::Hs384(Hmac::new_from_slice(secret).map_err(bad)?),
            _ => Self::Hs512(Hmac::new_from_slice(secret).map_err(bad)?),
        })
    }

    fn output_len(&self) -> usize {
        match self {
            Self::Hs256(_) => 32,
            Self::Hs384(_) => 48,
            Self::Hs512(_) => 64,
        }
    }

    /// Verifies in constant time (`verify_slice` compares with `subtle`).
    fn verify(&self, message: &[u8], tag: &[u8]) -> bool {
        fn check<M: Mac + Clone>(mac: &M, message: &[u8], tag: &[u8]) -> bool {
            let mut mac = mac.clone();
            mac.update(message);
            mac.verify_slice(tag).is_ok()
        }
        match self {
            Self::Hs256(mac) => check(mac, message, tag),
            Self::Hs384(mac) => check(mac, message, tag),
            Self::Hs512(mac) => check(mac, message, tag),
        }
    }

    /// Computes the tag of `message`.
    pub(crate) fn sign(&self, message: &[u8]) -> Vec<u8> {
        fn tag<M: Mac + Clone>(mac: &M, message: &[u8]) -> Vec<u8> {
            let mut mac = mac.clone();
            mac.update(message);
            mac.finalize().into_bytes().to_vec()
        }
        match self {
            Self::Hs256(mac) => tag(mac, message),
            Self::Hs384(mac) => tag(mac, message),
            Self::Hs512(mac) => tag(mac, message),
        }
    }

    pub(crate) fn from_secret(alg: Algorithm, secret: &[u8]) -> Result<Self, KeyError> {
        Self::new(alg, secret)
    }
}

// The HMAC variant is large (a pre-keyed state) and on the hot path: keep it inline.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
enum Material {
    Hmac(HmacKey),
    /// Verified by the crypto provider, which is handed the key on each check.
    Public {
        key: DecodingKey,
        provider: &'static CryptoProvider,
    },
    /// Parsed once, verified by aws-lc-rs directly (see `parsed`).
    #[cfg(feature = "aws-lc-rs")]
    Parsed(aws_lc_rs::signature::ParsedPublicKey),
}

/// A verification key pinned to one algorithm, optionally named by a `kid`.
///
/// `Debug` never shows key material.
#[derive(Clone)]
pub struct Key {
    kid: Option<String>,
    alg: Algorithm,
    material: Material,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("material", &"[redacted]")
            .finish()
    }
}

impl Key {
    /// An HMAC secret for `HS256`, `HS384` or `HS512`.
    ///
    /// # Errors
    ///
    /// [`KeyError::WeakSecret`] if the secret is shorter than the hash output
    /// (32, 48 or 64 bytes); [`KeyError::AlgorithmMismatch`] for a non-HMAC
    /// algorithm.
    pub fn hmac(alg: Algorithm, secret: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        Ok(Self {
            kid: None,
            alg,
            material: Material::Hmac(HmacKey::new(alg, secret.as_ref())?),
        })
    }

    /// An RSA public key in PEM form, for `RS256/384/512` or `PS256/384/512`.
    ///
    /// Every public key, whichever constructor builds it, is checked: an RSA
    /// modulus must have at least 2048 bits, an EC key must be a point of its
    /// curve, an Ed25519 key must be a canonically encoded point not of small
    /// order. With the `aws-lc-rs` feature (and no other jsonwebtoken
    /// `CryptoProvider` installed by the application), the key is also parsed
    /// here, once, rather than on every signature check.
    ///
    /// # Errors
    ///
    /// [`KeyError::AlgorithmMismatch`] for a non-RSA algorithm,
    /// [`KeyError::Invalid`] if the PEM does not hold an RSA public key,
    /// [`KeyError::WeakRsaKey`] for a modulus under 2048 bits.
    pub fn rsa_pem(alg: Algorithm, pem: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        Self::public(alg, AlgorithmFamily::Rsa, || {
            DecodingKey::from_rsa_pem(pem.as_ref())
        })
    }

    /// An ECDSA public key in PEM form, for `ES256` or `ES384`.
    ///
    /// # Errors
    ///
    /// As [`Key::rsa_pem`]; [`KeyError::InvalidPoint`] for a point off the
    /// curve.
    pub fn ec_pem(alg: Algorithm, pem: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        Self::public(alg, AlgorithmFamily::Ec, || {
            DecodingKey::from_ec_pem(pem.as_ref())
        })
    }

    /// An Ed25519 public key in PEM form, for `EdDSA`.
    ///
    /// # Errors
    ///
    /// [`KeyError::Invalid`] if the PEM does not hold an Ed25519 public key,
    /// [`KeyError::InvalidPoint`] if its 32 bytes are not the canonical
    /// encoding of a curve point, [`KeyError::WeakEd25519Key`] for a point of
    /// small order.
    pub fn ed_pem(pem: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        Self::public(Algorithm::EdDSA, AlgorithmFamily::Ed, || {
            DecodingKey::from_ed_pem(pem.as_ref())
        })
    }

    /// A key from a JWK; its `kid`, if any, becomes the key's `kid`.
    ///
    /// The algorithm is the JWK's `alg` when it has one. Without `alg` it is
    /// inferred where the key allows only one: `ES256` for an EC key on
    /// P-256, `ES384` on P-384, `EdDSA` for an Ed25519 OKP key. An RSA key
    /// without `alg` is pinned to `RS256`; use [`Key::from_jwk_with`] for
    /// another RSA algorithm. An `oct` key (an HMAC secret, the app's own)
    /// must carry `alg`, and gets the same length check as [`Key::hmac`].
    ///
    /// A JWK whose `use` is not `sig`, or whose `key_ops` lack `verify`, is
    /// refused, and so is every weak public key (see [`Key::rsa_pem`]).
    ///
    /// # Errors
    ///
    /// [`KeyError::NotForSigning`] for `use`/`key_ops`/`alg` meant for
    /// something else; [`KeyError::MissingAlgorithm`] for an `oct` key without
    /// `alg`; [`KeyError::UnsupportedKey`] for another key type, curve or
    /// `alg`; [`KeyError::AlgorithmMismatch`] when `alg` does not fit the key
    /// (an `oct` key with `RS256`, an RSA key with `HS256`, …); otherwise as
    /// the constructors above.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, KeyError> {
        let alg = match jwk_algorithm(jwk)? {
            Some(alg) => alg,
            None => match JwkKind::of(jwk)? {
                JwkKind::Oct => return Err(KeyError::MissingAlgorithm),
                JwkKind::Rsa => Algorithm::RS256,
                JwkKind::Ec(alg) => alg,
                JwkKind::Ed25519 => Algorithm::EdDSA,
            },
        };
        Self::from_jwk_with(jwk, alg)
    }

    /// A key from a JWK, pinned to `alg`: for example an RSA JWK without
    /// `alg` for `PS256`. A JWK that carries `alg` must name this one.
    ///
    /// # Errors
    ///
    /// [`KeyError::AlgorithmMismatch`] when the JWK's `alg` differs or `alg`
    /// does not fit the key; otherwise as [`Key::from_jwk`].
    pub fn from_jwk_with(jwk: &Jwk, alg: Algorithm) -> Result<Self, KeyError> {
        check_jwk_fits(jwk, alg)?;
        let key = match &jwk.algorithm {
            AlgorithmParameters::OctetKey(params) => {
                let secret = URL_SAFE_NO_PAD
                    .decode(&params.value)
                    .map_err(|err| KeyError::Invalid(err.into()))?;
                Self::hmac(alg, secret)?
            }
            _ => Self::public(alg, alg.family(), || DecodingKey::from_jwk(jwk))?,
        };
        Ok(match &jwk.common.key_id {
            Some(kid) => key.with_kid(kid.clone()),
            None => key,
        })
    }

    /// A key from a jsonwebtoken [`DecodingKey`], pinned to `alg`.
    ///
    /// # Errors
    ///
    /// [`KeyError::AlgorithmMismatch`] if `alg` is not of the key's family;
    /// [`KeyError::WeakSecret`] for a short HMAC secret; the weak-key errors
    /// of [`Key::rsa_pem`], [`Key::ec_pem`] and [`Key::ed_pem`].
    pub fn from_decoding_key(alg: Algorithm, key: DecodingKey) -> Result<Self, KeyError> {
        if key.family() == AlgorithmFamily::Hmac {
            if alg.family() != AlgorithmFamily::Hmac {
                return Err(KeyError::AlgorithmMismatch(alg));
            }
            return Self::hmac(alg, key.try_get_as_bytes()?);
        }
        let family = key.family();
        Self::public(alg, family, || Ok(key))
    }

    fn public(
        alg: Algorithm,
        family: AlgorithmFamily,
        load: impl FnOnce() -> jsonwebtoken::errors::Result<DecodingKey>,
    ) -> Result<Self, KeyError> {
        Self::public_with_verifier(alg, family, load).map(|(key, _)| key)
    }

    /// A public key from a JWK whose use and algorithm
    /// [`check_jwk_fits`] accepted, with the verifier built to check it
    /// (`None` for a key parsed once, which verifies itself): a key made for
    /// one verification (a DPoP proof's) then builds one verifier, not two.
    pub(crate) fn public_jwk_verifier(
        jwk: &Jwk,
        alg: Algorithm,
    ) -> Result<(Self, Option<Box<dyn JwtVerifier>>), KeyError> {
        Self::public_with_verifier(alg, alg.family(), || DecodingKey::from_jwk(jwk))
    }

    fn public_with_verifier(
        alg: Algorithm,
        family: AlgorithmFamily,
        load: impl FnOnce() -> jsonwebtoken::errors::Result<DecodingKey>,
    ) -> Result<(Self, Option<Box<dyn JwtVerifier>>), KeyError> {
        if alg.family() != family || family == AlgorithmFamily::Hmac {
            return Err(KeyError::AlgorithmMismatch(alg));
        }
        let key = load()?;
        if key.family() != family {
            return Err(KeyError::AlgorithmMismatch(alg));
        }
        // An EC or Ed key must be a point of the algorithm's curve; a P-384 key
        // pinned to ES256 would otherwise fail every request instead of now.
        let point_len = match alg {
            Algorithm::ES256 => Some(65),
            Algorithm::ES384 => Some(97),
            Algorithm::EdDSA => Some(32),
            _ => None,
        };
        if point_len.is_some_and(|len| key.try_get_as_bytes().map(<[u8]>::len).ok() != Some(len)) {
            return Err(KeyError::AlgorithmMismatch(alg));
        }
        checks::check_public_key(alg, &key)?;
        let provider = crypto_provider()?;
        // With jsonwebtoken's aws-lc-rs provider, the key is parsed now rather
        // than on every check; a key aws-lc-rs cannot parse fails here.
        #[cfg(feature = "aws-lc-rs")]
        if parsed::replaces(provider) {
            let key = Self {
                kid: None,
                alg,
                material: Material::Parsed(parsed::parse(alg, &key)?),
            };
            return Ok((key, None));
        }
        // Build a verifier once so that a key the backend cannot use fails
        // here rather than on the first request.
        let verifier = (provider.verifier_factory)(&alg, &key)?;
        let key = Self {
            kid: None,
            alg,
            material: Material::Public { key, provider },
        };
        Ok((key, Some(verifier)))
    }

    /// Names the key, so that tokens can select it with their `kid` header.
    #[must_use]
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// The key's `kid`, if it has one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The one algorithm this key verifies.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// Verifies a base64url signature over `signing_input`.
    pub(crate) fn verify(
        &self,
        signing_input: &[u8],
        signature_b64: &[u8],
    ) -> Result<(), TokenError> {
        match &self.material {
            Material::Hmac(mac) => {
                let mut tag = [0u8; 64];
                // A longer signature cannot be this key's tag; refuse it
                // before decoding.
                if signature_b64.len() > (mac.output_len() * 4).div_ceil(3) {
                    return Err(TokenError::InvalidSignature);
                }
                let len = URL_SAFE_NO_PAD
                    .decode_slice(signature_b64, &mut tag)
                    .map_err(|_| TokenError::Malformed)?;
                if mac.verify(signing_input, &tag[..len]) {
                    Ok(())
                } else {
                    Err(TokenError::InvalidSignature)
                }
            }
            Material::Public { key, provider } => {
                let verifier = (provider.verifier_factory)(&self.alg, key)
                    .map_err(|_| TokenError::InvalidSignature)?;
                verify_public(&*verifier, signing_input, signature_b64)
            }
            #[cfg(feature = "aws-lc-rs")]
            Material::Parsed(key) => {
                // ECDSA's and Ed25519's signatures are decoded on the stack,
                // RSA's (up to 1 KiB) on the heap.
                let mut short = [0u8; parsed::SHORT_SIGNATURE_LEN];
                let long;
                let signature = if signature_b64.len() <= (short.len() * 4).div_ceil(3) {
                    let len = URL_SAFE_NO_PAD
                        .decode_slice(signature_b64, &mut short)
                        .map_err(|_| TokenError::Malformed)?;
                    &short[..len]
                } else {
                    long = URL_SAFE_NO_PAD
                        .decode(signature_b64)
                        .map_err(|_| TokenError::Malformed)?;
                    &long[..]
                };
                if parsed::verify(self.alg, key, signing_input, signature) {
                    Ok(())
                } else {
                    Err(TokenError::InvalidSignature)
                }
            }
        }
    }
}

/// Verifies a base64url signature over `signing_input` with a public key's
/// verifier.
pub(crate) fn verify_public(
    verifier: &dyn JwtVerifier,
    signing_input: &[u8],
    signature_b64: &[u8],
) -> Result<(), TokenError> {
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|_| TokenError::Malformed)?;
    verifier
        .verify(signing_input, &signature)
        .map_err(|_| TokenError::InvalidSignature)
}

/// An immutable set of verification keys.
#[derive(Clone, Default)]
pub struct KeySet {
    keys: Vec<Key>,
    /// The encoded common headers of the set's algorithms; see
    /// [`KeySet::common_header`].
    headers: Vec<(Box<[u8]>, Algorithm)>,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet").field("keys", &self.keys).finish()
    }
}

impl KeySet {
    /// A set of the given keys.
    pub fn new(keys: impl IntoIterator<Item = Key>) -> Self {
        keys.into_iter().fold(Self::default(), Self::with)
    }

    /// Adds a key.
    #[must_use]
    pub fn with(mut self, key: Key) -> Self {
        if !self.keys.iter().any(|known| known.alg == key.alg) {
            self.headers.extend(
                jws::common_headers(key.alg)
                    .into_iter()
                    .map(|header| (header.into_bytes().into_boxed_slice(), key.alg)),
            );
        }
        self.keys.push(key);
        self
    }

    /// The algorithm of an encoded header that is exactly one of the usual
    /// ones of the set's algorithms (`alg` and `typ` in either order, or
    /// `alg` alone: no `kid`, no `crit`). Parsing such a header would give
    /// the same algorithm and nothing else that matters, so it is skipped:
    /// what that saves is measured in BENCHMARKS.md, "Verification
    /// shortcuts". That each of these headers parses to its algorithm alone
    /// is tested in `jws.rs`.
    pub(crate) fn common_header(&self, encoded: &[u8]) -> Option<Algorithm> {
        self.headers
            .iter()
            .find(|(header, _)| **header == *encoded)
            .map(|(_, alg)| *alg)
    }

    /// Whether the set holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// How many keys the set holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether a key of the set is named `kid`.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|key| key.kid() == Some(kid))
    }

    /// The keys of the set.
    pub fn keys(&self) -> impl Iterator<Item = &Key> {
        self.keys.iter()
    }

    /// The keys a token with this `alg` and `kid` may be verified with.
    ///
    /// With a `kid`, the keys of that `kid` are used, or (if none has it) the
    /// keys without a `kid`. Without a `kid`, every key is a candidate. Only
    /// candidates pinned to the token's algorithm are returned.
    ///
    /// # Errors
    ///
    /// [`TokenError::AlgorithmMismatch`] when there are candidates but none
    /// for this algorithm, [`TokenError::UnknownKey`] when there are none.
    pub(crate) fn candidates<'a>(
        &'a self,
        alg: Algorithm,
        kid: Option<&'a str>,
    ) -> Result<impl Iterator<Item = &'a Key> + 'a, TokenError> {
        let by_kid = kid.is_some_and(|kid| self.keys.iter().any(|key| key.kid() == Some(kid)));
        let selected = move |key: &Key| match kid {
            Some(kid) if by_kid => key.kid() == Some(kid),
            Some(_) => key.kid.is_none(),
            None => true,
        };
        let mut any = false;
        let mut fitting = false;
        for key in self.keys.iter().filter(|key| selected(key)) {
            any = true;
            fitting |= key.alg == alg;
        }
        match (any, fitting) {
            (_, true) => Ok(self
                .keys
                .iter()
                .filter(move |key| selected(key) && key.alg == alg)),
            (true, false) => Err(TokenError::AlgorithmMismatch),
            (false, false) => Err(TokenError::UnknownKey),
        }
    }
}

/// A shared, replaceable [`KeySet`].
///
/// Clones share the same set. [`KeyRing::replace`] swaps the set atomically
/// while requests are in flight: requests that already loaded the old set
/// finish with it, later ones see the new one. Nothing is rebuilt. Each
/// replacement also empties the verified-token caches of the layers that use
/// the ring: a token verified under the old keys is verified again.
#[derive(Clone, Debug)]
pub struct KeyRing {
    inner: Arc<Ring>,
}

#[derive(Debug)]
struct Ring {
    keys: ArcSwap<KeySet>,
    /// Bumped after every replacement; a cache entry filled under another
    /// generation is stale.
    generation: AtomicU64,
}

impl KeyRing {
    /// A ring holding `keys`.
    pub fn new(keys: KeySet) -> Self {
        Self {
            inner: Arc::new(Ring {
                keys: ArcSwap::from_pointee(keys),
                generation: AtomicU64::new(0),
            }),
        }
    }

    /// Replaces the key set, for example to rotate keys.
    pub fn replace(&self, keys: KeySet) {
        self.inner.keys.store(Arc::new(keys));
        // After the store: whoever reads the new generation also loads the
        // new set, and a verification that read the old generation can only
        // fill entries of the old one.
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The current key set.
    pub fn load(&self) -> Arc<KeySet> {
        self.inner.keys.load_full()
    }

    /// The current key set, for the request path: a guard instead of a
    /// reference count, so that a read writes no memory other threads
    /// share.
    pub(crate) fn current(&self) -> arc_swap::Guard<Arc<KeySet>> {
        self.inner.keys.load()
    }

    /// How many times the set was replaced: read it before loading the set.
    pub(crate) fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Acquire)
    }
}

impl From<KeySet> for KeyRing {
    fn from(keys: KeySet) -> Self {
        Self::new(keys)
    }
}

impl From<Key> for KeyRing {
    fn from(key: Key) -> Self {
        Self::new(KeySet::new([key]))
    }
}

/// Values the key modules' unit tests share.
#[cfg(test)]
pub(crate) mod testing {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::{Value, json};

    /// The P-256 generator's affine `x` and `y` (SEC 2, section 2.4.2), in hex.
    pub(crate) const P256_GENERATOR: [&str; 2] = [
        "6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296",
        "4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5",
    ];

    /// The bytes of a string of hex digits.
    pub(crate) fn hex(digits: &str) -> Vec<u8> {
        (0..digits.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).expect("hex digits"))
            .collect()
    }

    /// The P-256 generator as an EC JWK.
    pub(crate) fn p256_generator_jwk() -> Value {
        let [x, y] = P256_GENERATOR.map(|coordinate| URL_SAFE_NO_PAD.encode(hex(coordinate)));
        json!({ "kty": "EC", "crv": "P-256", "x": x, "y": y })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// RFC 8037 §A.2's Ed25519 public key.
    #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
    const ED_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    fn jwk(value: Value) -> Jwk {
        serde_json::from_value(value).expect("a JWK")
    }

    fn rsa_2048() -> Value {
        let mut n = vec![1u8; 256];
        n[0] = 0xc0;
        json!({ "kty": "RSA", "e": "AQAB", "n": URL_SAFE_NO_PAD.encode(n) })
    }

    // Asymmetric keys: only with a crypto backend.
    #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
    #[test]
    fn from_jwk_infers_the_algorithm_of_ec_and_okp_keys_and_rs256_for_rsa() {
        let ec = Key::from_jwk(&jwk(testing::p256_generator_jwk())).unwrap();
        assert_eq!(ec.algorithm(), Algorithm::ES256);
        let ed = Key::from_jwk(&jwk(
            json!({ "kty": "OKP", "crv": "Ed25519", "x": ED_X, "kid": "e" }),
        ))
        .unwrap();
        assert_eq!((ed.algorithm(), ed.kid()), (Algorithm::EdDSA, Some("e")));
        let rsa = Key::from_jwk(&jwk(rsa_2048())).unwrap();
        assert_eq!(rsa.algorithm(), Algorithm::RS256);
    }

    // Asymmetric keys: only with a crypto backend.
    #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
    #[test]
    fn from_jwk_with_pins_another_algorithm_but_not_against_the_jwks_own() {
        let rsa = jwk(rsa_2048());
        assert_eq!(
            Key::from_jwk_with(&rsa, Algorithm::PS256)
                .unwrap()
                .algorithm(),
            Algorithm::PS256
        );
        assert!(matches!(
            Key::from_jwk_with(&rsa, Algorithm::ES256),
            Err(KeyError::AlgorithmMismatch(Algorithm::ES256))
        ));
        let mut pinned = rsa_2048();
        pinned["alg"] = json!("RS384");
        assert!(matches!(
            Key::from_jwk_with(&jwk(pinned), Algorithm::RS256),
            Err(KeyError::AlgorithmMismatch(Algorithm::RS256))
        ));
        assert!(matches!(
            Key::from_jwk_with(&jwk(testing::p256_generator_jwk()), Algorithm::ES384),
            Err(KeyError::AlgorithmMismatch(Algorithm::ES384))
        ));
    }

    // Asymmetric keys: only with a crypto backend.
    #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
    #[test]
    fn from_jwk_refuses_keys_not_for_signing() {
        for members in [
            json!({ "use": "enc" }),
            json!({ "key_ops": ["encrypt", "wrapKey"] }),
            json!({ "alg": "RSA-OAEP-256" }),
        ] {
            let mut value = rsa_2048();
            for (name, member) in members.as_object().unwrap() {
                value[name] = member.clone();
            }
            assert!(
                matches!(Key::from_jwk(&jwk(value)), Err(KeyError::NotForSigning)),
                "{members}"
            );
        }
        let mut verify = rsa_2048();
        verify["use"] = json!("sig");
        verify["key_ops"] = json!(["verify"]);
        assert!(Key::from_jwk(&jwk(verify)).is_ok());
    }

    #[test]
    fn from_jwk_keeps_oct_keys_for_hmac_only() {
        let secret = URL_SAFE_NO_PAD.encode([3u8; 32]);
        let hs = Key::from_jwk(&jwk(json!({ "kty": "oct", "alg": "HS256", "k": secret }))).unwrap();
        assert_eq!(hs.algorithm(), Algorithm::HS256);
        assert!(matches!(
            Key::from_jwk(&jwk(json!({ "kty": "oct", "alg": "RS256", "k": secret }))),
            Err(KeyError::AlgorithmMismatch(Algorithm::RS256))
        ));
        assert!(matches!(
            Key::from_jwk(&jwk(json!({ "kty": "oct", "k": secret }))),
            Err(KeyError::MissingAlgorithm)
        ));
        let mut rsa = rsa_2048();
        rsa["alg"] = json!("HS256");
        assert!(matches!(
            Key::from_jwk(&jwk(rsa)),
            Err(KeyError::AlgorithmMismatch(Algorithm::HS256))
        ));
    }

    #[test]
    fn from_jwk_refuses_unsupported_curves_and_unknown_algorithms() {
        let p521 = jwk(json!({ "kty": "EC", "crv": "P-521", "x": "AA", "y": "AA" }));
        assert!(matches!(
            Key::from_jwk(&p521),
            Err(KeyError::UnsupportedKey(_))
        ));
        let mut unknown = rsa_2048();
        unknown["alg"] = json!("RS1");
        assert!(matches!(
            Key::from_jwk(&jwk(unknown)),
            Err(KeyError::UnsupportedKey(_))
        ));
    }

    #[test]
    fn from_jwk_refuses_weak_public_keys() {
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let ed =
            jwk(json!({ "kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(identity) }));
        assert!(matches!(Key::from_jwk(&ed), Err(KeyError::WeakEd25519Key)));
        let mut off_curve = testing::p256_generator_jwk();
        off_curve["y"] = json!(URL_SAFE_NO_PAD.encode([1u8; 32]));
        assert!(matches!(
            Key::from_jwk(&jwk(off_curve)),
            Err(KeyError::InvalidPoint)
        ));
        let mut short = vec![1u8; 255];
        short[0] = 0xff;
        let rsa = jwk(json!({ "kty": "RSA", "e": "AQAB", "n": URL_SAFE_NO_PAD.encode(short) }));
        assert!(matches!(
            Key::from_jwk(&rsa),
            Err(KeyError::WeakRsaKey { bits: 2040 })
        ));
    }
}
