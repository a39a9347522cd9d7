//! The layer's behaviour through its public API: claims checks, token sources, the
//! rejection table, optional mode, revocation and key rotation.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use serde_json::json;
use support::*;
use tower::ServiceExt;
use tower_jwt_auth::key::{KeyRing, KeySet};
use tower_jwt_auth::rejection::Rejection;
use tower_jwt_auth::revocation::RevocationList;
use tower_jwt_auth::{Algorithm, JwtAuthLayer, Key, SigningKey};

#[tokio::test]
async fn valid_access_token_reaches_the_service_with_its_claims() {
    let token = hs256().sign(&access_claims("alice")).unwrap();
    send_token(&hs256_layer(), &token).await.assert_ok("alice");
}

#[tokio::test]
async fn missing_credentials_get_a_bare_bearer_challenge() {
    let outcome = send(&hs256_layer(), Request::new(Full::default())).await;
    outcome.assert_not_authenticated();
    assert_eq!(outcome.content_type(), Some("application/json"));
}

#[tokio::test]
async fn another_auth_scheme_counts_as_no_credentials() {
    let request = Request::builder()
        .header("authorization", "Basic dXNlcjpwYXNz")
        .body(Full::default())
        .unwrap();
    send(&hs256_layer(), request)
        .await
        .assert_not_authenticated();
}

#[tokio::test]
async fn malformed_authorization_header_is_a_bad_request() {
    for value in ["Bearer", "Bearer a b", "Bearer {json}", "Bearer\ttoken"] {
        let request = Request::builder()
            .header("authorization", value)
            .body(Full::default())
            .unwrap();
        send(&hs256_layer(), request).await.assert_invalid_request();
    }
}

#[tokio::test]
async fn repeated_authorization_headers_are_a_bad_request() {
    let token = hs256().sign(&access_claims("alice")).unwrap();
    let request = Request::builder()
        .header("authorization", format!("Bearer {token}"))
        .header("authorization", format!("Bearer {token}"))
        .body(Full::default())
        .unwrap();
    send(&hs256_layer(), request).await.assert_invalid_request();
}

#[tokio::test]
async fn bearer_scheme_is_matched_case_insensitively() {
    let token = hs256().sign(&access_claims("alice")).unwrap();
    for scheme in ["bearer", "BEARER", "BeArEr"] {
        let request = Request::builder()
            .header("authorization", format!("{scheme} {token}"))
            .body(Full::default())
            .unwrap();
        send(&hs256_layer(), request).await.assert_ok("alice");
    }
}

#[tokio::test]
async fn expired_token_is_rejected_with_token_expired() {
    let claims = json!({ "sub": "alice", "exp": now() - 60, "scope": "access_token" });
    let outcome = send_token(&hs256_layer(), &hs256().sign(&claims).unwrap()).await;
    outcome.assert_expired();
}

#[tokio::test]
async fn expiry_within_the_default_leeway_is_accepted_and_leeway_is_configurable() {
    let claims = json!({ "sub": "alice", "exp": now() - 2, "scope": "access_token" });
    let token = hs256().sign(&claims).unwrap();
    send_token(&hs256_layer(), &token).await.assert_ok("alice");

    let strict = JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, SECRET).unwrap())
        .leeway(Duration::ZERO)
        .build()
        .unwrap();
    send_token(&strict, &token).await.assert_expired();
}

#[tokio::test]
async fn exp_is_required() {
    let token = hs256()
        .sign(&json!({ "sub": "alice", "scope": "access_token" }))
        .unwrap();
    send_token(&hs256_layer(), &token)
        .await
        .assert_invalid_token();
}

#[tokio::test]
async fn exp_of_the_wrong_type_is_invalid() {
    for exp in [json!("4102444800"), json!(-1), json!(null), json!([1])] {
        let claims = json!({ "sub": "alice", "exp": exp, "scope": "access_token" });
        send_token(&hs256_layer(), &hs256().sign(&claims).unwrap())
            .await
            .assert_invalid_token();
    }
}

#[tokio::test]
async fn nbf_in_the_future_is_rejected_and_in_the_past_accepted() {
    let future =
        json!({ "sub": "a", "exp": now() + 600, "nbf": now() + 300, "scope": "access_token" });
    send_token(&hs256_layer(), &hs256().sign(&future).unwrap())
        .await
        .assert_invalid_token();
    let past =
        json!({ "sub": "a", "exp": now() + 600, "nbf": now() - 300, "scope": "access_token" });
    send_token(&hs256_layer(), &hs256().sign(&past).unwrap())
        .await
        .assert_ok("a");
}

