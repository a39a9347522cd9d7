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
}

#[derive(Serialize)]
struct AccessClaims<'a> {
    sub: &'a str,
    iat: u64,
    exp: u64,
    scope: &'static str,
    jti: &'a str,
    /// The refresh-token family (one login) the token was issued from, so
    /// that revoking the family reaches its access tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a Audience>,
}

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
        self.access_with(sub, None, now)
    }

    /// Issues an access token for `sub` at `now` from the refresh-token
    /// family `sid`, named in its `sid` claim: revoking the family
    /// ([`RevocationList::revoke_family`](crate::RevocationList::revoke_family))
    /// revokes the token.
    ///
    /// # Errors
    ///
    /// [`SignError`] if signing fails.
    pub fn access_in_family(
        &self,
        sub: &str,
        sid: &str,
        now: u64,
    ) -> Result<IssuedAccess, SignError> {
        self.access_with(sub, Some(sid), now)
    }

    fn access_with(
        &self,
        sub: &str,
        sid: Option<&str>,
        now: u64,
    ) -> Result<IssuedAccess, SignError> {
        let jti = random_id();
        let exp = now.saturating_add(self.access_ttl.as_secs());
        let token = self.key.sign(&AccessClaims {
            sub,
            iat: now,
            exp,
            scope: ACCESS_TOKEN,
            jti: &jti,
            sid,
            iss: self.issuer.as_deref(),
            aud: self.audience.as_ref(),
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
        self.key.sign(&RefreshClaims {
            sub: sub.to_owned(),
            iat: now,
            exp,
            scope: REFRESH_TOKEN.to_owned(),
            jti: jti.to_owned(),
            fam: fam.to_owned(),
        })
    }
}

/// A random 128-bit id, base64url.
pub fn random_id() -> String {
    let bytes: [u8; 16] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}
