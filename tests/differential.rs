//! Differential property tests: the crate's own HS256 path (pre-keyed HMAC, its own
//! base64 and JSON handling) accepts exactly the tokens `jsonwebtoken::decode` accepts, with
//! the same claims, over signed, random, mutated and hostile tokens.
//!
//! Both sides run with equivalent rules: HS256 only, `exp` required, `nbf` honoured, no
//! leeway, no audience or token-type rule. Where the crate is deliberately stricter than
//! jsonwebtoken (a `crit` header, `iat` in the future, a registered string claim such as
//! `sub` that is not a string), the generators stay clear of it and
//! `deliberately_stricter_cases` pins the difference down.

// Every test here needs asymmetric keys, and so a crypto backend.
#![cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]

use proptest::prelude::*;
use serde_json::{Value, json};
use support::{SECRET, b64, raw_hs256};
use tower_jwt_auth::validator::{TokenError, Validation, Validator};
use tower_jwt_auth::{Algorithm, Key};

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn ours(token: &str) -> Result<Value, TokenError> {
    let validator = Validator::new(
        Key::hmac(Algorithm::HS256, SECRET).unwrap(),
        Validation::new()
            .any_token_type()
            .leeway(std::time::Duration::ZERO),
    )
    .unwrap();
    validator
        .validate::<Value>(token)
        .map(|verified| verified.claims)
}

fn theirs(token: &str) -> Result<Value, String> {
    #[cfg(feature = "aws-lc-rs")]
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    #[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
    let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.leeway = 0;
    validation.validate_nbf = true;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp"]);
    let key = jsonwebtoken::DecodingKey::from_secret(SECRET).unwrap();
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .map(|data| data.claims)
        .map_err(|err| err.to_string())
}

fn assert_agree(token: &str) -> Result<(), TestCaseError> {
    match (ours(token), theirs(token)) {
        (Ok(a), Ok(b)) => prop_assert_eq!(a, b, "claims differ for {}", token),
        (Err(_), Err(_)) => {}
        (a, b) => prop_assert!(false, "{token}: ours {a:?}, jsonwebtoken {b:?}"),
    }
    Ok(())
}

/// A NumericDate-ish JSON value: mostly far from now, sometimes of the wrong type.
fn date(around: i64) -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => (1_000i64..1_000_000).prop_map(move |delta| json!(around + delta)),
        4 => (1_000i64..1_000_000).prop_map(move |delta| json!(around - delta)),
        1 => (1_000i64..1_000_000).prop_map(move |delta| json!((around + delta) as f64 + 0.25)),
        1 => Just(json!("1700000000")),
        1 => Just(json!(null)),
        1 => Just(json!(-5)),
        1 => Just(json!([1])),
    ]
}

/// A claims object: optional `exp`, `nbf`, `iat` (never in the future), `sub`, `aud`, extras.
fn claims() -> impl Strategy<Value = String> {
    let now = now() as i64;
    (
        proptest::option::weighted(0.9, date(now)),
        proptest::option::of(date(now)),
        proptest::option::of((1_000i64..100_000).prop_map(move |delta| json!(now - delta))),
        proptest::option::of("[a-z]{0,12}".prop_map(Value::from)),
        proptest::option::of(prop_oneof![
            "[a-z]{1,8}".prop_map(Value::from),
            Just(json!(["a", "b"]))
        ]),
        proptest::collection::btree_map("[a-z_]{1,6}", any::<i32>().prop_map(Value::from), 0..4),
    )
        .prop_map(|(exp, nbf, iat, sub, aud, extra)| {
            let mut object: serde_json::Map<String, Value> = extra.into_iter().collect();
            for (name, value) in [
                ("exp", exp),
                ("nbf", nbf),
                ("iat", iat),
                ("sub", sub),
                ("aud", aud),
            ] {
                if let Some(value) = value {
                    object.insert(name.to_owned(), value);
                }
            }
            Value::Object(object).to_string()
        })
}