#[tokio::test]
async fn iat_in_the_future_is_rejected() {
    let claims =
        json!({ "sub": "a", "exp": now() + 600, "iat": now() + 300, "scope": "access_token" });
    send_token(&hs256_layer(), &hs256().sign(&claims).unwrap())
        .await
        .assert_invalid_token();
}

#[tokio::test]
async fn refresh_token_is_not_an_access_token() {
    let claims = json!({ "sub": "alice", "exp": now() + 36000, "scope": "refresh_token" });
    send_token(&hs256_layer(), &hs256().sign(&claims).unwrap())
        .await
        .assert_invalid_token();
    let untyped = json!({ "sub": "alice", "exp": now() + 600 });
    send_token(&hs256_layer(), &hs256().sign(&untyped).unwrap())
        .await
        .assert_invalid_token();
}

#[tokio::test]
async fn token_type_check_can_be_changed_or_disabled() {
    let key = || Key::hmac(Algorithm::HS256, SECRET).unwrap();
    let typed = JwtAuthLayer::builder(key())
        .token_type("typ", "at+jwt")
        .build()
        .unwrap();
    let at = json!({ "sub": "a", "exp": now() + 60, "typ": "at+jwt" });
    send_token(&typed, &hs256().sign(&at).unwrap())
        .await
        .assert_ok("a");
    let access = hs256().sign(&access_claims("a")).unwrap();
    send_token(&typed, &access).await.assert_invalid_token();

    let any = JwtAuthLayer::builder(key())
        .any_token_type()
        .build()
        .unwrap();
    send_token(
        &any,
        &hs256()
            .sign(&json!({ "sub": "a", "exp": now() + 60 }))
            .unwrap(),
    )
    .await
    .assert_ok("a");
}

#[tokio::test]
async fn issuer_and_audience_are_checked_only_when_configured() {
    let claims = json!({
        "sub": "a", "exp": now() + 60, "scope": "access_token",
        "iss": "https://issuer.example", "aud": ["api", "other"],
    });
    let token = hs256().sign(&claims).unwrap();
    send_token(&hs256_layer(), &token).await.assert_ok("a");

    let key = || Key::hmac(Algorithm::HS256, SECRET).unwrap();
    let good = JwtAuthLayer::builder(key())
        .issuers(["https://issuer.example"])
        .audiences(["api"])
        .build()
        .unwrap();
    send_token(&good, &token).await.assert_ok("a");

    let wrong_iss = JwtAuthLayer::builder(key())
        .issuers(["https://else"])
        .build()
        .unwrap();
    send_token(&wrong_iss, &token).await.assert_invalid_token();
    let wrong_aud = JwtAuthLayer::builder(key())
        .audiences(["billing"])
        .build()
        .unwrap();
    send_token(&wrong_aud, &token).await.assert_invalid_token();

    let bare = hs256().sign(&access_claims("a")).unwrap();
    send_token(&good, &bare).await.assert_invalid_token();
}

#[tokio::test]
async fn oversized_token_is_refused_before_decoding() {
    let layer = JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, SECRET).unwrap())
        .max_token_len(256)
        .build()
        .unwrap();
    let mut claims = access_claims("alice");
    claims["pad"] = json!("x".repeat(300));
    send_token(&layer, &hs256().sign(&claims).unwrap())
        .await
        .assert_invalid_token();
    // The default cap is 8 KiB.
    claims["pad"] = json!("x".repeat(9000));
    send_token(&hs256_layer(), &hs256().sign(&claims).unwrap())
        .await
        .assert_invalid_token();
    claims["pad"] = json!("x".repeat(4000));
    send_token(&hs256_layer(), &hs256().sign(&claims).unwrap())
        .await
        .assert_ok("alice");
}

