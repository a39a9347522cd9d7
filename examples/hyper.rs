//! `JwtAuthLayer` in front of a plain hyper 1 server, through hyper-util's tower adapter.
//!
//! ```sh
//! APP_SECRET_STRING=$(openssl rand -base64 48) cargo run --example hyper
//! curl -i http://127.0.0.1:3000/        # 401 {"detail":"Not authenticated"}
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_jwt_auth::{Algorithm, Claims, JwtAuthLayer, Key};

async fn hello(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let claims = request
        .extensions()
        .get::<std::sync::Arc<Claims>>()
        .map(|claims| claims.sub.clone());
    Ok(Response::new(Full::new(Bytes::from(format!(
        "hello {}\n",
        claims.unwrap_or_default()
    )))))
}

/// Serves until the process is stopped, on `listener`.
pub async fn serve(listener: TcpListener, layer: JwtAuthLayer) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let service = ServiceBuilder::new().layer(layer.clone()).service_fn(hello);
        tokio::spawn(async move {
            let _ = Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                .await;
        });
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secret = std::env::var("APP_SECRET_STRING").map_err(
        |_| "set APP_SECRET_STRING (at least 32 bytes), e.g. $(openssl rand -base64 48)",
    )?;
    let layer = JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, secret)?).build()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], 3000));
    let listener = TcpListener::bind(addr).await?;
    println!("listening on http://{addr}");
    serve(listener, layer).await;
    Ok(())
}

/// The layer in front of this server, over loopback (`cargo test` runs it).
#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http::{Request, StatusCode};
    use http_body_util::{BodyExt, Empty};
    use hyper_util::rt::TokioIo;
    use support::*;
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
        let server = tokio::spawn(super::serve(listener, hs256_layer()));

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
}
