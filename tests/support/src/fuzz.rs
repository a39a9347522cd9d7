//! The token decoder's fuzz harness, shared by the cargo-fuzz target
//! (`fuzz/fuzz_targets/token_decoder.rs`, through this crate) and the property test that
//! runs it in the normal test run (`tests/fuzz_harness.rs`).
//!
//! The first byte chooses a mode:
//! - even: the rest is a token, validated as sent;
//! - odd: the rest is `header ‖ 0xFF ‖ payload`, signed with the validator's HS256
//!   key and then validated, so that the claims parser sees arbitrary JSON (and
//!   non-JSON) under a valid signature.
//!
//! Invariants: nothing panics, and a token the validator accepts carries a valid MAC
//! (checked here independently), an object of claims and an `exp` that has not passed.

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use tower_jwt_auth::key::KeySet;
use tower_jwt_auth::validator::{Validation, Validator};
use tower_jwt_auth::{Algorithm, Key};

/// The HS256 secret of the harness's validator.
pub const FUZZ_SECRET: &[u8] = b"fuzzing-secret-that-is-at-least-32-bytes";
/// "Now" for validation: fixed, so that runs are reproducible.
pub const NOW: u64 = 1_700_000_000;

fn validator() -> &'static Validator {
    static VALIDATOR: OnceLock<Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let keys = KeySet::new([
            Key::hmac(Algorithm::HS256, FUZZ_SECRET).expect("a 40-byte secret"),
            Key::hmac(Algorithm::HS384, [7u8; 48])
                .expect("a 48-byte secret")
                .with_kid("k384"),
        ]);
        Validator::new(keys, Validation::new()).expect("a key set")
    })
}

/// Signs `header` and `payload` (raw bytes, base64url-encoded here) with HS256.
pub fn sign(header: &[u8], payload: &[u8]) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(FUZZ_SECRET).expect("any length");
    mac.update(input.as_bytes());
    let tag = mac.finalize().into_bytes();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag))
}

/// Runs one input; panics if an invariant breaks. Returns whether the token was
/// accepted.
pub fn check(data: &[u8]) -> bool {
    let Some((&mode, rest)) = data.split_first() else {
        return false;
    };
    let token = if mode % 2 == 0 {
        match std::str::from_utf8(rest) {
            Ok(token) => token.to_owned(),
            Err(_) => return false,
        }
    } else {
        let (header, payload) = match rest.iter().position(|&b| b == 0xFF) {
            Some(at) => (&rest[..at], &rest[at + 1..]),
            None => (&br#"{"alg":"HS256"}"#[..], rest),
        };
        sign(header, payload)
    };
    let Ok(verified) = validator().validate_at::<serde_json::Value>(&token, NOW) else {
        return false;
    };
    assert!(verified.claims.is_object(), "claims must be an object");
    assert!(verified.exp + 5 > NOW, "an expired token was accepted");
    assert!(
        mac_matches::<Hmac<sha2::Sha256>>(&token, FUZZ_SECRET)
            || mac_matches::<Hmac<sha2::Sha384>>(&token, &[7u8; 48]),
        "accepted without a valid signature: {token}"
    );
    true
}

/// The independent check: the last segment is the MAC of everything before it.
fn mac_matches<M: Mac + KeyInit>(token: &str, secret: &[u8]) -> bool {
    let Some((input, signature)) = token.rsplit_once('.') else {
        return false;
    };
    let Ok(tag) = URL_SAFE_NO_PAD.decode(signature) else {
        return false;
    };
    let mut mac = <M as KeyInit>::new_from_slice(secret).expect("any length");
    mac.update(input.as_bytes());
    mac.verify_slice(&tag).is_ok()
}
