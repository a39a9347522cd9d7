//! The FastAPI tutorial's app ("Get started with FastAPI JWT authentication"), in Rust,
//! with the tutorial's paths and response shapes and without its flaws.
//!
//! ```sh
//! cargo run -p tower-jwt-auth-tutorial
//! ```
//!
//! The app is a library (this crate, `tutorial`) with a small binary (`server`, in
//! `src/main.rs`): the tests build the app in process through [`app`] and
//! [`config_from`], and start the binary when they need a real process.
//!
//! `/docs` serves Swagger UI (from the binary, nothing fetched) over the generated
//! OpenAPI 3.1 document at `/openapi.json`.
//!
//! Configuration, from the environment:
//! - `APP_SECRET_STRING`: the HS256 secret, at least 32 bytes. Unset: a random secret
//!   (tokens then die with the process). Shorter than 32 bytes: the server refuses to start.
//! - `DATABASE_URL`: `sqlite://auth.db` by default (created on first run);
//!   `postgres://…` selects PostgreSQL.
//! - `HOST`, `PORT`: 127.0.0.1 and 8000 by default.
//! - `PUBLIC_URL`: where clients reach the server, `http://HOST:PORT` by default (the port
//!   the server got, with `PORT=0`); set it behind a proxy (`https://api.example.com`). DPoP proofs (RFC 9449) name URLs under it:
//!   `/login` and the refreshes bind tokens to the key of a `DPoP` proof that comes along,
//!   and `/secret` takes such tokens as `Authorization: DPoP <token>` with a fresh proof
//!   (bearer tokens keep working).
//! - `ACCESS_TOKEN_MINUTES` (30), `REFRESH_TOKEN_HOURS` (10), `BCRYPT_COST` (12).
//! - `TRUSTED_PROXY`: comma-separated addresses of reverse proxies whose `X-Forwarded-For`
//!   names the client for login throttling (default: none, the peer address counts).
//! - `LOGIN_THROTTLE`: `off` turns login and signup throttling off (default `on`; the load
//!   test turns it off to measure the bcrypt queue itself). With a shared backend (below) the
//!   limits are counted there, across every instance.
//! - `ADMIN_USERS`: comma-separated usernames whose access tokens carry the role `admin`
//!   (`"roles": ["admin"]`), which `GET /admin` and `GET /admin/cache` (the hits, misses and
//!   entries of `/secret`'s verified-token cache) require. Roles stored in a user's
//!   attributes (`{"roles": [...]}`, see `UserStore::set_attributes`) are carried too, and
//!   read again at every refresh.
//! - `AUTH_COOKIES`: `on` serves the auth routes at `/auth/...` in cookie mode, for browser
//!   apps: `/auth/login` and `/auth/refresh` set the tokens as `HttpOnly`, `SameSite=Strict`
//!   cookies (the refresh cookie with `Path=/auth`), `/auth/logout` clears them, `/secret`
//!   and `/admin` read the access cookie, and unsafe requests that a cookie authenticates must
//!   come from the app's own origin (`Sec-Fetch-Site`/`Origin`). Default `off`.
//! - `COOKIE_SECURE`: `off` drops the cookies' `Secure` attribute, for plain-HTTP
//!   development (default `on`: browsers then keep the cookies only over HTTPS, or on
//!   `localhost`).
//! - `REDIS_URL`, `REDIS_PREFIX`, `REVOCATION_MAX_STALENESS`, `REVOCATION_SERVE_STALE`:
//!   revocation, login limits and the DPoP replay cache shared between several processes,
//!   see [`revocation`].
//! - `RUST_LOG`: log filter (default `info`). Logs carry ANSI colours only when stdout is
//!   a terminal and `NO_COLOR` is unset.
//!
//! Serving limits (see [`serving`]; seconds may be fractional, e.g. `0.5`):
//! - `HEADER_READ_TIMEOUT` (10): seconds a client may take to send a request head; hyper
//!   runs the same timer while a keep-alive connection waits idle for its next request, so
//!   it is the idle limit too.
//! - `REQUEST_TIMEOUT` (30): seconds one request may take; then 503 with a JSON `detail`.
//! - `MAX_CONNECTIONS` (10000): open connections at most; more clients wait in the listen
//!   backlog. `accept` errors (out of descriptors) back off 10–100 ms and log once a streak.
//! - `SHUTDOWN_TIMEOUT` (10): seconds open connections get after SIGTERM or Ctrl-C; the rest
//!   are then closed and the process exits with status 0.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::Value;
use tower_jwt_auth::authorize::{RequireScopeLayer, ScopeSource};
use tower_jwt_auth::dpop::Dpop;
use tower_jwt_auth::router::BearerRejections;
use tower_jwt_auth::router::{CookieConfig, LoginThrottle};
use tower_jwt_auth::store::{Attributes, RefreshTokenStore, User, UserStore};
use tower_jwt_auth::{Algorithm, Auth, JwtAuthLayer, JwtClaims, SigningKey, TokenIssuer};
use utoipa::OpenApi;
use utoipa_swagger_ui::{Config as SwaggerConfig, SwaggerUi};