#[tokio::test]
async fn cookie_and_query_sources_are_opt_in() {
    let token = hs256().sign(&access_claims("alice")).unwrap();
    let by_cookie = || {
        Request::builder()
            .header("cookie", format!("theme=dark; access={token}"))
            .body(Full::default())
            .unwrap()
    };
    let by_query = || {
        Request::builder()
            .uri(format!("/ws?access_token={token}"))
            .body(Full::default())
            .unwrap()
    };
    send(&hs256_layer(), by_cookie())
        .await
        .assert_not_authenticated();
    send(&hs256_layer(), by_query())
        .await
        .assert_not_authenticated();

    let layer = JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, SECRET).unwrap())
        .cookie("access")
        .query_param("access_token")
        .build()
        .unwrap();
    send(&layer, by_cookie()).await.assert_ok("alice");
    send(&layer, by_query()).await.assert_ok("alice");

    // RFC 6750 §2: one method per request.
    let both = Request::builder()
        .uri(format!("/ws?access_token={token}"))
        .header("authorization", format!("Bearer {token}"))
        .body(Full::default())
        .unwrap();
    send(&layer, both).await.assert_invalid_request();
}

#[tokio::test]
async fn an_empty_cookie_is_no_credentials_in_either_mode() {
    let emptied = || {
        Request::builder()
            .header("cookie", "theme=dark; access=")
            .body(Full::default())
            .unwrap()
    };
    let required = JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, SECRET).unwrap())
        .cookie("access")
        .build()
        .unwrap();
    send(&required, emptied()).await.assert_not_authenticated();
    let optional = JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, SECRET).unwrap())
        .cookie("access")
        .optional()
        .build()
        .unwrap();
    let anonymous = send(&optional, emptied()).await;
    assert_eq!(anonymous.pair(), (StatusCode::OK, json!({ "sub": null })));
}

#[tokio::test]
async fn unsafe_requests_with_a_cookie_token_must_come_from_their_own_origin() {
    let token = hs256().sign(&access_claims("alice")).unwrap();
    let layer = JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, SECRET).unwrap())
        .cookie("access")
        .build()
        .unwrap();
    let request = |method: &str, headers: &[(&str, &str)], by_cookie: bool| {
        let mut builder = Request::builder()
            .method(method)
            .uri("http://api.example/orders")
            .header("host", "api.example");
        builder = if by_cookie {
            builder.header("cookie", format!("access={token}"))
        } else {
            builder.header("authorization", format!("Bearer {token}"))
        };
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Full::default()).unwrap()
    };
    for method in ["POST", "PUT", "PATCH", "DELETE"] {
        for headers in [
            &[][..],
            &[("sec-fetch-site", "cross-site")],
            &[("sec-fetch-site", "same-site")],
            &[("origin", "https://evil.example")],
            &[("origin", "null")],
        ] {
            let refused = send(&layer, request(method, headers, true)).await;
            assert_eq!(
                refused.pair(),
                (
                    StatusCode::FORBIDDEN,
                    json!({ "detail": "Cross-site request refused" })
                ),
                "{method} {headers:?}"
            );
            assert_eq!(refused.challenge(), None);
            // The same token in the header needs no check.
            send(&layer, request(method, headers, false))
                .await
                .assert_ok("alice");
        }
        send(
            &layer,
            request(method, &[("sec-fetch-site", "same-origin")], true),
        )
        .await
        .assert_ok("alice");
        send(
            &layer,
            request(method, &[("origin", "http://api.example")], true),
        )
        .await
        .assert_ok("alice");
    }
    // Safe methods are not checked.
    send(
        &layer,
        request("GET", &[("sec-fetch-site", "cross-site")], true),
    )
    .await
    .assert_ok("alice");
    // An allowed list replaces the Host comparison.
    let listed = JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, SECRET).unwrap())
        .cookie("access")
        .csrf(tower_jwt_auth::csrf::CsrfPolicy::new().allow_origin("https://front.example"))
        .build()
        .unwrap();
    send(
        &listed,
        request("POST", &[("origin", "https://front.example")], true),
    )
    .await
    .assert_ok("alice");
    let refused = send(
        &listed,
        request("POST", &[("origin", "http://api.example")], true),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn optional_mode_passes_anonymous_requests_but_not_bad_tokens() {
    let layer = JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, SECRET).unwrap())
        .optional()
        .build()
        .unwrap();
    let anonymous = send(&layer, Request::new(Full::default())).await;
    assert_eq!(
        (anonymous.status, anonymous.body),
        (http::StatusCode::OK, json!({ "sub": null }))
    );
    send_token(&layer, &hs256().sign(&access_claims("bob")).unwrap())
        .await
        .assert_ok("bob");
    send_token(&layer, "not.a.token")
        .await
        .assert_invalid_token();
    let expired = json!({ "sub": "bob", "exp": now() - 60, "scope": "access_token" });
    send_token(&layer, &hs256().sign(&expired).unwrap())
        .await
        .assert_expired();
}

