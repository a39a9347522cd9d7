//! A resource server: an axum API that accepts the access tokens of an external identity
//! provider (Keycloak, Auth0, Cognito, Entra ID, Google, …), verified against the keys the
//! provider publishes, and, if asked, the tutorial app's own HS256 access tokens side by side.
//!
//! ```sh
//! ISSUER_URL=https://login.example.com/realms/main AUDIENCE=my-api \
//!   cargo run --example resource_server --features axum,remote
//! ```
//!
//! Routes:
//! - `GET /health`: open, `200 ok`.
//! - `GET /me`: the verified token's claims as JSON, every one of them. Without a token 401
//!   `WWW-Authenticate: Bearer`; a bad, expired, foreign or wrong-audience token 401
//!   `error="invalid_token"`; a provider token without the `REQUIRED_SCOPE` scopes 403
//!   `error="insufficient_scope"` (RFC 6750 §3).
//!
//! Configuration, from the environment (anything wrong stops the server at start, with a
//! message naming the variable, and exit status 1):
//! - `ISSUER_URL`: the issuer, exactly as its tokens' `iss` names it (mind a trailing slash);
//!   its keys are found by discovery (`/.well-known/openid-configuration`, then
//!   `/.well-known/oauth-authorization-server`).
//! - or `JWKS_URL` and `ISSUER`: the key set's URL and the issuer, without discovery.
//! - `AUDIENCE` (required unless `CLIENT_ID` is set): this API's identifier as the issuer writes
//!   it in `aud`; several, comma-separated, accept a token naming any one of them.
//! - `CLIENT_ID` (optional): require the claim `client_id` to equal this, for issuers whose
//!   access tokens name the client there and carry no `aud` (Amazon Cognito). With `CLIENT_ID`
//!   alone, `aud` is not checked. With `INTROSPECTION_URL`, it is instead this server's own
//!   client id at the introspection endpoint.
//! - `INTROSPECTION_URL` (optional): the issuer's token introspection endpoint (RFC 7662).
//!   Opaque access tokens (anything that is not a JWT) are then checked there, authenticating
//!   with `CLIENT_ID` and `CLIENT_SECRET` (`client_secret_basic`); the credentials are tried
//!   once at start, and a wrong secret stops the server. Answers are kept up to 60 s, so a
//!   token revoked at the issuer is refused here within that time. JWTs stay local.
//! - `RESOURCE_URL` (optional): this API's resource identifier, the URL clients call it by;
//!   `http://HOST:PORT` by default (with the port the server got). Its metadata (RFC 9728) is
//!   served at `/.well-known/oauth-protected-resource` (followed by the URL's path, if it has
//!   one), naming the issuer as its authorization server and `REQUIRED_SCOPE` as its scopes,
//!   and every 401 and 403 names that document in `resource_metadata="…"`. When `RESOURCE_URL`
//!   is set and `AUDIENCE` is not, tokens must name `RESOURCE_URL` in `aud` (resource
//!   indicators, RFC 8707).
//! - `APP_SECRET_STRING` (optional, at least 32 bytes): also accept the tutorial app's own
//!   HS256 access tokens (`scope` = `access_token`, no `iss`), signed with this secret.
//! - `REQUIRED_SCOPE` (optional): OAuth scopes, space- or comma-separated, that a provider's
//!   token must all carry in its `scope` claim for `/me`; else 403. The tutorial's tokens carry
//!   no OAuth scopes and are not subject to it.
//! - `LAZY_KEYS`: `1` starts even when the issuer cannot be reached: the keys are fetched in
//!   the background, and the issuer's tokens are refused (401) until that succeeds. By
//!   default (`0`) the keys are fetched before the server listens, and an unreachable issuer
//!   stops it at start.
//! - `HOST`, `PORT`: 127.0.0.1 and 8001 by default; `PORT=0` picks a free port. The address
//!   is logged as `listening on http://ADDR`.
//! - `RUST_LOG`: log filter (default `info`). Logs are coloured only on a terminal, and never
//!   with `NO_COLOR` set.
//!
//! URLs must be `https://`, or `http://` on a loopback host (a local test provider).
//!
//! SIGTERM or Ctrl-C stop the server gracefully: requests under way are answered first.

use std::error::Error;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;
use tower_jwt_auth::introspection::{ClientAuth, Introspection, Introspector};
use tower_jwt_auth::remote::RemoteKeys;
use tower_jwt_auth::resource_metadata::ProtectedResourceMetadata;
use tower_jwt_auth::{Algorithm, JwtAuthLayer, JwtClaims, Key, TrustedIssuer};

