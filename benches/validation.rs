//! Token validation, side by side with raw `jsonwebtoken::decode`, for HS256, RS256, ES256 and
//! EdDSA. See BENCHMARKS.md for the command and the figures.
//!
//! Each algorithm is one criterion group:
//! - `jsonwebtoken`: `jsonwebtoken::decode` with a pre-built key and validation;
//! - `noop`: a bare no-op tower service call (the baseline: building the request, calling,
//!   polling the ready future);
//! - `accept/cold`: the same call through `JwtAuthLayer` without the cache;
//! - `verdict/accept`: `Validator::validate` alone, without a request, its extensions or a
//!   response: with `accept/cold`, the uncached figures to set against `jsonwebtoken`, from
//!   the same run (for RS256, ES256 and EdDSA the key was parsed once, when it was loaded);
//! - `accept/cached`: through the default layer (cache on), the token already cached;
//! - `reject/garbage`, `reject/bad_signature`, `reject/expired`, `reject/missing`: the main
//!   reject paths through the default layer;
//! - HS256 only: `floor`, a minimal hand-rolled HS256 check (pre-keyed HMAC, base64, serde),
//!   `jsonwebtoken/bad_signature`, `accept/miss` (cache on, a new token every call), and
//!   `verdict/parsed_header`, `verdict/garbage`, `verdict/bad_signature`
//!   (`parsed_header`: a header that is not one of the pre-encoded ones, so it is parsed).
//!
//! Run with `cargo bench --bench validation`; `cargo bench --bench chart` then draws
//! `benches/validations.svg` from criterion's results.
//!
//! `cargo bench --bench validation -- --interleaved [ROUNDS]` measures the uncached paths
//! interleaved instead, without criterion. Criterion measures its contenders one after
//! another, and a shared machine drifts between them; here each round runs one batch of
//! `jsonwebtoken`, `verdict/accept`, `accept/cold` and `noop` per algorithm (and for HS256
//! `accept/miss`), in an order that turns
//! from round to round, and the ratio to `jsonwebtoken` is taken within each round. It
//! prints, per contender, the median and the fastest round's time per call, and the median
//! ratio with its spread over the rounds (the middle half and the whole range); then the
//! layer's rows less `noop` (the request and the inner call, which `jsonwebtoken::decode`
//! does not have), as the chart counts them. ROUNDS defaults to 31. Batches are timed in wall
//! time, or with `--cpu` after ROUNDS in this thread's CPU time (`Clock::ThreadCpu`: time
//! the machine gave to other processes does not count, which steadies the figures on a busy
//! machine).

use std::convert::Infallible;
use std::hint::black_box;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group};
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderValue, Request, Response};
use support::bench::{Clock, Noop, Setup, bad_signature, bearer, claims, noop, setups};
use support::now;
use tower::{Service, ServiceBuilder};
use tower_jwt_auth::validator::{Validation, Validator};
use tower_jwt_auth::{Algorithm, Claims, JwtAuthLayer};

/// One service call as a server makes it: a request with these headers, `poll_ready`, `call`,
/// and one poll of the response future (which is ready). Returns the status.
fn call<S>(service: &mut S, authorization: Option<&HeaderValue>) -> u16
where
    S: Service<Request<()>, Response = Response<support::bench::Body>, Error = Infallible>,
{
    let mut request = Request::new(());
    if let Some(value) = authorization {
        request
            .headers_mut()
            .insert(http::header::AUTHORIZATION, value.clone());
    }
    support::bench::send(service, request)
}

