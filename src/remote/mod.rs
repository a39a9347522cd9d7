//! Keys fetched from an identity provider: discovery, remote JWKS, and the
//! policy that keeps them fresh.
//!
//! [`RemoteKeys`] holds one issuer's published keys. The request path only
//! ever reads them, lock-free, from a [`KeyRing`]; a background task
//! refreshes them before they expire (revalidating with `ETag`), and a token
//! whose `kid` is not among them triggers at most one refetch per cooldown,
//! shared by every request that waits for it and never waited on longer
//! than the fetch timeout.
//!
//! | Setting | Default |
//! |---|---|
//! | Keys kept for | `Cache-Control: max-age`, clamped to [1 min, 24 h]; 10 min without one |
//! | Refreshed | in the background, at three quarters of that time |
//! | Refetch on an unknown `kid` | at most once per 30 s per issuer, shared |
//! | HTTP timeout, body cap | 5 s, 1 MiB; redirects only within the host |
//! | A failed refresh | keeps the last good keys, retries with backoff (1 s to 5 min) |
//! | Keys older than | 24 h: the issuer's tokens are refused until a fetch succeeds |
//!
//! ```no_run
//! use tower_jwt_auth::remote::RemoteKeys;
//! use tower_jwt_auth::{JwtAuthLayer, TrustedIssuer};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // Discovery: the issuer's metadata names its JWKS.
//! let keys = RemoteKeys::discover("https://login.example.com/realms/main").build().await?;
//! let layer = JwtAuthLayer::builder_for(TrustedIssuer::remote(keys).audiences(["my-api"]))
//!     .build()?;
//! # drop(layer);
//! # Ok(())
//! # }
//! ```

mod discovery;
mod fetch;

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use jsonwebtoken::Algorithm;
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::time::Instant;

pub(crate) use fetch::check_url;
pub use fetch::{Fetch, FetchError, FetchFuture, FetchRequest, Fetched, HttpFetch};

use crate::key::jwks::{self, JwksError};
use crate::key::{ASYMMETRIC_ALGORITHMS as ASYMMETRIC, KeyRing, KeySet};
use crate::validator::key_source::{KeySource, KeyWait};
use crate::validator::trusted_issuer::TrustedIssuer;

/// How fresh remote keys are kept; see the [module docs](self) for the
/// defaults.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RefreshPolicy {
    /// How long keys are kept when the response has no `max-age`.
    pub default_ttl: Duration,
    /// The shortest time keys are kept, whatever `max-age` says.
    pub min_ttl: Duration,
    /// The longest time keys are kept, whatever `max-age` says.
    pub max_ttl: Duration,
    /// The least time between two refetches caused by unknown `kid`s.
    pub miss_cooldown: Duration,
    /// The most one HTTP request may take.
    pub timeout: Duration,
    /// The largest metadata or JWKS document read.
    pub max_body: usize,
    /// How long the last good keys are used while refreshes fail.
    pub max_staleness: Duration,
    /// The first wait before a failed refresh is retried; it doubles with
    /// each failure. It is also the least time between two background
    /// refreshes, whatever the lifetime.
    pub retry_min: Duration,
    /// The longest wait between retries.
    pub retry_max: Duration,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self {
            default_ttl: Duration::from_secs(10 * 60),
            min_ttl: Duration::from_secs(60),
            max_ttl: Duration::from_secs(24 * 60 * 60),
            miss_cooldown: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
            max_body: 1024 * 1024,
            max_staleness: Duration::from_secs(24 * 60 * 60),
            retry_min: Duration::from_secs(1),
            retry_max: Duration::from_secs(5 * 60),
        }
    }
}

