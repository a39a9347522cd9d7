//! Errors: why a token was refused, why a key was refused, why a layer could not be built.

use std::fmt;

/// Why a token was refused.
///
/// The client never sees these details: the layer answers with the generic
/// bodies of the rejection table (see [`Rejection`](crate::rejection::Rejection)); the
/// variant is only logged at `debug` level, never with the token itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenError {
    /// Longer than the configured cap; refused before any decoding.
    TooLarge,
    /// Not three dot-separated segments of canonical base64url, or a header
    /// that is not a JSON object with a string `alg`.
    Malformed,
    /// The `alg` header names no algorithm this crate accepts (`none` in any
    /// casing included).
    UnsupportedAlgorithm,
    /// No key in the key set matches the token's `kid` and `alg`.
    UnknownKey,
    /// The key selected by `kid` is pinned to another algorithm.
    AlgorithmMismatch,
    /// The header carries a `crit` parameter this crate does not understand
    /// (RFC 7515 §4.1.11).
    UnsupportedCritical,
    /// The signature does not verify.
    InvalidSignature,
    /// The payload is not a JSON object, a registered claim has the wrong
    /// type, or the claims do not deserialize into the claims type.
    InvalidClaims,
    /// A required claim (`exp`, or `iss`/`aud` when configured) is absent.
    MissingClaim(&'static str),
    /// `exp` has passed (beyond the leeway).
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    IssuedInFuture,
    /// `iss` is not one of the accepted issuers.
    InvalidIssuer,
    /// `aud` names none of the accepted audiences.
    InvalidAudience,
    /// The token-type claim is missing or has another value (for example a
    /// refresh token presented where an access token is required).
    WrongTokenType,
    /// The revocation hook reports the token as revoked.
    Revoked,
    /// The revocation hook cannot tell: its replica of the shared
    /// revocations is out of date beyond its limit
    /// ([`Verdict::Unknown`](crate::revocation::Verdict::Unknown)). Refused with 503
    /// ([`Rejection::Unavailable`](crate::rejection::Rejection::Unavailable)).
    RevocationUnknown,
    /// The token's `iss` names none of the trusted issuers.
    UnknownIssuer,
    /// The header's `typ` is not the one the rules require (for example
    /// `at+jwt` for RFC 9068 access tokens).
    WrongJwtType,
    /// Token introspection (RFC 7662) answered that the token is not
    /// active: unknown, expired, revoked, or not for this resource.
    Inactive,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Self::TooLarge => "token exceeds the size cap",
            Self::Malformed => "token is not a well-formed compact JWS",
            Self::UnsupportedAlgorithm => "token algorithm is not supported",
            Self::UnknownKey => "no key matches the token's kid and alg",
            Self::AlgorithmMismatch => "token alg differs from the key's algorithm",
            Self::UnsupportedCritical => "token has a crit header parameter",
            Self::InvalidSignature => "token signature is invalid",
            Self::InvalidClaims => "token claims are invalid",
            Self::MissingClaim(name) => {
                return write!(f, "token lacks the required claim `{name}`");
            }
            Self::Expired => "token has expired",
            Self::NotYetValid => "token is not valid yet (nbf)",
            Self::IssuedInFuture => "token is issued in the future (iat)",
            Self::InvalidIssuer => "token issuer is not accepted",
            Self::InvalidAudience => "token audience is not accepted",
            Self::WrongTokenType => "token has the wrong token type",
            Self::Revoked => "token has been revoked",
            Self::RevocationUnknown => "the revocation state is unknown (the replica is stale)",
            Self::UnknownIssuer => "token issuer is not trusted",
            Self::WrongJwtType => "token header typ is not the required one",
            Self::Inactive => "the authorization server says the token is not active",
        };
        f.write_str(text)
    }
}

impl std::error::Error for TokenError {}

