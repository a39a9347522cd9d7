//! Keys from a remote JWKS against the same keys given in code, through the layer without its
//! cache (every call a full verification), for ES256 and RS256; and a remote-key verification
//! while another thread refreshes the key set as fast as it can.
//!
//! Two measurements:
//! - criterion, one function after another: `remote/{static,remote}/{ES256,RS256}` and
//!   `remote/remote_under_refresh/ES256`;
//! - interleaved rounds (printed after criterion): the contenders take turns in batches
//!   within one process, so that the machine's drift hits both alike; each round gives a
//!   ratio, and the median and the spread of the rounds are printed. These are the
//!   headline figures in BENCHMARKS.md.
//!
//! ```sh
//! cargo bench --bench remote --features remote
//! ```
//!
//! The JWKS is served by an in-memory `Fetch`, so no socket is opened: the request path never
//! touches the network for a known key, which is what is measured.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::json;
use tower::ServiceBuilder;
use tower_jwt_auth::remote::{Fetch, FetchFuture, FetchRequest, Fetched, RemoteKeys};
use tower_jwt_auth::{Algorithm, JwtAuthLayer, SigningKey, TrustedIssuer};

const ISSUER: &str = "https://idp.example";
const AUDIENCE: &str = "bench-api";

use support::bench::{call, noop};

fn key_file(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/keys/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|err| panic!("{path}: {err}"))
}

/// A JWKS served from memory. With `alternate`, every other answer lists the keys in the
/// other order: a different body, so that each refresh replaces the key ring.
struct MemoryJwks {
    keys: Vec<serde_json::Value>,
    alternate: bool,
    served: AtomicUsize,
}

impl Fetch for MemoryJwks {
    fn fetch(&self, _: FetchRequest) -> FetchFuture<'_> {
        let n = self.served.fetch_add(1, Ordering::Relaxed);
        let mut keys = self.keys.clone();
        if self.alternate && n % 2 == 1 {
            keys.reverse();
        }
        let body = json!({ "keys": keys }).to_string();
        Box::pin(async move { Ok(Fetched::new(StatusCode::OK, HeaderMap::new(), body.into())) })
    }
}

struct Contenders {
    name: &'static str,
    token: HeaderValue,
    fixed: JwtAuthLayer,
    remote: JwtAuthLayer,
    keys: RemoteKeys,
}

fn contenders(runtime: &tokio::runtime::Runtime) -> Vec<Contenders> {
    let signers = [
        (
            "ES256",
            SigningKey::ec_pem(Algorithm::ES256, key_file("ec256_private.pem")).unwrap(),
        ),
        (
            "RS256",
            SigningKey::rsa_pem(Algorithm::RS256, key_file("rsa_private.pem")).unwrap(),
        ),
    ];
    signers
        .into_iter()
        .map(|(name, signer)| {
            let signer = signer.with_kid(format!("{name}-1"));
            // A second key in the set, as providers publish during a rotation.
            let other = SigningKey::ed_pem(key_file("ed25519_private.pem"))
                .unwrap()
                .with_kid("other");
            let jwks = MemoryJwks {
                keys: [&signer, &other]
                    .iter()
                    .map(|key| serde_json::to_value(key.public_jwk().unwrap()).unwrap())
                    .collect(),
                alternate: true,
                served: AtomicUsize::new(0),
            };
            let keys = runtime
                .block_on(
                    RemoteKeys::jwks("https://idp.example/jwks", ISSUER)
                        .fetch(jwks)
                        .build(),
                )
                .unwrap();
            let issuer = |keys| TrustedIssuer::new(ISSUER, keys).audiences([AUDIENCE]);
            let fixed =
                JwtAuthLayer::builder_for(issuer(tower_jwt_auth::key::KeySet::new([signer
                    .verifying_key()
                    .clone()])))
                .no_cache()
                .build()
                .unwrap();
            let remote = JwtAuthLayer::builder_for(
                TrustedIssuer::remote(keys.clone()).audiences([AUDIENCE]),
            )
            .no_cache()
            .build()
            .unwrap();
            let now = jsonwebtoken::get_current_timestamp();
            let token = signer
                .sign(&json!({
                    "iss": ISSUER, "sub": "alice", "aud": AUDIENCE, "iat": now,
                    "exp": now + 3600, "scope": "read write",
                }))
                .unwrap();
            Contenders {
                name,
                token: HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
                fixed,
                remote,
                keys,
            }
        })
        .collect()
}

