//! Heap allocations per `POST /secret` with a cached token, counted by dhat, for each way of
//! putting the layer on the route (the same shapes as `benches/route_shape.rs`, README
//! shape: the one route), and for a bare router with no layer, with the status each shape
//! answers without a token to an unknown path and to a wrong method. Counts, not times:
//! they are the same on a busy machine.
//!
//! ```sh
//! cargo test -p tower-jwt-auth-tutorial --test route_shape_allocations -- --nocapture
//! ```

use axum::Router;
use axum::body::Body;
use axum::handler::Handler;
use axum::response::Json;
use axum::routing::post;
use http::Request;
use support::{SECRET, bearer_request};
use tower::ServiceExt;
use tower_jwt_auth::{Algorithm, JwtAuthLayer, JwtClaims, Key, SigningKey, TokenIssuer};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// Requests counted per figure, after a few that warm the caches up.
const REQUESTS: u64 = 64;

async fn secret(JwtClaims(_claims): JwtClaims) -> Json<&'static str> {
    Json("Top Secret data only authorized users can access this info")
}

async fn plain() -> Json<&'static str> {
    Json("Top Secret data only authorized users can access this info")
}

fn auth() -> JwtAuthLayer {
    JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, SECRET).unwrap())
        .build()
        .unwrap()
}

/// The heap blocks allocated so far.
fn heap_blocks() -> u64 {
    dhat::HeapStats::get().total_blocks
}

/// One test, so that nothing else allocates while it counts.
#[tokio::test(flavor = "current_thread")]
async fn route_shapes_allocate_alike() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let issuer = TokenIssuer::new(SigningKey::hmac(Algorithm::HS256, SECRET).unwrap());
    let token = issuer.access("alice", support::now()).unwrap().token;
    let make = || bearer_request("POST", "/secret", &token);
    let shapes: [(&str, Router); 5] = [
        (
            "router, no layer",
            Router::new().route("/secret", post(plain)),
        ),
        (
            "route_layer",
            Router::new()
                .route("/secret", post(secret))
                .route_layer(auth()),
        ),
        (
            "layer",
            Router::new().route("/secret", post(secret)).layer(auth()),
        ),
        (
            "method layer",
            Router::new().route("/secret", post(secret).layer(auth())),
        ),
        (
            "handler layer",
            Router::new().route("/secret", post(secret.layer(auth()))),
        ),
    ];
    let mut blocks = Vec::new();
    for (name, router) in shapes {
        let router = router.with_state(());
        let count = support::per_request(&router, make, REQUESTS, heap_blocks).await;
        // What the shape changes: which requests without a token the layer sees.
        let status = |method: &str, uri: &str| {
            let request = Request::builder()
                .method(method)
                .uri(uri)
                .body(Body::empty())
                .unwrap();
            router.clone().oneshot(request)
        };
        let unknown_path = status("POST", "/nope").await.unwrap().status();
        let wrong_method = status("GET", "/secret").await.unwrap().status();
        println!(
            "{name}: {count} blocks a request; without a token, POST /nope {}, GET /secret {}",
            unknown_path.as_u16(),
            wrong_method.as_u16()
        );
        blocks.push(count.round());
    }
    // Every shape costs the bare router plus the layer's and the extractor's blocks; none
    // builds a route per request.
    for (at, count) in blocks.iter().enumerate().skip(1) {
        assert!(
            *count - blocks[0] <= 8.0,
            "shape {at}: {count} blocks, {} without the layer",
            blocks[0]
        );
    }
}
