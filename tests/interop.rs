//! Interop with PyJWT, the library the FastAPI tutorial uses: tokens it mints with the
//! tutorial's claims (`sub`, `iat`, `exp`, `scope`) and the shared secret are accepted.
//!
//! `tests/data/pyjwt/tokens.json` was made by `tests/data/pyjwt/make_tokens.py fixtures`.
//! When python3 with PyJWT is installed, the test also mints fresh tokens live.

// Every test here needs asymmetric keys, and so a crypto backend.
#![cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]

use std::process::Command;

use serde_json::Value;
use support::*;
use tower_jwt_auth::{Algorithm, JwtAuthLayer, Key};

fn layers(secret: &str) -> Vec<(&'static str, JwtAuthLayer)> {
    let build = |key: Key| JwtAuthLayer::builder(key).build().unwrap();
    vec![
        (
            "hs256_access",
            build(Key::hmac(Algorithm::HS256, secret).unwrap()),
        ),
        (
            "hs512_access",
            build(Key::hmac(Algorithm::HS512, secret.repeat(2)).unwrap()),
        ),
        (
            "rs256_access",
            build(Key::rsa_pem(Algorithm::RS256, data("keys/rsa_public.pem")).unwrap()),
        ),
        (
            "ps256_access",
            build(Key::rsa_pem(Algorithm::PS256, data("keys/rsa_public.pem")).unwrap()),
        ),
        (
            "es256_access",
            build(Key::ec_pem(Algorithm::ES256, data("keys/ec256_public.pem")).unwrap()),
        ),
        (
            "es384_access",
            build(Key::ec_pem(Algorithm::ES384, data("keys/ec384_public.pem")).unwrap()),
        ),
        (
            "eddsa_access",
            build(Key::ed_pem(data("keys/ed25519_public.pem")).unwrap()),
        ),
    ]
}

async fn check(tokens: &Value) {
    let secret = tokens["secret"].as_str().unwrap();
    for (name, layer) in layers(secret) {
        let outcome = send_token(&layer, tokens[name].as_str().unwrap()).await;
        assert_eq!(
            outcome.status, 200,
            "{name} from {}: {outcome:?}",
            tokens["generator"]
        );
        outcome.assert_ok("alice");
    }
    let hs256 = JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, secret).unwrap())
        .build()
        .unwrap();
    send_token(&hs256, tokens["hs256_refresh"].as_str().unwrap())
        .await
        .assert_invalid_token();
    send_token(&hs256, tokens["hs256_wrong_secret"].as_str().unwrap())
        .await
        .assert_invalid_token();
    send_token(&hs256, tokens["hs256_expired"].as_str().unwrap())
        .await
        .assert_expired();
}

#[tokio::test]
async fn pyjwt_fixture_tokens_are_accepted() {
    let tokens: Value = serde_json::from_slice(&data("pyjwt/tokens.json")).unwrap();
    check(&tokens).await;
}

#[tokio::test]
async fn pyjwt_live_tokens_are_accepted() {
    let script = format!(
        "{}/tests/data/pyjwt/make_tokens.py",
        env!("CARGO_MANIFEST_DIR")
    );
    let output = match Command::new("python3").arg(&script).arg("live").output() {
        Ok(output) if output.status.success() => output,
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must provide python3 with PyJWT: nothing skips there"
            );
            // Straight to stderr: the test harness hides what `println!` prints from a
            // passing test, and a skip must be seen.
            let _ = std::io::Write::write_fmt(
                &mut std::io::stderr(),
                format_args!("skipping: python3 with PyJWT (and cryptography) is not installed\n"),
            );
            return;
        }
    };
    let tokens: Value = serde_json::from_slice(&output.stdout).unwrap();
    check(&tokens).await;
}
