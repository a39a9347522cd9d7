//! A load test of `examples/server.rs` over loopback: throughput and latency of `/notsecret`
//! and `/secret`, and how `/notsecret` fares while clients hammer `/login`.
//!
//! ```sh
//! cargo build --release --example server --all-features
//! cargo run --release --example loadtest --all-features -- --duration 5 --connections 32
//! ```
//!
//! The tool starts the release server binary as a child process (port 0, a fresh SQLite file
//! in a temporary directory, bcrypt cost 12), signs up one user, logs in, and runs each
//! scenario for `--duration` seconds (the `/notsecret` and one-token `/secret` runs alternate,
//! three rounds each) with closed-loop HTTP/1.1 keep-alive clients
//! (hyper's client, one connection each). It stops the server at the end. Every loop is
//! bounded by the duration; nothing leaves 127.0.0.1.
//!
//! Scenarios, each against a fresh server process:
//! 1. the example server: `/notsecret`, then `/secret` with one valid access token reused by
//!    every client (the verified-token cache answers after the first request), then `/secret`
//!    with a new valid token on every request (each one a cache miss);
//! 2. the same routes without the cache: the tool runs itself as the server
//!    (`--serve-uncached`), rebuilding the example's routes (`examples/server.rs` is compiled
//!    in) with `auth.layer().no_cache()`; `/notsecret`, then `/secret` with one token reused;
//! 3. login isolation, on the example server: one client probing `/notsecret` alone (idle),
//!    then the same probe while N clients post valid credentials to `/login` as fast as they
//!    are answered, for each flood of `--login-clients` (default `16,64p,64`: 16 clients,
//!    within the hasher's queue; 64 clients that wait as a 503's `Retry-After` tells them;
//!    64 clients that retry a 503 at once). Reports the probe's p99 against its idle p99, the
//!    probe's failures, and the `/login` answers: 200s, 503s with `Retry-After`, anything
//!    else.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tower_jwt_auth::{Algorithm, SigningKey, TokenIssuer};

#[allow(dead_code, unreachable_pub)]
#[path = "server.rs"]
mod server;

const SECRET: &str = "a load-test secret that is at least thirty-two bytes long";
const USER: &str = "loadtest";
const PASSWORD: &str = "correct horse battery";
/// Rounds of `/notsecret` then `/secret`, each of `--duration`.
const ROUNDS: u32 = 3;

struct Options {
    duration: Duration,
    connections: usize,
    login_clients: Vec<(usize, bool)>,
    server: PathBuf,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        duration: Duration::from_secs(5),
        connections: 32,
        login_clients: vec![(16, false), (64, true), (64, false)],
        server: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release/examples/server"),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        let number = |text: String| {
            text.parse::<u64>()
                .map_err(|_| format!("{flag}: not a number"))
        };
        match flag.as_str() {
            "--duration" => options.duration = Duration::from_secs(number(value()?)?.clamp(1, 120)),
            "--connections" => options.connections = number(value()?)?.clamp(1, 1024) as usize,
            "--login-clients" => {
                options.login_clients = value()?
                    .split(',')
                    .map(|n| {
                        let (n, polite) = n.strip_suffix('p').map_or((n, false), |n| (n, true));
                        n.parse::<usize>().map(|n| (n.clamp(1, 1024), polite))
                    })
                    .collect::<Result<_, _>>()
                    .map_err(|_| format!("{flag}: a comma-separated list like 16,64p,64"))?;
            }
            "--server" => options.server = PathBuf::from(value()?),
            _ => {
                return Err(format!(
                    "unknown flag {flag}; flags: --duration SECS --connections N --login-clients N[p][,N[p]…] --server PATH"
                ));
            }
        }
    }
    Ok(options)
}

