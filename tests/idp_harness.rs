//! The identity-provider harness on its own: oidc-provider behind the counting proxy issues
//! RFC 9068 access tokens that verify against its JWKS, rotates keys on restart, and the
//! proxy goes down and hangs on demand. Skips without `TOWER_JWT_AUTH_TEST_OIDC_PROVIDER`
//! (never in CI).

// The provider signs with asymmetric keys: these tests need a crypto backend.
#![cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]

mod idp;

use std::path::Path;
use std::time::Duration;

use idp::{Mode, Provider, Proxy};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

/// jsonwebtoken's crypto provider for the crate's backend feature (both may be on).
fn install_crypto() {
    #[cfg(feature = "aws-lc-rs")]
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    #[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
    let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
}

/// A proxy and, behind it, a provider whose issuer is the proxy.
async fn start(modules: &Path, kid_prefix: &str) -> (Proxy, Provider) {
    let proxy = Proxy::start().await;
    let provider = Provider::start(modules, &proxy.url(), kid_prefix).await;
    proxy.set_upstream(provider.addr());
    (proxy, provider)
}

/// The JWKS, fetched through the proxy.
async fn jwks(proxy: &Proxy) -> JwkSet {
    let (status, body) = idp::get(&format!("{}{}", proxy.url(), idp::JWKS_PATH)).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("a JWK set")
}

/// Each key of `set` as JSON, by kid.
fn keys_by_kid(set: &JwkSet) -> Vec<(String, Value)> {
    let mut keys: Vec<_> = set
        .keys
        .iter()
        .map(|jwk| {
            let json = serde_json::to_value(jwk).unwrap();
            (json["kid"].as_str().unwrap().to_owned(), json)
        })
        .collect();
    keys.sort_by(|a, b| a.0.cmp(&b.0));
    keys
}

#[tokio::test]
async fn discovery_through_the_proxy_names_the_proxy_as_issuer_and_jwks_uri() {
    let Some(modules) = idp::node_modules() else {
        return;
    };
    let (proxy, provider) = start(&modules, "disc").await;

    let (status, body) = idp::get(&format!("{}{}", proxy.url(), idp::DISCOVERY_PATH)).await;
    assert_eq!(status, 200, "{body}");
    let discovery: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(discovery["issuer"], proxy.url());
    assert_eq!(
        discovery["jwks_uri"],
        format!("{}{}", proxy.url(), idp::JWKS_PATH)
    );
    let grants = discovery["grant_types_supported"].as_array().unwrap();
    assert!(
        grants.contains(&Value::from("client_credentials")),
        "{grants:?}"
    );
    assert_eq!(proxy.requests(), 1);
    assert_eq!(proxy.jwks_requests(), 0);

    provider.stop().await;
}

#[tokio::test]
async fn jwks_holds_one_public_key_per_algorithm_and_the_proxy_counts_each_fetch() {
    let Some(modules) = idp::node_modules() else {
        return;
    };
    let (proxy, provider) = start(&modules, "k1").await;

    let set = jwks(&proxy).await;
    let keys = keys_by_kid(&set);
    let summary: Vec<_> = keys
        .iter()
        .map(|(kid, key)| {
            (
                kid.as_str(),
                key["kty"].as_str().unwrap(),
                key["crv"].as_str(),
                key["alg"].as_str().unwrap(),
                key["use"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("k1-eddsa", "OKP", Some("Ed25519"), "EdDSA", "sig"),
            ("k1-es256", "EC", Some("P-256"), "ES256", "sig"),
            ("k1-rs256", "RSA", None, "RS256", "sig"),
        ]
    );
    for (kid, key) in &keys {
        assert!(
            key.get("d").is_none(),
            "{kid} is published with its private part"
        );
    }
    assert_eq!(proxy.jwks_requests(), 1);

    for _ in 0..3 {
        jwks(&proxy).await;
    }
    // Requests that are not for the JWKS are counted apart.
    idp::get(&format!("{}{}", proxy.url(), idp::DISCOVERY_PATH)).await;
    assert_eq!(proxy.jwks_requests(), 4);
    assert_eq!(proxy.requests(), 5);

    provider.stop().await;
}

#[tokio::test]
async fn tokens_for_each_resource_are_at_jwt_and_verify_against_the_jwks() {
    let Some(modules) = idp::node_modules() else {
        return;
    };
    install_crypto();
    let (proxy, provider) = start(&modules, "tok").await;
    let set = jwks(&proxy).await;

    let cases = [
        (
            idp::RS256,
            Algorithm::RS256,
            "tok-rs256",
            idp::AUDIENCE,
            300,
        ),
        (
            idp::ES256,
            Algorithm::ES256,
            "tok-es256",
            idp::AUDIENCE,
            300,
        ),
        (
            idp::EDDSA,
            Algorithm::EdDSA,
            "tok-eddsa",
            idp::AUDIENCE,
            300,
        ),
        (idp::SHORT, Algorithm::ES256, "tok-es256", idp::AUDIENCE, 1),
        (
            idp::OTHER,
            Algorithm::ES256,
            "tok-es256",
            idp::OTHER_AUDIENCE,
            300,
        ),
    ];
    for (resource, alg, kid, audience, ttl) in cases {
        let token = provider.token(resource).await;
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.typ.as_deref(), Some("at+jwt"), "{resource}");
        assert_eq!(header.alg, alg, "{resource}");
        assert_eq!(header.kid.as_deref(), Some(kid), "{resource}");

        let key = DecodingKey::from_jwk(set.find(kid).unwrap()).unwrap();
        let mut validation = Validation::new(alg);
        validation.set_issuer(&[proxy.url()]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let claims = jsonwebtoken::decode::<Value>(&token, &key, &validation)
            .unwrap_or_else(|e| panic!("{resource}: {e}"))
            .claims;
        assert_eq!(claims["iss"], proxy.url(), "{resource}");
        assert_eq!(claims["aud"], audience, "{resource}");
        assert_eq!(claims["scope"], idp::SCOPE, "{resource}");
        assert_eq!(claims["sub"], idp::CLIENT_ID, "{resource}");
        assert_eq!(claims["client_id"], idp::CLIENT_ID, "{resource}");
        assert!(claims["jti"].is_string(), "{resource}");
        let lifetime = claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap();
        assert_eq!(lifetime, ttl, "{resource}");

        // Signed by that key only: another algorithm's key does not verify it.
        let wrong = if kid.ends_with("rs256") {
            "tok-es256"
        } else {
            "tok-rs256"
        };
        let wrong_key = DecodingKey::from_jwk(set.find(wrong).unwrap()).unwrap();
        assert!(jsonwebtoken::decode::<Value>(&token, &wrong_key, &validation).is_err());
    }
    // Tokens were asked of the provider directly, not through the proxy.
    assert_eq!(proxy.requests(), 1);
    assert_eq!(proxy.jwks_requests(), 1);

    provider.stop().await;
}

#[tokio::test]
async fn restart_with_another_kid_prefix_rotates_the_keys_behind_the_same_proxy() {
    let Some(modules) = idp::node_modules() else {
        return;
    };
    install_crypto();
    let (proxy, first) = start(&modules, "old").await;
    let old = jwks(&proxy).await;
    let old_kids: Vec<_> = keys_by_kid(&old).into_iter().map(|(kid, _)| kid).collect();
    assert_eq!(old_kids, ["old-eddsa", "old-es256", "old-rs256"]);
    let old_token = first.token(idp::ES256).await;
    first.stop().await;

    let second = Provider::start(&modules, &proxy.url(), "new").await;
    proxy.set_upstream(second.addr());
    let new = jwks(&proxy).await;
    let new_kids: Vec<_> = keys_by_kid(&new).into_iter().map(|(kid, _)| kid).collect();
    assert_eq!(new_kids, ["new-eddsa", "new-es256", "new-rs256"]);
    assert_eq!(proxy.jwks_requests(), 2);

    // The new provider signs with the new keys, under the same issuer.
    let token = second.token(idp::ES256).await;
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.kid.as_deref(), Some("new-es256"));
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&[proxy.url()]);
    validation.set_audience(&[idp::AUDIENCE]);
    let key = DecodingKey::from_jwk(new.find("new-es256").unwrap()).unwrap();
    jsonwebtoken::decode::<Value>(&token, &key, &validation).unwrap();
    // The old token's kid is gone from the new set.
    let old_header = jsonwebtoken::decode_header(&old_token).unwrap();
    assert!(new.find(old_header.kid.as_deref().unwrap()).is_none());

    second.stop().await;
}

