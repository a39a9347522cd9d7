//! Secrets stay out of logs and `Debug` output: a full signup/login/refresh/logout
//! flow of the example app over SQLite, captured at trace level (the crate's, axum's and
//! sqlx's events), contains no token, no password and no hash; and the `Debug` of every
//! public config and key type redacts its secret.

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::{Request, StatusCode};
use serde_json::json;
use support::APP_SECRET;
use support::{bearer_request, call, post_json};
use tower_jwt_auth::key::{KeyRing, KeySet};
use tower_jwt_auth::store::{MemoryStore, SqliteStore, UserStore};
use tower_jwt_auth::validator::{Validation, Validator};
use tower_jwt_auth::{Algorithm, Auth, JwtAuthLayer, Key, SigningKey, TokenIssuer};

/// Everything the subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// The forms in which `secret` could leak: itself, its base64 spellings, and its bytes
/// as `Debug` prints a `Vec<u8>`.
fn spellings(secret: &[u8]) -> Vec<String> {
    let mut forms = vec![
        STANDARD.encode(secret),
        URL_SAFE_NO_PAD.encode(secret),
        format!("{secret:?}"),
    ];
    if let Ok(text) = std::str::from_utf8(secret) {
        forms.push(text.to_owned());
        forms.push(format!("{text:?}"));
    }
    forms
}

fn assert_absent(haystack: &str, what: &str, secret: &[u8]) {
    for form in spellings(secret) {
        assert!(
            !haystack.contains(&form),
            "{what} leaked as {form:?} in:\n{haystack}"
        );
    }
}

/// One test owns the process-wide subscriber: the flow runs on several threads
/// (tokio workers, the blocking pool for bcrypt), so a thread-local one would miss
/// events.
#[test]
fn a_full_flow_logged_at_trace_level_shows_no_token_password_or_hash() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (secrets, tokens, hash) = runtime.block_on(flow());
    drop(runtime);

    let logs = captured.text();
    // The capture works, and the flow's events are in it.
    for event in [
        "account created",
        "login succeeded",
        "login failed",
        "refresh token reuse detected",
        "logged out",
        "bearer token refused",
    ] {
        assert!(logs.contains(event), "no {event:?} in the logs:\n{logs}");
    }
    assert!(logs.contains("TRACE") || logs.contains("DEBUG"));
    for (what, secret) in &secrets {
        assert_absent(&logs, what, secret.as_bytes());
    }
    for token in &tokens {
        assert_absent(&logs, "a token", token.as_bytes());
        // Nor its signature alone, which with the rest of the token is the credential.
        let signature = token.rsplit('.').next().unwrap();
        assert_absent(&logs, "a token signature", signature.as_bytes());
    }
    assert_absent(&logs, "the password hash", hash.as_bytes());
    assert!(!logs.contains("$2b$"), "a bcrypt hash in the logs");
    assert!(!logs.contains("$2y$"), "a bcrypt hash in the logs");
}

