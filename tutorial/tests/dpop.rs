//! DPoP on the tutorial's server: `/login` and the refreshes bind tokens to the key of a
//! proof that comes along, `/secret` takes them with fresh proofs (and unbound bearer tokens
//! as before), proofs name `PUBLIC_URL`, and the tutorial README's Python script works as written.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use support::{APP_SECRET, Answer, DpopClient, creds, send_http, vars};
use tokio::sync::oneshot;
use tower_jwt_auth::store::MemoryStore;

const SECRET_DATA: &str = "Top Secret data only authorized users can access this info";

/// The app on 127.0.0.1 and a port of its own, with `PUBLIC_URL` as given (else the
/// default); it stops when the sender is dropped.
struct Server {
    addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

impl Server {
    async fn start(public_url: Option<&str>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut settings = vec![("APP_SECRET_STRING", APP_SECRET), ("BCRYPT_COST", "4")];
        if let Some(url) = public_url {
            settings.push(("PUBLIC_URL", url));
        }
        let mut config = tutorial::config_from(vars(&settings)).unwrap();
        config.addr = listener.local_addr().unwrap();
        let app = tutorial::app(MemoryStore::new(), &config).unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            tutorial::serving::serve(listener, app, &Default::default(), async {
                let _ = stopped.await;
            })
            .await;
        });
        Self {
            addr: config.addr,
            _stop: stop,
        }
    }

    async fn post(&self, path: &str, headers: &[(&str, &str)], body: Option<&Value>) -> Answer {
        send_http(self.addr, "POST", path, headers, body)
            .await
            .unwrap()
    }

    async fn signup(&self) {
        let answer = self
            .post("/signup", &[], Some(&creds("alice", "correct horse")))
            .await;
        assert_eq!(answer.status, 201, "{answer:?}");
    }

    /// `POST /secret` with `Authorization: DPoP <access>` and a fresh proof by `client` for
    /// `url`.
    async fn secret_with_dpop(&self, access: &str, client: &DpopClient, url: &str) -> Answer {
        let proof = client.proof("POST", url, Some(access));
        let authorization = format!("DPoP {access}");
        self.post(
            "/secret",
            &[("authorization", &authorization), ("dpop", &proof)],
            None,
        )
        .await
    }

    async fn secret_with_bearer(&self, access: &str) -> Answer {
        let authorization = format!("Bearer {access}");
        self.post("/secret", &[("authorization", &authorization)], None)
            .await
    }

    async fn login(&self, headers: &[(&str, &str)]) -> Answer {
        self.post("/login", headers, Some(&creds("alice", "correct horse")))
            .await
    }
}

fn assert_invalid_proof(answer: &Answer) {
    assert_eq!(answer.status, 401, "{answer:?}");
    assert_eq!(
        answer.challenge(),
        Some("DPoP error=\"invalid_dpop_proof\", algs=\"ES256 ES384 EdDSA PS256 RS256\""),
        "{answer:?}"
    );
    assert_eq!(answer.body, json!({ "detail": "Invalid DPoP proof" }));
}

#[tokio::test]
async fn secret_takes_bound_tokens_with_proofs_and_unbound_bearer_tokens() {
    let server = Server::start(None).await;
    let base = format!("http://{}", server.addr);
    server.signup().await;
    let client = DpopClient::es256();

    let login_proof = client.proof("POST", &format!("{base}/login"), None);
    let login = server.login(&[("dpop", &login_proof)]).await;
    assert_eq!(
        (login.status.as_u16(), &login.body["token_type"]),
        (200, &json!("DPoP"))
    );
    let access = login.body["access_token"].as_str().unwrap();
    let secret = format!("{base}/secret");
    let answer = server.secret_with_dpop(access, &client, &secret).await;
    assert_eq!(answer.pair(), (http::StatusCode::OK, json!(SECRET_DATA)));
    let answer = server.secret_with_bearer(access).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.body, json!({ "detail": "Invalid token" }));
    let other = DpopClient::eddsa();
    assert_invalid_proof(&server.secret_with_dpop(access, &other, &secret).await);

    // A refresh of the bound family without a proof: refused.
    let refresh = json!({ "refresh_token": login.body["refresh_token"] });
    assert_invalid_proof(&server.post("/refresh", &[], Some(&refresh)).await);

    // Without a proof: bearer tokens, as before.
    let login = server.login(&[]).await;
    assert_eq!(login.body["token_type"], "bearer", "{login:?}");
    let access = login.body["access_token"].as_str().unwrap();
    let answer = server.secret_with_bearer(access).await;
    assert_eq!(answer.pair(), (http::StatusCode::OK, json!(SECRET_DATA)));
}

#[tokio::test]
async fn behind_a_proxy_proofs_name_the_public_url() {
    // The proxy serves the app under https://api.example.com/app and strips /app.
    let server = Server::start(Some("https://api.example.com/app")).await;
    server.signup().await;
    let client = DpopClient::es256();
    let direct = client.proof("POST", &format!("http://{}/login", server.addr), None);
    assert_invalid_proof(&server.login(&[("dpop", &direct)]).await);
    let public = client.proof("POST", "https://api.example.com/app/login", None);
    let login = server.login(&[("dpop", &public)]).await;
    assert_eq!(login.body["token_type"], "DPoP", "{login:?}");
    let access = login.body["access_token"].as_str().unwrap();
    let answer = server
        .secret_with_dpop(access, &client, "https://api.example.com/app/secret")
        .await;
    assert_eq!(answer.pair(), (http::StatusCode::OK, json!(SECRET_DATA)));
}

#[test]
fn a_public_url_that_is_not_http_is_refused_at_start() {
    for url in ["api.example.com", "ftp://h/", "https://h/?x=1"] {
        let error = tutorial::config_from(vars(&[("PUBLIC_URL", url)])).unwrap_err();
        assert!(error.contains("PUBLIC_URL"), "{error}");
    }
}

/// The walkthrough's script, as the tutorial's README shows it.
const SCRIPT: &str = include_str!("../scripts/dpop_client.py");

#[test]
fn the_readme_shows_the_script_as_it_is() {
    let readme = include_str!("../README.md");
    assert!(
        readme.contains(SCRIPT),
        "tutorial/README.md must show tutorial/scripts/dpop_client.py exactly as it is"
    );
}

/// A Python with PyJWT and cryptography, or `None` (after printing `skipping: …`) outside CI.
async fn python() -> Option<&'static str> {
    let found = tokio::process::Command::new("python3")
        .args(["-c", "import jwt, cryptography"])
        .output()
        .await
        .is_ok_and(|output| output.status.success());
    if found {
        return Some("python3");
    }
    support::skip("python3 with PyJWT and cryptography is not installed");
    None
}

#[tokio::test]
async fn the_readme_script_logs_in_with_dpop_and_calls_secret() {
    let Some(python) = python().await else {
        return;
    };
    let server = Server::start(None).await;
    server.signup().await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/dpop_client.py");
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(python)
            .arg(&script)
            .arg(format!("http://{}", server.addr))
            .args(["alice", "correct horse"])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the script finishes within 60 s")
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "login: 200 DPoP",
            &format!("secret with a proof: 200 {SECRET_DATA}"),
            "secret as bearer: 401 {'detail': 'Invalid token'}",
            "refresh: 200 DPoP",
        ]
    );
}
