//! How the layer's cost grows with its users: CPU time per request (this thread's, so that
//! time spent waiting for a core on a busy machine is left out) through the default layer
//! (cache of `DEFAULT_CACHE_CAPACITY`, 4096 tokens) over a no-op service, HS256, each user
//! with a token of their own in the tutorial's format (`sub`, `iat`, `exp`, `scope`, `jti`,
//! both `sub` and `jti` distinct per user), interleaved in one process
//! (`support::bench::measure_by`).
//!
//! Contenders, each a layer of its own whose cache stays warm from round to round:
//! - `one token`: one user (every call a hit): the hit's cost;
//! - `round-robin N`: N users (10², 4000, 10⁴, 10⁶), each user's token in turn (4000: as
//!   many users as the cache holds, every call a hit in the shared map once warm);
//! - `zipf N`: N users drawn from a Zipf distribution (s = 1: user k sends a share
//!   proportional to 1/k), from a fixed sequence of 2²⁰ draws, the same every run;
//! - `flood`: a cache filled with 4096 tokens, then a token never sent before on every call
//!   (a one-use token against a full cache: the doorkeeper turns each away);
//! - `busy N + flood`: N busy users (100, 1,000) in turn, one request in ten, the other nine
//!   a one-use token each (as `flood`), the cache starting empty.
//!
//! Each contender's miss rate is counted in a second, untimed pass over the same calls,
//! through a layer of the same settings whose claims type counts its decodings (a miss
//! decodes the claims, a hit does not): 2¹⁸ calls after as many to warm up; for `busy + flood`,
//! the busy tokens' hit rate is counted apart.
//!
//! The 10⁶ tokens are signed first, on every core (about 300 MB as header values); one-use
//! tokens come from the same set, each contender's from its own slice. Writes the chart
//! `benches/growth.svg`.
//!
//! ```sh
//! cargo bench --bench growth -- [rounds] [users]   # default 21 and 1000000
//! ```

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use http::HeaderValue;
use serde::de::{Deserialize, Deserializer, IgnoredAny};
use serde_json::json;
use std::convert::Infallible;
use support::bench::{Clock, Contender, Noop, SECRET, bearer, call, measure_by, noop, zipf};
use support::chart::Bars;

use http::{Request, Response};
use tower::util::ServiceFn;
use tower::{Service, ServiceBuilder};
use tower_jwt_auth::layer::JwtAuth;
use tower_jwt_auth::{Algorithm, JwtAuthLayer, Key, SigningKey};

/// Decodings of [`Counted`] claims: the layer's misses.
static DECODED: AtomicU64 = AtomicU64::new(0);

/// A claims type that counts its decodings.
#[derive(Clone, Debug)]
struct Counted;

impl<'de> Deserialize<'de> for Counted {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        DECODED.fetch_add(1, Ordering::Relaxed);
        IgnoredAny::deserialize(deserializer)?;
        Ok(Self)
    }
}