/// Why remote keys could not be fetched, or could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteError {
    /// Remote keys need a tokio runtime for their background refresh.
    #[error("remote keys must be built inside a tokio runtime")]
    NoRuntime,
    /// A request failed.
    #[error("fetching {url} failed: {source}")]
    Fetch {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: FetchError,
    },
    /// No usable metadata document.
    #[error("the metadata at {url} is unusable: {reason}")]
    Discovery {
        /// The URL.
        url: String,
        /// Why.
        reason: &'static str,
    },
    /// The metadata names another issuer than the one configured.
    #[error("the metadata names the issuer {found:?}, not {expected:?}")]
    IssuerMismatch {
        /// The configured issuer.
        expected: String,
        /// The issuer the metadata names.
        found: String,
    },
    /// The JWKS is not a JWK set, or holds no key this crate can use.
    #[error("the JWKS at {url} is unusable: {source}")]
    Jwks {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: JwksError,
    },
}

/// Where the JWKS is found.
#[derive(Debug, Clone)]
enum Location {
    /// By discovery from the issuer's metadata.
    Discovery,
    /// At this URL.
    Jwks(String),
}

/// One issuer's keys, fetched from it and kept fresh.
///
/// Cheap to clone: clones share the keys and the background refresh, which
/// stops when the last clone (and every layer using it) is dropped.
#[derive(Clone)]
pub struct RemoteKeys {
    inner: Arc<Inner>,
}

impl fmt::Debug for RemoteKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteKeys")
            .field("issuer", &self.inner.issuer)
            .field("jwks_url", &self.inner.jwks_url.get())
            .field("keys", &self.inner.ring.current().len())
            .finish_non_exhaustive()
    }
}

impl RemoteKeys {
    /// Keys of `issuer`, found by discovery: OpenID Connect
    /// (`/.well-known/openid-configuration`), then RFC 8414
    /// (`/.well-known/oauth-authorization-server`). The metadata's `issuer`
    /// must equal `issuer` exactly.
    pub fn discover(issuer: impl Into<String>) -> RemoteKeysBuilder {
        RemoteKeysBuilder::new(issuer.into(), Location::Discovery)
    }

    /// Keys of `issuer` published at `jwks_url`, without discovery.
    pub fn jwks(jwks_url: impl Into<String>, issuer: impl Into<String>) -> RemoteKeysBuilder {
        RemoteKeysBuilder::new(issuer.into(), Location::Jwks(jwks_url.into()))
    }

    /// The issuer.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The key ring the request path reads.
    pub fn ring(&self) -> &KeyRing {
        &self.inner.ring
    }

    /// How many fetches have ended, successful or not.
    pub fn fetches(&self) -> u64 {
        *self.inner.done.borrow()
    }

    /// Refreshes the keys now (sharing a fetch already under way), and waits
    /// for the outcome.
    ///
    /// # Errors
    ///
    /// Why the fetch failed; the last good keys are kept.
    pub async fn refresh(&self) -> Result<(), RemoteError> {
        let mut done = self.inner.start_fetch(&mut self.inner.lock());
        let _ = done.changed().await;
        match &self.inner.lock().last_error {
            None => Ok(()),
            Some(error) => Err(error.clone_for_caller()),
        }
    }
}

impl KeySource for RemoteKeys {
    /// The wait a request carrying an unknown `kid` may do: for a fetch
    /// already under way, or for one it starts unless one started for an
    /// unknown `kid` within the cooldown. `None`: refuse the token now.
    fn on_unknown_kid(&self) -> Option<KeyWait> {
        let inner = &self.inner;
        let mut state = inner.lock();
        let done = if state.in_flight {
            inner.done.subscribe()
        } else {
            let now = Instant::now();
            if state
                .last_miss
                .is_some_and(|last| now.duration_since(last) < inner.policy.miss_cooldown)
            {
                return None;
            }
            state.last_miss = Some(now);
            inner.start_fetch(&mut state)
        };
        let timeout = inner.policy.timeout;
        Some(Box::pin(async move {
            let mut done = done;
            let _ = tokio::time::timeout(timeout, done.changed()).await;
        }))
    }
}

impl TrustedIssuer {
    /// The issuer of `keys`, whose keys are fetched from it and kept
    /// fresh; see [`RemoteKeys`].
    pub fn remote(keys: RemoteKeys) -> Self {
        let issuer = keys.issuer().to_owned();
        let ring = keys.ring().clone();
        Self::with_key_source(issuer, ring, Arc::new(keys))
    }
}

