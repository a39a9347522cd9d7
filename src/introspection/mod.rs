//! Token introspection (RFC 7662): opaque access tokens, and the JWTs of
//! issuers that want every use checked, verified by asking the
//! authorization server.
//!
//! [`Introspection`] configures the endpoint and how the resource server
//! authenticates there ([`ClientAuth`]: `client_secret_basic`,
//! `client_secret_post` or `private_key_jwt`); [`Introspection::build`]
//! checks those credentials once and gives an [`Introspector`], which
//! [`JwtAuthLayerBuilder::introspection`](crate::layer::JwtAuthLayerBuilder::introspection)
//! takes. The layer then:
//!
//! - introspects a token that is not a JWT (not three dot-separated
//!   segments), and a JWT whose unverified `iss` is one of
//!   [`Introspection::jwt_issuers`]; every other token is verified locally,
//!   as before;
//! - puts the answer's claims, decoded into the layer's claims type, into
//!   the request extensions as an `Arc<C>`, as it does for a JWT: the
//!   extractors, scopes, roles and step-up requirements work unchanged;
//! - refuses an inactive token, or one whose answer names another issuer or
//!   audience, with 401 `invalid_token`;
//! - answers 503 with `Retry-After` when the endpoint is down, slow, or
//!   answers anything but a 200 with JSON: never 401, never a pass.
//!
//! | Setting | Default |
//! |---|---|
//! | Active answers kept | until `exp`, and at most [`DEFAULT_TTL`] (60 s) |
//! | Inactive answers kept | [`DEFAULT_INACTIVE_TTL`] (5 s) |
//! | Answers kept at most | [`DEFAULT_CAPACITY`] tokens, keyed by a 128-bit keyed hash of the token (never the token), and a few per thread lately served |
//! | One request's wait for the endpoint | 5 s, then 503 |
//! | Introspections under way at once | 32; a request that finds none free waits within its 5 s |
//! | New introspections per second | 100, in bursts of up to 200; past that 503 with `Retry-After` |
//!
//! Requests for the same token while its introspection is under way share
//! it ("single flight"). A flood of tokens that are all different (random
//! garbage, say) costs at most the rate above in calls to the endpoint; the
//! rest are answered 503 at once, while tokens already in the cache keep
//! being served.
//!
//! A token revoked at the authorization server stays usable here for as
//! long as its answer is kept: at most the cache TTL. Shorten it with
//! [`Introspection::cache_ttl`] (zero keeps nothing, and every request asks
//! the server).
//!
//! ```no_run
//! use tower_jwt_auth::introspection::{ClientAuth, Introspection};
//! use tower_jwt_auth::{JwtAuthLayer, Key};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let introspector = Introspection::new(
//!     "https://login.example.com/oauth2/introspect",
//!     ClientAuth::client_secret_basic("my-api", std::env::var("CLIENT_SECRET")?),
//! )
//! .issuer("https://login.example.com")
//! .audiences(["https://api.example.com"])
//! .build()
//! .await?;
//! // The tutorial's own HS256 tokens stay local; opaque tokens are introspected.
//! let key = Key::hmac(tower_jwt_auth::Algorithm::HS256, std::env::var("APP_SECRET_STRING")?)?;
//! let layer = JwtAuthLayer::builder(key)
//!     .introspection(introspector)
//!     .claims::<serde_json::Value>()
//!     .build()?;
//! # drop(layer);
//! # Ok(())
//! # }
//! ```

mod answers;
mod client_auth;

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use serde::Deserialize;
use tokio::sync::Semaphore;

pub(crate) use answers::{Answers, IntrospectFuture, Introspected};
pub use client_auth::ClientAuth;

use crate::error::TokenError;
use crate::remote::FetchError;
use crate::validator::RegisteredClaims;

/// How long an active answer is kept at most (it is never kept past the
/// token's `exp`).
pub const DEFAULT_TTL: Duration = Duration::from_secs(60);
/// How long an inactive answer is kept.
pub const DEFAULT_INACTIVE_TTL: Duration = Duration::from_secs(5);
/// How many answers a layer keeps at most.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// The largest introspection answer read.
const MAX_BODY: usize = 64 * 1024;

/// Configures introspection; [`Introspection::build`] makes the
/// [`Introspector`] a layer takes.
#[derive(Debug, Clone)]
#[must_use]
pub struct Introspection {
    endpoint: String,
    auth: ClientAuth,
    issuer: Option<String>,
    audiences: Option<Vec<String>>,
    jwt_issuers: Vec<String>,
    ttl: Duration,
    inactive_ttl: Duration,
    capacity: usize,
    timeout: Duration,
    max_in_flight: usize,
    rate: (u32, u32),
    leeway: Duration,
    client: Option<reqwest::Client>,
}

