//! [`Scoped`], the axum extractor that checks a scope requirement for one
//! handler.

use std::marker::PhantomData;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::response::Response;
use http::request::Parts;

use super::scope::{ScopeClaims, ScopeSource};
use crate::claims::Claims;
use crate::rejection::scope::{ScopeList, is_scope_token};
use crate::rejection::{JsonRejection, OnRejection, Rejection};

/// Whether `names` is a non-empty list of scope tokens (usable in a `const`).
const fn are_scope_tokens(names: &[&str]) -> bool {
    if names.is_empty() {
        return false;
    }
    let mut i = 0;
    while i < names.len() {
        if !is_scope_token(names[i]) {
            return false;
        }
        i += 1;
    }
    true
}

/// A scope requirement named by a type, for [`Scoped`].
///
/// ```
/// use tower_jwt_auth::authorize::{ScopeRequirement, ScopeSource};
///
/// /// `orders:read` and `orders:write`, from Auth0's `permissions`.
/// struct ManageOrders;
///
/// impl ScopeRequirement for ManageOrders {
///     const SCOPES: &'static [&'static str] = &["orders:read", "orders:write"];
///     fn source() -> ScopeSource {
///         ScopeSource::auth0_permissions()
///     }
/// }
/// ```
///
/// `SCOPES` must be a non-empty list of `scope-token`s (RFC 6749 §3.3:
/// visible ASCII, no `"` or `\`); a handler using a requirement that breaks
/// this does not compile.
pub trait ScopeRequirement {
    /// The scopes required.
    const SCOPES: &'static [&'static str];
    /// `true`: one of [`SCOPES`](Self::SCOPES) is enough; `false` (the
    /// default): all of them are needed.
    const ANY: bool = false;

    /// Where the scopes are read (default: the `scope` claim).
    fn source() -> ScopeSource {
        ScopeSource::Scope
    }
}

/// Extracts the claims (`C`) the authentication layer validated, if they
/// grant the scopes of `R`; else answers 403 with
/// `WWW-Authenticate: Bearer error="insufficient_scope", scope="…"` and
/// `{"detail":"Insufficient scope"}`, as [`RequireLayer`](super::RequireLayer)
/// does. Use it to protect one handler; use the layer for a group of routes.
///
/// ```
/// use serde_json::Value;
/// use tower_jwt_auth::authorize::{ScopeRequirement, Scoped};
///
/// struct WriteOrders;
///
/// impl ScopeRequirement for WriteOrders {
///     const SCOPES: &'static [&'static str] = &["orders:write"];
/// }
///
/// async fn create_order(Scoped(claims, _): Scoped<WriteOrders, Value>) -> String {
///     format!("created for {}", claims["sub"])
/// }
///
/// let app: axum::Router = axum::Router::new().route("/orders", axum::routing::post(create_order));
/// ```
///
/// Without claims in the request (the authentication layer in optional mode
/// and no credentials, or no layer at all) it answers 401 with a bare
/// `Bearer` challenge: a requirement is never met by an unauthenticated
/// request. (Unlike [`JwtClaims`](crate::JwtClaims), which answers 500 there:
/// a scoped handler behind an optional layer is a normal setup, and 401
/// tells the client what to do.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scoped<R, C = Claims>(pub Arc<C>, pub PhantomData<fn() -> R>);

impl<R, C> Scoped<R, C> {
    /// The claims, shared with the request and the layer's cache.
    pub fn into_inner(self) -> Arc<C> {
        self.0
    }
}

impl<R: ScopeRequirement, C> Scoped<R, C> {
    /// Evaluated when a handler uses `Scoped<R, _>`: an invalid `R::SCOPES`
    /// stops the build.
    const VALID: () = assert!(
        are_scope_tokens(R::SCOPES),
        "ScopeRequirement::SCOPES must be a non-empty list of RFC 6749 scope tokens"
    );
}

impl<S, R, C> FromRequestParts<S> for Scoped<R, C>
where
    S: Send + Sync,
    R: ScopeRequirement,
    C: ScopeClaims + Send + Sync + 'static,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let () = Self::VALID;
        let Some(claims) = parts.extensions.get::<Arc<C>>() else {
            tracing::debug!("Scoped found no claims: not authenticated");
            return Err(JsonRejection.on_rejection(Rejection::MissingCredentials));
        };
        let source = R::source();
        let grants = |scope: &&str| claims.grants(&source, scope);
        let granted = if R::ANY {
            R::SCOPES.iter().any(grants)
        } else {
            R::SCOPES.iter().all(grants)
        };
        if granted {
            return Ok(Self(Arc::clone(claims), PhantomData));
        }
        // `VALID` holds, so the list builds; were it not to, the challenge
        // would still be an `insufficient_scope` one, without the names.
        let required = ScopeList::new(R::SCOPES.iter().copied()).unwrap_or_default();
        Err(JsonRejection.on_rejection(Rejection::InsufficientScope { required }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn const_check_agrees_with_the_runtime_check() {
        assert!(are_scope_tokens(&["read", "orders:write"]));
        assert!(!are_scope_tokens(&[]));
        assert!(!are_scope_tokens(&["read", "a\"b"]));
        assert!(!are_scope_tokens(&["read", ""]));
        for name in ["read", "a b", "a\\b", "é"] {
            assert_eq!(
                are_scope_tokens(&[name]),
                ScopeList::new([name]).is_ok(),
                "{name:?}"
            );
        }
    }
}
