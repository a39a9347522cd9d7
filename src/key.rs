//! Verification keys, key sets and the shared, replaceable key ring.
//!
//! Every [`Key`] is pinned to exactly one algorithm when it is built: the
//! token's `alg` header only ever *selects* among the keys, it never decides
//! how a key is used. An HMAC secret shorter than its hash output is refused
//! here, when the key is built, not when the first token arrives.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use jsonwebtoken::crypto::CryptoProvider;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use sha2::{Sha256, Sha384, Sha512};

use crate::error::{KeyError, TokenError};
use crate::jws;

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

/// The algorithm named by a JOSE `alg` header value, matched exactly.
///
/// `none` (in any casing) and every unknown name give `None`.
pub(crate) fn algorithm_from_name(name: &str) -> Option<Algorithm> {
    Some(match name {
        "HS256" => Algorithm::HS256,
        "HS384" => Algorithm::HS384,
        "HS512" => Algorithm::HS512,
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        _ => return None,
    })
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
    Public {
        key: DecodingKey,
        provider: &'static CryptoProvider,
    },
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
    /// # Errors
    ///
    /// [`KeyError::AlgorithmMismatch`] for a non-RSA algorithm,
    /// [`KeyError::Invalid`] if the PEM does not hold an RSA public key.
    pub fn rsa_pem(alg: Algorithm, pem: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        Self::public(alg, AlgorithmFamily::Rsa, || {
            DecodingKey::from_rsa_pem(pem.as_ref())
        })
    }

    /// An ECDSA public key in PEM form, for `ES256` or `ES384`.
    ///
    /// # Errors
    ///
    /// As [`Key::rsa_pem`].
    pub fn ec_pem(alg: Algorithm, pem: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        Self::public(alg, AlgorithmFamily::Ec, || {
            DecodingKey::from_ec_pem(pem.as_ref())
        })
    }

    /// An Ed25519 public key in PEM form, for `EdDSA`.
    ///
    /// # Errors
    ///
    /// [`KeyError::Invalid`] if the PEM does not hold an Ed25519 public key.
    pub fn ed_pem(pem: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        Self::public(Algorithm::EdDSA, AlgorithmFamily::Ed, || {
            DecodingKey::from_ed_pem(pem.as_ref())
        })
    }

    /// A key from a JWK. The JWK must carry `alg`, which pins the algorithm;
    /// its `kid`, if any, becomes the key's `kid`. `oct` keys are HMAC secrets
    /// and get the same length check as [`Key::hmac`].
    ///
    /// # Errors
    ///
    /// [`KeyError::MissingAlgorithm`] without `alg`; otherwise as the
    /// constructors above.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, KeyError> {
        let alg = jwk
            .common
            .key_algorithm
            .and_then(|alg| algorithm_from_name(&alg.to_string()))
            .ok_or(KeyError::MissingAlgorithm)?;
        let key = match &jwk.algorithm {
            jsonwebtoken::jwk::AlgorithmParameters::OctetKey(params) => {
                let secret = URL_SAFE_NO_PAD
                    .decode(&params.value)
                    .map_err(|err| KeyError::Invalid(err.into()))?;
                Self::hmac(alg, secret)?
            }
            _ => {
                let family = alg.family();
                Self::public(alg, family, || DecodingKey::from_jwk(jwk))?
            }
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
    /// [`KeyError::WeakSecret`] for a short HMAC secret.
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
        let provider = crypto_provider()?;
        // Build a verifier once so that a key the backend cannot use fails
        // here rather than on the first request.
        (provider.verifier_factory)(&alg, &key)?;
        Ok(Self {
            kid: None,
            alg,
            material: Material::Public { key, provider },
        })
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
                let signature = URL_SAFE_NO_PAD
                    .decode(signature_b64)
                    .map_err(|_| TokenError::Malformed)?;
                let verifier = (provider.verifier_factory)(&self.alg, key)
                    .map_err(|_| TokenError::InvalidSignature)?;
                verifier
                    .verify(signing_input, &signature)
                    .map_err(|_| TokenError::InvalidSignature)
            }
        }
    }
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
    /// the same algorithm and nothing else that matters, so it is skipped.
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
    pub fn load(&self) -> arc_swap::Guard<Arc<KeySet>> {
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
