//! What the tests of tower-jwt-auth and of its tutorial app share: one secret, token
//! minting, one answer type and the ways to get one (through a layer, an axum app or a
//! server on loopback), a store that counts what reaches it, and the example app's
//! configuration and processes.
//!
//! A crate of its own, so that both packages' tests use it as a normal dependency.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tower::ServiceExt;
use tower_jwt_auth::{Algorithm, Claims, JwtAuthLayer, Key, SigningKey};

/// The HS256 secret of the tests' tokens, and the example app's `APP_SECRET_STRING`.
pub const SECRET: &[u8] = APP_SECRET.as_bytes();

/// [`SECRET`] as text, for `APP_SECRET_STRING`.
pub const APP_SECRET: &str = "test-secret-that-is-at-least-32-bytes-long";

/// A response: status, headers and the body, as JSON (`null` if it is not JSON) and as
/// text.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Answer {
    fn new(status: StatusCode, headers: HeaderMap, bytes: &[u8]) -> Self {
        Self {
            status,
            headers,
            body: serde_json::from_slice(bytes).unwrap_or(Value::Null),
            text: String::from_utf8_lossy(bytes).into_owned(),
        }
    }

    /// Status and body, to compare in one assertion.
    pub fn pair(&self) -> (StatusCode, Value) {
        (self.status, self.body.clone())
    }

    /// The `WWW-Authenticate` challenge.
    pub fn challenge(&self) -> Option<&str> {
        self.header("www-authenticate")
    }

    /// The `Content-Type`.
    pub fn content_type(&self) -> Option<&str> {
        self.header("content-type")
    }

    /// The `DPoP-Nonce` header (RFC 9449 §8).
    pub fn dpop_nonce(&self) -> Option<&str> {
        self.header("dpop-nonce")
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .map(|value| value.to_str().expect("a text header"))
    }
}

/// Signup or login credentials.
pub fn creds(username: &str, password: &str) -> Value {
    json!({ "username": username, "password": password })
}

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
        skip("TOWER_JWT_AUTH_TEST_POSTGRES_URL is not set");
    }
    url
}

/// Prints `skipping: <why>` for a test that cannot run here and returns; in CI (`CI` set),
/// where nothing skips, panics with `why` instead.
pub fn skip(why: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "{why}, and nothing skips in CI"
    );
    // Straight to stderr: the test harness hides what `println!` prints from a passing
    // test, and a skip must be seen.
    let _ = std::io::Write::write_fmt(&mut std::io::stderr(), format_args!("skipping: {why}\n"));
}

/// The Redis URL of the test server (`TOWER_JWT_AUTH_TEST_REDIS_URL`, for example
/// `redis://127.0.0.1:6379`), or `None` (after printing `skipping: …`) when it is not
/// set. In CI it must be set. Tests share the server: each uses a key prefix of its own.
pub fn redis_url() -> Option<String> {
    let url = std::env::var("TOWER_JWT_AUTH_TEST_REDIS_URL").ok();
    if url.is_none() {
        skip("TOWER_JWT_AUTH_TEST_REDIS_URL is not set");
    }
    url
}

/// Debian's Chromium, for the browser tests: `None` (after [`skip`]) when it is not
/// installed.
pub fn chromium() -> Option<&'static str> {
    const CHROMIUM: &str = "/usr/bin/chromium";
    if std::path::Path::new(CHROMIUM).exists() {
        return Some(CHROMIUM);
    }
    skip("/usr/bin/chromium is not installed (apt-get install chromium)");
    None
}

/// A name no other test (in this or a concurrent process) uses: `prefix`, the process id,
/// the time and a counter, joined by `_` (so that it is also a PostgreSQL identifier).
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}_{}_{nanos:x}_{n}", std::process::id())
}

pub mod bench;
pub mod chart;
#[cfg(feature = "router")]
mod counting;
mod dpop;
pub mod fuzz;
#[cfg(any(target_os = "linux", target_os = "android"))]
pub mod scaling;
#[cfg(feature = "router")]
pub use counting::{CountingStore, Counts};
pub use dpop::DpopClient;