/// The server child process; killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(path: &PathBuf, args: &[&str]) -> Result<Server, String> {
    use std::io::BufRead;
    let dir = tempfile::tempdir().map_err(|err| err.to_string())?;
    let mut child = Command::new(path)
        .args(args)
        .env("PORT", "0")
        .env("HOST", "127.0.0.1")
        .env("APP_SECRET_STRING", SECRET)
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.path().join("auth.db").display()),
        )
        .env("BCRYPT_COST", "12")
        // Throttling would answer the login floods with 429 before bcrypt; the floods are
        // here to measure the bcrypt queue and its 503s, so it is off.
        .env("LOGIN_THROTTLE", "off")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|err| {
            format!(
                "{}: {err}; build it first: cargo build --release --example server --all-features",
                path.display()
            )
        })?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    // Reads the log until the address shows, then drains it so the server never blocks.
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.split("listening on http://").nth(1)
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_owned());
            }
        }
    });
    let server = |addr| Server {
        child,
        addr,
        _dir: dir,
    };
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(addr) => Ok(server(
            addr.parse().map_err(|_| format!("bad address {addr}"))?,
        )),
        Err(_) => {
            drop(server("127.0.0.1:0".parse().map_err(|_| "unreachable")?));
            Err("the server did not report `listening on` within 30 s".into())
        }
    }
}

/// One keep-alive HTTP/1.1 connection.
async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|err| err.to_string())?;
    stream.set_nodelay(true).map_err(|err| err.to_string())?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|err| err.to_string())?;
    tokio::spawn(connection);
    Ok(sender)
}

/// What one request gave: its status, whether it carried `Retry-After`, its latency.
struct Answer {
    status: StatusCode,
    /// `Retry-After`, in seconds, if the answer had one.
    retry_after: Option<u64>,
    latency: Duration,
}

async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> Result<Answer, String> {
    let start = Instant::now();
    sender.ready().await.map_err(|err| err.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|err| err.to_string())?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get(http::header::RETRY_AFTER)
        .map(|value| {
            value
                .to_str()
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(1)
        });
    response
        .into_body()
        .collect()
        .await
        .map_err(|err| err.to_string())?;
    Ok(Answer {
        status,
        retry_after,
        latency: start.elapsed(),
    })
}

fn get(addr: SocketAddr, path: &str) -> Request<Full<Bytes>> {
    Request::get(format!("http://{addr}{path}"))
        .header("host", addr.to_string())
        .body(Full::default())
        .unwrap_or_default()
}

fn secret(addr: SocketAddr, token: &str) -> Request<Full<Bytes>> {
    Request::post(format!("http://{addr}/secret"))
        .header("host", addr.to_string())
        .header("authorization", format!("Bearer {token}"))
        .body(Full::default())
        .unwrap_or_default()
}

fn credentials(addr: SocketAddr, path: &str) -> Request<Full<Bytes>> {
    let body = serde_json::json!({ "username": USER, "password": PASSWORD }).to_string();
    Request::builder()
        .method(Method::POST)
        .uri(format!("http://{addr}{path}"))
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .body(Full::from(body))
        .unwrap_or_default()
}

/// The outcome of one scenario's clients.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    ok: u64,
    shed: u64,
    shed_without_retry_after: u64,
    other: u64,
    errors: u64,
}

impl Tally {
    fn merge(&mut self, other: Self) {
        self.latencies.extend(other.latencies);
        self.ok += other.ok;
        self.shed += other.shed;
        self.shed_without_retry_after += other.shed_without_retry_after;
        self.other += other.other;
        self.errors += other.errors;
    }

    /// Counts `answer`; gives whether the connection is still usable and how long a polite
    /// client would wait before its next request.
    fn record(&mut self, answer: Result<Answer, String>) -> (bool, Option<u64>) {
        match answer {
            Ok(answer) => {
                let wait = answer.retry_after;
                self.latencies.push(answer.latency);
                match answer.status {
                    StatusCode::OK => self.ok += 1,
                    StatusCode::SERVICE_UNAVAILABLE if answer.retry_after.is_some() => {
                        self.shed += 1;
                    }
                    StatusCode::SERVICE_UNAVAILABLE => self.shed_without_retry_after += 1,
                    _ => self.other += 1,
                }
                (true, wait)
            }
            Err(_) => {
                self.errors += 1;
                (false, None)
            }
        }
    }