pub mod revocation;
pub mod serving;

use revocation::{RevocationConfig, SharedRevocation};

/// The server's configuration. `Debug` redacts the secret.
pub struct Config {
    /// The HS256 secret.
    pub secret: Vec<u8>,
    /// Where users and refresh families live.
    pub database_url: String,
    /// The listening address.
    pub addr: SocketAddr,
    /// Access-token lifetime.
    pub access_ttl: Duration,
    /// Refresh-token family lifetime.
    pub refresh_ttl: Duration,
    /// bcrypt cost.
    pub bcrypt_cost: u32,
    /// Proxies trusted to name the client in `X-Forwarded-For`.
    pub trusted_proxies: Vec<IpAddr>,
    /// Whether logins are throttled (on unless `LOGIN_THROTTLE=off`).
    pub login_throttle: bool,
    /// Where clients reach the server: the base URL DPoP proofs name (`PUBLIC_URL`);
    /// `None` for `http://` and [`Config::addr`].
    pub public_url: Option<String>,
    /// Users whose access tokens carry the role `admin` (`ADMIN_USERS`).
    pub admin_users: Vec<String>,
    /// The cookie mode for browser apps (`AUTH_COOKIES=on`).
    pub auth_cookies: bool,
    /// Whether the cookies are `Secure` (on unless `COOKIE_SECURE=off`).
    pub cookie_secure: bool,
    /// How revocations are shared between processes.
    pub revocation: RevocationConfig,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("secret", &"[redacted]")
            .field("database_url", &self.database_url)
            .field("addr", &self.addr)
            .field("access_ttl", &self.access_ttl)
            .field("refresh_ttl", &self.refresh_ttl)
            .field("bcrypt_cost", &self.bcrypt_cost)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("login_throttle", &self.login_throttle)
            .field("public_url", &self.public_url)
            .field("admin_users", &self.admin_users)
            .field("auth_cookies", &self.auth_cookies)
            .field("cookie_secure", &self.cookie_secure)
            .field("revocation", &self.revocation)
            .finish()
    }
}

impl Config {
    /// Where clients reach the server: `PUBLIC_URL`, else `http://` and [`Config::addr`].
    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.addr))
    }
}

/// Reads the configuration from the environment.
///
/// # Errors
///
/// A message a person can act on.
pub fn config_from_env() -> Result<Config, String> {
    config_from(|name| std::env::var(name).ok())
}

