//! The DPoP replay cache shared between instances (RFC 9449 §11.1): one conformance suite
//! run against every `ReplayStore` (Redis, PostgreSQL), two layers sharing one store as two
//! instances behind a load balancer would, and a store that cannot be reached failing
//! closed, at the layer and at the router's token endpoints.
//!
//! The Redis and PostgreSQL tests skip visibly without `TOWER_JWT_AUTH_TEST_REDIS_URL` /
//! `TOWER_JWT_AUTH_TEST_POSTGRES_URL` (and fail under `CI=true`).

// Proofs are signed with asymmetric keys: only with a crypto backend.
#![cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::RETRY_AFTER;
use http::{Request, StatusCode};
use http_body_util::Full;
use serde_json::json;
use support::{Answer, DpopClient, access_claims, call, creds, hs256, post_json, send};
use tower_jwt_auth::dpop::{Dpop, ReplayStore};
use tower_jwt_auth::password::PasswordHasher;
use tower_jwt_auth::revocation::{PgRevocations, RedisRevocations};
use tower_jwt_auth::store::MemoryStore;
use tower_jwt_auth::{Algorithm, Auth, JwtAuthLayer, Key, SigningKey, TokenIssuer};

const BASE: &str = "https://api.example.com";
const URL: &str = "https://api.example.com/secret";
const ALGS: &str = "ES256 ES384 EdDSA PS256 RS256";

/// A name no other run of these tests uses, for keys and prefixes.
fn fresh(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{what}-{}-{nanos}", std::process::id())
}

async fn redis_store() -> Option<Arc<RedisRevocations>> {
    let url = support::redis_url()?;
    let prefix = format!("{}:", fresh("dpop-test"));
    Some(Arc::new(RedisRevocations::new(&url, &prefix).unwrap()))
}

async fn postgres_store() -> Option<Arc<PgRevocations>> {
    let url = support::postgres_url()?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(5))
        .connect(&url)
        .await
        .unwrap();
    let store = PgRevocations::new(pool);
    store.install().await.unwrap();
    Some(Arc::new(store))
}

fn now() -> u64 {
    support::now()
}

// The conformance suite, written once.

async fn first_use_is_true_and_a_second_use_false(store: Arc<impl ReplayStore>) {
    let key = fresh("once");
    let now = now();
    assert!(store.first_use(&key, now, now + 60).await.unwrap());
    assert!(!store.first_use(&key, now, now + 60).await.unwrap());
    assert!(!store.first_use(&key, now + 30, now + 90).await.unwrap());
    // Another key is another proof.
    assert!(
        store
            .first_use(&fresh("other"), now, now + 60)
            .await
            .unwrap()
    );
}

async fn of_16_concurrent_first_uses_exactly_one_is_true(store: Arc<impl ReplayStore>) {
    for round in 0..5 {
        let key = fresh(&format!("race{round}"));
        let now = now();
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let store = Arc::clone(&store);
                let key = key.clone();
                tokio::spawn(async move { store.first_use(&key, now, now + 60).await.unwrap() })
            })
            .collect();
        let mut firsts = 0;
        for task in tasks {
            firsts += usize::from(task.await.unwrap());
        }
        assert_eq!(firsts, 1, "round {round}");
    }
}

async fn an_expired_entry_can_be_used_again(store: Arc<impl ReplayStore>) {
    let key = fresh("expiring");
    let start = now();
    assert!(store.first_use(&key, start, start + 1).await.unwrap());
    // Redis expires by its own clock, a relative TTL of a second; PostgreSQL compares with
    // the `now` given. Both are past the entry two seconds on.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let later = now();
    assert!(later > start + 1);
    assert!(store.first_use(&key, later, later + 60).await.unwrap());
    assert!(!store.first_use(&key, later, later + 60).await.unwrap());
}

macro_rules! replay_store_tests {
    ($backend:ident, $store:expr) => {
        mod $backend {
            use super::*;

            #[tokio::test]
            async fn first_use_is_true_and_a_second_use_false() {
                let Some(store) = $store.await else { return };
                super::first_use_is_true_and_a_second_use_false(store).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn of_16_concurrent_first_uses_exactly_one_is_true() {
                let Some(store) = $store.await else { return };
                super::of_16_concurrent_first_uses_exactly_one_is_true(store).await;
            }

            #[tokio::test]
            async fn an_expired_entry_can_be_used_again() {
                let Some(store) = $store.await else { return };
                super::an_expired_entry_can_be_used_again(store).await;
            }

            #[tokio::test]
            async fn a_proof_accepted_by_one_instance_is_refused_as_replayed_by_another() {
                let Some(store) = $store.await else { return };
                super::a_proof_accepted_by_one_instance_is_refused_as_replayed_by_another(store)
                    .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn one_proof_sent_to_two_instances_at_once_is_accepted_once() {
                let Some(store) = $store.await else { return };
                super::one_proof_sent_to_two_instances_at_once_is_accepted_once(store).await;
            }
        }
    };
}

replay_store_tests!(redis, redis_store());
replay_store_tests!(postgres, postgres_store());

// Instances sharing one store.

/// One instance's layer: DPoP required, its own replay cache, the shared store.
fn instance(store: &Arc<impl ReplayStore>) -> JwtAuthLayer {
    JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, support::SECRET).unwrap())
        .dpop(Dpop::new(BASE).required().shared_replay(Arc::clone(store)))
        .build()
        .unwrap()
}

