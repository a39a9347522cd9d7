//! Token introspection (RFC 7662) through the layer, end to end: oidc-provider behind the
//! counting loopback proxy of `tests/idp` introspects the opaque tokens it issued for a tower
//! stack whose handler echoes the claims it finds in the request extensions. Every client
//! authentication method, the kept answers (reuse, single flight, inactive answers, the window
//! of a revoked token, expiry), an endpoint that is down, hangs or fails, the credentials
//! check at start, a flood of random tokens against the rate limit, the issuer and audience
//! rules, and JWTs left to local verification. Skips without
//! `TOWER_JWT_AUTH_TEST_OIDC_PROVIDER` (never in CI).

// `rs-jwt` signs its client assertions with an ES256 key: these tests need a crypto backend.
#![cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]

mod idp;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use idp::{Mode, Provider, Proxy};
use serde_json::{Value, json};
use support::{Answer, answer};
use tokio::task::JoinSet;
use tower::{ServiceBuilder, ServiceExt};
use tower_jwt_auth::introspection::{ClientAuth, Introspection, IntrospectionError, Introspector};
use tower_jwt_auth::layer::JwtAuthLayerBuilder;
use tower_jwt_auth::remote::RemoteKeys;
use tower_jwt_auth::{Algorithm, JwtAuthLayer, Key, SigningKey, TrustedIssuer};

/// The longest any one request or wait may take in these tests.
const WAIT: Duration = Duration::from_secs(10);

/// A proxy and, behind it, a provider whose issuer is the proxy and that knows
/// [`idp::rs_jwt_key`]'s public key; `None` (after `skipping: …`) without oidc-provider.
async fn start() -> Option<(Proxy, Provider)> {
    let modules = idp::node_modules()?;
    let jwks = idp::rs_jwks();
    let proxy = Proxy::start().await;
    let provider = Provider::start_with(&modules, &proxy.url(), "k1", &[("RS_JWKS", &jwks)]).await;
    proxy.set_upstream(provider.addr());
    Some((proxy, provider))
}

/// The introspection endpoint, through the proxy.
fn endpoint(proxy: &Proxy) -> String {
    format!("{}{}", proxy.url(), idp::INTROSPECTION_PATH)
}

/// Introspection at the proxy as [`idp::RS_BASIC`].
fn basic(proxy: &Proxy) -> Introspection {
    Introspection::new(
        endpoint(proxy),
        ClientAuth::client_secret_basic(idp::RS_BASIC, idp::RS_SECRET),
    )
}

/// A layer with the tests' HS256 key (it needs keys; no token here is one of its JWTs) and
/// `introspector`, decoding claims as JSON.
fn layer_with(introspector: Introspector) -> JwtAuthLayer<Value> {
    with_introspection(
        JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, support::SECRET).unwrap()),
        introspector,
    )
}

fn with_introspection(
    builder: JwtAuthLayerBuilder,
    introspector: Introspector,
) -> JwtAuthLayer<Value> {
    builder
        .introspection(introspector)
        .claims::<Value>()
        .build()
        .unwrap()
}

/// The handler: 200 with the claims it finds in the extensions, or `null`.
async fn echo(request: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let claims = request
        .extensions()
        .get::<Arc<Value>>()
        .map_or(Value::Null, |claims| Value::clone(claims));
    Ok(Response::new(Full::new(Bytes::from(claims.to_string()))))
}

/// Sends `token` through `layer` in front of [`echo`]; panics past [`WAIT`].
async fn send(layer: &JwtAuthLayer<Value>, token: &str) -> Answer {
    let service = ServiceBuilder::new().layer(layer.clone()).service_fn(echo);
    let outcome = tokio::time::timeout(WAIT, async {
        answer(service.oneshot(support::with_bearer(token)).await.unwrap()).await
    })
    .await;
    outcome.unwrap_or_else(|_| panic!("no answer within {WAIT:?}"))
}

