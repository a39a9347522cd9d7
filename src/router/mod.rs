//! The mountable auth router: signup, login, refresh with rotation, logout.
//!
//! | Route | Success | Failures |
//! |---|---|---|
//! | `POST /signup` `{username, password}` | 201 `{"username"}` | 409, 422, 429 |
//! | `POST /login` `{username, password}` | 200 tokens, `Cache-Control: no-store` | 401 `Invalid username or password`, 429 |
//! | `GET /refresh_token` (refresh token as bearer) | 200 tokens | 401 |
//! | `POST /refresh` `{refresh_token}` | 200 tokens | 401 |
//! | `POST /logout` (token as bearer and/or `{refresh_token}`) | 204 | 401 |
//! | `GET /.well-known/jwks.json` (asymmetric keys only) | 200 JWKS | — |
//!
//! With [`AuthBuilder::dpop`], login and refresh bind tokens to the key of a
//! `DPoP` proof that comes along (RFC 9449 §5), and [`Auth::layer`] accepts
//! them; see [`AuthBuilder::dpop`].
//! With [`AuthBuilder::cookies`], login and refresh set the tokens as
//! `HttpOnly` cookies and refresh and logout read them, behind a CSRF check
//! (see [`CookieConfig`]). With [`AuthBuilder::access_claims`], access
//! tokens carry claims chosen from the user's stored attributes, read again
//! at every refresh.
//!
//! Refresh tokens are single-use and rotate; presenting a used one revokes
//! its whole family (RFC 9700 §4.14.2). A family expires a fixed time after
//! login. Usernames are compared exactly as sent: no case folding or Unicode
//! normalisation, so `Alice` and `alice` are two accounts.

mod body;
mod cookies;
mod dpop;
mod error;
mod handlers;
mod limit_store;
mod log_limit;
#[cfg(feature = "openapi")]
mod openapi;
mod revoke;
mod throttle;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

pub use cookies::{CookieConfig, SameSite};
pub use error::{AuthError, ErrorBody};
pub use handlers::{Credentials, RefreshRequest, SignupResponse, TokenResponse};
pub use limit_store::LimitStore;
#[cfg(feature = "openapi")]
pub use openapi::{ApiDoc, BEARER, BearerRejections, DPOP, DPOP_PROOF, REFRESH_BEARER};
pub use throttle::{LoginThrottle, RateLimit};

use crate::claims::REFRESH_TOKEN;
use crate::dpop::{Dpop, DpopVerifier};
use crate::error::BuildError;
use crate::issuer::TokenIssuer;
use crate::key::{KeyRing, KeySet};
use crate::layer::{JwtAuthLayer, JwtAuthLayerBuilder};
use crate::password::{BCRYPT_MAX_PASSWORD_LEN, DEFAULT_BCRYPT_COST, PasswordHasher};
use crate::revocation::{Replica, RevocationBackend, RevocationList};
use crate::store::{Attributes, RefreshTokenStore, User, UserStore};
use crate::validator::{Validation, Validator};

/// The default request-body limit of the auth routes: 16 KiB.
pub const DEFAULT_BODY_LIMIT: usize = 16 * 1024;

/// The default of [`AuthBuilder::hold_refusals`]: a quarter of the one
/// second that the 503's `Retry-After` asks for.
pub const DEFAULT_HOLD_REFUSALS: Duration = Duration::from_millis(250);

