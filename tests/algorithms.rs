//! Keys and algorithms: every supported algorithm from PEM and JWK, weak secrets, and
//! the attacks where the token tries to choose how it is verified.

// Every test here needs asymmetric keys, and so a crypto backend.
#![cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]

use serde_json::json;
use support::*;
use tower_jwt_auth::key::{KeyError, KeySet};
use tower_jwt_auth::{Algorithm, JwtAuthLayer, Key, SigningKey};

fn layer(key: Key) -> JwtAuthLayer {
    JwtAuthLayer::builder(key).build().unwrap()
}

/// Every asymmetric algorithm: (algorithm, private PEM, public PEM, a second public PEM of
/// the same kind).
fn asymmetric() -> Vec<(Algorithm, &'static str, &'static str)> {
    use Algorithm::*;
    vec![
        (RS256, "rsa_private.pem", "rsa_public.pem"),
        (RS384, "rsa_private.pem", "rsa_public.pem"),
        (RS512, "rsa_private.pem", "rsa_public.pem"),
        (PS256, "rsa_private.pem", "rsa_public.pem"),
        (PS384, "rsa_private.pem", "rsa_public.pem"),
        (PS512, "rsa_private.pem", "rsa_public.pem"),
        (ES256, "ec256_private.pem", "ec256_public.pem"),
        (ES384, "ec384_private.pem", "ec384_public.pem"),
        (EdDSA, "ed25519_private.pem", "ed25519_public.pem"),
    ]
}

fn signing_key(alg: Algorithm, private: &str) -> SigningKey {
    let pem = data(&format!("keys/{private}"));
    match alg {
        Algorithm::ES256 | Algorithm::ES384 => SigningKey::ec_pem(alg, pem),
        Algorithm::EdDSA => SigningKey::ed_pem(pem),
        _ => SigningKey::rsa_pem(alg, pem),
    }
    .unwrap()
}

fn public_key(alg: Algorithm, public: &str) -> Key {
    let pem = data(&format!("keys/{public}"));
    match alg {
        Algorithm::ES256 | Algorithm::ES384 => Key::ec_pem(alg, pem),
        Algorithm::EdDSA => Key::ed_pem(pem),
        _ => Key::rsa_pem(alg, pem),
    }
    .unwrap()
}

#[tokio::test]
async fn every_hmac_algorithm_verifies() {
    for (alg, len) in [
        (Algorithm::HS256, 32),
        (Algorithm::HS384, 48),
        (Algorithm::HS512, 64),
    ] {
        let secret = vec![7u8; len];
        let token = SigningKey::hmac(alg, &secret)
            .unwrap()
            .sign(&access_claims("a"))
            .unwrap();
        send_token(&layer(Key::hmac(alg, &secret).unwrap()), &token)
            .await
            .assert_ok("a");
    }
}

#[tokio::test]
async fn every_asymmetric_algorithm_verifies_from_pem() {
    for (alg, private, public) in asymmetric() {
        let token = signing_key(alg, private).sign(&access_claims("a")).unwrap();
        send_token(&layer(public_key(alg, public)), &token)
            .await
            .assert_ok("a");
    }
}

#[tokio::test]
async fn every_asymmetric_algorithm_verifies_from_jwk() {
    for (alg, private, _) in asymmetric() {
        let signer = signing_key(alg, private).with_kid("k1");
        let jwk_json = serde_json::to_value(signer.public_jwk().unwrap()).unwrap();
        assert!(
            jwk_json.get("d").is_none(),
            "a public JWK must not carry the private key"
        );
        let jwk: tower_jwt_auth::key::jwk::Jwk = serde_json::from_value(jwk_json).unwrap();
        let key = Key::from_jwk(&jwk).unwrap();
        assert_eq!((key.algorithm(), key.kid()), (alg, Some("k1")));
        let token = signer.sign(&access_claims("a")).unwrap();
        send_token(&layer(key), &token).await.assert_ok("a");
    }
}

