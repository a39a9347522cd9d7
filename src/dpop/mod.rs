//! DPoP (RFC 9449): access tokens bound to a key the client holds, on the
//! resource-server side.
//!
//! A bearer token works for whoever holds it. A DPoP-bound token names a
//! key by its thumbprint (`cnf.jkt`, RFC 7638), and every request carries a
//! fresh proof, a JWT signed by that key over the method and the URL:
//!
//! ```text
//! Authorization: DPoP <access token>
//! DPoP: <proof>
//! ```
//!
//! Turn it on per layer with [`JwtAuthLayerBuilder::dpop`](crate::layer::JwtAuthLayerBuilder::dpop).
//! The layer then checks, on every request, as RFC 9449 §4.3 lists it:
//! one `DPoP` header, at most [`Dpop::max_proof_len`] long; `typ`
//! `dpop+jwt`; an `alg` from [`Dpop::algorithms`] (asymmetric only: never
//! `none` or `HS*`); a `jwk` that is a public key (no `d`, `p`, `q`, …),
//! unambiguous, not weak (the checks of every key the crate loads), and
//! verifies the signature; `htm` the request's method; `htu` the request's
//! URL (see [the base URL](#the-base-url)); `iat` within
//! [`Dpop::max_age`] in the past and [`Dpop::leeway`] in the future; `ath`
//! the hash of the access token; the token's `cnf.jkt` the thumbprint of
//! the proof's key; the `jti` not seen before ([the replay
//! cache](#the-replay-cache)); with [`Dpop::nonces`], a current server
//! nonce.
//!
//! A token bound to a key (any `cnf` claim) that comes as a `Bearer` token
//! is refused (§7.1: no downgrade), and so is a token without `cnf.jkt`
//! that comes with the `DPoP` scheme. Plain bearer tokens are still
//! accepted unless [`Dpop::required`]. A layer without DPoP knows nothing
//! of `cnf` and takes bound tokens as bearer tokens: put DPoP on every
//! layer that may see them. The challenges are in [`DpopRejection`].
//!
//! # The base URL
//!
//! A service sees only the path of a request; the scheme and host the
//! client used belong to the proxy in front of it, and the `Host` header is
//! whatever the client sent. So the layer does not guess: [`Dpop::new`]
//! takes the service's external base URL, as clients reach it
//! (`https://api.example.com`, or `https://example.com/api` behind a proxy
//! that strips `/api`), and a request for `/secret` must come with a proof
//! for `https://api.example.com/secret`. Both are compared in normal form:
//! scheme and host case, the default port, percent-encodings; the query
//! and fragment are ignored. Put the layer where it sees the path the
//! client requested (outside axum's `nest`, which strips the prefix, or
//! include the prefix in the base URL).
//!
//! # The replay cache
//!
//! Each layer remembers the `jti` of the proofs it accepted for as long as
//! they could be accepted (`max_age + leeway`, and a second), in at most
//! [`Dpop::replay_capacity`] entries (about 105 bytes each when full). A full cache
//! refuses new proofs rather than forgetting old ones; size it for your
//! peak rate of DPoP requests times the window. Only proofs that came with
//! a valid token bound to their key are entered.
//!
//! Alone, the guarantee is per process: with several instances, a proof
//! can be replayed once against each other instance within its window;
//! server nonces narrow that. `Dpop::shared_replay` (feature `router`)
//! closes it: with the backend that shares revocations
//! (`RedisRevocations` or `PgRevocations`) as a `ReplayStore`, a proof
//! accepted by one instance is refused by every other. The local cache
//! stays in front, so a `jti` this process has seen is refused without a
//! round trip; a new one is entered into the store in one atomic step
//! ("enter unless present") while the request waits, at most 2 s. The
//! store's key is the unkeyed SHA-256 of the `jti` (every instance must
//! compute the same key; the store indexes the whole digest). A store
//! that errs or does not answer in time refuses the request with 503 and
//! `Retry-After` (fail closed), and the outage is logged once; that
//! proof stays in the local cache, so a client retries with a new proof,
//! as it makes one for every request anyway. Without a
//! shared store nothing changes on the request path: no allocation, no
//! wait.
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//!
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::Full;
//! use serde_json::json;
//! use tower::{Service, ServiceBuilder, ServiceExt};
//! use tower_jwt_auth::dpop::{Dpop, access_token_hash, jwk_thumbprint};
//! use tower_jwt_auth::{Algorithm, JwtAuthLayer, Key, SigningKey};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let secret = b"a secret of at least thirty-two bytes!!";
//! let layer = JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, secret)?)
//!     .dpop(Dpop::new("https://api.example.com").required())
//!     .build()?;
//! let mut service = ServiceBuilder::new().layer(layer).service_fn(|_req: Request<Full<Bytes>>| async {
//!     Ok::<_, Infallible>(Response::new(Full::<Bytes>::from("hello")))
//! });
//!
//! // The client's key, and a token bound to it.
//! let pem = include_str!("../../tests/data/keys/ec256_private.pem");
//! let client = SigningKey::ec_pem(Algorithm::ES256, pem)?;
//! let jwk = client.public_jwk().expect("an EC key has a public JWK").clone();
//! let now = jsonwebtoken::get_current_timestamp();
//! let token = SigningKey::hmac(Algorithm::HS256, secret)?.sign(&json!({
//!     "sub": "alice", "exp": now + 60, "scope": "access_token",
//!     "cnf": { "jkt": jwk_thumbprint(&jwk)? },
//! }))?;
//!
//! // A bound token without a proof: refused, with a DPoP challenge.
//! let request = Request::builder()
//!     .uri("/secret")
//!     .header("authorization", format!("Bearer {token}"))
//!     .body(Full::default())?;
//! let response = service.ready().await?.call(request).await?;
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(
//!     response.headers()["www-authenticate"],
//!     r#"DPoP error="invalid_token", algs="ES256 ES384 EdDSA PS256 RS256""#
//! );
//!
//! // With a proof, signed by the client's key, for this request: 200.
//! let mut header = jsonwebtoken::Header::new(Algorithm::ES256);
//! header.typ = Some("dpop+jwt".into());
//! header.jwk = Some(jwk);
//! let proof = jsonwebtoken::encode(
//!     &header,
//!     &json!({
//!         "jti": "a unique id", "htm": "GET", "iat": now,
//!         "htu": "https://api.example.com/secret",
//!         "ath": access_token_hash(&token),
//!     }),
//!     &jsonwebtoken::EncodingKey::from_ec_pem(pem.as_bytes())?,
//! )?;
//! let request = Request::builder()
//!     .uri("/secret")
//!     .header("authorization", format!("DPoP {token}"))
//!     .header("dpop", &proof)
//!     .body(Full::default())?;
//! let response = service.ready().await?.call(request).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! # Ok(())
//! # }
//! ```

mod binding;
pub(crate) mod htu;
mod nonce;
mod proof;
mod proof_keys;
mod replay;
#[cfg(feature = "router")]
mod replay_store;
mod thumbprint;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
#[cfg(feature = "router")]
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, KeyInit};
use http::{HeaderMap, HeaderValue, Method, Uri};
use jsonwebtoken::Algorithm;
use sha2::Sha256;

