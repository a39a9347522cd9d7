//! Issuing access and refresh tokens.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::claims::{ACCESS_TOKEN, Audience, REFRESH_TOKEN};
use crate::signing::{SignError, SigningKey};

/// The default access-token lifetime: 30 minutes.
pub const DEFAULT_ACCESS_TTL: Duration = Duration::from_secs(30 * 60);
/// The default refresh-token family lifetime: 10 hours.
pub const DEFAULT_REFRESH_TTL: Duration = Duration::from_secs(10 * 60 * 60);

/// The claims of a refresh token: the tutorial's, plus `jti` (this token) and
/// `fam` (its family, one per login).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshClaims {
    /// The user.
    pub sub: String,
    /// Issued at.
    pub iat: u64,
    /// Expiry: the family's fixed expiry.
    pub exp: u64,
    /// Always `refresh_token`.
    pub scope: String,
    /// This token's id.
    pub jti: String,
    /// The family id.
    pub fam: String,
    /// The DPoP key the family is bound to (RFC 9449 §5), carried from
    /// token to token: a refresh must come with a proof by this key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

/// A `cnf` claim (RFC 7800) naming a DPoP key by its RFC 7638 thumbprint
/// (RFC 9449 §6.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// The thumbprint.
    pub jkt: String,
}

#[derive(Serialize)]
struct AccessClaims<'a> {
    sub: &'a str,
    iat: u64,
    exp: u64,
    scope: &'static str,
    jti: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a Audience>,
    /// The extra claims, registered names already dropped.
    #[serde(flatten)]
    extra: &'a serde_json::Map<String, serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<Cnf<'a>>,
}

#[derive(Serialize)]
struct Cnf<'a> {
    jkt: &'a str,
}

/// The claims that [`TokenIssuer::access_with`] never takes from extra
/// claims: the registered claims of RFC 7519 §4.1, `scope` (the token
/// type, and OAuth scopes), `cnf` (RFC 7800, DPoP's key binding), `fam`
/// (the refresh family), `typ`, and the RFC 9068 claims `client_id` and
/// `auth_time`.
pub const RESERVED_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "scope",
    "cnf",
    "fam",
    "typ",
    "client_id",
    "auth_time",
];

/// A freshly issued access token. `Debug` does not show the token.
#[derive(Clone)]
#[non_exhaustive]
pub struct IssuedAccess {
    /// The compact JWS.
    pub token: String,
    /// Its `jti`.
    pub jti: String,
    /// Its `exp`.
    pub exp: u64,
}

impl std::fmt::Debug for IssuedAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedAccess")
            .field("token", &"[redacted]")
            .field("jti", &self.jti)
            .field("exp", &self.exp)
            .finish()
    }
}

/// Signs access and refresh tokens with one key and fixed lifetimes.
#[derive(Debug)]
pub struct TokenIssuer {
    key: SigningKey,
    access_ttl: Duration,
    refresh_ttl: Duration,
    issuer: Option<String>,
    audience: Option<Audience>,
}

impl TokenIssuer {
    /// An issuer with the default lifetimes (30 min, 10 h).
    pub fn new(key: SigningKey) -> Self {
        Self {
            key,
            access_ttl: DEFAULT_ACCESS_TTL,
            refresh_ttl: DEFAULT_REFRESH_TTL,
            issuer: None,
            audience: None,
        }
    }

    /// Sets the access-token lifetime.
    #[must_use]
    pub fn access_ttl(mut self, ttl: Duration) -> Self {
        self.access_ttl = ttl;
        self
    }

    /// Sets the refresh-token family lifetime.
    #[must_use]
    pub fn refresh_ttl(mut self, ttl: Duration) -> Self {
        self.refresh_ttl = ttl;
        self
    }

    /// Adds `iss` to access tokens.
    #[must_use]
    pub fn issuer(mut self, iss: impl Into<String>) -> Self {
        self.issuer = Some(iss.into());
        self
    }

    /// Adds `aud` to access tokens.
    #[must_use]
    pub fn audience(mut self, aud: Audience) -> Self {
        self.audience = Some(aud);
        self
    }

    /// The signing key.
    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// The access-token lifetime.
    pub fn access_lifetime(&self) -> Duration {
        self.access_ttl
    }

    /// The refresh-token family lifetime.
    pub fn refresh_lifetime(&self) -> Duration {
        self.refresh_ttl
    }

