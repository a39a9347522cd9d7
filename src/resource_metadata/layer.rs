//! [`ServeMetadataLayer`], its service [`ServeMetadata`] and their
//! [`ResponseFuture`]: the document answered in front of an application.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::ProtectedResourceMetadata;
use super::serve::Document;

/// A tower [`Layer`] that answers requests for the metadata's
/// [well-known path](ProtectedResourceMetadata::well_known_path) itself
/// and passes every other request to the inner service.
///
/// Put it outside the authentication layer: clients fetch the metadata
/// before they have a token. With tower, `ServiceBuilder::new()
/// .layer(ServeMetadataLayer::new(&metadata)).layer(jwt_layer)`.
///
/// [`Layer`]: https://docs.rs/tower-layer/0.3/tower_layer/trait.Layer.html
#[derive(Debug, Clone)]
pub struct ServeMetadataLayer {
    document: Arc<Document>,
}

impl ServeMetadataLayer {
    /// Serves `metadata`, serialized once, now.
    pub fn new(metadata: &ProtectedResourceMetadata) -> Self {
        Self {
            document: Document::new(metadata),
        }
    }
}

impl<S> Layer<S> for ServeMetadataLayer {
    type Service = ServeMetadata<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ServeMetadata {
            inner,
            document: Arc::clone(&self.document),
        }
    }
}

/// Answers requests for the metadata's well-known path and calls the inner
/// service for the others; see [`ServeMetadataLayer`].
#[derive(Debug, Clone)]
pub struct ServeMetadata<S> {
    inner: S,
    document: Arc<Document>,
}

impl<S> ServeMetadata<S> {
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

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ServeMetadata<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: From<Bytes>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let kind = if self.document.is_at(req.uri().path()) {
            Kind::Document {
                response: Some(self.document.respond(req.method())),
            }
        } else {
            Kind::Inner {
                future: self.inner.call(req),
            }
        };
        ResponseFuture { kind }
    }
}

pin_project! {
    /// The response future of [`ServeMetadata`]: the inner service's
    /// future, or the document's ready answer.
    pub struct ResponseFuture<F, B> {
        #[pin]
        kind: Kind<F, B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B> {
        Inner {
            #[pin]
            future: F,
        },
        Document {
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
            KindProj::Inner { future } => future.poll(cx),
            KindProj::Document { response } => {
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

    use http::{Method, StatusCode};
    use http_body_util::{BodyExt, Full};
    use tower::{ServiceBuilder, ServiceExt};

    use super::*;

    async fn send(method: Method, path: &str) -> (StatusCode, Bytes) {
        let metadata = ProtectedResourceMetadata::builder("https://api.example.com/mcp")
            .build()
            .unwrap();
        let app = ServiceBuilder::new()
            .layer(ServeMetadataLayer::new(&metadata))
            .service_fn(|req: Request<()>| async move {
                let body = format!("app: {} {}", req.method(), req.uri().path());
                Ok::<_, Infallible>(Response::new(Full::<Bytes>::from(body)))
            });
        let request = Request::builder()
            .method(method)
            .uri(path)
            .body(())
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        let status = response.status();
        (
            status,
            response.into_body().collect().await.unwrap().to_bytes(),
        )
    }

    #[tokio::test]
    async fn the_well_known_path_is_answered_by_the_layer() {
        let (status, body) = send(Method::GET, "/.well-known/oauth-protected-resource/mcp").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, r#"{"resource":"https://api.example.com/mcp"}"#);
    }

    #[tokio::test]
    async fn other_methods_on_the_well_known_path_do_not_reach_the_app() {
        let (status, body) = send(Method::POST, "/.well-known/oauth-protected-resource/mcp").await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert!(body.is_empty());
    }

    #[tokio::test]
    async fn other_paths_reach_the_inner_service() {
        for path in ["/mcp", "/.well-known/oauth-protected-resource", "/"] {
            let (status, body) = send(Method::POST, path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert_eq!(body, format!("app: POST {path}"));
        }
    }
}