/// Asserts that the handler was reached with the provider's introspection answer for a token
/// of [`idp::CLIENT_ID`] to [`idp::AUDIENCE`].
fn assert_accepted(outcome: &Answer, proxy: &Proxy) {
    assert_eq!(outcome.status, StatusCode::OK, "{outcome:?}");
    let claims = &outcome.body;
    assert_eq!(claims["active"], true, "{outcome:?}");
    assert_eq!(claims["sub"], idp::CLIENT_ID, "{outcome:?}");
    assert_eq!(claims["client_id"], idp::CLIENT_ID, "{outcome:?}");
    assert_eq!(claims["scope"], idp::SCOPE, "{outcome:?}");
    assert_eq!(claims["aud"], idp::AUDIENCE, "{outcome:?}");
    assert_eq!(claims["iss"], proxy.url(), "{outcome:?}");
    assert!(
        claims["exp"].as_u64().unwrap() > support::now(),
        "{outcome:?}"
    );
}

/// Asserts the answer of a request whose introspection gave no answer: 503 with
/// `Retry-After`, no challenge (the token is not at fault).
fn assert_unavailable(outcome: &Answer) {
    assert_eq!(
        outcome.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{outcome:?}"
    );
    assert_eq!(outcome.header("retry-after"), Some("1"), "{outcome:?}");
    assert_eq!(outcome.challenge(), None, "{outcome:?}");
    assert_eq!(
        outcome.body,
        json!({ "detail": "Service unavailable" }),
        "{outcome:?}"
    );
}

/// Polls `condition` every 20 ms for up to [`WAIT`]; whether it came to hold.
async fn eventually(mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    condition()
}

/// Sleeps until 20 ms past the next whole second of the wall clock. Answers are kept until a
/// whole second (`now + ttl`, in the seconds tokens count in), so an answer kept for 1 s
/// lasts anywhere from nothing to 1 s; one made right after this lasts about 1 s.
async fn next_second() {
    let into = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_millis();
    tokio::time::sleep(Duration::from_millis(u64::from(1000 - into) + 20)).await;
}

#[tokio::test]
async fn an_active_opaque_token_reaches_the_handler_with_its_claims_for_every_client_auth_method() {
    let Some((proxy, provider)) = start().await else {
        return;
    };
    let token = provider.opaque_token(idp::OPAQUE).await;
    let methods = [
        ClientAuth::client_secret_basic(idp::RS_BASIC, idp::RS_SECRET),
        ClientAuth::client_secret_post(idp::RS_POST, idp::RS_SECRET),
        // The assertion's default audience: the introspection endpoint's URL.
        ClientAuth::private_key_jwt(idp::RS_JWT, idp::rs_jwt_key()),
        // The issuer, as some servers want; oidc-provider takes it too.
        ClientAuth::private_key_jwt(idp::RS_JWT, idp::rs_jwt_key()).audience(proxy.url()),
    ];
    for (i, auth) in methods.into_iter().enumerate() {
        let method = auth.method_name();
        // The probe of `build` is the first call; the request is the second.
        let introspector = Introspection::new(endpoint(&proxy), auth)
            .issuer(proxy.url())
            .audiences([idp::AUDIENCE])
            .build()
            .await
            .unwrap_or_else(|e| panic!("{method}: {e}"));
        let layer = layer_with(introspector.clone());
        let outcome = send(&layer, &token).await;
        assert_accepted(&outcome, &proxy);
        assert_eq!(introspector.calls(), 2, "{method}");
        assert_eq!(proxy.introspection_requests(), 2 * (i + 1), "{method}");
    }
}

#[tokio::test]
async fn a_second_request_with_the_same_token_is_served_from_the_kept_answer() {
    let Some((proxy, provider)) = start().await else {
        return;
    };
    let token = provider.opaque_token(idp::OPAQUE).await;
    let introspector = basic(&proxy).build().await.unwrap();
    let layer = layer_with(introspector.clone());
    assert_eq!(layer.introspection_answers(), 0);

    assert_accepted(&send(&layer, &token).await, &proxy);
    let asked = proxy.introspection_requests();
    assert_eq!(asked, 2, "the probe and the first request");
    assert_eq!(layer.introspection_answers(), 1);

    for _ in 0..3 {
        assert_accepted(&send(&layer, &token).await, &proxy);
    }
    assert_eq!(proxy.introspection_requests(), asked);
    assert_eq!(introspector.calls(), 2);
    assert_eq!(layer.introspection_answers(), 1);
    let stats = layer.introspection_stats();
    assert_eq!(
        (stats.hits, stats.misses, stats.entries),
        (3, 1, 1),
        "one introspection, three kept answers"
    );
    assert_eq!(layer.cache_stats().lookups(), 0, "no JWT was looked up");
}

