//! Several server processes behind one (imagined) load balancer, sharing revocations:
//! three processes on loopback ports, through PostgreSQL (`DATABASE_URL=postgres://…`,
//! a database of their own, `test_revocation`) and through Redis (`REDIS_URL`, a key
//! prefix per test, users in one SQLite file).
//!
//! A logout on A is refused by B and C, and by a D started afterwards; a refresh token
//! replayed on B revokes its family's access tokens on A, B and C; a DPoP proof accepted by A
//! is refused as a replay by B and C (the replay cache is shared through the same backend;
//! all three share one `PUBLIC_URL`, as behind one load balancer). A process cut off from its
//! backend fails closed, then catches up. Failed logins sent round-robin over three processes
//! meet their 429 after as many attempts as on one process.
//!
//! Skipped (with `skipping:` on stderr) when `TOWER_JWT_AUTH_TEST_POSTGRES_URL` or
//! `TOWER_JWT_AUTH_TEST_REDIS_URL` is unset, outside CI.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;
use support::{DpopClient, child_lines, send_http, unique, wait_for_line};

/// The URL clients reach every instance at.
const PUBLIC_URL: &str = "http://api.example.test";

/// A server process, killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
    _lines: std::sync::mpsc::Receiver<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(envs: &[(&str, String)]) -> Server {
    start_process(envs, true)
}

/// A server process; `shared`: whether to wait for it to report its shared backend.
fn start_process(envs: &[(&str, String)], shared: bool) -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_server"));
    command
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env("APP_SECRET_STRING", support::APP_SECRET)
        .env("BCRYPT_COST", "4")
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info")
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env("PUBLIC_URL", PUBLIC_URL)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in envs {
        command.env(name, value);
    }
    let mut child = command.spawn().unwrap();
    let lines = child_lines(&mut child);
    if shared {
        wait_for_line(&lines, "revocations shared through");
    }
    let line = wait_for_line(&lines, "listening on http://");
    let addr = line
        .rsplit("http://")
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    Server {
        child,
        addr,
        _lines: lines,
    }
}

async fn post(
    server: &Server,
    path: &str,
    token: Option<&str>,
    body: Option<&serde_json::Value>,
) -> support::Answer {
    support::post_http(server.addr, path, token, body)
        .await
        .expect("the server answers")
}

async fn secret(server: &Server, access: &str) -> http::StatusCode {
    post(server, "/secret", Some(access), None).await.status
}