/// `users` tokens, signed on every core.
fn sign(users: usize) -> Vec<HeaderValue> {
    let now = support::now();
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let chunk = users.div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|thread| {
                scope.spawn(move || {
                    let signer = SigningKey::hmac(Algorithm::HS256, SECRET).unwrap();
                    (thread * chunk..((thread + 1) * chunk).min(users))
                        .map(|user| {
                            let claims = json!({
                                "sub": format!("user-{user}"),
                                "iat": now - 60,
                                "exp": now + 3600,
                                "scope": "access_token",
                                "jti": format!("{user:032x}"),
                            });
                            bearer(&signer.sign(&claims).unwrap())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    })
}

const ZIPF_DRAWS: usize = 1 << 20;
/// Calls of the miss-rate count, after as many to warm the cache up.
const MISS_CALLS: usize = 1 << 18;
/// The busy users of `busy + flood`: each returns every `10 × BUSY` requests.
const BUSY: [usize; 2] = [100, 1000];
/// Of every ten requests of `busy + flood`, how many are the busy users'.
const BUSY_IN_TEN: usize = 1;

/// What a contender sends: the token of each call, in order.
enum Pattern<'a> {
    One(&'a HeaderValue),
    RoundRobin(&'a [HeaderValue]),
    Sequence(&'a [HeaderValue], &'a [u32]),
    /// `flood`: the full cache's tokens first, then one-use tokens.
    Flood {
        fill: &'a [HeaderValue],
        fresh: &'a [HeaderValue],
    },
    BusyFlood {
        busy: &'a [HeaderValue],
        fresh: &'a [HeaderValue],
    },
}

/// Calls through one layer (or, for a control, straight to the no-op service) in a pattern;
/// the cursor runs on, wrapping (a one-use token is used again only after every token of its
/// slice, far more than the cache holds).
struct Sender<'a, S> {
    pattern: &'a Pattern<'a>,
    service: S,
    at: usize,
    fresh_at: usize,
}

impl<'a, C: Clone + Send + Sync + 'static> Sender<'a, JwtAuth<ServiceFn<Noop>, C>>
where
    C: serde::de::DeserializeOwned,
{
    fn new(pattern: &'a Pattern<'a>, layer: JwtAuthLayer<C>) -> Self {
        Sender::with(
            pattern,
            ServiceBuilder::new().layer(layer).service_fn(noop as Noop),
        )
    }
}

impl<'a, S, B> Sender<'a, S>
where
    S: Service<Request<()>, Response = Response<B>, Error = Infallible>,
{
    /// The pattern's calls to `service`.
    fn with(pattern: &'a Pattern<'a>, service: S) -> Self {
        let mut sender = Self {
            pattern,
            service,
            at: 0,
            fresh_at: 0,
        };
        if let Pattern::Flood { fill, .. } = pattern {
            // Twice: a full cache admits a token on its second verification.
            for _ in 0..2 {
                for token in *fill {
                    assert_eq!(call(&mut sender.service, token), 200);
                }
            }
        }
        sender
    }

    /// The next call's token, and whether it is a busy user's.
    fn next(&mut self) -> (&'a HeaderValue, bool) {
        let at = self.at;
        self.at += 1;
        let mut fresh = |fresh: &'a [HeaderValue]| {
            let token = &fresh[self.fresh_at % fresh.len()];
            self.fresh_at += 1;
            token
        };
        match self.pattern {
            Pattern::One(token) => (token, true),
            Pattern::RoundRobin(tokens) => (&tokens[at % tokens.len()], true),
            Pattern::Sequence(tokens, draws) => (&tokens[draws[at % draws.len()] as usize], true),
            Pattern::Flood { fresh: tokens, .. } => (fresh(tokens), false),
            Pattern::BusyFlood {
                busy,
                fresh: tokens,
            } => {
                if at % 10 < BUSY_IN_TEN {
                    (&busy[(at / 10) % busy.len()], true)
                } else {
                    (fresh(tokens), false)
                }
            }
        }
    }

    fn send(&mut self) -> bool {
        let (token, _) = self.next();
        call(&mut self.service, black_box(token)) == 200
    }
}

fn layer() -> JwtAuthLayer {
    JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, SECRET).unwrap())
        .build()
        .unwrap()
}