use crate::error::{BuildError, TokenError};
use crate::key::ASYMMETRIC_ALGORITHMS;
use crate::rejection::Rejection;
use crate::rejection::dpop::Challenges;
use crate::source::{Scheme, is_token68};
pub(crate) use binding::Binding;
#[cfg(feature = "remote")]
pub(crate) use binding::binding_of_claims;
use htu::BaseUrl;
use nonce::Nonces;
use proof_keys::{PROOF_KEYS, ProofKeys};

pub use crate::rejection::dpop::{DpopError, DpopRejection, ProofError};
pub use proof::access_token_hash;
pub use replay::{ReplayCache, ReplayError};
#[cfg(feature = "router")]
pub use replay_store::ReplayStore;
#[cfg(feature = "router")]
use replay_store::SharedReplay;
pub use thumbprint::jwk_thumbprint;

/// The request header that carries the proof.
const DPOP: &str = "dpop";

/// The DPoP configuration of a layer; see [the module docs](self).
///
/// `Debug` never shows the nonce secret.
#[derive(Clone)]
#[must_use]
pub struct Dpop {
    base_url: String,
    algorithms: Vec<Algorithm>,
    max_age: Duration,
    leeway: Duration,
    replay_capacity: usize,
    max_proof_len: usize,
    required: bool,
    nonce_window: Option<Duration>,
    nonce_secret: Option<Vec<u8>>,
    #[cfg(feature = "router")]
    shared_replay: Option<SharedReplay>,
}

