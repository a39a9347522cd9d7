//! What the benchmarks share: each algorithm's keys and tokens, a no-op service, one
//! synchronous call through a layer, and the interleaved measurement.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use http_body_util::Full;
use serde_json::json;
use tower::Service;
use tower_jwt_auth::{Algorithm, Key, SigningKey};

/// The HS256 secret of the benches' tokens.
pub const SECRET: &[u8] = b"a benchmark secret that is at least 32 bytes long";

/// An access token's claims in the tutorial's format (`sub`, `iat`, `exp`, `scope`, `jti`),
/// valid for an hour (or expired an hour ago).
pub fn claims(sub: &str, expired: bool) -> serde_json::Value {
    let now = crate::now();
    let exp = if expired { now - 3600 } else { now + 3600 };
    json!({
        "sub": sub,
        "iat": now - 60,
        "exp": exp,
        "scope": "access_token",
        "jti": "8d3e2f71b0c94a5e9f6d1c2b3a4e5f60",
    })
}

/// One algorithm's keys: our signer and verifier, and jsonwebtoken's decoding key.
pub struct Setup {
    pub name: &'static str,
    pub alg: Algorithm,
    pub signer: SigningKey,
    pub key: Key,
    pub decoding: jsonwebtoken::DecodingKey,
}

/// HS256 (with [`SECRET`]), RS256, ES256 and EdDSA (with the keys in `tests/data/keys`).
/// With aws-lc-rs, install jsonwebtoken's provider first: a key is parsed for the provider
/// installed when it is made.
pub fn setups() -> Vec<Setup> {
    use jsonwebtoken::DecodingKey;
    let key = |name: &str| crate::data(&format!("keys/{name}"));
    let (rsa, ec, ed) = (
        key("rsa_public.pem"),
        key("ec256_public.pem"),
        key("ed25519_public.pem"),
    );
    vec![
        Setup {
            name: "HS256",
            alg: Algorithm::HS256,
            signer: SigningKey::hmac(Algorithm::HS256, SECRET).unwrap(),
            key: Key::hmac(Algorithm::HS256, SECRET).unwrap(),
            decoding: DecodingKey::from_secret(SECRET).unwrap(),
        },
        Setup {
            name: "RS256",
            alg: Algorithm::RS256,
            signer: SigningKey::rsa_pem(Algorithm::RS256, key("rsa_private.pem")).unwrap(),
            key: Key::rsa_pem(Algorithm::RS256, &rsa).unwrap(),
            decoding: DecodingKey::from_rsa_pem(&rsa).unwrap(),
        },
        Setup {
            name: "ES256",
            alg: Algorithm::ES256,
            signer: SigningKey::ec_pem(Algorithm::ES256, key("ec256_private.pem")).unwrap(),
            key: Key::ec_pem(Algorithm::ES256, &ec).unwrap(),
            decoding: DecodingKey::from_ec_pem(&ec).unwrap(),
        },
        Setup {
            name: "EdDSA",
            alg: Algorithm::EdDSA,
            signer: SigningKey::ed_pem(key("ed25519_private.pem")).unwrap(),
            key: Key::ed_pem(&ed).unwrap(),
            decoding: DecodingKey::from_ed_pem(&ed).unwrap(),
        },
    ]
}

/// `Bearer <token>`.
pub fn bearer(token: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("Bearer {token}")).unwrap()
}

/// A copy of `token` whose signature is wrong but still canonical base64url of the right
/// length.
pub fn bad_signature(token: &str) -> String {
    let mut bytes = token.as_bytes().to_vec();
    let at = token.rfind('.').unwrap() + 3;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

/// The response body of the benchmarks' services.
pub type Body = Full<Bytes>;

/// A service that answers 200 at once.
pub type Noop = fn(Request<()>) -> Ready<Result<Response<Body>, Infallible>>;

/// The no-op service: an empty 200.
pub fn noop(_: Request<()>) -> Ready<Result<Response<Body>, Infallible>> {
    ready(Ok(Response::new(Body::default())))
}

/// One request with `authorization` through `service`, polled once (the layer answers at
/// once): the status.
pub fn call<S, B>(service: &mut S, authorization: &HeaderValue) -> u16
where
    S: Service<Request<()>, Response = Response<B>, Error = Infallible>,
{
    let mut request = Request::new(());
    request
        .headers_mut()
        .insert(http::header::AUTHORIZATION, authorization.clone());
    send(service, request)
}

/// `request` through `service` as a server sends it: `poll_ready`, `call`, and one poll of
/// the response future, which must be ready. The status.
pub fn send<S, R, B>(service: &mut S, request: Request<R>) -> u16
where
    S: Service<Request<R>, Response = Response<B>, Error = Infallible>,
{
    let mut cx = Context::from_waker(Waker::noop());
    assert!(service.poll_ready(&mut cx).is_ready());
    let mut future = std::pin::pin!(service.call(request));
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(Ok(response)) => response.status().as_u16(),
        Poll::Ready(Err(never)) => match never {},
        Poll::Pending => unreachable!("the service answers at once"),
    }
}

