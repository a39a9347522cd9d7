//! A real identity provider for end-to-end tests of remote JWKS verification and of token
//! introspection: oidc-provider (Node) issuing RFC 9068 JWT access tokens and opaque ones
//! (introspected per RFC 7662, revoked per RFC 7009) with the client credentials grant, behind a
//! loopback proxy that counts JWKS fetches and introspection requests and can go down, hang or
//! fail on demand.
//!
//! The proxy starts first, because its URL is the provider's issuer: tokens carry it as `iss`
//! and discovery's `jwks_uri` points through it. Then the provider starts with that issuer and
//! the proxy is pointed at it:
//!
//! ```ignore
//! let Some(modules) = idp::node_modules() else { return };
//! let proxy = idp::Proxy::start().await;
//! let provider = idp::Provider::start(&modules, &proxy.url(), "k1").await;
//! proxy.set_upstream(provider.addr());
//! let token = provider.token(idp::RS256).await;
//! ```
//!
//! The resource servers [`RS_BASIC`], [`RS_POST`] and [`RS_JWT`] may introspect any token at
//! [`INTROSPECTION_PATH`]; [`RS_JWT`] exists only when the provider was started with its public
//! keys, [`Provider::start_with`] and `("RS_JWKS", <JWK set JSON>)`.
#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::error::Error;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tower_jwt_auth::{Algorithm, SigningKey};

/// The resource indicator for RS256-signed tokens with audience [`AUDIENCE`], 300 s.
pub const RS256: &str = "urn:api:rs256";
/// The resource indicator for ES256-signed tokens with audience [`AUDIENCE`], 300 s.
pub const ES256: &str = "urn:api:es256";
/// The resource indicator for EdDSA (Ed25519) tokens with audience [`AUDIENCE`], 300 s.
pub const EDDSA: &str = "urn:api:eddsa";
/// The resource indicator for ES256 tokens with audience [`AUDIENCE`] that live 1 s.
pub const SHORT: &str = "urn:api:short";
/// The resource indicator for ES256 tokens with audience [`OTHER_AUDIENCE`], 300 s.
pub const OTHER: &str = "urn:api:other";
/// The resource indicator for opaque tokens with audience [`AUDIENCE`], 300 s: the provider
/// knows them by introspection only.
pub const OPAQUE: &str = "urn:api:opaque";
/// The resource indicator for opaque tokens with audience [`AUDIENCE`] that live 2 s.
pub const OPAQUE_SHORT: &str = "urn:api:opaque-short";
/// The audience of every token but [`OTHER`]'s.
pub const AUDIENCE: &str = "urn:tower-jwt-auth:api";
/// The audience of [`OTHER`]'s tokens.
pub const OTHER_AUDIENCE: &str = "urn:someone-else";
/// The client that gets tokens (and may revoke them), and the `sub` and `client_id` of its
/// tokens (of opaque ones too, at introspection).
pub const CLIENT_ID: &str = "test-client";
/// A resource server that authenticates at introspection with `client_secret_basic`
/// (oidc-provider also takes its secret in the form, `client_secret_post`).
pub const RS_BASIC: &str = "rs-basic";
/// A resource server that authenticates at introspection with `client_secret_post` (oidc-provider
/// also takes its secret in an `Authorization: Basic` header).
pub const RS_POST: &str = "rs-post";
/// A resource server that authenticates at introspection with `private_key_jwt`, with the keys
/// of the provider's `RS_JWKS` (only then does it exist).
pub const RS_JWT: &str = "rs-jwt";
/// The `kid` of [`rs_jwt_key`].
pub const RS_JWT_KID: &str = "rs-jwt-es256";
/// The secret of [`RS_BASIC`] and [`RS_POST`].
pub const RS_SECRET: &str = "rs-secret";
/// The `scope` every token carries.
pub const SCOPE: &str = "read write";
/// The path of the provider's JWKS (oidc-provider's default route), the one [`Proxy`] counts.
pub const JWKS_PATH: &str = "/jwks";
/// The path of the provider's discovery document.
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
/// The path of the provider's token endpoint (oidc-provider's default route).
pub const TOKEN_PATH: &str = "/token";
/// The path of the provider's introspection endpoint (oidc-provider's default route), the
/// other one [`Proxy`] counts and can make fail alone.
pub const INTROSPECTION_PATH: &str = "/token/introspection";
/// The path of the provider's revocation endpoint (oidc-provider's default route).
pub const REVOCATION_PATH: &str = "/token/revocation";

