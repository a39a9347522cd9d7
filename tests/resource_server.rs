//! The resource-server example as a real process: against a real identity provider
//! (oidc-provider behind the loopback proxy of `tests/idp`) it serves `/health`, answers `/me`
//! with the verified claims of the provider's tokens and of the tutorial's own HS256 tokens,
//! refuses the rest per RFC 6750, and stops gracefully on SIGTERM; with bad configuration or an
//! unreachable issuer it refuses to start. The provider tests skip without
//! `TOWER_JWT_AUTH_TEST_OIDC_PROVIDER` (never in CI); the start-up tests need no provider.

mod idp;

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use serde_json::json;
use support::{APP_SECRET, Answer, send_http};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tower_jwt_auth::{Algorithm, SigningKey};

/// How long the server may take to print a line or to exit.
const DEADLINE: Duration = Duration::from_secs(30);

/// The example binary next to this test's: `cargo test --all-features` builds it.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test>-<hash> → target/<profile>/examples/resource_server
    let profile = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let binary = profile
        .join("examples")
        .join(format!("resource_server{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.exists(),
        "{} is missing: `cargo test --all-features` builds it",
        binary.display()
    );
    binary
}

/// The example as a child process, killed when dropped, and the lines it prints.
struct Server {
    child: Child,
    lines: mpsc::UnboundedReceiver<String>,
    seen: Vec<String>,
}