/// About how long one batch of one contender runs in [`interleaved`].
const BATCH: Duration = Duration::from_millis(20);

/// A named contender of [`interleaved`]: one call, `true` if it gave the expected outcome.
pub type Contender<'a> = (&'static str, Box<dyn FnMut() -> bool + 'a>);

/// How [`measure_by`] times a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// Wall time: what a caller waits, time the machine gave to other processes included.
    Wall,
    /// This thread's CPU time ([`thread_cpu`]): time the machine gave to other processes
    /// does not count, which steadies the figures on a busy machine.
    ThreadCpu,
}

impl Clock {
    /// The time now on this clock, from some fixed start.
    fn now(self) -> Duration {
        static START: OnceLock<Instant> = OnceLock::new();
        match self {
            Self::Wall => START.get_or_init(Instant::now).elapsed(),
            Self::ThreadCpu => thread_cpu(),
        }
    }
}

/// The CPU time this thread has used (Linux and Android); elsewhere, wall time.
pub fn thread_cpu() -> Duration {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let time = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
        Duration::new(
            u64::try_from(time.tv_sec).unwrap_or_default(),
            u32::try_from(time.tv_nsec).unwrap_or_default(),
        )
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    Clock::Wall.now()
}

/// Calls `f` `n` times; the time per call on `clock` in nanoseconds.
fn batch(clock: Clock, n: u32, mut f: impl FnMut() -> bool) -> f64 {
    let start = clock.now();
    for _ in 0..n {
        assert!(std::hint::black_box(f()));
    }
    (clock.now() - start).as_nanos() as f64 / f64::from(n)
}