/// Reads the configuration through `lookup`, failing with a message a person can act on.
///
/// # Errors
///
/// A weak `APP_SECRET_STRING`, an unparsable number or address.
pub fn config_from(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
    let var = |name: &str| lookup(name).filter(|value| !value.is_empty());
    let number = |name: &str, default: u64| -> Result<u64, String> {
        var(name).map_or(Ok(default), |value| {
            value
                .parse()
                .map_err(|_| format!("{name} must be a whole number"))
        })
    };
    let secret = match var("APP_SECRET_STRING") {
        Some(secret) if secret.len() < 32 => {
            return Err(format!(
                "APP_SECRET_STRING is {} bytes; it must be at least 32. Make one with: openssl rand -base64 48",
                secret.len()
            ));
        }
        Some(secret) => secret.into_bytes(),
        None => {
            tracing::warn!(
                "APP_SECRET_STRING is not set: using a random secret; tokens will not survive a restart"
            );
            rand_secret()
        }
    };
    let host = var("HOST").unwrap_or_else(|| "127.0.0.1".to_owned());
    let port = number("PORT", 8000)?;
    let addr: SocketAddr = format!("{host}:{port}")
        .parse()
        .map_err(|_| format!("HOST/PORT do not form an address: {host}:{port}"))?;
    let public_url = var("PUBLIC_URL");
    if let Some(url) = &public_url
        && (!(url.starts_with("http://") || url.starts_with("https://"))
            || url.contains(['?', '#']))
    {
        return Err(format!(
            "PUBLIC_URL must be an http:// or https:// URL without query or fragment, not {url:?}"
        ));
    }
    let bcrypt_cost = u32::try_from(number("BCRYPT_COST", 12)?)
        .map_err(|_| "BCRYPT_COST is too large".to_owned())?;
    if !(4..=31).contains(&bcrypt_cost) {
        return Err("BCRYPT_COST must be within 4..=31".to_owned());
    }
    let trusted_proxies = var("TRUSTED_PROXY")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            entry
                .parse()
                .map_err(|_| format!("TRUSTED_PROXY: {entry:?} is not an IP address"))
        })
        .collect::<Result<_, _>>()?;
    let login_throttle = match var("LOGIN_THROTTLE").as_deref() {
        None | Some("on") => true,
        Some("off") => false,
        Some(other) => return Err(format!("LOGIN_THROTTLE must be on or off, not {other:?}")),
    };
    let on_off = |name: &str, default: bool| match var(name).as_deref() {
        None => Ok(default),
        Some("on") => Ok(true),
        Some("off") => Ok(false),
        Some(other) => Err(format!("{name} must be on or off, not {other:?}")),
    };
    let admin_users = var("ADMIN_USERS")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect();
    Ok(Config {
        admin_users,
        auth_cookies: on_off("AUTH_COOKIES", false)?,
        cookie_secure: on_off("COOKIE_SECURE", true)?,
        secret,
        database_url: var("DATABASE_URL").unwrap_or_else(|| "sqlite://auth.db".to_owned()),
        addr,
        access_ttl: Duration::from_secs(number("ACCESS_TOKEN_MINUTES", 30)?.saturating_mul(60)),
        refresh_ttl: Duration::from_secs(number("REFRESH_TOKEN_HOURS", 10)?.saturating_mul(3600)),
        bcrypt_cost,
        trusted_proxies,
        login_throttle,
        public_url,
        revocation: revocation::config_from(var)?,
    })
}

fn rand_secret() -> Vec<u8> {
    tower_jwt_auth::issuer::random_id()
        .into_bytes()
        .into_iter()
        .chain(tower_jwt_auth::issuer::random_id().into_bytes())
        .collect()
}

/// Where the OpenAPI document is served.
const OPENAPI_JSON: &str = "/openapi.json";

/// The app's own routes; [`app`] merges in the auth router's.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "tower-jwt-auth: the tutorial's app",
        description = "Sign up, log in, then call `/secret` with the access token (the Authorize button)."
    ),
    paths(notsecret, secret, admin, admin_cache),
    tags(
        (name = "auth", description = "Accounts and tokens: sign up, log in, refresh, log out"),
        (name = "app", description = "The tutorial's routes"),
    )
)]
struct ApiDoc;

#[utoipa::path(get, path = "/notsecret", tag = "app", responses(
    (status = 200, description = "Open to anyone", body = String, content_type = "application/json"),
))]
async fn notsecret() -> Json<&'static str> {
    Json("Not secret data")
}

#[utoipa::path(post, path = "/secret", tag = "app", security(("bearer" = []), ("dpop" = [], "dpop_proof" = [])), responses(
    (status = 200, description = "Only with an access token (a DPoP-bound one with its proof)", body = String, content_type = "application/json"),
    BearerRejections,
))]
async fn secret(JwtClaims(_claims): JwtClaims) -> Json<&'static str> {
    Json("Top Secret data only authorized users can access this info")
}