const CLIENT_SECRET: &str = "test-secret";
const STARTUP: Duration = Duration::from_secs(30);
const SHUTDOWN: Duration = Duration::from_secs(10);

type BoxError = Box<dyn Error + Send + Sync>;

/// The directory holding `node_modules/oidc-provider`, from
/// `TOWER_JWT_AUTH_TEST_OIDC_PROVIDER`, or `None` (after printing `skipping: …`) when it is
/// not set.
///
/// # Panics
///
/// When it is not set in CI (`CI` set), or names a directory without oidc-provider.
pub fn node_modules() -> Option<PathBuf> {
    let dir = std::env::var_os("TOWER_JWT_AUTH_TEST_OIDC_PROVIDER").map(PathBuf::from);
    match &dir {
        None => {
            assert!(
                std::env::var_os("CI").is_none(),
                "TOWER_JWT_AUTH_TEST_OIDC_PROVIDER must be set in CI"
            );
            // Straight to stderr: the test harness hides what `println!` prints from a
            // passing test, and a skip must be seen.
            let _ = std::io::Write::write_fmt(
                &mut std::io::stderr(),
                format_args!(
                    "skipping: TOWER_JWT_AUTH_TEST_OIDC_PROVIDER is not set (npm install oidc-provider)\n"
                ),
            );
        }
        Some(dir) => assert!(
            dir.join("node_modules/oidc-provider/package.json")
                .is_file(),
            "TOWER_JWT_AUTH_TEST_OIDC_PROVIDER={} has no node_modules/oidc-provider \
             (npm install --prefix {0} oidc-provider@9)",
            dir.display()
        ),
    }
    dir
}

/// The private key of [`RS_JWT`] (ES256, `tests/data/keys/ec256_private.pem`, kid
/// [`RS_JWT_KID`]): signing needs a crypto backend feature.
///
/// # Panics
///
/// When the key file cannot be read or parsed.
pub fn rs_jwt_key() -> SigningKey {
    SigningKey::ec_pem(Algorithm::ES256, support::data("keys/ec256_private.pem"))
        .unwrap()
        .with_kid(RS_JWT_KID)
}

/// The public JWK set of [`rs_jwt_key`], as JSON: the `RS_JWKS` of [`Provider::start_with`].
///
/// # Panics
///
/// As [`rs_jwt_key`].
pub fn rs_jwks() -> String {
    serde_json::json!({ "keys": [rs_jwt_key().public_jwk().unwrap()] }).to_string()
}

/// oidc-provider running `tests/idp/provider.mjs` on 127.0.0.1 and a port of its own.
///
/// Its signing keys (RS256, ES256, EdDSA) are new at every start, with kids
/// `{kid_prefix}-rs256`, `-es256` and `-eddsa`: a restart with another prefix behind the same
/// [`Proxy`] is a key rotation. Its opaque tokens live in its memory: a restart forgets them
/// (they introspect inactive). The process is killed when this is dropped, and exits by
/// itself when its stdin closes.
#[derive(Debug)]
pub struct Provider {
    child: Child,
    stdin: Option<ChildStdin>,
    addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
}

impl Provider {
    /// Starts the provider with issuer `issuer` and kids prefixed by `kid_prefix`, resolving
    /// oidc-provider from `modules/node_modules`, and waits (30 s at most) until it listens.
    ///
    /// # Panics
    ///
    /// When `node` cannot run, or the provider exits or stays silent instead of listening.
    pub async fn start(modules: &Path, issuer: &str, kid_prefix: &str) -> Provider {
        Provider::start_with(modules, issuer, kid_prefix, &[]).await
    }

