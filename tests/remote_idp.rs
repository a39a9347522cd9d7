//! The layer with remote keys against a real identity provider: oidc-provider behind the
//! counting loopback proxy of `tests/idp`. Discovery, every signing algorithm, the RFC 6750
//! refusals, key rotation, a flood of unknown `kid`s, a provider that is down or hangs, static
//! and remote keys side by side, and lazy and eager start. Skips without
//! `TOWER_JWT_AUTH_TEST_OIDC_PROVIDER` (never in CI).

mod idp;

use std::convert::Infallible;
use std::hash::{BuildHasher, Hasher};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use futures_util::FutureExt;
use http::{Request, Response};
use http_body_util::Full;
use idp::{Mode, Provider, Proxy};
use serde_json::{Value, json};
use support::{Answer, answer};
use tower::ServiceExt;
use tower_jwt_auth::layer::JwtAuthLayerBuilder;
use tower_jwt_auth::remote::{FetchError, RemoteError, RemoteKeys, RemoteKeysBuilder};
use tower_jwt_auth::{Algorithm, Claims, JwtAuthLayer, Key, TrustedIssuer};

/// The least time between two refetches for unknown `kid`s in these tests.
const COOLDOWN: Duration = Duration::from_secs(2);
/// The fetch timeout in these tests.
const TIMEOUT: Duration = Duration::from_secs(1);

/// A proxy and, behind it, a provider whose issuer is the proxy.
async fn start(modules: &Path, kid_prefix: &str) -> (Proxy, Provider) {
    let proxy = Proxy::start().await;
    let provider = Provider::start(modules, &proxy.url(), kid_prefix).await;
    proxy.set_upstream(provider.addr());
    (proxy, provider)
}

/// Discovery of the proxy's issuer with short policy values, and keys that are never
/// refreshed in the background while a test runs unless a fetch fails.
fn keys_of(proxy: &Proxy) -> RemoteKeysBuilder {
    RemoteKeys::discover(proxy.url())
        .miss_cooldown(COOLDOWN)
        .timeout(TIMEOUT)
        .retry(Duration::from_millis(100), Duration::from_millis(500))
        .cache_ttl(
            Duration::from_secs(600),
            Duration::from_secs(600),
            Duration::from_secs(3600),
        )
}

/// A layer trusting `keys` alone, for the provider's RFC 9068 access tokens to [`idp::AUDIENCE`].
fn layer_for(keys: &RemoteKeys) -> JwtAuthLayer {
    builder_for(keys).build().unwrap()
}

fn builder_for(keys: &RemoteKeys) -> JwtAuthLayerBuilder {
    JwtAuthLayer::builder_for(
        TrustedIssuer::remote(keys.clone())
            .audiences([idp::AUDIENCE])
            .access_token_jwt(),
    )
}

/// What the inner service saw: `{"sub", "iss", "scopes"}` from the claims, or `null`s.
async fn echo(request: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let claims = request.extensions().get::<Arc<Claims>>();
    let body = json!({
        "sub": claims.map(|claims| &claims.sub),
        "iss": claims.and_then(|claims| claims.iss.as_ref()),
        "scopes": claims.map(|claims| claims.scopes()),
    });
    Ok(Response::new(Full::new(Bytes::from(body.to_string()))))
}

fn with_bearer(token: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .header("authorization", format!("Bearer {token}"))
        .body(Full::default())
        .unwrap()
}

/// Sends `token` through `layer` in front of [`echo`].
async fn send(layer: &JwtAuthLayer, token: &str) -> Answer {
    let service = tower::ServiceBuilder::new()
        .layer(layer.clone())
        .service_fn(echo);
    answer(service.oneshot(with_bearer(token)).await.unwrap()).await
}

/// Asserts that the handler was reached with the provider's claims.
fn assert_accepted(outcome: &Answer, proxy: &Proxy) {
    assert_eq!(
        (outcome.status, &outcome.body),
        (
            http::StatusCode::OK,
            &json!({ "sub": idp::CLIENT_ID, "iss": proxy.url(), "scopes": ["read", "write"] })
        ),
        "{outcome:?}"
    );
}

/// The token's header, decoded.
fn header_of(token: &str) -> Value {
    let header = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap()
}

