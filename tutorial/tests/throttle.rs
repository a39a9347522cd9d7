//! Login throttling: per username and per client address, 429 with `Retry-After`,
//! checked before the store and bcrypt, refilling by itself, and `X-Forwarded-For`
//! trusted only from named proxies.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use http::{Request, StatusCode};
use serde_json::json;
use support::CountingStore;
use support::{call, creds, post_json};
use tower_jwt_auth::password::PasswordHasher;
use tower_jwt_auth::router::{DEFAULT_HOLD_REFUSALS, LoginThrottle, RateLimit};
use tower_jwt_auth::{Algorithm, Auth, SigningKey, TokenIssuer};

const PASSWORD: &str = "correct horse";

fn limit(burst: u32, refill: Duration) -> Option<RateLimit> {
    RateLimit::new(burst, refill)
}

const HOUR: Duration = Duration::from_secs(3600);

async fn app(throttle: LoginThrottle, users: &[&str]) -> (Router, CountingStore) {
    let store = CountingStore::default();
    let issuer = TokenIssuer::new(SigningKey::hmac(Algorithm::HS256, support::SECRET).unwrap());
    let auth: Arc<Auth<CountingStore>> = Auth::builder(issuer, store.clone())
        .hasher(PasswordHasher::new(4, 2, 64).unwrap())
        .login_throttle(throttle)
        .build()
        .unwrap();
    let router = auth.router();
    for user in users {
        let answer = call(&router, post_json("/signup", &creds(user, PASSWORD))).await;
        assert_eq!(answer.status, StatusCode::CREATED);
    }
    (router, store)
}

/// A login from `peer` (as `into_make_service_with_connect_info` would record it).
fn login_from(
    peer: Option<&str>,
    forwarded: Option<&str>,
    username: &str,
    password: &str,
) -> Request<Body> {
    let mut request = post_json("/login", &creds(username, password));
    if let Some(peer) = peer {
        let addr = SocketAddr::new(peer.parse().unwrap(), 40000);
        request.extensions_mut().insert(ConnectInfo(addr));
    }
    if let Some(forwarded) = forwarded {
        request
            .headers_mut()
            .insert("x-forwarded-for", forwarded.parse().unwrap());
    }
    request
}

fn assert_throttled(answer: &support::Answer, max_retry: u64) {
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS, "{answer:?}");
    assert_eq!(
        answer.body,
        json!({ "detail": "Too many attempts, try again later" })
    );
    let retry: u64 = answer.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=max_retry).contains(&retry), "Retry-After {retry}");
}