    /// [`Provider::start`] with more of `provider.mjs`'s environment: `RESOURCE_URL` (one more
    /// resource indicator, issuing opaque tokens with that URL as audience, 300 s) and
    /// `RS_JWKS` (the public JWK set of [`RS_JWT`], as JSON).
    ///
    /// # Panics
    ///
    /// As [`Provider::start`].
    pub async fn start_with(
        modules: &Path,
        issuer: &str,
        kid_prefix: &str,
        env: &[(&str, &str)],
    ) -> Provider {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/idp/provider.mjs");
        // An ES module resolves bare names from its own location, never from NODE_PATH: the
        // script resolves oidc-provider from its working directory instead.
        let mut child = Command::new("node")
            .arg(&script)
            .current_dir(modules)
            .env("ISSUER", issuer)
            .env("KID_PREFIX", kid_prefix)
            .env_remove("RESOURCE_URL")
            .env_remove("RS_JWKS")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `node {}`: {e}", script.display()));
        let stderr = Arc::new(Mutex::new(String::new()));
        drain(child.stderr.take().unwrap(), Some(Arc::clone(&stderr)));
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let port = tokio::time::timeout(STARTUP, async {
            while let Some(line) = stdout.next_line().await.ok().flatten() {
                if let Some(port) = serde_json::from_str::<Value>(&line)
                    .ok()
                    .and_then(|v| v["port"].as_u64())
                {
                    return Some(u16::try_from(port).unwrap());
                }
            }
            None
        })
        .await;
        let port = match port {
            Ok(Some(port)) => port,
            Ok(None) => {
                let status = child.wait().await.ok();
                panic!(
                    "the provider exited ({status:?}) before listening:\n{}",
                    stderr.lock().unwrap()
                );
            }
            Err(_) => panic!(
                "the provider did not listen within {STARTUP:?}:\n{}",
                stderr.lock().unwrap()
            ),
        };
        drain(stdout.into_inner().into_inner(), None);
        Provider {
            stdin: child.stdin.take(),
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            stderr,
        }
    }

    /// The provider's own address (not the proxy's).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// An access token for `resource` (one of [`RS256`], [`ES256`], [`EDDSA`], [`SHORT`],
    /// [`OTHER`], or of the opaque ones, [`OPAQUE`], [`OPAQUE_SHORT`] and the `RESOURCE_URL`)
    /// from the client credentials grant with `scope=read write`, asked of the provider directly
    /// at the token endpoint its discovery document names.
    ///
    /// # Panics
    ///
    /// When the provider does not answer 200 with an `access_token`.
    pub async fn token(&self, resource: &str) -> String {
        let body = self.token_response(resource, None).await;
        body["access_token"]
            .as_str()
            .expect("the token response has an access_token")
            .to_owned()
    }

    /// An opaque access token for `resource` ([`OPAQUE`], [`OPAQUE_SHORT`] or the
    /// `RESOURCE_URL`), as [`Provider::token`] gets it.
    ///
    /// # Panics
    ///
    /// As [`Provider::token`], and when the token is a JWT.
    pub async fn opaque_token(&self, resource: &str) -> String {
        let token = self.token(resource).await;
        assert!(
            !token.contains('.'),
            "{resource} issued a JWT, not an opaque token"
        );
        token
    }

    /// Revokes `token` as [`CLIENT_ID`] (RFC 7009), asked of the provider directly: an opaque
    /// token introspects inactive afterwards. The provider refuses to revoke a JWT.
    ///
    /// # Panics
    ///
    /// When the provider does not answer 200.
    pub async fn revoke(&self, token: &str) {
        let form = format!("token={}&token_type_hint=access_token", form_encode(token));
        let (status, body) = self.post_as_client(REVOCATION_PATH, form, None).await;
        assert_eq!(status, 200, "revocation: {body}");
    }