/// Why a key could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// An HMAC secret shorter than the hash output of its algorithm
    /// (RFC 7518 §3.2).
    #[error(
        "the {alg:?} secret is {actual} bytes; it must be at least {min} bytes \
         (generate one with `openssl rand -base64 48`)"
    )]
    WeakSecret {
        /// The algorithm the secret was meant for.
        alg: jsonwebtoken::Algorithm,
        /// The minimum length in bytes.
        min: usize,
        /// The length that was given.
        actual: usize,
    },
    /// The algorithm does not fit the kind of key (for example an RSA PEM for
    /// `ES256`, or `HS256` for a public key).
    #[error("the key cannot be used with {0:?}")]
    AlgorithmMismatch(jsonwebtoken::Algorithm),
    /// An `oct` JWK without an `alg` member: an HMAC secret fits `HS256`,
    /// `HS384` and `HS512` alike, so the algorithm must be pinned (with `alg`
    /// or [`Key::from_jwk_with`](crate::Key::from_jwk_with)).
    #[error("the JWK has no `alg`; pin the algorithm explicitly")]
    MissingAlgorithm,
    /// An RSA modulus shorter than 2048 bits (NIST SP 800-131A, RFC 7518
    /// §3.3).
    #[error("the RSA key has a {bits}-bit modulus; at least 2048 bits are required")]
    WeakRsaKey {
        /// The size of the modulus that was given, in bits.
        bits: usize,
    },
    /// An EC public key that is not a point of its curve, or an Ed25519
    /// public key that is not a (canonically encoded) curve point.
    #[error("the public key is not a valid point of its curve")]
    InvalidPoint,
    /// An Ed25519 public key of small order (the identity point among them):
    /// signatures that verify under it can be made without any private key.
    #[error("the Ed25519 public key is a point of small order")]
    WeakEd25519Key,
    /// The JWK's `use` is not `sig`, or its `key_ops` do not include
    /// `verify`, or its `alg` is an encryption algorithm.
    #[error("the JWK is not meant for verifying signatures (`use`, `key_ops` or `alg`)")]
    NotForSigning,
    /// A JWK of a key type, curve or algorithm this crate does not verify
    /// with (for example `kty: "EC"` on P-521, or an unknown `alg`).
    #[error("unsupported key: {0}")]
    UnsupportedKey(&'static str),
    /// The key material could not be parsed.
    #[error("invalid key material: {0}")]
    Invalid(#[source] jsonwebtoken::errors::Error),
    /// Neither crypto-backend feature is enabled and no process-wide
    /// jsonwebtoken `CryptoProvider` is installed.
    #[error("no jsonwebtoken crypto provider: enable the `aws-lc-rs` or `rust-crypto` feature")]
    NoCryptoProvider,
}

impl From<jsonwebtoken::errors::Error> for KeyError {
    fn from(err: jsonwebtoken::errors::Error) -> Self {
        Self::Invalid(err)
    }
}

/// Why a [`Validator`](crate::validator::Validator) or a
/// [`JwtAuthLayer`](crate::JwtAuthLayer) could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The key set is empty: every token would be refused.
    #[error("the key set is empty")]
    NoKeys,
    /// An issuer, audience, scope or `acr` value list was given but is
    /// empty.
    #[error("the accepted {0} list is empty")]
    EmptyList(&'static str),
    /// A token-source name (cookie or query parameter) is empty.
    #[error("the {0} name is empty")]
    EmptySourceName(&'static str),
    /// The same issuer was trusted twice.
    #[error("the issuer {0:?} is trusted twice")]
    DuplicateIssuer(String),
    /// A required scope name is not a `scope-token` of RFC 6749 §3.3
    /// (visible ASCII without `"` and `\`): it could not be named in a
    /// challenge.
    #[error("the scope name {0:?} is not an RFC 6749 scope token")]
    InvalidScope(String),
    /// A required `acr` value of a [`StepUp`](crate::authorize::StepUp) is
    /// empty or holds a space, `"`, `\`, a control or a non-ASCII character:
    /// it could not be listed in a challenge.
    #[error("the acr value {0:?} cannot be listed in a challenge")]
    InvalidAcrValue(String),
    /// A bcrypt cost outside 4..=31.
    #[error("the bcrypt cost {0} is outside 4..=31")]
    BcryptCost(u32),
    /// Password length bounds that are empty, start at 0 or exceed bcrypt's
    /// 72 bytes.
    #[error("the password length bounds {min}..={max} are not within 1..=72")]
    PasswordBounds {
        /// The minimum given.
        min: usize,
        /// The maximum given.
        max: usize,
    },
    /// The [DPoP](crate::dpop) configuration cannot work: a base URL that is
    /// not an absolute `http(s)` URL, an HMAC algorithm, a zero window or
    /// capacity, a short nonce secret.
    #[error("{0}")]
    Dpop(&'static str),
    /// The router's cookie configuration cannot work: an empty or invalid
    /// cookie name, the same name twice, a path that does not start with
    /// `/` or holds `;` or control characters.
    #[error("cookies: {0}")]
    Cookies(&'static str),
    /// The [protected resource metadata](crate::resource_metadata) would
    /// mislead its clients: a resource identifier that is not an absolute
    /// `https` URL (`http` only on a loopback host) or that has a query or
    /// a fragment, an authorization server that is not an absolute
    /// `http(s)` URL without query and fragment, another URL member that is
    /// not an absolute `http(s)` URL, or an HMAC algorithm for DPoP proofs.
    #[error("protected resource metadata: {0}")]
    ResourceMetadata(String),
}
