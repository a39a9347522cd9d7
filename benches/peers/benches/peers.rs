//! Token validation against the peers, for HS256, RS256, ES256 and EdDSA. See BENCHMARKS.md,
//! "Against the peers", for the commands and the figures.
//!
//! The contenders, each given the same access token (the tutorial's format: `sub`, `iat`,
//! `exp`, `scope`, `jti`), signed with the same key (`tests/data/keys`), and each checking the
//! signature, `exp` and `scope` = `access_token`:
//! - `jsonwebtoken`: a bare `jsonwebtoken::decode::<Claims>` (version 12, aws-lc-rs) with a
//!   pre-built key and `Validation`, then a comparison of `scope`; no request, no response;
//! - `jwt-authorizer`: jwt-authorizer's layer (its `Authorizer` built from the PEM or the
//!   secret, `check` for the scope) over a no-op service, called as a server calls a service:
//!   `poll_ready`, `call`, one poll of the response future. It finds the bearer token in the
//!   `Authorization` header, verifies it with its own jsonwebtoken 9 (ring backend: the HMAC
//!   key is built, or the public key parsed, on every check), inserts the claims into the
//!   request's extensions and calls the inner service;
//! - `ours/uncached`: `JwtAuthLayer` with `.no_cache()`, called the same way, doing the same
//!   work (header, verification, claims into the extensions);
//! - `ours/cached`: the default `JwtAuthLayer`, the token already in its cache;
//! - `ours/verdict`: `Validator::validate::<Claims>` alone, the counterpart of the bare
//!   decoder.
//!
//! Not oxitoken: its one release does not build with the aws-lc-rs the library needs (see
//! Cargo.toml).
//!
//! Both layers answer at their first poll: jwt-authorizer's future is a boxed `async` block,
//! and with a key in memory nothing in it waits, so no executor is involved on either side
//! (`support::bench::send` panics if a future is pending). The layers' figures include
//! building the request and the no-op service's response (about 70 ns; see the `noop` bench
//! of `benches/validation.rs`); the bare decoders' do not. Compare layer with layer and
//! decoder with decoder; the cached layer is ours alone (no peer caches verified tokens).
//! Before measuring, each contender is shown to accept the token and to refuse it with one
//! signature character changed, so that none can look fast by failing.
//!
//! `cargo bench --manifest-path benches/peers/Cargo.toml` runs criterion, one group per
//! algorithm. Criterion measures one contender after another, and on a shared machine the
//! speed drifts between them; the ratios of BENCHMARKS.md come from
//! `... -- --interleaved [ROUNDS]` instead (ROUNDS defaults to 31): per algorithm, rounds of
//! one batch of each contender in an order that turns from round to round
//! (`support::bench::measure`). It prints a table per algorithm, each contender's median and
//! fastest round in nanoseconds per call and its ratio to each peer, taken within each round
//! (median, middle half and range over the rounds), and draws `benches/peers.svg`.

use std::hint::black_box;
use std::time::Duration;

use criterion::Criterion;
use http::HeaderValue;
use support::bench::{Contender, Noop, Setup, bad_signature, bearer, call, claims, noop, setups};
use tower::ServiceBuilder;
use tower_jwt_auth::validator::{Validation, Validator};
use tower_jwt_auth::{Claims, JwtAuthLayer};
use tower_jwt_auth_peer_benches::{is_access_token, jwt_authorizer};

/// The contenders' names, in the order of [`contenders`]: the peers first.
const NAMES: [&str; 5] = [
    "jsonwebtoken",
    "jwt-authorizer",
    "ours/uncached",
    "ours/cached",
    "ours/verdict",
];

/// How many of [`NAMES`] are peers.
const PEERS: usize = 2;

/// Each contender set up for `setup`'s key, as one call on `token` (`header` is
/// `Bearer <token>`): whether it accepted it.
fn contenders<'a>(setup: &'a Setup, token: &'a str, header: &'a HeaderValue) -> Vec<Contender<'a>> {
    let validation = jsonwebtoken::Validation::new(setup.alg);
    let mut authorizer = jwt_authorizer(setup);
    let layer = |cache: bool| {
        let builder = JwtAuthLayer::builder(setup.key.clone());
        let builder = if cache { builder } else { builder.no_cache() };
        ServiceBuilder::new()
            .layer(builder.build().unwrap())
            .service_fn(noop as Noop)
    };
    let (mut uncached, mut cached) = (layer(false), layer(true));
    let validator = Validator::new(setup.key.clone(), Validation::new()).unwrap();
    let calls: [Box<dyn FnMut() -> bool + 'a>; 5] = [
        Box::new(move || {
            jsonwebtoken::decode::<Claims>(black_box(token), &setup.decoding, &validation)
                .is_ok_and(|data| is_access_token(&data.claims))
        }),
        Box::new(move || call(&mut authorizer, black_box(header)) == 200),
        Box::new(move || call(&mut uncached, black_box(header)) == 200),
        Box::new(move || call(&mut cached, black_box(header)) == 200),
        Box::new(move || validator.validate::<Claims>(black_box(token)).is_ok()),
    ];
    NAMES.into_iter().zip(calls).collect()
}

