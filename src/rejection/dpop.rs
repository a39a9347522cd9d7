//! DPoP refusals and their challenges (RFC 9449 §7.1, §8).
//!
//! | Case | Status | `WWW-Authenticate` | Body |
//! |---|---|---|---|
//! | No credentials | 401 | `Bearer, DPoP algs="…"` (`DPoP algs="…"` when DPoP is required) | `{"detail":"Not authenticated"}` |
//! | Malformed `Authorization` | 400 | `DPoP error="invalid_request", algs="…"` | `{"detail":"Invalid request"}` |
//! | Bad access token, a bound token sent as `Bearer`, a bearer token where DPoP is required, an unbound token sent as `DPoP` | 401 | `DPoP error="invalid_token", algs="…"` | `{"detail":"Invalid token"}` (`"Token expired"`) |
//! | Missing, repeated or bad proof | 401 | `DPoP error="invalid_dpop_proof", algs="…"` | `{"detail":"Invalid DPoP proof"}` |
//! | Nonce missing or stale | 401 | `DPoP error="use_dpop_nonce", algs="…"` and a `DPoP-Nonce` header | `{"detail":"DPoP nonce required"}` |
//!
//! A bearer token refused on a layer that also accepts bearer tokens keeps
//! its `Bearer` challenge.

use std::fmt;

use http::{HeaderValue, StatusCode};
use jsonwebtoken::Algorithm;

use crate::error::TokenError;

/// The response header that carries a server nonce.
pub(crate) const DPOP_NONCE: &str = "dpop-nonce";

/// Which check a DPoP proof failed. Logged at `debug` level; the client
/// only ever learns `invalid_dpop_proof`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProofError {
    /// A `DPoP` scheme without a `DPoP` header.
    Missing,
    /// More than one `DPoP` header.
    Repeated,
    /// Longer than the configured cap; refused before any decoding.
    TooLarge,
    /// Not a compact JWS of canonical base64url with a JSON object header,
    /// a header or `jwk` member given twice, or a `crit` or `b64` header.
    Malformed,
    /// `typ` is not `dpop+jwt`.
    WrongType,
    /// `alg` is not one of the configured asymmetric algorithms (`none`
    /// and `HS*` never are).
    UnsupportedAlgorithm,
    /// The header has no `jwk`, or one this crate cannot verify with: not
    /// an `EC`, `OKP` or `RSA` key, not fitting `alg`, or a weak key.
    InvalidKey,
    /// The `jwk` carries private key members (`d`, `p`, `q`, …).
    PrivateKey,
    /// The `jwk` has members of another key type (an `n` in an `EC` key):
    /// two readers could see two different keys.
    AmbiguousKey,
    /// The signature does not verify with the `jwk`.
    InvalidSignature,
    /// The claims are not `jti`, `htm`, `htu` and `iat` of the right types.
    InvalidClaims,
    /// `htm` is not the request's method.
    WrongMethod,
    /// `htu` is not the request's URL.
    WrongUrl,
    /// `iat` is older than the configured maximum age.
    Stale,
    /// `iat` is further in the future than the leeway.
    IssuedInFuture,
    /// No `ath`, though an access token came with the proof.
    MissingAccessTokenHash,
    /// `ath` is not the hash of the access token that came with the proof.
    WrongAccessTokenHash,
    /// The proof's key is not the key the access token is bound to
    /// (`cnf.jkt`).
    KeyMismatch,
    /// The `jti` was seen within the proof window.
    Replayed,
    /// The replay cache is full of proofs still in their window: refused,
    /// fail closed.
    ReplayCacheFull,
}

