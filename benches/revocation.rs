//! The cached `/secret` path with each revocation hook: the same HS256 access token, already
//! cached, through an `Auth` layer whose replica is
//!
//! - `local`: the in-process list (no backend: today's single-instance setup);
//! - `memory`, `postgres`, `redis`: a replica kept in step with that backend by its task
//!   (`postgres` with `TOWER_JWT_AUTH_TEST_POSTGRES_URL`, `redis` with
//!   `TOWER_JWT_AUTH_TEST_REDIS_URL`; skipped when unset).
//!
//! Each replica holds 1,000 unrelated revocations. The request path reads only the replica,
//! so the four should cost the same (the issue's criterion: within 5 %).
//!
//! Then the shared login limiter (`login_throttle`): one `LimitStore::take` on each backend,
//! and a whole `POST /login` (an unknown user, bcrypt cost 4) through the router with the
//! buckets in the process (`local`) or on a backend. Limits high enough never to refuse.
//!
//! `-- --interleaved [ROUNDS]` measures the four cached `/secret` services in turn within one
//! process instead (criterion runs them one after another, and the machine drifts between).
//!
//! ```sh
//! TOWER_JWT_AUTH_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test_revocation \
//! TOWER_JWT_AUTH_TEST_REDIS_URL=redis://127.0.0.1:6379 \
//!   cargo bench --bench revocation --all-features
//! ```

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group};
use http::{HeaderValue, Request};
use tower::ServiceBuilder;
use tower_jwt_auth::revocation::{
    MemoryRevocations, Replica, ReplicaTask, RevocationBackend, Revoked,
};
use tower_jwt_auth::router::{LoginThrottle, RateLimit};
use tower_jwt_auth::store::MemoryStore;
use tower_jwt_auth::{Algorithm, Auth, SigningKey, TokenIssuer};

use support::bench::{call, noop};

