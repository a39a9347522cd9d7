//! DPoP (RFC 9449) costs: a request with a fresh proof through the layer (ES256 and EdDSA
//! proofs, the token a cache hit) against the same token as a bearer token, and the replay
//! cache under inserts from one and from two threads.
//!
//! ```sh
//! cargo bench --bench dpop
//! ```
//!
//! - `dpop/request/{ES256,EdDSA}`: one request with `Authorization: DPoP` and a new proof
//!   (each proof made outside the timing: signing is the client's cost). The token is an
//!   HS256 access token in the layer's cache, so the figure is the proof's cost: parsing,
//!   the `jwk` → key with its checks, the signature, the claims, the thumbprint, `ath`
//!   and the replay cache.
//! - `dpop/request/{ES256,EdDSA}_cpu`: the same, timed by the bench thread's CPU clock
//!   instead of the wall clock (Linux), which a shared machine's other processes do not move.
//! - `dpop/request/bearer`: the same layer and token, sent as a bearer token (an unbound
//!   one): the baseline.
//! - `dpop/replay/{1,2}_threads`: distinct `jti`s entered into one cache, wall time per
//!   insert (with two threads, both threads' inserts over the wall time of both); one
//!   clock for all threads advances a second every 4,096 inserts, with a one-second
//!   lifetime, so old entries expire and are purged as in a steady state; the loops are
//!   bounded.

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::{HeaderValue, Request, Response};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;
use tower::{Service, ServiceBuilder};
use tower_jwt_auth::dpop::{Dpop, ReplayCache, access_token_hash, jwk_thumbprint};
use tower_jwt_auth::{Algorithm, JwtAuthLayer, Key, SigningKey};

const SECRET: &[u8] = b"bench-secret-that-is-at-least-32-bytes-long";
const BASE: &str = "https://api.example.com";

use support::bench::noop;

/// One service call as a server makes it; the response future is ready at once.
fn call<S>(service: &mut S, authorization: &HeaderValue, proof: Option<HeaderValue>) -> u16
where
    S: Service<Request<()>, Response = Response<support::bench::Body>, Error = Infallible>,
{
    let mut request = Request::new(());
    *request.uri_mut() = http::Uri::from_static("/secret");
    request
        .headers_mut()
        .insert(http::header::AUTHORIZATION, authorization.clone());
    if let Some(proof) = proof {
        request.headers_mut().insert("dpop", proof);
    }
    support::bench::send(service, request)
}

