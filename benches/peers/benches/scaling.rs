//! jwt-authorizer's layer and ours across threads: the method of the repository's
//! `benches/scaling.rs` (support::scaling), HS256, one token, every thread a clone of one
//! shared layer over a no-op service. See BENCHMARKS.md, "Against the peers".
//!
//! Variants:
//! - `noop`: the no-op service alone (what perfect scaling looks like on this machine);
//! - `ours/cached`: the default `JwtAuthLayer`, the token cached;
//! - `ours/uncached`: `JwtAuthLayer` with `.no_cache()`;
//! - `jwt-authorizer`: jwt-authorizer's layer (no cache of its own).
//!
//! For each, the CPU time per call of each thread and the scaling
//! `threads × CPU(1) / CPU(n)`, which is `threads` when the threads cost each other nothing.
//!
//! ```sh
//! cargo bench --manifest-path benches/peers/Cargo.toml --bench scaling -- [rounds] [calls per thread]
//! ```
//! (default 15 rounds and 200000 calls).

use std::hint::black_box;

use http::HeaderValue;
use support::bench::{Noop, Setup, bearer, call, claims, noop, setups};
use support::scaling::{Run, on_threads};
use tower::ServiceBuilder;
use tower_jwt_auth::JwtAuthLayer;
use tower_jwt_auth_peer_benches::jwt_authorizer;

const NAMES: [&str; 4] = ["noop", "ours/cached", "ours/uncached", "jwt-authorizer"];

/// `threads` threads each making `calls` calls of variant `at` of [`NAMES`] with `header`,
/// on new layers over `setup`'s key.
fn round(setup: &Setup, at: usize, threads: usize, calls: usize, header: &HeaderValue) -> Vec<Run> {
    let ours = JwtAuthLayer::builder(setup.key.clone());
    let ours = if at == 2 { ours.no_cache() } else { ours };
    let ours = ServiceBuilder::new()
        .layer(ours.build().unwrap())
        .service_fn(noop as Noop);
    let authorizer = jwt_authorizer(setup);
    on_threads(threads, calls, |_| {
        // A copy of its own, as in benches/scaling.rs: as a server's connections have.
        let header = HeaderValue::from_bytes(header.as_bytes()).unwrap();
        let (mut ours, mut authorizer) = (ours.clone(), authorizer.clone());
        let mut bare = tower::service_fn(noop as Noop);
        move || {
            let header = black_box(&header);
            let status = match at {
                0 => call(&mut bare, header),
                3 => call(&mut authorizer, header),
                _ => call(&mut ours, header),
            };
            status == 200
        }
    })
}

fn main() {
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    let (rounds, calls) = support::scaling::args();
    let setups = setups();
    let setup = &setups[0];
    assert_eq!(setup.name, "HS256");
    let header = bearer(&setup.signer.sign(&claims("alice", false)).unwrap());
    support::scaling::compare(rounds, calls, &NAMES, |at, threads, calls| {
        round(setup, at, threads, calls, &header)
    });
}
