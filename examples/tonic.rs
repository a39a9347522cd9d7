//! `JwtAuthLayer` in front of a tonic gRPC server: the gRPC health service, answering only
//! calls that carry a valid bearer token with the `health:read` scope.
//!
//! ```sh
//! APP_SECRET_STRING=$(openssl rand -base64 48) cargo run --example tonic --features tonic
//! grpcurl -plaintext 127.0.0.1:50051 grpc.health.v1.Health/Check
//! # ERROR: Code: Unauthenticated  Message: Not authenticated
//! grpcurl -plaintext -H "authorization: Bearer $TOKEN" 127.0.0.1:50051 grpc.health.v1.Health/Check
//! # { "status": "SERVING" }   (a token signed with the secret, whose `scope` has health:read)
//! ```

use std::net::SocketAddr;

use tonic::transport::Server;
use tower::Layer;
use tower_jwt_auth::authorize::RequireScopeLayer;
use tower_jwt_auth::{Algorithm, GrpcRejection, JwtAuthLayer, Key};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secret = std::env::var("APP_SECRET_STRING").map_err(
        |_| "set APP_SECRET_STRING (at least 32 bytes), e.g. $(openssl rand -base64 48)",
    )?;
    // Rejections as gRPC statuses: UNAUTHENTICATED for a missing or bad token.
    let authenticate = JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, secret)?)
        .any_token_type() // OAuth access tokens: `scope` lists scopes
        .on_rejection(GrpcRejection)
        .build()?;
    // PERMISSION_DENIED for a valid token without the scope.
    let require = RequireScopeLayer::all(["health:read"]).on_rejection(GrpcRejection);

    let (_reporter, health) = tonic_health::server::health_reporter();
    let addr = SocketAddr::from(([127, 0, 0, 1], 50051));
    println!("gRPC health service on {addr}");
    Server::builder()
        .layer(authenticate)
        .add_service(require.layer(health))
        .serve(addr)
        .await?;
    Ok(())
}
