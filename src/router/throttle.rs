//! Login and signup throttling: per username and per client address,
//! checked before any store lookup or bcrypt work, in this process or, with
//! [`LoginThrottle::shared`], across every instance.
//!
//! The policy is documented on [`LoginThrottle`].

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sha2::{Digest, Sha256};

use super::error::AuthError;
use super::limit_store::{DynLimitStore, LimitStore};
use super::log_limit::LogLimit;
use crate::outage::Outage;

/// How long one call to the shared store may take before this attempt is
/// judged by the per-instance limits instead.
const SHARED_TIMEOUT: Duration = Duration::from_secs(1);

/// After the shared store failed, how long attempts are judged by the
/// per-instance limits before the store is tried again: an outage must not
/// add a timeout to every login.
const SHARED_RETRY: Duration = Duration::from_secs(2);

/// Every this many checks, buckets that are full again are dropped, so that
/// sprayed usernames and addresses do not accumulate.
const HOUSEKEEPING_EVERY: u32 = 1024;

/// A GCRA limit: `burst` attempts at once, then one more every
/// `refill_every`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    burst: NonZeroU32,
    refill_every: Duration,
}

impl RateLimit {
    /// A limit of `burst` attempts at once, refilled at one per
    /// `refill_every`. `None` if `burst` is 0 or `refill_every` is zero.
    pub fn new(burst: u32, refill_every: Duration) -> Option<Self> {
        let burst = NonZeroU32::new(burst)?;
        if refill_every.is_zero() {
            return None;
        }
        Some(Self {
            burst,
            refill_every,
        })
    }

    /// How many attempts may come at once.
    pub fn burst(&self) -> u32 {
        self.burst.get()
    }

    /// How long one attempt takes to come back.
    pub fn refill_every(&self) -> Duration {
        self.refill_every
    }

    fn quota(self) -> Option<Quota> {
        Quota::with_period(self.refill_every).map(|quota| quota.allow_burst(self.burst))
    }
}

/// Login and signup throttling settings for [`AuthBuilder::login_throttle`](super::AuthBuilder::login_throttle).
///
/// # Policy
///
/// Two independent GCRA limits, each a bucket that holds `burst` attempts
/// and gets one back every `refill_every`:
///
/// - **per client address** (default: 20 at once, then one every 3 s): bounds
///   how fast one source can guess, across all usernames, and how much bcrypt
///   work it can cause. IPv6 addresses are grouped by their /64 prefix, which
///   one client usually controls whole.
/// - **per username** (default: 10 at once, then one every 30 s): bounds how
///   fast an account can be guessed at from many addresses.
///
/// Every login attempt counts, successful or not, and is checked before the
/// store and bcrypt are touched, so a throttled request costs almost nothing.
/// A refused attempt is answered `429 Too Many Requests` with `Retry-After`
/// (whole seconds until the bucket has room again). The address is checked
/// first: an attempt it refuses does not count against the username.
///
/// Nothing locks an account: there is no permanent lockout and no state
/// beyond the buckets. A bucket refills by itself, so a user whose account an
/// attacker is hammering can log in again at most `refill_every` after the
/// attack stops, and while it lasts, the per-address limit makes the attacker
/// spend one address for every `refill_every` of lockout they want to hold.
/// `/signup` has the same two limits, in buckets of its own: signing up
/// does not use up logins, nor the reverse. Refresh and logout are not
/// throttled here (they cost no bcrypt work).
///
/// # Several instances
///
/// By default the buckets live in this process ([governor]), so N instances
/// behind a load balancer allow N times the attempts. With
/// [`LoginThrottle::shared`] they live in a [`LimitStore`] that every
/// instance reaches (Redis or PostgreSQL, the backends that share
/// revocations), where each attempt is taken atomically: the instances
/// together allow what one instance would. Usernames enter the store only
/// as their SHA-256 hash.
///
/// When the store cannot be reached (or takes more than a second), the
/// attempt is judged by the per-instance buckets instead, and so is every
/// attempt in the next two seconds before the store is tried again: limits
/// never drop away, they become per instance for the outage. The outage is
/// logged once when it starts and once when it ends.
///
/// # Client addresses
///
/// The client address is the peer address that axum's
/// [`ConnectInfo<SocketAddr>`](axum::extract::ConnectInfo) provides: serve the
/// app with `into_make_service_with_connect_info::<SocketAddr>()`. Without
/// it, every request shares one per-address bucket (and a warning is logged
/// once): throttling still holds, but one client can then slow logins for
/// all.
///
/// `X-Forwarded-For` is ignored unless the peer is one of the proxies named
/// with [`LoginThrottle::trust_forwarded_for`]; then the right-most address in
/// it that is not itself a trusted proxy is the client. Off by default: a
/// client could otherwise pick its own bucket.
///
/// [governor]: https://docs.rs/governor
#[derive(Clone)]
#[must_use]
pub struct LoginThrottle {
    per_username: Option<RateLimit>,
    per_address: Option<RateLimit>,
    trusted_proxies: Vec<IpAddr>,
    shared: Option<Arc<dyn DynLimitStore>>,
}