impl fmt::Display for ProofError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Missing => "no DPoP proof header",
            Self::Repeated => "more than one DPoP proof header",
            Self::TooLarge => "DPoP proof exceeds the size cap",
            Self::Malformed => "DPoP proof is not a well-formed JWS",
            Self::WrongType => "DPoP proof typ is not dpop+jwt",
            Self::UnsupportedAlgorithm => "DPoP proof alg is not accepted",
            Self::InvalidKey => "DPoP proof jwk is missing, unsupported or weak",
            Self::PrivateKey => "DPoP proof jwk contains private key members",
            Self::AmbiguousKey => "DPoP proof jwk has repeated or foreign members",
            Self::InvalidSignature => "DPoP proof signature is invalid",
            Self::InvalidClaims => "DPoP proof claims are invalid",
            Self::WrongMethod => "DPoP proof htm is not the request method",
            Self::WrongUrl => "DPoP proof htu is not the request URL",
            Self::Stale => "DPoP proof iat is too old",
            Self::IssuedInFuture => "DPoP proof iat is in the future",
            Self::MissingAccessTokenHash => "DPoP proof has no ath",
            Self::WrongAccessTokenHash => "DPoP proof ath does not match the access token",
            Self::KeyMismatch => "DPoP proof key is not the key the token is bound to",
            Self::Replayed => "DPoP proof jti was already used",
            Self::ReplayCacheFull => "DPoP replay cache is full",
        })
    }
}

/// Why a layer with DPoP refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DpopError {
    /// No credentials came.
    MissingCredentials,
    /// The `Authorization` header was malformed, repeated, or the token was
    /// sent in more than one way.
    InvalidRequest,
    /// The access token that came with a proof was refused.
    InvalidToken(TokenError),
    /// A token bound to a key (it has `cnf`) came as a bearer token
    /// (RFC 9449 §7.1: no downgrade).
    BoundTokenAsBearer,
    /// A bearer token came to a layer that requires DPoP.
    BearerNotAccepted,
    /// A token without `cnf.jkt` came with the `DPoP` scheme.
    UnboundToken,
    /// The proof was refused.
    InvalidProof(ProofError),
    /// A server nonce is required and the proof has none, or a stale one.
    UseNonce,
}

/// A refusal by a layer with DPoP: its challenge names the `DPoP` scheme
/// and the accepted algorithms, and a `use_dpop_nonce` refusal carries the
/// nonce to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopRejection {
    error: DpopError,
    challenge: HeaderValue,
    nonce: Option<HeaderValue>,
}

impl DpopRejection {
    /// Why the request was refused.
    pub fn error(&self) -> DpopError {
        self.error
    }

    /// 400 for [`DpopError::InvalidRequest`], else 401.
    pub fn status(&self) -> StatusCode {
        match self.error {
            DpopError::InvalidRequest => StatusCode::BAD_REQUEST,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// The `WWW-Authenticate` challenge (see the table above).
    pub fn challenge(&self) -> HeaderValue {
        self.challenge.clone()
    }

    /// The value of the `DPoP-Nonce` response header, for
    /// [`DpopError::UseNonce`].
    pub fn nonce(&self) -> Option<&HeaderValue> {
        self.nonce.as_ref()
    }

    /// The client-facing message: stable and generic.
    pub fn detail(&self) -> &'static str {
        match self.error {
            DpopError::MissingCredentials => "Not authenticated",
            DpopError::InvalidRequest => "Invalid request",
            DpopError::InvalidToken(TokenError::Expired) => "Token expired",
            DpopError::InvalidToken(_)
            | DpopError::BoundTokenAsBearer
            | DpopError::BearerNotAccepted
            | DpopError::UnboundToken => "Invalid token",
            DpopError::InvalidProof(_) => "Invalid DPoP proof",
            DpopError::UseNonce => "DPoP nonce required",
        }
    }

    /// The JSON body of [`JsonRejection`](crate::rejection::JsonRejection).
    pub(crate) fn json_body(&self) -> &'static [u8] {
        match self.detail() {
            "Not authenticated" => br#"{"detail":"Not authenticated"}"#,
            "Invalid request" => br#"{"detail":"Invalid request"}"#,
            "Token expired" => br#"{"detail":"Token expired"}"#,
            "Invalid DPoP proof" => br#"{"detail":"Invalid DPoP proof"}"#,
            "DPoP nonce required" => br#"{"detail":"DPoP nonce required"}"#,
            _ => br#"{"detail":"Invalid token"}"#,
        }
    }
}