#[utoipa::path(get, path = "/admin", tag = "app", security(("bearer" = [])), responses(
    (status = 200, description = "Only with an access token carrying the role `admin`", body = String, content_type = "application/json"),
    (status = 403, description = "A valid token without the role `admin`", body = tower_jwt_auth::router::ErrorBody,
        headers(("WWW-Authenticate" = String, description = "`Bearer error=\"insufficient_scope\", scope=\"admin\"`"))),
    BearerRejections,
))]
async fn admin() -> Json<&'static str> {
    Json("Admin data only administrators can access")
}

/// What `/secret`'s verified-token cache has served since the server started.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct CacheReport {
    /// Requests whose token the cache held (checked again for time and revocation only).
    hits: u64,
    /// Requests whose token it did not hold: each cost a full verification.
    misses: u64,
    /// Tokens it holds now.
    entries: usize,
}

#[utoipa::path(get, path = "/admin/cache", tag = "app", security(("bearer" = [])), responses(
    (status = 200, description = "The hits, misses and entries of `/secret`'s verified-token cache since the server started (`JwtAuthLayer::cache_stats`); only with the role `admin`", body = CacheReport),
    (status = 403, description = "A valid token without the role `admin`", body = tower_jwt_auth::router::ErrorBody,
        headers(("WWW-Authenticate" = String, description = "`Bearer error=\"insufficient_scope\", scope=\"admin\"`"))),
    BearerRejections,
))]
async fn admin_cache(Extension(secret_layer): Extension<JwtAuthLayer>) -> Json<CacheReport> {
    let stats = secret_layer.cache_stats();
    Json(CacheReport {
        hits: stats.hits,
        misses: stats.misses,
        entries: stats.entries,
    })
}

/// Where the app's tokens carry roles: `"roles": ["admin", ...]`.
const ROLES: &str = "roles";

/// The role `/admin` requires.
const ROLES_ADMIN: &str = "admin";

/// The roles of `user`'s access tokens: those stored in its attributes (`roles`, an array of
/// strings), and `admin` for the users of `ADMIN_USERS`.
fn roles_of(user: &User, admins: &[String]) -> Attributes {
    let mut roles: Vec<Value> = user
        .attributes
        .get(ROLES)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|role| role.is_string())
        .cloned()
        .collect();
    let admin = Value::from("admin");
    if admins.contains(&user.username) && !roles.contains(&admin) {
        roles.push(admin);
    }
    let mut claims = Attributes::new();
    if !roles.is_empty() {
        claims.insert(ROLES.to_owned(), Value::Array(roles));
    }
    claims
}

/// Where the auth routes are in cookie mode: the refresh cookie's path.
pub const COOKIE_AUTH_PREFIX: &str = "/auth";

/// The whole app over one store, with its OpenAPI document at `/openapi.json` and Swagger UI
/// at `/docs`.
///
/// # Errors
///
/// If the secret is too weak for HS256.
pub fn app<S>(store: S, config: &Config) -> Result<Router, Box<dyn std::error::Error>>
where
    S: UserStore + RefreshTokenStore + Clone,
{
    app_sharing(store, config, None)
}