/// The auth service: store, issuer, validators, hasher and revocation list.
/// Build it with [`Auth::builder`], then mount [`Auth::router`] and protect
/// your routes with [`Auth::layer`] (or a layer configured from
/// [`Auth::layer_builder`]).
pub struct Auth<S> {
    pub(crate) store: S,
    pub(crate) issuer: TokenIssuer,
    /// The keys and rules of access tokens, from which every layer starts.
    keys: KeyRing,
    access_rules: Validation,
    /// The layer [`Auth::layer`] hands out; its validator checks the access
    /// tokens that logout revokes.
    layer: JwtAuthLayer,
    pub(crate) refresh_validator: Validator,
    pub(crate) hasher: PasswordHasher,
    pub(crate) revoked: Arc<RevocationList>,
    /// The hook every layer keeps: the replica over `revoked`.
    replica: Arc<Replica>,
    /// Where revocations are shared with other instances, if anywhere.
    backend: Option<revoke::Backend>,
    leeway: Duration,
    pub(crate) min_password: usize,
    pub(crate) max_password: usize,
    pub(crate) max_username: usize,
    pub(crate) body_limit: usize,
    pub(crate) throttle: throttle::Throttle,
    pub(crate) hold_refusals: Duration,
    /// The DPoP configuration of every layer over this service's tokens.
    dpop: Option<Dpop>,
    /// The proof checks of login and refresh, with their own replay cache.
    pub(crate) token_dpop: Option<DpopVerifier>,
    /// The cookie mode, when on.
    pub(crate) cookies: Option<CookieConfig>,
    /// Chooses the extra claims of access tokens from the user.
    access_claims: Option<AccessClaimsHook>,
}

/// See [`AuthBuilder::access_claims`].
type AccessClaimsHook = Arc<dyn Fn(&User) -> Attributes + Send + Sync>;

impl<S> std::fmt::Debug for Auth<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("issuer", &self.issuer)
            .field("bcrypt_cost", &self.hasher.cost())
            .finish_non_exhaustive()
    }
}

/// Builds an [`Auth`].
#[must_use]
pub struct AuthBuilder<S> {
    store: S,
    issuer: TokenIssuer,
    extra_keys: Vec<crate::key::Key>,
    hasher: Option<PasswordHasher>,
    bcrypt_cost: u32,
    password_len: (usize, usize),
    max_username: usize,
    body_limit: usize,
    leeway: Duration,
    throttle: LoginThrottle,
    hold_refusals: Duration,
    dpop: Option<Dpop>,
    cookies: Option<CookieConfig>,
    access_claims: Option<AccessClaimsHook>,
    replica: Option<Arc<Replica>>,
    backend: Option<revoke::Backend>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for AuthBuilder<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthBuilder")
            .field("store", &self.store)
            .field("issuer", &self.issuer)
            .field("bcrypt_cost", &self.bcrypt_cost)
            .field("dpop", &self.dpop)
            .field("cookies", &self.cookies)
            .field("access_claims", &self.access_claims.is_some())
            .finish_non_exhaustive()
    }
}

impl<S: UserStore + RefreshTokenStore> Auth<S> {
    /// Starts an auth service that signs with `issuer` and keeps users and
    /// refresh-token families in `store`.
    ///
    /// The store implements both store traits; every store of
    /// [`store`](crate::store) does. To keep users and families apart, give
    /// a type of your own that implements each trait by delegating.
    pub fn builder(issuer: TokenIssuer, store: S) -> AuthBuilder<S> {
        AuthBuilder {
            store,
            issuer,
            extra_keys: Vec::new(),
            hasher: None,
            bcrypt_cost: DEFAULT_BCRYPT_COST,
            password_len: (8, BCRYPT_MAX_PASSWORD_LEN),
            max_username: 64,
            body_limit: DEFAULT_BODY_LIMIT,
            leeway: crate::validator::DEFAULT_LEEWAY,
            throttle: LoginThrottle::default(),
            hold_refusals: DEFAULT_HOLD_REFUSALS,
            dpop: None,
            cookies: None,
            access_claims: None,
            replica: None,
            backend: None,
        }
    }

    /// The routes, with their state applied: mount them with `merge` or
    /// `nest`.
    pub fn router(self: &Arc<Self>) -> Router {
        let mut router = Router::new()
            .route("/signup", post(handlers::signup::<S>))
            .route("/refresh_token", get(handlers::refresh_from_header::<S>));
        router = if self.cookies.is_some() {
            router
                .route("/login", post(cookies::login::<S>))
                .route("/refresh", post(cookies::refresh::<S>))
                .route("/logout", post(cookies::logout::<S>))
        } else {
            router
                .route("/login", post(handlers::login::<S>))
                .route("/refresh", post(handlers::refresh_from_body::<S>))
                .route("/logout", post(handlers::logout::<S>))
        };
        if self.issuer.key().public_jwk().is_some() {
            router = router.route("/.well-known/jwks.json", get(handlers::jwks::<S>));
        }
        router
            .layer(DefaultBodyLimit::max(self.body_limit))
            .with_state(Arc::clone(self))
    }
}

