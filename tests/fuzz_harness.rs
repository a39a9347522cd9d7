//! The cargo-fuzz harness of the token decoder (`support::fuzz`), driven by proptest
//! in the normal test run: arbitrary bytes, arbitrary header and claims text under a
//! valid signature, and single-byte mutations of valid tokens. The harness panics if
//! anything is accepted without a valid MAC, an object of claims and a live `exp`.

use support::fuzz as harness;

use proptest::prelude::*;
use serde_json::json;

/// `mode ‖ header ‖ 0xFF ‖ payload`: signed by the harness, then validated.
fn signed(header: &[u8], payload: &[u8]) -> Vec<u8> {
    [&[1u8][..], header, &[0xFF], payload].concat()
}

fn live_claims() -> String {
    json!({ "sub": "fuzz", "exp": harness::NOW + 60, "scope": "access_token" }).to_string()
}

#[test]
fn the_harness_reaches_the_accept_path() {
    // The control: without it, a harness that refused everything would look fine.
    assert!(harness::check(&signed(
        br#"{"alg":"HS256"}"#,
        live_claims().as_bytes()
    )));
    let token = harness::sign(br#"{"alg":"HS256"}"#, live_claims().as_bytes());
    assert!(harness::check(&[&[0u8][..], token.as_bytes()].concat()));
    assert!(!harness::check(&signed(
        br#"{"alg":"none"}"#,
        live_claims().as_bytes()
    )));
}

/// JSON values of any shape, a few levels deep.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        "\\PC{0,12}".prop_map(serde_json::Value::from),
        Just(json!(harness::NOW + 60)),
        Just(json!("access_token")),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("exp".to_owned()),
                    Just("sub".to_owned()),
                    Just("scope".to_owned()),
                    Just("nbf".to_owned()),
                    Just("iat".to_owned()),
                    Just("aud".to_owned()),
                    "[a-z]{1,4}",
                ],
                inner,
                0..5
            )
            .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic_or_pass_unsigned(data in prop::collection::vec(any::<u8>(), 0..400)) {
        harness::check(&data);
    }

    #[test]
    fn arbitrary_text_under_a_valid_signature_is_handled(header in "\\PC{0,40}", payload in "\\PC{0,160}") {
        harness::check(&signed(header.as_bytes(), payload.as_bytes()));
        harness::check(&signed(br#"{"alg":"HS256"}"#, payload.as_bytes()));
    }

    #[test]
    fn claims_of_any_shape_under_a_valid_signature_are_handled(claims in json_value(), header in json_value()) {
        harness::check(&signed(br#"{"alg":"HS256"}"#, claims.to_string().as_bytes()));
        harness::check(&signed(header.to_string().as_bytes(), live_claims().as_bytes()));
    }

    #[test]
    fn single_byte_mutations_of_a_valid_token_are_refused(at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let token = harness::sign(br#"{"alg":"HS256"}"#, live_claims().as_bytes());
        let mut data = [&[0u8][..], token.as_bytes()].concat();
        let at = 1 + at.index(token.len());
        prop_assume!(data[at] != byte);
        data[at] = byte;
        // A changed byte can only be accepted if it spells the same bytes, which
        // canonical base64url rules out.
        prop_assert!(!harness::check(&data), "{}", String::from_utf8_lossy(&data));
    }
}