/// Runs the flow; returns the secrets (names and values), every token seen, and the
/// stored hash.
async fn flow() -> (Vec<(&'static str, String)>, Vec<String>, String) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("auth.db").display());
    let config = tutorial::config_from(support::vars(&[
        ("APP_SECRET_STRING", APP_SECRET),
        ("DATABASE_URL", &url),
        ("BCRYPT_COST", "4"),
    ]))
    .unwrap();
    let app = tutorial::app_from_config(&config).await.unwrap();
    let password = "correct horse battery";
    let wrong = "wrong horse battery";
    let creds = json!({ "username": "alice", "password": password });
    let mut tokens = Vec::new();

    assert_eq!(
        call(&app, post_json("/signup", &creds)).await.status,
        StatusCode::CREATED
    );
    let bad = json!({ "username": "alice", "password": wrong });
    assert_eq!(
        call(&app, post_json("/login", &bad)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let unknown = json!({ "username": "mallory", "password": wrong });
    assert_eq!(
        call(&app, post_json("/login", &unknown)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let login = call(&app, post_json("/login", &creds)).await;
    assert_eq!(login.status, StatusCode::OK);
    let access = login.body["access_token"].as_str().unwrap().to_owned();
    let refresh = login.body["refresh_token"].as_str().unwrap().to_owned();
    tokens.extend([access.clone(), refresh.clone()]);

    assert_eq!(
        call(&app, bearer_request("POST", "/secret", &access))
            .await
            .status,
        StatusCode::OK
    );
    // A refresh token where an access token belongs: refused, and logged as refused.
    assert_eq!(
        call(&app, bearer_request("POST", "/secret", &refresh))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let rotated = call(&app, bearer_request("GET", "/refresh_token", &refresh)).await;
    assert_eq!(rotated.status, StatusCode::OK);
    let next = rotated.body["refresh_token"].as_str().unwrap().to_owned();
    tokens.push(rotated.body["access_token"].as_str().unwrap().to_owned());
    tokens.push(next.clone());
    let by_body = call(
        &app,
        post_json("/refresh", &json!({ "refresh_token": next })),
    )
    .await;
    assert_eq!(by_body.status, StatusCode::OK);
    let last_access = by_body.body["access_token"].as_str().unwrap().to_owned();
    let last_refresh = by_body.body["refresh_token"].as_str().unwrap().to_owned();
    tokens.extend([last_access.clone(), last_refresh.clone()]);
    // Replaying the first refresh token revokes the family (a warning is logged).
    assert_eq!(
        call(&app, bearer_request("GET", "/refresh_token", &refresh))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    // A fresh login, then logout with both tokens.
    let login = call(&app, post_json("/login", &creds)).await;
    let access = login.body["access_token"].as_str().unwrap().to_owned();
    let refresh = login.body["refresh_token"].as_str().unwrap().to_owned();
    tokens.extend([access.clone(), refresh.clone()]);
    let logout = Request::post("/logout")
        .header("authorization", format!("Bearer {access}"))
        .header("content-type", "application/json")
        .body(Body::from(json!({ "refresh_token": refresh }).to_string()))
        .unwrap();
    assert_eq!(call(&app, logout).await.status, StatusCode::NO_CONTENT);
    assert_eq!(
        call(&app, bearer_request("POST", "/secret", &access))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );

    let store = SqliteStore::connect(&url).await.unwrap();
    let hash = store
        .find_user("alice")
        .await
        .unwrap()
        .unwrap()
        .password_hash;
    assert!(hash.starts_with("$2"), "a bcrypt hash: {hash}");
    let secrets = vec![
        ("the app secret", APP_SECRET.to_owned()),
        ("the password", password.to_owned()),
        ("the wrong password", wrong.to_owned()),
    ];
    (secrets, tokens, hash)
}

const HMAC_SECRET: &[u8] = b"a-distinctive-hmac-secret-0123456789-abcdefghij-KLMNOPQRSTUVWXYZ";

#[test]
fn debug_of_every_config_and_key_type_redacts_the_secret() {
    let hmac = || Key::hmac(Algorithm::HS512, HMAC_SECRET).unwrap();
    let signer = || SigningKey::hmac(Algorithm::HS512, HMAC_SECRET).unwrap();
    let rsa_pem = support::data("keys/rsa_private.pem");
    let rsa = SigningKey::rsa_pem(Algorithm::RS256, &rsa_pem).unwrap();
    let issuer = || TokenIssuer::new(signer());
    let validator = Validator::new(KeySet::new([hmac()]), Validation::new()).unwrap();
    let layer = JwtAuthLayer::builder(hmac()).build().unwrap();
    let store = MemoryStore::new();
    let builder = Auth::builder(issuer(), store.clone()).accept_key(hmac());
    let auth = Auth::builder(issuer(), store)
        .bcrypt_cost(4)
        .build()
        .unwrap();
    let issued = issuer().access("alice", support::now()).unwrap();
    let config = tutorial::config_from(support::vars(&[(
        "APP_SECRET_STRING",
        std::str::from_utf8(HMAC_SECRET).unwrap(),
    )]))
    .unwrap();

    let rendered = [
        ("Key", format!("{:?}", hmac())),
        ("SigningKey", format!("{:?}", signer())),
        (
            "SigningKey (RSA)",
            format!("{rsa:?} {:?}", rsa.verifying_key()),
        ),
        ("KeySet", format!("{:?}", KeySet::new([hmac()]))),
        ("KeyRing", format!("{:?}", KeyRing::from(hmac()))),
        ("TokenIssuer", format!("{:?}", issuer())),
        ("Validator", format!("{validator:?}")),
        ("JwtAuthLayer", format!("{layer:?}")),
        (
            "JwtAuthLayerBuilder",
            format!("{:?}", JwtAuthLayer::builder(hmac())),
        ),
        ("AuthBuilder", format!("{builder:?}")),
        ("Auth", format!("{auth:?}")),
        ("IssuedAccess", format!("{issued:?}")),
        ("example Config", format!("{config:?}")),
    ];
    for (what, text) in &rendered {
        assert!(!text.is_empty());
        assert_absent(text, &format!("the HMAC secret in {what}"), HMAC_SECRET);
        assert!(
            !text.contains("PRIVATE KEY") && !text.contains(&URL_SAFE_NO_PAD.encode(&rsa_pem)),
            "{what}: {text}"
        );
    }
    // The token itself is a credential too.
    assert!(
        !rendered[11].1.contains(&issued.token),
        "{}",
        rendered[11].1
    );
    // The redaction says so, rather than silently dropping the field.
    assert!(rendered[0].1.contains("redacted"), "{}", rendered[0].1);
    assert!(rendered[12].1.contains("redacted"), "{}", rendered[12].1);
}

#[tokio::test]
async fn debug_of_stores_and_request_types_shows_no_password_hash_or_url_secret() {
    let store = MemoryStore::new();
    store
        .create_user("alice", "$2b$04$abcdefghijklmnopqrstuu")
        .await
        .unwrap();
    let user = store.find_user("alice").await.unwrap().unwrap();
    let credentials: tower_jwt_auth::router::Credentials =
        serde_json::from_value(json!({ "username": "alice", "password": "hunter2-hunter2" }))
            .unwrap();
    let tokens: tower_jwt_auth::router::TokenResponse = serde_json::from_value(json!({
        "access_token": "aaa.bbb.ccc", "refresh_token": "ddd.eee.fff",
        "token_type": "bearer", "expires_in": 1800
    }))
    .unwrap();
    for text in [
        format!("{store:?}"),
        format!("{user:?}"),
        format!("{credentials:?}"),
        format!("{tokens:?}"),
    ] {
        for secret in ["$2b$", "hunter2", "aaa.bbb", "ddd.eee"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
    if let Ok(url) = std::env::var("TOWER_JWT_AUTH_TEST_POSTGRES_URL") {
        let store = tower_jwt_auth::store::PostgresStore::connect(&url)
            .await
            .unwrap();
        let text = format!("{store:?}");
        assert!(
            !text.contains(&url) && !text.contains("postgres://"),
            "{text}"
        );
    }
}