impl Introspection {
    /// Introspection at `endpoint` (an `https` URL; plain `http` only on a
    /// loopback host), authenticating with `auth`.
    pub fn new(endpoint: impl Into<String>, auth: ClientAuth) -> Self {
        Self {
            endpoint: endpoint.into(),
            auth,
            issuer: None,
            audiences: None,
            jwt_issuers: Vec::new(),
            ttl: DEFAULT_TTL,
            inactive_ttl: DEFAULT_INACTIVE_TTL,
            capacity: DEFAULT_CAPACITY,
            timeout: Duration::from_secs(5),
            max_in_flight: 32,
            rate: (100, 200),
            leeway: crate::validator::DEFAULT_LEEWAY,
            client: None,
        }
    }

    /// Requires an active answer's `iss` to be `issuer` (an answer without
    /// `iss` is then refused too).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Requires an active answer's `aud` to name one of `audiences`: the
    /// resource's own URL, for resource indicators (RFC 8707).
    pub fn audiences<I: IntoIterator<Item = S>, S: Into<String>>(mut self, audiences: I) -> Self {
        self.audiences = Some(audiences.into_iter().map(Into::into).collect());
        self
    }

    /// Also introspects the JWTs whose `iss` is one of `issuers` (read
    /// before anything is verified: the answer decides), instead of
    /// verifying them locally.
    pub fn jwt_issuers<I: IntoIterator<Item = S>, S: Into<String>>(mut self, issuers: I) -> Self {
        self.jwt_issuers = issuers.into_iter().map(Into::into).collect();
        self
    }

    /// Keeps an active answer for at most `ttl` (default [`DEFAULT_TTL`]),
    /// and never past the token's `exp`: the longest a token revoked at
    /// the authorization server is still accepted here. Zero keeps none.
    /// Counted in whole seconds, as the times in tokens are: a fraction of a
    /// second is rounded up (500 ms keeps an answer for up to a second).
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Keeps an inactive answer for `ttl` (default
    /// [`DEFAULT_INACTIVE_TTL`]), in whole seconds rounded up as
    /// [`cache_ttl`](Self::cache_ttl)'s.
    pub fn inactive_ttl(mut self, ttl: Duration) -> Self {
        self.inactive_ttl = ttl;
        self
    }

    /// Keeps at most about `capacity` answers (default
    /// [`DEFAULT_CAPACITY`]), and each thread's last few served: an answer
    /// evicted past the capacity may still serve that thread until its
    /// TTL.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// The most a request waits for its introspection, queueing included
    /// (default 5 s); then 503.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The most introspections under way at once (default 32).
    pub fn max_in_flight(mut self, max: usize) -> Self {
        self.max_in_flight = max.max(1);
        self
    }

    /// The most new introspections a second, and the burst above it
    /// (default 100 and 200). Past it, a token whose answer is not kept
    /// gets 503 with `Retry-After` without a call.
    pub fn rate_limit(mut self, per_second: u32, burst: u32) -> Self {
        self.rate = (per_second.max(1), burst.max(1));
        self
    }

    /// Clock-skew leeway for the answer's `exp` and `nbf` (default 5 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Uses `client` for the calls (its own proxy, TLS roots); the
    /// timeout and body cap still apply.
    pub fn client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Builds the introspector and checks the client's credentials once,
    /// with an introspection of a random token: the endpoint must answer
    /// 200 with `{"active": false}`.
    ///
    /// # Errors
    ///
    /// [`IntrospectionError::InsecureUrl`] for an endpoint that is not
    /// `https` (or `http` on loopback), [`IntrospectionError::Credentials`]
    /// when the endpoint refuses the client (401 or 403, a wrong secret or
    /// key), [`IntrospectionError::Unreachable`] when it cannot be asked.
    pub async fn build(self) -> Result<Introspector, IntrospectionError> {
        let introspector = self.build_lazy()?;
        let probe = format!("probe-{}", client_auth::random_id());
        match introspector.call(probe.as_bytes()).await {
            Ok(Reply::Answer(body)) => match parse_active(&body) {
                Some(false) => Ok(introspector),
                _ => Err(IntrospectionError::UnexpectedAnswer),
            },
            Ok(Reply::Refused(status)) => Err(IntrospectionError::Credentials(status)),
            Err(error) => Err(IntrospectionError::Unreachable(error)),
        }
    }

    /// Builds the introspector without calling the endpoint (credentials
    /// are then first tried by a request).
    ///
    /// # Errors
    ///
    /// As [`Introspection::build`], but for the call.
    pub fn build_lazy(self) -> Result<Introspector, IntrospectionError> {
        crate::remote::check_url(&self.endpoint)
            .map_err(|_| IntrospectionError::InsecureUrl(self.endpoint.clone()))?;
        let client = match self.client.clone() {
            Some(client) => client,
            None => reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .build()
                .map_err(|error| {
                    IntrospectionError::Unreachable(FetchError::Transport(Box::new(error)))
                })?,
        };
        let (per_second, burst) = self.rate;
        let keying = answers::Keying::random().ok_or(IntrospectionError::NoRandomness)?;
        Ok(Introspector {
            inner: Arc::new(Inner {
                keying,
                in_flight: Semaphore::new(self.max_in_flight),
                bucket: Mutex::new(Bucket {
                    tokens: f64::from(burst),
                    at: Instant::now(),
                }),
                per_second: f64::from(per_second),
                burst: f64::from(burst),
                client,
                config: self,
                calls: std::sync::atomic::AtomicU64::new(0),
            }),
        })
    }
}

/// Why an introspector could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IntrospectionError {
    /// The endpoint is not an `https` URL (`http` is allowed on loopback).
    #[error("the introspection endpoint {0:?} is not an https URL (http only on loopback)")]
    InsecureUrl(String),
    /// The endpoint refused the client's credentials.
    #[error("the introspection endpoint refused the client's credentials ({0})")]
    Credentials(http::StatusCode),
    /// The endpoint could not be asked.
    #[error("the introspection endpoint could not be asked: {0}")]
    Unreachable(#[source] FetchError),
    /// The endpoint's answer to a random token was not `{"active": false}`.
    #[error("the introspection endpoint's answer to a random token was not {{\"active\": false}}")]
    UnexpectedAnswer,
    /// The system gave no randomness for the seeds of the answers' keys.
    #[error("no system randomness for the introspection cache's keys")]
    NoRandomness,
}

/// A built introspection client: the endpoint, the credentials, the limits.
/// Cheap to clone; give it to
/// [`JwtAuthLayerBuilder::introspection`](crate::layer::JwtAuthLayerBuilder::introspection).
#[derive(Clone)]
pub struct Introspector {
    inner: Arc<Inner>,
}

struct Inner {
    config: Introspection,
    /// How the answers kept for this introspector's tokens are keyed.
    keying: answers::Keying,
    client: reqwest::Client,
    in_flight: Semaphore,
    bucket: Mutex<Bucket>,
    per_second: f64,
    burst: f64,
    calls: std::sync::atomic::AtomicU64,
}

/// A token bucket: how many calls may start now.
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl fmt::Debug for Introspector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Introspector")
            .field("endpoint", &self.inner.config.endpoint)
            .field("auth", &self.inner.config.auth)
            .finish_non_exhaustive()
    }
}