/// `token` with its header's `kid` replaced by `kid`: the signature no longer matches.
fn with_kid(token: &str, kid: &str) -> String {
    let mut header = header_of(token);
    header["kid"] = Value::from(kid);
    let (_, rest) = token.split_once('.').unwrap();
    format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header.to_string()))
}

/// A `kid` nobody published, different at every call.
fn random_kid() -> String {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    format!("unknown-{:016x}", hasher.finish())
}

/// Polls `condition` every 20 ms for up to `limit`; whether it came to hold.
async fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    condition()
}

/// The 99th percentile of `samples`.
fn p99(samples: &mut [Duration]) -> Duration {
    assert!(!samples.is_empty());
    samples.sort_unstable();
    let rank = (samples.len() * 99).div_ceil(100).max(1);
    samples[rank - 1]
}

#[tokio::test]
async fn tokens_of_every_algorithm_are_accepted_through_discovery_with_their_claims() {
    let Some(modules) = idp::node_modules() else {
        return;
    };
    let (proxy, provider) = start(&modules, "alg").await;
    let keys = keys_of(&proxy).build().await.unwrap();
    assert_eq!(keys.ring().load().len(), 3);
    assert_eq!(keys.fetches(), 1);
    let layer = layer_for(&keys);

    for (resource, alg, kid) in [
        (idp::RS256, "RS256", "alg-rs256"),
        (idp::ES256, "ES256", "alg-es256"),
        (idp::EDDSA, "EdDSA", "alg-eddsa"),
    ] {
        let token = provider.token(resource).await;
        // RFC 9068 tokens, as the layer's access_token_jwt() requires.
        assert_eq!(
            header_of(&token),
            json!({ "alg": alg, "typ": "at+jwt", "kid": kid }),
            "{resource}"
        );
        assert_accepted(&send(&layer, &token).await, &proxy);
    }
    // The keys fetched once at the start served every token.
    assert_eq!(proxy.jwks_requests(), 1);
    assert_eq!(keys.fetches(), 1);

    provider.stop().await;
}

#[tokio::test]
async fn tampered_expired_and_misaddressed_tokens_get_the_invalid_token_challenge() {
    let Some(modules) = idp::node_modules() else {
        return;
    };
    let (proxy, provider) = start(&modules, "ref").await;
    let keys = keys_of(&proxy).build().await.unwrap();
    let layer = JwtAuthLayer::builder_for(
        TrustedIssuer::remote(keys.clone())
            .audiences([idp::AUDIENCE])
            .access_token_jwt(),
    )
    .leeway(Duration::ZERO)
    .build()
    .unwrap();

    let short = provider.token(idp::SHORT).await;
    let token = provider.token(idp::ES256).await;
    assert_accepted(&send(&layer, &token).await, &proxy);

    // One character of the payload flipped, still canonical base64url.
    let (header, rest) = token.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    let mut flipped = payload.as_bytes().to_vec();
    let middle = flipped.len() / 2;
    flipped[middle] = if flipped[middle] == b'A' { b'B' } else { b'A' };
    let tampered = format!(
        "{header}.{}.{signature}",
        String::from_utf8(flipped).unwrap()
    );
    assert_ne!(tampered, token);
    send(&layer, &tampered).await.assert_invalid_token();

    // For another resource server.
    let other = provider.token(idp::OTHER).await;
    send(&layer, &other).await.assert_invalid_token();

    // A layer for another audience refuses the tokens of this one.
    let elsewhere = JwtAuthLayer::builder_for(
        TrustedIssuer::remote(keys.clone())
            .audiences(["urn:another-api"])
            .access_token_jwt(),
    )
    .build()
    .unwrap();
    send(&elsewhere, &token).await.assert_invalid_token();

    // A 1 s token, with no leeway, some time after it expired.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    send(&layer, &short).await.assert_expired();

    // None of these was a reason to fetch the keys again.
    assert_eq!(proxy.jwks_requests(), 1);

    provider.stop().await;
}

