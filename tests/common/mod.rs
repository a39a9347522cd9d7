//! Test support: keys, token minting and a ready-made layered service.
#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tower::ServiceExt;
use tower_jwt_auth::{Algorithm, Claims, JwtAuthLayer, Key, SigningKey};

pub const SECRET: &[u8] = b"test-secret-that-is-at-least-32-bytes-long";

pub fn data(path: &str) -> Vec<u8> {
    let full = format!("{}/tests/data/{path}", env!("CARGO_MANIFEST_DIR"));
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

/// The result of one request through a service: status, challenge, JSON body, and the
/// `sub` the inner service saw (if it was reached).
#[derive(Debug)]
pub struct Outcome {
    pub status: u16,
    pub challenge: Option<String>,
    pub content_type: Option<String>,
    /// The `DPoP-Nonce` header (RFC 9449 §8).
    pub dpop_nonce: Option<String>,
    pub body: Value,
}

/// Sends `request` through `layer` in front of an echo service that answers 200 with
/// `{"sub": …}` from the claims in the extensions, or `{"sub": null}`.
pub async fn send<O>(layer: &JwtAuthLayer<Claims, O>, request: Request<Full<Bytes>>) -> Outcome
where
    O: tower_jwt_auth::OnRejection<Full<Bytes>> + Clone,
{
    let service = tower::ServiceBuilder::new()
        .layer(layer.clone())
        .service_fn(|req: Request<Full<Bytes>>| async move {
            let sub = req
                .extensions()
                .get::<Claims>()
                .map(|claims| claims.sub.clone());
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(
                json!({ "sub": sub }).to_string(),
            ))))
        });
    outcome(service.oneshot(request).await.unwrap()).await
}

/// Reads a response as an [`Outcome`].
pub async fn outcome<B>(response: Response<B>) -> Outcome
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|value| value.to_str().unwrap().to_owned())
    };
    let (challenge, content_type) = (header("www-authenticate"), header("content-type"));
    let dpop_nonce = header("dpop-nonce");
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Outcome {
        status,
        challenge,
        content_type,
        dpop_nonce,
        body,
    }
}

pub fn with_bearer(token: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .header("authorization", format!("Bearer {token}"))
        .body(Full::default())
        .unwrap()
}

pub async fn send_token(layer: &JwtAuthLayer, token: &str) -> Outcome {
    send(layer, with_bearer(token)).await
}

pub fn hs256_layer() -> JwtAuthLayer {
    JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, SECRET).unwrap())
        .build()
        .unwrap()
}

impl Outcome {
    pub fn assert_ok(&self, sub: &str) {
        assert_eq!(
            (self.status, &self.body),
            (200, &json!({ "sub": sub })),
            "{self:?}"
        );
    }

    pub fn assert_invalid_token(&self) {
        assert_eq!(self.status, 401, "{self:?}");
        assert_eq!(
            self.challenge.as_deref(),
            Some("Bearer error=\"invalid_token\""),
            "{self:?}"
        );
        assert_eq!(self.body, json!({ "detail": "Invalid token" }), "{self:?}");
        assert_eq!(self.content_type.as_deref(), Some("application/json"));
    }

    pub fn assert_expired(&self) {
        assert_eq!(self.status, 401, "{self:?}");
        assert!(
            self.challenge
                .as_deref()
                .unwrap_or_default()
                .starts_with("Bearer error=\"invalid_token\""),
            "{self:?}"
        );
        assert_eq!(self.body, json!({ "detail": "Token expired" }), "{self:?}");
    }

    pub fn assert_not_authenticated(&self) {
        assert_eq!(self.status, 401, "{self:?}");
        assert_eq!(self.challenge.as_deref(), Some("Bearer"), "{self:?}");
        assert_eq!(
            self.body,
            json!({ "detail": "Not authenticated" }),
            "{self:?}"
        );
    }

    pub fn assert_insufficient_scope(&self, challenge: &str) {
        assert_eq!(self.status, 403, "{self:?}");
        assert_eq!(self.challenge.as_deref(), Some(challenge), "{self:?}");
        assert_eq!(
            self.body,
            json!({ "detail": "Insufficient scope" }),
            "{self:?}"
        );
        assert_eq!(self.content_type.as_deref(), Some("application/json"));
    }

    pub fn assert_invalid_request(&self) {
        assert_eq!(self.status, 400, "{self:?}");
        assert_eq!(
            self.challenge.as_deref(),
            Some("Bearer error=\"invalid_request\""),
            "{self:?}"
        );
    }
}

/// An axum app's answer: status, headers and the JSON body (`null` if not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: http::StatusCode,
    pub headers: http::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn pair(&self) -> (http::StatusCode, Value) {
        (self.status, self.body.clone())
    }
}

pub async fn call(router: &axum::Router, request: Request<axum::body::Body>) -> Answer {
    let response = router.clone().oneshot(request).await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
    }
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