/// Builds [`RemoteKeys`].
#[must_use]
pub struct RemoteKeysBuilder {
    issuer: String,
    location: Location,
    policy: RefreshPolicy,
    fetch: Option<Arc<dyn Fetch>>,
    algorithms: Vec<Algorithm>,
}

impl fmt::Debug for RemoteKeysBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteKeysBuilder")
            .field("issuer", &self.issuer)
            .field("location", &self.location)
            .field("policy", &self.policy)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

impl RemoteKeysBuilder {
    fn new(issuer: String, location: Location) -> Self {
        Self {
            issuer,
            location,
            policy: RefreshPolicy::default(),
            fetch: None,
            algorithms: ASYMMETRIC.to_vec(),
        }
    }

    /// Replaces the whole refresh policy.
    pub fn policy(mut self, policy: RefreshPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// How long keys are kept without `max-age`, and the bounds a `max-age`
    /// is clamped to.
    pub fn cache_ttl(mut self, default: Duration, min: Duration, max: Duration) -> Self {
        self.policy.default_ttl = default;
        self.policy.min_ttl = min;
        self.policy.max_ttl = max.max(min);
        self
    }

    /// The least time between two refetches caused by unknown `kid`s.
    pub fn miss_cooldown(mut self, cooldown: Duration) -> Self {
        self.policy.miss_cooldown = cooldown;
        self
    }

    /// The most one HTTP request may take.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.policy.timeout = timeout;
        self
    }

    /// The largest document read.
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.policy.max_body = bytes;
        self
    }

    /// How long the last good keys are used while refreshes fail.
    pub fn max_staleness(mut self, staleness: Duration) -> Self {
        self.policy.max_staleness = staleness;
        self
    }

    /// The waits before retrying a failed refresh: `min`, doubling up to
    /// `max`.
    pub fn retry(mut self, min: Duration, max: Duration) -> Self {
        self.policy.retry_min = min;
        self.policy.retry_max = max.max(min);
        self
    }

    /// Fetches with `fetch` instead of the default [`HttpFetch`].
    pub fn fetch(mut self, fetch: impl Fetch) -> Self {
        self.fetch = Some(Arc::new(fetch));
        self
    }

    /// Uses keys only with these algorithms (default: every asymmetric
    /// one; HMAC algorithms are never used with remote keys).
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms
            .into_iter()
            .filter(|alg| ASYMMETRIC.contains(alg))
            .collect();
        self
    }

    fn into_inner(self) -> Result<Arc<Inner>, RemoteError> {
        let runtime = Handle::try_current().map_err(|_| RemoteError::NoRuntime)?;
        let fetch = match self.fetch {
            Some(fetch) => fetch,
            None => Arc::new(HttpFetch::new().map_err(|source| RemoteError::Fetch {
                url: self.issuer.clone(),
                source,
            })?),
        };
        let jwks_url = OnceLock::new();
        if let Location::Jwks(url) = &self.location {
            let _ = jwks_url.set(url.clone());
        }
        let (done, _) = watch::channel(0);
        Ok(Arc::new(Inner {
            issuer: self.issuer,
            jwks_url,
            fetch,
            policy: self.policy,
            algorithms: self.algorithms,
            ring: KeyRing::new(KeySet::default()),
            state: Mutex::new(State::default()),
            done,
            runtime,
            task: OnceLock::new(),
        }))
    }

    /// Fetches the keys once (after discovery, if configured) and starts the
    /// background refresh.
    ///
    /// # Errors
    ///
    /// Why the first fetch failed, or [`RemoteError::NoRuntime`] outside a
    /// tokio runtime.
    pub async fn build(self) -> Result<RemoteKeys, RemoteError> {
        let inner = self.into_inner()?;
        let outcome = inner.fetch_keys().await;
        let failed = outcome.as_ref().err().map(RemoteError::clone_for_caller);
        inner.record(outcome, true);
        if let Some(error) = failed {
            return Err(error);
        }
        Ok(Inner::start(inner))
    }

    /// Starts without the issuer being reachable: the first fetch runs in
    /// the background, and tokens of this issuer are refused (after a wait
    /// of at most the timeout) until it succeeds.
    ///
    /// # Errors
    ///
    /// [`RemoteError::NoRuntime`] outside a tokio runtime.
    pub fn build_lazy(self) -> Result<RemoteKeys, RemoteError> {
        let inner = self.into_inner()?;
        Ok(Inner::start(inner))
    }
}

