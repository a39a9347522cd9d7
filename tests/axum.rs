//! The layer and the extractor in axum 0.8: `Router::layer`, `route_layer`, optional mode
//! with `Option<JwtClaims>`, and the 500 that names the missing layer.

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use support::*;
use tower::ServiceExt;
use tower_jwt_auth::{Algorithm, Claims, JwtAuthLayer, JwtClaims, Key};

async fn whoami(JwtClaims(claims): JwtClaims) -> String {
    claims.sub.clone()
}

async fn maybe(claims: Option<JwtClaims<Claims>>) -> String {
    claims.map_or_else(
        || "anonymous".to_owned(),
        |JwtClaims(claims)| claims.sub.clone(),
    )
}

async fn call(app: &Router, request: Request<Body>) -> (StatusCode, String) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

fn get_with(uri: &str, token: Option<&str>) -> Request<Body> {
    let mut builder = Request::builder().uri(uri);
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    builder.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn router_layer_protects_every_route_and_the_extractor_sees_the_claims() {
    let app = Router::new().route("/me", get(whoami)).layer(hs256_layer());
    let token = hs256().sign(&access_claims("alice")).unwrap();
    assert_eq!(
        call(&app, get_with("/me", Some(&token))).await,
        (StatusCode::OK, "alice".into())
    );
    let (status, body) = call(&app, get_with("/me", None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, r#"{"detail":"Not authenticated"}"#);
}

#[tokio::test]
async fn route_layer_leaves_unmatched_routes_and_open_routes_alone() {
    let app = Router::new()
        .route("/secret", post(whoami))
        .route_layer(hs256_layer())
        .route("/notsecret", get(|| async { "open" }));
    assert_eq!(
        call(&app, get_with("/notsecret", None)).await,
        (StatusCode::OK, "open".into())
    );
    assert_eq!(
        call(&app, get_with("/nowhere", None)).await.0,
        StatusCode::NOT_FOUND
    );
    let secret = Request::post("/secret").body(Body::empty()).unwrap();
    assert_eq!(call(&app, secret).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn optional_layer_with_option_extractor() {
    let layer = JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, SECRET).unwrap())
        .optional()
        .build()
        .unwrap();
    let app = Router::new().route("/", get(maybe)).layer(layer);
    assert_eq!(
        call(&app, get_with("/", None)).await,
        (StatusCode::OK, "anonymous".into())
    );
    let token = hs256().sign(&access_claims("bob")).unwrap();
    assert_eq!(
        call(&app, get_with("/", Some(&token))).await,
        (StatusCode::OK, "bob".into())
    );
    assert_eq!(
        call(&app, get_with("/", Some("bad.token.here"))).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn extractor_without_the_layer_answers_500_naming_the_layer() {
    let app = Router::new().route("/me", get(whoami));
    let (status, body) = call(&app, get_with("/me", None)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body.contains("JwtAuthLayer"), "{body}");
}
