//! A load test of the tutorial's server over loopback: throughput and latency of `/notsecret`
//! and `/secret`, and how `/notsecret` fares while clients hammer `/login`.
//!
//! ```sh
//! cargo build --release -p tower-jwt-auth-tutorial
//! cargo run --release -p tower-jwt-auth-tutorial --example loadtest -- --duration 5 --connections 32
//! ```
//!
//! The tool starts the release server binary as a child process (port 0, a fresh SQLite file
//! in a temporary directory, bcrypt cost 12), signs up one user, logs in, and runs each
//! scenario for `--duration` seconds (the routes of 1 and 2 alternate, five rounds each,
//! and the summary gives each ratio over all rounds and as the median and range of the
//! per-round ratios) with closed-loop HTTP/1.1 keep-alive clients
//! (hyper's client, one connection each). It stops the server at the end. Every loop is
//! bounded by the duration; nothing leaves 127.0.0.1.
//!
//! Scenarios, each against a fresh server process:
//! 1. the example server: `/notsecret`, then `/secret` with one valid access token reused by
//!    every client (the verified-token cache answers after the first request), then
//!    `/notsecret` carrying that same `Authorization` header (a control: the header's cost
//!    without the layer), then `/secret` with a new valid token on every request (each one a
//!    cache miss);
//! 2. the same routes without the cache: the tool runs itself as the server
//!    (`--serve-uncached`), rebuilding the example's routes (`tutorial` is compiled
//!    in) with `auth.layer_builder().no_cache()`; `/notsecret`, then `/secret` with one token reused;
//!
//!    1 and 2 run twice: first with the server on one core (one tokio worker, pinned to CPU 0)
//!    and this tool pinned to the other, as in the issue's reference figures (a server core,
//!    wrk on the other), so that the ratios measure the server's own cost per request; then
//!    with server and tool sharing every core (on a machine with fewer than two CPUs, or
//!    another OS than Linux, only the shared run happens). `--secret-only` runs scenario 1
//!    alone, with the server on its own core where it can be, and stops;
//! 3. login isolation, on the example server: one client probing `/notsecret` alone (idle),
//!    then the same probe while N clients post valid credentials to `/login` as fast as they
//!    are answered, for each flood of `--login-clients` (default `16,64p,64`: 16 clients,
//!    within the hasher's queue; 64 clients that wait as a 503's `Retry-After` tells them;
//!    64 clients that retry a 503 at once). Reports the probe's p99 against its idle p99, the
//!    probe's failures, and the `/login` answers: 200s, 503s with `Retry-After`, anything
//!    else. `--login-only` runs this part alone.
//!
//! 4. `--kid-flood` (run on its own): the resource server (`examples/resource_server.rs`,
//!    built with `cargo build --release --example resource_server --features axum,remote`)
//!    verifying ES256 tokens against a JWKS this tool serves on loopback. One client probes
//!    `/me` with a valid token, idle and then while `--connections` clients send tokens
//!    whose `kid` the server has never seen; reports the probe's p99 against its idle p99
//!    and how often the server fetched the JWKS (once at start, then at most once per 30 s
//!    cooldown, however many unknown kids arrive).
//!
//! 5. `--dpop` (run on its own): `/secret` with a bearer token against `/secret` with a
//!    DPoP-bound token (RFC 9449) and a new ES256 proof on every request, each signed by this
//!    tool while the clients run (signing is the client's cost; the server's CPU time is what
//!    is compared). The bound token comes from a `/login` with a proof; both tokens are
//!    reused, so the verified-token cache answers for the token and the difference is the
//!    proof: its parsing, key, signature, claims and replay cache. With `--redis URL`, the
//!    same again against a server whose replay cache is shared through Redis (`REDIS_URL`,
//!    one `SET NX` per proof). Server on CPU 0 and this tool on CPU 1 where possible, as in
//!    1 and 2.
//!
//! 6. `--users N[,N…]` (run on its own): `/secret` as the users grow. Each of N users sends
//!    a token of its own (signed by this tool, as the server signs them), in turn
//!    (round-robin) and drawn from a Zipf distribution (s = 1: user k sends a share
//!    proportional to 1/k; a fixed sequence of 2^20 draws), for each N; against `/notsecret`,
//!    one token reused and a new token each, every pattern once a round in an order that
//!    turns from round to round, nine rounds (`--rounds N` for more). The
//!    load-test user is an admin (`ADMIN_USERS`), so that the tool reads `/secret`'s cache
//!    hits and misses from `GET /admin/cache` before and after each run: the miss rate each
//!    pattern caused, as the server counted it. Each pattern's cost is set against the one
//!    its miss rate predicts (one token's cost plus the miss rate × what a new token each
//!    costs more), round by round. After every round, the server's resident memory
//!    (`VmRSS`, and its peak `VmHWM` at the end, from `/proc/<pid>/status`): whether the
//!    cache at capacity, with 10^6 users and a one-use token flood, keeps the process's
//!    memory bounded, allocator included. Writes `benches/server_growth.svg`. Server on
//!    CPU 0 and this tool on CPU 1 where possible.
//!
//! Besides req/s and latency, each throughput row gives the server's CPU time per request
//! (from `/proc/<pid>/stat`, on Linux), and the summary divides `/notsecret`'s by `/secret`'s:
//! the req/s ratio a server that alone saturated its CPU would show, whichever side (this
//! tool or the server) limits the measured req/s.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tower_jwt_auth::{Algorithm, SigningKey, TokenIssuer};

const SECRET: &str = "a load-test secret that is at least thirty-two bytes long";
const USER: &str = "loadtest";
const PASSWORD: &str = "correct horse battery";
/// Rounds of `/notsecret` then `/secret`, each of `--duration`.
const ROUNDS: u32 = 5;

struct Options {
    duration: Duration,
    connections: usize,
    login_clients: Vec<(usize, bool)>,
    server: PathBuf,
    /// `--login-only`: only the login-isolation part.
    login_only: bool,
    /// `--secret-only`: only the example server's routes, server on CPU 0 where possible.
    secret_only: bool,
    /// `--kid-flood`: only the unknown-`kid` flood against the resource server.
    kid_flood: bool,
    /// The resource server binary, for `--kid-flood`.
    resource_server: PathBuf,
    /// `--dpop`: only `/secret` with DPoP against bearer.
    dpop: bool,
    /// `--redis`: for `--dpop`, also a server whose replay cache is shared through Redis.
    redis: Option<String>,
    /// `--users N,N,…`: only `/secret` as the users grow, at these numbers of users.
    users: Vec<usize>,
    /// `--rounds N`: the rounds of `--users`, 3 to 99 (9 by default; a noisy machine needs more
    /// for a steady median).
    growth_rounds: u32,
}

