//! The auth router end to end over the in-memory store: signup, login, refresh with
//! rotation and reuse detection, logout, input rules, and store failures.

use support::{bearer_request, call, creds, post_json};

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode};
use serde_json::{Value, json};
use tower_jwt_auth::password::PasswordHasher;
use tower_jwt_auth::router::DEFAULT_HOLD_REFUSALS;
use tower_jwt_auth::store::{MemoryStore, UserStore};
use tower_jwt_auth::{Algorithm, Auth, JwtClaims, SigningKey, TokenIssuer};

struct App {
    router: Router,
    store: MemoryStore,
    auth: Arc<Auth<MemoryStore>>,
}

/// The router plus a protected `/me` answering the token's `sub`.
fn app_from(issuer: TokenIssuer, hasher: PasswordHasher) -> App {
    let store = MemoryStore::new();
    let auth = Auth::builder(issuer, store.clone())
        .hasher(hasher)
        .build()
        .unwrap();
    let protected = Router::new()
        .route(
            "/me",
            get(|JwtClaims(claims): JwtClaims| async move { claims.sub.clone() }),
        )
        .route_layer(auth.layer());
    App {
        router: auth.router().merge(protected),
        store,
        auth,
    }
}

fn app_with(hasher: PasswordHasher) -> App {
    let issuer = TokenIssuer::new(SigningKey::hmac(Algorithm::HS256, support::SECRET).unwrap());
    app_from(issuer, hasher)
}

fn app() -> App {
    app_with(PasswordHasher::new(4, 2, 64).unwrap())
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .unwrap(),
    )
    .unwrap()
}

