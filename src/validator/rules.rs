//! [`Validation`]: the rules a token's claims must satisfy.

use std::time::Duration;

use jsonwebtoken::Algorithm;

use crate::claims::ACCESS_TOKEN;
use crate::error::BuildError;

/// The default cap on a token's length: 8 KiB.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 8 * 1024;

/// The default clock-skew leeway for `exp`, `nbf` and `iat`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(5);

/// The rules a token's claims must satisfy.
///
/// Defaults: `exp` required, 5 s leeway, no `iss`/`aud` check, the claim
/// `scope` must equal `access_token`, any algorithm the keys are pinned to,
/// no `typ` check, tokens up to 8 KiB.
///
/// For tokens of an identity provider, see
/// [`TrustedIssuer`](crate::TrustedIssuer), whose defaults differ: the
/// provider's `iss` is required, and the tutorial's token-type marker is
/// not.
#[derive(Clone, Debug)]
#[must_use]
pub struct Validation {
    pub(crate) leeway: u64,
    pub(crate) issuers: Option<Vec<String>>,
    pub(crate) audiences: Option<Vec<String>>,
    pub(crate) token_type: Option<(String, String)>,
    pub(crate) algorithms: Option<Vec<Algorithm>>,
    pub(crate) jwt_type: Option<String>,
    pub(crate) max_token_len: usize,
}

impl Default for Validation {
    fn default() -> Self {
        Self {
            leeway: DEFAULT_LEEWAY.as_secs(),
            issuers: None,
            audiences: None,
            token_type: Some(("scope".to_owned(), ACCESS_TOKEN.to_owned())),
            algorithms: None,
            jwt_type: None,
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
        }
    }
}

impl Validation {
    /// The default rules.
    pub fn new() -> Self {
        Self::default()
    }

    /// Clock-skew leeway for `exp`, `nbf` and `iat` (whole seconds).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway.as_secs();
        self
    }

    /// Requires `iss` to be one of `issuers`.
    pub fn issuers<I: IntoIterator<Item = S>, S: Into<String>>(mut self, issuers: I) -> Self {
        self.issuers = Some(issuers.into_iter().map(Into::into).collect());
        self
    }

    /// Requires `aud` to name at least one of `audiences`.
    pub fn audiences<I: IntoIterator<Item = S>, S: Into<String>>(mut self, audiences: I) -> Self {
        self.audiences = Some(audiences.into_iter().map(Into::into).collect());
        self
    }

    /// Requires the claim `claim` to equal `value` exactly. The default is
    /// `scope` = `access_token`.
    pub fn token_type(mut self, claim: impl Into<String>, value: impl Into<String>) -> Self {
        self.token_type = Some((claim.into(), value.into()));
        self
    }

    /// Accepts any token type. Only for tokens from issuers that do not mark
    /// their type: a refresh token would then pass as an access token.
    pub fn any_token_type(mut self) -> Self {
        self.token_type = None;
        self
    }

    /// Accepts only tokens signed with one of `algorithms` (RFC 8725 §3.1),
    /// whatever else the keys would verify. By default every algorithm a key
    /// is pinned to is accepted.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = Some(algorithms.into_iter().collect());
        self
    }

    /// Requires the JOSE header's `typ` to be `typ` (compared ignoring
    /// case, with or without the `application/` prefix, as RFC 7515 §4.1.9
    /// allows). Explicit typing (RFC 8725 §3.11) keeps one kind of token from
    /// passing as another; see [`Validation::access_token_jwt`].
    pub fn jwt_type(mut self, typ: impl Into<String>) -> Self {
        let typ: String = typ.into();
        let typ = strip_application(&typ).to_ascii_lowercase();
        self.jwt_type = Some(typ);
        self
    }

    /// Requires an RFC 9068 JWT access token: header `typ` `at+jwt`.
    pub fn access_token_jwt(self) -> Self {
        self.jwt_type("at+jwt")
    }

    /// Caps a token's length in bytes; longer tokens are refused before any
    /// decoding.
    pub fn max_token_len(mut self, max: usize) -> Self {
        self.max_token_len = max;
        self
    }

    pub(crate) fn check(&self) -> Result<(), BuildError> {
        if self.issuers.as_ref().is_some_and(Vec::is_empty) {
            return Err(BuildError::EmptyList("issuer"));
        }
        if self.audiences.as_ref().is_some_and(Vec::is_empty) {
            return Err(BuildError::EmptyList("audience"));
        }
        if self.algorithms.as_ref().is_some_and(Vec::is_empty) {
            return Err(BuildError::EmptyList("algorithm"));
        }
        Ok(())
    }

    /// Whether the header `typ` (absent: `None`) is the required one.
    pub(crate) fn typ_allowed(&self, typ: Option<&str>) -> bool {
        match (&self.jwt_type, typ) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(required), Some(typ)) => strip_application(typ).eq_ignore_ascii_case(required),
        }
    }

    /// Whether tokens signed with `alg` are accepted.
    pub(crate) fn algorithm_allowed(&self, alg: Algorithm) -> bool {
        self.algorithms
            .as_ref()
            .is_none_or(|allowed| allowed.contains(&alg))
    }
}

/// `typ` without a leading `application/` (RFC 7515 §4.1.9), matched
/// ignoring case.
fn strip_application(typ: &str) -> &str {
    match typ.get(..12) {
        Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &typ[12..],
        _ => typ,
    }
}