fn bench_algorithm(c: &mut Criterion, setup: &Setup) {
    let token = setup.signer.sign(&claims("alice", false)).unwrap();
    let expired = setup.signer.sign(&claims("alice", true)).unwrap();
    // Garbage of a token's length: one segment, no dots.
    let garbage = token.replace('.', "");
    let mut validation = jsonwebtoken::Validation::new(setup.alg);
    validation.validate_exp = true;

    let cached_layer = JwtAuthLayer::builder(setup.key.clone()).build().unwrap();
    let cold_layer = JwtAuthLayer::builder(setup.key.clone())
        .no_cache()
        .build()
        .unwrap();
    let mut noop_service = ServiceBuilder::new().service_fn(noop as Noop);
    let mut cached = ServiceBuilder::new()
        .layer(cached_layer.clone())
        .service_fn(noop as Noop);
    let mut cold = ServiceBuilder::new()
        .layer(cold_layer)
        .service_fn(noop as Noop);

    // Every path gives the outcome it is named for.
    let decoded = jsonwebtoken::decode::<Claims>(&token, &setup.decoding, &validation).unwrap();
    assert_eq!(decoded.claims.sub, "alice");
    let (good, forged, old, junk) = (
        bearer(&token),
        bearer(&bad_signature(&token)),
        bearer(&expired),
        bearer(&garbage),
    );
    assert_eq!(call(&mut cold, Some(&good)), 200);
    assert_eq!(call(&mut cached, Some(&good)), 200);
    assert_eq!(cached_layer.cached_tokens(), 1);
    for rejected in [&forged, &old, &junk] {
        assert_eq!(call(&mut cached, Some(rejected)), 401);
    }
    assert_eq!(call(&mut cached, None), 401);

    let mut group = c.benchmark_group(setup.name);
    group.bench_function("jsonwebtoken", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<Claims>(black_box(&token), &setup.decoding, &validation).unwrap()
        })
    });
    group.bench_function("noop", |b| {
        b.iter(|| call(&mut noop_service, black_box(Some(&good))))
    });
    group.bench_function("accept/cold", |b| {
        b.iter(|| call(&mut cold, black_box(Some(&good))))
    });
    // The verdict alone: `Validator::validate`, with no request, extensions or response.
    let validator = Validator::new(setup.key.clone(), Validation::new()).unwrap();
    assert!(validator.validate::<Claims>(&token).is_ok());
    group.bench_function("verdict/accept", |b| {
        b.iter(|| validator.validate::<Claims>(black_box(&token)).is_ok())
    });
    group.bench_function("accept/cached", |b| {
        b.iter(|| call(&mut cached, black_box(Some(&good))))
    });
    group.bench_function("reject/garbage", |b| {
        b.iter(|| call(&mut cached, black_box(Some(&junk))))
    });
    group.bench_function("reject/bad_signature", |b| {
        b.iter(|| call(&mut cached, black_box(Some(&forged))))
    });
    group.bench_function("reject/expired", |b| {
        b.iter(|| call(&mut cached, black_box(Some(&old))))
    });
    group.bench_function("reject/missing", |b| {
        b.iter(|| call(&mut cached, black_box(None)))
    });

    if setup.alg == Algorithm::HS256 {
        let forged_token = bad_signature(&token);
        group.bench_function("jsonwebtoken/bad_signature", |b| {
            b.iter(|| {
                jsonwebtoken::decode::<Claims>(
                    black_box(&forged_token),
                    &setup.decoding,
                    &validation,
                )
                .unwrap_err()
            })
        });
        let floor = Floor::new(support::bench::SECRET);
        for refused in [&garbage, &forged_token] {
            assert!(validator.validate::<Claims>(refused).is_err());
        }
        // The same token with a header that is not one of the pre-encoded ones (one space
        // more), so it is decoded and parsed: the worth of `KeySet::common_header`.
        let parsed_header = floor.sign_with_header(r#"{"alg":"HS256", "typ":"JWT"}"#, &token);
        assert!(validator.validate::<Claims>(&parsed_header).is_ok());
        for (name, token) in [
            ("verdict/parsed_header", &parsed_header),
            ("verdict/garbage", &garbage),
            ("verdict/bad_signature", &forged_token),
        ] {
            group.bench_function(name, |b| {
                b.iter(|| validator.validate::<Claims>(black_box(token)).is_ok())
            });
        }
        assert_eq!(floor.check(&token).unwrap().sub, "alice");
        assert!(floor.check(&forged_token).is_none());
        group.bench_function("floor", |b| {
            b.iter(|| floor.check(black_box(&token)).unwrap())
        });

        // Cache on, every token new: more distinct tokens than the cache holds, in turn.
        let fresh = fresh_tokens(setup);
        let mut next = fresh.iter().cycle();
        group.bench_function("accept/miss", |b| {
            b.iter(|| call(&mut cached, black_box(next.next())))
        });
    }
    group.finish();
}

/// More distinct valid tokens than the cache holds, as `Authorization` values.
fn fresh_tokens(setup: &Setup) -> Vec<HeaderValue> {
    (0..50_000)
        .map(|n| {
            bearer(
                &setup
                    .signer
                    .sign(&claims(&format!("user{n}"), false))
                    .unwrap(),
            )
        })
        .collect()
}

/// The practical floor of an HS256 check: a pre-keyed HMAC state, base64 into stack or one
/// heap buffer, one serde pass, an `exp` check. No header parsing, no other rule.
struct Floor {
    mac: Hmac<sha2::Sha256>,
}

impl Floor {
    fn new(secret: &[u8]) -> Self {
        Self {
            mac: Hmac::new_from_slice(secret).unwrap(),
        }
    }