    fn percentile(&mut self, p: f64) -> Duration {
        self.latencies.sort_unstable();
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
    }
}

/// Runs `clients` closed-loop clients for `duration`; client `n` sends `request(n, i)` as its
/// `i`-th request.
async fn run<F>(addr: SocketAddr, clients: usize, duration: Duration, request: F) -> Tally
where
    F: Fn(usize, u64) -> Request<Full<Bytes>> + Send + Sync + 'static,
{
    run_clients(addr, clients, duration, false, request).await
}

/// As [`run`]; `polite` clients wait as long as a `Retry-After` tells them (within the
/// duration), the others retry at once.
async fn run_clients<F>(
    addr: SocketAddr,
    clients: usize,
    duration: Duration,
    polite: bool,
    request: F,
) -> Tally
where
    F: Fn(usize, u64) -> Request<Full<Bytes>> + Send + Sync + 'static,
{
    let request = Arc::new(request);
    let deadline = Instant::now() + duration;
    let tasks: Vec<_> = (0..clients)
        .map(|n| {
            let request = Arc::clone(&request);
            tokio::spawn(async move {
                let mut tally = Tally::default();
                let mut sender = None;
                let mut i = 0;
                while Instant::now() < deadline {
                    if sender.is_none() {
                        match connect(addr).await {
                            Ok(fresh) => sender = Some(fresh),
                            Err(_) => {
                                tally.errors += 1;
                                tokio::time::sleep(Duration::from_millis(10)).await;
                                continue;
                            }
                        }
                    }
                    let Some(conn) = sender.as_mut() else {
                        continue;
                    };
                    let (usable, wait) = tally.record(send(conn, request(n, i)).await);
                    if !usable {
                        sender = None;
                    }
                    if let (true, Some(seconds)) = (polite, wait) {
                        let until = (Instant::now() + Duration::from_secs(seconds)).min(deadline);
                        tokio::time::sleep_until(until.into()).await;
                    }
                    i += 1;
                }
                tally
            })
        })
        .collect();
    let mut total = Tally::default();
    for task in tasks {
        if let Ok(tally) = task.await {
            total.merge(tally);
        }
    }
    total
}

struct Row {
    name: String,
    requests: usize,
    rate: f64,
    p50: Duration,
    p99: Duration,
    failed: u64,
}

fn row(name: impl Into<String>, mut tally: Tally, duration: Duration) -> Row {
    Row {
        name: name.into(),
        requests: tally.latencies.len(),
        rate: tally.latencies.len() as f64 / duration.as_secs_f64(),
        p50: tally.percentile(50.0),
        p99: tally.percentile(99.0),
        failed: tally.errors + tally.other + tally.shed + tally.shed_without_retry_after,
    }
}

fn print_rows(rows: &[Row]) {
    println!(
        "| {:<60} | {:>9} | {:>9} | {:>9} | {:>9} | {:>6} |",
        "scenario", "requests", "req/s", "p50 µs", "p99 µs", "failed"
    );
    println!(
        "|{:-<62}|{:->11}|{:->11}|{:->11}|{:->11}|{:->8}|",
        "", "", "", "", "", ""
    );
    for row in rows {
        println!(
            "| {:<60} | {:>9} | {:>9.0} | {:>9} | {:>9} | {:>6} |",
            row.name,
            row.requests,
            row.rate,
            row.p50.as_micros(),
            row.p99.as_micros(),
            row.failed
        );
    }
}