#[tokio::test]
async fn revocation_hook_cuts_a_token_short() {
    let list = Arc::new(RevocationList::new());
    let layer = JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, SECRET).unwrap())
        .revocation(list.clone())
        .build()
        .unwrap();
    let mut claims = access_claims("alice");
    claims["jti"] = json!("token-1");
    let token = hs256().sign(&claims).unwrap();
    send_token(&layer, &token).await.assert_ok("alice");
    list.revoke("token-1", now() + 600);
    send_token(&layer, &token).await.assert_invalid_token();
    // Other tokens are unaffected.
    claims["jti"] = json!("token-2");
    send_token(&layer, &hs256().sign(&claims).unwrap())
        .await
        .assert_ok("alice");
}

#[tokio::test]
async fn default_revocation_hook_revokes_nothing() {
    let mut claims = access_claims("alice");
    claims["jti"] = json!("token-1");
    send_token(&hs256_layer(), &hs256().sign(&claims).unwrap())
        .await
        .assert_ok("alice");
}

#[tokio::test]
async fn key_ring_can_be_replaced_while_running() {
    let old = SigningKey::hmac(Algorithm::HS256, [1u8; 32])
        .unwrap()
        .with_kid("2025");
    let new = SigningKey::hmac(Algorithm::HS256, [2u8; 32])
        .unwrap()
        .with_kid("2026");
    let ring = KeyRing::new(KeySet::new([old.verifying_key().clone()]));
    let layer = JwtAuthLayer::builder(ring.clone()).build().unwrap();
    let old_token = old.sign(&access_claims("alice")).unwrap();
    let new_token = new.sign(&access_claims("alice")).unwrap();
    send_token(&layer, &old_token).await.assert_ok("alice");
    send_token(&layer, &new_token).await.assert_invalid_token();

    // Rotation: both keys accepted during the overlap, then only the new one.
    ring.replace(KeySet::new([
        old.verifying_key().clone(),
        new.verifying_key().clone(),
    ]));
    send_token(&layer, &old_token).await.assert_ok("alice");
    send_token(&layer, &new_token).await.assert_ok("alice");
    ring.replace(KeySet::new([new.verifying_key().clone()]));
    send_token(&layer, &old_token).await.assert_invalid_token();
    send_token(&layer, &new_token).await.assert_ok("alice");
}

#[tokio::test]
async fn kid_selects_the_key() {
    let a = SigningKey::hmac(Algorithm::HS256, [1u8; 32])
        .unwrap()
        .with_kid("a");
    let b = SigningKey::hmac(Algorithm::HS256, [2u8; 32])
        .unwrap()
        .with_kid("b");
    let layer = JwtAuthLayer::builder(KeySet::new([
        a.verifying_key().clone(),
        b.verifying_key().clone(),
    ]))
    .build()
    .unwrap();
    send_token(&layer, &a.sign(&access_claims("x")).unwrap())
        .await
        .assert_ok("x");
    send_token(&layer, &b.sign(&access_claims("y")).unwrap())
        .await
        .assert_ok("y");
    // A kid the set does not know, signed with an unknown secret.
    let c = SigningKey::hmac(Algorithm::HS256, [3u8; 32])
        .unwrap()
        .with_kid("c");
    send_token(&layer, &c.sign(&access_claims("z")).unwrap())
        .await
        .assert_invalid_token();
    // Key a's secret under kid b: the kid selects b, whose signature check fails.
    let forged = SigningKey::hmac(Algorithm::HS256, [1u8; 32])
        .unwrap()
        .with_kid("b");
    send_token(&layer, &forged.sign(&access_claims("z")).unwrap())
        .await
        .assert_invalid_token();
}