/// Where the issuer's keys are found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// By discovery from the issuer's metadata.
    Discovery {
        /// The issuer, as `iss` names it.
        issuer: String,
    },
    /// At a JWKS URL.
    Jwks {
        /// The JWKS URL.
        url: String,
        /// The issuer, as `iss` names it.
        issuer: String,
    },
}

/// The server's configuration. `Debug` redacts the secret.
pub struct Config {
    /// Where the issuer's keys are found.
    pub keys: KeySource,
    /// The audiences a provider's token must name one of (none: `aud` is not checked).
    pub audiences: Vec<String>,
    /// The `client_id` a provider's token must carry.
    pub client_id: Option<String>,
    /// The tutorial's HS256 secret, if its tokens are accepted too.
    pub app_secret: Option<Vec<u8>>,
    /// The scopes a provider's token needs for `/me`.
    pub required_scopes: Vec<String>,
    /// Whether to start without the issuer's keys.
    pub lazy_keys: bool,
    /// The listening address.
    pub addr: SocketAddr,
    /// This API's resource identifier; `None` for `http://` and the bound address.
    pub resource_url: Option<String>,
    /// The introspection endpoint and this server's credentials there.
    pub introspection: Option<IntrospectionConfig>,
}

/// Token introspection: the endpoint, and the client id and secret the server uses there.
pub struct IntrospectionConfig {
    /// The endpoint.
    pub url: String,
    /// This server's client id.
    pub client_id: String,
    /// Its secret.
    pub client_secret: String,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("keys", &self.keys)
            .field("audiences", &self.audiences)
            .field("client_id", &self.client_id)
            .field(
                "app_secret",
                &self.app_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("required_scopes", &self.required_scopes)
            .field("lazy_keys", &self.lazy_keys)
            .field("addr", &self.addr)
            .field("resource_url", &self.resource_url)
            .field(
                "introspection",
                &self.introspection.as_ref().map(|introspection| {
                    (&introspection.url, &introspection.client_id, "[redacted]")
                }),
            )
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

/// Reads the configuration through `lookup`, failing with a message that names the variable.
///
/// # Errors
///
/// No issuer or an ambiguous one, a URL that is neither `https://` nor loopback `http://`, no
/// audience, a weak `APP_SECRET_STRING`, an unparsable flag, port or address.
pub fn config_from(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
    let var = |name: &str| {
        lookup(name)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    };
    let keys = match (var("ISSUER_URL"), var("JWKS_URL"), var("ISSUER")) {
        (Some(issuer), None, None) => {
            check_url("ISSUER_URL", &issuer)?;
            KeySource::Discovery { issuer }
        }
        (None, Some(url), Some(issuer)) => {
            check_url("JWKS_URL", &url)?;
            KeySource::Jwks { url, issuer }
        }
        (None, None, _) => {
            return Err(
                "no issuer: set ISSUER_URL to the identity provider's issuer (its keys are then \
                 found by discovery), or JWKS_URL and ISSUER"
                    .to_owned(),
            );
        }
        (None, Some(_), None) => {
            return Err(
                "JWKS_URL is set but ISSUER is not: name the issuer as its tokens' `iss` does"
                    .to_owned(),
            );
        }
        (Some(_), Some(_), _) => {
            return Err("set ISSUER_URL or JWKS_URL, not both".to_owned());
        }
        (Some(_), None, Some(_)) => {
            return Err(
                "ISSUER goes with JWKS_URL; with ISSUER_URL the issuer is ISSUER_URL itself"
                    .to_owned(),
            );
        }
    };
    let resource_url = var("RESOURCE_URL");
    if let Some(url) = &resource_url {
        check_url("RESOURCE_URL", url)?;
    }
    let introspection = match (
        var("INTROSPECTION_URL"),
        var("CLIENT_ID"),
        var("CLIENT_SECRET"),
    ) {
        (None, _, None) => None,
        (Some(url), Some(client_id), Some(client_secret)) => {
            check_url("INTROSPECTION_URL", &url)?;
            Some(IntrospectionConfig {
                url,
                client_id,
                client_secret,
            })
        }
        (Some(_), _, _) => {
            return Err(
                "INTROSPECTION_URL needs CLIENT_ID and CLIENT_SECRET: this server's credentials \
                 at the introspection endpoint"
                    .to_owned(),
            );
        }
        (None, _, Some(_)) => {
            return Err("CLIENT_SECRET is set but INTROSPECTION_URL is not".to_owned());
        }
    };
    let mut audiences = list(&var("AUDIENCE").unwrap_or_default(), &[',']);
    if audiences.is_empty()
        && let Some(url) = &resource_url
    {
        audiences.push(url.clone());
    }
    // With introspection, CLIENT_ID names this server, not a claim of the tokens.
    let client_id = var("CLIENT_ID").filter(|_| introspection.is_none());
    if audiences.is_empty() && client_id.is_none() && introspection.is_none() {
        return Err(
            "AUDIENCE is not set: name this API as the issuer writes it in the tokens' `aud` \
             (several, comma-separated, are allowed); for access tokens without `aud` (Amazon \
             Cognito), set CLIENT_ID to the app client id instead"
                .to_owned(),
        );
    }
    let app_secret = match var("APP_SECRET_STRING") {
        Some(secret) if secret.len() < 32 => {
            return Err(format!(
                "APP_SECRET_STRING is {} bytes; it must be at least 32. Make one with: openssl rand -base64 48",
                secret.len()
            ));
        }
        secret => secret.map(String::into_bytes),
    };
    let lazy_keys = match var("LAZY_KEYS").as_deref() {
        None | Some("0" | "false") => false,
        Some("1" | "true") => true,
        Some(other) => return Err(format!("LAZY_KEYS must be 1 or 0, not {other:?}")),
    };
    let host = var("HOST").unwrap_or_else(|| "127.0.0.1".to_owned());
    let port: u16 = match var("PORT") {
        None => 8001,
        Some(port) => port
            .parse()
            .map_err(|_| format!("PORT must be a port number (0 to 65535), not {port:?}"))?,
    };
    let addr = format!("{host}:{port}")
        .parse()
        .or_else(|_| format!("[{host}]:{port}").parse())
        .map_err(|_| format!("HOST is not an IP address: {host:?}"))?;
    Ok(Config {
        keys,
        audiences,
        client_id,
        app_secret,
        required_scopes: list(&var("REQUIRED_SCOPE").unwrap_or_default(), &[' ', ',']),
        lazy_keys,
        addr,
        resource_url,
        introspection,
    })
}

/// The non-empty, trimmed items of `value` split at any of `separators`.
fn list(value: &str, separators: &[char]) -> Vec<String> {
    value
        .split(separators)
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The rule the crate's fetcher enforces, checked here too so that `LAZY_KEYS=1` cannot hide a
/// URL that would never be fetched.
fn check_url(name: &str, url: &str) -> Result<(), String> {
    let uri: Uri = url
        .parse()
        .map_err(|_| format!("{name} is not a URL: {url:?}"))?;
    let loopback = |host: &str| {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    };
    match (uri.scheme_str(), uri.host()) {
        (Some("https"), Some(_)) => Ok(()),
        (Some("http"), Some(host)) if loopback(host) => Ok(()),
        _ => Err(format!(
            "{name} must be an https:// URL (http:// only on a loopback host), not {url:?}"
        )),
    }
}

/// The layer: the issuer's tokens, verified with its published keys, for these audiences (or
/// this `client_id`); and with `app_secret`, the tutorial's own HS256 access tokens as well.
/// Claims reach the handlers as a `serde_json::Value`, so that every claim the provider put in
/// is kept (`realm_access`, `cognito:groups`, `scp`, …), not only those `Claims` names.
///
/// # Errors
///
/// When the secret is too weak for HS256.
pub fn layer(
    keys: RemoteKeys,
    audiences: &[String],
    client_id: Option<&str>,
    app_secret: Option<&[u8]>,
    protected: Protected,
) -> Result<JwtAuthLayer<Value>, Box<dyn Error>> {
    let mut issuer = TrustedIssuer::remote(keys);
    if !audiences.is_empty() {
        issuer = issuer.audiences(audiences);
    }
    if let Some(client_id) = client_id {
        // A claim that must equal a value: the rule that checks the tutorial's token type.
        issuer = issuer.token_type("client_id", client_id);
    }
    let builder = match app_secret {
        // Tokens without `iss` go to the HS256 key with the tutorial's rules (`scope` =
        // `access_token`); tokens naming the issuer go to its keys and rules.
        Some(secret) => JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, secret)?).issuer(issuer),
        None => JwtAuthLayer::builder_for(issuer),
    };
    let mut metadata = ProtectedResourceMetadata::builder(protected.resource);
    if !protected.scopes.is_empty() {
        metadata = metadata.scopes_supported(&protected.scopes);
    }
    let mut builder = builder
        .resource_metadata(metadata)
        .challenge_scopes(&protected.scopes);
    if let Some(introspector) = protected.introspector {
        builder = builder.introspection(introspector);
    }
    Ok(builder.claims::<Value>().build()?)
}

/// What the layer publishes and how it checks opaque tokens.
pub struct Protected {
    /// The resource identifier (RFC 9728 `resource`).
    pub resource: String,
    /// The scopes `/me` needs: `scopes_supported`, and `scope` in the 401 challenges.
    pub scopes: Vec<String>,
    /// Introspection of opaque tokens, if configured.
    pub introspector: Option<Introspector>,
}

/// The introspector for `config`, its credentials checked now.
///
/// # Errors
///
/// When the endpoint refuses the credentials or cannot be reached.
pub async fn introspector(
    config: &IntrospectionConfig,
    issuer: &str,
    audiences: &[String],
) -> Result<Introspector, String> {
    let mut introspection = Introspection::new(
        &config.url,
        ClientAuth::client_secret_basic(&config.client_id, &config.client_secret),
    )
    .issuer(issuer);
    if !audiences.is_empty() {
        introspection = introspection.audiences(audiences);
    }
    introspection.build().await.map_err(|error| {
        format!(
            "token introspection at {} cannot be used: {}. Check INTROSPECTION_URL, CLIENT_ID \
             and CLIENT_SECRET",
            config.url,
            with_causes(&error)
        )
    })
}

/// The issuer's keys: fetched now, or with `lazy` in the background.
///
/// # Errors
///
/// When they cannot be fetched now.
pub async fn remote_keys(source: &KeySource, lazy: bool) -> Result<RemoteKeys, String> {
    let (builder, issuer) = match source {
        KeySource::Discovery { issuer } => (RemoteKeys::discover(issuer), issuer),
        KeySource::Jwks { url, issuer } => (RemoteKeys::jwks(url, issuer), issuer),
    };
    if lazy {
        return builder.build_lazy().map_err(|error| error.to_string());
    }
    builder.build().await.map_err(|error| {
        format!(
            "the keys of the issuer {issuer} could not be fetched: {}. Check ISSUER_URL \
             (or JWKS_URL); LAZY_KEYS=1 starts anyway and fetches them in the background",
            with_causes(&error)
        )
    })
}

/// `error` and those of its causes whose text it does not already hold (an HTTP client's
/// error hides why the connection failed in its sources).
fn with_causes(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        let more = error.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        cause = error.source();
    }
    text
}

