//! Serving an axum app in production: hyper's HTTP/1 connection with a header-read timeout,
//! a per-request timeout, a cap on open connections, back-off on `accept` errors, and a
//! graceful shutdown with a deadline.
//!
//! `axum::serve` has none of these limits: a client that sends a header byte every few
//! seconds holds a connection (and a file descriptor) for as long as it likes, enough of them
//! exhaust the process's descriptors, and one of them keeps the process alive after SIGTERM.
//!
//! Settings, from the environment (seconds may be fractional, e.g. `0.5`):
//! - `HEADER_READ_TIMEOUT` (10 s): how long a client may take to send a request's head.
//!   hyper starts this timer whenever it waits for a request, so it also closes a keep-alive
//!   connection left idle that long (hyper 1 has no separate idle setting).
//! - `REQUEST_TIMEOUT` (30 s): how long a request may take, body and handler included;
//!   then 503 with a JSON `detail`.
//! - `MAX_CONNECTIONS` (10000): open connections at most; further clients wait in the
//!   listen backlog until one closes. Keep it below the descriptor limit (`ulimit -n`).
//! - `SHUTDOWN_TIMEOUT` (10 s): after SIGTERM or Ctrl-C, how long open connections get to
//!   finish; the rest are closed and the process exits with status 0.
//!
//! # Example
//!
//! The server's `main`, in short. The library's serving guide (`tower_jwt_auth::guide::serving`)
//! shows the same snippet, from the same file:
//!
#![doc = concat!("```rust,no_run\n", include_str!("../../src/guide/serving_example.txt"), "```")]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tower::ServiceExt;

/// How the app is served. [`Serving::default`] holds the production defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Serving {
    /// How long a client may take to send a request head; also the keep-alive idle limit.
    pub header_read_timeout: Duration,
    /// How long one request may take before it is answered 503.
    pub request_timeout: Duration,
    /// Open connections at most.
    pub max_connections: usize,
    /// How long open connections get to finish after the shutdown signal.
    pub shutdown_timeout: Duration,
}

impl Default for Serving {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 10_000,
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

impl Serving {
    /// Reads the settings through `lookup` (`std::env::var` in the server).
    ///
    /// # Errors
    ///
    /// A message a person can act on, naming the variable that does not parse.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let var = |name: &str| lookup(name).filter(|value| !value.is_empty());
        let seconds = |name: &str, default: Duration| -> Result<Duration, String> {
            var(name).map_or(Ok(default), |value| {
                value
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|seconds| *seconds > 0.0)
                    .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
                    .ok_or_else(|| format!("{name} must be a positive number of seconds"))
            })
        };
        let defaults = Self::default();
        let max_connections = match var("MAX_CONNECTIONS") {
            None => defaults.max_connections,
            Some(value) => value
                .trim()
                .parse()
                .ok()
                .filter(|max| (1..=Semaphore::MAX_PERMITS).contains(max))
                .ok_or("MAX_CONNECTIONS must be a whole number above 0")?,
        };
        Ok(Self {
            header_read_timeout: seconds("HEADER_READ_TIMEOUT", defaults.header_read_timeout)?,
            request_timeout: seconds("REQUEST_TIMEOUT", defaults.request_timeout)?,
            max_connections,
            shutdown_timeout: seconds("SHUTDOWN_TIMEOUT", defaults.shutdown_timeout)?,
        })
    }
}

/// The answer `response` gives within `timeout`, or past it 503 with `{"detail": …}`: the
/// handler is dropped. [`serve`] puts every request's answer through it.
///
/// Around each request's whole answer, not a layer over each of the app's routes:
/// `Router::layer` wraps every route once more, and each request clones the boxed routes it
/// passes through (3 to 5 heap blocks and some 1 600 instructions a request, in the example
/// server).
pub async fn within(
    timeout: Duration,
    response: impl Future<Output = Result<Response, Infallible>>,
) -> Response {
    match tokio::time::timeout(timeout, response).await {
        Ok(Ok(response)) => response,
        Ok(Err(never)) => match never {},
        Err(_elapsed) => {
            tracing::warn!("a request took longer than the request timeout");
            let detail = "The request took too long; try again later";
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({ "detail": detail })),
            )
                .into_response()
        }
    }
}

