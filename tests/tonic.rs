//! The layer in front of a real tonic server, called by tonic's own client over loopback:
//! rejections arrive as gRPC statuses with the RFC 6750 challenge in `www-authenticate`, and
//! the handler reads the claims from `Request::extensions()`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use support::*;
use tokio::net::TcpListener;
use tonic::codegen::tokio_stream;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Server};
use tonic::{Code, Request, Response, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};
use tower::Layer;
use tower_jwt_auth::authorize::RequireScopeLayer;
use tower_jwt_auth::{Algorithm, Claims, GrpcRejection, JwtAuthLayer, Key};

/// The scope the health service requires in `scoped_server`.
const SCOPE: &str = "health:read";

/// A health service that records the `sub` of the claims each call carried (`None` when the
/// layer put no claims into the extensions).
#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<Vec<Option<String>>>>,
}

impl Recorder {
    fn seen(&self) -> Vec<Option<String>> {
        self.seen.lock().unwrap().clone()
    }
}

#[tonic::async_trait]
impl Health for Recorder {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        let sub = request
            .extensions()
            .get::<std::sync::Arc<Claims>>()
            .map(|claims| claims.sub.clone());
        self.seen.lock().unwrap().push(sub);
        Ok(Response::new(HealthCheckResponse {
            status: ServingStatus::Serving.into(),
        }))
    }

    type WatchStream = tokio_stream::Empty<Result<HealthCheckResponse, Status>>;

    async fn watch(
        &self,
        _request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        Err(Status::unimplemented("not used by these tests"))
    }
}

fn grpc_layer() -> JwtAuthLayer<Claims, GrpcRejection> {
    JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, SECRET).unwrap())
        .any_token_type() // OAuth-style tokens whose `scope` lists scopes
        .on_rejection(GrpcRejection)
        .build()
        .unwrap()
}

/// A loopback listener on a free port, and the URL a client dials.
async fn listen() -> (TcpIncoming, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (TcpIncoming::from(listener), url)
}

async fn client(url: String) -> HealthClient<Channel> {
    let channel = Channel::from_shared(url)
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .connect()
        .await
        .unwrap();
    HealthClient::new(channel)
}

/// The layer on the whole server, and the health service behind a `health:read` requirement.
/// The server task ends with the test's runtime.
async fn scoped_server() -> (HealthClient<Channel>, Recorder) {
    let (incoming, url) = listen().await;
    let recorder = Recorder::default();
    let require = RequireScopeLayer::all([SCOPE]).on_rejection(GrpcRejection);
    let server = Server::builder()
        .layer(grpc_layer())
        .add_service(require.layer(HealthServer::new(recorder.clone())));
    tokio::spawn(server.serve_with_incoming(incoming));
    (client(url).await, recorder)
}

/// One `Check` call with `authorization` metadata set to `authorization` (if any).
async fn check(
    client: &mut HealthClient<Channel>,
    authorization: Option<&str>,
) -> Result<ServingStatus, Status> {
    let mut request = Request::new(HealthCheckRequest::default());
    if let Some(value) = authorization {
        request
            .metadata_mut()
            .insert("authorization", value.parse().unwrap());
    }
    let response = client.check(request).await?;
    Ok(response.into_inner().status())
}

fn bearer(claims: &Value) -> String {
    format!("Bearer {}", hs256().sign(claims).unwrap())
}

fn scoped_claims(sub: &str, scope: &str) -> Value {
    json!({ "sub": sub, "iat": now(), "exp": now() + 600, "scope": scope })
}