    /// The whole token response of the client credentials grant for `resource`, with a
    /// `DPoP` proof header when one is given (for [`Provider::token_endpoint`], `POST`): the
    /// provider then binds the token to the proof's key (`cnf.jkt`, `token_type` `DPoP`).
    ///
    /// # Panics
    ///
    /// When the provider does not answer 200 with JSON.
    pub async fn token_response(&self, resource: &str, dpop: Option<&str>) -> Value {
        let endpoint = self.token_endpoint().await;
        let path = endpoint
            .parse::<http::Uri>()
            .expect("token_endpoint is a URL")
            .path_and_query()
            .map_or_else(|| "/".to_owned(), ToString::to_string);
        let form = format!(
            "grant_type=client_credentials&scope={}&resource={}",
            form_encode(SCOPE),
            form_encode(resource)
        );
        let (status, body) = self.post_as_client(&path, form, dpop).await;
        assert_eq!(status, 200, "token for {resource}: {body}");
        serde_json::from_str(&body).expect("a JSON token response")
    }

    /// POSTs `form` to `path` of the provider directly, authenticated as [`CLIENT_ID`]
    /// (`client_secret_basic`), with a `DPoP` header if given.
    async fn post_as_client(&self, path: &str, form: String, dpop: Option<&str>) -> (u16, String) {
        let basic = STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
        let mut request = Request::post(path)
            .header("host", self.addr.to_string())
            .header("authorization", format!("Basic {basic}"))
            .header("content-type", "application/x-www-form-urlencoded");
        if let Some(proof) = dpop {
            request = request.header("dpop", proof);
        }
        let request = request.body(Full::new(Bytes::from(form))).unwrap();
        send(self.addr, request)
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    /// The token endpoint its discovery document names (asked directly: the provider's own
    /// address), the `htu` of a proof for it.
    pub async fn token_endpoint(&self) -> String {
        self.discovery().await["token_endpoint"]
            .as_str()
            .expect("discovery has a token_endpoint")
            .to_owned()
    }

    /// The discovery document, asked of the provider directly (so its URLs name the
    /// provider's own address, except `issuer`).
    pub async fn discovery(&self) -> Value {
        let (status, body) = get(&format!("http://{}{DISCOVERY_PATH}", self.addr)).await;
        assert_eq!(status, 200, "discovery: {body}");
        serde_json::from_str(&body).expect("discovery is JSON")
    }

    /// What the provider printed to stderr so far (oidc-provider's notices).
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Stops the provider by closing its stdin and waits for it to exit.
    ///
    /// # Panics
    ///
    /// When it does not exit with status 0 within 10 s (it is killed then).
    pub async fn stop(mut self) {
        drop(self.stdin.take());
        let status: Option<ExitStatus> = tokio::time::timeout(SHUTDOWN, self.child.wait())
            .await
            .ok()
            .and_then(Result::ok);
        if status.is_none() {
            let _ = self.child.kill().await;
        }
        assert!(
            status.is_some_and(|s| s.success()),
            "the provider did not exit cleanly on stdin close ({status:?}):\n{}",
            self.stderr()
        );
    }
}

/// Reads `from` to its end, keeping the text in `into` if given.
fn drain(from: impl AsyncRead + Unpin + Send + 'static, into: Option<Arc<Mutex<String>>>) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(from).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(into) = &into {
                let mut into = into.lock().unwrap();
                into.push_str(&line);
                into.push('\n');
            }
        }
    });
}

/// `application/x-www-form-urlencoded` for one value.
pub fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// What the [`Proxy`] does with a request: with every request ([`Proxy::set_mode`]), or
/// with those to [`INTROSPECTION_PATH`] alone ([`Proxy::set_introspection_mode`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Forward it upstream (502 if no upstream is set or it cannot be reached).
    Forward,
    /// Close the connection without an answer: new connections at once, requests on
    /// connections already open as they arrive. For the introspection path alone, its
    /// requests are read, then their connections closed.
    Down,
    /// Read the request and answer nothing, holding the connection open until the mode
    /// changes (then the request is handled as the new mode says), the client gives up, or
    /// the proxy is dropped.
    Hang,
    /// Answer 500 with an empty body, without forwarding.
    ServerError,
}