/// Headers: the usual ones, other algorithms, `none`, a `kid`, extra members, odd spacing,
/// non-objects.
fn header() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(r#"{"alg":"HS256","typ":"JWT"}"#.to_owned()),
        Just(r#"{"typ":"JWT","alg":"HS256"}"#.to_owned()),
        Just(r#"{"alg":"HS256"}"#.to_owned()),
        Just(r#"{ "alg" : "HS256" , "typ":"JWT" }"#.to_owned()),
        Just(r#"{"alg":"HS256","kid":"k1","cty":"x"}"#.to_owned()),
        Just(r#"{"alg":"HS384","typ":"JWT"}"#.to_owned()),
        Just(r#"{"alg":"none","typ":"JWT"}"#.to_owned()),
        Just(r#"{"alg":"hs256"}"#.to_owned()),
        Just(r#"{"typ":"JWT"}"#.to_owned()),
        Just(r#"["HS256"]"#.to_owned()),
        Just(r#"{"alg":"HS256","typ":7}"#.to_owned()),
        "[ -~]{0,16}".prop_map(|junk| format!(r#"{{"alg":"HS256","x":{}}}"#, json!(junk))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(768))]

    #[test]
    fn signed_tokens_get_the_same_verdict_and_claims(
        header in header(),
        claims in claims(),
        right_key in proptest::bool::weighted(0.85),
    ) {
        let secret: &[u8] = if right_key { SECRET } else { b"another secret of at least 32 bytes!!" };
        assert_agree(&raw_hs256(&header, &claims, secret))?;
    }

    #[test]
    fn mutated_tokens_get_the_same_verdict(
        claims in claims(),
        at in any::<prop::sample::Index>(),
        byte in prop_oneof![
            prop::sample::select(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".to_vec()),
            prop::sample::select(b".=+/ ~%\0\xff".to_vec()),
        ],
        how in 0..4u8,
    ) {
        let token = raw_hs256(r#"{"alg":"HS256","typ":"JWT"}"#, &claims, SECRET);
        let mut bytes = token.into_bytes();
        let at = at.index(bytes.len());
        match how {
            0 => bytes[at] = byte,
            1 => bytes.insert(at, byte),
            2 => { bytes.remove(at); }
            _ => bytes.truncate(at),
        }
        if let Ok(token) = String::from_utf8(bytes) {
            assert_agree(&token)?;
        }
    }

    #[test]
    fn random_segments_get_the_same_verdict(
        header in "[A-Za-z0-9_-]{0,48}",
        payload in "[A-Za-z0-9_-]{0,96}",
        signature in "[A-Za-z0-9_-]{0,48}",
    ) {
        assert_agree(&format!("{header}.{payload}.{signature}"))?;
    }

    #[test]
    fn any_payload_text_under_a_valid_signature_gets_the_same_verdict(payload in "\\PC{0,60}") {
        assert_agree(&raw_hs256(r#"{"alg":"HS256","typ":"JWT"}"#, &payload, SECRET))?;
    }
}

#[test]
fn hostile_tokens_get_the_same_verdict() {
    let exp = now() + 3600;
    let good = format!(r#"{{"sub":"a","exp":{exp}}}"#);
    let header = r#"{"alg":"HS256","typ":"JWT"}"#;
    let valid = raw_hs256(header, &good, SECRET);
    let (input, signature) = valid.rsplit_once('.').unwrap();
    let hostile = [
        valid.clone(),
        format!("{input}."),
        format!("{input}.{signature}="),
        format!("{input}.{signature}.{signature}"),
        format!("{}.{signature}", input.replace('.', "..")),
        format!("{input}.{}", &signature[..signature.len() - 1]),
        format!("{input}.{signature}A"),
        // The signature with non-zero trailing bits: the same bytes, non-canonical text.
        format!(
            "{input}.{}{}",
            &signature[..signature.len() - 1],
            match signature.as_bytes()[signature.len() - 1] {
                b'A' => 'B',
                b'Q' => 'R',
                b'g' => 'h',
                b'w' => 'x',
                _ => 'A',
            }
        ),
        raw_hs256(r#"{"alg":"none"}"#, &good, SECRET),
        raw_hs256(r#"{"alg":"HS256","alg":"none"}"#, &good, SECRET),
        raw_hs256(
            header,
            &format!(r#"{{"sub":"a","exp":{exp},"exp":1}}"#),
            SECRET,
        ),
        raw_hs256(header, &format!(r#"[{{"exp":{exp}}}]"#), SECRET),
        raw_hs256(header, &format!(r#"{{"exp":{exp}}}garbage"#), SECRET),
        raw_hs256(header, &format!(r#"{{"exp":"{exp}"}}"#), SECRET),
        raw_hs256(header, &format!(r#"{{"exp":{exp}.0}}"#), SECRET),
        raw_hs256(header, &format!(r#"{{"exp":1e{}}}"#, 400), SECRET),
        raw_hs256(header, "{\"exp\":99999999999,\"s\":\"\\ud800\"}", SECRET),
        format!(
            "{}.{}.{}",
            b64(header.as_bytes()),
            b64(good.as_bytes()),
            b64(&[0u8; 32])
        ),
        format!("{}.{}.", b64(header.as_bytes()), b64(good.as_bytes())),
        "..".to_owned(),
        String::new(),
        "a.b.c".to_owned(),
        format!("{}.{}", b64(header.as_bytes()), b64(good.as_bytes())),
    ];
    for token in &hostile {
        let (a, b) = (ours(token), theirs(token));
        assert_eq!(
            a.is_ok(),
            b.is_ok(),
            "{token}: ours {a:?}, jsonwebtoken {b:?}"
        );
        if let (Ok(a), Ok(b)) = (a, b) {
            assert_eq!(a, b, "{token}");
        }
    }
    assert!(ours(&valid).is_ok(), "the control token is accepted");
}

#[test]
fn deliberately_stricter_cases() {
    let exp = now() + 3600;
    let claims = format!(r#"{{"sub":"a","exp":{exp}}}"#);
    // RFC 7515 §4.1.11: a `crit` this crate does not understand refuses the token.
    let crit = raw_hs256(r#"{"alg":"HS256","crit":["exp"],"exp":1}"#, &claims, SECRET);
    assert_eq!(ours(&crit).unwrap_err(), TokenError::UnsupportedCritical);
    // `iat` in the future is refused here; jsonwebtoken does not look at `iat`.
    let future = raw_hs256(
        r#"{"alg":"HS256"}"#,
        &format!(r#"{{"exp":{exp},"iat":{}}}"#, now() + 600),
        SECRET,
    );
    assert_eq!(ours(&future).unwrap_err(), TokenError::IssuedInFuture);
    assert!(theirs(&future).is_ok());
    // RFC 7519 §4.1.2: `sub` is a string; jsonwebtoken ignores its type unless it checks it.
    let numeric_sub = raw_hs256(
        r#"{"alg":"HS256"}"#,
        &format!(r#"{{"exp":{exp},"sub":42}}"#),
        SECRET,
    );
    assert_eq!(ours(&numeric_sub).unwrap_err(), TokenError::InvalidClaims);
    assert!(theirs(&numeric_sub).is_ok());
}
