//! A cached introspected (opaque) token against a cached JWT, through the layer: what a
//! request costs when its token's introspection answer is kept, against what it costs when
//! its JWT is in the verified-token cache. See BENCHMARKS.md for the command and the figures.
//!
//! The contenders, each one request through `support::bench::call` to the same no-op service:
//! - `jwt`: `JwtAuthLayer` with an HS256 key and its default cache, a valid HS256 access
//!   token in the tutorial's format, already cached;
//! - `introspected`: the same layer with `.introspection(..)`, a 43-character opaque token
//!   (32 random bytes, base64url) whose active answer is already kept;
//! - `noop`: the same request to the no-op service without the layer.
//!
//! The introspection endpoint is an axum app on 127.0.0.1:0 in the bench's own process. It
//! answers every POST with an active answer for `alice` and counts the calls. Each token is
//! sent once before anything is measured, so the JWT is cached and the opaque token's answer
//! is kept. The bench asserts that the endpoint was called exactly that once, after the
//! measurement too, so every measured call took the kept answer. A measured call cannot wait
//! for the endpoint anyway: `call` polls the response future once and panics if it is
//! pending.
//!
//! `cargo bench --bench introspection --features remote` runs criterion: one group,
//! `introspection`, with the three, and `introspection/parts`, the two steps an introspected
//! hit takes that a JWT hit does not (the token's key, XXH3-128 under a secret, and a get from a
//! quick_cache map), beside the SHA-256 that keyed the answers before.
//! `-- --interleaved [ROUNDS]` runs the three and the parts in turn instead, ROUNDS
//! rounds (default 31) of one batch each, in an order that turns from round to round
//! (`support::bench::measure_by`), twice: timed in wall time, then in this thread's CPU time
//! (which leaves out the time a busy machine gives to other processes). Each prints each
//! contender's median and fastest time per call and its per-round ratio to `jwt` (median,
//! middle half, range), the ratio less `noop`, `(introspected - noop) / (jwt - noop)`, and
//! what each layer adds to `noop` in nanoseconds.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group};
use http::{HeaderValue, Request};
use serde_json::json;
use sha2::{Digest, Sha256};
use support::bench::{Clock, Contender, Noop, SECRET, bearer, call, claims, noop};
use tower::util::ServiceFn;
use tower::{ServiceBuilder, ServiceExt};
use tower_jwt_auth::introspection::{ClientAuth, Introspection, Introspector};
use tower_jwt_auth::layer::JwtAuth;
use tower_jwt_auth::{Algorithm, JwtAuthLayer, Key, SigningKey};

/// The layers, their tokens, and the endpoint behind the introspecting one.
struct Setup {
    /// Runs the endpoint; it serves only while the setup blocks on it.
    _runtime: tokio::runtime::Runtime,
    /// The calls the endpoint answered.
    served: Arc<AtomicU64>,
    introspector: Introspector,
    jwt: JwtAuthLayer,
    introspecting: JwtAuthLayer,
    jwt_token: HeaderValue,
    opaque_token: HeaderValue,
}

/// A layer over the no-op service.
type Through = JwtAuth<ServiceFn<Noop>>;

fn through(layer: &JwtAuthLayer) -> Through {
    ServiceBuilder::new()
        .layer(layer.clone())
        .service_fn(noop as Noop)
}

