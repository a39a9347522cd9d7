//! The identity-provider harness for token introspection (RFC 7662): oidc-provider behind the
//! counting proxy issues opaque access tokens that resource servers introspect with each client
//! authentication method (`client_secret_basic`, `client_secret_post`, `private_key_jwt`), that
//! introspect inactive once revoked (RFC 7009) or expired, and the proxy makes the introspection
//! path go down, hang or fail on its own. Skips without `TOWER_JWT_AUTH_TEST_OIDC_PROVIDER`
//! (never in CI).

// `rs-jwt` signs its client assertions with an ES256 key: these tests need a crypto backend.
#![cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]

mod idp;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use idp::{Mode, Provider, Proxy};
use serde_json::{Value, json};

/// The `RESOURCE_URL` the provider is started with: a resource server's own URL (nothing
/// listens there; only its tokens' audience matters here).
const RESOURCE_URL: &str = "http://127.0.0.1:9/mcp";

/// How long a request may wait for the proxy in these tests.
const WAIT: Duration = Duration::from_secs(10);

/// A proxy and, behind it, a provider whose issuer is the proxy, with [`RESOURCE_URL`] and
/// [`idp::rs_jwt_key`]'s public key; `None` (after `skipping: …`) without oidc-provider.
async fn start() -> Option<(Proxy, Provider)> {
    let modules = idp::node_modules()?;
    let jwks = idp::rs_jwks();
    let proxy = Proxy::start().await;
    let provider = Provider::start_with(
        &modules,
        &proxy.url(),
        "k1",
        &[("RESOURCE_URL", RESOURCE_URL), ("RS_JWKS", &jwks)],
    )
    .await;
    proxy.set_upstream(provider.addr());
    Some((proxy, provider))
}

/// How a resource server authenticates at the introspection endpoint.
#[derive(Clone, Copy, Debug)]
enum Auth<'a> {
    /// [`idp::RS_BASIC`] with its secret in an `Authorization: Basic` header.
    Basic,
    /// [`idp::RS_POST`] with its secret in the form.
    Post,
    /// [`idp::RS_JWT`] with a client assertion signed by [`idp::rs_jwt_key`] for this audience.
    Jwt { aud: &'a str },
}

/// A client assertion of [`idp::RS_JWT`] (RFC 7523 §3) for `aud`, good for 60 s.
fn client_assertion(aud: &str) -> String {
    let now = support::now();
    idp::rs_jwt_key()
        .sign(&json!({
            "iss": idp::RS_JWT,
            "sub": idp::RS_JWT,
            "aud": aud,
            "jti": support::unique("assertion"),
            "iat": now,
            "exp": now + 60,
        }))
        .unwrap()
}

/// POSTs `token` to the introspection endpoint of `issuer` (the proxy) as `auth` says: the
/// status and body, or the error when the connection closed without an answer or none came
/// within [`WAIT`].
async fn try_introspect(
    issuer: &str,
    auth: Auth<'_>,
    token: &str,
) -> Result<(u16, String), Box<dyn std::error::Error + Send + Sync>> {
    let url = format!("{issuer}{}", idp::INTROSPECTION_PATH);
    let mut form = format!(
        "token={}&token_type_hint=access_token",
        idp::form_encode(token)
    );
    let basic;
    let mut headers = Vec::new();
    match auth {
        Auth::Basic => {
            basic = format!(
                "Basic {}",
                STANDARD.encode(format!("{}:{}", idp::RS_BASIC, idp::RS_SECRET))
            );
            headers.push(("authorization", basic.as_str()));
        }
        Auth::Post => {
            form.push_str(&format!(
                "&client_id={}&client_secret={}",
                idp::RS_POST,
                idp::RS_SECRET
            ));
        }
        Auth::Jwt { aud } => {
            form.push_str(&format!(
                "&client_id={}\
                 &client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer\
                 &client_assertion={}",
                idp::RS_JWT,
                client_assertion(aud)
            ));
        }
    }
    tokio::time::timeout(WAIT, idp::try_post_form(&url, &headers, &form))
        .await
        .map_err(|_| format!("no answer within {WAIT:?}"))?
}