/// The miss rate of `pattern` (all calls; the busy users' calls), counted after a warm-up.
fn miss_rate(pattern: &Pattern<'_>, calls: usize) -> (f64, f64) {
    let counting = JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, SECRET).unwrap())
        .claims::<Counted>()
        .build()
        .unwrap();
    let mut sender = Sender::new(pattern, counting);
    for _ in 0..MISS_CALLS {
        assert!(sender.send());
    }
    let (mut misses, mut busy, mut busy_misses) = (0u64, 0u64, 0u64);
    for _ in 0..calls {
        let (token, is_busy) = sender.next();
        let before = DECODED.load(Ordering::Relaxed);
        assert_eq!(call(&mut sender.service, token), 200);
        let missed = DECODED.load(Ordering::Relaxed) - before;
        misses += missed;
        if is_busy {
            busy += 1;
            busy_misses += missed;
        }
    }
    (
        misses as f64 / calls as f64,
        busy_misses as f64 / busy.max(1) as f64,
    )
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|arg| arg.parse().ok())
        .collect();
    let rounds = args.first().copied().unwrap_or(21);
    let users = args.get(1).copied().unwrap_or(1_000_000).max(20_000);
    let start = std::time::Instant::now();
    let tokens = sign(users);
    println!(
        "signed {users} tokens in {:.1} s ({:.2} µs each, {} threads)",
        start.elapsed().as_secs_f64(),
        start.elapsed().as_secs_f64() * 1e6 / users as f64,
        std::thread::available_parallelism().map_or(1, usize::from),
    );
    // Each header value copied once more: the copies share their bytes, so a call's clone
    // allocates nothing the first clone did not.
    let _shared: Vec<HeaderValue> = tokens.iter().map(HeaderValue::clone).collect();

    let sizes: Vec<usize> = [100, 4000, 10_000, 1_000_000]
        .into_iter()
        .map(|n| n.min(users))
        .collect();
    let draws: Vec<Vec<u32>> = sizes.iter().map(|&n| zipf(n, ZIPF_DRAWS)).collect();
    // One-use tokens: the flood's from the upper half, the busy users' flood from the
    // lower half's end; the busy users and the flood's fill at the start.
    let half = users / 2;
    let patterns: Vec<(String, Pattern<'_>)> = {
        let mut patterns = vec![("one token".to_owned(), Pattern::One(&tokens[0]))];
        for &n in &sizes {
            patterns.push((
                format!("round-robin {n}"),
                Pattern::RoundRobin(&tokens[..n]),
            ));
        }
        for (&n, draws) in sizes.iter().zip(&draws) {
            patterns.push((format!("zipf {n}"), Pattern::Sequence(&tokens[..n], draws)));
        }
        patterns.push((
            "flood".to_owned(),
            Pattern::Flood {
                fill: &tokens[..4096],
                fresh: &tokens[half..],
            },
        ));
        for busy in BUSY {
            patterns.push((
                format!("busy {busy} + flood"),
                Pattern::BusyFlood {
                    busy: &tokens[..busy],
                    fresh: &tokens[4096..half],
                },
            ));
        }
        patterns
    };

    let mut contenders: Vec<Contender<'_>> = patterns
        .iter()
        .map(|(name, pattern)| {
            let name: &'static str = Box::leak(name.clone().into_boxed_str());
            let mut sender = Sender::new(pattern, layer());
            let contender: Contender<'_> = (name, Box::new(move || sender.send()));
            contender
        })
        .collect();
    // The controls: the same calls of the hit and Zipf patterns straight to the no-op
    // service, which read the same header values in the same order. A contender less its
    // control is what the layer adds, without the bench's own memory traffic (the Zipf draws
    // over 10⁶ header values read at random what round-robin reads in order).
    let controls: Vec<(usize, usize)> = patterns
        .iter()
        .enumerate()
        .filter(|(_, (_, pattern))| {
            matches!(
                pattern,
                Pattern::One(_) | Pattern::RoundRobin(_) | Pattern::Sequence(..)
            )
        })
        .map(|(at, _)| at)
        .zip(patterns.len()..)
        .collect();
    for &(at, _) in &controls {
        let (name, pattern) = &patterns[at];
        let name: &'static str = Box::leak(format!("no layer: {name}").into_boxed_str());
        let mut sender = Sender::with(pattern, ServiceBuilder::new().service_fn(noop as Noop));
        contenders.push((name, Box::new(move || sender.send())));
    }
    let result = measure_by(Clock::ThreadCpu, rounds, &mut contenders);
    drop(contenders);
    result.print("HS256 through the default layer over a no-op service", 0);

    println!("\nmiss rates (counted, untimed, {MISS_CALLS} calls after as many to warm up):");
    let rates: Vec<(f64, f64)> = patterns
        .iter()
        .map(|(_, pattern)| miss_rate(pattern, MISS_CALLS))
        .collect();
    // The hit: a hit in the shared map with the cache full of busy tokens (every call of
    // `round-robin 4000` once warm); `one token` is a hit in the thread's front.
    let hit_at = patterns
        .iter()
        .position(|(n, _)| n == "round-robin 4000")
        .unwrap_or(0);
    let hit = result.time(hit_at).median;
    let flood_at = patterns.iter().position(|(n, _)| n == "flood").unwrap();
    let miss = result.time(flood_at).median;
    println!(
        "| contender | CPU ns/request (median) | middle half | miss rate | hit rate of busy users | \
         predicted from the miss rate | measured / predicted (median, middle half) |"
    );
    println!("|---|---:|---|---:|---:|---:|---|");
    for (at, (name, _)) in patterns.iter().enumerate() {
        let time = result.time(at);
        let (rate, busy_rate) = rates[at];
        // hit + rate × (miss − hit), from the map hit's and the flood's times of each round.
        let predicted = hit + rate * (miss - hit);
        let ratio = result.ratio_model(at, hit_at, flood_at, rate);
        println!(
            "| {name} | {:.0} | {:.0}–{:.0} | {:.4} | {} | {predicted:.0} | {:.3} ({:.3}–{:.3}) |",
            time.median,
            time.lower_quartile,
            time.upper_quartile,
            rate,
            if matches!(patterns[at].1, Pattern::BusyFlood { .. }) {
                format!("{:.4}", 1.0 - busy_rate)
            } else {
                "–".to_owned()
            },
            ratio.median,
            ratio.lower_quartile,
            ratio.upper_quartile,
        );
    }

    // What the layer adds: each hit and Zipf contender less its control, and the same model
    // over those differences (the hit: `round-robin 4000` less its control; the miss: `flood`
    // less the control of `round-robin` over all the users, which reads in order as the flood
    // does).
    let control_of = |at: usize| controls.iter().find(|(of, _)| *of == at).map(|(_, c)| *c);
    let all_at = patterns
        .iter()
        .position(|(n, _)| *n == format!("round-robin {}", sizes[sizes.len() - 1]))
        .unwrap();
    let (hit_control, miss_control) = (control_of(hit_at).unwrap(), control_of(all_at).unwrap());
    println!(
        "\nwhat the layer adds (each contender less its control: the same calls to the no-op \
         service without the layer):"
    );
    println!(
        "| contender | layer's CPU ns/request (median) | middle half | control ns/request | \
         miss rate | measured / predicted (median, middle half) |"
    );
    println!("|---|---:|---|---:|---:|---|");
    for &(at, control) in &controls {
        let own = result.time_above(at, control);
        let rate = rates[at].0;
        let ratio = result.each_round(|time| {
            let hit = time(hit_at) - time(hit_control);
            let miss = time(flood_at) - time(miss_control);
            (time(at) - time(control)) / (hit + rate * (miss - hit))
        });
        println!(
            "| {} | {:.0} | {:.0}–{:.0} | {:.0} | {rate:.4} | {:.3} ({:.3}–{:.3}) |",
            patterns[at].0,
            own.median,
            own.lower_quartile,
            own.upper_quartile,
            result.time(control).median,
            ratio.median,
            ratio.lower_quartile,
            ratio.upper_quartile,
        );
    }

    let groups: Vec<(String, Vec<f64>)> = sizes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            (
                if n.to_string()
                    .trim_start_matches('1')
                    .chars()
                    .all(|c| c == '0')
                {
                    format!("10^{}", n.to_string().len() - 1)
                } else {
                    n.to_string()
                },
                vec![
                    result.time(1 + i).median,
                    result.time(1 + sizes.len() + i).median,
                ],
            )
        })
        .chain([
            ("1 user".to_owned(), vec![result.time(0).median; 2]),
            (
                "flood".to_owned(),
                vec![miss, result.time(flood_at + 2).median],
            ),
        ])
        .collect();
    let groups: Vec<(&str, Vec<f64>)> = groups
        .iter()
        .map(|(name, values)| (name.as_str(), values.clone()))
        .collect();
    let svg = Bars {
        title: "CPU ns per request through the layer (HS256, cache 4096), by users",
        series: &[
            ("round-robin; flood: one-use", "#4e79a7"),
            ("Zipf; flood: 1000 busy", "#f28e2b"),
        ],
        groups: &groups,
        label: |ns| format!("{ns:.0} ns"),
    }
    .svg();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/growth.svg");
    std::fs::write(&path, svg).unwrap();
    println!("\nwrote {}", path.display());
}
