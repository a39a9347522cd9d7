//! JWT bearer authentication for [tower], [hyper] and [axum] services.
//!
//! The crate in layers: each imports only the layers below it, and
//! `.ci/layers` checks that no top-level modules import each other, directly
//! or round a circle.
//!
//! ```text
//!  router  grpc  extract  issuer  password  store    the auth router, gRPC, axum
//!    |      |                                        extractors, token issuing
//!  layer (layer.rs, layer/service.rs, layer/future.rs)
//!    |      JwtAuthLayer, JwtAuth, ResponseFuture: the tower trio
//!  resource_metadata  introspection  dpop  remote  revocation  authorize  csrf
//!    |      features: each plugs into a hook of the core or of the layer
//!    |      (remote: KeySource, revocation: Revocation, dpop: the layer's
//!    |      DPoP step, ...) and imports the core, never the reverse
//!  rejection                                         a refusal -> a response:
//!    |      Rejection, JsonRejection, OnRejection and every challenge's text;
//!    |      features hand it plain data (DpopRejection, ScopeList, StepUp)
//!  validator (its trusted issuers and the KeySource and Revocation hooks),
//!  cache, signing, key (JWKS too), jws, claims, source, error, outage
//!           the core: it imports no feature
//! ```
//!
//! Within that order a feature may use a lower one (introspection fetches
//! with remote's client, resource_metadata checks URLs as DPoP's `htu`
//! does); nothing points upwards.
//!
//! [`JwtAuthLayer`] validates the bearer token of every request and puts the
//! claims into the request extensions; rejections follow RFC 6750 §3. It is a
//! plain tower [`Layer`]: it works with axum's `Router::layer` and
//! `route_layer`, with a hyper 1 server through hyper-util's tower adapter,
//! and with any tower stack.
//!
//! ```
//! use std::convert::Infallible;
//!
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::{BodyExt, Full};
//! use tower::{Service, ServiceBuilder, ServiceExt};
//! use tower_jwt_auth::{Algorithm, Claims, JwtAuthLayer, Key, SigningKey};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let secret = b"a secret of at least thirty-two bytes!!";
//! let layer = JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, secret)?).build()?;
//!
//! let mut service = ServiceBuilder::new().layer(layer).service_fn(|req: Request<Full<Bytes>>| async move {
//!     let claims = req.extensions().get::<std::sync::Arc<Claims>>().expect("the layer inserted the claims");
//!     Ok::<_, Infallible>(Response::new(Full::<Bytes>::from(format!("hello {}", claims.sub))))
//! });
//!
//! // No token: 401 with a bare `Bearer` challenge.
//! let response = service.ready().await?.call(Request::new(Full::default())).await?;
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(response.headers()["www-authenticate"], "Bearer");
//!
//! // A valid access token: 200, and the handler sees the claims.
//! let signer = SigningKey::hmac(Algorithm::HS256, secret)?;
//! let token = signer.sign(&serde_json::json!({
//!     "sub": "alice",
//!     "exp": jsonwebtoken::get_current_timestamp() + 60,
//!     "scope": "access_token",
//! }))?;
//! let request = Request::builder()
//!     .header("authorization", format!("Bearer {token}"))
//!     .body(Full::default())?;
//! let response = service.ready().await?.call(request).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! assert_eq!(response.into_body().collect().await?.to_bytes(), "hello alice");
//! # Ok(())
//! # }
//! ```
//!
//! # Guides
//!
//! The [`guide`] module is the manual, one page per task: tokens and keys,
//! identity providers, scopes and roles, the auth router, cookies and CSRF,
//! DPoP, gRPC, running several instances, serving, and the benchmarks.
//!
//! # Rejections
//!
//! | Case | Status | `WWW-Authenticate` | Body |
//! |---|---|---|---|
//! | No credentials | 401 | `Bearer` | `{"detail":"Not authenticated"}` |
//! | Expired | 401 | `Bearer error="invalid_token", …` | `{"detail":"Token expired"}` |
//! | Any other bad token | 401 | `Bearer error="invalid_token"` | `{"detail":"Invalid token"}` |
//! | Malformed `Authorization` | 400 | `Bearer error="invalid_request"` | `{"detail":"Invalid request"}` |
//! | Valid token, requirement not met ([`authorize`]) | 403 | `Bearer error="insufficient_scope", scope="…"` | `{"detail":"Insufficient scope"}` |
//! | Valid token, user authentication too weak or too old ([`authorize::StepUp`], RFC 9470) | 401 | `Bearer error="insufficient_user_authentication", error_description="…", acr_values="…", max_age="…"` | `{"detail":"Insufficient user authentication"}` |
//! | Token from a cookie on a cross-site `POST`/`PUT`/`PATCH`/`DELETE` ([`csrf`]) | 403 | — | `{"detail":"Cross-site request refused"}` |
//!
//! The 403 and the step-up 401 come from the per-route requirements of
//! [`authorize`] ([`RequireScopeLayer`](crate::authorize::RequireScopeLayer),
//! [`RequireLayer`](crate::authorize::RequireLayer) with a
//! [`StepUp`](crate::authorize::StepUp), the `Scoped` extractor), placed
//! inside the layer.
//!
//! # Tokens of identity providers
//!
//! A layer trusts one issuer or several, each a [`TrustedIssuer`] with its own
//! keys and rules; the token's `iss` chooses among them. With the `remote`
//! feature, an issuer's keys are fetched by discovery or from its JWKS URL and
//! kept fresh in the background ([`remote::RemoteKeys`]); the tutorial's own
//! HS256 tokens can be accepted on the same layer. Scopes and roles are
//! required per route with [`authorize`].
//!
//! # Protected resources: metadata, opaque tokens, step-up
//!
//! [`JwtAuthLayerBuilder::resource_metadata`](crate::layer::JwtAuthLayerBuilder::resource_metadata)
//! publishes the resource's metadata (RFC 9728, [`resource_metadata`]) and
//! names it in every 401 and 403 challenge, for clients that discover their
//! authorization at run time (MCP clients among them). With the `remote`
//! feature, opaque tokens are checked by token introspection (RFC 7662,
//! `introspection`), their claims landing where a JWT's do. Routes that need
//! a recent or stronger login require it with
//! [`StepUp`](crate::authorize::StepUp) (RFC 9470).
//!
//! # Sender-constrained tokens (DPoP)
//!
//! With [`JwtAuthLayerBuilder::dpop`](crate::layer::JwtAuthLayerBuilder::dpop), the layer also accepts tokens bound
//! to a client's key (RFC 9449): `Authorization: DPoP <token>` with a proof
//! in the `DPoP` header, checked on every request; a bound token sent as a
//! bearer token is refused. See [`dpop`].
//!
//! # Browser apps: cookies and CSRF
//!
//! [`JwtAuthLayerBuilder::cookie`](crate::layer::JwtAuthLayerBuilder::cookie) takes the token from a cookie; an empty
//! cookie counts as no credentials. An unsafe request whose token came from
//! a cookie must come from the site's own origin ([`csrf`]), else it gets
//! 403. The router's cookie mode (`AuthBuilder::cookies`, feature `router`)
//! sets and clears the cookies.
//!
//! # Features
//!
//! - `aws-lc-rs` (default) / `rust-crypto`: jsonwebtoken's crypto backend for
//!   the asymmetric algorithms (HMAC always uses a pre-keyed RustCrypto
//!   state). With both on, aws-lc-rs is used.
//! - `axum`: the `JwtClaims` extractor and the `Scoped` extractor of
//!   [`authorize`].
//! - `router`: the auth router (`Auth`), password hashing, token issuing,
//!   login throttling and the in-memory store.
//! - `sqlite`, `postgres`: the SQL stores.
//! - `openapi`: the router's OpenAPI description (utoipa).
//! - `remote`: keys fetched from identity providers ([`remote`]): OpenID
//!   Connect / RFC 8414 discovery and remote JWKS, refreshed in the
//!   background, with a default HTTP client (reqwest, rustls).
//! - `tonic`: gRPC ([`grpc`]): [`GrpcRejection`] answers with gRPC statuses
//!   (`UNAUTHENTICATED`, `PERMISSION_DENIED`) for a tonic server.
//!
//! [tower]: https://docs.rs/tower
//! [`Layer`]: https://docs.rs/tower-layer/0.3/tower_layer/trait.Layer.html
//! [hyper]: https://docs.rs/hyper
//! [axum]: https://docs.rs/axum