#[derive(Debug)]
struct Shared {
    upstream: Mutex<Option<SocketAddr>>,
    mode: watch::Sender<Mode>,
    introspection_mode: watch::Sender<Mode>,
    requests: AtomicUsize,
    jwks_requests: AtomicUsize,
    introspection_requests: AtomicUsize,
    held: AtomicUsize,
}

/// A loopback HTTP/1 forwarding proxy in front of a [`Provider`], counting requests (and
/// JWKS fetches and introspection requests among them). It keeps the `Host` header, so the provider's URLs in answers
/// that pass through it name the proxy. All its tasks stop when it is dropped.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Binds 127.0.0.1 port 0 and serves in [`Mode::Forward`], with no upstream yet.
    pub async fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            upstream: Mutex::new(None),
            mode: watch::Sender::new(Mode::Forward),
            introspection_mode: watch::Sender::new(Mode::Forward),
            requests: AtomicUsize::new(0),
            jwks_requests: AtomicUsize::new(0),
            introspection_requests: AtomicUsize::new(0),
            held: AtomicUsize::new(0),
        });
        let task = tokio::spawn(accept(listener, Arc::clone(&shared)));
        Proxy { addr, shared, task }
    }

    /// `http://127.0.0.1:PORT`, the issuer to give the provider.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Where to forward to (the provider's [`Provider::addr`]); may change any time, e.g. to a
    /// restarted provider.
    pub fn set_upstream(&self, addr: SocketAddr) {
        *self.shared.upstream.lock().unwrap() = Some(addr);
    }

    /// Switches what happens to the next requests, and to those held by [`Mode::Hang`].
    pub fn set_mode(&self, mode: Mode) {
        self.shared.mode.send_replace(mode);
    }

    /// Switches what happens to the next requests to [`INTROSPECTION_PATH`], and to those
    /// held by [`Mode::Hang`] there, while other paths keep following [`Proxy::set_mode`]
    /// (which an introspection request obeys first).
    pub fn set_introspection_mode(&self, mode: Mode) {
        self.shared.introspection_mode.send_replace(mode);
    }

    /// Requests read so far whose path is [`JWKS_PATH`], whatever became of them.
    pub fn jwks_requests(&self) -> usize {
        self.shared.jwks_requests.load(Ordering::SeqCst)
    }

    /// Requests read so far whose path is [`INTROSPECTION_PATH`], whatever became of them.
    pub fn introspection_requests(&self) -> usize {
        self.shared.introspection_requests.load(Ordering::SeqCst)
    }

    /// Requests read so far, whatever became of them ([`Mode::Down`] closes new connections
    /// before reading any).
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Requests being held by [`Mode::Hang`] right now (one per connection), by either mode.
    pub fn held(&self) -> usize {
        self.shared.held.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // Dropping the accept task drops its JoinSet, which aborts every connection.
        self.task.abort();
    }
}

async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                if *shared.mode.borrow() == Mode::Down {
                    drop(stream);
                    continue;
                }
                let shared = Arc::clone(&shared);
                connections.spawn(async move {
                    let service = service_fn(move |request| handle(Arc::clone(&shared), request));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next() => {}
        }
    }
}

/// Counts the request, then acts on the mode, and on the introspection mode for the
/// introspection path; an error makes hyper close the connection without an answer.
async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<BoxBody<Bytes, hyper::Error>>, BoxError> {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let path = request.uri().path();
    if path == JWKS_PATH {
        shared.jwks_requests.fetch_add(1, Ordering::SeqCst);
    }
    let introspection = path == INTROSPECTION_PATH;
    if introspection {
        shared.introspection_requests.fetch_add(1, Ordering::SeqCst);
    }
    if let Some(response) = act_on(&shared.mode, &shared.held).await? {
        return Ok(response);
    }
    if introspection
        && let Some(response) = act_on(&shared.introspection_mode, &shared.held).await?
    {
        return Ok(response);
    }
    let upstream = *shared.upstream.lock().unwrap();
    let forwarded = match upstream {
        Some(upstream) => send_streaming(upstream, request).await.ok(),
        None => None,
    };
    Ok(forwarded.unwrap_or_else(|| status_only(StatusCode::BAD_GATEWAY)))
}

