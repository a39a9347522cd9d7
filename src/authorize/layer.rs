//! [`RequireLayer`], its service [`Require`] and their [`ResponseFuture`].

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::requirement::{Authorize, Scopes};
use super::scope::ScopeSource;
use crate::claims::Claims;
use crate::rejection::{JsonRejection, OnRejection, Rejection};

/// A tower [`Layer`] that lets a request through only when the claims
/// [`JwtAuthLayer`](crate::JwtAuthLayer) put into its extensions satisfy a
/// requirement ([`Authorize`]).
///
/// It goes *inside* the authentication layer: with axum,
/// `.route_layer(RequireScopeLayer::all(["read"])).route_layer(jwt_layer)`
/// (the layer added last runs first); with tower,
/// `ServiceBuilder::new().layer(jwt_layer).layer(require_layer)`.
///
/// | Case | Status | `WWW-Authenticate` |
/// |---|---|---|
/// | Requirement met | the inner service's | |
/// | Claims present, requirement not met | 403 | `Bearer error="insufficient_scope", scope="…"` |
/// | Claims present, [`StepUp`](super::StepUp) not met | 401 | `Bearer error="insufficient_user_authentication", …` |
/// | No claims of type `C` in the request | 401 | `Bearer` |
///
/// No claims means no authentication happened: the authentication layer is
/// in optional mode and no credentials came, the layer is missing or
/// misordered, or it decodes another claims type than `C`. The request is
/// then refused as [`Rejection::MissingCredentials`], never let through.
///
/// Refusals are rendered by [`JsonRejection`] unless
/// [`on_rejection`](Self::on_rejection) sets another format: in front of a
/// tonic server, `.on_rejection(GrpcRejection)` (feature `tonic`) answers
/// `PERMISSION_DENIED` and `UNAUTHENTICATED` instead of 403 and 401.
///
/// [`Layer`]: https://docs.rs/tower-layer/0.3/tower_layer/trait.Layer.html
pub struct RequireLayer<A, C = Claims, O = JsonRejection> {
    authorize: Arc<A>,
    on_rejection: O,
    _claims: PhantomData<fn() -> C>,
}

/// A [`RequireLayer`] for [`Scopes`]: `RequireScopeLayer::all(["read"])`.
pub type RequireScopeLayer<C = Claims, O = JsonRejection> = RequireLayer<Scopes, C, O>;

impl RequireLayer<Scopes> {
    /// Requires every one of `scopes` in the `scope` claim of [`Claims`];
    /// see [`RequireLayer::source`] and [`RequireLayer::claims`] for other
    /// claims.
    ///
    /// # Panics
    ///
    /// When `scopes` is empty or a name is not a `scope-token` of RFC 6749
    /// §3.3 (see [`ScopeList::new`](super::ScopeList::new)); use
    /// [`RequireLayer::new`] with [`Scopes::all`] to handle that as an error.
    pub fn all<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        match Scopes::all(scopes) {
            Ok(scopes) => Self::new(scopes),
            Err(error) => panic!("RequireScopeLayer::all: {error}"),
        }
    }

    /// Requires at least one of `scopes`; see [`RequireLayer::all`].
    ///
    /// # Panics
    ///
    /// As [`RequireLayer::all`].
    pub fn any<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        match Scopes::any(scopes) {
            Ok(scopes) => Self::new(scopes),
            Err(error) => panic!("RequireScopeLayer::any: {error}"),
        }
    }
}

impl<A> RequireLayer<A> {
    /// A layer requiring `authorize` of the claims type [`Claims`]; change
    /// the type with [`RequireLayer::claims`].
    pub fn new(authorize: A) -> Self {
        Self {
            authorize: Arc::new(authorize),
            on_rejection: JsonRejection,
            _claims: PhantomData,
        }
    }
}

impl<F, C> RequireLayer<F, C>
where
    F: Fn(&C) -> bool,
{
    /// Requires `predicate` to hold of the claims, for example
    /// `RequireLayer::predicate(|claims: &Claims| claims.sub != "guest")`.
    /// A refusal is a 403 whose challenge names no scope.
    pub fn predicate(predicate: F) -> Self {
        Self {
            authorize: Arc::new(predicate),
            on_rejection: JsonRejection,
            _claims: PhantomData,
        }
    }
}

impl<C, O> RequireLayer<Scopes, C, O> {
    /// Reads the scopes from `source` instead of the `scope` claim.
    /// [`Claims`] only carries `scope`: use `serde_json::Value` claims
    /// (or your own type) for the other sources.
    #[must_use]
    pub fn source(self, source: ScopeSource) -> Self {
        Self {
            authorize: Arc::new(Arc::unwrap_or_clone(self.authorize).source(source)),
            ..self
        }
    }
}

impl<A, C, O> RequireLayer<A, C, O> {
    /// Reads claims of type `C2` from the extensions: the type the
    /// authentication layer decodes (see
    /// [`JwtAuthLayerBuilder::claims`](crate::layer::JwtAuthLayerBuilder::claims)).
    #[must_use]
    pub fn claims<C2>(self) -> RequireLayer<A, C2, O> {
        RequireLayer {
            authorize: self.authorize,
            on_rejection: self.on_rejection,
            _claims: PhantomData,
        }
    }