/// Sends one request over a fresh HTTP/1 connection to `addr`.
///
/// # Errors
///
/// When the connection cannot be made or breaks (the server is down).
pub async fn send_http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Result<Answer, Box<dyn std::error::Error + Send + Sync>> {
    let stream = TcpStream::connect(addr).await?;
    send_on(stream, addr, method, path, headers, body).await
}

/// As [`send_http`], from the local address `local` (another loopback address than
/// 127.0.0.1, say, so that the server sees another peer).
///
/// # Errors
///
/// As [`send_http`], and when `local` cannot be bound (not every system routes all of
/// 127.0.0.0/8 to the loopback interface).
pub async fn send_http_from(
    local: std::net::IpAddr,
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Result<Answer, Box<dyn std::error::Error + Send + Sync>> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(local, 0))?;
    let stream = socket.connect(addr).await?;
    send_on(stream, addr, method, path, headers, body).await
}

async fn send_on(
    stream: TcpStream,
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Result<Answer, Box<dyn std::error::Error + Send + Sync>> {
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
    Ok(Answer::new(status, headers, &bytes))
}

/// `POST path` to a server on `addr`, with `token` as a bearer token if given, and `body`
/// as JSON if given.
///
/// # Errors
///
/// As [`send_http`].
pub async fn post_http(
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Result<Answer, Box<dyn std::error::Error + Send + Sync>> {
    let bearer = token.map(|token| format!("Bearer {token}"));
    let headers: Vec<(&str, &str)> = bearer
        .as_deref()
        .map(|value| vec![("authorization", value)])
        .unwrap_or_default();
    send_http(addr, "POST", path, &headers, body).await
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

/// A file of the repository's test data (`tests/data/<path>`).
pub fn data(path: &str) -> Vec<u8> {
    let full = format!("{}/../data/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|err| panic!("{full}: {err}"))
}

pub fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

pub fn hs256() -> SigningKey {
    SigningKey::hmac(Algorithm::HS256, SECRET).unwrap()
}

/// Access-token claims valid for ten minutes.
pub fn access_claims(sub: &str) -> Value {
    json!({ "sub": sub, "iat": now(), "exp": now() + 600, "scope": "access_token" })
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A token with exactly this header and payload text, HMAC-signed with `secret`.
pub fn raw_hs256(header: &str, payload: &str, secret: &[u8]) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", b64(&mac.finalize().into_bytes()))
}

/// Sends `request` through `layer` in front of an echo service that answers 200 with
/// `{"sub": …}` from the claims in the extensions, or `{"sub": null}`.
pub async fn send<O>(layer: &JwtAuthLayer<Claims, O>, request: Request<Full<Bytes>>) -> Answer
where
    O: tower_jwt_auth::rejection::OnRejection<Full<Bytes>> + Clone,
{
    let service = tower::ServiceBuilder::new()
        .layer(layer.clone())
        .service_fn(|req: Request<Full<Bytes>>| async move {
            let sub = req
                .extensions()
                .get::<std::sync::Arc<Claims>>()
                .map(|claims| claims.sub.clone());
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(
                json!({ "sub": sub }).to_string(),
            ))))
        });
    answer(service.oneshot(request).await.unwrap()).await
}

/// Reads a response as an [`Answer`].
pub async fn answer<B>(response: Response<B>) -> Answer
where
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Answer::new(status, headers, &bytes)
}

pub fn with_bearer(token: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .header("authorization", format!("Bearer {token}"))
        .body(Full::default())
        .unwrap()
}

pub async fn send_token(layer: &JwtAuthLayer, token: &str) -> Answer {
    send(layer, with_bearer(token)).await
}

pub fn hs256_layer() -> JwtAuthLayer {
    JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, SECRET).unwrap())
        .build()
        .unwrap()
}

impl Answer {
    pub fn assert_ok(&self, sub: &str) {
        assert_eq!(
            (self.status, &self.body),
            (StatusCode::OK, &json!({ "sub": sub })),
            "{self:?}"
        );
    }