/// What `mode` says of one request, once it is no longer [`Mode::Hang`]: go on (`None`), an
/// answer of its own, or an error for [`Mode::Down`].
async fn act_on(
    mode: &watch::Sender<Mode>,
    held: &AtomicUsize,
) -> Result<Option<Response<BoxBody<Bytes, hyper::Error>>>, BoxError> {
    let mut mode = mode.subscribe();
    if *mode.borrow_and_update() == Mode::Hang {
        // Dropped with this future too, when the client closes or the proxy is dropped.
        let _held = Held::new(held);
        let _ = mode.wait_for(|mode| *mode != Mode::Hang).await;
    }
    let mode = *mode.borrow();
    match mode {
        Mode::Down => Err("the proxy is down".into()),
        Mode::ServerError => Ok(Some(status_only(StatusCode::INTERNAL_SERVER_ERROR))),
        Mode::Forward | Mode::Hang => Ok(None),
    }
}

/// An answer with `status` and an empty body.
fn status_only(status: StatusCode) -> Response<BoxBody<Bytes, hyper::Error>> {
    let mut response = Response::new(empty());
    *response.status_mut() = status;
    response
}

/// One count in [`Shared::held`] for as long as it lives.
struct Held<'a>(&'a AtomicUsize);

impl<'a> Held<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Held(count)
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn empty() -> BoxBody<Bytes, hyper::Error> {
    Empty::new()
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// Forwards `request` to `upstream` over a fresh connection, streaming both bodies.
async fn send_streaming(
    upstream: SocketAddr,
    request: Request<Incoming>,
) -> Result<Response<BoxBody<Bytes, hyper::Error>>, BoxError> {
    let stream = TcpStream::connect(upstream).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let response = sender.send_request(request).await?;
    Ok(response.map(BodyExt::boxed))
}

/// Sends `request` over a fresh HTTP/1 connection to `addr`: the status and the body.
async fn send(addr: SocketAddr, request: Request<Full<Bytes>>) -> Result<(u16, String), BoxError> {
    let stream = TcpStream::connect(addr).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// GET `url` (`http://127.0.0.1:PORT/path`) over a fresh connection: the status and body, or
/// the error when there is no answer (a proxy [`Mode::Down`]). No timeout of its own: wrap it
/// in `tokio::time::timeout`.
///
/// # Errors
///
/// When the connection cannot be made or closes without an answer.
pub async fn try_get(url: &str) -> Result<(u16, String), BoxError> {
    request_to(http::Method::GET, url, &[], Bytes::new()).await
}

/// POST `form` (`application/x-www-form-urlencoded`, see [`form_encode`]) to `url`
/// (`http://127.0.0.1:PORT/path`) with `headers` over a fresh connection: the status and
/// body, or the error when there is no answer. No timeout of its own, as [`try_get`].
///
/// # Errors
///
/// As [`try_get`].
pub async fn try_post_form(
    url: &str,
    headers: &[(&str, &str)],
    form: &str,
) -> Result<(u16, String), BoxError> {
    let mut all = vec![("content-type", "application/x-www-form-urlencoded")];
    all.extend_from_slice(headers);
    request_to(
        http::Method::POST,
        url,
        &all,
        Bytes::copy_from_slice(form.as_bytes()),
    )
    .await
}

/// One request to `url` over a fresh connection, with `Host` set from it.
async fn request_to(
    method: http::Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> Result<(u16, String), BoxError> {
    let uri: http::Uri = url.parse()?;
    let authority = uri.authority().ok_or("the URL has no host")?.as_str();
    let addr: SocketAddr = authority.parse()?;
    let path = uri
        .path_and_query()
        .map_or_else(|| "/".to_owned(), ToString::to_string);
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", authority);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send(addr, request.body(Full::new(body))?).await
}

/// GET `url` (`http://127.0.0.1:PORT/path`): the status and the body.
///
/// # Panics
///
/// When there is no answer; use [`try_get`] to see that as an error.
pub async fn get(url: &str) -> (u16, String) {
    try_get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}
