//! A protected resource that publishes its metadata (RFC 9728): the document derived from
//! the layer, and the `resource_metadata` (and `scope`) parameters on every challenge the
//! layer answers with or passes back from the requirements behind it.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use http::StatusCode;
use serde_json::{Value, json};
use support::*;
use tower_jwt_auth::authorize::{RequireLayer, RequireScopeLayer, StepUp};
use tower_jwt_auth::dpop::Dpop;
use tower_jwt_auth::resource_metadata::ProtectedResourceMetadata;
use tower_jwt_auth::{Algorithm, JwtAuthLayer, Key, TrustedIssuer};

const RESOURCE: &str = "https://api.example.com/mcp";
const METADATA_URL: &str = "https://api.example.com/.well-known/oauth-protected-resource/mcp";
const ISSUER: &str = "https://login.example.com";

fn layer() -> JwtAuthLayer<Value> {
    JwtAuthLayer::builder_for(TrustedIssuer::new(
        ISSUER,
        Key::hmac(Algorithm::HS256, SECRET).unwrap(),
    ))
    .resource_metadata(ProtectedResourceMetadata::builder(RESOURCE).scopes_supported(["read"]))
    .challenge_scopes(["read"])
    .claims::<Value>()
    .build()
    .unwrap()
}

/// `/read` needs the scope `read`, `/transfer` a recent login; the metadata is served
/// beside them.
fn app(layer: &JwtAuthLayer<Value>) -> Router {
    let metadata = layer.resource_metadata().unwrap().router();
    Router::new()
        .route("/read", get(|| async { "read" }))
        .route_layer(RequireScopeLayer::all(["read"]).claims::<Value>())
        .merge(
            Router::new()
                .route("/transfer", get(|| async { "moved" }))
                .route_layer(
                    RequireLayer::new(StepUp::authenticated_within(Duration::from_secs(300)))
                        .claims::<Value>(),
                ),
        )
        .route_layer(layer.clone())
        .merge(metadata)
}

fn token(extra: Value) -> String {
    let mut claims = json!({ "iss": ISSUER, "sub": "alice", "exp": now() + 600 });
    claims
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    hs256().sign(&claims).unwrap()
}

fn get_request(uri: &str, token: Option<&str>) -> http::Request<axum::body::Body> {
    match token {
        Some(token) => bearer_request("GET", uri, token),
        None => http::Request::get(uri)
            .body(axum::body::Body::empty())
            .unwrap(),
    }
}

#[tokio::test]
async fn a_401_without_credentials_names_the_scope_and_the_metadata_url() {
    let layer = layer();
    let answer = call(&app(&layer), get_request("/read", None)).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer.challenge(),
        Some(format!(r#"Bearer scope="read", resource_metadata="{METADATA_URL}""#).as_str())
    );
}

#[tokio::test]
async fn an_invalid_token_401_keeps_its_error_and_names_the_metadata_url() {
    let layer = layer();
    let answer = call(&app(&layer), get_request("/read", Some("a.b.c"))).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer.challenge(),
        Some(
            format!(
                r#"Bearer error="invalid_token", scope="read", resource_metadata="{METADATA_URL}""#
            )
            .as_str()
        )
    );
}

#[tokio::test]
async fn a_403_from_a_scope_requirement_behind_the_layer_names_the_metadata_url() {
    let layer = layer();
    let answer = call(
        &app(&layer),
        get_request("/read", Some(&token(json!({ "scope": "write" })))),
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(
        answer.challenge(),
        Some(
            format!(
                r#"Bearer error="insufficient_scope", scope="read", resource_metadata="{METADATA_URL}""#
            )
            .as_str()
        )
    );
}

#[tokio::test]
async fn a_step_up_401_keeps_its_max_age_and_names_the_metadata_url() {
    let layer = layer();
    let stale = token(json!({ "scope": "read", "auth_time": now() - 3600 }));
    let answer = call(&app(&layer), get_request("/transfer", Some(&stale))).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    let challenge = answer.challenge().unwrap();
    assert!(
        challenge.starts_with(r#"Bearer error="insufficient_user_authentication""#),
        "{challenge}"
    );
    assert!(challenge.contains(r#"max_age="300""#), "{challenge}");
    assert!(
        challenge.ends_with(&format!(r#"resource_metadata="{METADATA_URL}""#)),
        "{challenge}"
    );
    let fresh = token(json!({ "scope": "read", "auth_time": now() - 10 }));
    let answer = call(&app(&layer), get_request("/transfer", Some(&fresh))).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert!(answer.challenge().is_none());
}

#[tokio::test]
async fn the_metadata_document_is_derived_from_the_layer_and_served_at_its_path() {
    let layer = layer();
    let answer = call(
        &app(&layer),
        get_request("/.well-known/oauth-protected-resource/mcp", None),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.content_type(), Some("application/json"));
    assert_eq!(
        answer.body,
        json!({
            "resource": RESOURCE,
            "authorization_servers": [ISSUER],
            "scopes_supported": ["read"],
            "bearer_methods_supported": ["header"],
        })
    );
    assert_eq!(
        layer.resource_metadata().unwrap().metadata_url(),
        METADATA_URL
    );
}

#[tokio::test]
async fn the_metadata_names_query_tokens_and_the_dpop_algorithms_when_the_layer_takes_them() {
    let layer: JwtAuthLayer<Value> =
        JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, SECRET).unwrap())
            .query_param("access_token")
            .dpop(Dpop::new("https://api.example.com").algorithms([Algorithm::ES256]))
            .resource_metadata(ProtectedResourceMetadata::builder(
                "https://api.example.com",
            ))
            .claims::<Value>()
            .build()
            .unwrap();
    let metadata = serde_json::to_value(layer.resource_metadata().unwrap()).unwrap();
    assert_eq!(
        metadata,
        json!({
            "resource": "https://api.example.com",
            "bearer_methods_supported": ["header", "query"],
            "dpop_signing_alg_values_supported": ["ES256"],
        })
    );
    // Under DPoP the challenges are DPoP ones, and they name the document too.
    let answer = call(
        &Router::new()
            .route("/", get(|| async { "ok" }))
            .route_layer(layer),
        get_request("/", None),
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    let challenges = answer
        .header("www-authenticate")
        .unwrap_or_default()
        .to_owned();
    assert!(
        challenges.contains(
            r#"resource_metadata="https://api.example.com/.well-known/oauth-protected-resource""#
        ),
        "{challenges}"
    );
}

#[test]
fn a_resource_that_is_not_a_url_or_a_scope_that_is_no_scope_token_fails_the_build() {
    let bad = JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, SECRET).unwrap())
        .resource_metadata(ProtectedResourceMetadata::builder("api.example.com#frag"))
        .build();
    assert!(bad.is_err());
    let bad_scope = JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, SECRET).unwrap())
        .challenge_scopes(["read write"])
        .build();
    assert!(bad_scope.is_err());
}

#[tokio::test]
async fn challenge_scopes_without_metadata_name_the_scope_on_a_401() {
    let layer = JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, SECRET).unwrap())
        .challenge_scopes(["read"])
        .build()
        .unwrap();
    assert!(layer.resource_metadata().is_none());
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .route_layer(layer);
    let answer = call(&app, get_request("/", None)).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.challenge(), Some(r#"Bearer scope="read""#));
}