impl<S> Auth<S> {
    /// A [`JwtAuthLayer`] accepting this service's access tokens, refusing
    /// those that logout revoked, with the defaults of
    /// [`JwtAuthLayer::builder`]. Every call hands out the same layer, with
    /// one verified-token cache.
    pub fn layer(&self) -> JwtAuthLayer {
        self.layer.clone()
    }

    /// A layer builder that starts from this service's keys, access-token
    /// rules and revocation list, with every option of
    /// [`JwtAuthLayer::builder`]: token sources, optional mode, claims type,
    /// rejection format, cache, more issuers.
    ///
    /// The hook that logout feeds stays whatever else is set:
    /// [`JwtAuthLayerBuilder::revocation`](crate::layer::JwtAuthLayerBuilder::revocation)
    /// adds hooks, it replaces none. With [`AuthBuilder::dpop`], the builder
    /// starts with that DPoP configuration (each layer built has its own
    /// replay cache).
    ///
    /// In cookie mode ([`AuthBuilder::cookies`]) it also reads the access
    /// cookie, with the cookie mode's CSRF policy.
    pub fn layer_builder(&self) -> JwtAuthLayerBuilder {
        layer_builder(
            &self.keys,
            &self.access_rules,
            &self.replica,
            self.dpop.as_ref(),
            self.cookies.as_ref(),
        )
    }

    /// The cookie mode's configuration, when it is on.
    pub fn cookie_config(&self) -> Option<&CookieConfig> {
        self.cookies.as_ref()
    }

    /// The extra claims of `user`'s access tokens: what the hook of
    /// [`AuthBuilder::access_claims`] chooses, none without one.
    pub(crate) fn access_claims(&self, user: &User) -> Attributes {
        self.access_claims
            .as_ref()
            .map_or_else(Attributes::new, |hook| hook(user))
    }

    /// The access-token validator (the one [`Auth::layer`] uses).
    pub fn access_validator(&self) -> &Validator {
        self.layer.validator()
    }

    /// The revocation list that logout feeds.
    pub fn revocation_list(&self) -> &Arc<RevocationList> {
        &self.revoked
    }

    /// The replica every layer of this service reads: local, or kept in
    /// step with the backend of [`AuthBuilder::shared_revocation`].
    pub fn replica(&self) -> &Arc<Replica> {
        &self.replica
    }

    /// The password hasher.
    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }
}

/// The one way every layer over an [`Auth`]'s tokens starts.
fn layer_builder(
    keys: &KeyRing,
    rules: &Validation,
    replica: &Arc<Replica>,
    dpop: Option<&Dpop>,
    cookies: Option<&CookieConfig>,
) -> JwtAuthLayerBuilder {
    let builder = JwtAuthLayer::builder(keys.clone())
        .validation(rules.clone())
        .revocation(replica.clone());
    let builder = match dpop {
        Some(dpop) => builder.dpop(dpop.clone()),
        None => builder,
    };
    match cookies {
        Some(config) => builder
            .cookie(config.access_cookie_name())
            .csrf(config.csrf_policy().clone()),
        None => builder,
    }
}

impl<S: UserStore + RefreshTokenStore> AuthBuilder<S> {
    /// The bcrypt cost (default 12; tests may use 4): within
    /// [`BCRYPT_COSTS`](crate::password::BCRYPT_COSTS), or
    /// [`AuthBuilder::build`] fails.
    pub fn bcrypt_cost(mut self, cost: u32) -> Self {
        self.bcrypt_cost = cost;
        self
    }

    /// A ready-made hasher (for its worker and queue sizes).
    pub fn hasher(mut self, hasher: PasswordHasher) -> Self {
        self.hasher = Some(hasher);
        self
    }

    /// Password length bounds in bytes (default 8..=72): `min` at least 1,
    /// `max` at least `min` and at most bcrypt's 72 bytes. Other bounds make
    /// [`AuthBuilder::build`] fail.
    pub fn password_len(mut self, min: usize, max: usize) -> Self {
        self.password_len = (min, max);
        self
    }

