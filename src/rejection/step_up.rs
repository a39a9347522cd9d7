//! [`StepUp`], a step-up requirement (RFC 9470) as a refusal names it: the
//! `acr` values and maximum age required, and the challenge that lists them.
//! Whether claims meet it is decided in [`authorize`](crate::authorize).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;

use super::scope::token_list;
use crate::error::BuildError;

/// A step-up requirement (RFC 9470): the token's `acr` must be one of a
/// list of authentication context classes, its `auth_time` no older than a
/// maximum age, or both.
///
/// A token that falls short is refused with
/// [`Rejection::InsufficientUserAuthentication`](super::Rejection::InsufficientUserAuthentication): 401 and
/// `WWW-Authenticate: Bearer error="insufficient_user_authentication",
/// error_description="…", acr_values="…", max_age="…"`, naming everything
/// the requirement asks for, so that the client can ask the authorization
/// server for a token that meets it. The challenge is built with the
/// requirement; a refusal only clones it.
///
/// A missing `acr` fails an `acr` requirement and a missing `auth_time` a
/// maximum age. An `auth_time` later than the server's clock counts as
/// fresh: the token is signed by a trusted issuer, whose clock may run a
/// little ahead.
///
/// ```
/// use std::time::Duration;
///
/// use tower_jwt_auth::authorize::{RequireLayer, StepUp};
///
/// # fn main() -> Result<(), tower_jwt_auth::BuildError> {
/// // A phishing-resistant login, at most five minutes ago.
/// let transfers = RequireLayer::new(
///     StepUp::acr_values(["phr", "phrh"])?.max_age(Duration::from_secs(300)),
/// );
/// // Any login, at most an hour ago.
/// let settings = RequireLayer::new(StepUp::authenticated_within(Duration::from_secs(3600)));
/// # let _ = (transfers, settings);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, PartialEq, Eq)]
#[must_use]
pub struct StepUp(pub(crate) Arc<Inner>);

#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Inner {
    /// Empty for no `acr` requirement.
    pub(crate) acr_values: Box<[Box<str>]>,
    /// In seconds.
    pub(crate) max_age: Option<u64>,
    challenge: HeaderValue,
}

impl StepUp {
    /// Requires the token's `acr` to be one of `values` (RFC 9470 §3: any
    /// one of them satisfies the requirement).
    ///
    /// # Errors
    ///
    /// [`BuildError::EmptyList`] for no values,
    /// [`BuildError::InvalidAcrValue`] for a value that is empty or holds a
    /// space, `"`, `\`, a control or a non-ASCII character: the challenge
    /// lists the values space-separated in one quoted string.
    pub fn acr_values<I, S>(values: I) -> Result<Self, BuildError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        // `acr_values` has the shape of `scope` (RFC 9470 §3): the same rule.
        let values = token_list(values, "acr value", BuildError::InvalidAcrValue)?;
        Ok(Self::new(values, None))
    }

    /// Requires the user to have authenticated at most `max_age` ago (the
    /// token's `auth_time`), with no requirement on `acr`. Whole seconds
    /// count: a fraction of a second is dropped.
    pub fn authenticated_within(max_age: Duration) -> Self {
        Self::new(Box::default(), Some(max_age.as_secs()))
    }

    /// Also requires the user to have authenticated at most `max_age` ago;
    /// see [`StepUp::authenticated_within`].
    pub fn max_age(self, max_age: Duration) -> Self {
        let inner = Arc::unwrap_or_clone(self.0);
        Self::new(inner.acr_values, Some(max_age.as_secs()))
    }

    fn new(acr_values: Box<[Box<str>]>, max_age: Option<u64>) -> Self {
        let challenge = challenge(&acr_values, max_age);
        Self(Arc::new(Inner {
            acr_values,
            max_age,
            challenge,
        }))
    }

    /// The `acr` values accepted, in the order given; empty when any `acr`
    /// will do.
    pub fn required_acr_values(&self) -> impl ExactSizeIterator<Item = &str> {
        self.0.acr_values.iter().map(|value| &**value)
    }

    /// The maximum age of the authentication, in whole seconds.
    pub fn required_max_age(&self) -> Option<Duration> {
        self.0.max_age.map(Duration::from_secs)
    }

    /// `Bearer error="insufficient_user_authentication",
    /// error_description="…"`, then `acr_values="…"` (space-separated) and
    /// `max_age="…"` (seconds) for what the requirement asks.
    pub fn challenge(&self) -> HeaderValue {
        self.0.challenge.clone()
    }
}

/// The challenge of RFC 9470 §3 for a requirement; the texts of
/// `error_description` are the RFC's own.
fn challenge(acr_values: &[Box<str>], max_age: Option<u64>) -> HeaderValue {
    const BARE: HeaderValue =
        HeaderValue::from_static("Bearer error=\"insufficient_user_authentication\"");
    let description = match (acr_values.is_empty(), max_age) {
        (false, None) => "A different authentication level is required",
        (true, _) => "More recent authentication is required",
        (false, Some(_)) => {
            "A different authentication level and more recent authentication are required"
        }
    };
    let mut text = format!(
        "Bearer error=\"insufficient_user_authentication\", error_description=\"{description}\""
    );
    if !acr_values.is_empty() {
        text.push_str(&format!(", acr_values=\"{}\"", acr_values.join(" ")));
    }
    if let Some(max_age) = max_age {
        text.push_str(&format!(", max_age=\"{max_age}\""));
    }
    // The values are visible ASCII without quotes or backslashes (checked
    // when built), so the text is a valid header value; the fallback is
    // unreachable.
    HeaderValue::try_from(text).unwrap_or(BARE)
}

impl fmt::Debug for StepUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StepUp")
            .field("acr_values", &self.0.acr_values)
            .field("max_age", &self.0.max_age)
            .finish()
    }
}