/// Refreshes `keys` a hundred times a second on another thread until `stop` (the default
/// policy refreshes once every 7.5 minutes); the key ring is replaced each time (the bodies
/// alternate). Paced, so that what is measured is the request path meeting key-set swaps,
/// not two threads sharing the machine's two cores.
fn refresher(
    runtime: &tokio::runtime::Runtime,
    keys: RemoteKeys,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<u64> {
    let handle = runtime.handle().clone();
    std::thread::spawn(move || {
        let mut refreshes = 0;
        while !stop.load(Ordering::Relaxed) {
            handle.block_on(keys.refresh()).unwrap();
            refreshes += 1;
            std::thread::sleep(Duration::from_millis(10));
        }
        refreshes
    })
}

fn remote(c: &mut Criterion) {
    #[cfg(feature = "aws-lc-rs")]
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let all = contenders(&runtime);
    let mut group = c.benchmark_group("remote");
    for contender in &all {
        let mut fixed = ServiceBuilder::new()
            .layer(contender.fixed.clone())
            .service_fn(noop);
        let mut remote = ServiceBuilder::new()
            .layer(contender.remote.clone())
            .service_fn(noop);
        assert_eq!(call(&mut fixed, &contender.token), 200);
        assert_eq!(call(&mut remote, &contender.token), 200);
        group.bench_function(format!("static/{}", contender.name), |b| {
            b.iter(|| black_box(call(&mut fixed, &contender.token)));
        });
        group.bench_function(format!("remote/{}", contender.name), |b| {
            b.iter(|| black_box(call(&mut remote, &contender.token)));
        });
        if contender.name == "ES256" {
            let stop = Arc::new(AtomicBool::new(false));
            let thread = refresher(&runtime, contender.keys.clone(), Arc::clone(&stop));
            group.bench_function(format!("remote_under_refresh/{}", contender.name), |b| {
                b.iter(|| black_box(call(&mut remote, &contender.token)));
            });
            stop.store(true, Ordering::Relaxed);
            let refreshes = thread.join().unwrap();
            println!("remote_under_refresh: {refreshes} key-set replacements during the run");
        }
    }
    group.finish();
    interleaved(&runtime, &all);
}

/// Rounds in which each contender runs one batch, in alternating order; prints the median
/// ns per call and the median, lowest and highest per-round ratio.
fn interleaved(runtime: &tokio::runtime::Runtime, all: &[Contenders]) {
    const ROUNDS: usize = 21;
    const BATCH: usize = 2_000;
    println!("\ninterleaved: {ROUNDS} rounds of {BATCH} calls per contender, alternating order");
    for contender in all {
        let mut fixed = ServiceBuilder::new()
            .layer(contender.fixed.clone())
            .service_fn(noop);
        let mut remote = ServiceBuilder::new()
            .layer(contender.remote.clone())
            .service_fn(noop);
        let mut under = ServiceBuilder::new()
            .layer(contender.remote.clone())
            .service_fn(noop);
        let batch = |service: &mut dyn FnMut() -> u16| {
            let start = Instant::now();
            for _ in 0..BATCH {
                black_box(service());
            }
            start.elapsed().as_nanos() as f64 / BATCH as f64
        };
        let token = &contender.token;
        let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            let mut fixed_call = || call(&mut fixed, token);
            let mut remote_call = || call(&mut remote, token);
            if round % 2 == 0 {
                a.push(batch(&mut fixed_call));
                b.push(batch(&mut remote_call));
            } else {
                b.push(batch(&mut remote_call));
                a.push(batch(&mut fixed_call));
            }
            // The remote key set while another thread replaces it, against a remote
            // batch of the same round without one.
            let stop = Arc::new(AtomicBool::new(false));
            let thread = refresher(runtime, contender.keys.clone(), Arc::clone(&stop));
            let mut under_call = || call(&mut under, token);
            c.push(batch(&mut under_call));
            stop.store(true, Ordering::Relaxed);
            thread.join().unwrap();
        }
        let ratios = |x: &[f64], y: &[f64]| {
            let mut r: Vec<f64> = x.iter().zip(y).map(|(x, y)| x / y).collect();
            r.sort_by(f64::total_cmp);
            r
        };
        let median = |v: &[f64]| {
            let mut v = v.to_vec();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let remote_vs_static = ratios(&b, &a);
        let under_vs_remote = ratios(&c, &b);
        println!(
            "{}: static {:.0} ns, remote {:.0} ns, remote under refresh {:.0} ns (medians)",
            contender.name,
            median(&a),
            median(&b),
            median(&c)
        );
        println!(
            "{}: remote / static = {:.3} (rounds {:.3}..{:.3}); under refresh / remote = {:.3} \
             (rounds {:.3}..{:.3})",
            contender.name,
            median(&remote_vs_static),
            remote_vs_static[0],
            remote_vs_static[ROUNDS - 1],
            median(&under_vs_remote),
            under_vs_remote[0],
            under_vs_remote[ROUNDS - 1],
        );
    }
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
    targets = remote
}
criterion_main!(benches);
