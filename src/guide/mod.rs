//! Guides: the crate's manual, one page per task.
//!
//! The README says what the crate is and gets one route protected; these pages
//! hold the rest. Each snippet is a doctest. A page whose snippets need a
//! feature is built with that feature (docs.rs builds them all).
//!
//! | Guide | What it covers |
//! |---|---|
//! | [Tokens](tokens/index.html) | the token format, what the layer checks and in what order, keys, the verified-token cache, the rejections |
//! | [Plain hyper and tower](hyper/index.html) | the layer without axum |
//! | [Identity providers](identity_providers/index.html) | remote JWKS, OpenID Connect discovery, several issuers, Keycloak, Auth0, Cognito, Entra ID, Google |
//! | [Protected resources](resource_server/index.html) | RFC 9728 metadata for clients that discover their authorization (MCP), opaque tokens through introspection (RFC 7662), step-up (RFC 9470) |
//! | [Scopes and roles](scopes_and_roles/index.html) | 403 per route: `RequireScopeLayer`, the `Scoped` extractor, where each provider keeps its scopes |
//! | [DPoP](dpop/index.html) | sender-constrained tokens (RFC 9449), in the layer and at login |
//! | [gRPC](grpc/index.html) | the layer in front of a tonic server |
//! | [The auth router](auth_router/index.html) | signup, login, refresh with rotation, logout; stores; roles from your user store; OpenAPI |
//! | [Browser apps: cookies and CSRF](cookies/index.html) | tokens in `HttpOnly` cookies, and the origin check that comes with them |
//! | [Running several instances](several_instances/index.html) | revocations, login throttling and DPoP replay shared through PostgreSQL or Redis |
//! | [Serving it](serving/index.html) | timeouts and connection limits that `axum::serve` does not set |
//! | [Benchmarks](benchmarks/index.html) | what a validation costs, against jsonwebtoken and jwt-authorizer |

// The table links by path, not by intra-doc link, so that this page builds without warnings
// whatever the features: a page whose feature is off is missing from a local build only.
// Each page is a module with docs and nothing else; it is gated on the features its doctests
// need, so that `cargo test --doc` passes with any set of features.

#[doc = include_str!("tokens.md")]
pub mod tokens {}

#[doc = include_str!("hyper.md")]
pub mod hyper {}

#[cfg(all(feature = "axum", feature = "remote"))]
#[doc = include_str!("identity_providers.md")]
pub mod identity_providers {}

#[cfg(all(feature = "axum", feature = "remote"))]
#[doc = include_str!("resource_server.md")]
pub mod resource_server {}

#[cfg(feature = "axum")]
#[doc = include_str!("scopes_and_roles.md")]
pub mod scopes_and_roles {}

#[cfg(feature = "router")]
#[doc = include_str!("dpop.md")]
pub mod dpop {}

#[cfg(feature = "tonic")]
#[doc = include_str!("grpc.md")]
pub mod grpc {}

#[cfg(all(feature = "sqlite", feature = "openapi"))]
#[doc = include_str!("auth_router.md")]
pub mod auth_router {}

#[cfg(feature = "router")]
#[doc = include_str!("cookies.md")]
pub mod cookies {}

#[doc = include_str!("several_instances.md")]
pub mod several_instances {}

// The snippet calls the tutorial's `serving` module, which this crate's doctests cannot see:
// it is `ignore` here, and compiled as the doc example of `tutorial/src/serving.rs`, which
// includes the same file.
#[doc = include_str!("serving.md")]
#[doc = concat!("```rust,ignore\n", include_str!("serving_example.txt"), "```")]
pub mod serving {}

#[doc = include_str!("benchmarks.md")]
pub mod benchmarks {}