/// A kept answer is found by a keyed hash of the token, and the token's alphabet is checked
/// only when no answer is kept: a token one character off a kept one is asked about (and
/// refused), a token that is not a token68 is refused 400 without a call, and the kept token
/// still passes from its answer.
#[tokio::test]
async fn only_the_very_token_finds_its_kept_answer_and_a_non_token68_is_refused_unasked() {
    let Some((proxy, provider)) = start().await else {
        return;
    };
    let token = provider.opaque_token(idp::OPAQUE).await;
    let layer = layer_with(basic(&proxy).build().await.unwrap());
    assert_accepted(&send(&layer, &token).await, &proxy);
    let asked = proxy.introspection_requests();

    let last = token.chars().last().unwrap();
    let one_off = format!(
        "{}{}",
        &token[..token.len() - 1],
        if last == 'A' { 'B' } else { 'A' }
    );
    send(&layer, &one_off).await.assert_invalid_token();
    assert_eq!(proxy.introspection_requests(), asked + 1, "asked about");
    let longer = format!("{token}A");
    send(&layer, &longer).await.assert_invalid_token();
    assert_eq!(proxy.introspection_requests(), asked + 2, "asked about");

    for not_token68 in [format!("{token}!"), format!("!{token}"), "a=b".to_owned()] {
        send(&layer, &not_token68).await.assert_invalid_request();
    }
    assert_eq!(proxy.introspection_requests(), asked + 2, "none asked");

    assert_accepted(&send(&layer, &token).await, &proxy);
    assert_eq!(proxy.introspection_requests(), asked + 2);
}

#[tokio::test]
async fn concurrent_requests_for_one_new_token_cost_one_introspection() {
    const REQUESTS: usize = 20;
    let Some((proxy, provider)) = start().await else {
        return;
    };
    let token = provider.opaque_token(idp::OPAQUE).await;
    let introspector = basic(&proxy).build().await.unwrap();
    let layer = layer_with(introspector.clone());

    // The endpoint holds the first call, so that every request arrives while it is under way.
    proxy.set_introspection_mode(Mode::Hang);
    let mut requests = JoinSet::new();
    for _ in 0..REQUESTS {
        let (layer, token) = (layer.clone(), token.clone());
        requests.spawn(async move { send(&layer, &token).await });
    }
    assert!(eventually(|| proxy.held() == 1).await, "one call is held");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(proxy.held(), 1);
    assert_eq!(proxy.introspection_requests(), 2, "the probe and one call");
    assert!(
        requests.try_join_next().is_none(),
        "no request is answered yet"
    );

    proxy.set_introspection_mode(Mode::Forward);
    let outcomes = requests.join_all().await;
    assert_eq!(outcomes.len(), REQUESTS);
    for outcome in &outcomes {
        assert_accepted(outcome, &proxy);
    }
    assert_eq!(proxy.introspection_requests(), 2);
    assert_eq!(introspector.calls(), 2);
    assert_eq!(layer.introspection_answers(), 1);
}

#[tokio::test]
async fn an_unknown_token_is_refused_and_asked_again_only_after_the_inactive_ttl() {
    let Some((proxy, _provider)) = start().await else {
        return;
    };
    let introspector = basic(&proxy)
        .inactive_ttl(Duration::from_secs(1))
        .build()
        .await
        .unwrap();
    let layer = layer_with(introspector);
    let garbage = support::unique("garbage");

    next_second().await;
    send(&layer, &garbage).await.assert_invalid_token();
    assert_eq!(proxy.introspection_requests(), 2, "the probe and one call");
    assert_eq!(
        layer.introspection_answers(),
        1,
        "the inactive answer is kept"
    );
    // Within the inactive TTL: the kept answer, no call.
    send(&layer, &garbage).await.assert_invalid_token();
    assert_eq!(proxy.introspection_requests(), 2);

    // Past it: asked again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    send(&layer, &garbage).await.assert_invalid_token();
    assert_eq!(proxy.introspection_requests(), 3);
}

