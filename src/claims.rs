//! The ready-made claims type and the registered-claims view.

mod numeric_date;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use numeric_date::optional_numeric_date;
pub(crate) use numeric_date::{NumericDate, numeric_date};

/// The token-type claim value of access tokens (the tutorial's `scope`).
pub const ACCESS_TOKEN: &str = "access_token";
/// The token-type claim value of refresh tokens.
pub const REFRESH_TOKEN: &str = "refresh_token";

/// Standard JWT claims, in the tutorial's format plus the registered claims
/// of RFC 7519 §4.1.
///
/// `sub` and `exp` are required; the rest are optional. Use your own type
/// (anything `DeserializeOwned + Clone + Send + Sync`) with
/// [`JwtAuthLayerBuilder::claims`](crate::layer::JwtAuthLayerBuilder::claims) when
/// you need more.
///
/// The validator reads this type in the same JSON pass as the registered
/// claims it checks; another claims type costs a second pass over the
/// payload (about a fifth of an uncached HS256 validation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Subject: the user the token was issued to.
    pub sub: String,
    /// Expiry, seconds since the epoch. Dates may be fractional in a token
    /// (RFC 7519 §2); they are rounded to the nearest second, the same rule
    /// by which the validator checks them.
    #[serde(deserialize_with = "numeric_date")]
    pub exp: u64,
    /// Issued-at, seconds since the epoch.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "optional_numeric_date"
    )]
    pub iat: Option<u64>,
    /// Not-before, seconds since the epoch.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "optional_numeric_date"
    )]
    pub nbf: Option<u64>,
    /// Issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Audience: one string or a list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
    /// Unique token id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// In the tutorial's tokens, the token type: [`ACCESS_TOKEN`] or
    /// [`REFRESH_TOKEN`]. In an identity provider's access tokens, the OAuth
    /// scopes, space-separated (RFC 9068 §2.2.3); read them with
    /// [`Claims::scopes`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Authentication context class reference (OpenID Connect Core §2): how
    /// the user authenticated, for [`StepUp`](crate::authorize::StepUp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// When the user authenticated, seconds since the epoch (OpenID Connect
    /// Core §2), for [`StepUp`](crate::authorize::StepUp); read as `iat` is.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "optional_numeric_date"
    )]
    pub auth_time: Option<u64>,
}

impl Claims {
    /// The OAuth scopes of the `scope` claim, as a set: its space-separated
    /// names (RFC 6749 §3.3), without duplicates or empty names.
    pub fn scopes(&self) -> BTreeSet<&str> {
        self.scope
            .as_deref()
            .unwrap_or_default()
            .split(' ')
            .filter(|scope| !scope.is_empty())
            .collect()
    }

    /// Whether the `scope` claim names `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope
            .as_deref()
            .is_some_and(|all| all.split(' ').any(|name| name == scope))
    }
}

/// The `aud` claim: a single string or an array of strings (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// One audience.
    One(String),
    /// Several audiences.
    Many(Vec<String>),
}

impl Audience {
    /// Whether `name` is among the audiences.
    pub fn contains(&self, name: &str) -> bool {
        match self {
            Self::One(one) => one == name,
            Self::Many(many) => many.iter().any(|aud| aud == name),
        }
    }
}
