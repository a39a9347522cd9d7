//! What the benchmarks share: a no-op service and one synchronous call through a layer.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use http_body_util::Full;
use tower::Service;

/// The response body of the benchmarks' services.
pub type Body = Full<Bytes>;

/// A service that answers 200 at once.
pub type Noop = fn(Request<()>) -> Ready<Result<Response<Body>, Infallible>>;

/// The no-op service: an empty 200.
pub fn noop(_: Request<()>) -> Ready<Result<Response<Body>, Infallible>> {
    ready(Ok(Response::new(Body::default())))
}

/// One request with `authorization` through `service`, polled once (the layer answers at
/// once): the status.
pub fn call<S>(service: &mut S, authorization: &HeaderValue) -> u16
where
    S: Service<Request<()>, Response = Response<Body>, Error = Infallible>,
{
    let mut cx = Context::from_waker(Waker::noop());
    let mut request = Request::new(());
    request
        .headers_mut()
        .insert(http::header::AUTHORIZATION, authorization.clone());
    assert!(service.poll_ready(&mut cx).is_ready());
    let mut future = std::pin::pin!(service.call(request));
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(Ok(response)) => response.status().as_u16(),
        Poll::Ready(Err(never)) => match never {},
        Poll::Pending => unreachable!("the layer answers at once"),
    }
}