impl std::fmt::Debug for LoginThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginThrottle")
            .field("per_username", &self.per_username)
            .field("per_address", &self.per_address)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("shared", &self.shared.is_some())
            .finish()
    }
}

/// Equal when the limits, the proxies and the shared store (the same one)
/// are.
impl PartialEq for LoginThrottle {
    fn eq(&self, other: &Self) -> bool {
        self.per_username == other.per_username
            && self.per_address == other.per_address
            && self.trusted_proxies == other.trusted_proxies
            && match (&self.shared, &other.shared) {
                (None, None) => true,
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                _ => false,
            }
    }
}

impl Eq for LoginThrottle {}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self {
            per_username: RateLimit::new(10, Duration::from_secs(30)),
            per_address: RateLimit::new(20, Duration::from_secs(3)),
            trusted_proxies: Vec::new(),
            shared: None,
        }
    }
}

impl LoginThrottle {
    /// The default limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// No throttling at all (for tests, or when a proxy in front already
    /// limits logins).
    pub fn disabled() -> Self {
        Self {
            per_username: None,
            per_address: None,
            trusted_proxies: Vec::new(),
            shared: None,
        }
    }

    /// The per-username limit; `None` turns it off.
    pub fn per_username(mut self, limit: Option<RateLimit>) -> Self {
        self.per_username = limit;
        self
    }

    /// The per-client-address limit; `None` turns it off.
    pub fn per_address(mut self, limit: Option<RateLimit>) -> Self {
        self.per_address = limit;
        self
    }

    /// Trusts `X-Forwarded-For` from these proxy addresses (exact peer
    /// addresses). Empty, the default, trusts no one.
    pub fn trust_forwarded_for(mut self, proxies: impl IntoIterator<Item = IpAddr>) -> Self {
        self.trusted_proxies = proxies.into_iter().map(|ip| ip.to_canonical()).collect();
        self
    }

    /// Keeps the buckets in `store`, shared by every instance that uses it
    /// (see [several instances](Self#several-instances)); the per-instance
    /// buckets stay as the fallback for when it cannot be reached.
    pub fn shared(mut self, store: Arc<impl LimitStore>) -> Self {
        self.shared = Some(store);
        self
    }

    /// Whether the buckets are shared ([`LoginThrottle::shared`]).
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// The per-username limit.
    pub fn username_limit(&self) -> Option<RateLimit> {
        self.per_username
    }

    /// The per-address limit.
    pub fn address_limit(&self) -> Option<RateLimit> {
        self.per_address
    }

    /// The proxies whose `X-Forwarded-For` is trusted.
    pub fn trusted_proxies(&self) -> &[IpAddr] {
        &self.trusted_proxies
    }

    pub(crate) fn build(self) -> Throttle {
        Throttle {
            login: Buckets::new(self.per_username, self.per_address),
            signup: Buckets::new(self.per_username, self.per_address),
            per_username: self.per_username,
            per_address: self.per_address,
            shared: self.shared.map(|store| Shared {
                store,
                retry_at_ms: AtomicU64::new(0),
                outage: Outage::default(),
            }),
            trusted_proxies: self.trusted_proxies,
            checks: AtomicU32::new(0),
            warned_no_peer: AtomicBool::new(false),
        }
    }
}

/// What an attempt is: each kind has buckets of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Attempt {
    Login,
    Signup,
}

impl Attempt {
    fn name(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Signup => "signup",
        }
    }
}

/// One kind's per-instance buckets.
struct Buckets {
    users: Option<DefaultKeyedRateLimiter<String>>,
    addresses: Option<DefaultKeyedRateLimiter<IpAddr>>,
}

impl Buckets {
    fn new(per_username: Option<RateLimit>, per_address: Option<RateLimit>) -> Self {
        Self {
            users: per_username
                .and_then(RateLimit::quota)
                .map(RateLimiter::dashmap),
            addresses: per_address
                .and_then(RateLimit::quota)
                .map(RateLimiter::dashmap),
        }
    }