#[tokio::test]
async fn custom_rejection_replaces_the_format() {
    let layer = JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, SECRET).unwrap())
        .on_rejection(|rejection: Rejection| {
            let mut response = Response::new(Full::new(Bytes::from(format!(
                "nope: {}",
                rejection.detail()
            ))));
            *response.status_mut() = if rejection == Rejection::MissingCredentials {
                StatusCode::FORBIDDEN
            } else {
                rejection.status()
            };
            response
        })
        .build()
        .unwrap();
    let service =
        tower::ServiceBuilder::new()
            .layer(layer)
            .service_fn(|_req: Request<Full<Bytes>>| async {
                Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from_static(
                    b"ok",
                ))))
            });
    let response = service
        .clone()
        .oneshot(Request::new(Full::default()))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(&body[..], b"nope: Not authenticated");
}

#[tokio::test]
async fn empty_key_set_is_refused_at_build_time() {
    let error = JwtAuthLayer::builder(KeySet::default())
        .build()
        .unwrap_err();
    assert!(matches!(error, tower_jwt_auth::BuildError::NoKeys));
}

#[tokio::test]
async fn custom_claims_type_is_decoded_and_inserted() {
    #[derive(Clone, serde::Deserialize)]
    struct Mine {
        sub: String,
        role: String,
    }
    let layer = JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, SECRET).unwrap())
        .claims::<Mine>()
        .build()
        .unwrap();
    let service = tower::ServiceBuilder::new().layer(layer).service_fn(
        |req: Request<Full<Bytes>>| async move {
            let mine = req.extensions().get::<std::sync::Arc<Mine>>().unwrap();
            Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from(format!(
                "{}:{}",
                mine.sub, mine.role
            )))))
        },
    );
    let mut claims = access_claims("alice");
    claims["role"] = json!("admin");
    let response = service
        .clone()
        .oneshot(with_bearer(&hs256().sign(&claims).unwrap()))
        .await
        .unwrap();
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(&body[..], b"alice:admin");
    // Claims that do not fit the type are an invalid token, not a 500.
    let response = service
        .oneshot(with_bearer(&hs256().sign(&access_claims("alice")).unwrap()))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn poll_ready_is_passed_through() {
    use std::task::{Context, Poll};
    use tower::Service;
    // An inner service that is never ready: the layer must say so too.
    #[derive(Clone)]
    struct NeverReady;
    impl Service<Request<Full<Bytes>>> for NeverReady {
        type Response = Response<Full<Bytes>>;
        type Error = &'static str;
        type Future = std::future::Ready<Result<Self::Response, Self::Error>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Err("not ready"))
        }
        fn call(&mut self, _: Request<Full<Bytes>>) -> Self::Future {
            std::future::ready(Err("called"))
        }
    }
    let mut service = tower::Layer::layer(&hs256_layer(), NeverReady);
    let waker = std::task::Waker::noop();
    assert_eq!(
        service.poll_ready(&mut Context::from_waker(waker)),
        Poll::Ready(Err("not ready"))
    );
    assert_eq!(
        service
            .get_ref()
            .clone()
            .poll_ready(&mut Context::from_waker(waker)),
        Poll::Ready(Err("not ready"))
    );
}

#[tokio::test]
async fn fractional_dates_are_read_by_one_rule_in_the_validator_and_in_claims() {
    // RFC 7519 §2: a NumericDate may be fractional. Both the checks and `Claims` round it
    // to the nearest second.
    let iat = now() - 10;
    let exp = iat + 600;
    let payload =
        format!(r#"{{"sub":"alice","iat":{iat}.4,"exp":{exp}.6,"scope":"access_token"}}"#);
    let token = raw_hs256(r#"{"alg":"HS256","typ":"JWT"}"#, &payload, SECRET);
    let verified = tower_jwt_auth::validator::Validator::new(
        Key::hmac(Algorithm::HS256, SECRET).unwrap(),
        tower_jwt_auth::validator::Validation::new(),
    )
    .unwrap()
    .validate::<tower_jwt_auth::Claims>(&token)
    .unwrap();
    assert_eq!(verified.claims.exp, exp + 1);
    assert_eq!(verified.exp, exp + 1);
    assert_eq!(verified.claims.iat, Some(iat));
    send_token(&hs256_layer(), &token).await.assert_ok("alice");
    // A fractional expiry in the past is refused as expired, not as malformed.
    let payload = format!(
        r#"{{"sub":"alice","exp":{}.5,"scope":"access_token"}}"#,
        now() - 3600
    );
    let token = raw_hs256(r#"{"alg":"HS256","typ":"JWT"}"#, &payload, SECRET);
    send_token(&hs256_layer(), &token).await.assert_expired();
}