/// The introspection response for `token` as `auth`.
///
/// # Panics
///
/// When the endpoint does not answer 200 with JSON.
async fn introspect(proxy: &Proxy, auth: Auth<'_>, token: &str) -> Value {
    let (status, body) = try_introspect(&proxy.url(), auth, token)
        .await
        .unwrap_or_else(|e| panic!("introspection as {auth:?}: {e}"));
    assert_eq!(status, 200, "introspection as {auth:?}: {body}");
    serde_json::from_str(&body).expect("the introspection response is JSON")
}

/// Every way a resource server authenticates, the assertion for `issuer`.
fn every_auth(issuer: &str) -> [Auth<'_>; 3] {
    [Auth::Basic, Auth::Post, Auth::Jwt { aud: issuer }]
}

/// Asserts an active introspection response of a token of [`idp::CLIENT_ID`] with audience
/// `aud` that lives `ttl` seconds.
fn assert_active(response: &Value, proxy: &Proxy, aud: &str, ttl: u64) {
    assert_eq!(response["active"], true, "{response}");
    assert_eq!(response["sub"], idp::CLIENT_ID, "{response}");
    assert_eq!(response["client_id"], idp::CLIENT_ID, "{response}");
    assert_eq!(response["scope"], idp::SCOPE, "{response}");
    assert_eq!(response["aud"], aud, "{response}");
    assert_eq!(response["iss"], proxy.url(), "{response}");
    assert_eq!(response["token_type"], "Bearer", "{response}");
    let (iat, exp) = (
        response["iat"].as_u64().unwrap(),
        response["exp"].as_u64().unwrap(),
    );
    assert_eq!(exp - iat, ttl, "{response}");
    assert!(exp > support::now(), "{response}");
}

/// Asserts an OAuth error answer (RFC 6749 §5.2) with this status and `error`.
fn assert_oauth_error((status, body): (u16, String), expected: u16, error: &str) {
    assert_eq!(status, expected, "{body}");
    let body: Value = serde_json::from_str(&body).expect("an OAuth error is JSON");
    assert_eq!(body["error"], error, "{body}");
}

#[tokio::test]
async fn opaque_token_is_active_for_every_client_auth_method_until_revoked() {
    let Some((proxy, provider)) = start().await else {
        return;
    };
    let token = provider.opaque_token(idp::OPAQUE).await;
    let other = provider.opaque_token(idp::OPAQUE).await;
    let issuer = proxy.url();

    for auth in every_auth(&issuer) {
        assert_active(
            &introspect(&proxy, auth, &token).await,
            &proxy,
            idp::AUDIENCE,
            300,
        );
    }
    assert_eq!(proxy.introspection_requests(), 3);

    provider.revoke(&token).await;
    for auth in every_auth(&issuer) {
        assert_eq!(
            introspect(&proxy, auth, &token).await,
            json!({ "active": false })
        );
    }
    // Revoking one token leaves the client's others alone.
    assert_eq!(
        introspect(&proxy, Auth::Basic, &other).await["active"],
        true
    );
    // The provider's own requests (token, revocation) went to it directly.
    assert_eq!(proxy.introspection_requests(), 7);
    assert_eq!(proxy.requests(), 7);
}

#[tokio::test]
async fn short_token_is_inactive_once_expired_and_unknown_tokens_are_inactive() {
    let Some((proxy, provider)) = start().await else {
        return;
    };
    let token = provider.opaque_token(idp::OPAQUE_SHORT).await;
    assert_active(
        &introspect(&proxy, Auth::Basic, &token).await,
        &proxy,
        idp::AUDIENCE,
        2,
    );
    // Expiry is exact: `exp <= now` is inactive, whatever the clock tolerance.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert_eq!(
        introspect(&proxy, Auth::Basic, &token).await,
        json!({ "active": false })
    );
    assert_eq!(
        introspect(&proxy, Auth::Post, "not-a-token-it-issued").await,
        json!({ "active": false })
    );
}

