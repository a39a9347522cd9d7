//! DPoP on the issuer side of the router (RFC 9449 §5): login and refresh bind tokens to
//! the key of the proof that comes along, the layer of the same `Auth` accepts them with
//! proofs by that key and refuses them without, and a bound family needs that key at every
//! refresh.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{Request, StatusCode};
use serde_json::{Value, json};
use support::{Answer, DpopClient, call, creds, post_json};
use tower_jwt_auth::dpop::Dpop;
use tower_jwt_auth::password::PasswordHasher;
use tower_jwt_auth::store::MemoryStore;
use tower_jwt_auth::{Algorithm, Auth, JwtClaims, SigningKey, TokenIssuer};

const BASE: &str = "https://app.example.com";
const ALGS: &str = "ES256 ES384 EdDSA PS256 RS256";

struct App {
    router: Router,
}

fn issuer() -> TokenIssuer {
    TokenIssuer::new(SigningKey::hmac(Algorithm::HS256, support::SECRET).unwrap())
}

fn auth_with(store: MemoryStore, dpop: Option<Dpop>) -> Arc<Auth<MemoryStore>> {
    let mut builder = Auth::builder(issuer(), store).hasher(PasswordHasher::new(4, 2, 64).unwrap());
    if let Some(dpop) = dpop {
        builder = builder.dpop(dpop);
    }
    builder.build().unwrap()
}

/// `GET /me`, answering the token's `sub`.
fn me_route() -> Router {
    Router::new().route(
        "/me",
        get(|JwtClaims(claims): JwtClaims| async move { claims.sub.clone() }),
    )
}

/// The router, mounted under `prefix`, and a protected `/me` answering the token's `sub`.
fn app_at(auth: &Arc<Auth<MemoryStore>>, prefix: &str) -> App {
    let protected = me_route().route_layer(auth.layer());
    let router = if prefix.is_empty() {
        auth.router()
    } else {
        Router::new().nest(prefix, auth.router())
    };
    App {
        router: router.merge(protected),
    }
}