#[tokio::test]
async fn failed_logins_for_one_username_are_throttled_with_429_and_retry_after() {
    let throttle = LoginThrottle::new()
        .per_username(limit(3, HOUR))
        .per_address(None);
    let (router, _) = app(throttle, &["alice", "bob"]).await;
    // Guesses from three different addresses: the username's bucket is shared.
    for peer in ["192.0.2.1", "192.0.2.2", "192.0.2.3"] {
        let answer = call(
            &router,
            login_from(Some(peer), None, "alice", "wrong horse"),
        )
        .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    // Even the right password is refused now, from a fourth address.
    let answer = call(
        &router,
        login_from(Some("192.0.2.4"), None, "alice", PASSWORD),
    )
    .await;
    assert_throttled(&answer, HOUR.as_secs());
    // Another account is untouched.
    let answer = call(
        &router,
        login_from(Some("192.0.2.4"), None, "bob", PASSWORD),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn a_429_is_held_so_that_retrying_at_once_is_slowed_down() {
    let throttle = LoginThrottle::new()
        .per_username(limit(1, HOUR))
        .per_address(None);
    let (router, _) = app(throttle, &["alice"]).await;
    let answer = call(
        &router,
        login_from(Some("192.0.2.1"), None, "alice", PASSWORD),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    for _ in 0..2 {
        let start = std::time::Instant::now();
        let answer = call(
            &router,
            login_from(Some("192.0.2.1"), None, "alice", PASSWORD),
        )
        .await;
        assert_throttled(&answer, HOUR.as_secs());
        assert!(
            start.elapsed() >= DEFAULT_HOLD_REFUSALS,
            "{:?}",
            start.elapsed()
        );
    }
}

#[tokio::test]
async fn many_usernames_from_one_address_are_throttled_per_address() {
    let throttle = LoginThrottle::new()
        .per_username(None)
        .per_address(limit(2, HOUR));
    let (router, _) = app(throttle, &["alice"]).await;
    for user in ["u1", "u2"] {
        let answer = call(
            &router,
            login_from(Some("198.51.100.7"), None, user, PASSWORD),
        )
        .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    let answer = call(
        &router,
        login_from(Some("198.51.100.7"), None, "alice", PASSWORD),
    )
    .await;
    assert_throttled(&answer, HOUR.as_secs());
    // Another address still gets in.
    let answer = call(
        &router,
        login_from(Some("198.51.100.8"), None, "alice", PASSWORD),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    // IPv6 clients are grouped by /64: the neighbour shares the bucket, after 2 uses.
    for _ in 0..2 {
        call(
            &router,
            login_from(Some("2001:db8::1"), None, "x", "wrong horse"),
        )
        .await;
    }
    let answer = call(
        &router,
        login_from(Some("2001:db8::ffff"), None, "alice", PASSWORD),
    )
    .await;
    assert_throttled(&answer, HOUR.as_secs());
}

#[tokio::test]
async fn a_throttled_login_never_reaches_the_store_or_bcrypt() {
    let throttle = LoginThrottle::new()
        .per_username(limit(1, HOUR))
        .per_address(None);
    let (router, store) = app(throttle, &["alice"]).await;
    let answer = call(&router, login_from(None, None, "alice", "wrong horse")).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    let (reads, writes) = (store.reads(), store.writes());
    for _ in 0..5 {
        let answer = call(&router, login_from(None, None, "alice", PASSWORD)).await;
        assert_throttled(&answer, HOUR.as_secs());
    }
    // The user lookup comes before any bcrypt work; neither happened.
    assert_eq!((store.reads(), store.writes()), (reads, writes));
}

#[tokio::test]
async fn the_bucket_refills_so_a_real_user_is_never_locked_out_for_good() {
    let refill = Duration::from_millis(300);
    let throttle = LoginThrottle::new()
        .per_username(limit(2, refill))
        .per_address(None);
    let (router, _) = app(throttle, &["alice"]).await;
    // An attacker burns the bucket...
    let mut throttled = false;
    for _ in 0..50 {
        let answer = call(&router, login_from(None, None, "alice", "wrong horse")).await;
        if answer.status == StatusCode::TOO_MANY_REQUESTS {
            throttled = true;
            break;
        }
    }
    assert!(throttled, "the burst of 2 was exceeded");
    // ...and stops. One refill period later (a lower bound that sleeping guarantees),
    // the real user gets in.
    tokio::time::sleep(refill + Duration::from_millis(50)).await;
    let answer = call(&router, login_from(None, None, "alice", PASSWORD)).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
}

#[tokio::test]
async fn forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy() {
    // Off by default: a client cannot pick a fresh bucket with the header.
    let throttle = LoginThrottle::new()
        .per_username(None)
        .per_address(limit(1, HOUR));
    let (router, _) = app(throttle, &["alice"]).await;
    let first = call(
        &router,
        login_from(Some("203.0.113.5"), Some("1.1.1.1"), "alice", PASSWORD),
    )
    .await;
    assert_eq!(first.status, StatusCode::OK);
    let second = call(
        &router,
        login_from(Some("203.0.113.5"), Some("2.2.2.2"), "alice", PASSWORD),
    )
    .await;
    assert_throttled(&second, HOUR.as_secs());

    // Behind a named proxy, the right-most untrusted address is the client.
    let proxy: IpAddr = "10.0.0.1".parse().unwrap();
    let throttle = LoginThrottle::new()
        .per_username(None)
        .per_address(limit(1, HOUR))
        .trust_forwarded_for([proxy]);
    let (router, _) = app(throttle, &["alice"]).await;
    for client in ["1.1.1.1", "9.9.9.9, 2.2.2.2"] {
        let answer = call(
            &router,
            login_from(Some("10.0.0.1"), Some(client), "alice", PASSWORD),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK, "client {client}");
    }
    // The same client again, whatever it claims further left, is throttled.
    let again = call(
        &router,
        login_from(
            Some("10.0.0.1"),
            Some("7.7.7.7, 2.2.2.2"),
            "alice",
            PASSWORD,
        ),
    )
    .await;
    assert_throttled(&again, HOUR.as_secs());
    // A peer that is not the proxy cannot use the header either.
    let spoofed = call(
        &router,
        login_from(Some("203.0.113.9"), Some("3.3.3.3"), "alice", PASSWORD),
    )
    .await;
    assert_eq!(spoofed.status, StatusCode::OK);
    let spoofed = call(
        &router,
        login_from(Some("203.0.113.9"), Some("4.4.4.4"), "alice", PASSWORD),
    )
    .await;
    assert_throttled(&spoofed, HOUR.as_secs());
}

#[tokio::test]
async fn without_connect_info_all_clients_share_one_bucket() {
    let throttle = LoginThrottle::new()
        .per_username(None)
        .per_address(limit(1, HOUR));
    let (router, _) = app(throttle, &["alice"]).await;
    let answer = call(&router, login_from(None, None, "alice", PASSWORD)).await;
    assert_eq!(answer.status, StatusCode::OK);
    let answer = call(&router, login_from(None, Some("5.5.5.5"), "bob", PASSWORD)).await;
    assert_throttled(&answer, HOUR.as_secs());
}

#[tokio::test]
async fn disabled_throttling_never_answers_429() {
    let (router, _) = app(LoginThrottle::disabled(), &["alice"]).await;
    for _ in 0..30 {
        let answer = call(&router, login_from(None, None, "alice", "wrong horse")).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
}

#[test]
fn the_default_limits_are_the_documented_ones() {
    let throttle = LoginThrottle::default();
    assert_eq!(
        throttle.username_limit(),
        limit(10, Duration::from_secs(30))
    );
    assert_eq!(throttle.address_limit(), limit(20, Duration::from_secs(3)));
    assert!(throttle.trusted_proxies().is_empty());
    assert_eq!(LoginThrottle::disabled().username_limit(), None);
}

#[test]
fn the_example_reads_trusted_proxies_from_the_environment() {
    let config = tutorial::config_from(support::vars(&[])).unwrap();
    assert!(config.trusted_proxies.is_empty(), "off by default");
    let config =
        tutorial::config_from(support::vars(&[("TRUSTED_PROXY", "10.0.0.1, ::1")])).unwrap();
    assert_eq!(
        config.trusted_proxies,
        vec![
            "10.0.0.1".parse::<IpAddr>().unwrap(),
            "::1".parse().unwrap()
        ]
    );
    let error =
        tutorial::config_from(support::vars(&[("TRUSTED_PROXY", "proxy.local")])).unwrap_err();
    assert!(error.contains("TRUSTED_PROXY"), "{error}");
}

/// The example app served as `main` serves it (`serving::serve`, which gives each request
/// its connection's extensions) on loopback: the peer address reaches the throttle, and the
/// default limits apply.
#[tokio::test]
async fn the_example_server_throttles_by_peer_address_by_default() {
    let config = tutorial::config_from(support::vars(&[
        ("APP_SECRET_STRING", support::APP_SECRET),
        ("BCRYPT_COST", "4"),
    ]))
    .unwrap();
    let app = tutorial::app(tower_jwt_auth::store::MemoryStore::new(), &config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serving = tokio::spawn(async move {
        tutorial::serving::serve(listener, app, &Default::default(), std::future::pending()).await;
    });
    let burst = LoginThrottle::default().address_limit().unwrap().burst();
    let mut statuses = Vec::new();
    // Distinct usernames, so that only the per-address limit can trip. The bucket
    // starts full, so the first `burst` attempts are answered; after that, one comes
    // back every 3 s, far slower than these requests unless each took seconds.
    for n in 0..burst + 100 {
        let body = creds(&format!("nobody{n}"), "wrong horse");
        let reply = support::send_http(addr, "POST", "/login", &[], Some(&body))
            .await
            .unwrap();
        statuses.push(reply.status);
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            assert!(reply.headers.contains_key("retry-after"));
            break;
        }
    }
    // Another peer has a bucket of its own: had the address not reached the throttle, every
    // client would share one bucket, which the burst above has just emptied.
    // Only the bind may fail (not every system routes all of 127.0.0.0/8 to loopback); a
    // failed request from a bound address fails the test.
    let other_peer = std::net::IpAddr::from([127, 0, 0, 2]);
    let other = if std::net::TcpListener::bind((other_peer, 0)).is_ok() {
        let body = creds("somebody else", "wrong horse");
        let reply =
            support::send_http_from(other_peer, addr, "POST", "/login", &[], Some(&body)).await;
        Some(reply.expect("a login from 127.0.0.2").status)
    } else {
        support::skip("127.0.0.2 cannot be bound here: the second peer's bucket is not checked");
        None
    };
    serving.abort();
    assert!(
        statuses[..burst as usize]
            .iter()
            .all(|status| *status == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    assert_eq!(statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS));
    if let Some(status) = other {
        assert_eq!(status, StatusCode::UNAUTHORIZED, "a login from 127.0.0.2");
    }
}

#[tokio::test]
async fn signups_are_throttled_in_buckets_of_their_own() {
    let throttle = LoginThrottle::new()
        .per_username(None)
        .per_address(limit(2, HOUR));
    let (router, _) = app(throttle, &[]).await;
    for user in ["s1", "s2"] {
        let answer = call(&router, post_json("/signup", &creds(user, PASSWORD))).await;
        assert_eq!(answer.status, StatusCode::CREATED);
    }
    let answer = call(&router, post_json("/signup", &creds("s3", PASSWORD))).await;
    assert_throttled(&answer, HOUR.as_secs());
    // Logins from the same address have their own buckets.
    for user in ["s1", "s2"] {
        let answer = call(&router, login_from(None, None, user, PASSWORD)).await;
        assert_eq!(answer.status, StatusCode::OK);
    }
}

/// A subscriber that keeps what is logged, for the current thread.
fn capture_logs() -> (
    tracing::subscriber::DefaultGuard,
    Arc<std::sync::Mutex<Vec<u8>>>,
) {
    let logs = Arc::new(std::sync::Mutex::new(Vec::new()));
    let writer = Arc::clone(&logs);
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || Log(Arc::clone(&writer)))
        .finish();
    (tracing::subscriber::set_default(subscriber), logs)
}

struct Log(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Log {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn an_unreachable_shared_limiter_falls_back_to_the_per_instance_limits() {
    // Nothing listens on port 1 of loopback: every command fails at once.
    let unreachable = Arc::new(
        tower_jwt_auth::revocation::RedisRevocations::new("redis://127.0.0.1:1", "t:").unwrap(),
    );
    let throttle = LoginThrottle::new()
        .per_address(None)
        .per_username(limit(2, HOUR))
        .shared(unreachable);
    assert!(throttle.is_shared());
    let (_guard, logs) = capture_logs();
    let (router, _) = app(throttle, &["alice"]).await;
    for _ in 0..2 {
        let answer = call(&router, login_from(None, None, "alice", "wrong horse")).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    let answer = call(&router, login_from(None, None, "alice", "wrong horse")).await;
    assert_throttled(&answer, HOUR.as_secs());
    // Past the 2 s before the store is tried again: it fails again, still one outage.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let answer = call(&router, login_from(None, None, "alice", PASSWORD)).await;
    assert_throttled(&answer, HOUR.as_secs());
    let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert_eq!(
        logs.matches("shared login limiter unreachable").count(),
        1,
        "{logs}"
    );
    assert!(!logs.contains("horse"), "no password in the logs");
}