#[tokio::test]
async fn a_signature_from_another_key_of_the_same_kind_is_refused() {
    let token = signing_key(Algorithm::RS256, "rsa2_private.pem")
        .sign(&access_claims("a"))
        .unwrap();
    send_token(
        &layer(public_key(Algorithm::RS256, "rsa_public.pem")),
        &token,
    )
    .await
    .assert_invalid_token();
}

#[test]
fn weak_hmac_secrets_are_refused_when_the_key_is_built() {
    for (alg, min) in [
        (Algorithm::HS256, 32),
        (Algorithm::HS384, 48),
        (Algorithm::HS512, 64),
    ] {
        let error = Key::hmac(alg, vec![1u8; min - 1]).unwrap_err();
        assert!(
            matches!(error, KeyError::WeakSecret { min: m, actual, .. } if m == min && actual == min - 1)
        );
        assert!(
            error.to_string().contains(&format!("at least {min} bytes")),
            "{error}"
        );
        assert!(SigningKey::hmac(alg, vec![1u8; min - 1]).is_err());
        assert!(Key::hmac(alg, vec![1u8; min]).is_ok());
    }
    assert!(Key::hmac(Algorithm::HS256, b"").is_err());
}

#[test]
fn weak_oct_jwk_is_refused_and_alg_is_required() {
    let weak: tower_jwt_auth::key::jwk::Jwk =
        serde_json::from_value(json!({ "kty": "oct", "alg": "HS256", "k": b64(b"short") }))
            .unwrap();
    assert!(matches!(
        Key::from_jwk(&weak),
        Err(KeyError::WeakSecret { .. })
    ));
    let no_alg: tower_jwt_auth::key::jwk::Jwk =
        serde_json::from_value(json!({ "kty": "oct", "k": b64(&[1u8; 32]) })).unwrap();
    assert!(matches!(
        Key::from_jwk(&no_alg),
        Err(KeyError::MissingAlgorithm)
    ));
}

#[test]
fn algorithm_must_fit_the_key() {
    let rsa = data("keys/rsa_public.pem");
    assert!(matches!(
        Key::rsa_pem(Algorithm::HS256, &rsa),
        Err(KeyError::AlgorithmMismatch(_))
    ));
    assert!(matches!(
        Key::rsa_pem(Algorithm::ES256, &rsa),
        Err(KeyError::AlgorithmMismatch(_))
    ));
    assert!(Key::ec_pem(Algorithm::ES256, &rsa).is_err());
    assert!(matches!(
        Key::hmac(Algorithm::RS256, [0u8; 64]),
        Err(KeyError::AlgorithmMismatch(_))
    ));
    // An ES384 key cannot be used as ES256.
    assert!(Key::ec_pem(Algorithm::ES256, data("keys/ec384_public.pem")).is_err());
}

#[tokio::test]
async fn alg_none_is_refused_in_any_casing() {
    let payload = access_claims("a").to_string();
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = json!({ "alg": alg, "typ": "JWT" }).to_string();
        for signature in ["", "AAAA"] {
            let token = format!(
                "{}.{}.{signature}",
                b64(header.as_bytes()),
                b64(payload.as_bytes())
            );
            send_token(&hs256_layer(), &token)
                .await
                .assert_invalid_token();
        }
    }
}

