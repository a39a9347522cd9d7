//! Support for the hardening suites: a store that counts what reaches it, the example
//! app's configuration, and a minimal HTTP/1 client for servers on loopback.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;
use tower_jwt_auth::store::{
    Attributes, CreateUser, MemoryStore, NewFamily, RefreshTokenStore, Rotation, User, UserStore,
};

/// An `APP_SECRET_STRING` for the example app.
pub const APP_SECRET: &str = "an-app-secret-string-that-is-32-bytes-or-more";

/// Environment-style settings as the example app's `config_from` reads them.
pub fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

/// The PostgreSQL URL of the test database, or `None` (after printing `skipping: …`)
/// when it is not set. In CI it must be set.
pub fn postgres_url() -> Option<String> {
    let url = std::env::var("TOWER_JWT_AUTH_TEST_POSTGRES_URL").ok();
    if url.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "TOWER_JWT_AUTH_TEST_POSTGRES_URL must be set in CI"
        );
        // Straight to stderr: the test harness hides what `println!` prints from a
        // passing test, and a skip must be seen.
        let _ = std::io::Write::write_fmt(
            &mut std::io::stderr(),
            format_args!("skipping: TOWER_JWT_AUTH_TEST_POSTGRES_URL is not set\n"),
        );
    }
    url
}

/// How many operations of each kind reached a [`CountingStore`].
#[derive(Debug, Default)]
pub struct Counts {
    pub reads: AtomicUsize,
    pub writes: AtomicUsize,
}

/// A [`MemoryStore`] that counts reads and writes, to prove that a request changed
/// nothing, or never reached the store at all.
#[derive(Clone, Debug, Default)]
pub struct CountingStore {
    pub inner: MemoryStore,
    pub counts: Arc<Counts>,
}

impl CountingStore {
    pub fn reads(&self) -> usize {
        self.counts.reads.load(Ordering::SeqCst)
    }

    pub fn writes(&self) -> usize {
        self.counts.writes.load(Ordering::SeqCst)
    }

    fn read(&self) {
        self.counts.reads.fetch_add(1, Ordering::SeqCst);
    }

    fn write(&self) {
        self.counts.writes.fetch_add(1, Ordering::SeqCst);
    }
}

impl UserStore for CountingStore {
    type Error = std::convert::Infallible;

    async fn create_user(&self, username: &str, hash: &str) -> Result<CreateUser, Self::Error> {
        self.write();
        self.inner.create_user(username, hash).await
    }

    async fn find_user(&self, username: &str) -> Result<Option<User>, Self::Error> {
        self.read();
        self.inner.find_user(username).await
    }

    async fn update_password_hash(&self, username: &str, hash: &str) -> Result<bool, Self::Error> {
        self.write();
        self.inner.update_password_hash(username, hash).await
    }

    async fn set_attributes(
        &self,
        username: &str,
        attributes: &Attributes,
    ) -> Result<bool, Self::Error> {
        self.write();
        self.inner.set_attributes(username, attributes).await
    }
}

impl RefreshTokenStore for CountingStore {
    type Error = std::convert::Infallible;

    async fn create_family(&self, family: NewFamily<'_>) -> Result<(), Self::Error> {
        self.write();
        self.inner.create_family(family).await
    }

    async fn rotate(
        &self,
        family: &str,
        presented: &str,
        next: &str,
        now: u64,
    ) -> Result<Rotation, Self::Error> {
        self.write();
        self.inner.rotate(family, presented, next, now).await
    }

    async fn revoke_family(&self, family: &str) -> Result<bool, Self::Error> {
        self.write();
        self.inner.revoke_family(family).await
    }

    async fn revoke_user(&self, username: &str) -> Result<u64, Self::Error> {
        self.write();
        self.inner.revoke_user(username).await
    }

    async fn purge_expired(&self, now: u64) -> Result<u64, Self::Error> {
        self.write();
        self.inner.purge_expired(now).await
    }
}

/// A response from a server on loopback.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

/// Sends one request over a fresh HTTP/1 connection to `addr`.
///
/// # Errors
///
/// When the connection cannot be made or breaks (the server is down).
pub async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Result<Reply, Box<dyn std::error::Error + Send + Sync>> {
    let stream = TcpStream::connect(addr).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let bytes = match body {
        Some(body) => {
            request = request.header("content-type", "application/json");
            Bytes::from(body.to_string())
        }
        None => Bytes::new(),
    };
    let response = sender.send_request(request.body(Full::new(bytes))?).await?;
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = response.into_body().collect().await?.to_bytes();
    Ok(Reply {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    })
}

/// `target/<profile>/examples/server`, which `cargo test` builds next to the tests.
pub fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test>-<hash> → target/<profile>/examples/server
    let profile = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let binary = profile
        .join("examples")
        .join(format!("server{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.exists(),
        "{} is missing: `cargo test --all-features` builds it",
        binary.display()
    );
    binary
}

/// Drops ANSI escape sequences (`ESC [ … letter`).
pub fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Lines of a child process's stdout and stderr, as they come (raw, ANSI codes included).
pub fn child_lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    let out = child.stdout.take().expect("stdout is piped");
    let err = child.stderr.take().expect("stderr is piped");
    for stream in [
        Box::new(out) as Box<dyn std::io::Read + Send>,
        Box::new(err),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stream)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(line);
            }
        });
    }
    rx
}

/// The first line from `rx` containing `needle`, within 30 s; panics with what came instead.
pub fn wait_for_line(rx: &std::sync::mpsc::Receiver<String>, needle: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) if strip_ansi(&line).contains(needle) => return line,
            Ok(line) => seen.push(line),
            Err(_) => break,
        }
    }
    panic!("no line containing {needle:?}; saw: {seen:#?}");
}