struct Inner {
    issuer: String,
    jwks_url: OnceLock<String>,
    fetch: Arc<dyn Fetch>,
    policy: RefreshPolicy,
    algorithms: Vec<Algorithm>,
    ring: KeyRing,
    state: Mutex<State>,
    /// The number of fetches that have ended; waiters watch it.
    done: watch::Sender<u64>,
    runtime: Handle,
    /// The background refresh, aborted when the keys are dropped.
    task: OnceLock<tokio::task::AbortHandle>,
}

#[derive(Default)]
struct State {
    in_flight: bool,
    etag: Option<HeaderValue>,
    /// The body of the keys in use, to tell a new key set from the same.
    body: Option<Bytes>,
    last_success: Option<Instant>,
    /// When the background task fetches next.
    refresh_at: Option<Instant>,
    /// When a refetch for an unknown `kid` last started.
    last_miss: Option<Instant>,
    /// Failed fetches in a row.
    failures: u32,
    last_error: Option<RemoteError>,
    /// Whether the keys were dropped for being older than the staleness
    /// limit.
    stale: bool,
}

/// What a successful fetch brought.
enum Fresh {
    NotModified {
        ttl: Duration,
    },
    Keys {
        set: KeySet,
        body: Bytes,
        etag: Option<HeaderValue>,
        ttl: Duration,
        skipped: Vec<String>,
    },
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = self.task.get() {
            task.abort();
        }
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts the background refresh and hands out the keys.
    fn start(inner: Arc<Self>) -> RemoteKeys {
        let weak = Arc::downgrade(&inner);
        let task = inner.runtime.spawn(refresh_loop(weak));
        let _ = inner.task.set(task.abort_handle());
        RemoteKeys { inner }
    }

    /// Starts a fetch unless one is under way; the receiver changes when it
    /// ends. Called with the state locked, so that a fetch cannot end
    /// between the check and the subscription.
    fn start_fetch(self: &Arc<Self>, state: &mut State) -> watch::Receiver<u64> {
        let done = self.done.subscribe();
        if !state.in_flight {
            state.in_flight = true;
            let inner = Arc::clone(self);
            self.runtime.spawn(async move {
                let outcome = inner.fetch_keys().await;
                inner.record(outcome, false);
            });
        }
        done
    }

    /// The time until the background task should fetch.
    fn until_refresh(&self) -> Duration {
        let state = self.lock();
        state.refresh_at.map_or(Duration::ZERO, |at| {
            at.saturating_duration_since(Instant::now())
        })
    }

    /// One `GET`, with the policy's limits enforced whatever the client
    /// does.
    async fn get(&self, url: &str, etag: Option<HeaderValue>) -> Result<Fetched, RemoteError> {
        let fail = |source| RemoteError::Fetch {
            url: url.to_owned(),
            source,
        };
        fetch::check_url(url).map_err(fail)?;
        let conditional = etag.is_some();
        let request = FetchRequest {
            url: url.to_owned(),
            if_none_match: etag,
            timeout: self.policy.timeout,
            max_body: self.policy.max_body,
        };
        let response = tokio::time::timeout(self.policy.timeout, self.fetch.fetch(request))
            .await
            .map_err(|_| fail(FetchError::Timeout(self.policy.timeout)))?
            .map_err(|error| match error {
                FetchError::Timeout(_) => fail(FetchError::Timeout(self.policy.timeout)),
                other => fail(other),
            })?;
        if response.body.len() > self.policy.max_body {
            return Err(fail(FetchError::TooLarge {
                limit: self.policy.max_body,
            }));
        }
        match response.status {
            StatusCode::OK => Ok(response),
            StatusCode::NOT_MODIFIED if conditional => Ok(response),
            status => Err(fail(FetchError::Status(status))),
        }
    }