impl fmt::Debug for Dpop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("Dpop");
        debug
            .field("base_url", &self.base_url)
            .field("algorithms", &self.algorithms)
            .field("max_age", &self.max_age)
            .field("leeway", &self.leeway)
            .field("replay_capacity", &self.replay_capacity)
            .field("max_proof_len", &self.max_proof_len)
            .field("required", &self.required)
            .field("nonce_window", &self.nonce_window);
        #[cfg(feature = "router")]
        debug.field("shared_replay", &self.shared_replay.is_some());
        debug.finish_non_exhaustive()
    }
}

impl Dpop {
    /// DPoP for a service that clients reach at `base_url` (see [the base
    /// URL](self#the-base-url)): `http` or `https`, a host, an optional
    /// port and path prefix. Checked when the layer is built.
    ///
    /// Defaults: algorithms `ES256 ES384 EdDSA PS256 RS256`, proofs up to
    /// 60 s old and 5 s in the future, a replay cache of 131,072 proofs
    /// (about 13 MiB when full), proofs up to 4 KiB, bearer tokens still accepted, no
    /// server nonces.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            algorithms: vec![
                Algorithm::ES256,
                Algorithm::ES384,
                Algorithm::EdDSA,
                Algorithm::PS256,
                Algorithm::RS256,
            ],
            max_age: Duration::from_secs(60),
            leeway: Duration::from_secs(5),
            replay_capacity: 131_072,
            max_proof_len: 4096,
            required: false,
            nonce_window: None,
            nonce_secret: None,
            #[cfg(feature = "router")]
            shared_replay: None,
        }
    }

    /// The algorithms proofs may be signed with, named in the challenges in
    /// this order. Asymmetric only: an HMAC algorithm is refused when the
    /// layer is built.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// How old a proof's `iat` may be (default 60 s).
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// How far in the future a proof's `iat` may be, for clock skew
    /// (default 5 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The most proofs the replay cache remembers (default 131,072); see
    /// [the replay cache](self#the-replay-cache).
    pub fn replay_capacity(mut self, capacity: usize) -> Self {
        self.replay_capacity = capacity;
        self
    }

    /// The longest proof accepted, in bytes (default 4 KiB, enough for an
    /// RSA key of 8192 bits).
    pub fn max_proof_len(mut self, max: usize) -> Self {
        self.max_proof_len = max;
        self
    }

    /// Refuses bearer tokens: every request must come with DPoP.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Requires server nonces (RFC 9449 §8) that change every `window`: a
    /// proof without the current (or the previous) nonce is refused with
    /// `use_dpop_nonce` and the nonce to use in `DPoP-Nonce`.
    pub fn nonces(mut self, window: Duration) -> Self {
        self.nonce_window = Some(window);
        self
    }

    /// The secret nonces are made with (at least 32 bytes), so that several
    /// instances accept each other's nonces; without it, each layer makes
    /// a random one.
    pub fn nonce_secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.nonce_secret = Some(secret.as_ref().to_vec());
        self
    }

    /// Shares the replay cache between instances through `store` (a
    /// `RedisRevocations` or a `PgRevocations`, the backend that shares
    /// revocations): a proof accepted by one instance is refused by every
    /// other. Each layer keeps its own cache in front, so a `jti` this
    /// process has seen costs no round trip; a new one waits for the
    /// store, at most 2 s. When the store errs or is too slow, DPoP
    /// requests are refused with 503 and `Retry-After` (fail closed). See
    /// [the replay cache](self#the-replay-cache).
    ///
    /// The layer then needs a tokio runtime (for the timeout), as the
    /// backends do.
    #[cfg(feature = "router")]
    pub fn shared_replay<T: ReplayStore>(mut self, store: Arc<T>) -> Self {
        self.shared_replay = Some(SharedReplay::new(store));
        self
    }

    /// The checked configuration.
    pub(crate) fn build(self) -> Result<DpopVerifier, BuildError> {
        let base = BaseUrl::parse(&self.base_url).map_err(BuildError::Dpop)?;
        if self.algorithms.is_empty() {
            return Err(BuildError::EmptyList("DPoP algorithm"));
        }
        if !self
            .algorithms
            .iter()
            .all(|alg| ASYMMETRIC_ALGORITHMS.contains(alg))
        {
            return Err(BuildError::Dpop("DPoP proofs need an asymmetric algorithm"));
        }
        if self.max_age.as_secs() == 0 {
            return Err(BuildError::Dpop("the DPoP proof max age is under a second"));
        }
        if self.replay_capacity == 0 {
            return Err(BuildError::Dpop("the DPoP replay cache has no room"));
        }
        let max_age = self.max_age.as_secs();
        let leeway = self.leeway.as_secs();
        // A proof entered at `t` may have `iat` = `t + leeway`, and is
        // accepted until `iat + max_age` inclusive: its entry must outlive
        // that second.
        let replay_lifetime = max_age.saturating_add(leeway).saturating_add(1);
        let replay_key = random_key()?;
        let nonces = match self.nonce_window {
            None => None,
            Some(window) if window.as_secs() == 0 => {
                return Err(BuildError::Dpop("the DPoP nonce window is under a second"));
            }
            Some(window) => {
                let key = match &self.nonce_secret {
                    Some(secret) if secret.len() < 32 => {
                        return Err(BuildError::Dpop("the DPoP nonce secret is under 32 bytes"));
                    }
                    Some(secret) => keyed(secret)?,
                    None => keyed(&random_key()?)?,
                };
                Some(Nonces::new(key, window.as_secs()))
            }
        };
        Ok(DpopVerifier {
            challenges: Challenges::new(&self.algorithms, !self.required),
            base,
            algorithms: self.algorithms,
            max_age,
            leeway,
            max_proof_len: self.max_proof_len,
            required: self.required,
            replay: ReplayCache::with_hasher(
                self.replay_capacity,
                replay_lifetime,
                keyed(&replay_key)?,
            ),
            replay_lifetime,
            keys: ProofKeys::new(PROOF_KEYS),
            #[cfg(feature = "router")]
            shared_replay: self.shared_replay,
            nonces,
        })
    }
}