/// `app` as [`serve`] runs it: with every route built once.
///
/// A handler's route, with the layers over it, is otherwise built anew for each request
/// (axum builds it once only in `into_make_service`, which [`serve`] does not use):
/// boxed services and futures that cost `/secret` three allocations a request, and
/// `/notsecret` one (`tests/allocations.rs`).
pub fn prepared(app: Router) -> Router {
    app.with_state(())
}

/// Serves `app` on `listener` until `shutdown` completes, then gives open connections
/// `settings.shutdown_timeout` to finish and closes the rest. Handlers see the peer's
/// address as `ConnectInfo<SocketAddr>`, as with `into_make_service_with_connect_info`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    settings: &Serving,
    shutdown: impl Future<Output = ()>,
) {
    let app = prepared(app);
    let request_timeout = settings.request_timeout;
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout);
    let permits = Arc::new(Semaphore::new(settings.max_connections));
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let mut accept_failures = 0_u32;
    let mut at_capacity = false;
    tokio::pin!(shutdown);
    loop {
        // Finished connections leave the set here, so it holds only open ones.
        while connections.try_join_next().is_some() {}
        let permit = match Arc::clone(&permits).try_acquire_owned() {
            Ok(permit) => {
                at_capacity = false;
                permit
            }
            Err(_) => {
                // Once per streak: under a flood every freed slot is taken again at once.
                if !at_capacity {
                    tracing::warn!(
                        max_connections = settings.max_connections,
                        "connection limit reached; new connections wait until one closes"
                    );
                    at_capacity = true;
                }
                tokio::select! {
                    () = &mut shutdown => break,
                    permit = Arc::clone(&permits).acquire_owned() => {
                        permit.expect("the semaphore is never closed")
                    }
                }
            }
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) if is_connection_error(&error) => continue,
                Err(error) => {
                    // Out of descriptors (EMFILE) and the like: retrying at once would spin.
                    // Log once per streak and back off, 10 ms doubling up to 100 ms.
                    if accept_failures == 0 {
                        tracing::error!(%error, "accept failed; backing off until it succeeds");
                    }
                    accept_failures = accept_failures.saturating_add(1);
                    let pause = Duration::from_millis(10_u64 << (accept_failures.min(5) - 1))
                        .min(Duration::from_millis(100));
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(pause) => continue,
                    }
                }
            },
        };
        if accept_failures > 0 {
            tracing::info!(failures = accept_failures, "accepting connections again");
            accept_failures = 0;
        }
        let app = app.clone();
        let extensions = connection_extensions(peer);
        let service = hyper::service::service_fn(move |mut request: http::Request<Incoming>| {
            request.extensions_mut().extend(extensions.clone());
            let response = app.clone().oneshot(request);
            async move { Ok::<_, Infallible>(within(request_timeout, response).await) }
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        connections.spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, %error, "connection closed with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    tracing::info!(
        open = graceful.count(),
        "no longer accepting; waiting for open connections"
    );
    let deadline = settings.shutdown_timeout;
    if tokio::time::timeout(deadline, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            open = connections.len(),
            ?deadline,
            "shutdown deadline passed; closing the remaining connections"
        );
    }
    connections.shutdown().await;
}

/// The extensions [`serve`] starts each request on a connection from `peer` with: the peer's
/// address, in a map with room for seven entries.
///
/// `http`'s map of extensions starts with room for three entries and grows at the fourth.
/// On `/secret` the fourth is the auth layer's claims, after the peer's address and axum's
/// `OriginalUri` and `UrlParams` (and `MatchedPath`, with axum's `matched-path` feature):
/// growing there cost a heap block and about 340 instructions a request (BENCHMARKS.md). A
/// clone keeps the room of the map it copies.
pub fn connection_extensions(peer: SocketAddr) -> http::Extensions {
    #[derive(Clone)]
    struct Room<const N: usize>;
    // Four entries grow the map to room for seven; clearing it keeps the room.
    let mut extensions = http::Extensions::new();
    extensions.insert(Room::<0>);
    extensions.insert(Room::<1>);
    extensions.insert(Room::<2>);
    extensions.insert(Room::<3>);
    extensions.clear();
    extensions.insert(ConnectInfo(peer));
    extensions
}

/// Errors that concern one connection, not the listener: the next `accept` may succeed.
fn is_connection_error(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}