/// An introspection endpoint on 127.0.0.1:0 that answers every POST with an active answer
/// for `alice`, counting the calls in `served`: its URL.
async fn endpoint(served: Arc<AtomicU64>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/introspect", listener.local_addr().unwrap());
    let answer = move || {
        served.fetch_add(1, Ordering::Relaxed);
        let now = support::now();
        async move {
            axum::Json(json!({
                "active": true, "sub": "alice", "scope": "read write",
                "exp": now + 3600, "iat": now,
            }))
        }
    };
    let app = axum::Router::new().route("/introspect", axum::routing::post(answer));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

impl Setup {
    /// Both layers, each token sent once (the JWT then cached, the opaque token's answer
    /// kept).
    fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let served = Arc::new(AtomicU64::new(0));
        let url = runtime.block_on(endpoint(Arc::clone(&served)));
        let introspector =
            Introspection::new(url, ClientAuth::client_secret_basic("bench", "secret"))
                // The answer outlives the run (the default keeps it 60 s); how long it is kept
                // does not change what a hit costs.
                .cache_ttl(Duration::from_secs(3600))
                .build_lazy()
                .unwrap();
        let key = || Key::hmac(Algorithm::HS256, SECRET).unwrap();
        let jwt = JwtAuthLayer::builder(key()).build().unwrap();
        let introspecting = JwtAuthLayer::builder(key())
            .introspection(introspector.clone())
            .build()
            .unwrap();
        let signer = SigningKey::hmac(Algorithm::HS256, SECRET).unwrap();
        let jwt_token = bearer(&signer.sign(&claims("alice", false)).unwrap());
        let mut random = [0u8; 32];
        getrandom::fill(&mut random).unwrap();
        let opaque = URL_SAFE_NO_PAD.encode(random);
        assert!(opaque.len() == 43 && !opaque.contains('.'));
        let opaque_token = bearer(&opaque);

        for (layer, token) in [(&jwt, &jwt_token), (&introspecting, &opaque_token)] {
            let mut request = Request::new(());
            let headers = request.headers_mut();
            headers.insert(http::header::AUTHORIZATION, token.clone());
            let response = runtime.block_on(through(layer).oneshot(request)).unwrap();
            assert_eq!(response.status(), 200);
            // Now answered at once: from the cache, or from the kept answer.
            assert_eq!(call(&mut through(layer), token), 200);
        }
        assert_eq!(jwt.cached_tokens(), 1);
        assert_eq!(introspecting.introspection_answers(), 1);
        let setup = Self {
            _runtime: runtime,
            served,
            introspector,
            jwt,
            introspecting,
            jwt_token,
            opaque_token,
        };
        setup.assert_one_call();
        setup
    }

    /// The endpoint was called once, for the opaque token before the measurement: every
    /// measured call took the kept answer. Prints the count.
    fn assert_one_call(&self) {
        let served = self.served.load(Ordering::Relaxed);
        println!(
            "introspection endpoint: {served} call(s) served, {} made by the introspector",
            self.introspector.calls()
        );
        assert_eq!(
            served, 1,
            "the endpoint was called once, before the measurement"
        );
        assert_eq!(self.introspector.calls(), 1);
    }
}

fn introspection(c: &mut Criterion) {
    let setup = Setup::new();
    let mut jwt = through(&setup.jwt);
    let mut introspected = through(&setup.introspecting);
    let mut bare = ServiceBuilder::new().service_fn(noop as Noop);
    let mut group = c.benchmark_group("introspection");
    group.bench_function("jwt", |b| {
        b.iter(|| call(&mut jwt, black_box(&setup.jwt_token)))
    });
    group.bench_function("introspected", |b| {
        b.iter(|| call(&mut introspected, black_box(&setup.opaque_token)))
    });
    group.bench_function("noop", |b| {
        b.iter(|| call(&mut bare, black_box(&setup.jwt_token)))
    });
    group.finish();
    setup.assert_one_call();
}