    /// Renders rejections with `on_rejection` instead of [`JsonRejection`].
    #[must_use]
    pub fn on_rejection<O2>(self, on_rejection: O2) -> RequireLayer<A, C, O2> {
        RequireLayer {
            authorize: self.authorize,
            on_rejection,
            _claims: PhantomData,
        }
    }

    /// The requirement.
    pub fn requirement(&self) -> &A {
        &self.authorize
    }
}

impl<A, C, O: Clone> Clone for RequireLayer<A, C, O> {
    fn clone(&self) -> Self {
        Self {
            authorize: Arc::clone(&self.authorize),
            on_rejection: self.on_rejection.clone(),
            _claims: PhantomData,
        }
    }
}

impl<A, C, O> fmt::Debug for RequireLayer<A, C, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireLayer")
            .field("requirement", &std::any::type_name::<A>())
            .field("claims", &std::any::type_name::<C>())
            .finish_non_exhaustive()
    }
}

impl<S, A, C, O: Clone> Layer<S> for RequireLayer<A, C, O> {
    type Service = Require<S, A, C, O>;

    fn layer(&self, inner: S) -> Self::Service {
        Require {
            inner,
            authorize: Arc::clone(&self.authorize),
            on_rejection: self.on_rejection.clone(),
            _claims: PhantomData,
        }
    }
}

/// Checks the requirement of a [`RequireLayer`] before calling the inner
/// service. A refusal is a response, never a service error.
pub struct Require<S, A, C = Claims, O = JsonRejection> {
    inner: S,
    authorize: Arc<A>,
    on_rejection: O,
    _claims: PhantomData<fn() -> C>,
}

impl<S, A, C, O> Require<S, A, C, O> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, A, C, O: Clone> Clone for Require<S, A, C, O> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            authorize: Arc::clone(&self.authorize),
            on_rejection: self.on_rejection.clone(),
            _claims: PhantomData,
        }
    }
}

impl<S: fmt::Debug, A, C, O> fmt::Debug for Require<S, A, C, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Require")
            .field("inner", &self.inner)
            .field("requirement", &std::any::type_name::<A>())
            .finish_non_exhaustive()
    }
}

impl<S, A, C, O, ReqBody, ResBody> Service<Request<ReqBody>> for Require<S, A, C, O>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    A: Authorize<C>,
    C: Send + Sync + 'static,
    O: OnRejection<ResBody>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let verdict = match req.extensions().get::<Arc<C>>() {
            Some(claims) => self.authorize.authorize(claims),
            None => {
                tracing::debug!(
                    claims = std::any::type_name::<C>(),
                    "no claims in the request: not authenticated"
                );
                Err(Rejection::MissingCredentials)
            }
        };
        match verdict {
            Ok(()) => ResponseFuture {
                kind: Kind::Future {
                    future: self.inner.call(req),
                },
            },
            Err(rejection) => {
                tracing::debug!(?rejection, "request refused by its requirement");
                ResponseFuture {
                    kind: Kind::Rejected {
                        response: Some(self.on_rejection.on_rejection(rejection)),
                    },
                }
            }
        }
    }
}

pin_project! {
    /// The response future of [`Require`]: the inner service's future, or a
    /// ready rejection.
    pub struct ResponseFuture<F, B> {
        #[pin]
        kind: Kind<F, B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B> {
        Future {
            #[pin]
            future: F,
        },
        Rejected {
            response: Option<Response<B>>,
        },
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Future { future } => future.poll(cx),
            KindProj::Rejected { response } => {
                Poll::Ready(Ok(response.take().expect("polled after completion")))
            }
        }
    }
}

impl<F, B> fmt::Debug for ResponseFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use bytes::Bytes;
    use http::StatusCode;
    use serde_json::{Value, json};
    use tower::ServiceExt;

    use super::*;

    /// Sends a request with `claims` (if any) in its extensions through
    /// `layer` in front of a service that answers 200.
    async fn status_for<A, C>(layer: &RequireLayer<A, C>, claims: Option<C>) -> StatusCode
    where
        A: Authorize<C>,
        C: Clone + Send + Sync + 'static,
    {
        let service = tower::ServiceBuilder::new()
            .layer(layer.clone())
            .service_fn(|_req: Request<()>| async {
                Ok::<_, Infallible>(Response::new(Bytes::new()))
            });
        let mut request = Request::new(());
        if let Some(claims) = claims {
            request.extensions_mut().insert(Arc::new(claims));
        }
        service.oneshot(request).await.unwrap().status()
    }

    #[tokio::test]
    async fn met_requirement_reaches_the_inner_service_and_unmet_is_forbidden() {
        let layer = RequireScopeLayer::all(["read"]).claims::<Value>();
        let granted = status_for(&layer, Some(json!({ "scope": "read" }))).await;
        let refused = status_for(&layer, Some(json!({ "scope": "write" }))).await;
        assert_eq!((granted, refused), (StatusCode::OK, StatusCode::FORBIDDEN));
    }

    #[tokio::test]
    async fn missing_claims_are_not_authenticated() {
        let layer = RequireLayer::predicate(|_: &Value| true);
        assert_eq!(status_for(&layer, None).await, StatusCode::UNAUTHORIZED);
    }

    #[test]
    #[should_panic(expected = "RequireScopeLayer::all")]
    fn invalid_scope_name_panics_when_the_layer_is_built() {
        let _ = RequireScopeLayer::all(["bad\"name"]);
    }
}
