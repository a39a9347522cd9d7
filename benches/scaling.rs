//! How the layer scales across threads: the same calls from 1, 2 and 4 threads at once, in
//! interleaved rounds (every variant and thread count once per round, so that the machine's
//! drift hits all alike), with the median and the spread over the rounds.
//!
//! Variants, each a `JwtAuthLayer` over a no-op service, HS256:
//! - `noop`: the no-op service alone (what perfect scaling looks like on this machine);
//! - `cached/one_token`: the default layer, every thread sending the same cached token;
//! - `cached/two_tokens`: the same, each thread its own token (threads alternate two);
//! - `uncached`: the layer without its cache (every call a full verification).
//!
//! For each, the CPU time per call of each thread (`CLOCK_THREAD_CPUTIME_ID`) and the
//! scaling: `threads × (CPU per call with 1 thread) / (CPU per call with n threads)`, which is
//! `threads` when the threads cost each other nothing. A round with n threads counts only if
//! they really ran at once: each thread's calls overlapped the others' for at least 90 % of
//! its time; other rounds are reported as dropped. With more threads than cores, the threads
//! take turns and CPU time still counts each one's own work.
//!
//! ```sh
//! cargo bench --bench scaling -- [rounds] [calls per thread]   # default 15 and 200000
//! ```

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use http::HeaderValue;
use serde_json::json;
use tower::ServiceBuilder;
use tower_jwt_auth::{Algorithm, JwtAuthLayer, Key, SigningKey};

const SECRET: &[u8] = b"a benchmark secret that is at least 32 bytes long";

use support::bench::{call, noop};

fn token(sub: &str) -> HeaderValue {
    let now = jsonwebtoken::get_current_timestamp();
    let claims = json!({ "sub": sub, "iat": now, "exp": now + 3600, "scope": "access_token" });
    let token = SigningKey::hmac(Algorithm::HS256, SECRET)
        .unwrap()
        .sign(&claims)
        .unwrap();
    HeaderValue::from_str(&format!("Bearer {token}")).unwrap()
}

fn cpu_time() -> Duration {
    let time = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(time.tv_sec).unwrap_or_default(),
        u32::try_from(time.tv_nsec).unwrap_or_default(),
    )
}

#[derive(Clone, Copy, PartialEq)]
enum Variant {
    Noop,
    CachedOneToken,
    CachedTwoTokens,
    Uncached,
}

impl Variant {
    const ALL: [Self; 4] = [
        Self::Noop,
        Self::CachedOneToken,
        Self::CachedTwoTokens,
        Self::Uncached,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Noop => "noop",
            Self::CachedOneToken => "cached/one_token",
            Self::CachedTwoTokens => "cached/two_tokens",
            Self::Uncached => "uncached",
        }
    }
}

/// One thread's run: CPU time per call, and when it started and ended.
struct Run {
    cpu_per_call: f64,
    start: Instant,
    end: Instant,
}

/// `threads` threads each making `calls` calls of `variant` on one shared layer.
fn round(variant: Variant, threads: usize, calls: usize, tokens: &[HeaderValue; 2]) -> Vec<Run> {
    let key = Key::hmac(Algorithm::HS256, SECRET).unwrap();
    let layer = match variant {
        Variant::Uncached => JwtAuthLayer::builder(key).no_cache().build().unwrap(),
        _ => JwtAuthLayer::builder(key).build().unwrap(),
    };
    let barrier = Barrier::new(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|thread| {
                let (layer, barrier) = (&layer, &barrier);
                let token = match variant {
                    Variant::CachedTwoTokens => &tokens[thread % 2],
                    _ => &tokens[0],
                };
                scope.spawn(move || {
                    // A copy of its own: cloning one shared header value per request would
                    // make the threads write one reference count, as no server does (each
                    // request's headers come from its own connection's buffer).
                    let token = &HeaderValue::from_bytes(token.as_bytes()).unwrap();
                    let mut service = ServiceBuilder::new()
                        .layer(layer.clone())
                        .service_fn(noop as fn(_) -> _);
                    let mut bare = tower::service_fn(noop as fn(_) -> _);
                    // Warm: the token cached, this thread's front filled.
                    for _ in 0..3 {
                        assert_eq!(call(&mut service, token), 200);
                    }
                    barrier.wait();
                    let (start, cpu) = (Instant::now(), cpu_time());
                    for _ in 0..calls {
                        let status = if variant == Variant::Noop {
                            call(&mut bare, black_box(token))
                        } else {
                            call(&mut service, black_box(token))
                        };
                        black_box(status);
                    }
                    let (cpu, end) = (cpu_time() - cpu, Instant::now());
                    Run {
                        cpu_per_call: cpu.as_secs_f64() * 1e9 / calls as f64,
                        start,
                        end,
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// Whether every thread overlapped all the others for at least 90 % of its own time.
fn ran_together(runs: &[Run]) -> bool {
    let latest_start = runs.iter().map(|run| run.start).max().unwrap();
    let earliest_end = runs.iter().map(|run| run.end).min().unwrap();
    let together = earliest_end.saturating_duration_since(latest_start);
    runs.iter()
        .all(|run| together.as_secs_f64() >= 0.9 * (run.end - run.start).as_secs_f64())
}

fn median_and_spread(values: &mut [f64]) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    let median = values[values.len() / 2];
    (median, values[0], values[values.len() - 1])
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|arg| arg.parse().ok())
        .collect();
    let rounds = args.first().copied().unwrap_or(15);
    let calls = args.get(1).copied().unwrap_or(200_000);
    let tokens = [token("alice"), token("bob")];
    let threads = [1usize, 2, 4];
    // [variant][threads] → per round: mean CPU ns per call over the threads.
    let mut cpu: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); threads.len()]; Variant::ALL.len()];
    let mut dropped = vec![vec![0usize; threads.len()]; Variant::ALL.len()];
    for _ in 0..rounds {
        for (v, variant) in Variant::ALL.iter().enumerate() {
            for (t, &n) in threads.iter().enumerate() {
                let runs = round(*variant, n, calls, &tokens);
                // Four threads on two cores take turns: CPU time still counts.
                if n > 2 || ran_together(&runs) {
                    let mean = runs.iter().map(|run| run.cpu_per_call).sum::<f64>() / n as f64;
                    cpu[v][t].push(mean);
                } else {
                    dropped[v][t] += 1;
                }
            }
        }
    }
    println!(
        "{rounds} interleaved rounds, {calls} calls per thread; CPU ns per call (median, min–max) \
         and scaling = threads × CPU(1) / CPU(n)"
    );
    println!("| variant | threads | CPU ns/call | min–max | scaling | rounds dropped |");
    println!("|---|---|---|---|---|---|");
    for (v, variant) in Variant::ALL.iter().enumerate() {
        let (one, _, _) = median_and_spread(&mut cpu[v][0].clone());
        for (t, &n) in threads.iter().enumerate() {
            if cpu[v][t].is_empty() {
                println!(
                    "| {} | {n} | – | – | – | {} |",
                    variant.name(),
                    dropped[v][t]
                );
                continue;
            }
            let (median, min, max) = median_and_spread(&mut cpu[v][t]);
            println!(
                "| {} | {n} | {median:.0} | {min:.0}–{max:.0} | {:.2} | {} |",
                variant.name(),
                n as f64 * one / median,
                dropped[v][t]
            );
        }
    }
}