#[tokio::test]
async fn tokens_of_a_provider_the_layer_does_not_trust_get_the_invalid_token_challenge() {
    let Some(modules) = idp::node_modules() else {
        return;
    };
    let (proxy, provider) = start(&modules, "trusted").await;
    let (stranger_proxy, stranger) = start(&modules, "stranger").await;
    let keys = keys_of(&proxy).build().await.unwrap();
    let layer = layer_for(&keys);

    assert_accepted(
        &send(&layer, &provider.token(idp::ES256).await).await,
        &proxy,
    );
    for resource in [idp::RS256, idp::ES256, idp::EDDSA] {
        let foreign = stranger.token(resource).await;
        send(&layer, &foreign).await.assert_invalid_token();
    }
    // The stranger's keys were never asked for.
    assert_eq!(stranger_proxy.requests(), 0);

    stranger.stop().await;
    provider.stop().await;
}

#[tokio::test]
async fn a_rotated_key_is_fetched_once_when_its_kid_is_first_seen() {
    let Some(modules) = idp::node_modules() else {
        return;
    };
    let (proxy, old) = start(&modules, "old").await;
    let keys = keys_of(&proxy).build().await.unwrap();
    let layer = layer_for(&keys);
    let old_token = old.token(idp::ES256).await;
    assert_accepted(&send(&layer, &old_token).await, &proxy);
    old.stop().await;

    let new = Provider::start(&modules, &proxy.url(), "new").await;
    proxy.set_upstream(new.addr());
    let before = proxy.jwks_requests();
    let token = new.token(idp::ES256).await;
    assert_eq!(header_of(&token)["kid"], "new-es256");
    assert_accepted(&send(&layer, &token).await, &proxy);
    assert_eq!(proxy.jwks_requests(), before + 1);

    // The other new keys came with that fetch.
    for resource in [idp::RS256, idp::EDDSA] {
        assert_accepted(&send(&layer, &new.token(resource).await).await, &proxy);
    }
    assert_eq!(proxy.jwks_requests(), before + 1);
    assert!(!keys.ring().load().has_kid("old-es256"));

    new.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unknown_kids_fetches_once_per_cooldown_and_slows_no_valid_request() {
    const FLOOD: usize = 1000;
    const WAVES: usize = 8;
    const WAVE_GAP: Duration = Duration::from_millis(500);
    let Some(modules) = idp::node_modules() else {
        return;
    };
    let (proxy, provider) = start(&modules, "flood").await;
    let keys = keys_of(&proxy).build().await.unwrap();
    // Every valid request is verified in full, not answered from the cache.
    let layer = builder_for(&keys).no_cache().build().unwrap();
    let token = provider.token(idp::ES256).await;
    assert_accepted(&send(&layer, &token).await, &proxy);

    // Valid requests one after another, until `stop`: their latencies.
    let measure = |stop: Arc<AtomicBool>| {
        let (layer, token) = (layer.clone(), token.clone());
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let started = Instant::now();
                let outcome = send(&layer, &token).await;
                latencies.push(started.elapsed());
                assert_eq!(outcome.status, 200, "{outcome:?}");
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            latencies
        })
    };

    let idle_stop = Arc::new(AtomicBool::new(false));
    let idle = measure(Arc::clone(&idle_stop));
    tokio::time::sleep(Duration::from_secs(2)).await;
    idle_stop.store(true, Ordering::SeqCst);
    let mut idle = idle.await.unwrap();

    // Every request of the flood is under way at once; they reach the layer in waves
    // that span more than one cooldown.
    let before = proxy.jwks_requests();
    let flood_stop = Arc::new(AtomicBool::new(false));
    let during = measure(Arc::clone(&flood_stop));
    let refused = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let flood: Vec<_> = (0..FLOOD)
        .map(|i| {
            let (layer, refused) = (layer.clone(), Arc::clone(&refused));
            let forged = with_kid(&token, &random_kid());
            tokio::spawn(async move {
                tokio::time::sleep(WAVE_GAP * u32::try_from(i % WAVES).unwrap()).await;
                let outcome = send(&layer, &forged).await;
                outcome.assert_invalid_token();
                refused.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    for request in flood {
        request.await.unwrap();
    }
    let elapsed = started.elapsed();
    flood_stop.store(true, Ordering::SeqCst);
    let mut during = during.await.unwrap();
    let fetched = proxy.jwks_requests() - before;

    let (idle_p99, flood_p99) = (p99(&mut idle), p99(&mut during));
    println!(
        "flood of {FLOOD} unknown kids over {elapsed:?}: {fetched} JWKS fetches \
         ({} valid requests idle, {} during); valid-request p99 idle {idle_p99:?}, \
         during the flood {flood_p99:?}",
        idle.len(),
        during.len()
    );
    assert_eq!(refused.load(Ordering::SeqCst), FLOOD);
    let windows = usize::try_from(elapsed.as_millis() / COOLDOWN.as_millis()).unwrap();
    assert!(
        (1..=1 + windows).contains(&fetched),
        "{fetched} fetches in {elapsed:?}"
    );
    assert!(
        flood_p99 <= idle_p99 * 2 + Duration::from_millis(20),
        "p99 {flood_p99:?} during the flood, {idle_p99:?} idle"
    );

    provider.stop().await;
}

#[tokio::test]
async fn while_the_provider_is_down_cached_keys_serve_and_it_is_used_again_once_back() {
    let Some(modules) = idp::node_modules() else {
        return;
    };
    let (proxy, old) = start(&modules, "was").await;
    // Refreshed every 0.75 s, retried soon after a failure.
    let keys = keys_of(&proxy)
        .cache_ttl(
            Duration::from_secs(1),
            Duration::from_secs(1),
            Duration::from_secs(1),
        )
        .retry(Duration::from_millis(100), Duration::from_millis(300))
        .build()
        .await
        .unwrap();
    let layer = layer_for(&keys);
    let token = old.token(idp::ES256).await;
    assert_accepted(&send(&layer, &token).await, &proxy);

    proxy.set_mode(Mode::Down);
    // A background refresh failed, and the keys it had stay in use, for new tokens too.
    let failed_from = keys.fetches();
    assert!(
        eventually(Duration::from_secs(10), || keys.fetches()
            >= failed_from + 2)
        .await,
        "no background refresh while down"
    );
    assert_eq!(keys.ring().load().len(), 3);
    assert_accepted(&send(&layer, &token).await, &proxy);
    assert_accepted(&send(&layer, &old.token(idp::RS256).await).await, &proxy);

    // An unknown kid is refused without a long wait.
    let forged = with_kid(&token, &random_kid());
    tokio::time::timeout(TIMEOUT + Duration::from_secs(2), send(&layer, &forged))
        .await
        .expect("an unknown kid is answered while the provider is down")
        .assert_invalid_token();

    // The provider rotates its keys while unreachable, and comes back.
    old.stop().await;
    let new = Provider::start(&modules, &proxy.url(), "back").await;
    proxy.set_upstream(new.addr());
    proxy.set_mode(Mode::Forward);
    assert!(
        eventually(Duration::from_secs(10), || keys
            .ring()
            .load()
            .has_kid("back-es256"))
        .await,
        "the background refresh did not bring the new keys"
    );
    let before = proxy.jwks_requests();
    assert_accepted(&send(&layer, &new.token(idp::ES256).await).await, &proxy);
    // Accepted with the keys the background refresh brought: at most that refresh (every
    // 0.75 s) ran meanwhile, no refetch for the kid.
    assert!(proxy.jwks_requests() <= before + 1);

    new.stop().await;
}

#[tokio::test]
async fn keys_older_than_the_staleness_limit_are_dropped_until_a_fetch_succeeds() {
    let Some(modules) = idp::node_modules() else {
        return;
    };
    let (proxy, provider) = start(&modules, "stale").await;
    let keys = keys_of(&proxy)
        .cache_ttl(
            Duration::from_secs(1),
            Duration::from_secs(1),
            Duration::from_secs(1),
        )
        .retry(Duration::from_millis(100), Duration::from_millis(300))
        .max_staleness(Duration::from_secs(2))
        .build()
        .await
        .unwrap();
    let layer = layer_for(&keys);
    let token = provider.token(idp::ES256).await;
    assert_accepted(&send(&layer, &token).await, &proxy);

    proxy.set_mode(Mode::Down);
    assert!(
        eventually(Duration::from_secs(10), || keys.ring().load().is_empty()).await,
        "the keys outlived the staleness limit"
    );
    // Not from the verified-token cache either.
    send(&layer, &token).await.assert_invalid_token();

    proxy.set_mode(Mode::Forward);
    assert!(
        eventually(Duration::from_secs(10), || keys.ring().load().len() == 3).await,
        "the keys did not come back"
    );
    assert_accepted(&send(&layer, &token).await, &proxy);

    provider.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_provider_holds_one_fetch_and_no_request_past_the_timeout() {
    const REQUESTS: usize = 50;
    let Some(modules) = idp::node_modules() else {
        return;
    };
    let (proxy, provider) = start(&modules, "hang").await;
    let keys = keys_of(&proxy).build().await.unwrap();
    let layer = layer_for(&keys);
    let token = provider.token(idp::ES256).await;
    let fresh = provider.token(idp::RS256).await;
    assert_accepted(&send(&layer, &token).await, &proxy);

    proxy.set_mode(Mode::Hang);
    let requests: Vec<_> = (0..REQUESTS)
        .map(|_| {
            let layer = layer.clone();
            let forged = with_kid(&token, &random_kid());
            tokio::spawn(async move {
                let started = Instant::now();
                let outcome = send(&layer, &forged).await;
                (started.elapsed(), outcome)
            })
        })
        .collect();
    let mut most_held = 0;
    while !requests.iter().all(tokio::task::JoinHandle::is_finished) {
        most_held = most_held.max(proxy.held());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for request in requests {
        let (took, outcome) = request.await.unwrap();
        outcome.assert_invalid_token();
        assert!(
            took <= TIMEOUT + Duration::from_secs(2),
            "answered after {took:?}"
        );
    }
    println!("at most {most_held} fetches held by the hanging provider");
    assert!(
        (1..=2).contains(&most_held),
        "{most_held} fetches held at once"
    );

    // Valid tokens never wait for the provider, hanging or not.
    for mode in [Mode::Hang, Mode::Forward] {
        proxy.set_mode(mode);
        let service = tower::ServiceBuilder::new()
            .layer(layer.clone())
            .service_fn(echo);
        for token in [&token, &fresh] {
            let response = service
                .clone()
                .oneshot(with_bearer(token))
                .now_or_never()
                .expect("answered without waiting")
                .unwrap();
            assert_accepted(&answer(response).await, &proxy);
        }
    }

    provider.stop().await;
}

#[tokio::test]
async fn static_hmac_keys_and_a_remote_issuer_share_one_layer() {
    let Some(modules) = idp::node_modules() else {
        return;
    };
    let (proxy, provider) = start(&modules, "mix").await;
    let keys = keys_of(&proxy).build().await.unwrap();
    let layer = JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, support::SECRET).unwrap())
        .issuer(
            TrustedIssuer::remote(keys.clone())
                .audiences([idp::AUDIENCE])
                .access_token_jwt(),
        )
        .build()
        .unwrap();

    // The tutorial's own token, without `iss`.
    let own = support::hs256()
        .sign(&support::access_claims("alice"))
        .unwrap();
    let outcome = send(&layer, &own).await;
    assert_eq!(
        (outcome.status, &outcome.body),
        (
            http::StatusCode::OK,
            &json!({ "sub": "alice", "iss": null, "scopes": ["access_token"] })
        ),
        "{outcome:?}"
    );
    assert_accepted(
        &send(&layer, &provider.token(idp::ES256).await).await,
        &proxy,
    );

    // An `iss` nobody trusts, and the secret claiming the provider's name (an RFC 9068
    // header, so that only the key decides): neither is the provider's.
    let now = support::now();
    for iss in ["https://nobody.example".to_owned(), proxy.url()] {
        let claims = json!({
            "sub": "mallory", "iss": iss, "aud": idp::AUDIENCE, "scope": "read write",
            "iat": now, "exp": now + 600,
        });
        let forged = support::raw_hs256(
            r#"{"alg":"HS256","typ":"at+jwt"}"#,
            &claims.to_string(),
            support::SECRET,
        );
        send(&layer, &forged).await.assert_invalid_token();
    }
    assert_eq!(proxy.jwks_requests(), 1);

    provider.stop().await;
}

#[tokio::test]
async fn two_remote_issuers_verify_their_own_tokens_and_refetch_alone() {
    let Some(modules) = idp::node_modules() else {
        return;
    };
    let (first_proxy, first) = start(&modules, "first").await;
    let (second_proxy, second) = start(&modules, "second").await;
    let first_keys = keys_of(&first_proxy).build().await.unwrap();
    let second_keys = keys_of(&second_proxy).build().await.unwrap();
    let layer = JwtAuthLayer::builder_for(
        TrustedIssuer::remote(first_keys)
            .audiences([idp::AUDIENCE])
            .access_token_jwt(),
    )
    .issuer(
        TrustedIssuer::remote(second_keys)
            .audiences([idp::AUDIENCE])
            .access_token_jwt(),
    )
    .build()
    .unwrap();
    assert_accepted(
        &send(&layer, &first.token(idp::ES256).await).await,
        &first_proxy,
    );
    assert_accepted(
        &send(&layer, &second.token(idp::RS256).await).await,
        &second_proxy,
    );

    // The second rotates its keys: only its own JWKS is fetched again.
    second.stop().await;
    let rotated = Provider::start(&modules, &second_proxy.url(), "rotated").await;
    second_proxy.set_upstream(rotated.addr());
    assert_accepted(
        &send(&layer, &rotated.token(idp::EDDSA).await).await,
        &second_proxy,
    );
    assert_eq!(
        (first_proxy.jwks_requests(), second_proxy.jwks_requests()),
        (1, 2)
    );
    // A token of the first with a kid only the second knows is the first's to refuse.
    let token = first.token(idp::ES256).await;
    let crossed = with_kid(&token, "rotated-es256");
    send(&layer, &crossed).await.assert_invalid_token();
    assert_eq!(second_proxy.jwks_requests(), 2);

    rotated.stop().await;
    first.stop().await;
}

#[tokio::test]
async fn lazy_keys_start_while_the_provider_is_down_and_serve_once_it_is_back() {
    let Some(modules) = idp::node_modules() else {
        return;
    };
    let (proxy, provider) = start(&modules, "lazy").await;
    proxy.set_mode(Mode::Down);
    let keys = keys_of(&proxy).build_lazy().unwrap();
    let layer = layer_for(&keys);
    let token = provider.token(idp::ES256).await;

    assert!(
        eventually(Duration::from_secs(10), || keys.fetches() >= 1).await,
        "no first fetch"
    );
    assert_eq!(keys.ring().load().len(), 0);
    send(&layer, &token).await.assert_invalid_token();

    proxy.set_mode(Mode::Forward);
    let deadline = Instant::now() + Duration::from_secs(10);
    let outcome = loop {
        let outcome = send(&layer, &token).await;
        if outcome.status == 200 || Instant::now() >= deadline {
            break outcome;
        }
        outcome.assert_invalid_token();
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_accepted(&outcome, &proxy);
    assert_eq!(keys.ring().load().len(), 3);

    provider.stop().await;
}

#[tokio::test]
async fn eager_start_fails_while_the_provider_is_down_or_names_another_issuer() {
    let Some(modules) = idp::node_modules() else {
        return;
    };
    let (proxy, provider) = start(&modules, "eager").await;

    proxy.set_mode(Mode::Down);
    let down = keys_of(&proxy).build().await;
    assert!(matches!(down, Err(RemoteError::Fetch { .. })), "{down:?}");

    // The provider's own address is not the issuer it names (the proxy's URL).
    proxy.set_mode(Mode::Forward);
    let direct = format!("http://127.0.0.1:{}", provider.addr().port());
    let mismatch = RemoteKeys::discover(direct.as_str())
        .timeout(TIMEOUT)
        .build()
        .await;
    match mismatch {
        Err(RemoteError::IssuerMismatch { expected, found }) => {
            assert_eq!((expected, found), (direct, proxy.url()));
        }
        other => panic!("{other:?}"),
    }

    // Plain http is refused for a host that is not loopback, before any request.
    let insecure = RemoteKeys::discover("http://idp.example").build().await;
    assert!(
        matches!(
            insecure,
            Err(RemoteError::Fetch {
                source: FetchError::InsecureUrl(_),
                ..
            })
        ),
        "{insecure:?}"
    );
    assert_eq!(proxy.jwks_requests(), 0);

    // Still started once the provider answers.
    let keys = keys_of(&proxy).build().await.unwrap();
    assert_eq!(keys.ring().load().len(), 3);
    let layer = layer_for(&keys);
    assert_accepted(
        &send(&layer, &provider.token(idp::EDDSA).await).await,
        &proxy,
    );

    provider.stop().await;
}