    fn housekeeping(&self) {
        if let Some(users) = &self.users {
            users.retain_recent();
        }
        if let Some(addresses) = &self.addresses {
            addresses.retain_recent();
        }
    }
}

/// The shared store and whether it is reachable.
struct Shared {
    store: Arc<dyn DynLimitStore>,
    /// Until when (ms since the epoch) attempts skip the store after it
    /// failed.
    retry_at_ms: AtomicU64,
    outage: Outage,
}

impl Shared {
    fn usable(&self, now_ms: u64) -> bool {
        now_ms >= self.retry_at_ms.load(Ordering::Relaxed)
    }

    fn failed(&self, now_ms: u64, error: &dyn std::fmt::Display) {
        let retry = u64::try_from(SHARED_RETRY.as_millis()).unwrap_or(u64::MAX);
        self.retry_at_ms
            .store(now_ms.saturating_add(retry), Ordering::Relaxed);
        if self.outage.failed() {
            tracing::error!(
                %error,
                "shared login limiter unreachable: per-instance limits until it answers"
            );
        }
    }

    fn answered(&self) {
        if self.outage.answered() {
            tracing::info!("shared login limiter reachable again");
        }
    }

    /// Takes one attempt from `bucket`, bounded by [`SHARED_TIMEOUT`].
    async fn take(
        &self,
        bucket: &str,
        limit: RateLimit,
    ) -> Result<Option<Duration>, Box<dyn std::fmt::Display + Send>> {
        match tokio::time::timeout(SHARED_TIMEOUT, self.store.take_boxed(bucket, limit)).await {
            Ok(Ok(wait)) => Ok(wait),
            Ok(Err(error)) => Err(Box::new(error)),
            Err(_) => Err(Box::new("no answer within a second")),
        }
    }
}

/// The running limiters.
pub(crate) struct Throttle {
    login: Buckets,
    signup: Buckets,
    per_username: Option<RateLimit>,
    per_address: Option<RateLimit>,
    shared: Option<Shared>,
    trusted_proxies: Vec<IpAddr>,
    checks: AtomicU32,
    warned_no_peer: AtomicBool,
}

impl Throttle {
    /// Takes one attempt from the client's and the username's buckets of
    /// `attempt`, or answers [`AuthError::Throttled`]. Usernames longer
    /// than `max_username_bytes` cannot name an account and are limited per
    /// address only. The address is checked first: an attempt it refuses
    /// does not count against the username.
    pub(crate) async fn check(
        &self,
        attempt: Attempt,
        username: &str,
        max_username_bytes: usize,
        peer: Option<SocketAddr>,
        headers: &HeaderMap,
    ) -> Result<(), AuthError> {
        if self.per_username.is_none() && self.per_address.is_none() {
            return Ok(());
        }
        if self
            .checks
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(HOUSEKEEPING_EVERY)
        {
            self.login.housekeeping();
            self.signup.housekeeping();
        }
        let client = self.per_address.map(|_| self.client_address(peer, headers));
        let username = (username.len() <= max_username_bytes).then_some(username);
        if let Some(shared) = &self.shared {
            let now_ms = now_ms();
            if shared.usable(now_ms) {
                match self.check_shared(shared, attempt, client, username).await {
                    Ok(outcome) => {
                        shared.answered();
                        return outcome;
                    }
                    Err(error) => shared.failed(now_ms, &error),
                }
            }
        }
        self.check_local(attempt, client, username)
    }

    /// The attempt judged by the shared buckets; `Err` when the store did
    /// not answer.
    async fn check_shared(
        &self,
        shared: &Shared,
        attempt: Attempt,
        client: Option<IpAddr>,
        username: Option<&str>,
    ) -> Result<Result<(), AuthError>, Box<dyn std::fmt::Display + Send>> {
        if let (Some(limit), Some(client)) = (self.per_address, client) {
            let bucket = format!("{}:addr:{client}", attempt.name());
            if let Some(wait) = shared.take(&bucket, limit).await? {
                return Ok(Err(refused_address(wait)));
            }
        }
        if let (Some(limit), Some(username)) = (self.per_username, username) {
            let hashed = URL_SAFE_NO_PAD.encode(Sha256::digest(username.as_bytes()));
            let bucket = format!("{}:user:{hashed}", attempt.name());
            if let Some(wait) = shared.take(&bucket, limit).await? {
                return Ok(Err(refused_username(wait)));
            }
        }
        Ok(Ok(()))
    }