#[tokio::test]
async fn a_revoked_token_is_accepted_until_its_kept_answer_expires_then_refused() {
    const TTL: Duration = Duration::from_secs(1);
    let Some((proxy, provider)) = start().await else {
        return;
    };
    let token = provider.opaque_token(idp::OPAQUE).await;
    let introspector = basic(&proxy).cache_ttl(TTL).build().await.unwrap();
    let layer = layer_with(introspector);

    next_second().await;
    let accepted = Instant::now();
    assert_accepted(&send(&layer, &token).await, &proxy);
    provider.revoke(&token).await;
    // The documented window: the kept answer still serves.
    assert_accepted(&send(&layer, &token).await, &proxy);
    assert_eq!(proxy.introspection_requests(), 2, "the probe and one call");

    // Then refused, at most the TTL after the answer was kept.
    let refused = tokio::time::timeout(WAIT, async {
        loop {
            // When the request was sent: the call it makes is not the window.
            let sent = accepted.elapsed();
            let outcome = send(&layer, &token).await;
            if outcome.status == StatusCode::UNAUTHORIZED {
                return (outcome, sent);
            }
            assert_accepted(&outcome, &proxy);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("refused within the wait");
    let (outcome, after) = refused;
    outcome.assert_invalid_token();
    assert!(
        after <= TTL + Duration::from_millis(300),
        "refused {after:?} after it was kept"
    );
    assert_eq!(proxy.introspection_requests(), 3, "one more call, once");
    send(&layer, &token).await.assert_invalid_token();
    assert_eq!(proxy.introspection_requests(), 3);
}

#[tokio::test]
async fn an_expired_token_is_refused_once_its_exp_passes_with_the_kept_answer_unused() {
    let Some((proxy, provider)) = start().await else {
        return;
    };
    let token = provider.opaque_token(idp::OPAQUE_SHORT).await;
    let introspector = basic(&proxy).build().await.unwrap();
    let layer = layer_with(introspector);

    let outcome = send(&layer, &token).await;
    assert_accepted(&outcome, &proxy);
    let exp = outcome.body["exp"].as_u64().unwrap();
    assert!(exp <= support::now() + 2, "a token of 2 s: {outcome:?}");
    assert_accepted(&send(&layer, &token).await, &proxy);
    assert_eq!(proxy.introspection_requests(), 2, "the probe and one call");

    // Just past `exp`: within the 60 s cache TTL and the 5 s leeway, but the kept answer is
    // dropped at `exp`; the provider, asked again, says inactive.
    let until_exp = Duration::from_secs(exp)
        .saturating_sub(SystemTime::now().duration_since(UNIX_EPOCH).unwrap());
    tokio::time::sleep(until_exp + Duration::from_millis(100)).await;
    send(&layer, &token).await.assert_invalid_token();
    assert_eq!(proxy.introspection_requests(), 3);
}

#[tokio::test]
async fn an_endpoint_that_is_down_hangs_or_fails_gets_503_and_the_token_passes_once_it_recovers() {
    const TIMEOUT: Duration = Duration::from_millis(500);
    let Some((proxy, provider)) = start().await else {
        return;
    };
    let token = provider.opaque_token(idp::OPAQUE).await;
    let introspector = basic(&proxy).timeout(TIMEOUT).build().await.unwrap();
    let layer = layer_with(introspector);

    for mode in [Mode::Down, Mode::Hang, Mode::ServerError, Mode::Down] {
        proxy.set_introspection_mode(mode);
        let asked = proxy.introspection_requests();
        let started = Instant::now();
        let outcome = send(&layer, &token).await;
        let took = started.elapsed();
        assert_unavailable(&outcome);
        assert!(
            proxy.introspection_requests() > asked,
            "{mode:?}: the endpoint was asked"
        );
        assert!(
            took < TIMEOUT + Duration::from_secs(1),
            "{mode:?}: {took:?}"
        );
        if mode == Mode::Hang {
            assert!(took >= TIMEOUT, "{mode:?}: answered after {took:?}");
        }
        // Nothing is kept of a failure.
        assert_eq!(layer.introspection_answers(), 0, "{mode:?}");
    }

    proxy.set_introspection_mode(Mode::Forward);
    assert_accepted(&send(&layer, &token).await, &proxy);
    assert_eq!(layer.introspection_answers(), 1);
}

#[tokio::test]
async fn build_refuses_wrong_credentials_and_an_unreachable_endpoint() {
    let Some((proxy, _provider)) = start().await else {
        return;
    };
    let wrong = [
        ClientAuth::client_secret_basic(idp::RS_BASIC, "wrong"),
        ClientAuth::client_secret_post(idp::RS_POST, "wrong"),
        // Signed with a key the provider does not know for rs-jwt.
        ClientAuth::private_key_jwt(
            idp::RS_JWT,
            SigningKey::ec_pem(Algorithm::ES384, support::data("keys/ec384_private.pem"))
                .unwrap()
                .with_kid(idp::RS_JWT_KID),
        ),
    ];
    for auth in wrong {
        let method = auth.method_name();
        match Introspection::new(endpoint(&proxy), auth).build().await {
            Err(IntrospectionError::Credentials(status)) => {
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{method}");
            }
            other => panic!("{method}: {other:?}"),
        }
    }

    // A loopback port nothing listens on.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let url = format!("http://{closed}{}", idp::INTROSPECTION_PATH);
    let auth = ClientAuth::client_secret_basic(idp::RS_BASIC, idp::RS_SECRET);
    let outcome = Introspection::new(url, auth).build().await;
    assert!(
        matches!(outcome, Err(IntrospectionError::Unreachable(_))),
        "{outcome:?}"
    );

    // The endpoint closes the connection, or answers 500.
    for mode in [Mode::Down, Mode::ServerError] {
        proxy.set_introspection_mode(mode);
        let outcome = basic(&proxy).build().await;
        assert!(
            matches!(outcome, Err(IntrospectionError::Unreachable(_))),
            "{mode:?}: {outcome:?}"
        );
    }
    proxy.set_introspection_mode(Mode::Forward);
    basic(&proxy).build().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_random_tokens_is_held_to_the_rate_limit_while_a_kept_token_passes() {
    const FLOOD: usize = 1000;
    const BATCH: usize = 100;
    const BATCH_GAP: Duration = Duration::from_millis(100);
    const PER_SECOND: u32 = 50;
    const BURST: u32 = 100;
    let Some((proxy, provider)) = start().await else {
        return;
    };
    let token = provider.opaque_token(idp::OPAQUE).await;
    let introspector = basic(&proxy)
        .rate_limit(PER_SECOND, BURST)
        .build()
        .await
        .unwrap();
    let layer = layer_with(introspector);
    assert_accepted(&send(&layer, &token).await, &proxy);

    // The kept token, one request after another while the flood lasts.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let kept = tokio::spawn({
        let (layer, token, stop) = (layer.clone(), token.clone(), Arc::clone(&stop));
        async move {
            let mut served = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                served.push(send(&layer, &token).await);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            served
        }
    });

    let before = proxy.introspection_requests();
    let started = Instant::now();
    let mut statuses = Vec::with_capacity(FLOOD);
    tokio::time::timeout(WAIT * 3, async {
        for _ in 0..FLOOD / BATCH {
            let mut batch = JoinSet::new();
            for _ in 0..BATCH {
                let (layer, garbage) = (layer.clone(), support::unique("flood"));
                batch.spawn(async move { send(&layer, &garbage).await });
            }
            for outcome in batch.join_all().await {
                match outcome.status {
                    StatusCode::UNAUTHORIZED => outcome.assert_invalid_token(),
                    StatusCode::SERVICE_UNAVAILABLE => assert_unavailable(&outcome),
                    _ => panic!("a random token: {outcome:?}"),
                }
                statuses.push(outcome.status);
            }
            tokio::time::sleep(BATCH_GAP).await;
        }
    })
    .await
    .expect("the flood is answered within the wait");
    let elapsed = started.elapsed();
    let calls = proxy.introspection_requests() - before;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let served = kept.await.unwrap();

    let refused = statuses.iter().filter(|s| **s == 401).count();
    let throttled = statuses.iter().filter(|s| **s == 503).count();
    eprintln!(
        "flood of {FLOOD} random tokens over {elapsed:?} with rate_limit({PER_SECOND}, \
         {BURST}): {calls} introspection calls, {refused} answered 401, {throttled} 503; \
         {} requests with the kept token meanwhile",
        served.len()
    );
    assert_eq!(refused + throttled, FLOOD);
    // Each 401 is a call's answer; the bucket starts at most full.
    assert!(refused <= calls, "{refused} refused, {calls} calls");
    let allowed = f64::from(BURST) + f64::from(PER_SECOND) * elapsed.as_secs_f64() + 2.0;
    assert!(
        (calls as f64) <= allowed,
        "{calls} calls in {elapsed:?}, at most {allowed} allowed"
    );
    assert!(throttled > 0, "the limit was reached");
    assert!(!served.is_empty());
    for outcome in &served {
        assert_accepted(outcome, &proxy);
    }
    assert_accepted(&send(&layer, &token).await, &proxy);
}

#[tokio::test]
async fn issuer_and_audience_rules_refuse_an_active_token_that_does_not_match() {
    let Some((proxy, provider)) = start().await else {
        return;
    };
    let token = provider.opaque_token(idp::OPAQUE).await;
    let refused = [
        basic(&proxy).audiences([idp::OTHER_AUDIENCE]),
        basic(&proxy).issuer("http://127.0.0.1:1"),
    ];
    for rules in refused {
        let layer = layer_with(rules.build().await.unwrap());
        send(&layer, &token).await.assert_invalid_token();
        // The refusal is kept as an inactive answer is.
        send(&layer, &token).await.assert_invalid_token();
        assert_eq!(layer.introspection_answers(), 1);
    }
    let asked = proxy.introspection_requests();
    assert_eq!(asked, 4, "two probes, two calls");

    let accepted = basic(&proxy)
        .issuer(proxy.url())
        .audiences([idp::OTHER_AUDIENCE, idp::AUDIENCE]);
    let layer = layer_with(accepted.build().await.unwrap());
    assert_accepted(&send(&layer, &token).await, &proxy);
}

#[tokio::test]
async fn a_jwt_access_token_is_verified_locally_and_never_introspected() {
    let Some((proxy, provider)) = start().await else {
        return;
    };
    let jwt = provider.token(idp::ES256).await;
    let introspector = basic(&proxy).build().await.unwrap();

    // A layer without the provider's keys refuses it itself.
    let layer = layer_with(introspector.clone());
    send(&layer, &jwt).await.assert_invalid_token();
    assert_eq!(layer.introspection_answers(), 0);

    // A layer with them accepts it, with the JWT's own claims.
    let keys = RemoteKeys::discover(proxy.url()).build().await.unwrap();
    let layer = with_introspection(
        JwtAuthLayer::builder_for(
            TrustedIssuer::remote(keys)
                .audiences([idp::AUDIENCE])
                .access_token_jwt(),
        ),
        introspector.clone(),
    );
    let outcome = send(&layer, &jwt).await;
    assert_eq!(outcome.status, StatusCode::OK, "{outcome:?}");
    assert_eq!(outcome.body["sub"], idp::CLIENT_ID, "{outcome:?}");
    assert_eq!(outcome.body["iss"], proxy.url(), "{outcome:?}");
    assert_eq!(
        outcome.body.get("active"),
        None,
        "not an introspection answer"
    );

    assert_eq!(introspector.calls(), 1, "the probe alone");
    assert_eq!(proxy.introspection_requests(), 1);
}

#[tokio::test]
async fn a_jwt_of_an_issuer_named_for_introspection_gets_503_from_a_provider_that_refuses_jwts() {
    let Some((proxy, provider)) = start().await else {
        return;
    };
    let jwt = provider.token(idp::ES256).await;
    let introspector = basic(&proxy)
        .jwt_issuers([proxy.url()])
        .build()
        .await
        .unwrap();
    let layer = layer_with(introspector.clone());

    // oidc-provider answers 400 unsupported_token_type for its JWT access tokens: the layer
    // cannot tell, so it fails closed, and keeps nothing.
    for calls in [2, 3] {
        assert_unavailable(&send(&layer, &jwt).await);
        assert_eq!(introspector.calls(), calls);
        assert_eq!(layer.introspection_answers(), 0);
    }
    assert_eq!(proxy.introspection_requests(), 3);

    // A JWT of another issuer stays local.
    let mut claims = support::access_claims("local");
    claims["iss"] = json!("http://elsewhere");
    let other = support::hs256().sign(&claims).unwrap();
    let outcome = send(&layer, &other).await;
    assert_eq!(outcome.status, StatusCode::OK, "{outcome:?}");
    assert_eq!(outcome.body["sub"], "local");
    assert_eq!(introspector.calls(), 3);
}
