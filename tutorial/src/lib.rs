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
//! - `ACCESS_TOKEN_MINUTES` (30), `REFRESH_TOKEN_HOURS` (10), `BCRYPT_COST` (12).
//! - `TRUSTED_PROXY`: comma-separated addresses of reverse proxies whose `X-Forwarded-For`
//!   names the client for login throttling (default: none, the peer address counts).
//! - `LOGIN_THROTTLE`: `off` turns login throttling off (default `on`; the load test turns it
//!   off to measure the bcrypt queue itself).
//! - `REDIS_URL`, `REDIS_PREFIX`, `REVOCATION_MAX_STALENESS`, `REVOCATION_SERVE_STALE`:
//!   revocation shared between several processes, see [`revocation`].
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
use tower_jwt_auth::router::BearerRejections;
use tower_jwt_auth::router::LoginThrottle;
use tower_jwt_auth::store::{RefreshTokenStore, UserStore};
use tower_jwt_auth::{Algorithm, Auth, JwtClaims, SigningKey, TokenIssuer};
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
            .field("revocation", &self.revocation)
            .finish()
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
    let addr = format!("{host}:{port}")
        .parse()
        .map_err(|_| format!("HOST/PORT do not form an address: {host}:{port}"))?;
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
    Ok(Config {
        secret,
        database_url: var("DATABASE_URL").unwrap_or_else(|| "sqlite://auth.db".to_owned()),
        addr,
        access_ttl: Duration::from_secs(number("ACCESS_TOKEN_MINUTES", 30)?.saturating_mul(60)),
        refresh_ttl: Duration::from_secs(number("REFRESH_TOKEN_HOURS", 10)?.saturating_mul(3600)),
        bcrypt_cost,
        trusted_proxies,
        login_throttle,
        revocation: revocation::config_from(var)?,
    })
}

fn rand_secret() -> Vec<u8> {
    tower_jwt_auth::random_id()
        .into_bytes()
        .into_iter()
        .chain(tower_jwt_auth::random_id().into_bytes())
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
    paths(notsecret, secret),
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

#[utoipa::path(post, path = "/secret", tag = "app", security(("bearer" = [])), responses(
    (status = 200, description = "Only with an access token", body = String, content_type = "application/json"),
    BearerRejections,
))]
async fn secret(JwtClaims(_claims): JwtClaims) -> Json<&'static str> {
    Json("Top Secret data only authorized users can access this info")
}

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
    // The purge task lives as long as the app: the last clone of the router drops the guard,
    // which stops it. Building an app never leaves a task behind.
    let purge = Extension(Arc::new(AbortOnDrop(
        tokio::spawn(purge_expired_families(store.clone())).abort_handle(),
    )));
    let mut builder = Auth::builder(issuer, store);
    let mut replica_task = None;
    if let Some(shared) = shared {
        let (with_backend, task) = shared.apply(builder);
        builder = with_backend;
        replica_task = Some(task);
    }
    let replica_task = Extension(Arc::new(replica_task));
    let auth: Arc<Auth<S>> = builder
        .bcrypt_cost(config.bcrypt_cost)
        .login_throttle(if config.login_throttle {
            LoginThrottle::new().trust_forwarded_for(config.trusted_proxies.iter().copied())
        } else {
            LoginThrottle::disabled()
        })
        .build()?;
    let protected = Router::new()
        .route("/secret", post(secret))
        .route_layer(auth.layer());
    // Swagger UI from the binary; no validator badge, so the page asks no other host.
    let docs = SwaggerUi::new("/docs")
        .url(OPENAPI_JSON, ApiDoc::openapi().merge_from(auth.openapi()))
        .config(SwaggerConfig::from(OPENAPI_JSON).validator_url("none"));
    Ok(Router::new()
        .route("/notsecret", get(notsecret))
        .merge(protected)
        .merge(auth.router())
        .merge(docs)
        .layer(purge)
        .layer(replica_task))
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
