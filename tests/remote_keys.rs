//! Remote keys through a [`Fetch`] of our own: the refresh policy (cache lifetime,
//! `ETag`, single-flight refetch on an unknown `kid`, cooldown, failures and staleness),
//! the limits a client cannot lift, and several issuers on one layer. Time is tokio's
//! paused clock where the policy's timers matter, so nothing here depends on the
//! machine's speed. The same behaviour against a real identity provider is in
//! `tests/remote_idp.rs`.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, StatusCode};
use http_body_util::Full;
use serde_json::json;
use support::*;
use tower_jwt_auth::remote::{
    Fetch, FetchError, FetchFuture, FetchRequest, Fetched, RemoteError, RemoteKeys,
    RemoteKeysBuilder,
};
use tower_jwt_auth::{Algorithm, JwtAuthLayer, SigningKey, TrustedIssuer};

const ISSUER: &str = "https://idp.example";
const JWKS: &str = "https://idp.example/jwks";
const AUDIENCE: &str = "my-api";

/// What the fake identity provider answers next.
#[derive(Clone)]
enum Answer {
    Keys(Vec<serde_json::Value>),
    Status(StatusCode),
    Fail,
    Hang,
}

/// An in-memory identity provider: answers JWKS requests as told, counts them, honours
/// `If-None-Match` and sends `Cache-Control` when set.
#[derive(Clone)]
struct FakeIdp {
    state: Arc<Mutex<IdpState>>,
    calls: Arc<AtomicUsize>,
    conditional: Arc<AtomicUsize>,
}

struct IdpState {
    answer: Answer,
    cache_control: Option<&'static str>,
    etag: Option<&'static str>,
    discovery: Option<serde_json::Value>,
}