/// `--interleaved`: the three in turn, timed on `clock` (see the module docs).
fn interleaved(setup: &Setup, rounds: usize, clock: Clock) {
    let mut jwt = through(&setup.jwt);
    let mut introspected = through(&setup.introspecting);
    let mut bare = ServiceBuilder::new().service_fn(noop as Noop);
    let parts = Parts::new();
    let mut contenders: Vec<Contender<'_>> = vec![
        (
            "jwt",
            Box::new(|| call(&mut jwt, black_box(&setup.jwt_token)) == 200),
        ),
        (
            "introspected",
            Box::new(|| call(&mut introspected, black_box(&setup.opaque_token)) == 200),
        ),
        (
            "noop",
            Box::new(|| call(&mut bare, black_box(&setup.jwt_token)) == 200),
        ),
        ("xxh3_128_43_bytes", Box::new(|| parts.xxh3_128())),
        ("sha256_43_bytes", Box::new(|| parts.sha256())),
        ("quick_cache_get", Box::new(|| parts.quick_cache_get())),
    ];
    let rounds = support::bench::measure_by(clock, rounds, &mut contenders);
    drop(contenders);
    rounds.print(
        &format!("cached introspected against cached JWT ({clock:?})"),
        0,
    );
    let (jwt, introspected, noop) = (0, 1, 2);
    let less = rounds.ratio_both_above(introspected, jwt, noop);
    println!(
        "  introspected - noop / jwt - noop: median {:.3}, middle half {:.3}..{:.3}, \
         range {:.3}..{:.3}",
        less.median, less.lower_quartile, less.upper_quartile, less.min, less.max,
    );
    for at in [jwt, introspected] {
        let time = rounds.time_above(at, noop);
        println!(
            "  {} - noop: median {:.1} ns, middle half {:.1}..{:.1} ns, range {:.1}..{:.1} ns",
            rounds.names[at],
            time.median,
            time.lower_quartile,
            time.upper_quartile,
            time.min,
            time.max,
        );
    }
    setup.assert_one_call();
}

/// The parts of an introspected hit that a cached JWT's hit does without: the token's key
/// (XXH3-128 under a 192-byte secret, as the kept answers are keyed) and a get from a
/// quick_cache map keyed by it; and the SHA-256 that keyed the answers before, for comparison.
struct Parts {
    token: [u8; 43],
    secret: [u8; 192],
    key: u128,
    kept: quick_cache::sync::Cache<u128, Arc<u64>>,
}

impl Parts {
    fn new() -> Self {
        let token = [b'A'; 43];
        // Any secret: the hash's time does not depend on it.
        let secret = std::array::from_fn(|at| (at * 131 + 7) as u8);
        let key = xxhash_rust::xxh3::xxh3_128_with_secret(&token, &secret);
        let kept = quick_cache::sync::Cache::new(10_000);
        kept.insert(key, Arc::new(1));
        Self {
            token,
            secret,
            key,
            kept,
        }
    }

    fn xxh3_128(&self) -> bool {
        black_box(xxhash_rust::xxh3::xxh3_128_with_secret(
            black_box(&self.token),
            &self.secret,
        )) != 0
    }

    fn sha256(&self) -> bool {
        black_box(Sha256::digest(black_box(&self.token)));
        true
    }

    fn quick_cache_get(&self) -> bool {
        self.kept.get(black_box(&self.key)).is_some()
    }
}

fn parts(c: &mut Criterion) {
    let parts = Parts::new();
    let mut group = c.benchmark_group("introspection/parts");
    group.bench_function("xxh3_128_43_bytes", |b| b.iter(|| parts.xxh3_128()));
    group.bench_function("sha256_43_bytes", |b| b.iter(|| parts.sha256()));
    group.bench_function("quick_cache_get", |b| b.iter(|| parts.quick_cache_get()));
    group.finish();
}

fn config() -> Criterion {
    // Bounded: about 1.5 s per function.
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1200))
        .sample_size(40)
}

criterion_group! {
    name = benches;
    config = config();
    targets = introspection, parts
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|arg| arg == "--interleaved") {
        let rounds = args.get(at + 1).and_then(|n| n.parse().ok()).unwrap_or(31);
        let setup = Setup::new();
        interleaved(&setup, rounds, Clock::Wall);
        interleaved(&setup, rounds, Clock::ThreadCpu);
        return;
    }
    // What `criterion_main!` would write.
    benches();
    Criterion::default().configure_from_args().final_summary();
}