    /// The request-body limit (default 16 KiB).
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Clock-skew leeway for validation (default 5 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Login throttling per username and per client address (default:
    /// [`LoginThrottle::default`], whose docs state the policy).
    pub fn login_throttle(mut self, throttle: LoginThrottle) -> Self {
        self.throttle = throttle;
        self
    }

    /// How long `/signup` and `/login` hold an answer that tells the client
    /// to wait (503 while password hashing is saturated, 429 when
    /// throttled) before sending it: between one and two times `hold`, at
    /// random (default [`DEFAULT_HOLD_REFUSALS`]; zero sends it at once).
    ///
    /// A client that ignores `Retry-After` and asks again at once is then
    /// slowed to one attempt per hold on each connection, instead of
    /// turning the refusals into a flood that takes the CPU from every
    /// other route; the randomness keeps clients refused together from
    /// all coming back together. A held answer costs a timer, no CPU.
    pub fn hold_refusals(mut self, hold: Duration) -> Self {
        self.hold_refusals = hold;
        self
    }

    /// DPoP (RFC 9449): login and refresh bind tokens to the key of a
    /// `DPoP` proof that comes along, and the layers of [`Auth::layer`] and
    /// [`Auth::layer_builder`] accept those tokens with proofs by that key.
    ///
    /// `dpop`'s base URL is where clients reach the app (see [the base
    /// URL](crate::dpop#the-base-url)): a proof at login names
    /// `<base>/login` (with the prefix the router is nested under, which
    /// the router reads from axum's `OriginalUri`). Its algorithms, ages,
    /// nonces and replay capacity apply to the token endpoints as to the
    /// layers; the token endpoints keep their own replay cache. A proof
    /// there has no `ath` (no access token comes along), and enters the
    /// replay cache once the password or the refresh token verified.
    ///
    /// A request without a proof gets bearer tokens as before, unless
    /// [`Dpop::required`]: then login and refresh refuse it (401
    /// `invalid_dpop_proof`), and the layers refuse bearer tokens. A
    /// refresh token bound to a key needs a proof by that key, whatever
    /// the setting: 401 `invalid_dpop_proof` without one or with another
    /// key's. The family's binding travels in its refresh tokens' `cnf`
    /// claim; the store is not involved (see the router's `dpop` module).
    pub fn dpop(mut self, dpop: Dpop) -> Self {
        self.dpop = Some(dpop);
        self
    }

    /// Chooses, from the user as the store returns it, the extra claims of
    /// the user's access tokens, for example roles from
    /// [`User::attributes`]. Login and refresh both call it, and refresh
    /// reads the user from the store again first: a role removed with
    /// [`UserStore::set_attributes`] is gone from the next refreshed token,
    /// and the refresh of a user no longer in the store fails (401).
    ///
    /// The hook cannot override what the issuer sets: claims named in
    /// [`RESERVED_CLAIMS`](crate::issuer::RESERVED_CLAIMS) (`sub`, `exp`, `iat`,
    /// `jti`, `scope`, `iss`, `aud`, `cnf`, …) are dropped and logged by
    /// name. It runs on the async executor: keep it to picking and copying.
    ///
    /// ```
    /// # use tower_jwt_auth::{Algorithm, Auth, SigningKey, TokenIssuer, store::MemoryStore};
    /// # let issuer = TokenIssuer::new(SigningKey::hmac(Algorithm::HS256, b"a secret of at least thirty-two bytes!!")?);
    /// let auth = Auth::builder(issuer, MemoryStore::new())
    ///     .access_claims(|user| {
    ///         user.attributes
    ///             .iter()
    ///             .filter(|(name, _)| name.as_str() == "roles")
    ///             .map(|(name, value)| (name.clone(), value.clone()))
    ///             .collect()
    ///     })
    ///     .build()?;
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// ```
    pub fn access_claims<F>(mut self, hook: F) -> Self
    where
        F: Fn(&User) -> Attributes + Send + Sync + 'static,
    {
        self.access_claims = Some(Arc::new(hook));
        self
    }

    /// Turns on the cookie mode for browser apps: login and refresh set the
    /// tokens as `HttpOnly` cookies, refresh and logout read them, logout
    /// clears them, the layers of [`Auth`] read the access cookie, and
    /// every unsafe request a cookie authenticates must pass the CSRF check
    /// of [`csrf`](crate::csrf). See [`CookieConfig`].
    pub fn cookies(mut self, config: CookieConfig) -> Self {
        self.cookies = Some(config);
        self
    }

    /// Shares revocations with other instances: logout and refresh-token
    /// reuse record each revocation in `backend` (answering 503 when it
    /// does not acknowledge), and every layer reads `replica`, which the
    /// application keeps in step with `backend` by
    /// [`Replica::sync`] (holding the returned task as long as the
    /// router). Without this, revocations stay in this process.
    pub fn shared_revocation<B: RevocationBackend>(
        mut self,
        replica: Arc<Replica>,
        backend: Arc<B>,
    ) -> Self {
        self.replica = Some(replica);
        self.backend = Some(revoke::Backend(backend));
        self
    }

    /// Also accepts tokens verified by `key` (for example the previous
    /// signing key during a rotation).
    pub fn accept_key(mut self, key: crate::key::Key) -> Self {
        self.extra_keys.push(key);
        self
    }

    /// Builds the service.
    ///
    /// # Errors
    ///
    /// [`BuildError::BcryptCost`] for a bcrypt cost outside 4..=31,
    /// [`BuildError::PasswordBounds`] for password bounds that
    /// [`AuthBuilder::password_len`] refuses, the DPoP errors of
    /// [`JwtAuthLayerBuilder::build`] for a [`Dpop`] it refuses,
    /// [`BuildError::Cookies`] for a [`CookieConfig`] with bad names or paths.
    pub fn build(self) -> Result<Arc<Auth<S>>, BuildError> {
        let (min_password, max_password) = self.password_len;
        if min_password == 0
            || max_password < min_password
            || max_password > BCRYPT_MAX_PASSWORD_LEN
        {
            return Err(BuildError::PasswordBounds {
                min: min_password,
                max: max_password,
            });
        }
        let hasher = match self.hasher {
            Some(hasher) => hasher,
            None => PasswordHasher::with_cost(self.bcrypt_cost)?,
        };
        let mut keys = KeySet::new([self.issuer.key().verifying_key().clone()]);
        for key in self.extra_keys {
            keys = keys.with(key);
        }
        let keys = KeyRing::new(keys);
        let mut access_rules = Validation::new().leeway(self.leeway);
        if let Some(iss) = self.issuer.issuer_name() {
            access_rules = access_rules.issuers([iss]);
        }
        if let Some(aud) = self.issuer.audience_value() {
            let list = match aud {
                crate::claims::Audience::One(one) => vec![one.clone()],
                crate::claims::Audience::Many(many) => many.clone(),
            };
            access_rules = access_rules.audiences(list);
        }
        if let Some(cookies) = &self.cookies {
            cookies.validate()?;
        }
        let replica = self.replica.unwrap_or_else(|| Arc::new(Replica::new()));
        let revoked = replica.list().clone();
        let layer = layer_builder(
            &keys,
            &access_rules,
            &replica,
            self.dpop.as_ref(),
            self.cookies.as_ref(),
        )
        .build()?;
        let token_dpop = self.dpop.clone().map(Dpop::build).transpose()?;
        let refresh_rules = Validation::new()
            .leeway(self.leeway)
            .token_type("scope", REFRESH_TOKEN);
        let refresh_validator = Validator::new(keys.clone(), refresh_rules)?;
        Ok(Arc::new(Auth {
            store: self.store,
            issuer: self.issuer,
            keys,
            access_rules,
            layer,
            refresh_validator,
            hasher,
            revoked,
            replica,
            backend: self.backend,
            leeway: self.leeway,
            min_password,
            max_password,
            max_username: self.max_username,
            body_limit: self.body_limit,
            throttle: self.throttle.build(),
            hold_refusals: self.hold_refusals,
            dpop: self.dpop,
            token_dpop,
            cookies: self.cookies,
            access_claims: self.access_claims,
        }))
    }
}
