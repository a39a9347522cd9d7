//! gRPC with tonic (feature `tonic`): rejections as gRPC statuses.
//!
//! A gRPC client does not read HTTP 401 or a JSON body: it reads the
//! `grpc-status` and `grpc-message` of an HTTP 200 response. Built with
//! [`GrpcRejection`], [`JwtAuthLayer`](crate::JwtAuthLayer) and
//! [`RequireLayer`](crate::authorize::RequireLayer) answer that way, with the RFC 6750
//! challenge of [`Rejection::challenge`] in the `www-authenticate` metadata:
//!
//! | Case | gRPC code | `www-authenticate` | `grpc-message` |
//! |---|---|---|---|
//! | No credentials | `UNAUTHENTICATED` (16) | `Bearer` | `Not authenticated` |
//! | Expired | `UNAUTHENTICATED` (16) | `Bearer error="invalid_token", …` | `Token expired` |
//! | Any other bad token | `UNAUTHENTICATED` (16) | `Bearer error="invalid_token"` | `Invalid token` |
//! | Malformed `authorization` | `UNAUTHENTICATED` (16) | `Bearer error="invalid_request"` | `Invalid request` |
//! | Valid token, requirement not met | `PERMISSION_DENIED` (7) | `Bearer error="insufficient_scope", scope="…"` | `Insufficient scope` |
//! | Valid token, user authentication too weak or too old ([`StepUp`](crate::authorize::StepUp)) | `UNAUTHENTICATED` (16) | `Bearer error="insufficient_user_authentication", …` | `Insufficient user authentication` |
//!
//! The response is the one tonic's own [`Status::into_http`] makes: status
//! 200, `content-type: application/grpc`, and the status in the headers (a
//! "trailers-only" response), so every gRPC client reads it as it reads a
//! status returned by a handler.
//!
//! The claims reach handlers in the request extensions:
//! `request.extensions().get::<Arc<Claims>>()` on a [`tonic::Request`]. Inside a
//! handler, a [`Rejection`] converts into a [`Status`] (`From`), so a check
//! per method can use `?`: `self.write_orders.authorize(claims)?`, with a
//! [`Scopes`](crate::authorize::Scopes) built once and
//! [`Authorize`](crate::authorize::Authorize) in scope.
//!
//! # Example
//!
//! The whole server behind the layer, and one service that also needs a
//! scope. [`JwtAuth`] and [`Require`] keep the name of the service they
//! wrap ([`NamedService`]), so a wrapped service can be added with
//! `add_service` as it is.
//!
//! ```no_run
//! use tonic::transport::Server;
//! use tower::Layer;
//! use tower_jwt_auth::{Algorithm, GrpcRejection, JwtAuthLayer, Key};
//! use tower_jwt_auth::authorize::RequireScopeLayer;
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let secret = std::env::var("APP_SECRET_STRING")?;
//! let authenticate = JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, secret)?)
//!     .any_token_type() // OAuth access tokens with their scopes
//!     .on_rejection(GrpcRejection)
//!     .build()?;
//! let require = RequireScopeLayer::all(["health:read"]).on_rejection(GrpcRejection);
//!
//! let (_reporter, health) = tonic_health::server::health_reporter();
//! Server::builder()
//!     .layer(authenticate) // every call: a valid token, else UNAUTHENTICATED
//!     .add_service(require.layer(health)) // this service: `health:read`, else PERMISSION_DENIED
//!     .serve("127.0.0.1:50051".parse()?)
//!     .await?;
//! # Ok(())
//! # }
//! ```
//!
//! [`JwtAuth`]: crate::layer::JwtAuth
//! [`Require`]: crate::authorize::Require

use http::header::WWW_AUTHENTICATE;
use http::{HeaderMap, Response};
use tonic::metadata::MetadataMap;
use tonic::server::NamedService;
use tonic::{Code, Status};

use crate::authorize::Require;
use crate::layer::JwtAuth;
use crate::rejection::{OnRejection, Rejection};

/// The gRPC rejection format: a [`Rejection`] as a tonic [`Status`] (see the
/// [module docs](self) for the table), answered as tonic answers a status.
///
/// Give it to [`JwtAuthLayerBuilder::on_rejection`](crate::layer::JwtAuthLayerBuilder::on_rejection)
/// and [`RequireLayer::on_rejection`](crate::authorize::RequireLayer::on_rejection).
/// It works with any response body that has a `Default` (an empty body), and
/// so with `tonic::body::Body`, the one tonic's server needs.
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcRejection;

impl<B: Default> OnRejection<B> for GrpcRejection {
    fn on_rejection(&self, rejection: Rejection) -> Response<B> {
        // `into_http` cannot fail here: the message is one of the fixed
        // texts of `Rejection::detail` and the metadata is a header value
        // already.
        Status::from(rejection).into_http()
    }
}

