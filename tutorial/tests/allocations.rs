//! Heap allocations per request, counted by dhat: the app as `serving::serve` runs it builds
//! no route per request; a cached token costs the layer a copy of its claims and their place
//! in the request's extensions, and a token that a full cache does not admit costs no entry.
//! Counts, not times: they are the same on a busy machine.

use std::convert::Infallible;

use axum::Router;
use axum::body::Body;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{Request, Response};
use support::{APP_SECRET, SECRET, bearer_request};
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_jwt_auth::store::MemoryStore;
use tower_jwt_auth::{Algorithm, Claims, SigningKey, TokenIssuer};
use tutorial::serving::{connection_extensions, prepared};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// Requests counted per figure, after a few that warm the caches up.
const REQUESTS: u64 = 64;

fn access_token() -> String {
    let issuer = TokenIssuer::new(SigningKey::hmac(Algorithm::HS256, SECRET).unwrap());
    issuer.access("alice", support::now()).unwrap().token
}

/// The blocks `service` allocates per request, on average over [`REQUESTS`] calls. The apps' purge tasks may run once among
/// them (a few blocks over all the calls), so the checks round the average.
async fn blocks_per_request<S>(service: &S, make: impl Fn() -> Request<Body>) -> f64
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone,
{
    support::per_request(service, make, REQUESTS, || {
        dhat::HeapStats::get().total_blocks
    })
    .await
}

fn app() -> Router {
    let vars = [("APP_SECRET_STRING", APP_SECRET), ("BCRYPT_COST", "4")];
    let config = tutorial::config_from(support::vars(&vars)).unwrap();
    tutorial::app(MemoryStore::new(), &config).unwrap()
}

/// One test, so that nothing else allocates while it counts.
#[tokio::test(flavor = "current_thread")]
async fn allocations_per_request() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let token = access_token();

    // Served as `serve` serves it (less the request timeout around the answer, which is not a
    // route's): its routes built once, each request given the connection's extensions. And
    // the same app with its routes built per request.
    let extensions = connection_extensions(([127, 0, 0, 1], 4000).into());
    let from_connection = |mut request: Request<Body>| {
        request.extensions_mut().extend(extensions.clone());
        request
    };
    let served = ServiceBuilder::new()
        .map_request(from_connection)
        .service(prepared(app()));
    let unbuilt = ServiceBuilder::new()
        .map_request(from_connection)
        .service(app());
    let mut served_blocks = Vec::new();
    for (name, make) in [
        (
            "GET /notsecret",
            Box::new(|| Request::get("/notsecret").body(Body::empty()).unwrap())
                as Box<dyn Fn() -> Request<Body>>,
        ),
        (
            "POST /secret, one token",
            Box::new(|| bearer_request("POST", "/secret", &token)),
        ),
    ] {
        let served = blocks_per_request(&served, &make).await;
        let unbuilt = blocks_per_request(&unbuilt, &make).await;
        println!("{name}: {served} blocks a request as served, {unbuilt} with routes unbuilt");
        assert!(
            served < unbuilt,
            "{name}: {served} blocks as served, {unbuilt} unbuilt"
        );
        served_blocks.push(served);
    }
    // A layer over the whole app wraps every route once more, and each request clones the
    // boxed routes it goes through: 3 to 6 blocks a request per layer. The guards of the
    // app's background tasks ride on the auth routes alone and the request timeout goes
    // around the whole app (`serving::within`), so /notsecret pays for none of them (28
    // blocks a request as served when all three were layers over the whole app, not
    // counting the peer's address). 15 as the README's command builds it, 14 with the
    // tutorial crate built alone: the workspace's other crates turn on axum's
    // `matched-path`, which puts more entries into each request's extensions.
    //
    // The connection's extensions come with room (`connection_extensions`): without it the
    // map grows at its fourth entry, one block more on both routes as the README's command
    // builds it (16 and 19), and on /secret alone with the tutorial crate built alone (18).
    assert!(
        served_blocks[0].round() <= 15.0,
        "GET /notsecret allocates {} blocks a request as served",
        served_blocks[0]
    );
    // What /secret costs beyond /notsecret with a cached token: the claims' place in the
    // extensions and the route layer's boxed clones and futures: 3 blocks (7 while three
    // other layers were over every route). The claims themselves are shared, not copied, by
    // the layer and by the `JwtClaims` extractor (each copy of the tutorial's claims is three
    // strings: 41 blocks before they were shared).
    let secret_over_open = (served_blocks[1] - served_blocks[0]).round();
    assert!(
        secret_over_open <= 3.0,
        "POST /secret costs {secret_over_open} blocks more than GET /notsecret"
    );

    // The layer alone, over a service that allocates nothing: a cached token costs only the
    // claims' place in the request's extensions (the map, its table and the boxed `Arc`);
    // the claims are shared with the cache, not copied.
    let noop = tower::service_fn(|_: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(Body::empty()))
    });
    let layered = ServiceBuilder::new()
        .layer(support::hs256_layer())
        .service(noop);
    // The token's claims, read straight from its payload (the layered service accepts it).
    let payload = token.split('.').nth(1).unwrap();
    let payload = base64::Engine::decode(&URL_SAFE_NO_PAD, payload).unwrap();
    let claims: Claims = serde_json::from_slice(&payload).unwrap();
    let strings = [
        Some(&claims.sub),
        claims.scope.as_ref(),
        claims.jti.as_ref(),
    ]
    .iter()
    .flatten()
    .count();
    assert_eq!(strings, 3, "the tutorial's access token: {claims:?}");
    let bare = blocks_per_request(&noop, || bearer_request("GET", "/", &token)).await;
    let hit = blocks_per_request(&layered, || bearer_request("GET", "/", &token)).await;
    println!("the layer, a cached token: {} blocks a request", hit - bare);
    assert!(
        (hit - bare).round() <= 3.0,
        "a cache hit allocated {} blocks",
        hit - bare
    );

    // A full cache, and a new token each request: none is admitted, so a miss costs the
    // decoded payload, the claims it yields (three strings and their `Arc`) and their place
    // in the extensions; no entry, no copy of the claims.
    let full = ServiceBuilder::new()
        .layer(
            tower_jwt_auth::JwtAuthLayer::builder(
                tower_jwt_auth::Key::hmac(Algorithm::HS256, SECRET).unwrap(),
            )
            .cache(1)
            .build()
            .unwrap(),
        )
        .service(noop);
    let filler = bearer_request("GET", "/", &token);
    assert_eq!(full.clone().oneshot(filler).await.unwrap().status(), 200);
    let tokens: Vec<String> = (0..2 * REQUESTS).map(|_| access_token()).collect();
    let next = std::cell::Cell::new(0);
    let miss = blocks_per_request(&full, || {
        next.set(next.get() + 1);
        bearer_request("GET", "/", &tokens[next.get()])
    })
    .await;
    println!("the layer, a new token: {} blocks a request", miss - bare);
    assert!(
        (miss - bare).round() <= (1 + strings + 1 + 3) as f64,
        "a miss that entered nothing allocated {} blocks",
        miss - bare
    );
}
