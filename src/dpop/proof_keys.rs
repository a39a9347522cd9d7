//! The keys of recent proofs: a proof's `jwk` turned into a checked key
//! once, not on every request that comes with it.
//!
//! A client signs every proof with the same key, so the same `jwk` comes
//! again and again. Building its key costs the base64url decoding, the
//! weak-key checks (a point on its curve, an Ed25519 point decompressed and
//! re-encoded, an RSA modulus size) and the backend's verifier. The cache
//! keeps the built key by the proof key's RFC 7638 thumbprint and the
//! proof's `alg`: the thumbprint hashes exactly the members the key is built
//! from (`kty` and `crv`/`x`/`y` or `e`/`n`), so a thumbprint names one
//! key, and the `alg` pins it as [`Key`]s are pinned. What the thumbprint
//! does not cover (`use`, `key_ops`, the JWK's own `alg`) is checked on
//! every proof, hit or miss, as is the signature.
//!
//! Bounded by [`PROOF_KEYS`] entries (quick_cache evicts the rarely used);
//! a key enters only once its checks passed.
//!
//! What it pays, `benches/dpop.rs` `dpop/request/{ES256,EdDSA}_cpu` (one
//! request with a new proof, the bench thread's CPU time, three interleaved
//! rounds, 2026-11-29): EdDSA 82.5/88.0/80.5 µs before, 69.0/68.8/70.1 µs
//! with the cache (−17 %, the Ed25519 point decompressed and re-encoded
//! once per key, not per proof); ES256 105.0/106.6/98.8 µs before,
//! 95.1/102.1/96.7 µs with it (−6 %). Building the verifier once instead of
//! twice alone measured no difference with aws-lc-rs, whose verifier is a
//! copy of the key (105.3/105.4/105.6 µs); it is kept because it costs
//! nothing and halves the work with backends that parse the key there.

use std::sync::Arc;

use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::Jwk;
use quick_cache::sync::Cache;

use crate::jws::{self, Compact};
use crate::key::{self, Key};
use crate::rejection::dpop::ProofError;

/// How many proof keys a layer keeps built.
pub(crate) const PROOF_KEYS: usize = 1024;

/// Built proof keys by thumbprint and algorithm.
pub(crate) struct ProofKeys {
    cache: Cache<(String, Algorithm), Arc<Key>>,
}

impl std::fmt::Debug for ProofKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProofKeys")
            .field("len", &self.cache.len())
            .finish_non_exhaustive()
    }
}

impl ProofKeys {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            cache: Cache::new(capacity.max(1)),
        }
    }

    /// Checks the proof's `jwk` (thumbprint `jkt`) as a key for `alg`, the
    /// payload's encoding, and the signature: the key step of the proof
    /// checks, in the order the checks came in before there was a cache
    /// (the key, then the payload's encoding, then the signature).
    ///
    /// # Errors
    ///
    /// [`ProofError::InvalidKey`], [`ProofError::Malformed`] or
    /// [`ProofError::InvalidSignature`].
    pub(crate) fn verify(
        &self,
        jwk: &Jwk,
        jkt: &str,
        alg: Algorithm,
        compact: &Compact<'_>,
    ) -> Result<(), ProofError> {
        key::check_jwk_fits(jwk, alg).map_err(|_| ProofError::InvalidKey)?;
        let cache_key = (jkt.to_owned(), alg);
        let signature = if let Some(key) = self.cache.get(&cache_key) {
            check_payload(compact)?;
            key.verify(compact.signing_input, compact.signature)
        } else {
            // One verifier: the one built to check the key verifies.
            let (key, verifier) =
                Key::public_jwk_verifier(jwk, alg).map_err(|_| ProofError::InvalidKey)?;
            let key = Arc::new(key);
            self.cache.insert(cache_key, Arc::clone(&key));
            check_payload(compact)?;
            match verifier {
                Some(verifier) => {
                    key::verify_public(&*verifier, compact.signing_input, compact.signature)
                }
                // A key parsed once verifies itself.
                None => key.verify(compact.signing_input, compact.signature),
            }
        };
        signature.map_err(|_| ProofError::InvalidSignature)
    }

    /// How many keys are kept (read by the tests that verify proofs, which need a backend).
    #[cfg(all(test, any(feature = "aws-lc-rs", feature = "rust-crypto")))]
    pub(crate) fn len(&self) -> usize {
        self.cache.len()
    }
}

fn check_payload(compact: &Compact<'_>) -> Result<(), ProofError> {
    jws::check_canonical(compact.payload).map_err(|_| ProofError::Malformed)
}