/// One algorithm's token, and its contenders after each accepted it and refused a copy with
/// a bad signature.
fn checked<'a>(setup: &'a Setup, token: &'a str, header: &'a HeaderValue) -> Vec<Contender<'a>> {
    let forged = bad_signature(token);
    let forged_header = bearer(&forged);
    for (name, mut refuse) in contenders(setup, &forged, &forged_header) {
        assert!(!refuse(), "{}: {name} accepted a bad signature", setup.name);
    }
    let mut accepting = contenders(setup, token, header);
    for (name, accept) in &mut accepting {
        assert!(accept(), "{}: {name} refused the token", setup.name);
    }
    accepting
}

fn criterion(c: &mut Criterion, setup: &Setup) {
    let token = setup.signer.sign(&claims("alice", false)).unwrap();
    let header = bearer(&token);
    let mut group = c.benchmark_group(setup.name);
    for (name, mut contender) in checked(setup, &token, &header) {
        group.bench_function(name, |b| b.iter(&mut contender));
    }
    group.finish();
}

/// `--interleaved`: one algorithm's contenders in turn (see the module docs). Prints its
/// table and returns each contender's median nanoseconds per call.
fn interleaved(setup: &Setup, rounds: usize) -> Vec<f64> {
    let token = setup.signer.sign(&claims("alice", false)).unwrap();
    let header = bearer(&token);
    let measured = support::bench::measure(rounds, &mut checked(setup, &token, &header));
    println!(
        "\n{}: {rounds} rounds of {} calls per contender; ns per call, and per-round ratio \
         to each peer: median (middle half; range)\n",
        setup.name, measured.calls
    );
    let peers: Vec<String> = NAMES[..PEERS]
        .iter()
        .map(|peer| format!("÷ {peer}"))
        .collect();
    println!(
        "| {} | median ns | fastest round ns | {} |",
        setup.name,
        peers.join(" | ")
    );
    println!("|---|---:|---:|{}", "---|".repeat(PEERS));
    for (at, name) in NAMES.iter().enumerate() {
        let time = measured.time(at);
        let ratios: Vec<String> = (0..PEERS)
            .map(|peer| {
                if peer == at {
                    return "1".to_owned();
                }
                let ratio = measured.ratio(at, peer);
                format!(
                    "{:.3} ({:.3}–{:.3}; {:.3}–{:.3})",
                    ratio.median, ratio.lower_quartile, ratio.upper_quartile, ratio.min, ratio.max
                )
            })
            .collect();
        println!(
            "| {name} | {:.0} | {:.0} | {} |",
            time.median,
            time.min,
            ratios.join(" | ")
        );
    }
    (0..NAMES.len())
        .map(|at| measured.time(at).median)
        .collect()
}

/// Nanoseconds as a bar's label.
fn nanos(value: f64) -> String {
    if value >= 1000.0 {
        format!("{:.2} µs", value / 1000.0)
    } else {
        format!("{value:.0} ns")
    }
}

/// `benches/peers.svg`: each contender's median per algorithm.
fn chart(groups: &[(&str, Vec<f64>)]) {
    const COLOURS: [&str; 5] = ["#9e9e9e", "#ff7f0e", "#1f77b4", "#2ca02c", "#9467bd"];
    let series: Vec<(&str, &str)> = NAMES.into_iter().zip(COLOURS).collect();
    let svg = support::chart::Bars {
        title: "Nanoseconds per token check, one core, interleaved medians (log scale; lower is better)",
        series: &series,
        groups,
        label: nanos,
    }
    .svg();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../peers.svg");
    std::fs::write(path, svg).unwrap_or_else(|err| panic!("{path}: {err}"));
    println!("\nwrote benches/peers.svg");
}

fn main() {
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    let setups = setups();
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|arg| arg == "--interleaved") {
        let rounds = args.get(at + 1).and_then(|n| n.parse().ok()).unwrap_or(31);
        let groups: Vec<(&str, Vec<f64>)> = setups
            .iter()
            .map(|setup| (setup.name, interleaved(setup, rounds)))
            .collect();
        chart(&groups);
        return;
    }
    // Bounded: about 1.5 s per contender, under a minute for the whole file.
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1200))
        .sample_size(40)
        .configure_from_args();
    for setup in &setups {
        criterion(&mut c, setup);
    }
    c.final_summary();
}