/// 64 bytes from the operating system's random source.
fn random_key() -> Result<[u8; 64], BuildError> {
    let mut key = [0u8; 64];
    getrandom::fill(&mut key).map_err(|_| BuildError::Dpop("no system randomness"))?;
    Ok(key)
}

/// HMAC-SHA256 under `key`.
fn keyed(key: &[u8]) -> Result<Hmac<Sha256>, BuildError> {
    // HMAC takes keys of any length: the error cannot happen.
    Hmac::new_from_slice(key).map_err(|_| BuildError::Dpop("no HMAC key"))
}

/// A layer's DPoP checks, built from [`Dpop`].
pub(crate) struct DpopVerifier {
    base: BaseUrl,
    algorithms: Vec<Algorithm>,
    max_age: u64,
    leeway: u64,
    max_proof_len: usize,
    required: bool,
    replay: ReplayCache,
    /// The keys of recent proofs, built once each.
    keys: ProofKeys,
    /// How long, in seconds, a `jti` is remembered.
    #[cfg_attr(not(feature = "router"), allow(dead_code))]
    replay_lifetime: u64,
    #[cfg(feature = "router")]
    shared_replay: Option<SharedReplay>,
    nonces: Option<Nonces>,
    challenges: Challenges,
}

/// The shared replay store's verdict on a proof new to this process,
/// which the request awaits before it goes on ([`Dpop::shared_replay`]).
pub(crate) type SharedCheck = Pin<Box<dyn Future<Output = Result<(), SharedRefusal>> + Send>>;

/// Why the shared replay store refused a proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(feature = "router"), allow(dead_code))]
pub(crate) enum SharedRefusal {
    /// Another instance (or this one, forgotten locally) accepted it.
    Replayed,
    /// The store erred or did not answer in time: 503.
    Unavailable,
}