    /// The configured issuer, if any.
    pub fn issuer_name(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// The configured audience, if any.
    pub fn audience_value(&self) -> Option<&Audience> {
        self.audience.as_ref()
    }

    /// Issues an access token for `sub` at `now`.
    ///
    /// # Errors
    ///
    /// [`SignError`] if signing fails.
    pub fn access(&self, sub: &str, now: u64) -> Result<IssuedAccess, SignError> {
        self.access_with(sub, &serde_json::Map::new(), now)
    }

    /// Issues an access token for `sub` at `now`, bound with `cnf.jkt` to
    /// the DPoP key of thumbprint `jkt` when one is given.
    ///
    /// # Errors
    ///
    /// [`SignError`] if signing fails.
    pub fn access_bound(
        &self,
        sub: &str,
        now: u64,
        jkt: Option<&str>,
    ) -> Result<IssuedAccess, SignError> {
        self.access_with_bound(sub, &serde_json::Map::new(), now, jkt)
    }

    /// Issues an access token for `sub` at `now` that also carries `extra`
    /// claims (for example `{"roles": ["admin"]}`).
    ///
    /// Extra claims cannot override what the issuer sets: a name of
    /// [`RESERVED_CLAIMS`] is dropped (and logged, by name only), so a
    /// user attribute named `sub` or `exp` never reaches a token.
    ///
    /// # Errors
    ///
    /// [`SignError`] if signing fails.
    pub fn access_with(
        &self,
        sub: &str,
        extra: &serde_json::Map<String, serde_json::Value>,
        now: u64,
    ) -> Result<IssuedAccess, SignError> {
        self.access_with_bound(sub, extra, now, None)
    }

    /// Issues an access token for `sub` at `now` with `extra` claims (as
    /// [`TokenIssuer::access_with`]), bound to the DPoP key of thumbprint
    /// `jkt` when one is given (as [`TokenIssuer::access_bound`]).
    ///
    /// # Errors
    ///
    /// [`SignError`] if signing fails.
    pub fn access_with_bound(
        &self,
        sub: &str,
        extra: &serde_json::Map<String, serde_json::Value>,
        now: u64,
        jkt: Option<&str>,
    ) -> Result<IssuedAccess, SignError> {
        let filtered;
        let extra = if extra
            .keys()
            .any(|name| RESERVED_CLAIMS.contains(&name.as_str()))
        {
            filtered = extra
                .iter()
                .filter(|(name, _)| {
                    let reserved = RESERVED_CLAIMS.contains(&name.as_str());
                    if reserved {
                        tracing::warn!(claim = %name, "a reserved claim was left out of the extra claims");
                    }
                    !reserved
                })
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect();
            &filtered
        } else {
            extra
        };
        let jti = random_id();
        let exp = now.saturating_add(self.access_ttl.as_secs());
        let token = self.key.sign(&AccessClaims {
            sub,
            iat: now,
            exp,
            scope: ACCESS_TOKEN,
            jti: &jti,
            iss: self.issuer.as_deref(),
            aud: self.audience.as_ref(),
            extra,
            cnf: jkt.map(|jkt| Cnf { jkt }),
        })?;
        Ok(IssuedAccess { token, jti, exp })
    }

    /// Issues a refresh token of family `fam` with id `jti`, expiring at the
    /// family's `exp`.
    ///
    /// # Errors
    ///
    /// [`SignError`] if signing fails.
    pub fn refresh(
        &self,
        sub: &str,
        fam: &str,
        jti: &str,
        now: u64,
        exp: u64,
    ) -> Result<String, SignError> {
        self.refresh_bound(sub, fam, jti, now, exp, None)
    }

    /// Issues a refresh token as [`TokenIssuer::refresh`] does, bound with
    /// `cnf.jkt` to the DPoP key of thumbprint `jkt` when one is given.
    ///
    /// # Errors
    ///
    /// [`SignError`] if signing fails.
    pub fn refresh_bound(
        &self,
        sub: &str,
        fam: &str,
        jti: &str,
        now: u64,
        exp: u64,
        jkt: Option<&str>,
    ) -> Result<String, SignError> {
        self.key.sign(&RefreshClaims {
            sub: sub.to_owned(),
            iat: now,
            exp,
            scope: REFRESH_TOKEN.to_owned(),
            jti: jti.to_owned(),
            fam: fam.to_owned(),
            cnf: jkt.map(|jkt| Confirmation {
                jkt: jkt.to_owned(),
            }),
        })
    }
}

/// A random 128-bit id, base64url.
pub fn random_id() -> String {
    let bytes: [u8; 16] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::Algorithm;

    fn payload(token: &str) -> Value {
        let part = token.split('.').nth(1).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn extra_claims_join_the_token_but_never_override_reserved_ones() {
        let key =
            SigningKey::hmac(Algorithm::HS256, b"a secret of at least thirty-two bytes!!").unwrap();
        let issuer = TokenIssuer::new(key).issuer("me");
        let Value::Object(extra) = json!({
            "roles": ["admin"],
            "sub": "mallory", "exp": 1, "iat": 1, "jti": "x", "scope": "refresh_token",
            "iss": "evil", "aud": "evil", "cnf": {"jkt": "x"}, "nbf": 9_999_999_999_u64,
        }) else {
            unreachable!()
        };
        let issued = issuer.access_with("alice", &extra, 1_000).unwrap();
        let claims = payload(&issued.token);
        assert_eq!(
            claims,
            json!({
                "sub": "alice", "iat": 1_000, "exp": 1_000 + DEFAULT_ACCESS_TTL.as_secs(),
                "scope": "access_token", "jti": issued.jti, "iss": "me", "roles": ["admin"],
            })
        );
        // Without extra claims, the token is as before.
        let plain = payload(&issuer.access("alice", 1_000).unwrap().token);
        assert!(plain.get("roles").is_none());
    }
}