    /// The attempt judged by this instance's buckets.
    fn check_local(
        &self,
        attempt: Attempt,
        client: Option<IpAddr>,
        username: Option<&str>,
    ) -> Result<(), AuthError> {
        let buckets = match attempt {
            Attempt::Login => &self.login,
            Attempt::Signup => &self.signup,
        };
        let wait = |not_until: governor::NotUntil<_>| {
            not_until.wait_time_from(DefaultClock::default().now())
        };
        if let (Some(addresses), Some(client)) = (&buckets.addresses, client) {
            addresses
                .check_key(&client)
                .map_err(|not_until| refused_address(wait(not_until)))?;
        }
        if let (Some(users), Some(username)) = (&buckets.users, username) {
            users
                .check_key(&username.to_owned())
                .map_err(|not_until| refused_username(wait(not_until)))?;
        }
        Ok(())
    }

    /// The bucket key of the client: its address (IPv6 by /64), through
    /// trusted proxies, or one shared key when the peer is unknown.
    fn client_address(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> IpAddr {
        let Some(peer) = peer else {
            if !self.warned_no_peer.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    "login throttling has no client address (serve with \
                     into_make_service_with_connect_info::<SocketAddr>()); all clients share one bucket"
                );
            }
            return IpAddr::from(Ipv6Addr::UNSPECIFIED);
        };
        let mut client = peer.ip().to_canonical();
        if self.trusted_proxies.contains(&client) {
            client = forwarded_client(headers, &self.trusted_proxies).unwrap_or(client);
        }
        bucket_of(client)
    }
}

/// The right-most `X-Forwarded-For` address that is not a trusted proxy.
/// `None` if the header is missing or that entry is not an address.
fn forwarded_client(headers: &HeaderMap, trusted: &[IpAddr]) -> Option<IpAddr> {
    let mut entries: Vec<&str> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        entries.extend(value.to_str().ok()?.split(','));
    }
    for entry in entries.iter().rev() {
        let ip = entry.trim().parse::<IpAddr>().ok()?.to_canonical();
        if !trusted.contains(&ip) {
            return Some(ip);
        }
    }
    None
}

/// IPv6 clients are grouped by /64.
fn bucket_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

fn refused_address(wait: Duration) -> AuthError {
    static THROTTLED: LogLimit = LogLimit::new();
    if let Some(held_back) = THROTTLED.report() {
        tracing::warn!(held_back, "login throttled for a client address");
    }
    throttled(wait)
}

fn refused_username(wait: Duration) -> AuthError {
    // Not the username: it may be a password typed in the wrong field.
    static THROTTLED: LogLimit = LogLimit::new();
    if let Some(held_back) = THROTTLED.report() {
        tracing::warn!(held_back, "login throttled for a username");
    }
    throttled(wait)
}

fn throttled(wait: Duration) -> AuthError {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    AuthError::Throttled {
        retry_after: secs.max(1),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn forwarded_for_takes_the_rightmost_untrusted_address() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let inner: IpAddr = "10.0.0.2".parse().unwrap();
        let trusted = [proxy, inner];
        assert_eq!(
            forwarded_client(&forwarded(&["1.1.1.1, 2.2.2.2, 10.0.0.2"]), &trusted),
            Some("2.2.2.2".parse().unwrap())
        );
        assert_eq!(
            forwarded_client(&forwarded(&["1.1.1.1", "3.3.3.3"]), &trusted),
            Some("3.3.3.3".parse().unwrap())
        );
        assert_eq!(forwarded_client(&forwarded(&["garbage"]), &trusted), None);
        assert_eq!(forwarded_client(&HeaderMap::new(), &trusted), None);
    }

    #[test]
    fn ipv6_clients_share_a_bucket_per_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(bucket_of(a), bucket_of(b));
        assert_ne!(bucket_of(a), bucket_of(c));
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(bucket_of(v4), v4);
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let secs = |wait| match throttled(wait) {
            AuthError::Throttled { retry_after } => retry_after,
            other => panic!("{other:?}"),
        };
        assert_eq!(secs(Duration::ZERO), 1);
        assert_eq!(secs(Duration::from_millis(1500)), 2);
        assert_eq!(secs(Duration::from_secs(30)), 30);
    }

    #[test]
    fn rate_limits_refuse_zero() {
        assert!(RateLimit::new(0, Duration::from_secs(1)).is_none());
        assert!(RateLimit::new(1, Duration::ZERO).is_none());
        assert_eq!(
            RateLimit::new(3, Duration::from_secs(2)).map(|limit| limit.burst()),
            Some(3)
        );
    }
}