/// The app over a built layer, with the resource's metadata document.
pub fn app(layer: JwtAuthLayer<Value>, required_scopes: Vec<String>) -> Router {
    let metadata = layer
        .resource_metadata()
        .map(ProtectedResourceMetadata::router);
    let protected = Router::new()
        .route("/me", get(me))
        .route_layer(layer)
        .with_state(Arc::<[String]>::from(required_scopes));
    let app = Router::new().route("/health", get(health)).merge(protected);
    match metadata {
        Some(metadata) => app.merge(metadata),
        None => app,
    }
}

async fn health() -> &'static str {
    "ok"
}

/// The verified claims, or 403 when a provider's token lacks a required scope.
async fn me(
    State(required): State<Arc<[String]>>,
    JwtClaims(claims): JwtClaims<Value>,
) -> Response {
    // Only the provider's tokens name an issuer; the tutorial's carry a token type in
    // `scope`, not OAuth scopes.
    if claims.get("iss").is_some() {
        let granted = claims["scope"].as_str().unwrap_or_default();
        let missing = required
            .iter()
            .any(|scope| !granted.split(' ').any(|name| name == scope));
        if missing {
            return insufficient_scope(&required);
        }
    }
    Json(&*claims).into_response()
}

/// 403 with the RFC 6750 §3.1 challenge naming the scopes needed.
fn insufficient_scope(required: &[String]) -> Response {
    let challenge = format!(
        "Bearer error=\"insufficient_scope\", scope=\"{}\"",
        required.join(" ")
    );
    let mut response = (
        StatusCode::FORBIDDEN,
        Json(serde_json::json!({ "detail": "Insufficient scope" })),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

async fn run() -> Result<(), Box<dyn Error>> {
    let config = config_from_env()?;
    let keys = remote_keys(&config.keys, config.lazy_keys).await?;
    tracing::info!(
        issuer = keys.issuer(),
        audiences = ?config.audiences,
        client_id = config.client_id.as_deref(),
        lazy = config.lazy_keys,
        tutorial_tokens = config.app_secret.is_some(),
        "accepting the issuer's tokens"
    );
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|error| format!("cannot listen on {}: {error}", config.addr))?;
    let resource = config
        .resource_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", listener.local_addr().unwrap_or(config.addr)));
    let introspector = match &config.introspection {
        Some(introspection) => {
            Some(introspector(introspection, keys.issuer(), &config.audiences).await?)
        }
        None => None,
    };
    tracing::info!(
        %resource,
        introspection = config.introspection.as_ref().map(|introspection| introspection.url.as_str()),
        "publishing the resource's metadata"
    );
    let layer = layer(
        keys,
        &config.audiences,
        config.client_id.as_deref(),
        config.app_secret.as_deref(),
        Protected {
            resource,
            scopes: config.required_scopes.clone(),
            introspector,
        },
    )?;
    let app = app(layer, config.required_scopes);
    tracing::info!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let ansi = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_ansi(ansi)
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
