//! What the benchmarks share: a no-op service and one synchronous call through a layer.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use http_body_util::Full;
use tower::Service;

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
pub fn call<S>(service: &mut S, authorization: &HeaderValue) -> u16
where
    S: Service<Request<()>, Response = Response<Body>, Error = Infallible>,
{
    let mut request = Request::new(());
    request
        .headers_mut()
        .insert(http::header::AUTHORIZATION, authorization.clone());
    send(service, request)
}

/// `request` through `service` as a server sends it: `poll_ready`, `call`, and one poll of
/// the response future, which must be ready. The status.
pub fn send<S>(service: &mut S, request: Request<()>) -> u16
where
    S: Service<Request<()>, Response = Response<Body>, Error = Infallible>,
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
const BATCH: std::time::Duration = std::time::Duration::from_millis(20);

/// A named contender of [`interleaved`]: one call, `true` if it gave the expected outcome.
pub type Contender<'a> = (&'static str, Box<dyn FnMut() -> bool + 'a>);

/// Calls `f` `n` times; the time per call in nanoseconds.
fn batch(n: u32, mut f: impl FnMut() -> bool) -> f64 {
    let start = std::time::Instant::now();
    for _ in 0..n {
        assert!(std::hint::black_box(f()));
    }
    start.elapsed().as_nanos() as f64 / f64::from(n)
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
    let mut slowest: f64 = 0.0;
    for (_, contender) in contenders.iter_mut() {
        let fastest = (0..8)
            .map(|_| batch(50, &mut *contender))
            .fold(f64::INFINITY, f64::min);
        slowest = slowest.max(fastest);
    }
    let n = ((BATCH.as_nanos() as f64 / slowest) as u32).max(10);
    let mut times = vec![Vec::with_capacity(rounds); contenders.len()];
    for round in 0..rounds {
        for turn in 0..contenders.len() {
            let at = (round + turn) % contenders.len();
            times[at].push(batch(n, &mut contenders[at].1));
        }
    }
    let first = contenders[0].0;
    println!("{title}: {rounds} rounds of {n} calls per contender");
    for (at, (name, _)) in contenders.iter().enumerate() {
        let mut own = times[at].clone();
        own.sort_by(f64::total_cmp);
        let mut ratios: Vec<f64> = times[at]
            .iter()
            .zip(&times[0])
            .map(|(ours, theirs)| ours / theirs)
            .collect();
        ratios.sort_by(f64::total_cmp);
        println!(
            "  {name:<16} median {:>8.3} µs, fastest {:>8.3} µs; / {first}: median {:.3}, \
             middle half {:.3}..{:.3}, range {:.3}..{:.3}",
            quantile(&own, 0.5) / 1000.0,
            own[0] / 1000.0,
            quantile(&ratios, 0.5),
            quantile(&ratios, 0.25),
            quantile(&ratios, 0.75),
            ratios[0],
            ratios[ratios.len() - 1],
        );
    }
}