    pub fn assert_invalid_token(&self) {
        assert_eq!(self.status, 401, "{self:?}");
        assert_eq!(
            self.challenge(),
            Some("Bearer error=\"invalid_token\""),
            "{self:?}"
        );
        assert_eq!(self.body, json!({ "detail": "Invalid token" }), "{self:?}");
        assert_eq!(self.content_type(), Some("application/json"));
    }

    pub fn assert_expired(&self) {
        assert_eq!(self.status, 401, "{self:?}");
        assert!(
            self.challenge()
                .unwrap_or_default()
                .starts_with("Bearer error=\"invalid_token\""),
            "{self:?}"
        );
        assert_eq!(self.body, json!({ "detail": "Token expired" }), "{self:?}");
    }

    /// 401 with a challenge that names no error (RFC 6750 §3.1): `Bearer`, or `Bearer` and
    /// `DPoP algs="…"` from a layer that also takes DPoP.
    pub fn assert_not_authenticated(&self) {
        assert_eq!(self.status, 401, "{self:?}");
        let challenge = self.challenge().unwrap_or_default();
        assert!(
            challenge == "Bearer" || challenge.starts_with("Bearer, DPoP algs=\""),
            "{self:?}"
        );
        assert_eq!(
            self.body,
            json!({ "detail": "Not authenticated" }),
            "{self:?}"
        );
    }

    pub fn assert_insufficient_scope(&self, challenge: &str) {
        assert_eq!(self.status, 403, "{self:?}");
        assert_eq!(self.challenge(), Some(challenge), "{self:?}");
        assert_eq!(
            self.body,
            json!({ "detail": "Insufficient scope" }),
            "{self:?}"
        );
        assert_eq!(self.content_type(), Some("application/json"));
    }

    /// 401 `insufficient_user_authentication` (RFC 9470 §3) with exactly `challenge`.
    pub fn assert_insufficient_user_authentication(&self, challenge: &str) {
        assert_eq!(self.status, 401, "{self:?}");
        assert_eq!(self.challenge(), Some(challenge), "{self:?}");
        assert_eq!(
            self.body,
            json!({ "detail": "Insufficient user authentication" }),
            "{self:?}"
        );
        assert_eq!(self.content_type(), Some("application/json"));
    }

    /// 400 `invalid_request`, in the `Bearer` challenge or, from a layer that also takes
    /// DPoP, in the `DPoP` one.
    pub fn assert_invalid_request(&self) {
        assert_eq!(self.status, 400, "{self:?}");
        let challenge = self.challenge().unwrap_or_default();
        assert!(
            challenge == "Bearer error=\"invalid_request\""
                || challenge.starts_with("DPoP error=\"invalid_request\", algs=\""),
            "{self:?}"
        );
    }
}

/// Sends `request` to an axum app.
pub async fn call(router: &axum::Router, request: Request<axum::body::Body>) -> Answer {
    answer(router.clone().oneshot(request).await.unwrap()).await
}

pub fn post_json(uri: &str, body: &Value) -> Request<axum::body::Body> {
    Request::post(uri)
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body.to_string()))
        .unwrap()
}

pub fn bearer_request(method: &str, uri: &str, token: &str) -> Request<axum::body::Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {token}"))
        .body(axum::body::Body::empty())
        .unwrap()
}

/// How many of a count (`count`: dhat's allocated blocks, in the tests that count
/// allocations) `service` adds per request, on average over `requests` calls that must each
/// answer 200, after four that warm it up. The requests are built before counting starts.
pub async fn per_request<S>(
    service: &S,
    make: impl Fn() -> Request<axum::body::Body>,
    requests: u64,
    count: impl Fn() -> u64,
) -> f64
where
    S: tower::Service<
            Request<axum::body::Body>,
            Response = Response<axum::body::Body>,
            Error = Infallible,
        > + Clone,
{
    for _ in 0..4 {
        let response = service.clone().oneshot(make()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let built: Vec<_> = (0..requests).map(|_| make()).collect();
    let before = count();
    for request in built {
        let response = service.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    (count() - before) as f64 / requests as f64
}