fn bound_token(client: &DpopClient) -> String {
    let mut claims = access_claims("alice");
    claims["cnf"] = json!({ "jkt": client.jkt() });
    hs256().sign(&claims).unwrap()
}

fn dpop_get(token: &str, proof: &str) -> Request<Full<Bytes>> {
    Request::get("/secret")
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", proof)
        .body(Full::default())
        .unwrap()
}

fn assert_replayed(answer: &Answer) {
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{answer:?}");
    assert_eq!(
        answer.challenge(),
        Some(format!("DPoP error=\"invalid_dpop_proof\", algs=\"{ALGS}\"").as_str()),
        "{answer:?}"
    );
    assert_eq!(answer.body, json!({ "detail": "Invalid DPoP proof" }));
}

async fn a_proof_accepted_by_one_instance_is_refused_as_replayed_by_another(
    store: Arc<impl ReplayStore>,
) {
    let (a, b) = (instance(&store), instance(&store));
    let client = DpopClient::es256();
    let token = bound_token(&client);
    let proof = client.proof("GET", URL, Some(&token));
    send(&a, dpop_get(&token, &proof)).await.assert_ok("alice");
    // B never saw it, but the store did.
    assert_replayed(&send(&b, dpop_get(&token, &proof)).await);
    // A refuses it from its own cache.
    assert_replayed(&send(&a, dpop_get(&token, &proof)).await);
    // A fresh proof goes through B.
    let fresh = client.proof("GET", URL, Some(&token));
    send(&b, dpop_get(&token, &fresh)).await.assert_ok("alice");
}

async fn one_proof_sent_to_two_instances_at_once_is_accepted_once(store: Arc<impl ReplayStore>) {
    let (a, b) = (instance(&store), instance(&store));
    let client = DpopClient::eddsa();
    let token = bound_token(&client);
    for _ in 0..10 {
        let proof = client.proof("GET", URL, Some(&token));
        let (on_a, on_b) = tokio::join!(
            send(&a, dpop_get(&token, &proof)),
            send(&b, dpop_get(&token, &proof))
        );
        let accepted = [&on_a, &on_b]
            .iter()
            .filter(|answer| answer.status == StatusCode::OK)
            .count();
        assert_eq!(accepted, 1, "{on_a:?} {on_b:?}");
    }
}

// A store that cannot be reached.

/// A Redis URL on a loopback port nothing listens on.
fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("redis://127.0.0.1:{port}")
}

fn assert_unavailable(answer: &Answer, started: Instant) {
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE, "{answer:?}");
    assert!(answer.header(RETRY_AFTER.as_str()).is_some(), "{answer:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "{answer:?}");
}

#[tokio::test]
async fn an_unreachable_store_refuses_dpop_requests_with_503_and_retry_after() {
    let store = Arc::new(RedisRevocations::new(&closed_port_url(), "down:").unwrap());
    let layer = instance(&store);
    let client = DpopClient::es256();
    let token = bound_token(&client);
    for _ in 0..3 {
        let proof = client.proof("GET", URL, Some(&token));
        let started = Instant::now();
        let answer = tokio::time::timeout(
            Duration::from_secs(5),
            send(&layer, dpop_get(&token, &proof)),
        )
        .await
        .expect("the layer answers within the store's timeout");
        assert_unavailable(&answer, started);
    }
}

