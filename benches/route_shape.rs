//! The route around the layer: what `POST /secret` with a cached token costs with the layer
//! put on the route in each way axum offers, and what axum itself costs, interleaved in one
//! process (`support::bench::measure_by`: every contender once per round, the order
//! turning), each batch timed in this thread's CPU time, so that time spent waiting for a
//! core on a busy machine is left out.
//!
//! Contenders, all answering `POST /secret` 200 with the same JSON string, the request built
//! on every call (an `Authorization` header with one cached HS256 token):
//! - `direct`: the handler without its extractor, called as a function (the floor);
//! - `router`: a bare `Router` with that handler, no layer (axum's own cost);
//! - `layer alone`: the layer over a `service_fn` that answers the same (no axum);
//! - per shape, the tutorial's handler (with its `JwtClaims` extractor) behind the layer,
//!   each in the README's shape (the one route) and in the tutorial's (that route merged into
//!   a router of nine routes, as `tutorial::app_sharing` builds it, `/admin` behind a layer
//!   of its own):
//!   - `route_layer`: `Router::new().route("/secret", post(h)).route_layer(auth)` (the
//!     README's quick start);
//!   - `layer`: `Router::new().route("/secret", post(h)).layer(auth)`;
//!   - `method layer`: `.route("/secret", post(h).layer(auth))` (`MethodRouter::layer`);
//!   - `handler layer`: `.route("/secret", post(h.layer(auth)))` (`Handler::layer`).
//!
//! Every router goes through `with_state(())` first, as a server does (see
//! `tutorial::serving::prepared`), so no route is built per request.
//!
//! ```sh
//! cargo bench --bench route_shape -- [rounds]   # default 31, about 10 s
//! ```

use std::convert::Infallible;
use std::hint::black_box;

use axum::Router;
use axum::body::Body;
use axum::handler::Handler;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use http::{HeaderValue, Method, Request};
use support::bench::{Clock, Contender, SECRET, bearer, claims, measure_by, send};
use tower_jwt_auth::{Algorithm, JwtAuthLayer, JwtClaims, Key, SigningKey};

const ANSWER: &str = "Top Secret data only authorized users can access this info";

/// The tutorial's `/secret` handler.
async fn secret(JwtClaims(_claims): JwtClaims) -> Json<&'static str> {
    Json(ANSWER)
}

/// The same answer without the extractor.
async fn plain() -> Json<&'static str> {
    Json(ANSWER)
}

fn request(token: &HeaderValue) -> Request<Body> {
    let mut request = Request::new(Body::empty());
    *request.method_mut() = Method::POST;
    *request.uri_mut() = http::Uri::from_static("/secret");
    request
        .headers_mut()
        .insert(http::header::AUTHORIZATION, token.clone());
    request
}

fn auth() -> JwtAuthLayer {
    JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, SECRET).unwrap())
        .build()
        .unwrap()
}

#[derive(Clone, Copy)]
enum Shape {
    RouteLayer,
    Layer,
    MethodLayer,
    HandlerLayer,
}

/// `/secret` behind the layer, put on in `shape`.
fn protected(shape: Shape) -> Router {
    match shape {
        Shape::RouteLayer => Router::new()
            .route("/secret", post(secret))
            .route_layer(auth()),
        Shape::Layer => Router::new().route("/secret", post(secret)).layer(auth()),
        Shape::MethodLayer => Router::new().route("/secret", post(secret).layer(auth())),
        Shape::HandlerLayer => Router::new().route("/secret", post(secret.layer(auth()))),
    }
}

/// The tutorial's shape: `/secret` merged into a router of nine routes, as
/// `tutorial::app_sharing` builds it (the auth router's four routes and the docs stand in
/// as plain handlers).
fn tutorial(shape: Shape) -> Router {
    let admin = Router::new()
        .route("/admin", get(plain))
        .route_layer(auth());
    let auth_routes = Router::new()
        .route("/signup", post(plain))
        .route("/login", post(plain))
        .route("/refresh", post(plain))
        .route("/logout", post(plain));
    let docs = Router::new()
        .route("/docs", get(plain))
        .route("/openapi.json", get(plain));
    Router::new()
        .route("/notsecret", get(plain))
        .merge(protected(shape))
        .merge(admin)
        .merge(auth_routes)
        .merge(docs)
}

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(31);
    let signer = SigningKey::hmac(Algorithm::HS256, SECRET).unwrap();
    let token = bearer(&signer.sign(&claims("alice", false)).unwrap());

    let shapes = [
        ("route_layer", Shape::RouteLayer),
        ("layer", Shape::Layer),
        ("method layer", Shape::MethodLayer),
        ("handler layer", Shape::HandlerLayer),
    ];
    let mut routers: Vec<(&'static str, Router)> = vec![(
        "router",
        Router::new().route("/secret", post(plain)).with_state(()),
    )];
    for (name, shape) in shapes {
        let readme: &'static str = Box::leak(format!("readme: {name}").into_boxed_str());
        routers.push((readme, protected(shape).with_state(())));
    }
    for (name, shape) in shapes {
        let app: &'static str = Box::leak(format!("tutorial: {name}").into_boxed_str());
        routers.push((app, tutorial(shape).with_state(())));
    }

    let token = &token;
    let mut contenders: Vec<Contender<'_>> = vec![
        (
            "direct",
            Box::new(move || {
                let request = black_box(request(token));
                drop(request);
                let mut future = std::pin::pin!(plain());
                let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
                match future.as_mut().poll(&mut cx) {
                    std::task::Poll::Ready(answer) => answer.into_response().status() == 200,
                    std::task::Poll::Pending => unreachable!("the handler answers at once"),
                }
            }),
        ),
        ("layer alone", {
            let mut service =
                tower::ServiceBuilder::new()
                    .layer(auth())
                    .service_fn(|_: Request<Body>| async {
                        Ok::<Response, Infallible>(Json(ANSWER).into_response())
                    });
            Box::new(move || send(&mut service, request(token)) == 200)
        }),
    ];
    for (name, mut router) in routers {
        contenders.push((
            name,
            Box::new(move || send(&mut router, request(token)) == 200),
        ));
    }
    let result = measure_by(Clock::ThreadCpu, rounds, &mut contenders);
    result.print("POST /secret, one cached HS256 token", 0);
    let at = |name: &str| result.names.iter().position(|n| *n == name).unwrap();
    println!("\nper-round differences (median, middle half), ns:");
    let diff = |a: &str, b: &str| {
        let spread = result.difference(at(a), at(b));
        println!(
            "  {a} − {b}: {:.0} ({:.0}..{:.0})",
            spread.median, spread.lower_quartile, spread.upper_quartile
        );
    };
    diff("router", "direct");
    diff("layer alone", "direct");
    for (name, _) in shapes {
        diff(&format!("readme: {name}"), "router");
    }
    for (name, _) in shapes {
        diff(&format!("tutorial: {name}"), "router");
    }
    println!("\nper-round ratios to route_layer (median, middle half):");
    for prefix in ["readme", "tutorial"] {
        let base = format!("{prefix}: route_layer");
        for (name, _) in &shapes[1..] {
            let other = format!("{prefix}: {name}");
            let ratio = result.ratio(at(&other), at(&base));
            println!(
                "  {other} / {base}: {:.3} ({:.3}..{:.3})",
                ratio.median, ratio.lower_quartile, ratio.upper_quartile
            );
        }
    }
}
