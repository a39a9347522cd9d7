//! The layer in front of a plain hyper 1 server (`examples/hyper.rs`), over loopback.

mod common;

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/hyper.rs"]
mod example;

use bytes::Bytes;
use common::*;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

async fn get(addr: std::net::SocketAddr, token: Option<&str>) -> (StatusCode, String) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let mut request = Request::builder().uri("/").header("host", "127.0.0.1");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = sender
        .send_request(request.body(Empty::<Bytes>::new()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn plain_hyper_server_accepts_valid_tokens_and_rejects_the_rest() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(example::serve(listener, hs256_layer()));

    let token = hs256().sign(&access_claims("alice")).unwrap();
    assert_eq!(
        get(addr, Some(&token)).await,
        (StatusCode::OK, "hello alice\n".into())
    );
    let (status, body) = get(addr, None).await;
    assert_eq!(
        (status, body.as_str()),
        (
            StatusCode::UNAUTHORIZED,
            r#"{"detail":"Not authenticated"}"#
        )
    );
    assert_eq!(get(addr, Some("x.y.z")).await.0, StatusCode::UNAUTHORIZED);
    server.abort();
}