impl fmt::Debug for DpopVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dpop")
            .field("algorithms", &self.algorithms)
            .field("required", &self.required)
            .field("replay", &self.replay)
            .field("nonces", &self.nonces)
            .finish_non_exhaustive()
    }
}

/// A request's proof, checked but for the replay cache, which it enters
/// once its token verified ([`DpopVerifier::record`]).
#[derive(Debug)]
pub(crate) struct PendingProof {
    jti: String,
}

/// A DPoP request's proof for a token that is introspected, checked but
/// for the replay cache and for its key: the key the token is bound to
/// comes with the introspection answer ([`DpopVerifier::record_bound`]).
#[derive(Debug)]
#[cfg_attr(not(feature = "remote"), allow(dead_code))]
pub(crate) struct BoundProof {
    /// The RFC 7638 thumbprint of the proof's key.
    jkt: String,
    pending: PendingProof,
}

/// A token endpoint's proof, checked but for the replay cache.
#[cfg(feature = "router")]
#[derive(Debug)]
pub(crate) struct TokenProof {
    /// The RFC 7638 thumbprint of the proof's key, to bind the tokens to.
    pub(crate) jkt: String,
    jti: String,
}

/// The parts of a request the DPoP checks read.
pub(crate) struct RequestHead<'a> {
    pub(crate) method: &'a Method,
    pub(crate) uri: &'a Uri,
    pub(crate) headers: &'a HeaderMap,
}

impl DpopVerifier {
    fn reject(&self, error: DpopError) -> Rejection {
        Rejection::Dpop(self.rejection(error))
    }

    /// The refusal for `error`, logged at `debug` level.
    fn rejection(&self, error: DpopError) -> DpopRejection {
        let nonce = match (&self.nonces, error) {
            (Some(nonces), DpopError::UseNonce) => {
                HeaderValue::try_from(nonces.current(crate::validator::now())).ok()
            }
            _ => None,
        };
        match error {
            DpopError::InvalidProof(error) => tracing::debug!(%error, "DPoP proof refused"),
            DpopError::InvalidToken(error) => tracing::debug!(%error, "DPoP token refused"),
            error => tracing::debug!(?error, "DPoP request refused"),
        }
        self.challenges.reject(error, nonce)
    }

    /// The rejection of a request without credentials.
    /// The JOSE names of the algorithms proofs may use.
    pub(crate) fn algorithm_names(&self) -> Vec<String> {
        self.algorithms
            .iter()
            .map(|alg| format!("{alg:?}"))
            .collect()
    }

    pub(crate) fn missing_credentials(&self) -> Rejection {
        self.reject(DpopError::MissingCredentials)
    }

    /// The rejection of a malformed `Authorization` header.
    pub(crate) fn invalid_request(&self) -> Rejection {
        self.reject(DpopError::InvalidRequest)
    }

    /// The rejection of the access token of a DPoP request.
    pub(crate) fn invalid_token(&self, error: TokenError) -> Rejection {
        self.reject(DpopError::InvalidToken(error))
    }

    /// The checks that come before the token is validated: a bearer token
    /// must be allowed (that it is unbound is checked with its validation);
    /// a DPoP request's proof must pass every
    /// check but the replay cache, and its token must be bound to the
    /// proof's key. `max_token_len`: the validator's cap, beyond which the
    /// token is not read here.
    ///
    /// `Some` for a DPoP request, whose proof is to be [recorded](Self::record)
    /// once the token verified.
    pub(crate) fn check(
        &self,
        scheme: Scheme,
        token: &[u8],
        request: &RequestHead<'_>,
        max_token_len: usize,
    ) -> Result<Option<PendingProof>, Rejection> {
        if scheme == Scheme::Bearer {
            if self.required {
                return Err(self.reject(DpopError::BearerNotAccepted));
            }
            // Whether it is bound comes with its validation (a cache hit
            // reads no payload); see `bound_as_bearer`.
            return Ok(None);
        }
        self.check_token(token, max_token_len)?;
        let jkt = match binding::binding(token) {
            Some(Binding::Jkt(jkt)) => jkt,
            Some(Binding::Unbound | Binding::Other) => {
                return Err(self.reject(DpopError::UnboundToken));
            }
            // Not a token the validator would accept either.
            None => return Err(self.reject(DpopError::InvalidToken(TokenError::Malformed))),
        };
        let proof = self
            .verify_proof(Some(token), request)
            .map_err(|error| self.reject(error))?;
        if proof.jkt != jkt {
            return Err(self.reject(DpopError::InvalidProof(ProofError::KeyMismatch)));
        }
        Ok(Some(PendingProof { jti: proof.jti }))
    }