/// [`app`], with revocations shared through `shared` (its replica's task then lives as
/// long as the router).
///
/// # Errors
///
/// If the secret is too weak for HS256.
pub fn app_sharing<S>(
    store: S,
    config: &Config,
    shared: Option<SharedRevocation>,
) -> Result<Router, Box<dyn std::error::Error>>
where
    S: UserStore + RefreshTokenStore + Clone,
{
    let issuer = TokenIssuer::new(SigningKey::hmac(Algorithm::HS256, &config.secret)?)
        .access_ttl(config.access_ttl)
        .refresh_ttl(config.refresh_ttl);
    let purge = AbortOnDrop(tokio::spawn(purge_expired_families(store.clone())).abort_handle());
    let admins = config.admin_users.clone();
    let mut throttle = if config.login_throttle {
        LoginThrottle::new().trust_forwarded_for(config.trusted_proxies.iter().copied())
    } else {
        LoginThrottle::disabled()
    };
    let mut builder = Auth::builder(issuer, store);
    let mut replica_task = None;
    let mut dpop = Dpop::new(config.public_url());
    if let Some(shared) = shared {
        throttle = shared.share_limits(throttle);
        dpop = shared.share_replay(dpop);
        let (with_backend, task) = shared.apply(builder);
        builder = with_backend;
        replica_task = Some(task);
    }
    // The background tasks live as long as the app: the last clone of the router drops their
    // guards, which stops them. Building an app never leaves a task behind. The guards ride on
    // the auth routes alone: a layer over the whole app would wrap every route once more, and
    // cost every request 6 heap blocks and some 1 300 instructions per layer (BENCHMARKS.md,
    // "The app's task guards: a layer over every route").
    let tasks = Extension(Arc::new(Tasks {
        _purge: purge,
        _replica: replica_task,
    }));
    let mut builder = builder
        .access_claims(move |user| roles_of(user, &admins))
        .bcrypt_cost(config.bcrypt_cost)
        .login_throttle(throttle)
        .dpop(dpop);
    if config.auth_cookies {
        builder = builder.cookies(
            CookieConfig::new()
                .refresh_path(COOKIE_AUTH_PREFIX)
                .secure(config.cookie_secure),
        );
    }
    let auth: Arc<Auth<S>> = builder.build()?;
    let protected = Router::new()
        .route("/secret", post(secret))
        .route_layer(auth.layer());
    // `/admin`: the claims as JSON, so that the role requirement reads `roles`.
    // `/admin/cache`: what the layer of `/secret` (the same cache as `auth.layer()`) served.
    let admin_only = Router::new()
        .route("/admin", get(admin))
        .route(
            "/admin/cache",
            get(admin_cache).layer(Extension(auth.layer())),
        )
        .route_layer(
            RequireScopeLayer::all([ROLES_ADMIN])
                .source(ScopeSource::roles_at([ROLES]))
                .claims::<Value>(),
        )
        .route_layer(auth.layer_builder().claims::<Value>().build()?);
    let (auth_routes, auth_doc) = if config.auth_cookies {
        (
            Router::new().nest(COOKIE_AUTH_PREFIX, auth.router()),
            utoipa::openapi::OpenApi::default().nest(COOKIE_AUTH_PREFIX, auth.openapi()),
        )
    } else {
        (auth.router(), auth.openapi())
    };
    let auth_routes = auth_routes.layer(tasks);
    // Swagger UI from the binary; no validator badge, so the page asks no other host.
    let docs = SwaggerUi::new("/docs")
        .url(OPENAPI_JSON, ApiDoc::openapi().merge_from(auth_doc))
        .config(SwaggerConfig::from(OPENAPI_JSON).validator_url("none"));
    Ok(Router::new()
        .route("/notsecret", get(notsecret))
        .merge(protected)
        .merge(admin_only)
        .merge(auth_routes)
        .merge(docs))
}

/// The guards of the app's background tasks: dropped with the app's last route, they stop
/// the tasks.
struct Tasks {
    _purge: AbortOnDrop,
    _replica: Option<tower_jwt_auth::revocation::ReplicaTask>,
}

/// Stops a task when dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Deletes expired refresh families every ten minutes, for as long as the server runs.
async fn purge_expired_families<S: RefreshTokenStore>(store: S) {
    let mut every = tokio::time::interval(Duration::from_secs(600));
    loop {
        every.tick().await;
        let now = jsonwebtoken::get_current_timestamp();
        match store.purge_expired(now).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "expired refresh families purged"),
            Err(error) => tracing::warn!(%error, "purging expired refresh families failed"),
        }
    }
}

/// Opens the store named by `database_url` and builds the app over it.
///
/// # Errors
///
/// If the database cannot be opened or migrated.
pub async fn app_from_config(config: &Config) -> Result<Router, Box<dyn std::error::Error>> {
    if config.database_url.starts_with("postgres://")
        || config.database_url.starts_with("postgresql://")
    {
        let store = tower_jwt_auth::store::PostgresStore::connect(&config.database_url).await?;
        let shared =
            SharedRevocation::start(&config.revocation, Some(store.pool().clone())).await?;
        return app_sharing(store, config, shared);
    }
    let store = tower_jwt_auth::store::SqliteStore::connect(&config.database_url).await?;
    let shared = SharedRevocation::start(&config.revocation, None).await?;
    app_sharing(store, config, shared)
}

/// Every Rust snippet of the repository's README, compiled (and run, unless marked `no_run`)
/// as a doctest of this crate, which has every feature of the library and the tutorial's
/// own modules at hand.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeSnippets;