/// Polls `/secret` on `server` until it refuses `access`, at most 10 s.
async fn until_refused(server: &Server, access: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let status = secret(server, access).await;
        if status == http::StatusCode::UNAUTHORIZED {
            return;
        }
        assert_eq!(status, http::StatusCode::OK, "only 200 until refused");
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} still accepts the token after 10 s",
            server.addr
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn login(server: &Server, username: &str) -> (String, String) {
    let credentials = json!({ "username": username, "password": "correct horse" });
    let signup = post(server, "/signup", None, Some(&credentials)).await;
    assert!(
        matches!(signup.status.as_u16(), 201 | 409),
        "{}",
        signup.status
    );
    let login = post(server, "/login", None, Some(&credentials)).await;
    assert_eq!(login.status, http::StatusCode::OK, "{:?}", login.body);
    (
        login.body["access_token"].as_str().unwrap().to_owned(),
        login.body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

/// Logs `username` in on `server` with a DPoP proof by `client`: a bound access token.
async fn login_bound(server: &Server, username: &str, client: &DpopClient) -> String {
    let credentials = json!({ "username": username, "password": "correct horse" });
    let proof = client.proof("POST", &format!("{PUBLIC_URL}/login"), None);
    let login = send_http(
        server.addr,
        "POST",
        "/login",
        &[("dpop", &proof)],
        Some(&credentials),
    )
    .await
    .expect("the server answers");
    assert_eq!(login.status, http::StatusCode::OK, "{:?}", login.body);
    assert_eq!(login.body["token_type"], "DPoP");
    login.body["access_token"].as_str().unwrap().to_owned()
}

/// `/secret` on `server` with `access` and `proof`.
async fn secret_with_proof(server: &Server, access: &str, proof: &str) -> support::Answer {
    let authorization = format!("DPoP {access}");
    send_http(
        server.addr,
        "POST",
        "/secret",
        &[("authorization", &authorization), ("dpop", proof)],
        None,
    )
    .await
    .expect("the server answers")
}

async fn scenario(envs: Vec<(&str, String)>) {
    let [a, b, c] = [0, 1, 2].map(|_| start(&envs));
    let user = unique("u");
    let (access, _) = login(&a, &user).await;

    // A proof A accepted is a replay on B and C, which never saw it.
    let client = DpopClient::es256();
    let bound = login_bound(&a, &user, &client).await;
    let proof = client.proof("POST", &format!("{PUBLIC_URL}/secret"), Some(&bound));
    let accepted = secret_with_proof(&a, &bound, &proof).await;
    assert_eq!(accepted.status, http::StatusCode::OK, "{accepted:?}");
    for server in [&b, &c] {
        let replayed = secret_with_proof(server, &bound, &proof).await;
        assert_eq!(
            replayed.status,
            http::StatusCode::UNAUTHORIZED,
            "{replayed:?}"
        );
        assert!(
            replayed
                .challenge()
                .is_some_and(|challenge| challenge.contains(r#"error="invalid_dpop_proof""#)),
            "{replayed:?}"
        );
    }
    let fresh = client.proof("POST", &format!("{PUBLIC_URL}/secret"), Some(&bound));
    let accepted = secret_with_proof(&b, &bound, &fresh).await;
    assert_eq!(accepted.status, http::StatusCode::OK, "{accepted:?}");

    for server in [&a, &b, &c] {
        assert_eq!(secret(server, &access).await, http::StatusCode::OK);
    }
    let logout = post(&a, "/logout", Some(&access), None).await;
    assert_eq!(logout.status, http::StatusCode::NO_CONTENT);
    for server in [&b, &c] {
        until_refused(server, &access).await;
    }
    let d = start(&envs);
    assert_eq!(secret(&d, &access).await, http::StatusCode::UNAUTHORIZED);
    drop(d);

    // Reuse detection on B reaches the family's access tokens everywhere.
    let (first_access, first_refresh) = login(&a, &user).await;
    let body = json!({ "refresh_token": first_refresh });
    let rotated = post(&b, "/refresh", None, Some(&body)).await;
    assert_eq!(rotated.status, http::StatusCode::OK);
    let rotated_access = rotated.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(secret(&c, &rotated_access).await, http::StatusCode::OK);
    let replay = post(&b, "/refresh", None, Some(&body)).await;
    assert_eq!(replay.status, http::StatusCode::UNAUTHORIZED);
    for server in [&a, &b, &c] {
        until_refused(server, &first_access).await;
        until_refused(server, &rotated_access).await;
    }
}

/// The database `test_revocation` next to the test database, created if missing.
async fn own_database(url: &str) -> String {
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(url)
        .await
        .expect("PostgreSQL unreachable");
    if let Err(error) = sqlx::query("CREATE DATABASE test_revocation")
        .execute(&mut admin)
        .await
    {
        // Already there, or created by a concurrent test just now.
        let code = error
            .as_database_error()
            .and_then(|error| error.code().map(|code| code.into_owned()));
        assert!(
            matches!(code.as_deref(), Some("42P04" | "23505")),
            "{error}"
        );
    }
    let (base, _) = url.rsplit_once('/').expect("a postgres://…/database URL");
    format!("{base}/test_revocation")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_share_revocations_through_postgres() {
    let Some(url) = support::postgres_url() else {
        return;
    };
    let url = own_database(&url).await;
    scenario(vec![("DATABASE_URL", url)]).await;
}

/// Servers sharing Redis at `url` under a prefix of their own, with users in one SQLite
/// file in `dir`.
fn through_redis(dir: &tempfile::TempDir, url: String) -> Vec<(&'static str, String)> {
    let database = format!("sqlite://{}", dir.path().join("auth.db").display());
    vec![
        ("DATABASE_URL", database),
        ("REDIS_URL", url),
        ("REDIS_PREFIX", format!("{}:", unique("tja"))),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_share_revocations_through_redis() {
    let Some(url) = support::redis_url() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    scenario(through_redis(&dir, url)).await;
}

/// A loopback TCP proxy that can be cut (every connection closed, new ones refused at
/// once) and restored. Its accept loop ends when it is dropped.
struct Proxy {
    addr: SocketAddr,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    connections: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn to(upstream: SocketAddr) -> Self {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let connections = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let accept = tokio::spawn({
            let cut = std::sync::Arc::clone(&cut);
            let connections = std::sync::Arc::clone(&connections);
            async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    if cut.load(Ordering::SeqCst) {
                        continue;
                    }
                    let task = tokio::spawn(async move {
                        if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    connections.lock().unwrap().push(task.abort_handle());
                }
            }
        });
        Self {
            addr,
            cut,
            connections,
            accept,
        }
    }

    fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }

    fn restore(&self) {
        self.cut.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

/// B reaches the backend through a proxy that is cut while A revokes, then restored: B
/// serves from its replica, then answers 503 with `Retry-After` (never another 5xx, never
/// a hang), then catches up without a restart.
async fn cut_scenario(
    direct: Vec<(&str, String)>,
    through: impl Fn(SocketAddr) -> Vec<(&'static str, String)>,
    upstream: SocketAddr,
) {
    let proxy = Proxy::to(upstream).await;
    let a = start(&direct);
    let mut envs = through(proxy.addr);
    envs.push(("REVOCATION_MAX_STALENESS", "1".to_owned()));
    let b = start(&envs);
    let user = unique("cut");
    let (kept, _) = login(&a, &user).await;
    let (revoked, _) = login(&a, &user).await;
    assert_eq!(secret(&b, &kept).await, http::StatusCode::OK);

    proxy.cut();
    let logout = post(&a, "/logout", Some(&revoked), None).await;
    assert_eq!(logout.status, http::StatusCode::NO_CONTENT);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let stale = loop {
        let answer = tokio::time::timeout(
            Duration::from_secs(5),
            post(&b, "/secret", Some(&kept), None),
        )
        .await
        .expect("B answers within 5 s");
        if answer.status == http::StatusCode::SERVICE_UNAVAILABLE {
            break answer;
        }
        assert_eq!(answer.status, http::StatusCode::OK, "200 until stale");
        assert!(tokio::time::Instant::now() < deadline, "never went stale");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(stale.headers["retry-after"], "1");
    assert_eq!(stale.body, json!({ "detail": "Service unavailable" }));

    proxy.restore();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let status = secret(&b, &kept).await;
        if status == http::StatusCode::OK {
            break;
        }
        assert_eq!(
            status,
            http::StatusCode::SERVICE_UNAVAILABLE,
            "503 until back"
        );
        assert!(tokio::time::Instant::now() < deadline, "B never caught up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(secret(&b, &revoked).await, http::StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_cut_off_from_redis_fails_closed_then_catches_up() {
    let Some(url) = support::redis_url() else {
        return;
    };
    let upstream: SocketAddr = url
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .parse()
        .expect("TOWER_JWT_AUTH_TEST_REDIS_URL as redis://host:port");
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("auth.db").display());
    let prefix = format!("{}:", unique("tja"));
    let common = vec![("DATABASE_URL", database), ("REDIS_PREFIX", prefix)];
    let mut direct = common.clone();
    direct.push(("REDIS_URL", url.clone()));
    cut_scenario(
        direct,
        move |proxy| {
            let mut envs = common.clone();
            envs.push(("REDIS_URL", format!("redis://{proxy}")));
            envs
        },
        upstream,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_cut_off_from_postgres_fails_closed_then_catches_up() {
    let Some(url) = support::postgres_url() else {
        return;
    };
    let url = own_database(&url).await;
    // postgres://user@host:port/database: the proxy stands in for host:port.
    let (_, rest) = url
        .split_once('@')
        .expect("a postgres://user@host:port/… URL");
    let (host, _) = rest.split_once('/').expect("a postgres://…/database URL");
    let upstream: SocketAddr = host.parse().expect("host:port as an address");
    let through = {
        let url = url.clone();
        move |proxy: SocketAddr| vec![("DATABASE_URL", url.replace(host, &proxy.to_string()))]
    };
    cut_scenario(vec![("DATABASE_URL", url.clone())], through, upstream).await;
}

/// How many failed logins `servers` answer 401, taken in turn, before the first 429. Every
/// attempt comes from `client` (through `X-Forwarded-For`, which the servers trust from
/// loopback), for the username `username(n)`.
async fn allowed_before_429(
    servers: &[&Server],
    client: &str,
    username: impl Fn(usize) -> String,
) -> usize {
    for attempt in 0..100 {
        let server = servers[attempt % servers.len()];
        let body = json!({ "username": username(attempt), "password": "not the password" });
        let headers = [("x-forwarded-for", client)];
        let answer = send_http(server.addr, "POST", "/login", &headers, Some(&body))
            .await
            .expect("the server answers");
        match answer.status.as_u16() {
            401 => {}
            429 => return attempt,
            other => panic!("attempt {attempt}: {other} {:?}", answer.body),
        }
    }
    panic!("no 429 within 100 attempts")
}

/// A client address no other run uses, so that the address buckets start full.
fn unique_client() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let [a, b, c, d] = u32::try_from(nanos % u128::from(u32::MAX))
        .unwrap()
        .to_be_bytes();
    format!(
        "2001:db8:{a:02x}{b:02x}:{c:02x}{d:02x}:{:x}::1",
        std::process::id() & 0xffff
    )
}

/// The two limits (per username, per address), counted on one process and on three.
async fn limit_scenario(envs: Vec<(&'static str, String)>) {
    let with_proxy = |mut envs: Vec<(&'static str, String)>| {
        envs.push(("TRUSTED_PROXY", "127.0.0.1".to_owned()));
        envs
    };
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("one.db").display());
    let one = start_process(&with_proxy(vec![("DATABASE_URL", database)]), false);
    let user = unique("limited");
    let single_username = allowed_before_429(&[&one], &unique_client(), |_| user.clone()).await;
    let single_address =
        allowed_before_429(&[&one], &unique_client(), |n| format!("{user}-{n}")).await;
    drop(one);
    // The defaults: 10 per username, 20 per address.
    assert_eq!((single_username, single_address), (10, 20));

    let envs = with_proxy(envs);
    let [a, b, c] = [0, 1, 2].map(|_| start(&envs));
    let user = unique("shared");
    let username = allowed_before_429(&[&a, &b, &c], &unique_client(), |_| user.clone()).await;
    let address =
        allowed_before_429(&[&a, &b, &c], &unique_client(), |n| format!("{user}-{n}")).await;
    assert_eq!(
        (username, address),
        (single_username, single_address),
        "three instances allow what one allows"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_round_robin_over_three_processes_are_limited_as_one_through_postgres() {
    let Some(url) = support::postgres_url() else {
        return;
    };
    limit_scenario(vec![("DATABASE_URL", own_database(&url).await)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_round_robin_over_three_processes_are_limited_as_one_through_redis() {
    let Some(url) = support::redis_url() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    limit_scenario(through_redis(&dir, url)).await;
}