async fn signup_and_login(app: &App, username: &str) -> (String, String) {
    assert_eq!(
        call(
            &app.router,
            post_json("/signup", &creds(username, "correct horse"))
        )
        .await
        .status,
        StatusCode::CREATED
    );
    let login = call(
        &app.router,
        post_json("/login", &creds(username, "correct horse")),
    )
    .await;
    assert_eq!(login.status, StatusCode::OK, "{:?}", login.body);
    (
        login.body["access_token"].as_str().unwrap().to_owned(),
        login.body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn signup_answers_201_with_the_username_and_never_the_hash() {
    let app = app();
    let answer = call(
        &app.router,
        post_json("/signup", &creds("alice", "correct horse")),
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED);
    assert_eq!(answer.body, json!({ "username": "alice" }));
    let stored = app.store.find_user("alice").await.unwrap().unwrap();
    assert!(
        stored.password_hash.starts_with("$2b$04$"),
        "stored as bcrypt"
    );
    assert_ne!(stored.password_hash, "correct horse");
}

#[tokio::test]
async fn duplicate_signup_is_a_conflict() {
    let app = app();
    call(
        &app.router,
        post_json("/signup", &creds("alice", "correct horse")),
    )
    .await;
    let again = call(
        &app.router,
        post_json("/signup", &creds("alice", "another pass")),
    )
    .await;
    assert_eq!(
        (again.status, again.body),
        (
            StatusCode::CONFLICT,
            json!({ "detail": "Account already exists" })
        )
    );
    // Usernames are exact: another case is another account.
    assert_eq!(
        call(
            &app.router,
            post_json("/signup", &creds("Alice", "correct horse"))
        )
        .await
        .status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn invalid_signup_input_is_422_naming_the_field_and_stores_nothing() {
    let app = app();
    let cases = [
        (creds("", "correct horse"), "username"),
        (creds(&"x".repeat(65), "correct horse"), "username"),
        (creds("bad\u{0}name", "correct horse"), "username"),
        (creds("tab\tname", "correct horse"), "username"),
        (creds("alice", "short"), "password"),
        (creds("alice", &"p".repeat(73)), "password"),
        (json!({ "username": "alice" }), "password"),
        (json!({ "password": "correct horse" }), "username"),
        (
            json!({ "username": 5, "password": "correct horse" }),
            "invalid type",
        ),
        (
            json!({ "username": "alice", "password": "correct horse", "admin": true }),
            "admin",
        ),
    ];
    for (body, needle) in cases {
        let answer = call(&app.router, post_json("/signup", &body)).await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {:?}",
            answer.body
        );
        let detail = answer.body["detail"].as_str().unwrap();
        assert!(detail.contains(needle), "{body}: {detail}");
    }
    let long = call(
        &app.router,
        post_json("/signup", &creds("alice", &"p".repeat(73))),
    )
    .await;
    assert!(
        long.body["detail"].as_str().unwrap().contains("72"),
        "{:?}",
        long.body
    );
    assert_eq!(app.store.find_user("alice").await.unwrap(), None);
    // 64 characters (not bytes) is the limit; 72 bytes of password is fine.
    let answer = call(
        &app.router,
        post_json("/signup", &creds(&"é".repeat(64), &"p".repeat(72))),
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED);
}

#[tokio::test]
async fn malformed_bodies_get_4xx_with_detail() {
    let app = app();
    let raw = |content_type: &str, body: Vec<u8>| {
        Request::post("/signup")
            .header("content-type", content_type)
            .body(Body::from(body))
            .unwrap()
    };
    let cases = [
        (
            raw("application/json", b"{not json".to_vec()),
            StatusCode::BAD_REQUEST,
        ),
        (
            raw("application/json", b"".to_vec()),
            StatusCode::BAD_REQUEST,
        ),
        (
            raw("application/json", b"[]".to_vec()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            raw("application/json", vec![0xff, 0xfe, b'{']),
            StatusCode::BAD_REQUEST,
        ),
        (
            raw(
                "text/plain",
                creds("a", "correct horse").to_string().into_bytes(),
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            raw("application/json", vec![b' '; 17 * 1024]),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    for (request, status) in cases {
        let answer = call(&app.router, request).await;
        assert_eq!(answer.status, status, "{:?}", answer.body);
        assert!(answer.body["detail"].is_string(), "{:?}", answer.body);
    }
}

#[tokio::test]
async fn login_returns_the_tutorial_tokens_with_no_store() {
    let app = app();
    call(
        &app.router,
        post_json("/signup", &creds("alice", "correct horse")),
    )
    .await;
    let login = call(
        &app.router,
        post_json("/login", &creds("alice", "correct horse")),
    )
    .await;
    assert_eq!(login.status, StatusCode::OK);
    assert_eq!(login.headers["cache-control"], "no-store");
    assert_eq!(login.body["token_type"], "bearer");
    assert_eq!(login.body["expires_in"], 1800);
    let access = claims_of(login.body["access_token"].as_str().unwrap());
    let refresh = claims_of(login.body["refresh_token"].as_str().unwrap());
    assert_eq!(
        (access["sub"].as_str(), access["scope"].as_str()),
        (Some("alice"), Some("access_token"))
    );
    assert_eq!(
        access["exp"].as_u64().unwrap() - access["iat"].as_u64().unwrap(),
        1800
    );
    assert!(access["jti"].as_str().unwrap().len() >= 16);
    assert_eq!(refresh["scope"], "refresh_token");
    assert_eq!(
        refresh["exp"].as_u64().unwrap() - refresh["iat"].as_u64().unwrap(),
        36000
    );
}

#[tokio::test]
async fn unknown_user_and_wrong_password_are_indistinguishable() {
    let app = app();
    call(
        &app.router,
        post_json("/signup", &creds("alice", "correct horse")),
    )
    .await;
    let wrong = call(
        &app.router,
        post_json("/login", &creds("alice", "wrong horse!")),
    )
    .await;
    let unknown = call(
        &app.router,
        post_json("/login", &creds("mallory", "correct horse")),
    )
    .await;
    for answer in [&wrong, &unknown] {
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            answer.body,
            json!({ "detail": "Invalid username or password" })
        );
    }
    assert_eq!(wrong.headers, unknown.headers);
}

#[tokio::test]
async fn login_rehashes_a_hash_below_the_configured_cost() {
    let app = app_with(PasswordHasher::new(5, 2, 8).unwrap());
    let old = bcrypt::hash("correct horse", 4).unwrap();
    app.store.create_user("alice", &old).await.unwrap();
    assert_eq!(
        call(
            &app.router,
            post_json("/login", &creds("alice", "correct horse"))
        )
        .await
        .status,
        StatusCode::OK
    );
    let stored = app
        .store
        .find_user("alice")
        .await
        .unwrap()
        .unwrap()
        .password_hash;
    assert!(stored.starts_with("$2b$05$"), "{stored}");
    assert!(bcrypt::verify("correct horse", &stored).unwrap());
}

#[tokio::test]
async fn access_token_opens_protected_routes_and_refresh_token_does_not() {
    let app = app();
    let (access, refresh) = signup_and_login(&app, "alice").await;
    let me = call(&app.router, bearer_request("GET", "/me", &access)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(
        call(&app.router, bearer_request("GET", "/me", &refresh))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_token_revokes_the_family() {
    let app = app();
    let (_, first) = signup_and_login(&app, "alice").await;
    let rotated = call(&app.router, bearer_request("GET", "/refresh_token", &first)).await;
    assert_eq!(rotated.status, StatusCode::OK);
    assert_eq!(rotated.headers["cache-control"], "no-store");
    let second = rotated.body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    let new_access = rotated.body["access_token"].as_str().unwrap();
    assert_eq!(
        call(&app.router, bearer_request("GET", "/me", new_access))
            .await
            .status,
        StatusCode::OK
    );
    // Rotation keeps the family's fixed expiry.
    assert_eq!(claims_of(&second)["exp"], claims_of(&first)["exp"]);

    // Replaying the used token: 401, and the whole family dies with it.
    let replay = call(&app.router, bearer_request("GET", "/refresh_token", &first)).await;
    assert_eq!(
        (replay.status, replay.body),
        (
            StatusCode::UNAUTHORIZED,
            json!({ "detail": "Invalid refresh token" })
        )
    );
    assert_eq!(
        call(
            &app.router,
            bearer_request("GET", "/refresh_token", &second)
        )
        .await
        .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn refresh_by_post_body_works_and_access_tokens_are_refused() {
    let app = app();
    let (access, refresh) = signup_and_login(&app, "alice").await;
    let answer = call(
        &app.router,
        post_json("/refresh", &json!({ "refresh_token": refresh })),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    let refused = call(
        &app.router,
        post_json("/refresh", &json!({ "refresh_token": access })),
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let refused = call(
        &app.router,
        bearer_request("GET", "/refresh_token", &access),
    )
    .await;
    assert_eq!(
        (refused.status, refused.body),
        (
            StatusCode::UNAUTHORIZED,
            json!({ "detail": "Invalid refresh token" })
        )
    );
    let none = call(
        &app.router,
        Request::get("/refresh_token").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn expired_refresh_token_says_so() {
    let app = app();
    let issuer = TokenIssuer::new(SigningKey::hmac(Algorithm::HS256, support::SECRET).unwrap());
    let now = support::now();
    let expired = issuer
        .refresh("alice", "fam", "jti", now - 7200, now - 3600)
        .unwrap();
    let answer = call(
        &app.router,
        bearer_request("GET", "/refresh_token", &expired),
    )
    .await;
    assert_eq!(
        (answer.status, answer.body),
        (
            StatusCode::UNAUTHORIZED,
            json!({ "detail": "Refresh token expired" })
        )
    );
}

#[tokio::test]
async fn parallel_refreshes_with_one_token_succeed_exactly_once() {
    let app = app();
    let (_, refresh) = signup_and_login(&app, "alice").await;
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (router, token) = (app.router.clone(), refresh.clone());
            tokio::spawn(async move {
                call(&router, bearer_request("GET", "/refresh_token", &token))
                    .await
                    .status
            })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        if task.await.unwrap() == StatusCode::OK {
            ok += 1;
        }
    }
    assert_eq!(ok, 1);
}

#[tokio::test]
async fn logout_revokes_the_family_and_the_access_token() {
    let app = app();
    let (access, refresh) = signup_and_login(&app, "alice").await;
    let logout = Request::post("/logout")
        .header("authorization", format!("Bearer {access}"))
        .header("content-type", "application/json")
        .body(Body::from(json!({ "refresh_token": refresh }).to_string()))
        .unwrap();
    assert_eq!(
        call(&app.router, logout).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&app.router, bearer_request("GET", "/me", &access))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(
            &app.router,
            bearer_request("GET", "/refresh_token", &refresh)
        )
        .await
        .status,
        StatusCode::UNAUTHORIZED
    );
    assert!(!app.auth.revocation_list().is_empty());
}

#[tokio::test]
async fn logout_with_the_refresh_token_in_the_header() {
    let app = app();
    let (_, refresh) = signup_and_login(&app, "alice").await;
    assert_eq!(
        call(&app.router, bearer_request("POST", "/logout", &refresh))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(
            &app.router,
            bearer_request("GET", "/refresh_token", &refresh)
        )
        .await
        .status,
        StatusCode::UNAUTHORIZED
    );
    let nothing = call(
        &app.router,
        Request::post("/logout").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(nothing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        call(&app.router, bearer_request("POST", "/logout", "x.y.z"))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saturated_hasher_sheds_load_with_503_and_retry_after() {
    let app = app_with(PasswordHasher::new(10, 1, 0).unwrap());
    let tasks: Vec<_> = (0..6)
        .map(|n| {
            let router = app.router.clone();
            tokio::spawn(async move {
                let start = std::time::Instant::now();
                let answer = call(
                    &router,
                    post_json("/signup", &creds(&format!("user{n}"), "correct horse")),
                )
                .await;
                (answer, start.elapsed())
            })
        })
        .collect();
    let mut shed = 0;
    for task in tasks {
        let (answer, took) = task.await.unwrap();
        if answer.status == StatusCode::SERVICE_UNAVAILABLE {
            assert!(answer.headers.contains_key("retry-after"));
            assert!(answer.body["detail"].is_string());
            // Held, so that a client retrying at once is slowed down.
            assert!(took >= DEFAULT_HOLD_REFUSALS, "{took:?}");
            shed += 1;
        } else {
            assert_eq!(answer.status, StatusCode::CREATED);
        }
    }
    assert!(shed >= 1);
}

#[tokio::test]
async fn jwks_publishes_asymmetric_public_keys_only() {
    let hs = app();
    assert_eq!(
        call(
            &hs.router,
            Request::get("/.well-known/jwks.json")
                .body(Body::empty())
                .unwrap()
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );

    let pem = support::data("keys/ec256_private.pem");
    let issuer = TokenIssuer::new(
        SigningKey::ec_pem(Algorithm::ES256, pem)
            .unwrap()
            .with_kid("2026-11"),
    );
    let router = app_from(issuer, PasswordHasher::new(4, 1, 8).unwrap()).router;
    let jwks = call(
        &router,
        Request::get("/.well-known/jwks.json")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(jwks.status, StatusCode::OK);
    let jwk: tower_jwt_auth::key::jwk::Jwk =
        serde_json::from_value(jwks.body["keys"][0].clone()).unwrap();
    assert!(jwks.body["keys"][0].get("d").is_none());
    // Another service verifies our tokens with only the published key.
    call(
        &router,
        post_json("/signup", &creds("alice", "correct horse")),
    )
    .await;
    let login = call(
        &router,
        post_json("/login", &creds("alice", "correct horse")),
    )
    .await;
    let layer = tower_jwt_auth::JwtAuthLayer::builder(tower_jwt_auth::Key::from_jwk(&jwk).unwrap())
        .build()
        .unwrap();
    let token = login.body["access_token"].as_str().unwrap();
    let outcome = support::send(&layer, support::with_bearer(token)).await;
    outcome.assert_ok("alice");
}

#[tokio::test]
async fn router_can_be_nested_under_a_prefix() {
    let app = app();
    let router = Router::new().nest("/auth", app.auth.router());
    let answer = call(
        &router,
        post_json("/auth/signup", &creds("alice", "correct horse")),
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED);
}

/// A store that is always down.
#[derive(Clone)]
struct DownStore;

#[derive(Debug, thiserror::Error)]
#[error("connection refused")]
struct Down;

impl tower_jwt_auth::store::UserStore for DownStore {
    type Error = Down;
    async fn create_user(
        &self,
        _: &str,
        _: &str,
    ) -> Result<tower_jwt_auth::store::CreateUser, Down> {
        Err(Down)
    }
    async fn find_user(&self, _: &str) -> Result<Option<tower_jwt_auth::store::User>, Down> {
        Err(Down)
    }
    async fn update_password_hash(&self, _: &str, _: &str) -> Result<bool, Down> {
        Err(Down)
    }
    async fn set_attributes(
        &self,
        _: &str,
        _: &tower_jwt_auth::store::Attributes,
    ) -> Result<bool, Down> {
        Err(Down)
    }
}

impl tower_jwt_auth::store::RefreshTokenStore for DownStore {
    type Error = Down;
    async fn create_family(&self, _: tower_jwt_auth::store::NewFamily<'_>) -> Result<(), Down> {
        Err(Down)
    }
    async fn rotate(
        &self,
        _: &str,
        _: &str,
        _: &str,
        _: u64,
    ) -> Result<tower_jwt_auth::store::Rotation, Down> {
        Err(Down)
    }
    async fn revoke_family(&self, _: &str) -> Result<bool, Down> {
        Err(Down)
    }
    async fn revoke_user(&self, _: &str) -> Result<u64, Down> {
        Err(Down)
    }
    async fn purge_expired(&self, _: u64) -> Result<u64, Down> {
        Err(Down)
    }
}

#[tokio::test]
async fn an_unreachable_store_answers_503_and_never_lets_anyone_in() {
    let issuer = TokenIssuer::new(SigningKey::hmac(Algorithm::HS256, support::SECRET).unwrap());
    let auth = Auth::builder(issuer, DownStore)
        .hasher(PasswordHasher::new(4, 1, 8).unwrap())
        .build()
        .unwrap();
    let router = auth.router();
    let refresh = TokenIssuer::new(SigningKey::hmac(Algorithm::HS256, support::SECRET).unwrap())
        .refresh("alice", "fam", "jti", support::now(), support::now() + 600)
        .unwrap();
    let requests = [
        post_json("/signup", &creds("alice", "correct horse")),
        post_json("/login", &creds("alice", "correct horse")),
        bearer_request("GET", "/refresh_token", &refresh),
        bearer_request("POST", "/logout", &refresh),
    ];
    for request in requests {
        let answer = call(&router, request).await;
        assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(answer.body, json!({ "detail": "Service unavailable" }));
        assert!(answer.headers.contains_key("retry-after"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_user_costs_a_bcrypt_verification_like_a_real_one() {
    // One worker, no queue. While a slow job (cost 13) holds the only
    // slot, a login for an unknown user cannot answer 401 at once: it needs a bcrypt job
    // for the dummy hash, so it is shed with 503 exactly like a login for a real user.
    let app = app_with(PasswordHasher::new(13, 1, 0).unwrap());
    app.store
        .create_user("alice", &bcrypt::hash("correct horse", 4).unwrap())
        .await
        .unwrap();
    let hasher = app.auth.hasher().clone();
    let slow = tokio::spawn(async move { hasher.hash("occupies the only worker").await });
    for _ in 0..1000 {
        if app.auth.hasher().in_flight() == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    assert_eq!(app.auth.hasher().in_flight(), 1);
    let unknown = call(
        &app.router,
        post_json("/login", &creds("nobody", "whatever pw")),
    )
    .await;
    let known = call(
        &app.router,
        post_json("/login", &creds("alice", "wrong password")),
    )
    .await;
    assert!(slow.await.unwrap().is_ok());
    assert_eq!(
        unknown.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:?}",
        unknown.body
    );
    assert_eq!((unknown.status, unknown.body), (known.status, known.body));
}

#[tokio::test]
async fn issuer_and_audience_are_stamped_and_required_when_configured() {
    let issuer = TokenIssuer::new(SigningKey::hmac(Algorithm::HS256, support::SECRET).unwrap())
        .issuer("https://auth.example")
        .audience(tower_jwt_auth::claims::Audience::One("api".into()));
    let router = app_from(issuer, PasswordHasher::new(4, 1, 8).unwrap()).router;
    call(
        &router,
        post_json("/signup", &creds("alice", "correct horse")),
    )
    .await;
    let login = call(
        &router,
        post_json("/login", &creds("alice", "correct horse")),
    )
    .await;
    let access = login.body["access_token"].as_str().unwrap();
    let claims = claims_of(access);
    assert_eq!(
        (claims["iss"].as_str(), claims["aud"].as_str()),
        (Some("https://auth.example"), Some("api"))
    );
    assert_eq!(
        call(&router, bearer_request("GET", "/me", access))
            .await
            .status,
        StatusCode::OK
    );
    // A token from the same key without iss/aud is refused by this service's layer.
    let bare = support::hs256()
        .sign(&support::access_claims("alice"))
        .unwrap();
    assert_eq!(
        call(&router, bearer_request("GET", "/me", &bare))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

/// A layer configured from `Auth::layer_builder`: a cookie source, optional mode, another
/// claims type and an extra revocation hook, and logout still reaches it.
#[tokio::test]
async fn a_configured_layer_from_auth_honours_logout() {
    #[derive(Clone, serde::Deserialize)]
    struct Subject {
        sub: String,
    }
    /// Revokes nothing: only here to show that adding a hook keeps auth's own.
    struct Never;
    impl tower_jwt_auth::revocation::Revocation for Never {
        fn is_revoked(&self, _: &tower_jwt_auth::validator::RegisteredClaims<'_>) -> bool {
            false
        }
    }
    let app = app();
    let layer = app
        .auth
        .layer_builder()
        .cookie("access_token")
        .optional()
        .revocation(Arc::new(Never))
        .claims::<Subject>()
        .build()
        .unwrap();
    let who = Router::new()
        .route(
            "/who",
            get(|request: Request<Body>| async move {
                axum::Json(
                    request
                        .extensions()
                        .get::<Arc<Subject>>()
                        .map_or_else(|| "anonymous".to_owned(), |claims| claims.sub.clone()),
                )
            }),
        )
        .layer(layer);
    let router = app.router.clone().merge(who);
    let (access, refresh) = signup_and_login(&app, "alice").await;
    let with_cookie = |token: &str| {
        Request::get("/who")
            .header("cookie", format!("access_token={token}"))
            .body(Body::empty())
            .unwrap()
    };
    let text = |answer: support::Answer| (answer.status, answer.body);
    // Optional mode: no credentials pass through without claims.
    let anonymous = call(&router, Request::get("/who").body(Body::empty()).unwrap()).await;
    assert_eq!(text(anonymous), (StatusCode::OK, json!("anonymous")));
    let alice = call(&router, with_cookie(&access)).await;
    assert_eq!(text(alice), (StatusCode::OK, json!("alice")));

    let logout = call(&router, bearer_request("POST", "/logout", &refresh)).await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    let logout = Request::post("/logout")
        .header("authorization", format!("Bearer {access}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&router, logout).await.status, StatusCode::NO_CONTENT);
    // The cookie's token is now revoked: refused, even in optional mode.
    let after = call(&router, with_cookie(&access)).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert_eq!(after.body, json!({ "detail": "Invalid token" }));
}

#[test]
fn bad_bcrypt_costs_and_password_bounds_are_build_errors() {
    use tower_jwt_auth::BuildError;
    let issuer = || TokenIssuer::new(SigningKey::hmac(Algorithm::HS256, support::SECRET).unwrap());
    for cost in [0, 3, 32, u32::MAX] {
        let built = Auth::builder(issuer(), MemoryStore::new())
            .bcrypt_cost(cost)
            .build();
        assert!(
            matches!(built, Err(BuildError::BcryptCost(c)) if c == cost),
            "{cost}: {built:?}"
        );
        assert!(matches!(
            PasswordHasher::new(cost, 1, 1),
            Err(BuildError::BcryptCost(_))
        ));
    }
    for (min, max) in [(0, 72), (9, 8), (8, 73), (1, usize::MAX)] {
        let built = Auth::builder(issuer(), MemoryStore::new())
            .password_len(min, max)
            .build();
        assert!(
            matches!(built, Err(BuildError::PasswordBounds { min: a, max: b }) if (a, b) == (min, max)),
            "{min}..={max}: {built:?}"
        );
    }
    for (min, max) in [(1, 1), (8, 72), (72, 72)] {
        let built = Auth::builder(issuer(), MemoryStore::new())
            .bcrypt_cost(4)
            .password_len(min, max)
            .build();
        assert!(built.is_ok(), "{min}..={max}");
    }
}