#[tokio::test]
async fn an_unreachable_store_refuses_login_with_a_proof_with_503() {
    let store = Arc::new(RedisRevocations::new(&closed_port_url(), "down:").unwrap());
    let issuer = TokenIssuer::new(SigningKey::hmac(Algorithm::HS256, support::SECRET).unwrap());
    let auth = Auth::builder(issuer, MemoryStore::new())
        .hasher(PasswordHasher::new(4, 2, 64).unwrap())
        .dpop(Dpop::new(BASE).shared_replay(store))
        .build()
        .unwrap();
    let router = auth.router();
    let signup = call(
        &router,
        post_json("/signup", &creds("alice", "correct horse")),
    )
    .await;
    assert_eq!(signup.status, StatusCode::CREATED, "{signup:?}");

    let client = DpopClient::es256();
    let mut login = post_json("/login", &creds("alice", "correct horse"));
    let proof = client.proof("POST", &format!("{BASE}/login"), None);
    login.headers_mut().insert("dpop", proof.parse().unwrap());
    let started = Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(5), call(&router, login))
        .await
        .expect("login answers within the store's timeout");
    assert_unavailable(&answer, started);
    // Without a proof, login needs no replay store.
    let plain = call(
        &router,
        post_json("/login", &creds("alice", "correct horse")),
    )
    .await;
    assert_eq!(plain.status, StatusCode::OK, "{plain:?}");
}

#[tokio::test]
async fn token_endpoints_share_the_store_with_the_layers() {
    let Some(store) = redis_store().await else {
        return;
    };
    let issuer = || TokenIssuer::new(SigningKey::hmac(Algorithm::HS256, support::SECRET).unwrap());
    let users = MemoryStore::new();
    let instance = |store: &Arc<RedisRevocations>| {
        Auth::builder(issuer(), users.clone())
            .hasher(PasswordHasher::new(4, 2, 64).unwrap())
            .dpop(Dpop::new(BASE).shared_replay(Arc::clone(store)))
            .build()
            .unwrap()
            .router()
    };
    let (a, b) = (instance(&store), instance(&store));
    let signup = call(&a, post_json("/signup", &creds("alice", "correct horse"))).await;
    assert_eq!(signup.status, StatusCode::CREATED, "{signup:?}");
    let client = DpopClient::es256();
    let proof = client.proof("POST", &format!("{BASE}/login"), None);
    let login = || {
        let mut request = post_json("/login", &creds("alice", "correct horse"));
        request.headers_mut().insert("dpop", proof.parse().unwrap());
        request
    };
    let first = call(&a, login()).await;
    assert_eq!(first.status, StatusCode::OK, "{first:?}");
    assert_replayed(&call(&b, login()).await);
}

/// An introspection endpoint on loopback that answers every POST with an active answer for
/// `alice`, bound to the DPoP key `jkt`: its URL.
#[cfg(feature = "remote")]
async fn bound_introspection_endpoint(jkt: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/introspect", listener.local_addr().unwrap());
    let answer = json!({
        "active": true, "sub": "alice", "scope": "read", "token_type": "DPoP",
        "exp": support::now() + 600, "iat": support::now(), "cnf": { "jkt": jkt },
    });
    let app = axum::Router::new().route(
        "/introspect",
        axum::routing::post(move || {
            let answer = answer.clone();
            async move { axum::Json(answer) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// A DPoP-bound opaque token, its binding from introspection (RFC 9449 §6.2): a proof that
/// one instance accepted is refused by another sharing the store, both on a request that
/// waited for its introspection answer and on one that found it kept.
#[cfg(feature = "remote")]
#[tokio::test]
async fn a_proof_for_an_introspected_token_is_refused_as_replayed_by_another_instance() {
    use tower_jwt_auth::introspection::{ClientAuth, Introspection};
    let Some(store) = redis_store().await else {
        return;
    };
    let client = DpopClient::es256();
    let url = bound_introspection_endpoint(client.jkt()).await;
    let instance = || {
        let introspector = Introspection::new(&url, ClientAuth::client_secret_basic("rs", "s"))
            .build_lazy()
            .unwrap();
        JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, support::SECRET).unwrap())
            .dpop(Dpop::new(BASE).shared_replay(Arc::clone(&store)))
            .introspection(introspector)
            .build()
            .unwrap()
    };
    let (a, b) = (instance(), instance());
    let token = fresh("opaque-token");
    let request = |proof: &str| {
        Request::get("/secret")
            .header("authorization", format!("DPoP {token}"))
            .header("dpop", proof)
            .body(Full::<Bytes>::default())
            .unwrap()
    };
    // Each instance's first request waits for the answer; the second finds it kept.
    for _ in 0..2 {
        let proof = client.proof("GET", URL, Some(&token));
        send(&a, request(&proof)).await.assert_ok("alice");
        assert_replayed(&send(&b, request(&proof)).await);
    }
    // Another key's proof (the Ed25519 test key) is refused.
    let stranger = DpopClient::eddsa().proof("GET", URL, Some(&token));
    assert_replayed(&send(&a, request(&stranger)).await);
}