fn app(dpop: Dpop) -> App {
    app_at(&auth_with(MemoryStore::new(), Some(dpop)), "")
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn with_headers(mut request: Request<Body>, headers: &[(&str, &str)]) -> Request<Body> {
    for (name, value) in headers {
        request.headers_mut().append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    request
}

impl App {
    async fn signup(&self, username: &str) {
        let answer = call(
            &self.router,
            post_json("/signup", &creds(username, "correct horse")),
        )
        .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{answer:?}");
    }

    async fn login(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        let request = post_json(path, &creds("alice", "correct horse"));
        call(&self.router, with_headers(request, headers)).await
    }

    /// `POST /refresh` with `refresh` in the body.
    async fn refresh(&self, refresh: &str, headers: &[(&str, &str)]) -> Answer {
        let request = post_json("/refresh", &json!({ "refresh_token": refresh }));
        call(&self.router, with_headers(request, headers)).await
    }

    /// `GET /refresh_token` with `refresh` as bearer.
    async fn refresh_from_header(&self, refresh: &str, headers: &[(&str, &str)]) -> Answer {
        let request = Request::get("/refresh_token")
            .header("authorization", format!("Bearer {refresh}"))
            .body(Body::empty())
            .unwrap();
        call(&self.router, with_headers(request, headers)).await
    }

    async fn me(&self, authorization: &str, headers: &[(&str, &str)]) -> Answer {
        let request = Request::get("/me")
            .header("authorization", authorization)
            .body(Body::empty())
            .unwrap();
        call(&self.router, with_headers(request, headers)).await
    }

    /// Logs in at `path` with a fresh proof by `client`; both tokens must come bound to it.
    async fn login_bound(&self, path: &str, client: &DpopClient) -> (String, String) {
        let proof = client.proof("POST", &format!("{BASE}{path}"), None);
        assert_bound(&self.login(path, &[("dpop", &proof)]).await, &client.jkt())
    }

    /// Asserts `/me` takes `access` with a proof by `client`, and refuses it as Bearer.
    async fn assert_takes_only_with_proofs(&self, access: &str, client: &DpopClient) {
        let answer = self.me_with_dpop(access, client).await;
        assert_eq!(
            (answer.status, answer.text.as_str()),
            (StatusCode::OK, "alice")
        );
        let answer = self.me(&format!("Bearer {access}"), &[]).await;
        assert_refused(&answer, "invalid_token", "Invalid token");
    }

    /// `/me` with `Authorization: DPoP <token>` and a fresh proof by `client`.
    async fn me_with_dpop(&self, token: &str, client: &DpopClient) -> Answer {
        let proof = client.proof("GET", &format!("{BASE}/me"), Some(token));
        self.me(&format!("DPoP {token}"), &[("dpop", &proof)]).await
    }
}

/// The access and refresh tokens of a 200 token response.
fn tokens(answer: &Answer) -> (String, String) {
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    (
        answer.body["access_token"].as_str().unwrap().to_owned(),
        answer.body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

fn assert_refused(answer: &Answer, code: &str, detail: &str) {
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{answer:?}");
    assert_eq!(
        answer.challenge(),
        Some(format!("DPoP error=\"{code}\", algs=\"{ALGS}\"").as_str()),
        "{answer:?}"
    );
    assert_eq!(answer.body, json!({ "detail": detail }), "{answer:?}");
}

fn assert_invalid_proof(answer: &Answer) {
    assert_refused(answer, "invalid_dpop_proof", "Invalid DPoP proof");
}

/// Asserts both tokens are bound to `jkt` and the response says `DPoP`.
fn assert_bound(answer: &Answer, jkt: &str) -> (String, String) {
    let (access, refresh) = tokens(answer);
    assert_eq!(answer.body["token_type"], "DPoP", "{answer:?}");
    assert_eq!(claims_of(&access)["cnf"], json!({ "jkt": jkt }));
    assert_eq!(claims_of(&refresh)["cnf"], json!({ "jkt": jkt }));
    (access, refresh)
}

#[tokio::test]
async fn login_with_a_proof_binds_the_tokens_which_the_layer_accepts_only_with_that_key() {
    let app = app(Dpop::new(BASE));
    app.signup("alice").await;
    let client = DpopClient::es256();
    let (access, _) = app.login_bound("/login", &client).await;
    app.assert_takes_only_with_proofs(&access, &client).await;
    // A proof by another key, or no proof at all: refused.
    assert_invalid_proof(&app.me_with_dpop(&access, &DpopClient::eddsa()).await);
    assert_invalid_proof(&app.me(&format!("DPoP {access}"), &[]).await);
}

#[tokio::test]
async fn a_bound_family_refreshes_only_with_its_key_and_stays_bound_across_rotations() {
    let app = app(Dpop::new(BASE));
    app.signup("alice").await;
    let client = DpopClient::eddsa();
    let (_, mut refresh) = app.login_bound("/login", &client).await;

    // Without a proof, or with another key's: refused, and the token is not consumed.
    assert_invalid_proof(&app.refresh(&refresh, &[]).await);
    let other = DpopClient::es256().proof("POST", &format!("{BASE}/refresh"), None);
    assert_invalid_proof(&app.refresh(&refresh, &[("dpop", &other)]).await);
    assert_invalid_proof(&app.refresh_from_header(&refresh, &[]).await);

    for round in 0..3 {
        let answer = if round % 2 == 0 {
            let proof = client.proof("POST", &format!("{BASE}/refresh"), None);
            app.refresh(&refresh, &[("dpop", &proof)]).await
        } else {
            let proof = client.proof("GET", &format!("{BASE}/refresh_token"), None);
            app.refresh_from_header(&refresh, &[("dpop", &proof)]).await
        };
        let (access, next) = assert_bound(&answer, &client.jkt());
        app.assert_takes_only_with_proofs(&access, &client).await;
        refresh = next;
        // Still bound after the rotation: no proof, no tokens.
        assert_invalid_proof(&app.refresh(&refresh, &[]).await);
    }
}

#[tokio::test]
async fn a_proof_is_checked_against_the_endpoint_and_used_once() {
    let app = app(Dpop::new(BASE));
    app.signup("alice").await;
    let client = DpopClient::es256();
    let login = format!("{BASE}/login");
    let stale = json!({ "jti": "x", "htm": "POST", "htu": login, "iat": support::now() - 3600 });
    for proof in [
        client.proof("GET", &login, None),
        client.proof("POST", &format!("{BASE}/refresh"), None),
        client.proof("POST", "https://elsewhere.example.com/login", None),
        client.proof_of(&stale),
        "not.a.proof".to_owned(),
    ] {
        assert_invalid_proof(&app.login("/login", &[("dpop", &proof)]).await);
    }
    let proof = client.proof("POST", &login, None);
    let second = client.proof("POST", &login, None);
    assert_invalid_proof(
        &app.login("/login", &[("dpop", &proof), ("dpop", &second)])
            .await,
    );

    assert_bound(
        &app.login("/login", &[("dpop", &proof)]).await,
        &client.jkt(),
    );
    // The same proof again: a replay.
    assert_invalid_proof(&app.login("/login", &[("dpop", &proof)]).await);
}

#[tokio::test]
async fn a_proof_with_a_wrong_password_is_refused_for_the_password_and_can_then_be_used() {
    let app = app(Dpop::new(BASE));
    app.signup("alice").await;
    let client = DpopClient::es256();
    let proof = client.proof("POST", &format!("{BASE}/login"), None);
    let wrong = with_headers(
        post_json("/login", &creds("alice", "wrong horse!")),
        &[("dpop", &proof)],
    );
    let answer = call(&app.router, wrong).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer.body,
        json!({ "detail": "Invalid username or password" })
    );
    // Not entered into the replay cache by a failed login.
    assert_bound(
        &app.login("/login", &[("dpop", &proof)]).await,
        &client.jkt(),
    );
}

#[tokio::test]
async fn without_a_proof_tokens_are_bearer_and_a_refresh_with_one_binds_the_family() {
    let app = app(Dpop::new(BASE));
    app.signup("alice").await;
    let login = app.login("/login", &[]).await;
    let (access, refresh) = tokens(&login);
    assert_eq!(login.body["token_type"], "bearer");
    assert_eq!(claims_of(&access).get("cnf"), None);
    assert_eq!(claims_of(&refresh).get("cnf"), None);
    let answer = app.me(&format!("Bearer {access}"), &[]).await;
    assert_eq!(
        (answer.status, answer.text.as_str()),
        (StatusCode::OK, "alice")
    );
    // An unbound token with the DPoP scheme: refused.
    let answer = app.me_with_dpop(&access, &DpopClient::es256()).await;
    assert_refused(&answer, "invalid_token", "Invalid token");

    let client = DpopClient::es256();
    let proof = client.proof("POST", &format!("{BASE}/refresh"), None);
    let refreshed = app.refresh(&refresh, &[("dpop", &proof)]).await;
    let (_, refresh) = assert_bound(&refreshed, &client.jkt());
    assert_invalid_proof(&app.refresh(&refresh, &[]).await);
}

#[tokio::test]
async fn required_dpop_refuses_login_and_refresh_without_a_proof_and_bearer_tokens() {
    let app = app(Dpop::new(BASE).required());
    app.signup("alice").await;
    assert_invalid_proof(&app.login("/login", &[]).await);
    let client = DpopClient::es256();
    let (access, refresh) = app.login_bound("/login", &client).await;
    app.assert_takes_only_with_proofs(&access, &client).await;
    assert_invalid_proof(&app.refresh(&refresh, &[]).await);
}

#[tokio::test]
async fn a_nested_router_checks_the_url_the_client_asked_for() {
    let auth = auth_with(MemoryStore::new(), Some(Dpop::new(BASE)));
    let app = app_at(&auth, "/auth");
    let answer = call(
        &app.router,
        post_json("/auth/signup", &creds("alice", "correct horse")),
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED);
    let client = DpopClient::es256();
    let stripped = client.proof("POST", &format!("{BASE}/login"), None);
    assert_invalid_proof(&app.login("/auth/login", &[("dpop", &stripped)]).await);
    app.login_bound("/auth/login", &client).await;
}

#[tokio::test]
async fn a_bound_refresh_token_is_refused_where_no_dpop_is_configured() {
    let store = MemoryStore::new();
    let with = app_at(&auth_with(store.clone(), Some(Dpop::new(BASE))), "");
    let without = app_at(&auth_with(store, None), "");
    with.signup("alice").await;
    let client = DpopClient::es256();
    let (_, refresh) = with.login_bound("/login", &client).await;
    // Same keys, same store, no DPoP: the binding cannot be checked, so no tokens.
    let proof = client.proof("POST", &format!("{BASE}/refresh"), None);
    let answer = without.refresh(&refresh, &[("dpop", &proof)]).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.body, json!({ "detail": "Invalid refresh token" }));
    // And the family was not consumed: its key still refreshes it where DPoP is on.
    let proof = client.proof("POST", &format!("{BASE}/refresh"), None);
    assert_bound(
        &with.refresh(&refresh, &[("dpop", &proof)]).await,
        &client.jkt(),
    );
}

#[tokio::test]
async fn layers_from_layer_builder_accept_bound_tokens_too() {
    let auth = auth_with(MemoryStore::new(), Some(Dpop::new(BASE)));
    let layer = auth.layer_builder().build().unwrap();
    let app = App {
        router: auth.router().merge(me_route().route_layer(layer)),
    };
    app.signup("alice").await;
    let client = DpopClient::es256();
    let (access, _) = app.login_bound("/login", &client).await;
    app.assert_takes_only_with_proofs(&access, &client).await;
}

#[tokio::test]
async fn with_server_nonces_login_hands_one_out_and_then_takes_it() {
    let app = app(Dpop::new(BASE).nonces(Duration::from_secs(60)));
    app.signup("alice").await;
    let client = DpopClient::es256();
    let login = format!("{BASE}/login");
    let answer = app
        .login("/login", &[("dpop", &client.proof("POST", &login, None))])
        .await;
    assert_refused(&answer, "use_dpop_nonce", "DPoP nonce required");
    let nonce = answer.dpop_nonce().expect("a DPoP-Nonce header");
    let claims = json!({
        "jti": "with-a-nonce", "htm": "POST", "htu": login, "iat": support::now(), "nonce": nonce,
    });
    let proof = client.proof_of(&claims);
    assert_bound(
        &app.login("/login", &[("dpop", &proof)]).await,
        &client.jkt(),
    );
}