    /// A DPoP request's access token: a token68 within `max_token_len`.
    fn check_token(&self, token: &[u8], max_token_len: usize) -> Result<(), Rejection> {
        if !is_token68(token) {
            return Err(self.reject(DpopError::InvalidRequest));
        }
        if token.len() > max_token_len {
            return Err(self.reject(DpopError::InvalidToken(TokenError::TooLarge)));
        }
        Ok(())
    }

    /// [`Self::check`] for a token that is introspected (an opaque token,
    /// RFC 9449 §6.2), whose binding cannot be read from it: a DPoP
    /// request's proof must pass every check but the replay cache, and
    /// [`Self::record_bound`] then compares its key with the one the
    /// introspection answer binds the token to.
    ///
    /// `Some` for a DPoP request.
    #[cfg(feature = "remote")]
    pub(crate) fn check_introspected(
        &self,
        scheme: Scheme,
        token: &[u8],
        request: &RequestHead<'_>,
        max_token_len: usize,
    ) -> Result<Option<BoundProof>, Rejection> {
        if scheme == Scheme::Bearer {
            return self
                .check(scheme, token, request, max_token_len)
                .map(|_| None);
        }
        self.check_token(token, max_token_len)?;
        let proof = self
            .verify_proof(Some(token), request)
            .map_err(|error| self.reject(error))?;
        Ok(Some(BoundProof {
            jkt: proof.jkt,
            pending: PendingProof { jti: proof.jti },
        }))
    }

    /// Records `proof` ([`Self::record`]) if its key is `jkt`, the key
    /// the introspection answer binds its token to (`None`: bound to no
    /// DPoP key).
    #[cfg(feature = "remote")]
    pub(crate) fn record_bound(
        &self,
        proof: BoundProof,
        jkt: Option<&str>,
    ) -> Result<Option<SharedCheck>, Rejection> {
        match jkt {
            Some(jkt) if jkt == proof.jkt => self.record(proof.pending),
            Some(_) => Err(self.reject(DpopError::InvalidProof(ProofError::KeyMismatch))),
            None => Err(self.reject(DpopError::UnboundToken)),
        }
    }

    /// The refusal of a bearer token bound to a key (one with `cnf`), which
    /// comes as the bearer token's validation found it bound, or, for a
    /// token the validator refused, as [`Self::reads_bound`] finds it: a
    /// bound token sent as a bearer token is refused as such whether or not
    /// it is otherwise valid.
    pub(crate) fn bound_as_bearer(&self) -> Rejection {
        self.reject(DpopError::BoundTokenAsBearer)
    }

    /// Whether the payload of `token`, a bearer token the validator
    /// refused, has `cnf`; a token over `max_token_len` is not read.
    pub(crate) fn reads_bound(token: &[u8], max_token_len: usize) -> bool {
        token.len() <= max_token_len
            && matches!(
                binding::binding(token),
                Some(Binding::Jkt(_) | Binding::Other)
            )
    }