fn pem(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/data/keys/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn request_costs(c: &mut Criterion) {
    let mut group = c.benchmark_group("dpop/request");
    let now = jsonwebtoken::get_current_timestamp();
    let issuer = SigningKey::hmac(Algorithm::HS256, SECRET).unwrap();
    let clients = [
        (
            Algorithm::ES256,
            SigningKey::ec_pem(Algorithm::ES256, pem("ec256_private.pem")).unwrap(),
            EncodingKey::from_ec_pem(&pem("ec256_private.pem")).unwrap(),
        ),
        (
            Algorithm::EdDSA,
            SigningKey::ed_pem(pem("ed25519_private.pem")).unwrap(),
            EncodingKey::from_ed_pem(&pem("ed25519_private.pem")).unwrap(),
        ),
    ];
    for (alg, signing, encoding) in clients {
        // Room for every proof of the run: none is refused as the cache fills.
        let layer = JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, SECRET).unwrap())
            .dpop(
                Dpop::new(BASE)
                    .replay_capacity(1 << 21)
                    .max_age(Duration::from_secs(600)),
            )
            .build()
            .unwrap();
        let mut service = ServiceBuilder::new().layer(layer).service_fn(noop);
        let mut jwk = signing.public_jwk().unwrap().clone();
        jwk.common = Default::default();
        let token = issuer
            .sign(&json!({
                "sub": "bench", "exp": now + 3600, "scope": "access_token",
                "cnf": { "jkt": jwk_thumbprint(&jwk).unwrap() },
            }))
            .unwrap();
        let ath = access_token_hash(&token);
        let authorization = HeaderValue::try_from(format!("DPoP {token}")).unwrap();
        let mut header = Header::new(alg);
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(jwk);
        let mut n = 0u64;
        let mut proof = || {
            n += 1;
            let claims = json!({
                "jti": format!("bench-{n}"), "htm": "GET", "htu": format!("{BASE}/secret"),
                "iat": jsonwebtoken::get_current_timestamp(), "ath": ath,
            });
            HeaderValue::try_from(jsonwebtoken::encode(&header, &claims, &encoding).unwrap())
                .unwrap()
        };
        assert_eq!(call(&mut service, &authorization, Some(proof())), 200);
        group.bench_function(format!("{alg:?}"), |b| {
            b.iter_batched(
                &mut proof,
                |proof| black_box(call(&mut service, &authorization, Some(proof))),
                BatchSize::SmallInput,
            );
        });
        // The same requests, timed by this thread's CPU clock: time the machine gives to
        // other processes does not count, which steadies the figure on a shared machine.
        group.bench_function(format!("{alg:?}_cpu"), |b| {
            b.iter_custom(|iters| {
                let proofs: Vec<HeaderValue> = (0..iters).map(|_| proof()).collect();
                let start = thread_cpu();
                for proof in proofs {
                    black_box(call(&mut service, &authorization, Some(proof)));
                }
                thread_cpu().saturating_sub(start)
            });
        });
    }
    let layer = JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, SECRET).unwrap())
        .dpop(Dpop::new(BASE))
        .build()
        .unwrap();
    let mut service = ServiceBuilder::new().layer(layer).service_fn(noop);
    let token = issuer
        .sign(&json!({ "sub": "bench", "exp": now + 3600, "scope": "access_token" }))
        .unwrap();
    let authorization = HeaderValue::try_from(format!("Bearer {token}")).unwrap();
    assert_eq!(call(&mut service, &authorization, None), 200);
    group.bench_function("bearer", |b| {
        b.iter(|| black_box(call(&mut service, &authorization, None)));
    });
    group.finish();
}

/// The CPU time this thread has used (Linux); elsewhere, wall time.
fn thread_cpu() -> Duration {
    #[cfg(target_os = "linux")]
    {
        let now = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
        Duration::new(now.tv_sec.unsigned_abs(), now.tv_nsec as u32)
    }
    #[cfg(not(target_os = "linux"))]
    {
        static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        START.get_or_init(Instant::now).elapsed()
    }
}

/// Inserts `jtis`, the shared clock one second further every 4,096 inserts of all threads
/// (one clock, as the layer's threads share the system's).
fn insert_many(cache: &ReplayCache, jtis: &[String], inserts: &AtomicU64) {
    for jti in jtis {
        let now = 1_000 + inserts.fetch_add(1, Ordering::Relaxed) / 4096;
        black_box(cache.insert(jti, now)).unwrap();
    }
}

fn replay_cache(c: &mut Criterion) {
    let mut group = c.benchmark_group("dpop/replay");
    for threads in [1usize, 2] {
        group.bench_function(format!("{threads}_threads"), |b| {
            b.iter_custom(|iters| {
                let per_thread = (iters as usize).div_ceil(threads);
                let cache = ReplayCache::new(1 << 16, Duration::from_secs(1)).unwrap();
                let jtis: Vec<Vec<String>> = (0..threads)
                    .map(|t| (0..per_thread).map(|n| format!("jti-{t}-{n}")).collect())
                    .collect();
                let inserts = AtomicU64::new(0);
                let start = Instant::now();
                std::thread::scope(|scope| {
                    for jtis in &jtis {
                        let (cache, inserts) = (&cache, &inserts);
                        scope.spawn(move || insert_many(cache, jtis, inserts));
                    }
                });
                // Per insert: both threads' inserts over the wall time of both.
                start.elapsed() * (iters as u32) / ((per_thread * threads) as u32).max(1)
            });
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(40)
}

criterion_group! {
    name = benches;
    config = config();
    targets = request_costs, replay_cache
}
criterion_main!(benches);
