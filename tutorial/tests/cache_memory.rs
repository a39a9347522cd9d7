//! The heap a cached token holds, counted by dhat: the default layer (cache of 4096), the
//! crate's `Claims`, the tutorial's access tokens (`sub`, `iat`, `exp`, `scope`, `jti`),
//! each token sent once into a cache with room for it. The bytes still allocated after the
//! requests, less those before, divided by the tokens: the entry, its copy of the token,
//! the claims, the map's slot. Bytes, not times: a busy machine does not move them.
//!
//! ```sh
//! cargo test -p tower-jwt-auth-tutorial --test cache_memory -- --nocapture
//! ```

use support::SECRET;
use support::bench::{Noop, bearer, call, noop};
use tower::ServiceBuilder;
use tower_jwt_auth::layer::DEFAULT_CACHE_CAPACITY;
use tower_jwt_auth::{Algorithm, JwtAuthLayer, Key, SigningKey, TokenIssuer};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// One test, so that nothing else allocates while it counts.
#[test]
fn a_cached_token_holds_under_a_kibibyte() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let issuer = TokenIssuer::new(SigningKey::hmac(Algorithm::HS256, SECRET).unwrap());
    let now = support::now();
    let tokens: Vec<_> = (0..DEFAULT_CACHE_CAPACITY)
        .map(|user| bearer(&issuer.access(&format!("user-{user}"), now).unwrap().token))
        .collect();
    // Each header value cloned once: a call's clone then allocates nothing that lasts.
    let _clones: Vec<_> = tokens.clone();
    let token_len = tokens[0].len() - "Bearer ".len();

    let before_layer = dhat::HeapStats::get().curr_bytes;
    let layer = JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, SECRET).unwrap())
        .build()
        .unwrap();
    let mut service = ServiceBuilder::new()
        .layer(layer.clone())
        .service_fn(noop as Noop);
    let empty = dhat::HeapStats::get().curr_bytes - before_layer;
    println!("the layer, its cache empty: {empty} bytes");

    // Up to 3000 tokens: the map's shards each hold a share of the capacity, so a few
    // entries are evicted before the whole cache is full (4040 of 4096 held in one run).
    let mut previous = (0, 0, dhat::HeapStats::get().curr_bytes);
    for sent in [1000, 2000, 3000] {
        for token in &tokens[previous.0..sent] {
            assert_eq!(call(&mut service, token), 200);
        }
        let cached = layer.cached_tokens();
        let now = dhat::HeapStats::get().curr_bytes;
        let per_token = (now - previous.2) as f64 / (cached - previous.1) as f64;
        println!(
            "{cached} cached tokens: {per_token:.0} bytes a cached token over the previous \
             step ({token_len}-byte tokens)"
        );
        assert!(per_token < 1024.0, "{per_token} bytes a cached token");
        previous = (sent, cached, now);
    }
    let total = previous.2 - before_layer;
    println!(
        "{} cached tokens: {total} bytes with the layer, {:.0} a token",
        previous.1,
        total as f64 / previous.1 as f64
    );
}
