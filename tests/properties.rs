//! Property tests: nothing a client sends in `Authorization` (or as a token) can panic
//! the layer or earn anything but 400 or 401.

use bytes::Bytes;
use http::{HeaderValue, Request};
use http_body_util::Full;
use proptest::prelude::*;
use serde_json::Value;
use support::*;
use tower_jwt_auth::validator::{Validation, Validator};
use tower_jwt_auth::{Algorithm, Key};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_authorization_header_bytes_give_only_400_or_401(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let Ok(value) = HeaderValue::from_bytes(&bytes) else { return Ok(()) };
        let mut request = Request::new(Full::<Bytes>::default());
        request.headers_mut().insert("authorization", value);
        let outcome = runtime().block_on(send(&hs256_layer(), request));
        prop_assert!(matches!(outcome.status.as_u16(), 400 | 401), "{outcome:?}");
    }

    #[test]
    fn bearer_with_any_token_text_gives_only_400_or_401(token in "[ -~]{0,200}") {
        let Ok(value) = HeaderValue::from_str(&format!("Bearer {token}")) else { return Ok(()) };
        let mut request = Request::new(Full::<Bytes>::default());
        request.headers_mut().insert("authorization", value);
        let outcome = runtime().block_on(send(&hs256_layer(), request));
        prop_assert!(matches!(outcome.status.as_u16(), 400 | 401), "{outcome:?}");
    }

    #[test]
    fn jws_shaped_garbage_is_refused_without_panicking(
        header in "[A-Za-z0-9_-]{0,60}",
        payload in "[A-Za-z0-9_-]{0,120}",
        signature in "[A-Za-z0-9_-]{0,90}",
    ) {
        let validator = Validator::new(Key::hmac(Algorithm::HS256, SECRET).unwrap(), Validation::new()).unwrap();
        let token = format!("{header}.{payload}.{signature}");
        prop_assert!(validator.validate::<Value>(&token).is_err());
    }

    #[test]
    fn any_json_under_a_valid_signature_never_panics(payload in "\\PC{0,80}", header_extra in "\\PC{0,20}") {
        let validator = Validator::new(Key::hmac(Algorithm::HS256, SECRET).unwrap(), Validation::new()).unwrap();
        let header = format!(r#"{{"alg":"HS256","x":{}}}"#, serde_json::to_string(&header_extra).unwrap());
        let token = raw_hs256(&header, &payload, SECRET);
        // Random text is almost never a valid claims set; what matters is no panic.
        let _ = validator.validate::<Value>(&token);
        let token = raw_hs256(&header_extra, &payload, SECRET);
        let _ = validator.validate::<Value>(&token);
    }
}