impl Server {
    /// Starts the example with only `envs` of its configuration set, on port 0.
    fn spawn(envs: &[(&str, &str)]) -> Server {
        let mut command = Command::new(example_binary());
        for name in [
            "ISSUER_URL",
            "JWKS_URL",
            "ISSUER",
            "AUDIENCE",
            "CLIENT_ID",
            "APP_SECRET_STRING",
            "REQUIRED_SCOPE",
            "LAZY_KEYS",
            "HOST",
            "RESOURCE_URL",
            "INTROSPECTION_URL",
            "CLIENT_SECRET",
        ] {
            command.env_remove(name);
        }
        command
            .env("RUST_LOG", "info,tower_jwt_auth=debug")
            .env("PORT", "0")
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().unwrap();
        let (tx, lines) = mpsc::unbounded_channel();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        for stream in [
            Box::new(stdout) as Box<dyn tokio::io::AsyncRead + Send + Unpin>,
            Box::new(stderr),
        ] {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let _ = tx.send(line);
                }
            });
        }
        Server {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The first line (from now) containing `needle`.
    async fn wait_for(&mut self, needle: &str) -> String {
        let found = tokio::time::timeout(DEADLINE, async {
            while let Some(line) = self.lines.recv().await {
                self.seen.push(line.clone());
                if line.contains(needle) {
                    return Some(line);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(line)) => line,
            _ => panic!("no line containing {needle:?}; saw: {:#?}", self.seen),
        }
    }

    /// The address of `listening on http://ADDR`.
    async fn addr(&mut self) -> String {
        let line = self.wait_for("listening on http://").await;
        line.rsplit("http://").next().unwrap().trim().to_owned()
    }

    /// Waits for the process to exit, then for the rest of its output.
    async fn exit(&mut self) -> ExitStatus {
        let status = tokio::time::timeout(DEADLINE, self.child.wait())
            .await
            .expect("the server exits within 30 s")
            .unwrap();
        // Both pipes close at exit: the channel ends once both readers are done.
        while let Ok(Some(line)) = tokio::time::timeout(DEADLINE, self.lines.recv()).await {
            self.seen.push(line);
        }
        status
    }

    /// Everything printed so far, one line each.
    fn output(&self) -> String {
        self.seen.join("\n")
    }

    /// SIGTERM, as a supervisor stops it.
    #[cfg(unix)]
    fn terminate(&self) {
        let pid = self.child.id().expect("still running").to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

/// `GET path` on `addr` with `token` as bearer token, if any, over a fresh connection.
async fn get(addr: &str, path: &str, token: Option<&str>) -> Answer {
    let bearer = token.map(|token| format!("Bearer {token}"));
    let headers: Vec<(&str, &str)> = bearer
        .iter()
        .map(|value| ("authorization", value.as_str()))
        .collect();
    send_http(addr.parse().unwrap(), "GET", path, &headers, None)
        .await
        .unwrap()
}

/// An access token of the tutorial's app: HS256 with `secret`, `scope` = `access_token`.
fn tutorial_token(secret: &str, sub: &str) -> String {
    let now = jsonwebtoken::get_current_timestamp();
    SigningKey::hmac(Algorithm::HS256, secret)
        .unwrap()
        .sign(&json!({ "sub": sub, "exp": now + 300, "iat": now, "scope": "access_token" }))
        .unwrap()
}

/// A loopback port nothing listens on.
async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

#[cfg(unix)]
#[tokio::test]
async fn provider_and_tutorial_tokens_reach_me_and_the_rest_is_refused_per_rfc_6750() {
    let Some(modules) = idp::node_modules() else {
        return;
    };
    let proxy = idp::Proxy::start().await;
    let provider = idp::Provider::start(&modules, &proxy.url(), "rs").await;
    proxy.set_upstream(provider.addr());

    let mut server = Server::spawn(&[
        ("ISSUER_URL", &proxy.url()),
        ("AUDIENCE", idp::AUDIENCE),
        ("APP_SECRET_STRING", APP_SECRET),
    ]);
    let addr = server.addr().await;
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    // Eager mode: the keys were fetched before the server listened.
    assert!(proxy.jwks_requests() >= 1);

    let health = get(&addr, "/health", None).await;
    assert_eq!((health.status.as_u16(), health.text.as_str()), (200, "ok"));

    let anonymous = get(&addr, "/me", None).await;
    assert_eq!(anonymous.status, 401, "{anonymous:?}");
    // RFC 9728 §5.1: the challenge names the resource's metadata document.
    let metadata_url = format!("http://{addr}/.well-known/oauth-protected-resource");
    assert_eq!(
        anonymous.challenge(),
        Some(format!(r#"Bearer resource_metadata="{metadata_url}""#).as_str())
    );
    let metadata = get(&addr, "/.well-known/oauth-protected-resource", None).await;
    assert_eq!(metadata.status, 200, "{metadata:?}");
    assert_eq!(
        metadata.body,
        json!({
            "resource": format!("http://{addr}"),
            "authorization_servers": [proxy.url()],
            "bearer_methods_supported": ["header"],
        })
    );

    let token = provider.token(idp::RS256).await;
    let me = get(&addr, "/me", Some(&token)).await;
    assert_eq!(me.status, 200, "{me:?}");
    let claims = me.body;
    assert_eq!(claims["sub"], idp::CLIENT_ID);
    assert_eq!(claims["iss"], proxy.url());
    assert_eq!(claims["scope"], idp::SCOPE);
    // Every claim is kept, not only those `Claims` names.
    assert_eq!(claims["client_id"], idp::CLIENT_ID);

    let tutorial = get(&addr, "/me", Some(&tutorial_token(APP_SECRET, "alice"))).await;
    assert_eq!(tutorial.status, 200, "{tutorial:?}");
    assert_eq!(tutorial.body["sub"], "alice");
    assert_eq!(tutorial.body["scope"], "access_token");

    let other_audience = provider.token(idp::OTHER).await;
    for (what, token) in [
        ("a token for another audience", other_audience),
        (
            "a tutorial token with another secret",
            tutorial_token("another-secret-that-is-also-32-bytes-long", "mallory"),
        ),
    ] {
        let refused = get(&addr, "/me", Some(&token)).await;
        assert_eq!(refused.status, 401, "{what}: {refused:?}");
        assert!(
            refused
                .challenge()
                .is_some_and(|c| c.starts_with("Bearer") && c.contains("invalid_token")),
            "{what}: {refused:?}"
        );
    }

    server.terminate();
    server.wait_for("shutting down").await;
    assert!(server.exit().await.success(), "{}", server.output());
    provider.stop().await;
}

#[tokio::test]
async fn a_provider_token_without_the_required_scope_is_refused_with_insufficient_scope() {
    let Some(modules) = idp::node_modules() else {
        return;
    };
    let proxy = idp::Proxy::start().await;
    let provider = idp::Provider::start(&modules, &proxy.url(), "scope").await;
    proxy.set_upstream(provider.addr());

    let mut server = Server::spawn(&[
        ("ISSUER_URL", &proxy.url()),
        ("AUDIENCE", idp::AUDIENCE),
        ("APP_SECRET_STRING", APP_SECRET),
        ("REQUIRED_SCOPE", "read admin"),
    ]);
    let addr = server.addr().await;

    let token = provider.token(idp::ES256).await;
    let refused = get(&addr, "/me", Some(&token)).await;
    assert_eq!(refused.status, 403, "{refused:?}");
    assert_eq!(
        refused.challenge(),
        Some(
            format!(
                r#"Bearer error="insufficient_scope", scope="read admin", resource_metadata="http://{addr}/.well-known/oauth-protected-resource""#
            )
            .as_str()
        )
    );
    // A 401 names the scopes too (RFC 6750 §3), and the metadata lists them.
    let anonymous = get(&addr, "/me", None).await;
    assert!(
        anonymous
            .challenge()
            .is_some_and(|c| c.starts_with(r#"Bearer scope="read admin", resource_metadata=""#)),
        "{anonymous:?}"
    );
    let metadata = get(&addr, "/.well-known/oauth-protected-resource", None).await;
    assert_eq!(metadata.body["scopes_supported"], json!(["read", "admin"]));
    // The tutorial's tokens carry no OAuth scopes and are not subject to REQUIRED_SCOPE.
    let tutorial = get(&addr, "/me", Some(&tutorial_token(APP_SECRET, "alice"))).await;
    assert_eq!(tutorial.status, 200, "{tutorial:?}");

    drop(server);
    provider.stop().await;
}

#[tokio::test]
async fn a_missing_audience_stops_the_server_at_start_with_a_message_naming_it() {
    let issuer = format!("http://127.0.0.1:{}", closed_port().await);
    let mut server = Server::spawn(&[("ISSUER_URL", &issuer)]);
    let status = server.exit().await;
    assert!(!status.success(), "{status:?}: {}", server.output());
    let output = server.output();
    assert!(output.contains("AUDIENCE is not set"), "{output}");
    assert!(!output.contains("panicked"), "{output}");
}

#[tokio::test]
async fn a_weak_app_secret_stops_the_server_at_start() {
    let mut server = Server::spawn(&[
        ("ISSUER_URL", "https://login.example.com"),
        ("AUDIENCE", "my-api"),
        ("APP_SECRET_STRING", "short"),
    ]);
    assert!(!server.exit().await.success());
    let output = server.output();
    assert!(
        output.contains("APP_SECRET_STRING is 5 bytes; it must be at least 32"),
        "{output}"
    );
}

#[tokio::test]
async fn an_unreachable_issuer_stops_the_server_at_start_unless_lazy_keys() {
    let issuer = format!("http://127.0.0.1:{}", closed_port().await);
    let mut server = Server::spawn(&[("ISSUER_URL", &issuer), ("AUDIENCE", "my-api")]);
    let status = server.exit().await;
    assert!(!status.success(), "{status:?}: {}", server.output());
    let output = server.output();
    assert!(
        output.contains(&format!(
            "the keys of the issuer {issuer} could not be fetched"
        )) && output.contains("LAZY_KEYS=1"),
        "{output}"
    );
    assert!(!output.contains("listening on"), "{output}");
    assert!(!output.contains("panicked"), "{output}");
}

#[cfg(unix)]
#[tokio::test]
async fn with_lazy_keys_an_unreachable_issuer_starts_refuses_tokens_and_stops_on_sigterm() {
    let issuer = format!("http://127.0.0.1:{}", closed_port().await);
    let mut server = Server::spawn(&[
        ("ISSUER_URL", &issuer),
        ("AUDIENCE", "my-api"),
        ("LAZY_KEYS", "1"),
    ]);
    let addr = server.addr().await;

    let health = get(&addr, "/health", None).await;
    assert_eq!((health.status.as_u16(), health.text.as_str()), (200, "ok"));
    let anonymous = get(&addr, "/me", None).await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(
        anonymous.challenge(),
        Some(
            format!(
                r#"Bearer resource_metadata="http://{addr}/.well-known/oauth-protected-resource""#
            )
            .as_str()
        )
    );
    // Without APP_SECRET_STRING the tutorial's tokens are foreign too.
    let tutorial = get(&addr, "/me", Some(&tutorial_token(APP_SECRET, "alice"))).await;
    assert_eq!(tutorial.status, 401, "{tutorial:?}");
    assert!(
        tutorial
            .challenge()
            .is_some_and(|c| c.contains("invalid_token")),
        "{tutorial:?}"
    );

    server.terminate();
    server.wait_for("shutting down").await;
    assert!(server.exit().await.success(), "{}", server.output());
    // Its stdout is a pipe, not a terminal: no colour codes.
    assert!(!server.output().contains('\u{1b}'), "{}", server.output());
}

/// A free loopback port, for a server whose resource URL must be known before it starts.
async fn free_port() -> u16 {
    closed_port().await
}

/// The MCP-style client of `tests/idp/discovery_walk.mjs`, run with Node against `url`.
async fn discovery_walk(url: &str, client_id: &str, secret: &str) -> std::process::Output {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/idp/discovery_walk.mjs");
    tokio::time::timeout(
        DEADLINE,
        Command::new("node")
            .args([script, url, client_id, secret])
            .stdin(Stdio::null())
            .output(),
    )
    .await
    .expect("the discovery walk finished in time")
    .expect("node runs")
}

/// The server with introspection at the provider (through the proxy) as `rs-basic`, on
/// `port`, its resource URL `http://127.0.0.1:port`.
fn introspecting_server(proxy: &idp::Proxy, port: u16, secret: &str) -> Server {
    let resource = format!("http://127.0.0.1:{port}");
    Server::spawn(&[
        ("ISSUER_URL", &proxy.url()),
        ("RESOURCE_URL", &resource),
        (
            "INTROSPECTION_URL",
            &format!("{}{}", proxy.url(), idp::INTROSPECTION_PATH),
        ),
        ("CLIENT_ID", idp::RS_BASIC),
        ("CLIENT_SECRET", secret),
        ("PORT", &port.to_string()),
    ])
}

#[cfg(unix)]
#[tokio::test]
async fn an_mcp_style_client_discovers_the_provider_gets_an_opaque_token_and_is_served() {
    let Some(modules) = idp::node_modules() else {
        return;
    };
    let port = free_port().await;
    let resource = format!("http://127.0.0.1:{port}");
    let proxy = idp::Proxy::start().await;
    let provider = idp::Provider::start_with(
        &modules,
        &proxy.url(),
        "mcp",
        &[("RESOURCE_URL", resource.as_str())],
    )
    .await;
    proxy.set_upstream(provider.addr());
    let mut server = introspecting_server(&proxy, port, idp::RS_SECRET);
    let addr = server.addr().await;
    assert_eq!(addr, format!("127.0.0.1:{port}"));
    let checks = proxy.introspection_requests();
    assert_eq!(checks, 1, "the credentials are tried once at start");

    // 401 → metadata → authorization server metadata → token (resource indicator) → 200,
    // by a client that knows nothing but the URL and its own credentials.
    let walk = discovery_walk(&format!("{resource}/me"), idp::CLIENT_ID, "test-secret").await;
    let stdout = String::from_utf8_lossy(&walk.stdout);
    if !walk.status.success() {
        server.terminate();
        server.wait_for("shutting down").await;
        panic!(
            "{stdout}\n{}\n{}",
            String::from_utf8_lossy(&walk.stderr),
            server.output()
        );
    }
    for step in ["challenge", "metadata", "as", "token", "call"] {
        assert!(
            stdout.contains(&format!(r#""step":"{step}""#)),
            "{step}: {stdout}"
        );
    }
    assert_eq!(
        proxy.introspection_requests(),
        checks + 1,
        "one call for the new token"
    );

    // The opaque token's claims reach /me; a second call is answered from the kept answer.
    let token = provider.opaque_token(&resource).await;
    let me = get(&addr, "/me", Some(&token)).await;
    assert_eq!(me.status, 200, "{me:?}");
    assert_eq!(me.body["aud"], resource);
    assert_eq!(me.body["client_id"], idp::CLIENT_ID);
    let again = get(&addr, "/me", Some(&token)).await;
    assert_eq!(again.status, 200, "{again:?}");
    assert_eq!(proxy.introspection_requests(), checks + 2);

    // A token for another resource is active, but not for this one: 401.
    let elsewhere = provider.opaque_token(idp::OPAQUE).await;
    let refused = get(&addr, "/me", Some(&elsewhere)).await;
    assert_eq!(refused.status, 401, "{refused:?}");
    // The introspection endpoint down: 503 with Retry-After, never a pass or a 401.
    proxy.set_introspection_mode(idp::Mode::ServerError);
    let fresh = provider.opaque_token(&resource).await;
    let unavailable = get(&addr, "/me", Some(&fresh)).await;
    assert_eq!(unavailable.status, 503, "{unavailable:?}");
    assert_eq!(unavailable.header("retry-after"), Some("1"));

    server.terminate();
    server.wait_for("shutting down").await;
    assert!(server.exit().await.success(), "{}", server.output());
    provider.stop().await;
}

#[cfg(unix)]
#[tokio::test]
async fn a_wrong_introspection_secret_stops_the_server_at_start() {
    let Some(modules) = idp::node_modules() else {
        return;
    };
    let proxy = idp::Proxy::start().await;
    let provider = idp::Provider::start(&modules, &proxy.url(), "bad").await;
    proxy.set_upstream(provider.addr());
    let mut server = introspecting_server(&proxy, 0, "not-the-secret");
    let status = server.exit().await;
    assert!(!status.success());
    let output = server.output();
    assert!(
        output.contains("refused the client's credentials") && output.contains("CLIENT_SECRET"),
        "{output}"
    );
    provider.stop().await;
}
