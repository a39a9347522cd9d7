//! [`TrustedIssuer`]: an issuer whose tokens a validator accepts, with its
//! own keys and rules.

#[cfg(feature = "remote")]
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Algorithm;

use crate::error::BuildError;
use crate::key::KeyRing;
use crate::validator::Validation;
#[cfg(feature = "remote")]
use crate::validator::key_source::KeySource;

/// An issuer whose tokens are accepted: its `iss`, its keys (given in code,
/// or fetched from the issuer with the `remote` feature) and its rules.
///
/// The defaults suit an identity provider's access tokens: `iss` must equal
/// the issuer exactly, `exp` is required with a 5 s leeway, and no
/// token-type claim is required (the tutorial's `scope = access_token`
/// marker is the crate's own; a provider's `scope` holds OAuth scopes).
/// Name the resource's audiences with [`TrustedIssuer::audiences`], and
/// require RFC 9068 JWT access tokens with
/// [`TrustedIssuer::access_token_jwt`] where the provider marks them.
///
/// ```
/// use tower_jwt_auth::{Algorithm, Key, TrustedIssuer};
/// use tower_jwt_auth::validator::Validator;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let partner = Key::hmac(Algorithm::HS256, [7u8; 32])?;
/// let validator = Validator::new(Key::hmac(Algorithm::HS256, [1u8; 32])?, Default::default())?
///     .with_issuer(TrustedIssuer::new("https://partner.example", partner).audiences(["my-api"]))?;
/// # drop(validator);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct TrustedIssuer {
    issuer: String,
    pub(crate) keys: KeyRing,
    pub(crate) rules: Validation,
    #[cfg(feature = "remote")]
    pub(crate) remote: Option<Arc<dyn KeySource>>,
}

impl TrustedIssuer {
    /// The issuer `issuer`, whose tokens are verified with `keys` given in
    /// code.
    pub fn new(issuer: impl Into<String>, keys: impl Into<KeyRing>) -> Self {
        let issuer = issuer.into();
        Self {
            rules: Self::default_rules(&issuer),
            issuer,
            keys: keys.into(),
            #[cfg(feature = "remote")]
            remote: None,
        }
    }

    /// The issuer `issuer`, whose keys `keys` are fetched again by
    /// `source` when a token names a key they lack
    /// ([`TrustedIssuer::remote`]).
    #[cfg(feature = "remote")]
    pub(crate) fn with_key_source(
        issuer: String,
        keys: KeyRing,
        source: Arc<dyn KeySource>,
    ) -> Self {
        Self {
            rules: Self::default_rules(&issuer),
            issuer,
            keys,
            remote: Some(source),
        }
    }

    fn default_rules(issuer: &str) -> Validation {
        Validation::new().issuers([issuer]).any_token_type()
    }

    /// The issuer, as its tokens' `iss` must name it.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Requires `aud` to name one of `audiences`: the identifiers of this
    /// resource server (RFC 9068 §4).
    pub fn audiences<I: IntoIterator<Item = S>, S: Into<String>>(mut self, audiences: I) -> Self {
        self.rules = self.rules.audiences(audiences);
        self
    }

    /// Accepts only tokens signed with one of `algorithms`.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.rules = self.rules.algorithms(algorithms);
        self
    }

    /// Requires RFC 9068 JWT access tokens (header `typ` `at+jwt`).
    pub fn access_token_jwt(mut self) -> Self {
        self.rules = self.rules.access_token_jwt();
        self
    }

    /// Requires the claim `claim` to equal `value`, for issuers that mark
    /// their token types in a claim (as the tutorial's `scope`).
    pub fn token_type(mut self, claim: impl Into<String>, value: impl Into<String>) -> Self {
        self.rules = self.rules.token_type(claim, value);
        self
    }

    /// Clock-skew leeway for this issuer's `exp`, `nbf` and `iat`.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.rules = self.rules.leeway(leeway);
        self
    }

    /// Replaces the rules. Whatever issuers `rules` names, this issuer's
    /// tokens must name this issuer.
    pub fn validation(mut self, rules: Validation) -> Self {
        self.rules = rules.issuers([self.issuer.as_str()]);
        self
    }

    /// The rules this issuer's tokens must satisfy.
    pub fn rules(&self) -> &Validation {
        &self.rules
    }

    pub(crate) fn check(&self) -> Result<(), BuildError> {
        #[cfg(feature = "remote")]
        if self.remote.is_some() {
            return self.rules.check();
        }
        if self.keys.current().is_empty() {
            return Err(BuildError::NoKeys);
        }
        self.rules.check()
    }
}