/// A layer's challenges, built once.
#[derive(Debug, Clone)]
pub(crate) struct Challenges {
    missing: HeaderValue,
    invalid_request: HeaderValue,
    invalid_token: HeaderValue,
    invalid_proof: HeaderValue,
    use_nonce: HeaderValue,
}

impl Challenges {
    /// The challenges naming `algorithms`; with `bearer`, the challenge for
    /// missing credentials offers the `Bearer` scheme too (§7.2).
    pub(crate) fn new(algorithms: &[Algorithm], bearer: bool) -> Self {
        let algs = algorithms
            .iter()
            .map(|alg| format!("{alg:?}"))
            .collect::<Vec<_>>()
            .join(" ");
        // Algorithm names are ASCII letters and digits: every value is a
        // valid header value.
        let value = |text: String| {
            HeaderValue::try_from(text).unwrap_or_else(|_| HeaderValue::from_static("DPoP"))
        };
        let error = |code: &str| value(format!("DPoP error=\"{code}\", algs=\"{algs}\""));
        Self {
            missing: value(if bearer {
                format!("Bearer, DPoP algs=\"{algs}\"")
            } else {
                format!("DPoP algs=\"{algs}\"")
            }),
            invalid_request: error("invalid_request"),
            invalid_token: error("invalid_token"),
            invalid_proof: error("invalid_dpop_proof"),
            use_nonce: error("use_dpop_nonce"),
        }
    }

    /// The rejection for `error`, with `nonce` for the `DPoP-Nonce` header.
    pub(crate) fn reject(&self, error: DpopError, nonce: Option<HeaderValue>) -> DpopRejection {
        let challenge = match error {
            DpopError::MissingCredentials => &self.missing,
            DpopError::InvalidRequest => &self.invalid_request,
            DpopError::InvalidToken(_)
            | DpopError::BoundTokenAsBearer
            | DpopError::BearerNotAccepted
            | DpopError::UnboundToken => &self.invalid_token,
            DpopError::InvalidProof(_) => &self.invalid_proof,
            DpopError::UseNonce => &self.use_nonce,
        };
        DpopRejection {
            error,
            challenge: challenge.clone(),
            nonce,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_name_the_scheme_the_error_and_the_algorithms() {
        let challenges = Challenges::new(&[Algorithm::ES256, Algorithm::EdDSA], true);
        let challenge = |error| challenges.reject(error, None).challenge();
        assert_eq!(
            challenge(DpopError::MissingCredentials),
            "Bearer, DPoP algs=\"ES256 EdDSA\""
        );
        assert_eq!(
            challenge(DpopError::InvalidProof(ProofError::Replayed)),
            "DPoP error=\"invalid_dpop_proof\", algs=\"ES256 EdDSA\""
        );
        assert_eq!(
            challenge(DpopError::BoundTokenAsBearer),
            "DPoP error=\"invalid_token\", algs=\"ES256 EdDSA\""
        );
        let required = Challenges::new(&[Algorithm::ES256], false);
        assert_eq!(
            required
                .reject(DpopError::MissingCredentials, None)
                .challenge(),
            "DPoP algs=\"ES256\""
        );
    }

    #[test]
    fn json_bodies_match_detail() {
        let challenges = Challenges::new(&[Algorithm::ES256], true);
        for error in [
            DpopError::MissingCredentials,
            DpopError::InvalidRequest,
            DpopError::InvalidToken(TokenError::Expired),
            DpopError::InvalidToken(TokenError::InvalidSignature),
            DpopError::BoundTokenAsBearer,
            DpopError::BearerNotAccepted,
            DpopError::UnboundToken,
            DpopError::InvalidProof(ProofError::Stale),
            DpopError::UseNonce,
        ] {
            let rejection = challenges.reject(error, None);
            let body: serde_json::Value = serde_json::from_slice(rejection.json_body()).unwrap();
            assert_eq!(body, serde_json::json!({ "detail": rejection.detail() }));
        }
    }
}