/// The value at fraction `q` of sorted `values` (nearest rank).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Measures `contenders` in turn within one process: `rounds` rounds, each a batch of every
/// contender (the order rotating from round to round), so that the machine's drift hits all
/// alike. Prints, under `title`, each contender's median and fastest time per call and its
/// per-round ratio to the first contender: median, middle half and range.
///
/// Batches last about 20 ms of the slowest contender at its least disturbed (the fastest of
/// a few short warm-up batches: a busy machine would otherwise make them short, and their
/// ratios noisy).
pub fn interleaved(title: &str, rounds: usize, contenders: &mut [Contender<'_>]) {
    measure(rounds, contenders).print(title, 0);
}

/// The measurement of [`interleaved`], without the printing: each contender's wall time per
/// call in every round.
pub fn measure(rounds: usize, contenders: &mut [Contender<'_>]) -> Rounds {
    measure_by(Clock::Wall, rounds, contenders)
}

/// [`measure`], timed on `clock`.
pub fn measure_by(clock: Clock, rounds: usize, contenders: &mut [Contender<'_>]) -> Rounds {
    let mut slowest: f64 = 0.0;
    for (_, contender) in contenders.iter_mut() {
        let fastest = (0..8)
            .map(|_| batch(clock, 50, &mut *contender))
            .fold(f64::INFINITY, f64::min);
        slowest = slowest.max(fastest);
    }
    let calls = ((BATCH.as_nanos() as f64 / slowest) as u32).max(10);
    let mut times = vec![Vec::with_capacity(rounds); contenders.len()];
    for round in 0..rounds {
        for turn in 0..contenders.len() {
            let at = (round + turn) % contenders.len();
            times[at].push(batch(clock, calls, &mut contenders[at].1));
        }
    }
    Rounds {
        names: contenders.iter().map(|(name, _)| *name).collect(),
        calls,
        times,
    }
}

/// What [`measure`] measured: per contender, in the order given, the time per call of each
/// round in nanoseconds.
pub struct Rounds {
    /// The contenders' names.
    pub names: Vec<&'static str>,
    /// Calls per batch.
    pub calls: u32,
    times: Vec<Vec<f64>>,
}

/// The median, middle half and range of a set of figures.
#[derive(Clone, Copy, Debug)]
pub struct Spread {
    pub median: f64,
    pub lower_quartile: f64,
    pub upper_quartile: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    fn of(mut values: Vec<f64>) -> Self {
        values.sort_by(f64::total_cmp);
        Self {
            median: quantile(&values, 0.5),
            lower_quartile: quantile(&values, 0.25),
            upper_quartile: quantile(&values, 0.75),
            min: values[0],
            max: values[values.len() - 1],
        }
    }
}

impl Rounds {
    /// Contender `at`'s time per call over the rounds, in nanoseconds.
    pub fn time(&self, at: usize) -> Spread {
        Spread::of(self.times[at].clone())
    }

    /// `figure` of every round (its index), over the rounds.
    fn per_round(&self, figure: impl Fn(usize) -> f64) -> Spread {
        Spread::of((0..self.times[0].len()).map(figure).collect())
    }

    /// `figure` of every round, over the rounds: `figure` is handed a function that gives
    /// each contender's time per call (by its index) in that round.
    pub fn each_round(&self, figure: impl Fn(&dyn Fn(usize) -> f64) -> f64) -> Spread {
        self.per_round(|round| figure(&|at| self.times[at][round]))
    }

    /// Contender `at`'s time divided by contender `to`'s, round by round.
    pub fn ratio(&self, at: usize, to: usize) -> Spread {
        let times = &self.times;
        self.per_round(|round| times[at][round] / times[to][round])
    }

    /// Contender `at`'s time less contender `to`'s, round by round, in nanoseconds.
    pub fn difference(&self, at: usize, to: usize) -> Spread {
        let times = &self.times;
        self.per_round(|round| times[at][round] - times[to][round])
    }

    /// Contender `at`'s time divided by what a miss rate of `rate` predicts from contender
    /// `hit`'s time (every call a hit) and contender `miss`'s (every call a miss), round by
    /// round: `hit + rate × (miss − hit)`.
    pub fn ratio_model(&self, at: usize, hit: usize, miss: usize, rate: f64) -> Spread {
        let times = &self.times;
        self.per_round(|round| {
            let (hit, miss) = (times[hit][round], times[miss][round]);
            times[at][round] / (hit + rate * (miss - hit))
        })
    }

    /// Contender `at`'s time less contender `baseline`'s (what both do, such as building
    /// the request), divided by contender `to`'s, round by round.
    pub fn ratio_above(&self, at: usize, baseline: usize, to: usize) -> Spread {
        let times = &self.times;
        self.per_round(|round| (times[at][round] - times[baseline][round]) / times[to][round])
    }

    /// Contender `at`'s time less contender `baseline`'s, round by round, in nanoseconds.
    pub fn time_above(&self, at: usize, baseline: usize) -> Spread {
        let times = &self.times;
        self.per_round(|round| times[at][round] - times[baseline][round])
    }

    /// Contender `at`'s time less contender `baseline`'s, divided by contender `to`'s less
    /// `baseline`'s, round by round: the ratio of what each adds to the baseline.
    pub fn ratio_both_above(&self, at: usize, to: usize, baseline: usize) -> Spread {
        let times = &self.times;
        self.per_round(|round| {
            let base = times[baseline][round];
            (times[at][round] - base) / (times[to][round] - base)
        })
    }

    /// Prints, under `title`, each contender's median and fastest time per call and its
    /// ratio to contender `reference` (see [`Rounds::ratio`]).
    pub fn print(&self, title: &str, reference: usize) {
        let rounds = self.times[reference].len();
        let (calls, to) = (self.calls, self.names[reference]);
        println!("{title}: {rounds} rounds of {calls} calls per contender");
        for (at, name) in self.names.iter().enumerate() {
            let (time, ratio) = (self.time(at), self.ratio(at, reference));
            println!(
                "  {name:<16} median {:>8.3} µs, fastest {:>8.3} µs; / {to}: median {:.3}, \
                 middle half {:.3}..{:.3}, range {:.3}..{:.3}",
                time.median / 1000.0,
                time.min / 1000.0,
                ratio.median,
                ratio.lower_quartile,
                ratio.upper_quartile,
                ratio.min,
                ratio.max,
            );
        }
    }
}

/// Draws from a Zipf distribution over `0..n` (s = 1), by the inverse of its cumulative
/// table; xorshift64* from a fixed seed, so every run draws the same. Shared by
/// `benches/growth.rs` and the tutorial's load test (`--users`).
pub fn zipf(n: usize, draws: usize) -> Vec<u32> {
    let mut cumulative = Vec::with_capacity(n);
    let mut total = 0.0;
    for k in 1..=n {
        total += 1.0 / k as f64;
        cumulative.push(total);
    }
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..draws)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let uniform =
                (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64;
            let at = cumulative.partition_point(|&c| c < uniform * total);
            at.min(n - 1) as u32
        })
        .collect()
}