#[tokio::test]
async fn resource_url_is_a_resource_indicator_with_itself_as_audience() {
    let Some((proxy, provider)) = start().await else {
        return;
    };
    let token = provider.opaque_token(RESOURCE_URL).await;
    assert_active(
        &introspect(&proxy, Auth::Post, &token).await,
        &proxy,
        RESOURCE_URL,
        300,
    );
}

#[tokio::test]
async fn client_assertion_audience_may_be_the_issuer_or_the_token_or_introspection_endpoint() {
    let Some((proxy, provider)) = start().await else {
        return;
    };
    let token = provider.opaque_token(idp::OPAQUE).await;
    let issuer = proxy.url();
    let token_endpoint = format!("{issuer}{}", idp::TOKEN_PATH);
    let introspection_endpoint = format!("{issuer}{}", idp::INTROSPECTION_PATH);
    for aud in [&issuer, &token_endpoint, &introspection_endpoint] {
        let response = introspect(&proxy, Auth::Jwt { aud }, &token).await;
        assert_eq!(response["active"], true, "aud {aud}: {response}");
    }
    // Any other audience, or a wrong secret, is a failed client authentication.
    let aud = "urn:someone-else";
    let answer = try_introspect(&issuer, Auth::Jwt { aud }, &token).await;
    assert_oauth_error(answer.unwrap(), 401, "invalid_client");
    let wrong = format!("Basic {}", STANDARD.encode("rs-basic:wrong"));
    let form = format!("token={token}");
    let answer =
        idp::try_post_form(&introspection_endpoint, &[("authorization", &wrong)], &form).await;
    assert_oauth_error(answer.unwrap(), 401, "invalid_client");
}

#[tokio::test]
async fn jwt_access_tokens_are_not_introspected() {
    let Some((proxy, provider)) = start().await else {
        return;
    };
    let token = provider.token(idp::ES256).await;
    let answer = try_introspect(&proxy.url(), Auth::Basic, &token).await;
    assert_oauth_error(answer.unwrap(), 400, "unsupported_token_type");
}

#[tokio::test]
async fn introspection_path_goes_down_hangs_and_fails_on_its_own() {
    let Some((proxy, provider)) = start().await else {
        return;
    };
    let token = provider.opaque_token(idp::OPAQUE).await;
    let jwks = format!("{}{}", proxy.url(), idp::JWKS_PATH);

    // Down: the request is read, then the connection closes without an answer.
    proxy.set_introspection_mode(Mode::Down);
    let down = try_introspect(&proxy.url(), Auth::Basic, &token).await;
    assert!(down.is_err(), "{down:?}");
    assert_eq!(idp::get(&jwks).await.0, 200);

    // 500 with an empty body.
    proxy.set_introspection_mode(Mode::ServerError);
    let failed = try_introspect(&proxy.url(), Auth::Basic, &token)
        .await
        .unwrap();
    assert_eq!(failed, (500, String::new()));
    assert_eq!(idp::get(&jwks).await.0, 200);

    // Hang: no answer until the mode changes, then the held request is forwarded.
    proxy.set_introspection_mode(Mode::Hang);
    let held = tokio::spawn({
        let (issuer, token) = (proxy.url(), token.clone());
        async move { try_introspect(&issuer, Auth::Basic, &token).await }
    });
    tokio::time::timeout(WAIT, async {
        while proxy.held() == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the introspection request is held");
    assert_eq!(idp::get(&jwks).await.0, 200);
    assert!(!held.is_finished());
    proxy.set_introspection_mode(Mode::Forward);
    let (status, body) = tokio::time::timeout(WAIT, held)
        .await
        .expect("the held request is answered once forwarded")
        .unwrap()
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["active"],
        true
    );
    assert_eq!(proxy.held(), 0);

    // The proxy-wide mode applies to introspection too.
    proxy.set_mode(Mode::ServerError);
    assert_eq!(
        try_introspect(&proxy.url(), Auth::Basic, &token)
            .await
            .unwrap()
            .0,
        500
    );
    assert_eq!(idp::get(&jwks).await.0, 500);
    proxy.set_mode(Mode::Forward);

    assert_eq!(proxy.introspection_requests(), 4);
    assert_eq!(proxy.jwks_requests(), 4);
}
