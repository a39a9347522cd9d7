//! The axum extractor for the claims the layer put into the request.

use std::convert::Infallible;
use std::ops::Deref;
use std::sync::Arc;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;

use crate::claims::Claims;

/// Extracts the claims [`JwtAuthLayer`](crate::JwtAuthLayer) validated.
///
/// The claims are shared, not copied: the layer decodes a token's claims
/// once, into an `Arc<C>` that its cache, the request extensions and this
/// extractor all hold. `JwtClaims` dereferences to `C`, so `claims.sub`
/// reads as it would on `C`; [`JwtClaims::into_inner`] gives the `Arc`.
///
/// Use `Option<JwtClaims<C>>` on routes behind a layer in optional mode.
/// Without the layer in front of the route, `JwtClaims` answers 500: that is
/// a server bug, not a client error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtClaims<C = Claims>(pub Arc<C>);

impl<C> JwtClaims<C> {
    /// The shared claims.
    pub fn into_inner(self) -> Arc<C> {
        self.0
    }
}

impl<C> Deref for JwtClaims<C> {
    type Target = C;

    fn deref(&self) -> &C {
        &self.0
    }
}

/// The rejection of [`JwtClaims`] when no claims are in the request: the
/// layer is missing.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct MissingJwtAuthLayer;

impl IntoResponse for MissingJwtAuthLayer {
    fn into_response(self) -> Response {
        tracing::error!("JwtClaims used on a route that JwtAuthLayer does not cover");
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Missing request extension: JwtClaims needs JwtAuthLayer in front of this route \
             (add it with Router::layer or Router::route_layer)",
        )
            .into_response()
    }
}

impl<S, C> FromRequestParts<S> for JwtClaims<C>
where
    S: Send + Sync,
    C: Send + Sync + 'static,
{
    type Rejection = MissingJwtAuthLayer;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Arc<C>>()
            .cloned()
            .map(JwtClaims)
            .ok_or(MissingJwtAuthLayer)
    }
}

impl<S, C> OptionalFromRequestParts<S> for JwtClaims<C>
where
    S: Send + Sync,
    C: Send + Sync + 'static,
{
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Arc<C>>().cloned().map(JwtClaims))
    }
}