    /// `token`'s payload under `header`, signed.
    fn sign_with_header(&self, header: &str, token: &str) -> String {
        let payload = token.split('.').nth(1).unwrap();
        let input = format!("{}.{payload}", URL_SAFE_NO_PAD.encode(header));
        let mut mac = self.mac.clone();
        mac.update(input.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{input}.{signature}")
    }

    fn check(&self, token: &str) -> Option<Claims> {
        let (input, signature) = token.rsplit_once('.')?;
        let (_, payload) = input.split_once('.')?;
        let mut tag = [0u8; 32];
        URL_SAFE_NO_PAD
            .decode_slice(signature, &mut tag)
            .ok()
            .filter(|len| *len == 32)?;
        let mut mac = self.mac.clone();
        mac.update(input.as_bytes());
        mac.verify_slice(&tag).ok()?;
        let json = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let claims: Claims = serde_json::from_slice(&json).ok()?;
        (claims.exp > now()).then_some(claims)
    }
}

fn validation(c: &mut Criterion) {
    #[cfg(feature = "aws-lc-rs")]
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    for setup in setups() {
        bench_algorithm(c, &setup);
    }
}

fn config() -> Criterion {
    // Bounded: about 1.5 s per function, about a minute for the whole file.
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1200))
        .sample_size(40)
}

/// `--interleaved`: the uncached paths of one algorithm, in turn (see the module docs).
fn interleaved(setup: &Setup, rounds: usize, clock: Clock) {
    let token = setup.signer.sign(&claims("alice", false)).unwrap();
    let validation = jsonwebtoken::Validation::new(setup.alg);
    let validator = Validator::new(setup.key.clone(), Validation::new()).unwrap();
    let cold_layer = JwtAuthLayer::builder(setup.key.clone())
        .no_cache()
        .build()
        .unwrap();
    let mut cold = ServiceBuilder::new()
        .layer(cold_layer)
        .service_fn(noop as Noop);
    let mut bare = ServiceBuilder::new().service_fn(noop as Noop);
    let good = bearer(&token);
    // HS256 only: the default layer, a new token every call (as `accept/miss`).
    let mut cached = ServiceBuilder::new()
        .layer(JwtAuthLayer::builder(setup.key.clone()).build().unwrap())
        .service_fn(noop as Noop);
    let fresh = if setup.name == "HS256" {
        fresh_tokens(setup)
    } else {
        Vec::new()
    };
    let mut next = fresh.iter().cycle();
    let mut contenders: Vec<support::bench::Contender<'_>> = vec![
        (
            "jsonwebtoken",
            Box::new(|| {
                jsonwebtoken::decode::<Claims>(black_box(&token), &setup.decoding, &validation)
                    .is_ok()
            }),
        ),
        (
            "verdict/accept",
            Box::new(|| validator.validate::<Claims>(black_box(&token)).is_ok()),
        ),
        (
            "accept/cold",
            Box::new(|| call(&mut cold, black_box(Some(&good))) == 200),
        ),
        (
            "noop",
            Box::new(|| call(&mut bare, black_box(Some(&good))) == 200),
        ),
    ];
    if !fresh.is_empty() {
        contenders.push((
            "accept/miss",
            Box::new(move || call(&mut cached, black_box(next.next())) == 200),
        ));
    }

    let rounds = support::bench::measure_by(clock, rounds, &mut contenders);
    rounds.print(setup.name, 0);
    // The layer's own cost, as the chart counts it: less the request it is handed and the
    // no-op service's call (`noop`), which `jsonwebtoken::decode` does not have.
    let at = |name| rounds.names.iter().position(|&n| n == name);
    if let Some(noop) = at("noop") {
        for name in ["accept/cold", "accept/miss"] {
            if let Some(layer) = at(name) {
                let ratio = rounds.ratio_above(layer, noop, 0);
                println!(
                    "  {name} - noop / jsonwebtoken: median {:.3}, middle half {:.3}..{:.3}, \
                     range {:.3}..{:.3}",
                    ratio.median, ratio.lower_quartile, ratio.upper_quartile, ratio.min, ratio.max,
                );
            }
        }
    }
}

criterion_group! {
    name = benches;
    config = config();
    targets = validation
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|arg| arg == "--interleaved") {
        let rounds = args.get(at + 1).and_then(|n| n.parse().ok()).unwrap_or(31);
        let clock = if args.iter().any(|arg| arg == "--cpu") {
            Clock::ThreadCpu
        } else {
            Clock::Wall
        };
        #[cfg(feature = "aws-lc-rs")]
        let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
        for setup in setups() {
            interleaved(&setup, rounds, clock);
        }
        return;
    }
    // What `criterion_main!` would write.
    benches();
    Criterion::default().configure_from_args().final_summary();
}