    /// The JWKS URL, discovering it first if need be.
    async fn jwks_url(&self) -> Result<String, RemoteError> {
        if let Some(url) = self.jwks_url.get() {
            return Ok(url.clone());
        }
        let mut last = None;
        for url in discovery::metadata_urls(&self.issuer) {
            match self.get(&url, None).await {
                Ok(response) => {
                    let jwks = discovery::jwks_uri(&self.issuer, &url, &response.body)?;
                    fetch::check_url(&jwks).map_err(|source| RemoteError::Fetch {
                        url: jwks.clone(),
                        source,
                    })?;
                    let _ = self.jwks_url.set(jwks.clone());
                    return Ok(jwks);
                }
                // Not there: try the other well-known path.
                Err(RemoteError::Fetch {
                    source: FetchError::Status(StatusCode::NOT_FOUND),
                    url,
                }) => {
                    last = Some(RemoteError::Fetch {
                        url,
                        source: FetchError::Status(StatusCode::NOT_FOUND),
                    });
                }
                Err(other) => return Err(other),
            }
        }
        Err(last.unwrap_or(RemoteError::Discovery {
            url: self.issuer.clone(),
            reason: "the issuer is not a URL",
        }))
    }

    async fn fetch_keys(&self) -> Result<Fresh, RemoteError> {
        let url = self.jwks_url().await?;
        let etag = self.lock().etag.clone();
        let response = self.get(&url, etag).await?;
        let ttl = fetch::max_age(&response.headers)
            .unwrap_or(self.policy.default_ttl)
            .clamp(self.policy.min_ttl, self.policy.max_ttl);
        if response.status == StatusCode::NOT_MODIFIED {
            return Ok(Fresh::NotModified { ttl });
        }
        let parsed = jwks::parse_jwks(&response.body, &self.algorithms).map_err(|source| {
            RemoteError::Jwks {
                url: url.clone(),
                source,
            }
        })?;
        if parsed.keys.is_empty() {
            return Err(RemoteError::Jwks {
                url,
                source: JwksError::NoUsableKeys {
                    skipped: parsed.skipped,
                },
            });
        }
        Ok(Fresh::Keys {
            set: KeySet::new(parsed.keys),
            etag: response.headers.get(http::header::ETAG).cloned(),
            body: response.body,
            ttl,
            skipped: parsed.skipped,
        })
    }