/// What the endpoint said.
enum Reply {
    /// 200 with this body.
    Answer(Bytes),
    /// 400, 401 or 403: the client's request or credentials were refused.
    Refused(http::StatusCode),
}

/// Why a request's introspection gave no answer: it gets 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unanswered {
    /// The rate limit was reached.
    Throttled,
    /// No call slot came free, or the endpoint did not answer, in time.
    TimedOut,
    /// The endpoint failed, refused the client, or answered garbage.
    Failed,
}

impl Introspector {
    /// The endpoint.
    pub fn endpoint(&self) -> &str {
        &self.inner.config.endpoint
    }

    /// How many introspection calls were made (the probe of
    /// [`Introspection::build`] included).
    pub fn calls(&self) -> u64 {
        self.inner.calls.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn config(&self) -> &Introspection {
        &self.inner.config
    }

    /// How the answers for this introspector's tokens are keyed.
    pub(crate) fn keying(&self) -> &answers::Keying {
        &self.inner.keying
    }

    /// Whether `token` is for introspection: not a JWT, or a JWT of one of
    /// the issuers configured for it.
    pub(crate) fn takes(&self, token: &[u8]) -> bool {
        // Most opaque tokens have no dot: one search tells.
        if memchr::memchr(b'.', token).is_none() || memchr::memchr_iter(b'.', token).count() != 2 {
            return true;
        }
        let issuers = &self.inner.config.jwt_issuers;
        !issuers.is_empty()
            && crate::validator::unverified_issuer(token).is_some_and(|iss| issuers.contains(&iss))
    }

    /// Takes one call from the rate limit, if one is left.
    fn take_rate(&self) -> bool {
        let inner = &self.inner;
        let mut bucket = inner
            .bucket
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let now = Instant::now();
        let refill = now.duration_since(bucket.at).as_secs_f64() * inner.per_second;
        bucket.tokens = (bucket.tokens + refill).min(inner.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Asks the endpoint about `token`, within the limits: the answer's
    /// body, or why there is none.
    pub(crate) async fn introspect(&self, token: &[u8]) -> Result<Bytes, Unanswered> {
        let deadline = tokio::time::Instant::now() + self.inner.config.timeout;
        if !self.take_rate() {
            tracing::warn!("introspection rate limit reached: answering 503");
            return Err(Unanswered::Throttled);
        }
        let _permit = tokio::time::timeout_at(deadline, self.inner.in_flight.acquire())
            .await
            .map_err(|_| Unanswered::TimedOut)?
            .map_err(|_| Unanswered::Failed)?;
        match tokio::time::timeout_at(deadline, self.call(token)).await {
            Err(_) => {
                tracing::warn!(endpoint = %self.endpoint(), "introspection timed out");
                Err(Unanswered::TimedOut)
            }
            Ok(Ok(Reply::Answer(body))) => Ok(body),
            Ok(Ok(Reply::Refused(status))) => {
                tracing::error!(endpoint = %self.endpoint(), %status, "the introspection endpoint refused the request: check the client's credentials, and that it introspects this kind of token");
                Err(Unanswered::Failed)
            }
            Ok(Err(error)) => {
                tracing::warn!(endpoint = %self.endpoint(), %error, "introspection failed");
                Err(Unanswered::Failed)
            }
        }
    }

    /// One call to the endpoint, without the limits.
    async fn call(&self, token: &[u8]) -> Result<Reply, FetchError> {
        let config = &self.inner.config;
        self.inner
            .calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Finished before the first await: the serializer is not `Send`.
        let body = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("token", &String::from_utf8_lossy(token));
            form.append_pair("token_type_hint", "access_token");
            config
                .auth
                .append_form(&mut form, &config.endpoint, crate::validator::now())
                .map_err(|error| FetchError::Transport(Box::new(error)))?;
            form.finish()
        };
        let mut request = self
            .inner
            .client
            .post(&config.endpoint)
            .timeout(config.timeout)
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(http::header::ACCEPT, "application/json")
            .body(body);
        if let Some(authorization) = config.auth.authorization() {
            request = request.header(http::header::AUTHORIZATION, authorization);
        }
        let mut response = request.send().await.map_err(transport)?;
        let status = response.status();
        if matches!(status.as_u16(), 400 | 401 | 403) {
            return Ok(Reply::Refused(status));
        }
        if status != http::StatusCode::OK {
            return Err(FetchError::Status(status));
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(FetchError::TooLarge { limit: MAX_BODY });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Reply::Answer(body.freeze()))
    }
}

fn transport(error: reqwest::Error) -> FetchError {
    if error.is_timeout() {
        FetchError::Timeout(Duration::ZERO)
    } else {
        FetchError::Transport(Box::new(error))
    }
}

/// The `active` member of an answer: `None` when the answer is not a JSON
/// object with a boolean `active`.
fn parse_active(body: &[u8]) -> Option<bool> {
    #[derive(Deserialize)]
    struct Active {
        active: bool,
    }
    serde_json::from_slice::<Active>(body)
        .ok()
        .map(|answer| answer.active)
}

impl Introspection {
    /// The issuer an active answer must name, if one was set.
    pub(crate) fn issuer_name(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// The rules of an active answer's registered claims: `iss`, `aud`,
    /// and [the times](Self::check_times).
    fn check(&self, registered: &RegisteredClaims<'_>, now: u64) -> Result<(), TokenError> {
        self.check_times(registered, now)?;
        if let Some(issuer) = &self.issuer
            && registered.iss.as_deref() != Some(issuer.as_str())
        {
            return Err(TokenError::InvalidIssuer);
        }
        if let Some(audiences) = &self.audiences
            && !registered
                .aud
                .iter()
                .any(|aud| audiences.iter().any(|ok| ok == aud))
        {
            return Err(TokenError::InvalidAudience);
        }
        Ok(())
    }

    /// `exp` and `nbf`, with the leeway (neither is required): checked when
    /// an answer comes, and again whenever a kept one is used.
    fn check_times(&self, registered: &RegisteredClaims<'_>, now: u64) -> Result<(), TokenError> {
        let leeway = self.leeway.as_secs();
        if registered
            .exp
            .is_some_and(|exp| now >= exp.saturating_add(leeway))
        {
            return Err(TokenError::Expired);
        }
        if registered
            .nbf
            .is_some_and(|nbf| nbf > now.saturating_add(leeway))
        {
            return Err(TokenError::NotYetValid);
        }
        Ok(())
    }
}