/// The challenge a client reads from a refusal's `www-authenticate` metadata.
fn challenge(status: &Status) -> &str {
    status
        .metadata()
        .get("www-authenticate")
        .expect("a www-authenticate challenge")
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn no_token_is_unauthenticated_with_a_bare_bearer_challenge() {
    let (mut client, recorder) = scoped_server().await;
    let status = check(&mut client, None).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(status.message(), "Not authenticated");
    assert_eq!(challenge(&status), "Bearer");
    assert!(recorder.seen().is_empty(), "the handler was not reached");
}

#[tokio::test]
async fn expired_or_forged_tokens_are_unauthenticated_with_invalid_token_challenge() {
    let (mut client, recorder) = scoped_server().await;
    let expired =
        json!({ "sub": "alice", "iat": now() - 7200, "exp": now() - 3600, "scope": SCOPE });
    let forged = {
        let other = tower_jwt_auth::SigningKey::hmac(
            Algorithm::HS256,
            b"another-secret-of-thirty-two-bytes-or-more",
        )
        .unwrap();
        format!(
            "Bearer {}",
            other.sign(&scoped_claims("alice", SCOPE)).unwrap()
        )
    };
    let cases = [
        (bearer(&expired), "Token expired"),
        (forged, "Invalid token"),
        ("Bearer not.a.jwt".to_owned(), "Invalid token"),
    ];
    for (authorization, message) in cases {
        let status = check(&mut client, Some(&authorization)).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{message}");
        assert_eq!(status.message(), message);
        assert!(
            challenge(&status).starts_with(r#"Bearer error="invalid_token""#),
            "{}",
            challenge(&status)
        );
    }
    assert!(recorder.seen().is_empty(), "the handler was not reached");
}

#[tokio::test]
async fn malformed_authorization_is_unauthenticated_with_invalid_request_challenge() {
    let (mut client, recorder) = scoped_server().await;
    let status = check(&mut client, Some("Bearer a\"b")).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(challenge(&status), r#"Bearer error="invalid_request""#);
    assert!(recorder.seen().is_empty(), "the handler was not reached");
}

#[tokio::test]
async fn valid_token_with_the_scope_reaches_the_handler_with_its_claims() {
    let (mut client, recorder) = scoped_server().await;
    let status = check(&mut client, Some(&bearer(&scoped_claims("alice", SCOPE)))).await;
    assert_eq!(status.unwrap(), ServingStatus::Serving);
    assert_eq!(recorder.seen(), [Some("alice".to_owned())]);
}

#[tokio::test]
async fn valid_token_without_the_scope_is_permission_denied_with_insufficient_scope() {
    let (mut client, recorder) = scoped_server().await;
    let token = bearer(&scoped_claims("bob", "health:write other"));
    let status = check(&mut client, Some(&token)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(status.message(), "Insufficient scope");
    assert_eq!(
        challenge(&status),
        r#"Bearer error="insufficient_scope", scope="health:read""#
    );
    assert!(recorder.seen().is_empty(), "the handler was not reached");
}

#[tokio::test]
async fn the_channel_serves_calls_after_a_refusal() {
    let (mut client, recorder) = scoped_server().await;
    let token = bearer(&scoped_claims("carol", SCOPE));
    for _ in 0..3 {
        let refused = check(&mut client, None).await.unwrap_err();
        assert_eq!(refused.code(), Code::Unauthenticated);
        assert_eq!(
            check(&mut client, Some(&token)).await.unwrap(),
            ServingStatus::Serving
        );
    }
    assert_eq!(recorder.seen(), vec![Some("carol".to_owned()); 3]);
}

#[tokio::test]
async fn the_layer_can_guard_one_service_added_as_it_is() {
    let (incoming, url) = listen().await;
    let recorder = Recorder::default();
    let server =
        Server::builder().add_service(grpc_layer().layer(HealthServer::new(recorder.clone())));
    tokio::spawn(server.serve_with_incoming(incoming));
    let mut client = client(url).await;

    let status = check(&mut client, None).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(challenge(&status), "Bearer");
    let token = bearer(&scoped_claims("dave", "anything"));
    assert_eq!(
        check(&mut client, Some(&token)).await.unwrap(),
        ServingStatus::Serving
    );
    assert_eq!(recorder.seen(), [Some("dave".to_owned())]);
}