impl FakeIdp {
    fn new(keys: &[&SigningKey]) -> Self {
        Self {
            state: Arc::new(Mutex::new(IdpState {
                answer: Answer::Keys(keys.iter().map(|key| jwk(key)).collect()),
                cache_control: None,
                etag: None,
                discovery: None,
            })),
            calls: Arc::new(AtomicUsize::new(0)),
            conditional: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn answer(&self, answer: Answer) {
        self.state.lock().unwrap().answer = answer;
    }

    fn publish(&self, keys: &[&SigningKey]) {
        self.answer(Answer::Keys(keys.iter().map(|key| jwk(key)).collect()));
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Fetch for FakeIdp {
    fn fetch(&self, request: FetchRequest) -> FetchFuture<'_> {
        Box::pin(async move {
            let (answer, cache_control, etag, discovery) = {
                let state = self.state.lock().unwrap();
                (
                    state.answer.clone(),
                    state.cache_control,
                    state.etag,
                    state.discovery.clone(),
                )
            };
            if request.url.contains("/.well-known/") {
                return Ok(match discovery {
                    Some(document) if request.url.contains("openid-configuration") => Fetched::new(
                        StatusCode::OK,
                        HeaderMap::new(),
                        document.to_string().into(),
                    ),
                    _ => Fetched::new(StatusCode::NOT_FOUND, HeaderMap::new(), Bytes::new()),
                });
            }
            self.calls.fetch_add(1, Ordering::SeqCst);
            let mut headers = HeaderMap::new();
            if let Some(value) = cache_control {
                headers.insert("cache-control", HeaderValue::from_static(value));
            }
            if let Some(value) = etag {
                headers.insert("etag", HeaderValue::from_static(value));
                if request
                    .if_none_match
                    .as_ref()
                    .is_some_and(|sent| sent == value)
                {
                    self.conditional.fetch_add(1, Ordering::SeqCst);
                    return Ok(Fetched::new(
                        StatusCode::NOT_MODIFIED,
                        headers,
                        Bytes::new(),
                    ));
                }
            }
            match answer {
                Answer::Keys(keys) => Ok(Fetched::new(
                    StatusCode::OK,
                    headers,
                    json!({ "keys": keys }).to_string().into(),
                )),
                Answer::Status(status) => Ok(Fetched::new(status, headers, Bytes::new())),
                Answer::Fail => Err(FetchError::Transport("connection refused".into())),
                Answer::Hang => std::future::pending().await,
            }
        })
    }
}

fn jwk(key: &SigningKey) -> serde_json::Value {
    serde_json::to_value(key.public_jwk().unwrap()).unwrap()
}

fn es256(kid: &str) -> SigningKey {
    SigningKey::ec_pem(Algorithm::ES256, data("keys/ec256_private.pem"))
        .unwrap()
        .with_kid(kid)
}

fn ed25519(kid: &str) -> SigningKey {
    SigningKey::ed_pem(data("keys/ed25519_private.pem"))
        .unwrap()
        .with_kid(kid)
}

/// Claims of an access token of the fake issuer.
fn idp_claims(sub: &str) -> serde_json::Value {
    json!({
        "iss": ISSUER, "sub": sub, "aud": AUDIENCE, "iat": now(), "exp": now() + 600,
        "scope": "read write",
    })
}

/// Keys of the fake issuer's JWKS, fetched from `idp`.
fn from_idp(idp: &FakeIdp) -> RemoteKeysBuilder {
    RemoteKeys::jwks(JWKS, ISSUER).fetch(idp.clone())
}

fn layer(keys: RemoteKeys) -> JwtAuthLayer {
    JwtAuthLayer::builder_for(TrustedIssuer::remote(keys).audiences([AUDIENCE]))
        .build()
        .unwrap()
}

/// A token signed by `key` whose header names the key `kid` (so its signature is the
/// right key's, but its `kid` is unknown).
fn token_with_kid(kid: &str) -> String {
    es256(kid).sign(&idp_claims("mallory")).unwrap()
}

#[tokio::test]
async fn keys_fetched_at_build_verify_tokens_without_another_fetch() {
    let key = es256("k1");
    let idp = FakeIdp::new(&[&key]);
    let keys = from_idp(&idp).build().await.unwrap();
    let layer = layer(keys);
    for _ in 0..5 {
        let token = key.sign(&idp_claims("alice")).unwrap();
        send_token(&layer, &token).await.assert_ok("alice");
    }
    assert_eq!(idp.calls(), 1);
}

#[tokio::test]
async fn a_new_kid_is_fetched_once_and_accepted() {
    let old = es256("k1");
    let idp = FakeIdp::new(&[&old]);
    let keys = from_idp(&idp).build().await.unwrap();
    let layer = layer(keys);
    let new = ed25519("k2");
    idp.publish(&[&old, &new]);
    let token = new.sign(&idp_claims("bob")).unwrap();
    send_token(&layer, &token).await.assert_ok("bob");
    assert_eq!(idp.calls(), 2, "one fetch at build, one for the new kid");
    // Known now: no further fetch.
    send_token(&layer, &token).await.assert_ok("bob");
    assert_eq!(idp.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn unknown_kids_refetch_at_most_once_per_cooldown_and_share_the_fetch() {
    let key = es256("k1");
    let idp = FakeIdp::new(&[&key]);
    let keys = from_idp(&idp)
        .miss_cooldown(Duration::from_secs(30))
        .build()
        .await
        .unwrap();
    let layer = layer(keys);
    let tokens: Vec<String> = (0..200).map(|i| token_with_kid(&format!("x{i}"))).collect();
    let answers =
        futures_util::future::join_all(tokens.iter().map(|token| send_token(&layer, token))).await;
    for answer in &answers {
        answer.assert_invalid_token();
    }
    assert_eq!(idp.calls(), 2, "the build's fetch and one shared refetch");
    // Within the cooldown, unknown kids are refused without a fetch.
    tokio::time::sleep(Duration::from_secs(10)).await;
    send_token(&layer, &tokens[0]).await.assert_invalid_token();
    assert_eq!(idp.calls(), 2);
    // After it, one more.
    tokio::time::sleep(Duration::from_secs(21)).await;
    send_token(&layer, &tokens[1]).await.assert_invalid_token();
    assert_eq!(idp.calls(), 3);
    // The known key never waited for any of it.
    let token = key.sign(&idp_claims("alice")).unwrap();
    send_token(&layer, &token).await.assert_ok("alice");
}

#[tokio::test(start_paused = true)]
async fn a_hanging_issuer_holds_a_request_no_longer_than_the_timeout() {
    let key = es256("k1");
    let idp = FakeIdp::new(&[&key]);
    let keys = from_idp(&idp)
        .timeout(Duration::from_secs(2))
        .build()
        .await
        .unwrap();
    let layer = layer(keys);
    idp.answer(Answer::Hang);
    let start = tokio::time::Instant::now();
    let answers =
        futures_util::future::join_all((0..50).map(|i| token_with_kid(&format!("h{i}"))).map(
            |token| {
                let layer = layer.clone();
                async move { send_token(&layer, &token).await }
            },
        ))
        .await;
    // Paused time: this is the timers' time, not the machine's.
    assert!(
        start.elapsed() <= Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    for answer in &answers {
        answer.assert_invalid_token();
    }
    assert_eq!(idp.calls(), 2, "the waiting requests shared one fetch");
    let token = key.sign(&idp_claims("alice")).unwrap();
    send_token(&layer, &token).await.assert_ok("alice");
}

#[tokio::test(start_paused = true)]
async fn keys_are_refreshed_before_they_expire_and_revalidated_with_the_etag() {
    let key = es256("k1");
    let idp = FakeIdp::new(&[&key]);
    {
        let mut state = idp.state.lock().unwrap();
        state.etag = Some("\"v1\"");
        state.cache_control = Some("max-age=120");
    }
    let keys = from_idp(&idp).build().await.unwrap();
    assert_eq!(idp.calls(), 1);
    // max-age 120 s: the refresh is due at three quarters of it.
    tokio::time::sleep(Duration::from_secs(80)).await;
    assert_eq!(idp.calls(), 1);
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert_eq!(idp.calls(), 2);
    assert_eq!(idp.conditional.load(Ordering::SeqCst), 1, "answered 304");
    assert_eq!(keys.ring().load().len(), 1, "the keys stay after a 304");
    let layer = layer(keys);
    let token = key.sign(&idp_claims("alice")).unwrap();
    send_token(&layer, &token).await.assert_ok("alice");
}

#[tokio::test(start_paused = true)]
async fn max_age_is_clamped_to_the_policy_bounds() {
    let key = es256("k1");
    for (cache_control, due) in [
        ("max-age=1", Duration::from_secs(60) * 3 / 4),
        ("max-age=999999", Duration::from_secs(24 * 3600) * 3 / 4),
        ("no-store", Duration::from_secs(60) * 3 / 4),
    ] {
        let idp = FakeIdp::new(&[&key]);
        idp.state.lock().unwrap().cache_control = Some(cache_control);
        let _keys = from_idp(&idp).build().await.unwrap();
        tokio::time::sleep(due - Duration::from_secs(1)).await;
        assert_eq!(idp.calls(), 1, "{cache_control}: not yet");
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(idp.calls(), 2, "{cache_control}: refreshed");
    }
}

#[tokio::test(start_paused = true)]
async fn failed_refreshes_keep_the_last_good_keys_until_the_staleness_limit() {
    let key = es256("k1");
    let idp = FakeIdp::new(&[&key]);
    let keys = from_idp(&idp)
        .max_staleness(Duration::from_secs(3600))
        .build()
        .await
        .unwrap();
    let layer = layer(keys.clone());
    idp.answer(Answer::Fail);
    // The refresh is due after 7.5 min; it fails and is retried with backoff.
    tokio::time::sleep(Duration::from_secs(30 * 60)).await;
    assert!(idp.calls() > 2, "retried: {}", idp.calls());
    let token = key.sign(&idp_claims("alice")).unwrap();
    send_token(&layer, &token).await.assert_ok("alice");
    assert!(keys.refresh().await.is_err());
    // Past the limit, the issuer's tokens are refused.
    tokio::time::sleep(Duration::from_secs(31 * 60)).await;
    assert_eq!(keys.ring().load().len(), 0);
    send_token(&layer, &token).await.assert_invalid_token();
    // The issuer back: the next retry brings the keys back without a restart.
    idp.publish(&[&key]);
    tokio::time::sleep(Duration::from_secs(6 * 60)).await;
    assert_eq!(keys.ring().load().len(), 1);
    send_token(&layer, &token).await.assert_ok("alice");
}

#[tokio::test(start_paused = true)]
async fn lazy_keys_start_without_the_issuer_and_pick_it_up_later() {
    let key = es256("k1");
    let idp = FakeIdp::new(&[&key]);
    idp.answer(Answer::Fail);
    let keys = from_idp(&idp)
        .miss_cooldown(Duration::from_secs(5))
        .build_lazy()
        .unwrap();
    let layer = layer(keys);
    let token = key.sign(&idp_claims("alice")).unwrap();
    send_token(&layer, &token).await.assert_invalid_token();
    idp.publish(&[&key]);
    tokio::time::sleep(Duration::from_secs(6)).await;
    send_token(&layer, &token).await.assert_ok("alice");
}

#[tokio::test]
async fn the_first_fetch_failing_is_a_clear_error_at_build() {
    let key = es256("k1");
    for (answer, expected) in [
        (Answer::Fail, "connection refused"),
        (Answer::Status(StatusCode::SERVICE_UNAVAILABLE), "503"),
        (
            Answer::Keys(vec![json!({"kty": "oct", "k": "c2VjcmV0"})]),
            "no usable key",
        ),
    ] {
        let idp = FakeIdp::new(&[&key]);
        idp.answer(answer);
        let error = from_idp(&idp).build().await.unwrap_err();
        assert!(
            error.to_string().contains(expected),
            "{error} should mention {expected}"
        );
    }
}

#[tokio::test]
async fn plain_http_is_refused_except_on_loopback() {
    let key = es256("k1");
    let error = RemoteKeys::jwks("http://idp.example/jwks", ISSUER)
        .fetch(FakeIdp::new(&[&key]))
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            RemoteError::Fetch {
                source: FetchError::InsecureUrl(_),
                ..
            }
        ),
        "{error}"
    );
}

#[tokio::test]
async fn a_body_over_the_cap_is_refused_whatever_the_client_returns() {
    let key = es256("k1");
    let idp = FakeIdp::new(&[&key]);
    let error = from_idp(&idp).max_body(64).build().await.unwrap_err();
    assert!(
        matches!(
            error,
            RemoteError::Fetch {
                source: FetchError::TooLarge { limit: 64 },
                ..
            }
        ),
        "{error}"
    );
}

#[tokio::test]
async fn discovery_finds_the_jwks_and_requires_the_same_issuer() {
    let key = es256("k1");
    let idp = FakeIdp::new(&[&key]);
    idp.state.lock().unwrap().discovery = Some(json!({ "issuer": ISSUER, "jwks_uri": JWKS }));
    let keys = RemoteKeys::discover(ISSUER)
        .fetch(idp.clone())
        .build()
        .await
        .unwrap();
    let token = key.sign(&idp_claims("alice")).unwrap();
    send_token(&layer(keys), &token).await.assert_ok("alice");

    idp.state.lock().unwrap().discovery =
        Some(json!({ "issuer": "https://evil.example", "jwks_uri": JWKS }));
    let error = RemoteKeys::discover(ISSUER)
        .fetch(idp)
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(error, RemoteError::IssuerMismatch { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn static_and_remote_issuers_share_a_layer_and_iss_picks_the_keys() {
    let remote_key = es256("k1");
    let idp = FakeIdp::new(&[&remote_key]);
    let keys = from_idp(&idp).build().await.unwrap();
    let layer = JwtAuthLayer::builder(hs256().verifying_key().clone())
        .issuer(TrustedIssuer::remote(keys).audiences([AUDIENCE]))
        .build()
        .unwrap();
    // The tutorial's token: no `iss`, the HS256 secret and the `scope` marker.
    let local = hs256().sign(&access_claims("alice")).unwrap();
    send_token(&layer, &local).await.assert_ok("alice");
    let remote = remote_key.sign(&idp_claims("bob")).unwrap();
    send_token(&layer, &remote).await.assert_ok("bob");

    // An `iss` nobody trusts.
    let mut claims = idp_claims("eve");
    claims["iss"] = json!("https://evil.example");
    let foreign = remote_key.sign(&claims).unwrap();
    send_token(&layer, &foreign).await.assert_invalid_token();
    // The issuer's token signed with the local secret: the issuer's keys are asked,
    // and a JWKS key never verifies an HMAC token.
    let mixed = hs256().sign(&idp_claims("eve")).unwrap();
    send_token(&layer, &mixed).await.assert_invalid_token();
    // A local-looking token (no `iss`) signed by the remote key.
    let sneaky = remote_key.sign(&access_claims("eve")).unwrap();
    send_token(&layer, &sneaky).await.assert_invalid_token();
    // The issuer's rules apply to its tokens: its audience is required.
    let mut claims = idp_claims("eve");
    claims["aud"] = json!("someone-else");
    let wrong_audience = remote_key.sign(&claims).unwrap();
    send_token(&layer, &wrong_audience)
        .await
        .assert_invalid_token();
    // The tutorial's refresh token is still not an access token.
    let mut claims = access_claims("alice");
    claims["scope"] = json!("refresh_token");
    let refresh = hs256().sign(&claims).unwrap();
    send_token(&layer, &refresh).await.assert_invalid_token();
}

#[tokio::test]
async fn rfc_9068_typ_is_required_when_asked_for() {
    let key = es256("k1");
    let idp = FakeIdp::new(&[&key]);
    let keys = from_idp(&idp).build().await.unwrap();
    let layer = JwtAuthLayer::builder_for(
        TrustedIssuer::remote(keys)
            .audiences([AUDIENCE])
            .access_token_jwt(),
    )
    .build()
    .unwrap();
    let encoding = jsonwebtoken::EncodingKey::from_ec_pem(&data("keys/ec256_private.pem")).unwrap();
    let sign = |typ: Option<&str>| {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some("k1".into());
        header.typ = typ.map(str::to_owned);
        jsonwebtoken::encode(&header, &idp_claims("alice"), &encoding).unwrap()
    };
    send_token(&layer, &sign(Some("at+jwt")))
        .await
        .assert_ok("alice");
    send_token(&layer, &sign(Some("application/AT+JWT")))
        .await
        .assert_ok("alice");
    send_token(&layer, &sign(Some("JWT")))
        .await
        .assert_invalid_token();
    send_token(&layer, &sign(None)).await.assert_invalid_token();
}

#[tokio::test]
async fn an_issuer_trusted_twice_is_a_build_error() {
    let key = es256("k1");
    let keys = from_idp(&FakeIdp::new(&[&key])).build().await.unwrap();
    let error = JwtAuthLayer::builder_for(TrustedIssuer::remote(keys.clone()))
        .issuer(TrustedIssuer::remote(keys))
        .build()
        .unwrap_err();
    assert!(error.to_string().contains("twice"), "{error}");
}

#[tokio::test]
async fn claims_read_oauth_scopes_as_a_set() {
    let key = es256("k1");
    let keys = from_idp(&FakeIdp::new(&[&key])).build().await.unwrap();
    let layer = layer(keys);
    let mut claims = idp_claims("alice");
    claims["scope"] = json!("read  write read");
    let token = key.sign(&claims).unwrap();
    let service = tower::ServiceBuilder::new().layer(layer).service_fn(
        |request: Request<Full<Bytes>>| async move {
            let claims = request
                .extensions()
                .get::<std::sync::Arc<tower_jwt_auth::Claims>>()
                .unwrap();
            let scopes: Vec<&str> = claims.scopes().into_iter().collect();
            assert_eq!(scopes, ["read", "write"]);
            assert!(claims.has_scope("write") && !claims.has_scope("admin"));
            Ok::<_, std::convert::Infallible>(http::Response::new(Full::<Bytes>::default()))
        },
    );
    let response = tower::ServiceExt::oneshot(service, with_bearer(&token))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

// Real time here: with a paused clock, a refetch loop that never sleeps would never
// let the clock advance, and the test would hang instead of failing.
#[tokio::test]
async fn a_zero_lifetime_does_not_refetch_nonstop() {
    let key = es256("k1");
    let idp = FakeIdp::new(&[&key]);
    idp.state.lock().unwrap().cache_control = Some("no-store");
    let _keys = from_idp(&idp)
        .cache_ttl(Duration::ZERO, Duration::ZERO, Duration::ZERO)
        .retry(Duration::from_secs(1), Duration::from_secs(60))
        .build()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    // One at build, then at most one a second.
    assert!(idp.calls() <= 3, "{} fetches in 1.5 s", idp.calls());
}

#[tokio::test(start_paused = true)]
async fn a_token_of_another_issuer_with_an_unknown_kid_causes_no_fetch() {
    let key = es256("k1");
    let idp = FakeIdp::new(&[&key]);
    let keys = from_idp(&idp).build().await.unwrap();
    let layer = layer(keys);
    let mut claims = idp_claims("eve");
    claims["iss"] = json!("https://evil.example");
    let token = es256("unknown").sign(&claims).unwrap();
    send_token(&layer, &token).await.assert_invalid_token();
    assert_eq!(idp.calls(), 1);
    // The same token naming the issuer does cause one.
    send_token(&layer, &token_with_kid("unknown"))
        .await
        .assert_invalid_token();
    assert_eq!(idp.calls(), 2);
}

/// A loopback HTTP server for the default client: `/jwks` serves `body`, `/same` redirects
/// to `/jwks` on the same host, `/other` redirects to the same port under another host
/// name (`localhost` instead of `127.0.0.1`), `/slow` never answers, `/chunked` streams
/// `body` without a `Content-Length`.
async fn http_idp(body: String) -> std::net::SocketAddr {
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let body = Bytes::from(body);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                    let body = body.clone();
                    async move {
                        let response = http::Response::builder();
                        let response = match request.uri().path() {
                            "/jwks" => response.body(Full::new(body)),
                            "/same" => response
                                .status(302)
                                .header("location", format!("http://{addr}/jwks"))
                                .body(Full::default()),
                            "/other" => response
                                .status(302)
                                .header(
                                    "location",
                                    format!("http://localhost:{}/jwks", addr.port()),
                                )
                                .body(Full::default()),
                            "/slow" => {
                                std::future::pending::<()>().await;
                                unreachable!()
                            }
                            "/chunked" => {
                                // Two frames and no length: the cap applies while reading.
                                use http_body_util::{BodyExt, StreamBody};
                                let frames =
                                    [body.slice(..body.len() / 2), body.slice(body.len() / 2..)]
                                        .map(|chunk| {
                                            Ok::<_, Infallible>(hyper::body::Frame::data(chunk))
                                        });
                                return Ok::<_, Infallible>(http::Response::new(
                                    StreamBody::new(futures_util::stream::iter(frames)).boxed(),
                                ));
                            }
                            _ => response.status(404).body(Full::default()),
                        };
                        Ok::<_, Infallible>(response.unwrap().map(http_body_util::BodyExt::boxed))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn the_default_client_follows_redirects_within_the_host_only_and_caps_the_body() {
    let key = es256("k1");
    let body = json!({ "keys": [jwk(&key)] }).to_string();
    let addr = http_idp(body.clone()).await;
    let fetch = |path: &str| RemoteKeys::jwks(format!("http://{addr}{path}"), ISSUER);

    let keys = fetch("/same").build().await.unwrap();
    assert_eq!(keys.ring().load().len(), 1);

    let error = fetch("/other").build().await.unwrap_err();
    assert!(
        matches!(
            error,
            RemoteError::Fetch {
                source: FetchError::Redirect,
                ..
            }
        ),
        "{error}"
    );

    let error = fetch("/chunked")
        .max_body(body.len() - 1)
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            RemoteError::Fetch {
                source: FetchError::TooLarge { .. },
                ..
            }
        ),
        "{error}"
    );
    assert!(fetch("/chunked").max_body(body.len()).build().await.is_ok());

    let error = fetch("/slow")
        .timeout(Duration::from_millis(300))
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            RemoteError::Fetch {
                source: FetchError::Timeout(_),
                ..
            }
        ),
        "{error}"
    );

    let error = fetch("/missing").build().await.unwrap_err();
    assert!(
        matches!(
            error,
            RemoteError::Fetch {
                source: FetchError::Status(StatusCode::NOT_FOUND),
                ..
            }
        ),
        "{error}"
    );
    // A connection refused keeps its cause in the message.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let error = RemoteKeys::jwks(format!("http://127.0.0.1:{port}/jwks"), ISSUER)
        .build()
        .await
        .unwrap_err();
    assert!(
        error.to_string().to_lowercase().contains("refused"),
        "{error}"
    );
}
