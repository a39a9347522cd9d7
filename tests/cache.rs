//! The verified-token cache seen through the layer: hits still honour revocation, key
//! rotation empties it, it stays within its capacity, and it can be turned off.
//! (Expiry and `nbf` on a hit are tested with a controlled clock in `src/cache.rs`.)

use std::sync::Arc;

use support::*;
use tower_jwt_auth::key::KeySet;
use tower_jwt_auth::layer::CacheStats;
use tower_jwt_auth::revocation::RevocationList;
use tower_jwt_auth::{Algorithm, JwtAuthLayer, Key, SigningKey};

const OTHER: &[u8] = b"a rotated-in secret of at least 32 bytes long";

/// An access token for `sub` signed with `OTHER`: forged, or after a rotation to `OTHER`.
fn under_other(sub: &str) -> String {
    SigningKey::hmac(Algorithm::HS256, OTHER)
        .unwrap()
        .sign(&access_claims(sub))
        .unwrap()
}

#[tokio::test]
async fn the_cache_is_on_by_default_and_fills_only_with_accepted_tokens() {
    let layer = hs256_layer();
    send_token(&layer, "garbage").await.assert_invalid_token();
    send_token(&layer, &under_other("mallory"))
        .await
        .assert_invalid_token();
    assert_eq!(layer.cached_tokens(), 0);

    let token = hs256().sign(&access_claims("alice")).unwrap();
    send_token(&layer, &token).await.assert_ok("alice");
    send_token(&layer, &token).await.assert_ok("alice");
    assert_eq!(layer.cached_tokens(), 1);
}

#[tokio::test]
async fn a_cached_token_is_refused_once_revoked() {
    let revoked = Arc::new(RevocationList::new());
    let layer = JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, SECRET).unwrap())
        .revocation(revoked.clone())
        .build()
        .unwrap();
    let mut claims = access_claims("alice");
    claims["jti"] = "token-1".into();
    let token = hs256().sign(&claims).unwrap();
    send_token(&layer, &token).await.assert_ok("alice");
    assert_eq!(layer.cached_tokens(), 1);

    revoked.revoke("token-1", now() + 600);
    send_token(&layer, &token).await.assert_invalid_token();
}

#[tokio::test]
async fn replacing_the_keys_refuses_tokens_cached_under_the_old_ones() {
    let layer = hs256_layer();
    let token = hs256().sign(&access_claims("alice")).unwrap();
    send_token(&layer, &token).await.assert_ok("alice");
    assert_eq!(layer.cached_tokens(), 1);

    layer
        .validator()
        .keys()
        .replace(KeySet::new([Key::hmac(Algorithm::HS256, OTHER).unwrap()]));
    send_token(&layer, &token).await.assert_invalid_token();
    assert_eq!(
        layer.cached_tokens(),
        0,
        "the replacement emptied the cache"
    );
    send_token(&layer, &under_other("alice"))
        .await
        .assert_ok("alice");
}

#[tokio::test]
async fn the_cache_stays_within_its_capacity() {
    let layer = JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, SECRET).unwrap())
        .cache(64)
        .build()
        .unwrap();
    // The bound is the capacity rounded up to a multiple of the shard count
    // (at most 4 × CPUs, and at most capacity / 32 shards): here at most 2 shards.
    for n in 0..1_000 {
        let token = hs256().sign(&access_claims(&format!("user{n}"))).unwrap();
        send_token(&layer, &token)
            .await
            .assert_ok(&format!("user{n}"));
        assert!(layer.cached_tokens() <= 64, "{}", layer.cached_tokens());
    }
    assert!(layer.cached_tokens() >= 32, "{}", layer.cached_tokens());
}

#[tokio::test]
async fn without_a_cache_nothing_is_kept() {
    let layer = JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, SECRET).unwrap())
        .no_cache()
        .build()
        .unwrap();
    let token = hs256().sign(&access_claims("alice")).unwrap();
    send_token(&layer, &token).await.assert_ok("alice");
    send_token(&layer, &token).await.assert_ok("alice");
    assert_eq!(layer.cached_tokens(), 0);
    assert_eq!(layer.cache_stats(), CacheStats::default());
}

#[tokio::test]
async fn the_layer_reports_its_caches_hits_and_misses() {
    let layer = JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, SECRET).unwrap())
        .cache(64)
        .build()
        .unwrap();
    // Garbage is refused before any lookup; a forged token is looked up, missed and not kept.
    send_token(&layer, "garbage").await.assert_invalid_token();
    send_token(&layer, &under_other("mallory"))
        .await
        .assert_invalid_token();
    let stats = layer.cache_stats();
    assert_eq!((stats.hits, stats.misses, stats.entries), (0, 1, 0));

    let token = hs256().sign(&access_claims("alice")).unwrap();
    for _ in 0..5 {
        send_token(&layer, &token).await.assert_ok("alice");
    }
    let window = layer.cache_stats().since(&stats);
    assert_eq!((window.hits, window.misses, window.entries), (4, 1, 1));
    assert_eq!(window.miss_rate(), Some(0.2));

    // More users than the cache holds: a token used once is a miss each time.
    let clone = layer.clone();
    let before = clone.cache_stats();
    for n in 0..200 {
        let token = hs256().sign(&access_claims(&format!("user{n}"))).unwrap();
        send_token(&clone, &token)
            .await
            .assert_ok(&format!("user{n}"));
    }
    let window = layer.cache_stats().since(&before);
    assert_eq!(
        (window.hits, window.misses),
        (0, 200),
        "the clone counts in the same cache"
    );
    assert!(window.entries <= 64, "{}", window.entries);
}
