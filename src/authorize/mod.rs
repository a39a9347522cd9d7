//! Authorization: which authenticated requests may do what.
//!
//! [`JwtAuthLayer`](crate::JwtAuthLayer) answers "is this token valid?" and
//! puts the claims into the request extensions. This module answers "may
//! it do this?", per route:
//!
//! - [`RequireLayer`] (for scopes [`RequireScopeLayer`]): a tower layer
//!   that goes inside the authentication layer, for a group of routes;
//! - [`Scoped`] (feature `axum`): an extractor, for one handler;
//! - [`ScopeSource`]: which claim lists the scopes or roles — the OAuth
//!   `scope` string, Entra ID's `scp`, Keycloak's realm or client roles,
//!   Auth0's `permissions`, or an array at any path;
//! - [`ScopeClaims`]: implemented for [`Claims`](crate::Claims) (the `scope`
//!   claim only) and `serde_json::Value` (every source); implement it for
//!   your own claims type.
//!
//! A valid token without the required scopes gets 403 with
//! `WWW-Authenticate: Bearer error="insufficient_scope", scope="read write"`
//! (RFC 6750 §3.1, the scope attribute lists every required scope) and
//! `{"detail":"Insufficient scope"}`: [`Rejection::InsufficientScope`](crate::rejection::Rejection::InsufficientScope). A
//! request without claims (no credentials on an optional layer) gets 401
//! with a bare `Bearer` challenge. Malformed scope claims (a number, an
//! object, `null`, an oversized string) grant nothing: 403, never a 500.
//!
//! The tutorial's tokens use `scope` as their token type (`access_token`);
//! they carry no OAuth scopes, and a requirement such as `read` refuses them.
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//!
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::Full;
//! use serde_json::{Value, json};
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_jwt_auth::authorize::{RequireScopeLayer, ScopeSource};
//! use tower_jwt_auth::{Algorithm, JwtAuthLayer, Key, SigningKey};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let secret = b"a secret of at least thirty-two bytes!!";
//! let authenticate = JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, secret)?)
//!     .any_token_type() // OAuth access tokens, not the tutorial's `scope` marker
//!     .claims::<Value>()
//!     .build()?;
//! // Keycloak realm roles: `realm_access.roles` must hold `admin`.
//! let require = RequireScopeLayer::all(["admin"])
//!     .source(ScopeSource::keycloak_realm_roles())
//!     .claims::<Value>();
//!
//! let service = ServiceBuilder::new()
//!     .layer(authenticate) // first: is the token valid?
//!     .layer(require) // then: may it do this?
//!     .service_fn(|_: Request<Full<Bytes>>| async {
//!         Ok::<_, Infallible>(Response::new(Full::<Bytes>::from("welcome")))
//!     });
//!
//! let signer = SigningKey::hmac(Algorithm::HS256, secret)?;
//! let call = |roles: Value| {
//!     let token = signer.sign(&json!({
//!         "sub": "alice",
//!         "exp": jsonwebtoken::get_current_timestamp() + 60,
//!         "realm_access": { "roles": roles },
//!     }));
//!     let service = service.clone();
//!     async move {
//!         let request = Request::builder()
//!             .header("authorization", format!("Bearer {}", token?))
//!             .body(Full::default())?;
//!         Ok::<_, Box<dyn std::error::Error>>(service.oneshot(request).await?)
//!     }
//! };
//!
//! // An admin: 200.
//! assert_eq!(call(json!(["admin", "user"])).await?.status(), StatusCode::OK);
//!
//! // A valid token without the role: 403 naming what is missing.
//! let response = call(json!(["user"])).await?;
//! assert_eq!(response.status(), StatusCode::FORBIDDEN);
//! assert_eq!(
//!     response.headers()["www-authenticate"],
//!     r#"Bearer error="insufficient_scope", scope="admin""#
//! );
//! # Ok(())
//! # }
//! ```
//!
//! With axum, put the requirement on the routes before the authentication
//! layer (`route_layer` wraps what is already there, so the layer added last
//! runs first):
//!
//! ```ignore
//! let app = Router::new()
//!     .route("/orders", post(create_order))
//!     .route_layer(RequireScopeLayer::all(["orders:write"]).claims::<Value>())
//!     .route_layer(jwt_layer);
//! ```

#[cfg(feature = "axum")]
mod extract;
mod layer;
mod requirement;
mod scope;

#[cfg(feature = "axum")]
pub use extract::{ScopeRequirement, Scoped};
pub use layer::{Require, RequireLayer, RequireScopeLayer, ResponseFuture};
pub(crate) use requirement::is_scope_token;
pub use requirement::{Authorize, ScopeList, Scopes};
pub use scope::{MAX_SCOPE_CLAIM_ITEMS, MAX_SCOPE_CLAIM_LEN, ScopeClaims, ScopeSource};