#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

pub mod authorize;
mod cache;
pub mod claims;
pub mod csrf;
pub mod dpop;
mod error;
#[cfg(feature = "axum")]
pub mod extract;
#[cfg(feature = "tonic")]
pub mod grpc;
pub mod guide;
#[cfg(feature = "remote")]
pub mod introspection;
#[cfg(feature = "router")]
pub mod issuer;
mod jws;
pub mod key;
pub mod layer;
#[cfg(feature = "router")]
mod outage;
#[cfg(feature = "router")]
pub mod password;
pub mod rejection;
#[cfg(feature = "remote")]
pub mod remote;
pub mod resource_metadata;
pub mod revocation;
#[cfg(feature = "router")]
pub mod router;
pub mod signing;
mod source;
#[cfg(feature = "router")]
pub mod store;
pub mod validator;

// The crate root holds what the quick starts use; everything else lives in its module.
pub use claims::Claims;
pub use error::BuildError;
#[cfg(feature = "axum")]
pub use extract::JwtClaims;
#[cfg(feature = "tonic")]
pub use grpc::GrpcRejection;
#[cfg(feature = "router")]
pub use issuer::TokenIssuer;
pub use jsonwebtoken::Algorithm;
pub use key::Key;
pub use layer::JwtAuthLayer;
#[cfg(feature = "router")]
pub use router::Auth;
pub use signing::SigningKey;
pub use validator::trusted_issuer::TrustedIssuer;
