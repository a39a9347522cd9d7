//! The published document ([`Document`]: the JSON serialized once, and the
//! answers to each method) and [`MetadataService`], which serves it alone.

use std::convert::Infallible;
use std::fmt;
use std::future::{Ready, ready};
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_MAX_AGE, ALLOW, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use tower_service::Service;

use super::ProtectedResourceMetadata;

/// The methods the document's path answers.
const ALLOWED: HeaderValue = HeaderValue::from_static("GET, HEAD, OPTIONS");
/// `*`: any origin may read the document (it is public, and browser-based
/// clients fetch it cross-origin), with any request header.
const ANY: HeaderValue = HeaderValue::from_static("*");

/// The metadata as served at its well-known path: the JSON serialized once,
/// shared by every response.
pub(super) struct Document {
    path: Box<str>,
    body: Bytes,
    /// The headers of a `GET` or `HEAD` answer.
    headers: HeaderMap,
}

impl fmt::Debug for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Document")
            .field("path", &self.path)
            .field("len", &self.body.len())
            .finish_non_exhaustive()
    }
}

impl Document {
    pub(super) fn new(metadata: &ProtectedResourceMetadata) -> Arc<Self> {
        // Strings, lists of strings and booleans: serializing cannot fail.
        let body = Bytes::from(serde_json::to_vec(metadata).expect("the metadata serializes"));
        let headers = HeaderMap::from_iter([
            (CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (CONTENT_LENGTH, HeaderValue::from(body.len())),
            (
                CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
            (ACCESS_CONTROL_ALLOW_ORIGIN, ANY),
        ]);
        Arc::new(Self {
            path: metadata.well_known_path().into_boxed_str(),
            body,
            headers,
        })
    }

    /// Whether a request for `path` asks for the document.
    pub(super) fn is_at(&self, path: &str) -> bool {
        *self.path == *path
    }

    /// The answer to a request for the document: 200 with the JSON for
    /// `GET` (headers alone for `HEAD`), 204 with the CORS headers for
    /// `OPTIONS` (a browser's preflight), else 405 with `Allow`.
    pub(super) fn respond<B: From<Bytes>>(&self, method: &Method) -> Response<B> {
        match *method {
            Method::GET => answer(StatusCode::OK, self.headers.clone(), self.body.clone()),
            Method::HEAD => answer(StatusCode::OK, self.headers.clone(), Bytes::new()),
            Method::OPTIONS => answer(StatusCode::NO_CONTENT, preflight(), Bytes::new()),
            _ => answer(
                StatusCode::METHOD_NOT_ALLOWED,
                HeaderMap::from_iter([(ALLOW, ALLOWED)]),
                Bytes::new(),
            ),
        }
    }
}

/// The answer to a CORS preflight: any origin, for a day; any request
/// header (MCP clients send `MCP-Protocol-Version`).
fn preflight() -> HeaderMap {
    let headers: [(HeaderName, HeaderValue); 5] = [
        (ALLOW, ALLOWED),
        (ACCESS_CONTROL_ALLOW_ORIGIN, ANY),
        (
            ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, HEAD"),
        ),
        (ACCESS_CONTROL_ALLOW_HEADERS, ANY),
        (ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400")),
    ];
    HeaderMap::from_iter(headers)
}

fn answer<B: From<Bytes>>(status: StatusCode, headers: HeaderMap, body: Bytes) -> Response<B> {
    let mut response = Response::new(B::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// A tower `Service` that serves the metadata at its
/// [well-known path](ProtectedResourceMetadata::well_known_path) and
/// answers 404 to any other path; see [the module docs](super) for what
/// each method gets. To serve it in front of an application, use
/// [`ServeMetadataLayer`](super::ServeMetadataLayer).
///
/// `B` is the response body: any type made from [`Bytes`]. The JSON is
/// serialized once, when the service is made; cloning the service is
/// cheap.
pub struct MetadataService<B> {
    document: Arc<Document>,
    _body: PhantomData<fn() -> B>,
}

impl<B> MetadataService<B> {
    /// Serves `metadata`.
    pub fn new(metadata: &ProtectedResourceMetadata) -> Self {
        Self {
            document: Document::new(metadata),
            _body: PhantomData,
        }
    }
}

impl<B> Clone for MetadataService<B> {
    fn clone(&self) -> Self {
        Self {
            document: Arc::clone(&self.document),
            _body: PhantomData,
        }
    }
}

impl<B> fmt::Debug for MetadataService<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetadataService")
            .field("document", &self.document)
            .finish()
    }
}

impl<ReqBody, B: From<Bytes>> Service<Request<ReqBody>> for MetadataService<B> {
    type Response = Response<B>;
    type Error = Infallible;
    type Future = Ready<Result<Response<B>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let response = if self.document.is_at(req.uri().path()) {
            self.document.respond(req.method())
        } else {
            answer(StatusCode::NOT_FOUND, HeaderMap::new(), Bytes::new())
        };
        ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::{BodyExt, Full};
    use serde_json::{Value, json};
    use tower::ServiceExt;

    use super::*;

    const PATH: &str = "/.well-known/oauth-protected-resource/mcp";

    fn service() -> MetadataService<Full<Bytes>> {
        let metadata = ProtectedResourceMetadata::builder("https://api.example.com/mcp")
            .authorization_servers(["https://login.example.com"])
            .build()
            .unwrap();
        MetadataService::new(&metadata)
    }

    async fn send(method: Method, path: &str) -> Response<Full<Bytes>> {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .body(())
            .unwrap();
        service().oneshot(request).await.unwrap()
    }

    async fn body(response: Response<Full<Bytes>>) -> Bytes {
        response.into_body().collect().await.unwrap().to_bytes()
    }

    #[tokio::test]
    async fn get_answers_200_with_the_json_and_public_cache_and_cors_headers() {
        let response = send(Method::GET, PATH).await;
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers();
        assert_eq!(headers[CONTENT_TYPE], "application/json");
        assert_eq!(headers[CACHE_CONTROL], "public, max-age=3600");
        assert_eq!(headers[ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        let length = headers[CONTENT_LENGTH].clone();
        let body = body(response).await;
        assert_eq!(length, body.len().to_string().as_str());
        let json: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            json,
            json!({
                "resource": "https://api.example.com/mcp",
                "authorization_servers": ["https://login.example.com"],
            })
        );
    }

    #[tokio::test]
    async fn head_answers_200_with_the_headers_and_no_body() {
        let response = send(Method::HEAD, PATH).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
        assert_ne!(response.headers()[CONTENT_LENGTH], "0");
        assert!(body(response).await.is_empty());
    }

    #[tokio::test]
    async fn other_methods_answer_405_with_allow() {
        for method in [Method::POST, Method::PUT, Method::DELETE] {
            let response = send(method.clone(), PATH).await;
            assert_eq!(
                response.status(),
                StatusCode::METHOD_NOT_ALLOWED,
                "{method}"
            );
            assert_eq!(response.headers()[ALLOW], "GET, HEAD, OPTIONS");
            assert!(body(response).await.is_empty());
        }
    }

    #[tokio::test]
    async fn options_answers_a_cors_preflight() {
        let response = send(Method::OPTIONS, PATH).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        let headers = response.headers();
        assert_eq!(headers[ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert_eq!(headers[ACCESS_CONTROL_ALLOW_METHODS], "GET, HEAD");
        assert_eq!(headers[ACCESS_CONTROL_ALLOW_HEADERS], "*");
    }

    #[tokio::test]
    async fn another_path_answers_404() {
        for path in ["/mcp", "/.well-known/oauth-protected-resource", "/"] {
            assert_eq!(
                send(Method::GET, path).await.status(),
                StatusCode::NOT_FOUND,
                "{path}"
            );
        }
    }
}