#[tokio::test]
async fn down_mode_closes_connections_without_an_answer_until_forwarding_again() {
    let Some(modules) = idp::node_modules() else {
        return;
    };
    let (proxy, provider) = start(&modules, "down").await;
    let url = format!("{}{}", proxy.url(), idp::JWKS_PATH);

    proxy.set_mode(Mode::Down);
    let result = tokio::time::timeout(Duration::from_secs(5), idp::try_get(&url))
        .await
        .expect("Down answers at once, by closing");
    assert!(result.is_err(), "{result:?}");
    assert_eq!(proxy.requests(), 0);
    assert_eq!(proxy.jwks_requests(), 0);

    proxy.set_mode(Mode::Forward);
    let (status, _) = idp::get(&url).await;
    assert_eq!(status, 200);
    assert_eq!(proxy.jwks_requests(), 1);

    provider.stop().await;
}

#[tokio::test]
async fn hang_mode_holds_requests_until_the_client_gives_up_or_the_mode_changes() {
    let Some(modules) = idp::node_modules() else {
        return;
    };
    let (proxy, provider) = start(&modules, "hang").await;
    let url = format!("{}{}", proxy.url(), idp::JWKS_PATH);

    proxy.set_mode(Mode::Hang);
    let pending = tokio::spawn({
        let url = url.clone();
        async move { tokio::time::timeout(Duration::from_secs(1), idp::try_get(&url)).await }
    });
    wait_until(|| proxy.held() == 1).await;
    assert_eq!(proxy.jwks_requests(), 1);
    assert!(
        pending.await.unwrap().is_err(),
        "the GET times out after 1 s"
    );
    // The client closed its connection: nothing is held any more.
    wait_until(|| proxy.held() == 0).await;

    // A held request goes on as the new mode says: Forward answers it.
    let pending = tokio::spawn({
        let url = url.clone();
        async move { idp::try_get(&url).await }
    });
    wait_until(|| proxy.held() == 1).await;
    proxy.set_mode(Mode::Forward);
    let (status, body) = pending.await.unwrap().expect("forwarded once released");
    assert_eq!(status, 200);
    assert!(body.contains("hang-es256"), "{body}");
    assert_eq!(proxy.held(), 0);

    // And Down closes it without an answer.
    proxy.set_mode(Mode::Hang);
    let pending = tokio::spawn(async move { idp::try_get(&url).await });
    wait_until(|| proxy.held() == 1).await;
    proxy.set_mode(Mode::Down);
    assert!(pending.await.unwrap().is_err());
    assert_eq!(proxy.held(), 0);
    assert_eq!(proxy.jwks_requests(), 3);

    provider.stop().await;
}

/// Polls `condition` every 10 ms for up to 5 s.
async fn wait_until(condition: impl Fn() -> bool) {
    for _ in 0..500 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the condition did not hold within 5 s");
}
