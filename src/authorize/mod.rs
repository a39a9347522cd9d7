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
//!   your own claims type;
//! - [`StepUp`]: step-up authentication (RFC 9470), a requirement on how
//!   (`acr`) and how recently (`auth_time`) the user authenticated, for
//!   [`AuthenticationClaims`] types (`Claims`, `serde_json::Value`, yours).
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
//!
//! # Step-up authentication
//!
//! Some routes need more than a valid token: a login with a stronger method,
//! or a recent one (RFC 9470). [`StepUp`] requires the token's `acr` to be
//! one of a list of values, its `auth_time` to be at most a maximum age old,
//! or both. A token that falls short gets 401 with
//! `WWW-Authenticate: Bearer error="insufficient_user_authentication",
//! error_description="…", acr_values="…", max_age="…"` (the `acr` values
//! space-separated, the age in seconds) and
//! `{"detail":"Insufficient user authentication"}`:
//! [`Rejection::InsufficientUserAuthentication`](crate::rejection::Rejection::InsufficientUserAuthentication).
//! The client then asks the authorization server for a new token with those
//! `acr_values` and `max_age`. With `serde_json::Value` claims, a missing or
//! malformed `acr` or `auth_time` (a number for `acr`, a string for
//! `auth_time`) meets no requirement on it: 401, never a 500. With
//! [`Claims`](crate::Claims), which decodes both, a malformed one makes the
//! token invalid, as a malformed `iat` does.
//!
//! It is a requirement like [`Scopes`]: put it in a [`RequireLayer`], and
//! put a scope layer next to it when a route needs both.
//!
//! ```
//! use std::convert::Infallible;
//! use std::time::Duration;
//!
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::Full;
//! use serde_json::{Value, json};
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_jwt_auth::authorize::{RequireLayer, StepUp};
//! use tower_jwt_auth::{Algorithm, JwtAuthLayer, Key, SigningKey};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let secret = b"a secret of at least thirty-two bytes!!";
//! let authenticate = JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, secret)?)
//!     .any_token_type()
//!     .claims::<Value>()
//!     .build()?;
//! // Phishing-resistant (`phr`) or hardware-backed (`phrh`), at most five minutes ago.
//! let step_up = StepUp::acr_values(["phr", "phrh"])?.max_age(Duration::from_secs(300));
//! let require = RequireLayer::new(step_up).claims::<Value>();
//!
//! let service = ServiceBuilder::new()
//!     .layer(authenticate)
//!     .layer(require)
//!     .service_fn(|_: Request<Full<Bytes>>| async {
//!         Ok::<_, Infallible>(Response::new(Full::<Bytes>::from("transferred")))
//!     });
//!
//! let signer = SigningKey::hmac(Algorithm::HS256, secret)?;
//! let now = jsonwebtoken::get_current_timestamp();
//! let call = |acr: &str, auth_time: u64| {
//!     let token = signer.sign(&json!({
//!         "sub": "alice",
//!         "exp": now + 60,
//!         "acr": acr,
//!         "auth_time": auth_time,
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
//! // A phishing-resistant login a minute ago: 200.
//! assert_eq!(call("phr", now - 60).await?.status(), StatusCode::OK);
//!
//! // A password login (`pwd`): 401, and what to come back with.
//! let response = call("pwd", now - 60).await?;
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(
//!     response.headers()["www-authenticate"],
//!     "Bearer error=\"insufficient_user_authentication\", \
//!      error_description=\"A different authentication level and more recent authentication are required\", \
//!      acr_values=\"phr phrh\", max_age=\"300\""
//! );
//!
//! // The right method, but an hour ago: 401 too.
//! assert_eq!(call("phr", now - 3600).await?.status(), StatusCode::UNAUTHORIZED);
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "axum")]
mod extract;
mod layer;
mod requirement;
mod scope;
mod step_up;

pub use crate::rejection::scope::ScopeList;
pub use crate::rejection::step_up::StepUp;
#[cfg(feature = "axum")]
pub use extract::{ScopeRequirement, Scoped};
pub use layer::{Require, RequireLayer, RequireScopeLayer, ResponseFuture};
pub use requirement::{Authorize, Scopes};
pub use scope::{MAX_SCOPE_CLAIM_ITEMS, MAX_SCOPE_CLAIM_LEN, ScopeClaims, ScopeSource};
pub use step_up::AuthenticationClaims;