/// `UNAUTHENTICATED`, `PERMISSION_DENIED` or (revocations unknown)
/// `UNAVAILABLE`, with [`Rejection::detail`] as
/// the message and [`Rejection::challenge`] in the `www-authenticate`
/// metadata.
impl From<Rejection> for Status {
    fn from(rejection: Rejection) -> Self {
        let code = match rejection {
            Rejection::MissingCredentials
            | Rejection::InvalidRequest
            | Rejection::InvalidToken(_)
            | Rejection::InsufficientUserAuthentication { .. }
            | Rejection::Dpop(_) => Code::Unauthenticated,
            Rejection::InsufficientScope { .. } | Rejection::CrossSite => Code::PermissionDenied,
            Rejection::Unavailable => Code::Unavailable,
        };
        let mut headers = HeaderMap::with_capacity(1);
        headers.insert(WWW_AUTHENTICATE, rejection.challenge());
        Status::with_metadata(code, rejection.detail(), MetadataMap::from_headers(headers))
    }
}

/// The name of the service it wraps, so that
/// `add_service(jwt_layer.layer(service))` routes as `service` would.
impl<S: NamedService, C, O> NamedService for JwtAuth<S, C, O> {
    const NAME: &'static str = S::NAME;
}

/// The name of the service it wraps, so that
/// `add_service(require_layer.layer(service))` routes as `service` would.
impl<S: NamedService, A, C, O> NamedService for Require<S, A, C, O> {
    const NAME: &'static str = S::NAME;
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use bytes::Bytes;
    use http::{Request, StatusCode};
    use http_body_util::Full;
    use serde_json::{Value, json};
    use tower::{ServiceBuilder, ServiceExt};

    use super::*;
    use crate::authorize::{RequireScopeLayer, ScopeList, StepUp};
    use crate::error::TokenError;

    /// The gRPC code, message and challenge of `response`, as a client reads
    /// them.
    fn read(response: &Response<Full<Bytes>>) -> (Code, String, String) {
        let status = Status::from_header_map(response.headers()).expect("a grpc-status header");
        let challenge = status
            .metadata()
            .get("www-authenticate")
            .expect("a challenge");
        let challenge = challenge.to_str().expect("ASCII").to_owned();
        (status.code(), status.message().to_owned(), challenge)
    }

    #[test]
    fn each_rejection_is_a_trailers_only_grpc_answer_with_its_challenge() {
        // The code as it goes on the wire: `grpc-status` 16 or 7.
        let expired = Rejection::InvalidToken(TokenError::Expired);
        let forged = Rejection::InvalidToken(TokenError::InvalidSignature);
        let required = ScopeList::new(["read", "write"]).unwrap();
        let cases = [
            (Rejection::MissingCredentials, Code::Unauthenticated, "16"),
            (Rejection::InvalidRequest, Code::Unauthenticated, "16"),
            (expired, Code::Unauthenticated, "16"),
            (forged, Code::Unauthenticated, "16"),
            (
                Rejection::InsufficientScope { required },
                Code::PermissionDenied,
                "7",
            ),
            (
                Rejection::InsufficientUserAuthentication {
                    required: StepUp::acr_values(["phr"]).unwrap(),
                },
                Code::Unauthenticated,
                "16",
            ),
        ];
        for (rejection, code, wire) in cases {
            let response: Response<Full<Bytes>> = GrpcRejection.on_rejection(rejection.clone());
            assert_eq!(response.status(), StatusCode::OK, "{rejection:?}");
            assert_eq!(response.headers()["content-type"], "application/grpc");
            assert_eq!(response.headers()["grpc-status"], wire, "{rejection:?}");
            let challenge = rejection.challenge().to_str().unwrap().to_owned();
            let expected = (code, rejection.detail().to_owned(), challenge);
            assert_eq!(read(&response), expected, "{rejection:?}");
        }
    }

    #[tokio::test]
    async fn a_requirement_refuses_with_permission_denied() {
        let service = ServiceBuilder::new()
            .layer(
                RequireScopeLayer::all(["read"])
                    .claims::<Value>()
                    .on_rejection(GrpcRejection),
            )
            .service_fn(|_: Request<()>| async {
                Ok::<_, Infallible>(Response::new(Full::<Bytes>::default()))
            });
        let mut request = Request::new(());
        request
            .extensions_mut()
            .insert(std::sync::Arc::new(json!({ "scope": "write" })));
        let response = service.oneshot(request).await.unwrap();
        let (code, _, challenge) = read(&response);
        assert_eq!(code, Code::PermissionDenied);
        assert_eq!(
            challenge,
            r#"Bearer error="insufficient_scope", scope="read""#
        );
    }
}