/// Signs up the load-test user and logs in: the access token `/secret` clients reuse.
async fn login(addr: SocketAddr) -> Result<Arc<str>, String> {
    let mut setup = connect(addr).await?;
    let signup = send(&mut setup, credentials(addr, "/signup")).await?;
    if signup.status != StatusCode::CREATED {
        return Err(format!("signup answered {}", signup.status));
    }
    let login = setup
        .send_request(credentials(addr, "/login"))
        .await
        .map_err(|err| err.to_string())?;
    let body = login
        .into_body()
        .collect()
        .await
        .map_err(|err| err.to_string())?
        .to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&body).map_err(|err| err.to_string())?;
    Ok(body["access_token"]
        .as_str()
        .ok_or("no access_token in the login answer")?
        .into())
}

/// `/notsecret`, then `/secret` with one token reused by every client; with `fresh`, also
/// `/secret` with a new token per request.
async fn throughput(
    label: &str,
    addr: SocketAddr,
    options: &Options,
    fresh: Option<Arc<Vec<String>>>,
) -> Result<Vec<Row>, String> {
    let (duration, conns) = (options.duration, options.connections);
    let token = login(addr).await?;
    // A short warm-up: connections, allocator, the first cache entry.
    run(addr, conns, Duration::from_secs(1), move |_, _| {
        get(addr, "/notsecret")
    })
    .await;
    // Alternating rounds, so that a change in the machine's background load hits both
    // routes alike.
    let (mut open, mut protected) = (Tally::default(), Tally::default());
    for _ in 0..ROUNDS {
        open.merge(run(addr, conns, duration, move |_, _| get(addr, "/notsecret")).await);
        let token = Arc::clone(&token);
        protected.merge(run(addr, conns, duration, move |_, _| secret(addr, &token)).await);
    }
    let total = duration * ROUNDS;
    let mut rows = vec![
        row(format!("{label}: GET /notsecret"), open, total),
        row(
            format!("{label}: POST /secret, one token reused"),
            protected,
            total,
        ),
    ];
    if let Some(tokens) = fresh {
        rows.push(row(
            format!("{label}: POST /secret, new token each"),
            run(addr, conns, duration, move |n, i| {
                let at = (i as usize)
                    .wrapping_mul(conns)
                    .wrapping_add(n)
                    .checked_rem(tokens.len())
                    .unwrap_or(0);
                secret(addr, &tokens[at])
            })
            .await,
            duration,
        ));
    }
    Ok(rows)
}

/// The `/notsecret` probe alone, then under a login flood of each size.
async fn isolation(addr: SocketAddr, options: &Options) -> Result<(), String> {
    let duration = options.duration;
    let idle = row(
        "GET /notsecret probe, idle (1 conn)",
        run(addr, 1, duration, move |_, _| get(addr, "/notsecret")).await,
        duration,
    );
    let idle_p99 = idle.p99;
    let mut rows = vec![idle];
    let mut floods = Vec::new();
    login(addr).await?;
    for &(logins, polite) in &options.login_clients {
        // The flood gets its own thread, so that its clients never delay the probe's.
        let flood = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|runtime| {
                    runtime.block_on(run_clients(addr, logins, duration, polite, move |_, _| {
                        credentials(addr, "/login")
                    }))
                })
        });
        let probe = run(addr, 1, duration, move |_, _| get(addr, "/notsecret")).await;
        let flood = flood
            .join()
            .map_err(|_| "the login flood panicked")?
            .map_err(|err| err.to_string())?;
        let who = if polite {
            format!("{logins} clients honouring Retry-After")
        } else {
            format!("{logins} clients retrying at once")
        };
        rows.push(row(
            format!("GET /notsecret probe, /login: {who}"),
            probe,
            duration,
        ));
        floods.push((who, flood));
        // Let the queue drain before the next flood.
        tokio::time::sleep(Duration::from_secs(6)).await;
    }
    println!();
    print_rows(&rows);
    println!();
    for (row, (who, mut flood)) in rows[1..].iter().zip(floods) {
        let (p50, p99) = (flood.percentile(50.0), flood.percentile(99.0));
        println!(
            "/login, {who}: probe p99 / idle p99 {:.2}; /login answered {} × 200, \
             {} × 503 with Retry-After, {} × 503 without, {} other, {} connection errors; \
             /login p50 {} µs, p99 {} µs",
            row.p99.as_secs_f64() / idle_p99.as_secs_f64().max(1e-9),
            flood.ok,
            flood.shed,
            flood.shed_without_retry_after,
            flood.other,
            flood.errors,
            p50.as_micros(),
            p99.as_micros(),
        );
    }
    Ok(())
}