#[tokio::test]
async fn hmac_signature_made_with_the_rsa_public_key_is_refused() {
    // Key confusion: the attacker signs HS256 with the server's public key as the secret.
    let public_pem = data("keys/rsa_public.pem");
    let payload = access_claims("mallory").to_string();
    let token = raw_hs256(r#"{"alg":"HS256","typ":"JWT"}"#, &payload, &public_pem);
    let rsa_layer = layer(public_key(Algorithm::RS256, "rsa_public.pem"));
    send_token(&rsa_layer, &token).await.assert_invalid_token();
    // Also with a set that has both an RSA key and an HMAC key: the HMAC key is not the PEM.
    let both = JwtAuthLayer::builder(KeySet::new([
        public_key(Algorithm::RS256, "rsa_public.pem"),
        Key::hmac(Algorithm::HS256, SECRET).unwrap(),
    ]))
    .build()
    .unwrap();
    send_token(&both, &token).await.assert_invalid_token();
}

#[tokio::test]
async fn an_alg_the_key_does_not_have_is_refused() {
    // A valid HS512 token against an HS256 key with the same secret bytes.
    let secret = [9u8; 64];
    let token = SigningKey::hmac(Algorithm::HS512, secret)
        .unwrap()
        .sign(&access_claims("a"))
        .unwrap();
    send_token(&layer(Key::hmac(Algorithm::HS256, secret).unwrap()), &token)
        .await
        .assert_invalid_token();
    // An RS256-signed token against the same public key pinned to PS256.
    let token = signing_key(Algorithm::RS256, "rsa_private.pem")
        .sign(&access_claims("a"))
        .unwrap();
    send_token(
        &layer(public_key(Algorithm::PS256, "rsa_public.pem")),
        &token,
    )
    .await
    .assert_invalid_token();
    // Unknown algorithm names.
    for alg in ["HS1", "hs256", "RS256 ", "ES512", ""] {
        let token = raw_hs256(
            &json!({ "alg": alg }).to_string(),
            &access_claims("a").to_string(),
            SECRET,
        );
        send_token(&hs256_layer(), &token)
            .await
            .assert_invalid_token();
    }
}

#[tokio::test]
async fn key_bearing_header_parameters_are_never_followed() {
    // The attacker embeds their own key (jwk) or points at it (jku, x5u) and signs with it.
    let attacker = [0x41u8; 32];
    let payload = access_claims("mallory").to_string();
    let headers = [
        json!({ "alg": "HS256", "jwk": { "kty": "oct", "k": b64(&attacker) } }),
        json!({ "alg": "HS256", "jku": "http://127.0.0.1:9/jwks.json" }),
        json!({ "alg": "HS256", "x5u": "http://127.0.0.1:9/cert.pem" }),
        json!({ "alg": "HS256", "kid": "../../../../dev/null" }),
        json!({ "alg": "HS256", "kid": "' OR '1'='1" }),
    ];
    for header in headers {
        let token = raw_hs256(&header.to_string(), &payload, &attacker);
        send_token(&hs256_layer(), &token)
            .await
            .assert_invalid_token();
    }
    // The same headers on a token signed with the real key are harmless: the key set decides.
    let header = json!({ "alg": "HS256", "jku": "http://127.0.0.1:9/jwks.json" });
    send_token(
        &hs256_layer(),
        &raw_hs256(&header.to_string(), &payload, SECRET),
    )
    .await
    .assert_ok("mallory");
}

#[tokio::test]
async fn unknown_crit_is_refused() {
    let payload = access_claims("a").to_string();
    for header in [
        json!({ "alg": "HS256", "crit": ["exp"], "exp": 1 }),
        json!({ "alg": "HS256", "crit": ["b64"], "b64": false }),
        json!({ "alg": "HS256", "crit": [] }),
    ] {
        send_token(
            &hs256_layer(),
            &raw_hs256(&header.to_string(), &payload, SECRET),
        )
        .await
        .assert_invalid_token();
    }
}

#[test]
fn debug_output_redacts_key_material() {
    let key = Key::hmac(Algorithm::HS256, SECRET).unwrap();
    let signer = SigningKey::hmac(Algorithm::HS256, SECRET).unwrap();
    let secret = String::from_utf8_lossy(SECRET).to_string();
    for text in [
        format!("{key:?}"),
        format!("{signer:?}"),
        format!("{:?}", hs256_layer()),
    ] {
        assert!(!text.contains(&secret), "{text}");
        assert!(!text.contains("116, 101, 115, 116"), "{text}"); // the secret's bytes
    }
}