    /// The request's proof, checked against the request.
    fn verify_proof(
        &self,
        token: Option<&[u8]>,
        request: &RequestHead<'_>,
    ) -> Result<proof::CheckedProof, DpopError> {
        let mut proofs = request.headers.get_all(DPOP).iter();
        let proof = proofs
            .next()
            .ok_or(DpopError::InvalidProof(ProofError::Missing))?;
        if proofs.next().is_some() {
            return Err(DpopError::InvalidProof(ProofError::Repeated));
        }
        if proof.len() > self.max_proof_len {
            return Err(DpopError::InvalidProof(ProofError::TooLarge));
        }
        let url = self
            .base
            .request_url(request.uri.path())
            .ok_or(DpopError::InvalidProof(ProofError::WrongUrl))?;
        let now = crate::validator::now();
        let accepts = |nonce: &str| {
            self.nonces
                .as_ref()
                .is_some_and(|nonces| nonces.accepts(nonce, now))
        };
        proof::check(
            proof.as_bytes(),
            &proof::Expected {
                algorithms: &self.algorithms,
                keys: &self.keys,
                method: request.method,
                url: &url,
                token,
                now,
                max_age: self.max_age,
                leeway: self.leeway,
                nonce: self
                    .nonces
                    .is_some()
                    .then_some(&accepts as &dyn Fn(&str) -> bool),
            },
        )
    }

    /// Enters the proof of a request whose token verified into the replay
    /// cache: with a shared store, `Some` check for the request to await.
    pub(crate) fn record(&self, proof: PendingProof) -> Result<Option<SharedCheck>, Rejection> {
        self.enter(&proof.jti).map_err(Rejection::Dpop)
    }

    /// The refusal of a proof the shared store refused.
    pub(crate) fn shared_refusal(&self, refusal: SharedRefusal) -> Rejection {
        match refusal {
            SharedRefusal::Replayed => self.reject(DpopError::InvalidProof(ProofError::Replayed)),
            SharedRefusal::Unavailable => Rejection::Unavailable,
        }
    }

    /// Enters `jti` into this process's replay cache; then, if it was new
    /// here and a store is shared, the check that asks the store.
    fn enter(&self, jti: &str) -> Result<Option<SharedCheck>, DpopRejection> {
        let now = crate::validator::now();
        match self.replay.insert(jti, now) {
            #[cfg(feature = "router")]
            Ok(()) => Ok(self
                .shared_replay
                .as_ref()
                .map(|shared| shared.check(jti, now, self.replay_lifetime))),
            #[cfg(not(feature = "router"))]
            Ok(()) => Ok(None),
            Err(ReplayError::Replayed) => {
                Err(self.rejection(DpopError::InvalidProof(ProofError::Replayed)))
            }
            Err(ReplayError::Full) => {
                tracing::warn!(
                    capacity = self.replay.capacity(),
                    "DPoP replay cache full: refusing new proofs until entries expire"
                );
                Err(self.rejection(DpopError::InvalidProof(ProofError::ReplayCacheFull)))
            }
        }
    }

    /// Whether every request must come with DPoP ([`Dpop::required`]).
    #[cfg(feature = "router")]
    pub(crate) fn is_required(&self) -> bool {
        self.required
    }

    /// The proof of a request to a token endpoint (the router's login and
    /// refresh), which comes without an access token and so without `ath`:
    /// `None` when no `DPoP` header came, else the proof checked as the layer
    /// checks one, but for the replay cache, which it enters with
    /// [`record_token_proof`](Self::record_token_proof) once the request's
    /// credentials verified.
    #[cfg(feature = "router")]
    pub(crate) fn token_proof(
        &self,
        request: &RequestHead<'_>,
    ) -> Result<Option<TokenProof>, DpopRejection> {
        if request.headers.get(DPOP).is_none() {
            return Ok(None);
        }
        let proof = self
            .verify_proof(None, request)
            .map_err(|error| self.rejection(error))?;
        Ok(Some(TokenProof {
            jkt: proof.jkt,
            jti: proof.jti,
        }))
    }

    /// Enters a token endpoint's proof into the replay cache, and then,
    /// with a shared store, into that.
    ///
    /// # Errors
    ///
    /// The refusal of a replayed proof, or 503 when the shared store is
    /// unavailable.
    #[cfg(feature = "router")]
    pub(crate) async fn record_token_proof(&self, proof: &TokenProof) -> Result<(), Rejection> {
        if let Some(check) = self.enter(&proof.jti).map_err(Rejection::Dpop)? {
            check
                .await
                .map_err(|refusal| self.shared_refusal(refusal))?;
        }
        Ok(())
    }

    /// The refusal of a request to a token endpoint.
    #[cfg(feature = "router")]
    pub(crate) fn token_rejection(&self, error: DpopError) -> DpopRejection {
        self.rejection(error)
    }
}
