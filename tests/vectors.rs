//! Public test vectors (RFC 7515, RFC 7519, RFC 7520, Wycheproof), copied into
//! `tests/data/vectors/` with their sources.

use serde_json::Value;
use support::*;
use tower_jwt_auth::validator::{TokenError, Validation, Validator};
use tower_jwt_auth::{JwtAuthLayer, Key};

fn vectors() -> Value {
    serde_json::from_slice(&data("vectors/jws_vectors.json")).unwrap()
}

fn key(vector: &Value) -> Key {
    let jwk = &vector["jwk"];
    let secret = base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        jwk["k"].as_str().unwrap(),
    )
    .unwrap();
    let key = Key::hmac(tower_jwt_auth::Algorithm::HS256, secret).unwrap();
    match jwk["kid"].as_str() {
        Some(kid) => key.with_kid(kid),
        None => key,
    }
}

#[tokio::test]
async fn rfc7515_a1_is_reported_expired_not_bad_signature() {
    let vector = &vectors()["rfc7515_A1_hs256"];
    let token = vector["token"].as_str().unwrap();
    let validator = Validator::new(key(vector), Validation::new().any_token_type()).unwrap();
    assert_eq!(
        validator.validate::<Value>(token).unwrap_err(),
        TokenError::Expired
    );
    // Before its exp (2011-03-22) the token is valid: the signature covers the header
    // bytes as sent, CRLF and spaces included.
    let verified = validator
        .validate_at::<Value>(token, 1_300_819_000)
        .unwrap();
    assert_eq!(verified.claims["iss"], "joe");
    assert_eq!(verified.exp, 1_300_819_380);

    let layer = JwtAuthLayer::builder(key(vector))
        .any_token_type()
        .build()
        .unwrap();
    send_token(&layer, token).await.assert_expired();
}

#[tokio::test]
async fn rfc7519_unsecured_jwt_is_refused() {
    let vector = &vectors()["rfc7519_6_1_unsecured"];
    let token = vector["token"].as_str().unwrap();
    let validator = Validator::new(
        Key::hmac(tower_jwt_auth::Algorithm::HS256, SECRET).unwrap(),
        Validation::new(),
    )
    .unwrap();
    // Its empty signature segment already fails the structure check.
    assert_eq!(
        validator.validate::<Value>(token).unwrap_err(),
        TokenError::Malformed
    );
    send_token(&hs256_layer(), token)
        .await
        .assert_invalid_token();
    // With a signature appended, `alg: none` itself is refused.
    let signed = format!("{token}AAAA");
    assert_eq!(
        validator.validate::<Value>(&signed).unwrap_err(),
        TokenError::UnsupportedAlgorithm
    );
    send_token(&hs256_layer(), &signed)
        .await
        .assert_invalid_token();
}

#[tokio::test]
async fn rfc7520_prose_payload_is_refused_after_a_valid_signature() {
    let vector = &vectors()["rfc7520_4_4_hs256"];
    let token = vector["token"].as_str().unwrap();
    let validator = Validator::new(key(vector), Validation::new()).unwrap();
    assert_eq!(
        validator.validate::<Value>(token).unwrap_err(),
        TokenError::InvalidClaims
    );
    let layer = JwtAuthLayer::builder(key(vector)).build().unwrap();
    send_token(&layer, token).await.assert_invalid_token();
}

#[tokio::test]
async fn wycheproof_hs256_group() {
    let vector = &vectors()["wycheproof_jws_hs256"];
    let validator = Validator::new(key(vector), Validation::new()).unwrap();
    let layer = JwtAuthLayer::builder(key(vector)).build().unwrap();
    let tests = vector["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 17);
    for test in tests {
        let token = test["jws"].as_str().unwrap();
        let error = validator.validate::<Value>(token).unwrap_err();
        if test["result"] == "valid" {
            // The signature verifies; only the JWT layer's rule refuses the payload `foo`.
            assert_eq!(error, TokenError::InvalidClaims, "{test}");
        } else {
            assert_ne!(error, TokenError::InvalidClaims, "refused too late: {test}");
        }
        let outcome = if token.is_empty() {
            send(&layer, http::Request::new(Default::default())).await
        } else {
            let request = http::Request::builder()
                .header("authorization", format!("Bearer {token}"))
                .body(Default::default())
                .unwrap();
            send(&layer, request).await
        };
        // Empty: no credentials. JSON serialization: not a token68, a bad request. Else 401.
        assert!(
            matches!(outcome.status.as_u16(), 400 | 401),
            "{test}: {outcome:?}"
        );
    }
}
