//! Roles from the user store into access tokens and out again: `ADMIN_USERS`, roles kept in
//! a user's attributes, `GET /admin`, and the issuer hook's guard on reserved claims.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use base64::Engine;
use http::{Request, StatusCode};
use serde_json::{Value, json};
use support::{CountingStore, bearer_request, call, creds, post_json, vars};
use tower_jwt_auth::store::{Attributes, UserStore};
use tower_jwt_auth::{Algorithm, Auth, SigningKey, TokenIssuer};

fn app(store: CountingStore) -> Router {
    let config = tutorial::config_from(vars(&[
        ("APP_SECRET_STRING", support::APP_SECRET),
        ("BCRYPT_COST", "4"),
        ("ADMIN_USERS", " root , ops"),
    ]))
    .unwrap();
    tutorial::app(store, &config).unwrap()
}

fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

/// Signs up and logs in: (access, refresh).
async fn login(app: &Router, username: &str) -> (String, String) {
    let signup = call(app, post_json("/signup", &creds(username, "correct horse"))).await;
    assert_eq!(signup.status, StatusCode::CREATED, "{signup:?}");
    let login = call(app, post_json("/login", &creds(username, "correct horse"))).await;
    assert_eq!(login.status, StatusCode::OK, "{login:?}");
    (
        login.body["access_token"].as_str().unwrap().to_owned(),
        login.body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

async fn refresh(app: &Router, token: &str) -> (String, String) {
    let answer = call(
        app,
        post_json("/refresh", &json!({ "refresh_token": token })),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    (
        answer.body["access_token"].as_str().unwrap().to_owned(),
        answer.body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

fn attributes(value: Value) -> Attributes {
    match value {
        Value::Object(map) => map,
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn admin_route_answers_by_role() {
    let app = app(CountingStore::default());
    let (root, _) = login(&app, "root").await;
    let (alice, _) = login(&app, "alice").await;
    assert_eq!(payload(&root)["roles"], json!(["admin"]));
    assert!(payload(&alice).get("roles").is_none());

    let admin = call(&app, bearer_request("GET", "/admin", &root)).await;
    assert_eq!(
        admin.pair(),
        (
            StatusCode::OK,
            json!("Admin data only administrators can access")
        )
    );
    assert_eq!(admin.content_type(), Some("application/json"));
    // A valid token without the role: 403 with the RFC 6750 §3.1 challenge.
    let refused = call(&app, bearer_request("GET", "/admin", &alice)).await;
    refused.assert_insufficient_scope("Bearer error=\"insufficient_scope\", scope=\"admin\"");
    // No token: 401, bare challenge. A bad one: 401 invalid_token.
    let none = call(&app, Request::get("/admin").body(Body::empty()).unwrap()).await;
    none.assert_not_authenticated();
    let forged = call(&app, bearer_request("GET", "/admin", &format!("{alice}x"))).await;
    forged.assert_invalid_token();
    // A token that names the role but is not signed by the app.
    let other = SigningKey::hmac(Algorithm::HS256, b"another secret of at least thirty-two bytes")
        .unwrap()
        .sign(&json!({ "sub": "eve", "exp": support::now() + 60, "scope": "access_token", "roles": ["admin"] }))
        .unwrap();
    call(&app, bearer_request("GET", "/admin", &other))
        .await
        .assert_invalid_token();
}

/// `GET /admin/cache`: the hits and misses of `/secret`'s cache, for an admin only; reading
/// it is not a lookup of `/secret`'s cache.
#[tokio::test]
async fn the_admin_cache_route_reports_the_secret_routes_cache() {
    let app = app(CountingStore::default());
    let (root, _) = login(&app, "root").await;
    let (alice, _) = login(&app, "alice").await;
    let report = || async {
        let answer = call(&app, bearer_request("GET", "/admin/cache", &root)).await;
        assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
        assert_eq!(answer.content_type(), Some("application/json"));
        answer.body
    };
    assert_eq!(
        report().await,
        json!({ "hits": 0, "misses": 0, "entries": 0 })
    );
    for _ in 0..3 {
        let secret = call(&app, bearer_request("POST", "/secret", &alice)).await;
        assert_eq!(secret.status, StatusCode::OK);
    }
    call(
        &app,
        bearer_request("POST", "/secret", &format!("{alice}x")),
    )
    .await
    .assert_invalid_token();
    assert_eq!(
        report().await,
        json!({ "hits": 2, "misses": 2, "entries": 1 }),
        "one verification, two hits, one forged token missed"
    );
    call(&app, bearer_request("GET", "/admin/cache", &alice))
        .await
        .assert_insufficient_scope("Bearer error=\"insufficient_scope\", scope=\"admin\"");
    call(
        &app,
        Request::get("/admin/cache").body(Body::empty()).unwrap(),
    )
    .await
    .assert_not_authenticated();
}

#[tokio::test]
async fn a_role_removed_in_the_store_is_gone_at_the_next_refresh() {
    let store = CountingStore::default();
    let app = app(store.clone());
    let (access, refresh_token) = login(&app, "bob").await;
    assert_eq!(
        call(&app, bearer_request("GET", "/admin", &access))
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    // The role granted in the store reaches the next token.
    let granted =
        attributes(json!({ "roles": ["admin", "billing", 7], "email": "bob@example.com" }));
    assert!(store.inner.set_attributes("bob", &granted).await.unwrap());
    let (access, refresh_token) = refresh(&app, &refresh_token).await;
    assert_eq!(payload(&access)["roles"], json!(["admin", "billing"]));
    assert!(
        payload(&access).get("email").is_none(),
        "only roles are chosen"
    );
    assert_eq!(
        call(&app, bearer_request("GET", "/admin", &access))
            .await
            .status,
        StatusCode::OK
    );

    // Removed in the store: gone at the next refresh.
    assert!(
        store
            .inner
            .set_attributes("bob", &Attributes::new())
            .await
            .unwrap()
    );
    let (access, _) = refresh(&app, &refresh_token).await;
    assert!(
        payload(&access).get("roles").is_none(),
        "{}",
        payload(&access)
    );
    call(&app, bearer_request("GET", "/admin", &access))
        .await
        .assert_insufficient_scope("Bearer error=\"insufficient_scope\", scope=\"admin\"");
}

/// An `Auth` whose hook copies every attribute into access tokens.
fn copy_all(store: CountingStore) -> (Arc<Auth<CountingStore>>, Router) {
    let issuer = TokenIssuer::new(SigningKey::hmac(Algorithm::HS256, support::SECRET).unwrap());
    let auth = Auth::builder(issuer, store)
        .bcrypt_cost(4)
        .access_claims(|user| user.attributes.clone())
        .build()
        .unwrap();
    let router = auth.router();
    (auth, router)
}

#[tokio::test]
async fn attributes_cannot_override_registered_claims() {
    let store = CountingStore::default();
    let (_, router) = copy_all(store.clone());
    let (access, _) = login(&router, "carol").await;
    let hostile = attributes(json!({
        "sub": "root", "exp": 9_999_999_999_u64, "iat": 0, "jti": "fixed", "scope": "refresh_token",
        "iss": "elsewhere", "aud": "elsewhere", "cnf": { "jkt": "x" }, "nbf": 0, "fam": "f",
        "department": "ops",
    }));
    assert!(store.inner.set_attributes("carol", &hostile).await.unwrap());
    let login = call(
        &router,
        post_json("/login", &creds("carol", "correct horse")),
    )
    .await;
    let claims = payload(login.body["access_token"].as_str().unwrap());
    let before = payload(&access);
    assert_eq!(claims["sub"], "carol");
    assert_eq!(claims["scope"], "access_token");
    assert_eq!(claims["department"], "ops");
    assert_ne!(claims["jti"], "fixed");
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        before["exp"].as_u64().unwrap() - before["iat"].as_u64().unwrap()
    );
    for name in ["iss", "aud", "cnf", "nbf", "fam"] {
        assert!(claims.get(name).is_none(), "{name}: {claims}");
    }
}

#[tokio::test]
async fn the_refresh_of_a_user_no_longer_in_the_store_fails_and_changes_nothing() {
    let store = CountingStore::default();
    let (_, router) = copy_all(store.clone());
    let (_, refresh_token) = login(&router, "dave").await;
    // A well-signed refresh token of a family the store holds, for a user it does not
    // (as after the user was deleted).
    let claims = payload(&refresh_token);
    let issuer = TokenIssuer::new(SigningKey::hmac(Algorithm::HS256, support::SECRET).unwrap());
    let ghost = issuer
        .refresh(
            "ghost",
            claims["fam"].as_str().unwrap(),
            claims["jti"].as_str().unwrap(),
            support::now(),
            claims["exp"].as_u64().unwrap(),
        )
        .unwrap();
    let writes = store.writes();
    let answer = call(
        &router,
        post_json("/refresh", &json!({ "refresh_token": ghost })),
    )
    .await;
    assert_eq!(
        (answer.status, answer.challenge()),
        (
            StatusCode::UNAUTHORIZED,
            Some("Bearer error=\"invalid_token\"")
        ),
        "{answer:?}"
    );
    assert_eq!(answer.body, json!({ "detail": "Invalid refresh token" }));
    assert_eq!(store.writes(), writes, "the family was not rotated");
    // dave's own token still rotates: nothing was consumed.
    refresh(&router, &refresh_token).await;
}