    /// Records a fetch's outcome: new keys in the ring, the next refresh
    /// time, and a log line at the start and the end of a failure streak.
    fn record(&self, outcome: Result<Fresh, RemoteError>, first: bool) {
        let now = Instant::now();
        let mut state = self.lock();
        state.in_flight = false;
        match outcome {
            Ok(fresh) => {
                let ttl = match fresh {
                    Fresh::NotModified { ttl } => ttl,
                    Fresh::Keys {
                        set,
                        body,
                        etag,
                        ttl,
                        skipped,
                    } => {
                        if state.body.as_ref() != Some(&body) || state.stale {
                            if !skipped.is_empty() {
                                tracing::warn!(
                                    issuer = %self.issuer,
                                    skipped = ?skipped,
                                    "some keys of the issuer's JWKS are not used"
                                );
                            }
                            tracing::debug!(issuer = %self.issuer, keys = set.len(), "new keys");
                            self.ring.replace(set);
                            state.body = Some(body);
                        }
                        state.etag = etag;
                        ttl
                    }
                };
                if state.failures > 0 && !first {
                    tracing::info!(
                        issuer = %self.issuer,
                        failures = state.failures,
                        "the issuer's keys were fetched again"
                    );
                }
                state.failures = 0;
                state.stale = false;
                state.last_error = None;
                state.last_success = Some(now);
                // Never sooner than the first retry wait: a lifetime of zero
                // (`no-store` with a zero minimum) must not refetch nonstop.
                state.refresh_at = Some(now + (ttl * 3 / 4).max(self.policy.retry_min));
            }
            Err(error) => {
                if state.failures == 0 && !first {
                    if state.last_success.is_some() && !state.stale {
                        tracing::warn!(
                            issuer = %self.issuer,
                            %error,
                            "fetching the issuer's keys failed; the last good keys stay in use"
                        );
                    } else {
                        tracing::warn!(
                            issuer = %self.issuer,
                            %error,
                            "fetching the issuer's keys failed; it has no keys in use, and \
                             its tokens are refused until a fetch succeeds"
                        );
                    }
                }
                state.failures = state.failures.saturating_add(1);
                let backoff = self
                    .policy
                    .retry_min
                    .saturating_mul(1 << state.failures.min(16).saturating_sub(1))
                    .min(self.policy.retry_max);
                // Jitter of up to a quarter, so that instances do not retry
                // in step.
                let backoff = backoff + backoff.mul_f64(jitter() / 4.0);
                let mut next = now + backoff;
                if let Some(success) = state.last_success {
                    let deadline = success + self.policy.max_staleness;
                    if now >= deadline {
                        if !state.stale {
                            tracing::error!(
                                issuer = %self.issuer,
                                %error,
                                staleness = ?self.policy.max_staleness,
                                "the issuer's keys are older than the staleness limit; \
                                 its tokens are refused until a fetch succeeds"
                            );
                            self.ring.replace(KeySet::default());
                            state.body = None;
                            state.etag = None;
                            state.stale = true;
                        }
                    } else {
                        next = next.min(deadline);
                    }
                }
                state.refresh_at = Some(next);
                state.last_error = Some(error);
            }
        }
        self.done.send_modify(|count| *count += 1);
    }
}

impl RemoteError {
    /// A copy for a caller, while the original stays recorded.
    fn clone_for_caller(&self) -> Self {
        match self {
            Self::NoRuntime => Self::NoRuntime,
            Self::Fetch { url, source } => Self::Fetch {
                url: url.clone(),
                source: match source {
                    FetchError::InsecureUrl(url) => FetchError::InsecureUrl(url.clone()),
                    FetchError::Timeout(after) => FetchError::Timeout(*after),
                    FetchError::TooLarge { limit } => FetchError::TooLarge { limit: *limit },
                    FetchError::Status(status) => FetchError::Status(*status),
                    FetchError::Redirect => FetchError::Redirect,
                    FetchError::Transport(error) => FetchError::Transport(error.to_string().into()),
                },
            },
            Self::Discovery { url, reason } => Self::Discovery {
                url: url.clone(),
                reason,
            },
            Self::IssuerMismatch { expected, found } => Self::IssuerMismatch {
                expected: expected.clone(),
                found: found.clone(),
            },
            Self::Jwks { url, source } => Self::Jwks {
                url: url.clone(),
                source: source.clone(),
            },
        }
    }
}

/// A number in [0, 1) that differs between processes and calls.
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(u64::from(std::process::id()));
    #[allow(clippy::cast_precision_loss)]
    let fraction = (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64;
    fraction
}

/// The background refresh: sleeps until the next refresh is due, then
/// fetches (sharing a fetch already under way). It holds the keys only
/// weakly, and is aborted when they are dropped.
async fn refresh_loop(weak: Weak<Inner>) {
    loop {
        let wait = match weak.upgrade() {
            Some(inner) => inner.until_refresh(),
            None => return,
        };
        tokio::time::sleep(wait).await;
        let mut done = {
            let Some(inner) = weak.upgrade() else { return };
            let mut state = inner.lock();
            inner.start_fetch(&mut state)
        };
        if done.changed().await.is_err() {
            return;
        }
    }
}