async fn main_async(options: Options) -> Result<(), String> {
    println!(
        "{} s per scenario, {} connections, login floods (clients, polite) {:?}, bcrypt cost 12; {} CPUs",
        options.duration.as_secs(),
        options.connections,
        options.login_clients,
        std::thread::available_parallelism().map_or(0, usize::from),
    );
    // Fresh tokens, signed as the server signs them (same secret and format).
    let issuer = TokenIssuer::new(
        SigningKey::hmac(Algorithm::HS256, SECRET).map_err(|err| err.to_string())?,
    );
    let now = jsonwebtoken::get_current_timestamp();
    let fresh: Arc<Vec<String>> = Arc::new(
        (0..200_000)
            .map(|_| issuer.access(USER, now).map(|issued| issued.token))
            .collect::<Result<_, _>>()
            .map_err(|err| err.to_string())?,
    );

    let example = start_server(&options.server, &[])?;
    let mut rows = throughput("example", example.addr, &options, Some(fresh)).await?;
    drop(example);
    let me = std::env::current_exe().map_err(|err| err.to_string())?;
    let replica = start_server(&me, &["--serve-uncached"])?;
    rows.extend(throughput("no cache", replica.addr, &options, None).await?);
    drop(replica);
    println!();
    print_rows(&rows);
    println!();
    println!(
        "/secret / /notsecret req/s: with the cache {:.3}; new token each {:.3}; without the cache {:.3}",
        rows[1].rate / rows[0].rate,
        rows[2].rate / rows[0].rate,
        rows[4].rate / rows[3].rate,
    );

    let example = start_server(&options.server, &[])?;
    isolation(example.addr, &options).await
}

/// `--serve-uncached`: the example's routes, with the layer's cache turned off.
async fn serve_uncached() -> Result<(), Box<dyn std::error::Error>> {
    use axum::routing::{get, post};
    use tower_jwt_auth::store::SqliteStore;
    use tower_jwt_auth::{Auth, JwtClaims};

    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let config = server::config_from_env()?;
    let store = SqliteStore::connect(&config.database_url).await?;
    let issuer = TokenIssuer::new(SigningKey::hmac(Algorithm::HS256, &config.secret)?)
        .access_ttl(config.access_ttl)
        .refresh_ttl(config.refresh_ttl);
    let auth = Auth::builder(issuer, store.clone(), store)
        .bcrypt_cost(config.bcrypt_cost)
        .build()?;
    let protected = axum::Router::new()
        .route(
            "/secret",
            post(|JwtClaims(_claims): JwtClaims| async {
                axum::Json("Top Secret data only authorized users can access this info")
            }),
        )
        .route_layer(auth.layer().no_cache());
    let app = axum::Router::new()
        .route(
            "/notsecret",
            get(|| async { axum::Json("Not secret data") }),
        )
        .merge(protected)
        .merge(auth.router());
    let listener = tokio::net::TcpListener::bind(config.addr).await?;
    tracing::info!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

fn main() -> std::process::ExitCode {
    let runtime = |threads: Option<usize>| {
        match threads {
            Some(_) => tokio::runtime::Builder::new_current_thread(),
            None => tokio::runtime::Builder::new_multi_thread(),
        }
        .enable_all()
        .build()
        .map_err(|err| err.to_string())
    };
    let result = if std::env::args().nth(1).as_deref() == Some("--serve-uncached") {
        runtime(None).and_then(|rt| rt.block_on(serve_uncached()).map_err(|err| err.to_string()))
    } else {
        options().and_then(|options| runtime(Some(1))?.block_on(main_async(options)))
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