/// The profile directory this tool was built into (`target/release`), where the server
/// binary and the root crate's examples are built too.
fn release_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // target/release/examples/loadtest → target/release
    exe.parent()
        .and_then(std::path::Path::parent)
        .map(PathBuf::from)
        .unwrap_or_default()
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        duration: Duration::from_secs(5),
        connections: 32,
        login_clients: vec![(16, false), (64, true), (64, false)],
        server: release_dir().join("server"),
        login_only: false,
        secret_only: false,
        kid_flood: false,
        resource_server: release_dir().join("examples/resource_server"),
        dpop: false,
        redis: None,
        users: Vec::new(),
        growth_rounds: GROWTH_ROUNDS,
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
            "--login-only" => options.login_only = true,
            "--secret-only" => options.secret_only = true,
            "--kid-flood" => options.kid_flood = true,
            "--resource-server" => options.resource_server = PathBuf::from(value()?),
            "--dpop" => options.dpop = true,
            "--redis" => options.redis = Some(value()?),
            "--users" => {
                options.users = value()?
                    .split(',')
                    .map(|n| n.parse::<usize>().map(|n| n.clamp(1, 2_000_000)))
                    .collect::<Result<_, _>>()
                    .map_err(|_| format!("{flag}: a comma-separated list like 100,10000"))?;
            }
            "--rounds" => options.growth_rounds = number(value()?)?.clamp(3, 99) as u32,
            _ => {
                return Err(format!(
                    "unknown flag {flag}; flags: --duration SECS --connections N \
                     --login-clients N[p][,N[p]…] --server PATH --login-only \
                     --kid-flood --resource-server PATH --dpop --redis URL --users N[,N…] \
                     --rounds N"
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

/// Where the server runs, and this tool's client while it does.
#[derive(Clone, Copy, PartialEq)]
enum Cores {
    /// The server on CPU 0 with one worker, this tool on CPU 1.
    Split,
    /// Both on every CPU.
    Shared,
}

/// Pins the calling thread, and the processes it spawns from now on, to `cpus`. False where
/// that cannot be done.
fn pin(cpus: &[usize]) -> bool {
    #[cfg(target_os = "linux")]
    {
        let mut set = rustix::thread::CpuSet::new();
        for &cpu in cpus {
            set.set(cpu);
        }
        rustix::thread::sched_setaffinity(None, &set).is_ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = cpus;
        false
    }
}

fn start_server(path: &PathBuf, args: &[&str], cores: Cores) -> Result<Server, String> {
    start_server_with(path, args, &[], cores)
}

/// As [`start_server`], with more environment variables.
fn start_server_with(
    path: &PathBuf,
    args: &[&str],
    env: &[(&str, String)],
    cores: Cores,
) -> Result<Server, String> {
    // Every CPU, counted before anything is pinned (pinning changes the count).
    static ALL: std::sync::OnceLock<Vec<usize>> = std::sync::OnceLock::new();
    let all = ALL
        .get_or_init(|| (0..std::thread::available_parallelism().map_or(1, usize::from)).collect());
    // The child inherits this thread's CPUs; this thread (the client's) then goes to CPU 1.
    let (server, client) = match cores {
        Cores::Split => (&[0][..], &[1][..]),
        Cores::Shared => (&all[..], &all[..]),
    };
    if !pin(server) && cores == Cores::Split {
        return Err("cannot pin the server to CPU 0".into());
    }
    let started = spawn_server(path, args, env, cores);
    if !pin(client) && cores == Cores::Split {
        return Err("cannot pin the client to CPU 1".into());
    }
    started
}

fn spawn_server(
    path: &PathBuf,
    args: &[&str],
    env: &[(&str, String)],
    cores: Cores,
) -> Result<Server, String> {
    use std::io::BufRead;
    let dir = tempfile::tempdir().map_err(|err| err.to_string())?;
    let mut command = Command::new(path);
    if cores == Cores::Split {
        command.env("TOKIO_WORKER_THREADS", "1");
    }
    let mut child = command
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
        .envs(env.iter().map(|(name, value)| (*name, value.as_str())))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|err| {
            format!(
                "{}: {err}; build it first: cargo build --release -p tower-jwt-auth-tutorial",
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

/// `GET /notsecret` with the same `Authorization` header as `/secret`'s requests, which that
/// route ignores: a control for the cost of the header alone.
fn notsecret_with_header(addr: SocketAddr, token: &str) -> Request<Full<Bytes>> {
    with_bearer(addr, Method::GET, "/notsecret", token)
}

fn secret(addr: SocketAddr, token: &str) -> Request<Full<Bytes>> {
    with_bearer(addr, Method::POST, "/secret", token)
}

fn with_bearer(addr: SocketAddr, method: Method, path: &str, token: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
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
    /// The server's CPU time (user and system) over the run, where it was measured.
    server_cpu: Option<Duration>,
    /// The user part of `server_cpu`.
    server_user: Option<Duration>,
}

impl Tally {
    fn merge(&mut self, other: Self) {
        self.latencies.extend(other.latencies);
        self.ok += other.ok;
        self.shed += other.shed;
        self.shed_without_retry_after += other.shed_without_retry_after;
        self.other += other.other;
        self.errors += other.errors;
        self.server_user = match (self.server_user, other.server_user) {
            (Some(mine), Some(theirs)) => Some(mine + theirs),
            (mine, theirs) => mine.or(theirs),
        };
        self.server_cpu = match (self.server_cpu, other.server_cpu) {
            (Some(mine), Some(theirs)) => Some(mine + theirs),
            (mine, theirs) => mine.or(theirs),
        };
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

#[derive(Clone)]
struct Row {
    name: String,
    requests: usize,
    rate: f64,
    p50: Duration,
    p99: Duration,
    failed: u64,
    /// The server's CPU time per request, in µs.
    cpu_per_request: Option<f64>,
    /// Its user part.
    user_per_request: Option<f64>,
    /// The server's CPU time over wall time: how many CPUs it kept busy.
    busy: Option<f64>,
}

fn row(name: impl Into<String>, mut tally: Tally, duration: Duration) -> Row {
    Row {
        name: name.into(),
        requests: tally.latencies.len(),
        rate: tally.latencies.len() as f64 / duration.as_secs_f64(),
        cpu_per_request: cpu_per_request(&tally),
        user_per_request: user_per_request(&tally),
        busy: tally
            .server_cpu
            .map(|cpu| cpu.as_secs_f64() / duration.as_secs_f64()),
        p50: tally.percentile(50.0),
        p99: tally.percentile(99.0),
        failed: tally.errors + tally.other + tally.shed + tally.shed_without_retry_after,
    }
}

fn print_rows(rows: &[Row]) {
    println!(
        "| {:<60} | {:>9} | {:>9} | {:>9} | {:>9} | {:>6} | {:>13} | {:>11} |",
        "scenario",
        "requests",
        "req/s",
        "p50 µs",
        "p99 µs",
        "failed",
        "server µs/req",
        "server CPUs"
    );
    println!(
        "|{:-<62}|{:->11}|{:->11}|{:->11}|{:->11}|{:->8}|{:->15}|{:->13}|",
        "", "", "", "", "", "", "", ""
    );
    for row in rows {
        let or_dash = |value: Option<f64>, digits: usize| {
            value.map_or_else(|| "-".to_owned(), |value| format!("{value:.digits$}"))
        };
        println!(
            "| {:<60} | {:>9} | {:>9.0} | {:>9} | {:>9} | {:>6} | {:>13} | {:>11} |",
            row.name,
            row.requests,
            row.rate,
            row.p50.as_micros(),
            row.p99.as_micros(),
            row.failed,
            or_dash(row.cpu_per_request, 2),
            or_dash(row.busy, 2),
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
    access_token(&logged_in(&mut setup, credentials(addr, "/login")).await?)
}

/// The JSON answer to a login request.
async fn logged_in(
    sender: &mut SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> Result<serde_json::Value, String> {
    let login = sender
        .send_request(request)
        .await
        .map_err(|err| err.to_string())?;
    let body = login
        .into_body()
        .collect()
        .await
        .map_err(|err| err.to_string())?
        .to_bytes();
    serde_json::from_slice(&body).map_err(|err| err.to_string())
}

/// The access token of a login answer.
fn access_token(body: &serde_json::Value) -> Result<Arc<str>, String> {
    Ok(body["access_token"]
        .as_str()
        .ok_or("no access_token in the login answer")?
        .into())
}

/// The CPU time process `pid` has used so far, user and system apart, from
/// `/proc/<pid>/stat`; `None` where there is no such file.
fn cpu_times(pid: u32) -> Option<(Duration, Duration)> {
    #[cfg(target_os = "linux")]
    {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields 14 and 15 (utime, stime), counted after the parenthesised command name.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let per_second = rustix::param::clock_ticks_per_second() as f64;
        let ticks = |at: usize| -> Option<Duration> {
            let ticks = fields.get(at)?.parse::<u64>().ok()?;
            Some(Duration::from_secs_f64(ticks as f64 / per_second))
        };
        Some((ticks(11)?, ticks(12)?))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        None
    }
}

/// Process `pid`'s resident memory now and its peak so far (`VmRSS`, `VmHWM`), in KiB, from
/// `/proc/<pid>/status`; `None` where there is no such file.
fn resident(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find_map(|line| line.strip_prefix(name))?;
        line.trim().strip_suffix("kB")?.trim().parse().ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Runs `load`, recording the server's CPU time over it, and its user time apart.
async fn measured(pid: u32, load: impl Future<Output = Tally>) -> Tally {
    let before = cpu_times(pid);
    let mut tally = load.await;
    let spent = cpu_times(pid).zip(before).map(|(after, before)| {
        (
            after.0.saturating_sub(before.0),
            after.1.saturating_sub(before.1),
        )
    });
    tally.server_cpu = spent.map(|(user, system)| user + system);
    tally.server_user = spent.map(|(user, _)| user);
    tally
}

/// The server's CPU time per request over `tally`, in µs.
fn cpu_per_request(tally: &Tally) -> Option<f64> {
    per_request(tally, tally.server_cpu)
}

/// The server's user CPU time per request over `tally`, in µs: without the kernel's share
/// (on loopback, the TCP of both ends), which is most of a request and most of its noise.
fn user_per_request(tally: &Tally) -> Option<f64> {
    per_request(tally, tally.server_user)
}

/// `spent` over `tally`'s requests, in µs; `None` without requests or a measured time.
fn per_request(tally: &Tally, spent: Option<Duration>) -> Option<f64> {
    let requests = tally.latencies.len();
    spent
        .filter(|_| requests > 0)
        .map(|spent| spent.as_secs_f64() * 1e6 / requests as f64)
}

/// Signs up and logs in (the token `/secret` clients reuse), then warms up for a second with
/// `clients` clients: connections, allocator, the first cache entry.
async fn ready(addr: SocketAddr, clients: usize) -> Result<Arc<str>, String> {
    let token = login(addr).await?;
    run(addr, clients, Duration::from_secs(1), move |_, _| {
        get(addr, "/notsecret")
    })
    .await;
    Ok(token)
}

/// `/notsecret`, `/secret` with one token reused by every client, `/notsecret` with that
/// token's header and, with `fresh`, `/secret` with a new token per request: `ROUNDS` rounds,
/// each route once a round, so that a change in the machine's background load hits every
/// route alike. Rows as [`Rows`] names them, then the per-round ratios.
async fn throughput(
    label: &str,
    server: &Server,
    options: &Options,
    fresh: Option<Arc<Vec<String>>>,
) -> Result<(Vec<Row>, RoundRatios), String> {
    let (addr, pid) = (server.addr, server.child.id());
    let (duration, conns) = (options.duration, options.connections);
    let token = ready(addr, conns).await?;
    // The fresh tokens are taken in order across the rounds, each once (until they run out).
    let next = Arc::new(AtomicUsize::new(0));
    let mut tallies: [Tally; 4] = Default::default();
    let mut ratios = RoundRatios::default();
    for _ in 0..ROUNDS {
        let open = measured(
            pid,
            run(addr, conns, duration, move |_, _| get(addr, "/notsecret")),
        )
        .await;
        let reused = Arc::clone(&token);
        let protected = measured(
            pid,
            run(addr, conns, duration, move |_, _| secret(addr, &reused)),
        )
        .await;
        let same = Arc::clone(&token);
        let control = measured(
            pid,
            run(addr, conns, duration, move |_, _| {
                notsecret_with_header(addr, &same)
            }),
        )
        .await;
        let new_each = match &fresh {
            Some(tokens) => {
                let (tokens, next) = (Arc::clone(tokens), Arc::clone(&next));
                Some(
                    measured(
                        pid,
                        run(addr, conns, duration, move |_, _| {
                            let at = next.fetch_add(1, Ordering::Relaxed) % tokens.len();
                            secret(addr, &tokens[at])
                        }),
                    )
                    .await,
                )
            }
            None => None,
        };
        let ratio = |protected: &Tally| {
            cpu_per_request(&open)
                .zip(cpu_per_request(protected))
                .map(|(open, protected)| open / protected)
        };
        ratios.reused.extend(ratio(&protected));
        ratios.new_each.extend(new_each.as_ref().and_then(ratio));
        for (total, round) in
            tallies
                .iter_mut()
                .zip([Some(open), Some(protected), Some(control), new_each])
        {
            if let Some(round) = round {
                total.merge(round);
            }
        }
    }
    if let Some(tokens) = &fresh
        && next.load(Ordering::Relaxed) > tokens.len()
    {
        // Still a miss each: far more tokens than the cache holds came in between.
        println!(
            "note: {label}'s new-token runs took {} tokens from {} in turn",
            next.load(Ordering::Relaxed),
            tokens.len()
        );
    }
    let total = duration * ROUNDS;
    let [open, protected, control, new_each] = tallies;
    let mut rows = vec![
        row(format!("{label}: GET /notsecret"), open, total),
        row(
            format!("{label}: POST /secret, one token reused"),
            protected,
            total,
        ),
        row(
            format!("{label}: GET /notsecret with /secret's header"),
            control,
            total,
        ),
    ];
    if fresh.is_some() {
        rows.push(row(
            format!("{label}: POST /secret, new token each"),
            new_each,
            total,
        ));
    }
    Ok((rows, ratios))
}

/// Server CPU per request, `/notsecret`'s ÷ `/secret`'s, one value per round.
#[derive(Default)]
struct RoundRatios {
    reused: Vec<f64>,
    new_each: Vec<f64>,
}

/// "median (min–max) over N rounds" of per-round `ratios`.
fn spread(ratios: &[f64]) -> String {
    let mut sorted = ratios.to_vec();
    sorted.sort_by(f64::total_cmp);
    match (sorted.first(), sorted.last()) {
        (Some(min), Some(max)) => format!(
            "{:.3} ({min:.3}–{max:.3}, {} rounds)",
            sorted[sorted.len() / 2],
            sorted.len()
        ),
        _ => "-".to_owned(),
    }
}

/// Per-round `ratios` in the order they were measured, to pool rounds across runs.
fn listed(ratios: &[f64]) -> String {
    let listed: Vec<String> = ratios.iter().map(|ratio| format!("{ratio:.3}")).collect();
    if listed.is_empty() {
        "-".to_owned()
    } else {
        listed.join(" ")
    }
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

/// Serves `body` as a JWKS on loopback, counting the requests. It runs on a thread of its
/// own: this tool's runtime blocks while a server starts, and the server fetches the JWKS
/// while it starts.
fn serve_jwks(body: String) -> Result<(SocketAddr, Arc<AtomicUsize>), String> {
    let fetches = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&fetches);
    let body = Bytes::from(body);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(err) => return drop(tx.send(Err(err.to_string()))),
        };
        runtime.block_on(async move {
            let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
                Ok(listener) => listener,
                Err(err) => return drop(tx.send(Err(err.to_string()))),
            };
            let _ = tx.send(listener.local_addr().map_err(|err| err.to_string()));
            while let Ok((stream, _)) = listener.accept().await {
                let counter = Arc::clone(&counter);
                let body = body.clone();
                tokio::spawn(async move {
                    let service =
                        hyper::service::service_fn(move |_: Request<hyper::body::Incoming>| {
                            counter.fetch_add(1, Ordering::SeqCst);
                            let response = http::Response::builder()
                                .header("content-type", "application/json")
                                .body(Full::new(body.clone()));
                            async move { response }
                        });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| "the JWKS server did not start".to_owned())??;
    Ok((addr, fetches))
}

/// `--kid-flood`: the resource server (`examples/resource_server.rs`) verifying ES256 tokens
/// against a JWKS served here. One client probes `/me` with a valid token, idle and then
/// while `--connections` clients send tokens whose `kid` is new on every request (signed by
/// the right key, so only the `kid` is unknown). Reports the probe's p99 against its idle
/// p99, the flood's answers, and how many times the server fetched the JWKS: at start, then
/// at most once per 30 s cooldown.
async fn kid_flood(options: &Options) -> Result<(), String> {
    const ISSUER: &str = "https://issuer.loadtest.invalid";
    const AUDIENCE: &str = "loadtest-api";
    let pem = include_bytes!("../../tests/data/keys/ec256_private.pem");
    let key = SigningKey::ec_pem(Algorithm::ES256, pem)
        .map_err(|err| err.to_string())?
        .with_kid("load-1");
    let jwk = key.public_jwk().ok_or("no JWK")?;
    let (jwks, fetches) = serve_jwks(serde_json::json!({ "keys": [jwk] }).to_string())?;
    let now = jsonwebtoken::get_current_timestamp();
    let claims = serde_json::json!({
        "iss": ISSUER, "sub": "probe", "aud": AUDIENCE, "iat": now, "exp": now + 3600,
        "scope": "read",
    });
    let valid: Arc<str> = key.sign(&claims).map_err(|err| err.to_string())?.into();
    let valid = Arc::clone(&valid);
    // Tokens with kids the server has never seen; one per request, cycling.
    let unknown: Arc<Vec<String>> = Arc::new(
        (0..4_096)
            .map(|i| {
                SigningKey::ec_pem(Algorithm::ES256, pem)
                    .map_err(|err| err.to_string())?
                    .with_kid(format!("unknown-{i}-{now}"))
                    .sign(&claims)
                    .map_err(|err| err.to_string())
            })
            .collect::<Result<_, String>>()?,
    );
    let split = std::thread::available_parallelism().is_ok_and(|cpus| cpus.get() >= 2)
        && cfg!(target_os = "linux");
    let cores = if split { Cores::Split } else { Cores::Shared };
    let env = [
        ("JWKS_URL", format!("http://{jwks}/jwks")),
        ("ISSUER", ISSUER.to_owned()),
        ("AUDIENCE", AUDIENCE.to_owned()),
        ("RUST_LOG", "info".to_owned()),
    ];
    let server = start_server_with(&options.resource_server, &[], &env, cores).map_err(|err| {
        format!(
            "{err} (build it: cargo build --release -p tower-jwt-auth --example resource_server --features axum,remote)"
        )
    })?;
    let addr = server.addr;
    let pid = server.child.id();
    let duration = options.duration;
    let clients = options.connections;
    let probe_token = Arc::clone(&valid);
    let probe = move |_: usize, _: u64| with_bearer(addr, Method::GET, "/me", &probe_token);
    let idle = row(
        "GET /me probe, idle (1 conn)",
        run(addr, 1, duration, probe.clone()).await,
        duration,
    );
    let mut rows = vec![idle];
    let mut summaries = Vec::new();
    // First a control flood of valid tokens (the load itself), then the unknown kids.
    for (label, tokens) in [
        ("valid tokens", Arc::new(vec![valid.to_string()])),
        ("unknown kids", Arc::clone(&unknown)),
    ] {
        let before = fetches.load(Ordering::SeqCst);
        let flood = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|runtime| {
                    runtime.block_on(run(addr, clients, duration, move |n, i| {
                        let token = &tokens[(n * 131 + i as usize) % tokens.len()];
                        with_bearer(addr, Method::GET, "/me", token)
                    }))
                })
        });
        let started = Instant::now();
        let mut probed = measured(pid, run(addr, 1, duration, probe.clone())).await;
        // The server's CPU time covers the flood too: it is reported per request below,
        // not in the probe's row.
        let server_cpu = probed.server_cpu.take();
        let mut flood = flood
            .join()
            .map_err(|_| "the flood panicked")?
            .map_err(|err| err.to_string())?;
        let elapsed = started.elapsed();
        let requests = flood.latencies.len() + probed.latencies.len();
        let cpu_per_request =
            server_cpu.map(|cpu| cpu.as_secs_f64() * 1e6 / requests.max(1) as f64);
        rows.push(row(
            format!("GET /me probe, {clients} clients sending {label}"),
            probed,
            duration,
        ));
        let (p50, p99) = (flood.percentile(50.0), flood.percentile(99.0));
        summaries.push(format!(
            "{label}: {} requests ({} × 200, {} × other, {} connection errors), p50 {} µs, \
             p99 {} µs; server CPU {} µs per request (flood and probe); JWKS fetches during \
             the {:.1} s flood: {} (a 30 s cooldown allows {})",
            flood.latencies.len(),
            flood.ok,
            flood.other,
            flood.errors,
            p50.as_micros(),
            p99.as_micros(),
            cpu_per_request.map_or("-".to_owned(), |us| format!("{us:.1}")),
            elapsed.as_secs_f64(),
            fetches.load(Ordering::SeqCst) - before,
            1 + elapsed.as_secs() / 30,
        ));
    }
    println!();
    print_rows(&rows);
    println!();
    for summary in summaries {
        println!("{summary}");
    }
    let p99 = |row: &Row| row.p99.as_secs_f64().max(1e-9);
    println!(
        "probe p99 / idle p99: under valid tokens {:.2}, under unknown kids {:.2}; unknown kids \
         / valid tokens {:.2}; JWKS fetches in all: {}",
        p99(&rows[1]) / p99(&rows[0]),
        p99(&rows[2]) / p99(&rows[0]),
        p99(&rows[2]) / p99(&rows[1]),
        fetches.load(Ordering::SeqCst),
    );
    drop(server);
    Ok(())
}

/// A DPoP client: the P-256 key of the test data, signing a proof per request.
struct DpopSigner {
    encoding: jsonwebtoken::EncodingKey,
    header: jsonwebtoken::Header,
    jkt: String,
}

impl DpopSigner {
    fn new() -> Result<Self, String> {
        let pem = include_bytes!("../../tests/data/keys/ec256_private.pem");
        let key = SigningKey::ec_pem(Algorithm::ES256, pem).map_err(|err| err.to_string())?;
        let jwk = key.public_jwk().ok_or("no JWK")?.clone();
        let jkt = tower_jwt_auth::dpop::jwk_thumbprint(&jwk).map_err(|err| err.to_string())?;
        let mut header = jsonwebtoken::Header::new(Algorithm::ES256);
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(jwk);
        let encoding =
            jsonwebtoken::EncodingKey::from_ec_pem(pem).map_err(|err| err.to_string())?;
        Ok(Self {
            encoding,
            header,
            jkt,
        })
    }

    /// A new proof for `method` on `url`; `ath` of `token` when one comes along.
    fn proof(&self, method: &str, url: &str, token: Option<&str>) -> String {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let mut claims = serde_json::json!({
            "jti": format!("load-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)),
            "htm": method, "htu": url, "iat": jsonwebtoken::get_current_timestamp(),
        });
        if let Some(token) = token {
            claims["ath"] = tower_jwt_auth::dpop::access_token_hash(token).into();
        }
        jsonwebtoken::encode(&self.header, &claims, &self.encoding).unwrap_or_default()
    }
}

/// Logs in with a DPoP proof: an access token bound to `signer`'s key.
async fn login_bound(addr: SocketAddr, signer: &DpopSigner) -> Result<Arc<str>, String> {
    let mut setup = connect(addr).await?;
    let mut request = credentials(addr, "/login");
    let proof = signer.proof("POST", &format!("http://{addr}/login"), None);
    request.headers_mut().insert(
        "dpop",
        proof
            .parse()
            .map_err(|_| "a proof that is no header value")?,
    );
    let body = logged_in(&mut setup, request).await?;
    if body["token_type"] != "DPoP" {
        return Err(format!("login with a proof gave no bound token: {body}"));
    }
    access_token(&body)
}

/// `--dpop`: `/secret` with a bearer token against `/secret` with DPoP, a new proof each.
async fn dpop(options: &Options) -> Result<(), String> {
    let signer = Arc::new(DpopSigner::new()?);
    let split = std::thread::available_parallelism().is_ok_and(|cpus| cpus.get() >= 2)
        && cfg!(target_os = "linux");
    let cores = if split { Cores::Split } else { Cores::Shared };
    let mut servers = vec![("in-memory replay cache", Vec::new())];
    if let Some(url) = &options.redis {
        let prefix = format!("loadtest-{}:", std::process::id());
        servers.push((
            "replay shared through Redis",
            vec![("REDIS_URL", url.clone()), ("REDIS_PREFIX", prefix)],
        ));
    }
    let (duration, conns) = (options.duration, options.connections);
    let mut rows = Vec::new();
    for (label, env) in servers {
        let server = start_server_with(&options.server, &[], &env, cores)?;
        let (addr, pid) = (server.addr, server.child.id());
        let bearer = login(addr).await?;
        let bound = login_bound(addr, &signer).await?;
        run(addr, conns, Duration::from_secs(1), move |_, _| {
            get(addr, "/notsecret")
        })
        .await;
        let (mut plain, mut with_proof) = (Tally::default(), Tally::default());
        for _ in 0..ROUNDS {
            let token = Arc::clone(&bearer);
            plain.merge(
                measured(
                    pid,
                    run(addr, conns, duration, move |_, _| secret(addr, &token)),
                )
                .await,
            );
            let (token, signer) = (Arc::clone(&bound), Arc::clone(&signer));
            let url = format!("http://{addr}/secret");
            with_proof.merge(
                measured(
                    pid,
                    run(addr, conns, duration, move |_, _| {
                        let mut request = with_bearer(addr, Method::POST, "/secret", &token);
                        let proof = signer.proof("POST", &url, Some(&token));
                        let headers = request.headers_mut();
                        if let (Ok(scheme), Ok(proof)) =
                            (format!("DPoP {token}").parse(), proof.parse())
                        {
                            headers.insert("authorization", scheme);
                            headers.insert("dpop", proof);
                        }
                        request
                    }),
                )
                .await,
            );
        }
        let total = duration * ROUNDS;
        rows.push(row(
            format!("{label}: POST /secret, Bearer, one token"),
            plain,
            total,
        ));
        rows.push(row(
            format!("{label}: POST /secret, DPoP, new ES256 proof each"),
            with_proof,
            total,
        ));
        drop(server);
    }
    println!();
    println!(
        "{} (DPoP client key {}):",
        match cores {
            Cores::Split => "Server on CPU 0 (one worker), this tool on CPU 1",
            Cores::Shared => "Server and this tool sharing every CPU",
        },
        signer.jkt,
    );
    println!();
    print_rows(&rows);
    println!();
    for pair in rows.chunks(2) {
        if let [bearer, dpop] = pair
            && let (Some(bearer_cpu), Some(dpop_cpu)) =
                (bearer.cpu_per_request, dpop.cpu_per_request)
        {
            println!(
                "{}: server CPU per request, DPoP − Bearer: {:.1} µs (DPoP ÷ Bearer {:.2})",
                dpop.name,
                dpop_cpu - bearer_cpu,
                dpop_cpu / bearer_cpu,
            );
        }
    }
    Ok(())
}

/// One kind of request of `--users`.
enum Pattern {
    /// `GET /notsecret`, the baseline.
    Open,
    /// `/secret` with one token reused by every client.
    One,
    /// `/secret` for `n` users in turn, each with a token of their own.
    RoundRobin(usize),
    /// `/secret` for users drawn from a Zipf distribution over `n` (a fixed sequence).
    Zipf(Arc<Vec<u32>>),
    /// `/secret` with a token never sent before on every request.
    Fresh,
}

/// Draws per Zipf pattern, repeated in turn.
const ZIPF_DRAWS: usize = 1 << 20;
/// Rounds of `--users` unless `--rounds` says otherwise: more and shorter than the other
/// scenarios' (a ratio's spread from round to round is wide on a loopback server).
const GROWTH_ROUNDS: u32 = 9;

/// `/secret`'s cache hits and misses so far, from `GET /admin/cache` (the load-test user is
/// an admin in `--users`).
async fn cache_counts(addr: SocketAddr, token: &str) -> Result<(u64, u64), String> {
    let mut sender = connect(addr).await?;
    let answer = logged_in(
        &mut sender,
        with_bearer(addr, Method::GET, "/admin/cache", token),
    )
    .await?;
    let count = |name: &str| {
        answer[name]
            .as_u64()
            .ok_or_else(|| format!("/admin/cache answered {answer}"))
    };
    Ok((count("hits")?, count("misses")?))
}

/// What one pattern measured, round by round.
#[derive(Default)]
struct Grown {
    tally: Tally,
    /// Server CPU µs per request, per round.
    cost: Vec<f64>,
    /// The user part of it.
    user: Vec<f64>,
    /// Misses ÷ lookups of `/secret`'s cache, per round (`None` without lookups).
    miss_rate: Vec<Option<f64>>,
}

/// An issuer of access tokens as the example server signs them (its secret and format).
fn server_issuer() -> Result<TokenIssuer, String> {
    SigningKey::hmac(Algorithm::HS256, SECRET)
        .map(TokenIssuer::new)
        .map_err(|err| err.to_string())
}

/// One-use access tokens from `issuer`: one for each new-token request of `rounds` rounds
/// of `duration` at 40,000 requests a second, 2,000,000 at most. A faster server takes them
/// in turn again: a token comes back only after all the others, long after the cache (4096
/// entries) and its doorkeeper (as many fingerprints) forgot it, so it is a miss all the
/// same, as the server's miss rate for the pattern shows.
fn one_use_tokens(
    issuer: &TokenIssuer,
    now: u64,
    duration: Duration,
    rounds: u32,
) -> Result<Arc<Vec<String>>, String> {
    let wanted = (duration.as_secs() * u64::from(rounds) * 40_000).min(2_000_000);
    (0..wanted)
        .map(|_| issuer.access(USER, now).map(|issued| issued.token))
        .collect::<Result<_, _>>()
        .map(Arc::new)
        .map_err(|err| err.to_string())
}

/// `--users`: `/secret`'s server CPU per request as the users grow (round-robin and Zipf at
/// each number of users), against `/notsecret`, one token reused and a new token each, every
/// pattern once a round, each round starting one pattern further on; the server's own miss
/// rate (`GET /admin/cache`) per pattern and round; each pattern's cost against the one its
/// miss rate predicts (one token's cost, plus the miss rate × the difference to a new token
/// each). Writes `benches/server_growth.svg`.
async fn growth(options: &Options) -> Result<(), String> {
    let sizes = options.users.clone();
    let rounds = options.growth_rounds;
    let mut patterns = vec![
        ("GET /notsecret".to_owned(), Pattern::Open),
        ("one token".to_owned(), Pattern::One),
    ];
    patterns.extend(
        sizes
            .iter()
            .map(|&n| (format!("round-robin {n}"), Pattern::RoundRobin(n))),
    );
    patterns.extend(sizes.iter().map(|&n| {
        (
            format!("zipf {n}"),
            Pattern::Zipf(Arc::new(support::bench::zipf(n, ZIPF_DRAWS))),
        )
    }));
    patterns.push(("new token each".to_owned(), Pattern::Fresh));

    // The tokens signed below, like the admin's from the server's login (the same default),
    // live `access_lifetime`; the requests stay well inside it, so that no round meets an
    // expired token.
    let issuer = server_issuer()?;
    let runs = patterns.len() as u32 * rounds;
    let lifetime = issuer.access_lifetime();
    if options.duration * runs > lifetime * 5 / 6 {
        return Err(format!(
            "{runs} runs of {} s would outlast the tokens ({} minutes): fewer --rounds, a shorter --duration or fewer sizes",
            options.duration.as_secs(),
            lifetime.as_secs() / 60
        ));
    }
    let largest = sizes.iter().copied().max().unwrap_or(1);
    let now = jsonwebtoken::get_current_timestamp();
    let signing = Instant::now();
    let users: Arc<Vec<String>> = Arc::new(
        (0..largest)
            .map(|n| {
                issuer
                    .access(&format!("user{n}"), now)
                    .map(|issued| issued.token)
            })
            .collect::<Result<_, _>>()
            .map_err(|err| err.to_string())?,
    );
    let fresh = one_use_tokens(&issuer, now, options.duration, rounds)?;
    println!(
        "{} s a pattern and round, {} connections, {rounds} rounds; {} user tokens and {} one-use tokens signed in {:.1} s",
        options.duration.as_secs(),
        options.connections,
        users.len(),
        fresh.len(),
        signing.elapsed().as_secs_f64()
    );
    let split = std::thread::available_parallelism().is_ok_and(|cpus| cpus.get() >= 2)
        && cfg!(target_os = "linux");
    let cores = if split { Cores::Split } else { Cores::Shared };
    let server = start_server_with(
        &options.server,
        &[],
        &[("ADMIN_USERS", USER.to_owned())],
        cores,
    )?;
    let (addr, pid) = (server.addr, server.child.id());
    let (duration, conns) = (options.duration, options.connections);
    let token = ready(addr, conns).await?;
    let mut grown: Vec<Grown> = patterns.iter().map(|_| Grown::default()).collect();
    // The server's resident memory (KiB) once ready, then after each round.
    let mut memory: Vec<(u64, u64)> = resident(pid).into_iter().collect();
    let cursors: Vec<Arc<AtomicUsize>> = patterns
        .iter()
        .map(|_| Arc::new(AtomicUsize::new(0)))
        .collect();
    for round in 0..rounds as usize {
        // Each round starts one pattern further on, so that no pattern always follows the same.
        for turn in 0..patterns.len() {
            let at = (round + turn) % patterns.len();
            let (pattern, grown) = (&patterns[at].1, &mut grown[at]);
            let next = Arc::clone(&cursors[at]);
            let request: Box<dyn Fn(usize, u64) -> Request<Full<Bytes>> + Send + Sync> =
                match pattern {
                    Pattern::Open => Box::new(move |_, _| get(addr, "/notsecret")),
                    Pattern::One => {
                        let token = Arc::clone(&token);
                        Box::new(move |_, _| secret(addr, &token))
                    }
                    &Pattern::RoundRobin(n) => {
                        let users = Arc::clone(&users);
                        Box::new(move |_, _| {
                            secret(addr, &users[next.fetch_add(1, Ordering::Relaxed) % n])
                        })
                    }
                    Pattern::Zipf(draws) => {
                        let (users, draws) = (Arc::clone(&users), Arc::clone(draws));
                        Box::new(move |_, _| {
                            let at = next.fetch_add(1, Ordering::Relaxed) % draws.len();
                            secret(addr, &users[draws[at] as usize])
                        })
                    }
                    Pattern::Fresh => {
                        let fresh = Arc::clone(&fresh);
                        Box::new(move |_, _| {
                            secret(
                                addr,
                                &fresh[next.fetch_add(1, Ordering::Relaxed) % fresh.len()],
                            )
                        })
                    }
                };
            let before = cache_counts(addr, &token).await?;
            let tally = measured(pid, run(addr, conns, duration, request)).await;
            let after = cache_counts(addr, &token).await?;
            let (hits, misses) = (after.0 - before.0, after.1 - before.1);
            grown.cost.extend(cpu_per_request(&tally));
            grown.user.extend(user_per_request(&tally));
            grown
                .miss_rate
                .push((hits + misses > 0).then(|| misses as f64 / (hits + misses) as f64));
            grown.tally.merge(tally);
        }
        memory.extend(resident(pid));
    }
    drop(server);
    report_growth(&patterns, grown, &sizes, duration * rounds)?;
    report_memory(&memory);
    Ok(())
}

/// Prints the server's resident memory over `--users`' rounds: once ready, after the first
/// round, the median and the last of the rounds after it, and the peak.
fn report_memory(memory: &[(u64, u64)]) {
    let Some((&(ready, _), rounds)) = memory.split_first() else {
        println!("(the server's resident memory: not readable here)");
        return;
    };
    let Some((&(first, _), later)) = rounds.split_first() else {
        return;
    };
    let mib = |kib: u64| kib as f64 / 1024.0;
    let later_rss: Vec<f64> = later.iter().map(|&(rss, _)| mib(rss)).collect();
    let (settled, last) = match later_rss.last() {
        Some(&last) => (median(&later_rss), last),
        None => (mib(first), mib(first)),
    };
    let peak = memory.iter().map(|&(_, hwm)| hwm).max().unwrap_or(0);
    println!(
        "server resident memory (VmRSS), MiB: ready {:.1}, after round 1 {:.1}, rounds 2–{} median {:.1}, last {:.1}; peak (VmHWM) {:.1}",
        mib(ready),
        mib(first),
        rounds.len(),
        settled,
        last,
        mib(peak),
    );
}

/// The median of `values` (NaN for none).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Prints `--users`' table and writes its chart.
fn report_growth(
    patterns: &[(String, Pattern)],
    grown: Vec<Grown>,
    sizes: &[usize],
    total: Duration,
) -> Result<(), String> {
    let (open, one, fresh) = (0, 1, patterns.len() - 1);
    let per_round = |of: usize, f: &dyn Fn(usize) -> Option<f64>| -> Vec<f64> {
        (0..grown[of].cost.len()).filter_map(f).collect()
    };
    let cost = |of: usize, round: usize| grown[of].cost.get(round).copied();
    let user = |of: usize, round: usize| grown[of].user.get(round).copied();
    // What pattern `at`'s miss rate in round `r` predicts of `of` (the cost or the user time):
    // one token's (a hit) plus the miss rate × what a new token each (a miss) costs more, both
    // of the same round.
    let prediction = |at: usize, r: usize, of: &dyn Fn(usize, usize) -> Option<f64>| {
        let rate = grown[at].miss_rate.get(r).copied().flatten()?;
        let (hit, miss) = (of(one, r)?, of(fresh, r)?);
        Some(hit + rate * (miss - hit))
    };
    // Per round: the pattern's `of` ÷ its prediction.
    let predicted = |at: usize, of: &dyn Fn(usize, usize) -> Option<f64>| {
        per_round(at, &|r| Some(of(at, r)? / prediction(at, r, of)?))
    };
    println!();
    println!(
        "| pattern | requests | failed | miss rate (median) | server µs/request (median of rounds) | ÷ predicted from the miss rate (median, range) | user µs/request | ÷ predicted, user time | /notsecret ÷ it (median, range) |"
    );
    println!("|---|---:|---:|---:|---:|---|---:|---|---|");
    for (at, ((name, _), grown_at)) in patterns.iter().zip(&grown).enumerate() {
        let rates: Vec<f64> = grown_at.miss_rate.iter().flatten().copied().collect();
        let to_open = per_round(at, &|r| Some(cost(open, r)? / cost(at, r)?));
        let or_dash = |ratios: Vec<f64>| {
            if ratios.is_empty() || at == open {
                "-".to_owned()
            } else {
                spread(&ratios)
            }
        };
        let requests = grown_at.tally.latencies.len();
        let failed = requests as u64 - grown_at.tally.ok + grown_at.tally.errors;
        println!(
            "| {name} | {requests} | {failed} | {} | {:.2} | {} | {:.2} | {} | {} |",
            if rates.is_empty() {
                "-".to_owned()
            } else {
                format!("{:.4}", median(&rates))
            },
            median(&grown_at.cost),
            or_dash(predicted(at, &cost)),
            median(&grown_at.user),
            or_dash(predicted(at, &user)),
            spread(&to_open),
        );
    }
    println!(
        "({} s of requests per pattern; the server on {}.)",
        total.as_secs(),
        if cfg!(target_os = "linux") {
            "CPU 0 with one worker where the machine has two CPUs"
        } else {
            "every CPU"
        }
    );
    let label = |n: usize| {
        let digits = n.to_string();
        if digits.trim_start_matches('1').chars().all(|c| c == '0') {
            format!("10^{}", digits.len() - 1)
        } else {
            digits
        }
    };
    // The chart: what `/secret` adds to the server's user CPU per request over `/notsecret`'s
    // in the same round, in ns, measured and as its miss rate predicts (medians over the
    // rounds). User time: the kernel's share, most of a request and most of its noise, would
    // bury differences of a few hundred ns.
    let over_open =
        |at: usize| 1e3 * median(&per_round(at, &|r| Some(user(at, r)? - user(open, r)?)));
    let predicted_over_open = |at: usize| {
        1e3 * median(&per_round(at, &|r| {
            Some(prediction(at, r, &user)? - user(open, r)?)
        }))
    };
    let mut groups: Vec<(String, Vec<f64>)> = vec![("1 user".to_owned(), vec![over_open(one); 4])];
    groups.extend(sizes.iter().enumerate().map(|(i, &n)| {
        let (round_robin, zipf) = (2 + i, 2 + sizes.len() + i);
        (
            label(n),
            vec![
                over_open(round_robin),
                predicted_over_open(round_robin),
                over_open(zipf),
                predicted_over_open(zipf),
            ],
        )
    }));
    groups.push(("new each".to_owned(), vec![over_open(fresh); 4]));
    let groups: Vec<(&str, Vec<f64>)> = groups
        .iter()
        .map(|(name, values)| (name.as_str(), values.clone()))
        .collect();
    let svg = support::chart::Bars {
        title: "POST /secret's server user CPU ns per request over GET /notsecret's, by users (cache 4096)",
        series: &[
            ("round-robin", "#4e79a7"),
            ("round-robin, predicted from its miss rate", "#a0cbe8"),
            ("Zipf", "#f28e2b"),
            ("Zipf, predicted from its miss rate", "#ffbe7d"),
        ],
        groups: &groups,
        label: |ns| format!("{ns:.0} ns"),
    }
    .svg();
    let path = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../benches"))
        .canonicalize()
        .map_err(|err| err.to_string())?
        .join("server_growth.svg");
    std::fs::write(&path, svg).map_err(|err| format!("{}: {err}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

async fn main_async(options: Options) -> Result<(), String> {
    if options.kid_flood {
        return kid_flood(&options).await;
    }
    if options.dpop {
        return dpop(&options).await;
    }
    if !options.users.is_empty() {
        return growth(&options).await;
    }
    println!(
        "{} s per scenario, {} connections, login floods (clients, polite) {:?}, bcrypt cost 12; {} CPUs",
        options.duration.as_secs(),
        options.connections,
        options.login_clients,
        std::thread::available_parallelism().map_or(0, usize::from),
    );
    let now = jsonwebtoken::get_current_timestamp();
    let fresh = one_use_tokens(&server_issuer()?, now, options.duration, ROUNDS)?;

    let me = std::env::current_exe().map_err(|err| err.to_string())?;
    let split = std::thread::available_parallelism().is_ok_and(|cpus| cpus.get() >= 2)
        && cfg!(target_os = "linux");
    let layouts = if split {
        &[Cores::Split, Cores::Shared][..]
    } else {
        &[Cores::Shared]
    };
    let layouts = if options.login_only {
        &[][..]
    } else if options.secret_only {
        &layouts[..1]
    } else {
        layouts
    };
    for &cores in layouts {
        let example = start_server(&options.server, &[], cores)?;
        let (mut rows, ratios) =
            throughput("example", &example, &options, Some(Arc::clone(&fresh))).await?;
        drop(example);
        let uncached_ratios = if options.secret_only {
            None
        } else {
            let replica = start_server(&me, &["--serve-uncached"], cores)?;
            let (uncached, ratios) = throughput("no cache", &replica, &options, None).await?;
            rows.extend(uncached);
            Some(ratios)
        };
        println!();
        println!(
            "{}",
            match cores {
                Cores::Split => "Server on CPU 0 (one worker), this tool on CPU 1:",
                Cores::Shared => "Server and this tool sharing every CPU:",
            }
        );
        println!();
        print_rows(&rows);
        println!();
        // Rows: example: 0 open, 1 one token, 2 control, 3 new token each; no cache: 4 open,
        // 5 one token, 6 control.
        let rate = |open: usize, protected: usize| {
            rows.get(open)
                .zip(rows.get(protected))
                .map_or(f64::NAN, |(open, protected)| protected.rate / open.rate)
        };
        println!(
            "/secret / /notsecret req/s: with the cache {:.3}; new token each {:.3}; without the cache {:.3}",
            rate(0, 1),
            rate(0, 3),
            rate(4, 5),
        );
        // What the ratios would be with the server alone saturating its CPUs: its CPU time
        // per request, /notsecret's over /secret's.
        // `of` of row `open` ÷ `of` of row `protected`.
        let ratio = |open: usize, protected: usize, of: fn(&Row) -> Option<f64>| {
            rows.get(open)
                .zip(rows.get(protected))
                .and_then(|(open, protected)| of(open).zip(of(protected)))
                .map_or(f64::NAN, |(open, protected)| open / protected)
        };
        let cost = |open, protected| ratio(open, protected, |row| row.cpu_per_request);
        println!(
            "server CPU per request, /notsecret ÷ /secret, over all rounds: with the cache {:.3}; \
             new token each {:.3}; without the cache {:.3}",
            cost(0, 1),
            cost(0, 3),
            cost(4, 5),
        );
        println!(
            "the same, per round, median (range): with the cache {}; new token each {}; \
             without the cache {}",
            spread(&ratios.reused),
            spread(&ratios.new_each),
            uncached_ratios.map_or_else(|| "-".to_owned(), |ratios| spread(&ratios.reused)),
        );
        println!(
            "each round, in order: with the cache {}; new token each {}",
            listed(&ratios.reused),
            listed(&ratios.new_each),
        );
        println!(
            "the same, /notsecret with /secret's header ÷ /secret (the request's size set aside): \
             with the cache {:.3}; new token each {:.3}; without the cache {:.3}",
            cost(2, 1),
            cost(2, 3),
            cost(6, 5),
        );
        let user = |open, protected| ratio(open, protected, |row| row.user_per_request);
        println!(
            "server user CPU per request (the kernel's share set aside), /notsecret ÷ /secret: \
             with the cache {:.3}; new token each {:.3}; without the cache {:.3}",
            user(0, 1),
            user(0, 3),
            user(4, 5),
        );
    }
    if options.secret_only {
        return Ok(());
    }

    let example = start_server(&options.server, &[], Cores::Shared)?;
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
    let config = tutorial::config_from_env()?;
    let store = SqliteStore::connect(&config.database_url).await?;
    let issuer = TokenIssuer::new(SigningKey::hmac(Algorithm::HS256, &config.secret)?)
        .access_ttl(config.access_ttl)
        .refresh_ttl(config.refresh_ttl);
    let auth = Auth::builder(issuer, store)
        .bcrypt_cost(config.bcrypt_cost)
        .build()?;
    let protected = axum::Router::new()
        .route(
            "/secret",
            post(|JwtClaims(_claims): JwtClaims| async {
                axum::Json("Top Secret data only authorized users can access this info")
            }),
        )
        .route_layer(auth.layer_builder().no_cache().build()?);
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