fn issuer() -> TokenIssuer {
    TokenIssuer::new(SigningKey::hmac(Algorithm::HS256, support::SECRET).unwrap())
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An auth service over `backend` (or none), its replica loaded with 1,000 revocations.
async fn setup<B: RevocationBackend>(
    backend: Option<Arc<B>>,
) -> (Arc<Auth<MemoryStore>>, Option<ReplicaTask>) {
    let builder = Auth::builder(issuer(), MemoryStore::new()).bcrypt_cost(4);
    let Some(backend) = backend else {
        let auth = builder.build().unwrap();
        for n in 0..1000 {
            auth.revocation_list()
                .revoke(&format!("other-{n}"), now() + 600);
        }
        return (auth, None);
    };
    let prefix = format!("bench-{}-", std::process::id());
    for n in 0..1000 {
        backend
            .revoke(&Revoked::token(&format!("{prefix}{n}"), now() + 600))
            .await
            .unwrap();
    }
    let replica = Arc::new(Replica::new());
    let task = replica.sync(Arc::clone(&backend));
    assert!(replica.loaded(Duration::from_secs(10)).await);
    let auth = builder.shared_revocation(replica, backend).build().unwrap();
    assert!(auth.revocation_list().len() >= 1000);
    (auth, Some(task))
}

/// A named auth service and its replica's task, if any.
type Setup = (&'static str, Arc<Auth<MemoryStore>>, Option<ReplicaTask>);

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut setups: Vec<Setup> = Vec::new();
    let (auth, task) = runtime.block_on(setup::<MemoryRevocations>(None));
    setups.push(("local", auth, task));
    let (auth, task) = runtime.block_on(setup(Some(Arc::new(MemoryRevocations::new()))));
    setups.push(("memory", auth, task));
    #[cfg(feature = "postgres")]
    if let Ok(url) = std::env::var("TOWER_JWT_AUTH_TEST_POSTGRES_URL") {
        let (auth, task) = runtime.block_on(async {
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            let backend = tower_jwt_auth::revocation::PgRevocations::new(pool);
            backend.install().await.unwrap();
            setup(Some(Arc::new(backend))).await
        });
        setups.push(("postgres", auth, task));
    }
    #[cfg(feature = "redis")]
    if let Ok(url) = std::env::var("TOWER_JWT_AUTH_TEST_REDIS_URL") {
        let prefix = format!("bench-{}:", std::process::id());
        let backend = tower_jwt_auth::revocation::RedisRevocations::new(&url, &prefix).unwrap();
        let (auth, task) = runtime.block_on(setup(Some(Arc::new(backend))));
        setups.push(("redis", auth, task));
    }
    let mut group = c.benchmark_group("secret_cached");
    let token = issuer()
        .access_in_family("alice", "family-1", now())
        .unwrap();
    let authorization = HeaderValue::from_str(&format!("Bearer {}", token.token)).unwrap();
    let mut services: Vec<_> = setups
        .iter()
        .map(|(name, auth, _)| {
            let mut service = ServiceBuilder::new()
                .layer(auth.layer())
                .service_fn(noop as fn(_) -> _);
            assert_eq!(call(&mut service, &authorization), 200);
            (*name, service)
        })
        .collect();
    if interleaved_rounds().is_some() {
        // `--interleaved`: the same services in turn, in one process.
        group.finish();
        let mut contenders: Vec<support::bench::Contender<'_>> = services
            .iter_mut()
            .map(|(name, service)| {
                let authorization = &authorization;
                let contender: Box<dyn FnMut() -> bool + '_> =
                    Box::new(move || call(service, black_box(authorization)) == 200);
                (*name, contender)
            })
            .collect();
        let rounds = interleaved_rounds().unwrap_or(31);
        support::bench::interleaved("secret_cached", rounds, &mut contenders);
        return;
    }
    for (name, service) in &mut services {
        group.bench_function(*name, |b| {
            b.iter(|| call(service, black_box(&authorization)))
        });
    }
    group.finish();
    drop(setups);
}

/// A limit that never refuses within a benchmark.
fn generous() -> RateLimit {
    RateLimit::new(u32::MAX, Duration::from_millis(1)).unwrap()
}

/// `POST /login` for an unknown user: throttle, then a dummy bcrypt verification.
fn login_request() -> Request<axum::body::Body> {
    Request::post("/login")
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(axum::body::Body::from(
            r#"{"username":"nobody","password":"not the password"}"#,
        ))
        .unwrap()
}

fn login_router(throttle: LoginThrottle) -> axum::Router {
    let generous = throttle
        .per_username(Some(generous()))
        .per_address(Some(generous()));
    Auth::builder(issuer(), MemoryStore::new())
        .bcrypt_cost(4)
        .login_throttle(generous)
        .hold_refusals(Duration::ZERO)
        .build()
        .unwrap()
        .router()
}

fn throttle(c: &mut Criterion) {
    use tower::ServiceExt;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    // The shared backends join only with their features.
    #[cfg_attr(not(any(feature = "postgres", feature = "redis")), allow(unused_mut))]
    let mut throttles = vec![("login/local", LoginThrottle::new())];
    let mut group = c.benchmark_group("login_throttle");
    #[cfg(feature = "postgres")]
    if let Ok(url) = std::env::var("TOWER_JWT_AUTH_TEST_POSTGRES_URL") {
        use tower_jwt_auth::router::LimitStore;
        let backend = runtime.block_on(async {
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            let backend = tower_jwt_auth::revocation::PgRevocations::new(pool);
            backend.install().await.unwrap();
            Arc::new(backend)
        });
        let bucket = format!("bench-{}", std::process::id());
        group.bench_function("take/postgres", |b| {
            b.iter(|| runtime.block_on(backend.take(&bucket, generous())).unwrap())
        });
        throttles.push(("login/postgres", LoginThrottle::new().shared(backend)));
    }
    #[cfg(feature = "redis")]
    if let Ok(url) = std::env::var("TOWER_JWT_AUTH_TEST_REDIS_URL") {
        use tower_jwt_auth::router::LimitStore;
        let prefix = format!("bench-{}:", std::process::id());
        let backend =
            Arc::new(tower_jwt_auth::revocation::RedisRevocations::new(&url, &prefix).unwrap());
        group.bench_function("take/redis", |b| {
            b.iter(|| {
                runtime
                    .block_on(backend.take("bucket", generous()))
                    .unwrap()
            })
        });
        throttles.push(("login/redis", LoginThrottle::new().shared(backend)));
    }
    for (name, throttle) in throttles {
        let router = login_router(throttle);
        group.bench_function(name, |b| {
            b.iter(|| {
                let status = runtime
                    .block_on(router.clone().oneshot(login_request()))
                    .unwrap()
                    .status();
                assert_eq!(status, http::StatusCode::UNAUTHORIZED);
            })
        });
    }
    group.finish();
}

/// `Some(rounds)` with `-- --interleaved [ROUNDS]`: the cached `/secret` services measured
/// in turn within one process (default 31 rounds), instead of criterion.
fn interleaved_rounds() -> Option<usize> {
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|arg| arg == "--interleaved")?;
    Some(args.get(at + 1).and_then(|n| n.parse().ok()).unwrap_or(31))
}

criterion_group!(benches, bench, throttle);

fn main() {
    if interleaved_rounds().is_some() {
        bench(&mut Criterion::default());
        return;
    }
    // What `criterion_main!` would write.
    benches();
    Criterion::default().configure_from_args().final_summary();
}
