//! Login throttling: per username and per client address, checked before any
//! store lookup or bcrypt work.
//!
//! The policy is documented on [`LoginThrottle`].

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use axum::http::HeaderMap;
use governor::clock::{Clock, DefaultClock};

use super::log_limit::LogLimit;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::error::AuthError;

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

/// Login throttling settings for [`AuthBuilder::login_throttle`](super::AuthBuilder::login_throttle).
///
/// # Policy
///
/// Two independent GCRA limits (the [governor] crate), each a bucket that
/// holds `burst` attempts and gets one back every `refill_every`:
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
/// Signup, refresh and logout are not throttled here (signup is bounded by
/// the hasher's queue).
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
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct LoginThrottle {
    per_username: Option<RateLimit>,
    per_address: Option<RateLimit>,
    trusted_proxies: Vec<IpAddr>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self {
            per_username: RateLimit::new(10, Duration::from_secs(30)),
            per_address: RateLimit::new(20, Duration::from_secs(3)),
            trusted_proxies: Vec::new(),
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
            users: self
                .per_username
                .and_then(RateLimit::quota)
                .map(RateLimiter::dashmap),
            addresses: self
                .per_address
                .and_then(RateLimit::quota)
                .map(RateLimiter::dashmap),
            trusted_proxies: self.trusted_proxies,
            checks: AtomicU32::new(0),
            warned_no_peer: AtomicBool::new(false),
        }
    }
}

/// The running limiters.
pub(crate) struct Throttle {
    users: Option<DefaultKeyedRateLimiter<String>>,
    addresses: Option<DefaultKeyedRateLimiter<IpAddr>>,
    trusted_proxies: Vec<IpAddr>,
    checks: AtomicU32,
    warned_no_peer: AtomicBool,
}

impl Throttle {
    /// Takes one attempt from the client's and the username's buckets, or
    /// answers [`AuthError::Throttled`]. Usernames longer than
    /// `max_username_bytes` cannot name an account and are limited per
    /// address only.
    pub(crate) fn check(
        &self,
        username: &str,
        max_username_bytes: usize,
        peer: Option<SocketAddr>,
        headers: &HeaderMap,
    ) -> Result<(), AuthError> {
        if self.users.is_none() && self.addresses.is_none() {
            return Ok(());
        }
        if self
            .checks
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(HOUSEKEEPING_EVERY)
        {
            self.housekeeping();
        }
        if let Some(addresses) = &self.addresses {
            let client = self.client_address(peer, headers);
            addresses.check_key(&client).map_err(|not_until| {
                static THROTTLED: LogLimit = LogLimit::new();
                if let Some(held_back) = THROTTLED.report() {
                    tracing::warn!(held_back, "login throttled for a client address");
                }
                throttled(not_until.wait_time_from(DefaultClock::default().now()))
            })?;
        }
        if let Some(users) = &self.users
            && username.len() <= max_username_bytes
        {
            users.check_key(&username.to_owned()).map_err(|not_until| {
                // Not the username: it may be a password typed in the wrong field.
                static THROTTLED: LogLimit = LogLimit::new();
                if let Some(held_back) = THROTTLED.report() {
                    tracing::warn!(held_back, "login throttled for a username");
                }
                throttled(not_until.wait_time_from(DefaultClock::default().now()))
            })?;
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

    fn housekeeping(&self) {
        if let Some(users) = &self.users {
            users.retain_recent();
        }
        if let Some(addresses) = &self.addresses {
            addresses.retain_recent();
        }
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
