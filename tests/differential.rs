//! Differential property tests: the crate's own HS256 path (pre-keyed HMAC, its own
//! base64 and JSON handling) accepts exactly the tokens `jsonwebtoken::decode` accepts, with
//! the same claims, over signed, random, mutated and hostile tokens. So does its public-key
//! path (keys parsed once with the `aws-lc-rs` feature), for every asymmetric algorithm and
//! every form a key is loaded from, over public vectors, generated and damaged tokens and
//! odd signatures; the keys it refuses are keys under which jsonwebtoken accepts nothing.
//!
//! Both sides run with equivalent rules: HS256 only, `exp` required, `nbf` honoured, no
//! leeway, no audience or token-type rule. Where the crate is deliberately stricter than
//! jsonwebtoken (a `crit` header, `iat` in the future, a registered string claim such as
//! `sub` that is not a string), the generators stay clear of it and
//! `deliberately_stricter_cases` pins the difference down.

// Every test here needs asymmetric keys, and so a crypto backend.
#![cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]

use jsonwebtoken::AlgorithmFamily;
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

/// The claims the crate reads itself. An extra claim of one of these names, with the
/// extras' integer value, would meet a check jsonwebtoken does not make (a `sid` that is not a
/// string, an `iat` in the future, a `cnf` that binds the token).
const CLAIMS_READ: [&str; 9] = [
    "exp", "nbf", "iat", "sub", "jti", "sid", "iss", "aud", "cnf",
];

/// A claims object: optional `exp`, `nbf`, `iat` (never in the future), `sub`, `aud`, and
/// extras named after none of the claims the crate reads.
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
        proptest::collection::btree_map(
            "[a-z_]{1,6}".prop_filter("a claim the crate reads", |name| {
                !CLAIMS_READ.contains(&name.as_str())
            }),
            any::<i32>().prop_map(Value::from),
            0..4,
        ),
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

// ---------------------------------------------------------------------------------------
// Public keys. With the `aws-lc-rs` feature the crate verifies with keys it parsed once,
// when they were loaded (src/key/parsed.rs); with `rust-crypto` alone, through
// jsonwebtoken's provider. Either way a token gets jsonwebtoken's verdict, however the
// key was loaded: from a PEM, a JWK, DER bytes or a jsonwebtoken `DecodingKey`.

/// The asymmetric algorithms with their test keys: (algorithm, private PEM, public PEM).
const ASYMMETRIC: [(Algorithm, &str, &str); 9] = [
    (Algorithm::RS256, "rsa_private.pem", "rsa_public.pem"),
    (Algorithm::RS384, "rsa_private.pem", "rsa_public.pem"),
    (Algorithm::RS512, "rsa_private.pem", "rsa_public.pem"),
    (Algorithm::PS256, "rsa_private.pem", "rsa_public.pem"),
    (Algorithm::PS384, "rsa_private.pem", "rsa_public.pem"),
    (Algorithm::PS512, "rsa_private.pem", "rsa_public.pem"),
    (Algorithm::ES256, "ec256_private.pem", "ec256_public.pem"),
    (Algorithm::ES384, "ec384_private.pem", "ec384_public.pem"),
    (
        Algorithm::EdDSA,
        "ed25519_private.pem",
        "ed25519_public.pem",
    ),
];

/// RFC 7515 §A.2's RSA key, §A.3's P-256 key and RFC 8037 §A.2's Ed25519 key.
const RFC7515_RSA_N: &str = "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ";
const RFC7515_EC_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
const RFC7515_EC_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
const RFC8037_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

/// The payload of RFC 7515's §A.2 and §A.3 examples (`exp` 1300819380) and a time
/// before it.
const RFC7515_PAYLOAD: &str = "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
const RFC7515_NOW: u64 = 1_300_819_000;

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// The public JWK of a test key, as `SigningKey` publishes it.
fn test_jwk(alg: Algorithm, private: &str) -> Value {
    let pem = support::data(&format!("keys/{private}"));
    let signer = match alg {
        Algorithm::ES256 | Algorithm::ES384 => tower_jwt_auth::SigningKey::ec_pem(alg, pem),
        Algorithm::EdDSA => tower_jwt_auth::SigningKey::ed_pem(pem),
        _ => tower_jwt_auth::SigningKey::rsa_pem(alg, pem),
    }
    .unwrap();
    let mut jwk = serde_json::to_value(signer.public_jwk().unwrap()).unwrap();
    jwk.as_object_mut().unwrap().remove("alg");
    jwk
}

/// A key of the same kind as the test key of `alg` but another one: the second RSA test
/// key, RFC 7515's P-256 key, the P-384 base point (private key 1), RFC 8037's key.
fn other_jwk(alg: Algorithm) -> Value {
    match alg {
        Algorithm::ES256 => {
            json!({ "kty": "EC", "crv": "P-256", "x": RFC7515_EC_X, "y": RFC7515_EC_Y })
        }
        Algorithm::ES384 => json!({
            "kty": "EC",
            "crv": "P-384",
            "x": b64(&hex("aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7")),
            "y": b64(&hex("3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5f")),
        }),
        Algorithm::EdDSA => json!({ "kty": "OKP", "crv": "Ed25519", "x": RFC8037_X }),
        _ => test_jwk(alg, "rsa2_private.pem"),
    }
}

/// The DER bytes jsonwebtoken keeps of a public PEM: PKCS#1 for RSA, the SEC1 point for
/// EC, the 32 bytes for Ed25519.
fn der_of(key: &jsonwebtoken::DecodingKey) -> Vec<u8> {
    key.try_get_as_bytes().unwrap().to_vec()
}

/// One key in every form the crate loads it from, each with a validator and the
/// `DecodingKey` jsonwebtoken gets for the same form.
fn key_forms(
    alg: Algorithm,
    jwk: &Value,
    pem: Option<&[u8]>,
) -> Vec<(&'static str, Validator, jsonwebtoken::DecodingKey)> {
    use jsonwebtoken::DecodingKey;
    let jwk: tower_jwt_auth::key::jwk::Jwk = serde_json::from_value(jwk.clone()).unwrap();
    let mut forms = vec![
        (
            "jwk",
            Key::from_jwk_with(&jwk, alg),
            DecodingKey::from_jwk(&jwk).unwrap(),
        ),
        (
            "decoding key",
            Key::from_decoding_key(alg, DecodingKey::from_jwk(&jwk).unwrap()),
            DecodingKey::from_jwk(&jwk).unwrap(),
        ),
    ];
    if let Some(pem) = pem {
        let (ours, theirs, der) = match alg {
            Algorithm::ES256 | Algorithm::ES384 => {
                let theirs = DecodingKey::from_ec_pem(pem).unwrap();
                let der = DecodingKey::from_ec_der(&der_of(&theirs));
                (Key::ec_pem(alg, pem), theirs, der)
            }
            Algorithm::EdDSA => {
                let theirs = DecodingKey::from_ed_pem(pem).unwrap();
                let der = DecodingKey::from_ed_der(&der_of(&theirs));
                (Key::ed_pem(pem), theirs, der)
            }
            _ => {
                let theirs = DecodingKey::from_rsa_pem(pem).unwrap();
                let der = DecodingKey::from_rsa_der(&der_of(&theirs));
                (Key::rsa_pem(alg, pem), theirs, der)
            }
        };
        forms.push(("pem", ours, theirs));
        forms.push(("der", Key::from_decoding_key(alg, der.clone()), der));
    }
    forms
        .into_iter()
        .map(|(form, key, decoding)| {
            let key = key.unwrap_or_else(|err| panic!("{alg:?} from {form}: {err}"));
            let validator = Validator::new(
                key,
                Validation::new()
                    .any_token_type()
                    .leeway(std::time::Duration::ZERO),
            )
            .unwrap();
            (form, validator, decoding)
        })
        .collect()
}

/// jsonwebtoken's verdict with the rules of `ours` (see `theirs` above) for `alg`.
fn theirs_with(
    token: &str,
    alg: Algorithm,
    key: &jsonwebtoken::DecodingKey,
    at: Option<u64>,
) -> Result<Value, String> {
    theirs_provider();
    let mut validation = jsonwebtoken::Validation::new(alg);
    validation.leeway = 0;
    validation.validate_nbf = true;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp"]);
    if let Some(at) = at {
        // jsonwebtoken reads the clock itself: check `exp` here instead.
        validation.validate_exp = false;
        let data = jsonwebtoken::decode::<Value>(token, key, &validation)
            .map_err(|err| err.to_string())?;
        return match data.claims["exp"].as_u64() {
            Some(exp) if exp > at => Ok(data.claims),
            _ => Err("expired".to_owned()),
        };
    }
    jsonwebtoken::decode::<Value>(token, key, &validation)
        .map(|data| data.claims)
        .map_err(|err| err.to_string())
}

fn theirs_provider() {
    #[cfg(feature = "aws-lc-rs")]
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    #[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
    let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
}

/// Every form of the key of `alg` (the test key, or another one) gives `token`
/// jsonwebtoken's verdict and claims.
fn assert_agree_asymmetric(
    token: &str,
    alg: Algorithm,
    forms: &[(&'static str, Validator, jsonwebtoken::DecodingKey)],
) -> Result<(), TestCaseError> {
    for (form, validator, decoding) in forms {
        let ours = validator
            .validate::<Value>(token)
            .map(|verified| verified.claims);
        match (ours, theirs_with(token, alg, decoding, None)) {
            (Ok(a), Ok(b)) => {
                prop_assert_eq!(a, b, "{:?} from {}: claims differ for {}", alg, form, token)
            }
            (Err(_), Err(_)) => {}
            (a, b) => prop_assert!(
                false,
                "{alg:?} from {form}: {token}: ours {a:?}, jsonwebtoken {b:?}"
            ),
        }
    }
    Ok(())
}

fn encoding_key(alg: Algorithm, private: &str) -> jsonwebtoken::EncodingKey {
    let pem = support::data(&format!("keys/{private}"));
    match alg {
        Algorithm::ES256 | Algorithm::ES384 => jsonwebtoken::EncodingKey::from_ec_pem(&pem),
        Algorithm::EdDSA => jsonwebtoken::EncodingKey::from_ed_pem(&pem),
        _ => jsonwebtoken::EncodingKey::from_rsa_pem(&pem),
    }
    .unwrap()
}

/// A token with exactly this header and payload text, signed with `alg`.
fn raw_signed(
    alg: Algorithm,
    key: &jsonwebtoken::EncodingKey,
    header: &str,
    payload: &str,
) -> String {
    theirs_provider();
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let signature = jsonwebtoken::crypto::sign(input.as_bytes(), key, alg).unwrap();
    format!("{input}.{signature}")
}

/// The algorithm a token signed for `alg`'s key may claim instead: another one the same
/// key signs (RSA), or one of another key kind.
fn other_algorithm(alg: Algorithm) -> Algorithm {
    match alg {
        Algorithm::RS256 => Algorithm::PS256,
        Algorithm::PS256 => Algorithm::RS256,
        Algorithm::RS384 | Algorithm::RS512 => Algorithm::RS256,
        Algorithm::PS384 | Algorithm::PS512 => Algorithm::PS256,
        Algorithm::ES256 => Algorithm::ES384,
        Algorithm::ES384 => Algorithm::ES256,
        _ => Algorithm::ES256,
    }
}

fn alg_name(alg: Algorithm) -> String {
    serde_json::to_value(alg)
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

/// Headers for a token of `alg`, each with the algorithm its signature is made with.
fn asymmetric_header(alg: Algorithm) -> impl Strategy<Value = (String, Algorithm)> {
    let name = alg_name(alg);
    let other = other_algorithm(alg);
    // The same key signs with `other` when both are RSA algorithms.
    let rsa = |alg: Algorithm| alg.family() == AlgorithmFamily::Rsa;
    let other_signer = if rsa(alg) && rsa(other) { other } else { alg };
    prop_oneof![
        Just((format!(r#"{{"alg":"{name}","typ":"JWT"}}"#), alg)),
        Just((format!(r#"{{"typ":"JWT","alg":"{name}"}}"#), alg)),
        Just((format!(r#"{{"alg":"{name}"}}"#), alg)),
        Just((format!(r#"{{"alg":"{name}","kid":"k1"}}"#), alg)),
        Just((format!(r#"{{"alg":"{}"}}"#, alg_name(other)), other_signer)),
        Just((r#"{"alg":"none"}"#.to_owned(), alg)),
    ]
}

/// A change to a token: none, a byte anywhere, a byte of the signature, the signature
/// cut short, one bit of the signature's bytes flipped (still canonical base64url).
fn damage(token: String, how: u8, at: prop::sample::Index, byte: u8) -> Option<String> {
    let signature_start = token.rfind('.').unwrap() + 1;
    let mut bytes = token.into_bytes();
    match how {
        0 => {}
        1 => {
            let at = at.index(bytes.len());
            bytes[at] = byte;
        }
        2 if bytes.len() > signature_start => {
            let at = signature_start + at.index(bytes.len() - signature_start);
            bytes[at] = byte;
        }
        3 => {
            bytes.pop();
        }
        _ => {
            let mut signature = base64::Engine::decode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                &bytes[signature_start..],
            )
            .ok()?;
            if signature.is_empty() {
                return None;
            }
            let at = at.index(signature.len() * 8);
            signature[at / 8] ^= 1 << (at % 8);
            bytes.truncate(signature_start);
            bytes.extend_from_slice(b64(&signature).as_bytes());
        }
    }
    String::from_utf8(bytes).ok()
}

proptest! {
    // Each case signs a token (RSA signing is the slow part) and checks it under four
    // forms of the key on both sides.
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn public_key_tokens_get_the_same_verdict_and_claims_for_every_key_form(
        (alg, (header, signer)) in prop::sample::select(ASYMMETRIC.map(|(alg, ..)| alg).to_vec())
            .prop_flat_map(|alg| (Just(alg), asymmetric_header(alg))),
        claims in claims(),
        right_key in proptest::bool::weighted(0.8),
        how in 0..5u8,
        at in any::<prop::sample::Index>(),
        byte in prop::sample::select(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=".to_vec()),
    ) {
        let (_, private, public) = ASYMMETRIC.into_iter().find(|(a, ..)| *a == alg).unwrap();
        let forms = if right_key {
            key_forms(alg, &test_jwk(alg, private), Some(&support::data(&format!("keys/{public}"))))
        } else {
            key_forms(alg, &other_jwk(alg), None)
        };
        let token = raw_signed(signer, &encoding_key(signer, private), &header, &claims);
        if let Some(token) = damage(token, how, at, byte) {
            assert_agree_asymmetric(&token, alg, &forms)?;
        }
    }
}

/// Whether the crate's verdict says the signature verified: the token may still be
/// refused afterwards (expired, a payload that is not a claims object).
fn signature_verified<T>(verdict: &Result<T, TokenError>) -> bool {
    !matches!(
        verdict,
        Err(TokenError::InvalidSignature | TokenError::Malformed)
    )
}

/// jsonwebtoken's verdict on the signature alone.
fn their_signature_verdict(token: &str, alg: Algorithm, key: &jsonwebtoken::DecodingKey) -> bool {
    theirs_provider();
    let Some((input, signature)) = token.rsplit_once('.') else {
        return false;
    };
    jsonwebtoken::crypto::verify(signature, input.as_bytes(), key, alg).unwrap_or(false)
}

/// The published vectors, each with the key (a JWK) that signed it and the changes every
/// verifier must refuse: a bit of the signature, a character of the payload.
fn public_vectors() -> Vec<(&'static str, Algorithm, Value, String)> {
    vec![
        (
            "RFC 7515 A.2",
            Algorithm::RS256,
            json!({ "kty": "RSA", "n": RFC7515_RSA_N, "e": "AQAB" }),
            format!(
                "eyJhbGciOiJSUzI1NiJ9.{RFC7515_PAYLOAD}.cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw"
            ),
        ),
        (
            "RFC 7515 A.3",
            Algorithm::ES256,
            json!({ "kty": "EC", "crv": "P-256", "x": RFC7515_EC_X, "y": RFC7515_EC_Y }),
            format!(
                "eyJhbGciOiJFUzI1NiJ9.{RFC7515_PAYLOAD}.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"
            ),
        ),
        (
            // Its payload is text, not claims: the signature verifies, the token does not.
            "RFC 8037 A.4",
            Algorithm::EdDSA,
            json!({ "kty": "OKP", "crv": "Ed25519", "x": RFC8037_X }),
            "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg".to_owned(),
        ),
    ]
}

#[test]
fn public_vectors_get_the_same_signature_verdict_for_every_key_form() {
    for (name, alg, jwk, token) in public_vectors() {
        let (input, signature) = token.rsplit_once('.').unwrap();
        let (header, payload) = input.split_once('.').unwrap();
        let mut flipped =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, signature)
                .unwrap();
        flipped[7] ^= 0x10;
        let changed_payload = format!("{header}.{}A.{signature}", &payload[..payload.len() - 1]);
        let cases = [
            (token.clone(), true),
            (format!("{input}.{}", b64(&flipped)), false),
            (changed_payload, false),
        ];
        for (form, validator, decoding) in key_forms(alg, &jwk, None) {
            for (case, verifies) in &cases {
                let ours = validator.validate_at::<Value>(case, RFC7515_NOW);
                let theirs = their_signature_verdict(case, alg, &decoding);
                assert_eq!(theirs, *verifies, "{name}, {form}: jsonwebtoken on {case}");
                assert_eq!(
                    signature_verified(&ours),
                    theirs,
                    "{name}, {form}: ours {ours:?} on {case}"
                );
            }
        }
    }
    // The two RFC 7515 examples are whole JWTs, valid before their `exp`.
    let (_, alg, jwk, token) = &public_vectors()[0];
    let (_, validator, decoding) = &key_forms(*alg, jwk, None)[0];
    let ours = validator.validate_at::<Value>(token, RFC7515_NOW).unwrap();
    let theirs = theirs_with(token, *alg, decoding, Some(RFC7515_NOW)).unwrap();
    assert_eq!(ours.claims, theirs);
    assert_eq!(ours.claims["iss"], "joe");
}

#[test]
fn pyjwt_tokens_get_the_same_verdict_and_claims() {
    let tokens: Value = serde_json::from_slice(&support::data("pyjwt/tokens.json")).unwrap();
    let mut seen = 0;
    for (name, alg) in [
        ("rs256_access", Algorithm::RS256),
        ("ps256_access", Algorithm::PS256),
        ("es256_access", Algorithm::ES256),
        ("es384_access", Algorithm::ES384),
        ("eddsa_access", Algorithm::EdDSA),
    ] {
        let token = tokens[name].as_str().unwrap();
        let (_, private, public) = ASYMMETRIC.into_iter().find(|(a, ..)| *a == alg).unwrap();
        let right = key_forms(
            alg,
            &test_jwk(alg, private),
            Some(&support::data(&format!("keys/{public}"))),
        );
        let wrong = key_forms(alg, &other_jwk(alg), None);
        let last = token.len() - 2;
        let damaged = format!(
            "{}{}{}",
            &token[..last],
            if &token[last..last + 1] == "A" {
                "B"
            } else {
                "A"
            },
            &token[last + 1..]
        );
        for forms in [&right, &wrong] {
            assert_agree_asymmetric(token, alg, forms).unwrap();
            assert_agree_asymmetric(&damaged, alg, forms).unwrap();
        }
        let (_, validator, _) = &right[0];
        assert!(validator.validate::<Value>(token).is_ok(), "{name}");
        seen += 1;
    }
    assert_eq!(seen, 5);
}

/// `n - s` for a big-endian `s` below the big-endian `n` of the same length.
fn negate(n: &[u8], s: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; n.len()];
    let mut borrow = 0i16;
    for i in (0..n.len()).rev() {
        let mut digit = i16::from(n[i]) - i16::from(s[i]) - borrow;
        borrow = i16::from(digit < 0);
        if digit < 0 {
            digit += 256;
        }
        out[i] = digit as u8;
    }
    out
}

/// Signatures a careless verifier might treat differently, for every algorithm.
fn odd_signatures(alg: Algorithm, signature: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let mut odd = vec![
        ("empty", Vec::new()),
        ("all zero", vec![0u8; signature.len()]),
        ("all ones", vec![0xff; signature.len()]),
        ("one byte short", signature[1..].to_vec()),
        ("one byte long", [signature, &[0]].concat()),
        ("a zero byte first", [&[0], signature].concat()),
        ("doubled", [signature, signature].concat()),
    ];
    let order = match alg {
        Algorithm::ES256 => Some(hex(
            "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551",
        )),
        Algorithm::ES384 => Some(hex(
            "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973",
        )),
        _ => None,
    };
    if let Some(n) = order {
        let (r, s) = signature.split_at(n.len());
        // ECDSA's other valid signature: (r, n - s).
        odd.push(("high s", [r, &negate(&n, s)].concat()));
        odd.push(("s = 0", [r, &vec![0u8; n.len()]].concat()));
        odd.push(("r = 0", [&vec![0u8; n.len()], s].concat()));
        odd.push(("s = n", [r, &n].concat()));
        // ASN.1 DER, as other ECDSA APIs give it: not a JWS signature.
        let int = |v: &[u8]| {
            let v = [&[0u8][..], v].concat();
            [&[0x02, v.len() as u8][..], &v].concat()
        };
        let body = [int(r), int(s)].concat();
        odd.push(("DER", [&[0x30, body.len() as u8][..], &body].concat()));
    }
    if alg == Algorithm::EdDSA {
        // S + L: the same S modulo the group order, not canonical (RFC 8032 §5.1.7).
        let l = hex("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");
        let mut s = signature[32..].to_vec();
        let mut carry = 0u16;
        for i in 0..32 {
            let sum = u16::from(s[i]) + u16::from(l[i]) + carry;
            s[i] = sum as u8;
            carry = sum >> 8;
        }
        odd.push(("S + L", [&signature[..32], &s[..]].concat()));
        // R the identity point, S = 0.
        let mut identity = [0u8; 64];
        identity[0] = 1;
        odd.push(("identity R, S = 0", identity.to_vec()));
    }
    odd
}

#[test]
fn odd_signatures_get_the_same_verdict_for_every_key_form() {
    let claims = format!(r#"{{"sub":"a","exp":{}}}"#, now() + 3600);
    for (alg, private, public) in ASYMMETRIC {
        let forms = key_forms(
            alg,
            &test_jwk(alg, private),
            Some(&support::data(&format!("keys/{public}"))),
        );
        let header = format!(r#"{{"alg":"{}"}}"#, alg_name(alg));
        let token = raw_signed(alg, &encoding_key(alg, private), &header, &claims);
        let (input, signature) = token.rsplit_once('.').unwrap();
        let signature =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, signature)
                .unwrap();
        assert_agree_asymmetric(&token, alg, &forms).unwrap();
        assert!(forms[0].1.validate::<Value>(&token).is_ok(), "{alg:?}");
        for (what, odd) in odd_signatures(alg, &signature) {
            let odd_token = format!("{input}.{}", b64(&odd));
            assert_agree_asymmetric(&odd_token, alg, &forms)
                .unwrap_or_else(|err| panic!("{alg:?}, {what}: {err}"));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Refused keys: a key the crate refuses when it is loaded is one under which jsonwebtoken
// accepts nothing, with the crate's backend (and the crate is stricter than jsonwebtoken's
// pure-Rust backend about short RSA keys, deliberately).

/// A token for `alg` signed with the private key `private`, and its claims.
fn signed_token(alg: Algorithm, private: &str) -> String {
    let claims = format!(r#"{{"sub":"a","exp":{}}}"#, now() + 3600);
    let header = format!(r#"{{"alg":"{}"}}"#, alg_name(alg));
    raw_signed(alg, &encoding_key(alg, private), &header, &claims)
}

#[test]
fn a_short_rsa_key_is_refused_and_jsonwebtoken_accepts_nothing_under_it() {
    use jsonwebtoken::DecodingKey;
    let pem = support::data("keys/rsa1024_public.pem");
    let theirs_key = DecodingKey::from_rsa_pem(&pem).unwrap();
    let tokens: Value =
        serde_json::from_slice(&support::data("vectors/rsa1024_tokens.json")).unwrap();
    let algorithms = ASYMMETRIC.map(|(alg, ..)| alg);
    for alg in algorithms
        .into_iter()
        .filter(|alg| alg.family() == AlgorithmFamily::Rsa)
    {
        for ours in [
            Key::rsa_pem(alg, &pem),
            Key::from_decoding_key(alg, theirs_key.clone()),
            Key::from_decoding_key(alg, DecodingKey::from_rsa_der(&der_of(&theirs_key))),
        ] {
            assert!(
                matches!(
                    ours,
                    Err(tower_jwt_auth::key::KeyError::WeakRsaKey { bits: 1024 })
                ),
                "{alg:?}: {ours:?}"
            );
        }
        // aws-lc-rs does not sign with the key either: OpenSSL made these tokens.
        let Some(token) = tokens[alg_name(alg)].as_str() else {
            assert_eq!(alg, Algorithm::PS512, "no room for PS512's salt only");
            continue;
        };
        let theirs = theirs_with(token, alg, &theirs_key, None);
        // aws-lc-rs verifies RSA keys of 2048 to 8192 bits only; RustCrypto's `rsa` takes
        // the 1024-bit key, which the crate refuses anyway.
        #[cfg(feature = "aws-lc-rs")]
        assert!(theirs.is_err(), "{alg:?}: {theirs:?}");
        #[cfg(not(feature = "aws-lc-rs"))]
        assert!(theirs.is_ok(), "{alg:?}: {theirs:?}");
    }
}

#[test]
fn a_key_of_the_wrong_curve_is_refused_and_jsonwebtoken_accepts_nothing_under_it() {
    use jsonwebtoken::DecodingKey;
    for (alg, wrong_alg, wrong_private, wrong_public) in [
        (
            Algorithm::ES256,
            Algorithm::ES384,
            "ec384_private.pem",
            "ec384_public.pem",
        ),
        (
            Algorithm::ES384,
            Algorithm::ES256,
            "ec256_private.pem",
            "ec256_public.pem",
        ),
    ] {
        let pem = support::data(&format!("keys/{wrong_public}"));
        let theirs_key = DecodingKey::from_ec_pem(&pem).unwrap();
        let mut jwk = test_jwk(wrong_alg, wrong_private);
        let refused = [
            Key::ec_pem(alg, &pem),
            Key::from_decoding_key(alg, theirs_key.clone()),
            Key::from_decoding_key(alg, DecodingKey::from_ec_der(&der_of(&theirs_key))),
            Key::from_jwk_with(&serde_json::from_value(jwk.clone()).unwrap(), alg),
            {
                // The curve named for the algorithm, the point of the other curve.
                jwk["crv"] = json!(if alg == Algorithm::ES256 {
                    "P-256"
                } else {
                    "P-384"
                });
                Key::from_jwk(&serde_json::from_value(jwk.clone()).unwrap())
            },
        ];
        for ours in refused {
            assert!(
                matches!(ours, Err(tower_jwt_auth::key::KeyError::AlgorithmMismatch(a)) if a == alg),
                "{alg:?}: {ours:?}"
            );
        }
        // Tokens of either algorithm, signed by the key itself: jsonwebtoken refuses them
        // for `alg` too.
        for token in [signed_token(wrong_alg, wrong_private), {
            let token = signed_token(wrong_alg, wrong_private);
            let (_, rest) = token.split_once('.').unwrap();
            format!(
                "{}.{rest}",
                b64(format!(r#"{{"alg":"{}"}}"#, alg_name(alg)).as_bytes())
            )
        }] {
            assert!(
                theirs_with(&token, alg, &theirs_key, None).is_err(),
                "{alg:?}"
            );
        }
    }
    // Curves the crate has no algorithm for.
    for jwk in [
        json!({ "kty": "EC", "crv": "P-521", "x": b64(&[1; 66]), "y": b64(&[1; 66]) }),
        json!({ "kty": "EC", "crv": "secp256k1", "x": RFC7515_EC_X, "y": RFC7515_EC_Y }),
        json!({ "kty": "OKP", "crv": "X25519", "x": RFC8037_X }),
        json!({ "kty": "OKP", "crv": "Ed448", "x": b64(&[1; 57]) }),
    ] {
        let parsed: Result<tower_jwt_auth::key::jwk::Jwk, _> = serde_json::from_value(jwk.clone());
        if let Ok(parsed) = parsed {
            assert!(Key::from_jwk(&parsed).is_err(), "{jwk}");
        }
    }
}

#[test]
fn a_key_for_another_algorithm_is_refused_and_so_are_tokens_of_another_algorithm() {
    use tower_jwt_auth::key::KeyError;
    let rsa = support::data("keys/rsa_public.pem");
    let ec = support::data("keys/ec256_public.pem");
    let ed = support::data("keys/ed25519_public.pem");
    let mismatch = |result: Result<Key, KeyError>, alg: Algorithm| {
        assert!(
            matches!(result, Err(KeyError::AlgorithmMismatch(a)) if a == alg)
                || matches!(result, Err(KeyError::Invalid(_))),
            "{alg:?}: {result:?}"
        );
    };
    for alg in [
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
        Algorithm::HS256,
    ] {
        mismatch(Key::rsa_pem(alg, &rsa), alg);
        mismatch(
            Key::from_decoding_key(alg, jsonwebtoken::DecodingKey::from_rsa_pem(&rsa).unwrap()),
            alg,
        );
    }
    for alg in [Algorithm::RS256, Algorithm::PS256, Algorithm::EdDSA] {
        mismatch(
            Key::from_decoding_key(alg, jsonwebtoken::DecodingKey::from_ec_pem(&ec).unwrap()),
            alg,
        );
    }
    mismatch(Key::ed_pem(&ec), Algorithm::EdDSA);
    for alg in [Algorithm::RS256, Algorithm::ES256] {
        mismatch(
            Key::from_decoding_key(alg, jsonwebtoken::DecodingKey::from_ed_pem(&ed).unwrap()),
            alg,
        );
    }
    // A key pinned to one RSA algorithm refuses a valid signature of another made by the
    // same private key, as jsonwebtoken does when told the algorithm.
    for (pinned, signed) in [
        (Algorithm::RS256, Algorithm::PS256),
        (Algorithm::PS256, Algorithm::RS256),
        (Algorithm::RS256, Algorithm::RS384),
        (Algorithm::PS512, Algorithm::PS384),
    ] {
        let token = signed_token(signed, "rsa_private.pem");
        let forms = key_forms(pinned, &test_jwk(pinned, "rsa_private.pem"), Some(&rsa));
        for (form, validator, decoding) in &forms {
            assert_eq!(
                validator.validate::<Value>(&token).unwrap_err(),
                TokenError::AlgorithmMismatch,
                "{pinned:?} from {form}"
            );
            assert!(theirs_with(&token, pinned, decoding, None).is_err());
        }
        // With the header rewritten to the pinned algorithm, the signature is wrong.
        let (_, rest) = token.split_once('.').unwrap();
        let relabelled = format!(
            "{}.{rest}",
            b64(format!(r#"{{"alg":"{}"}}"#, alg_name(pinned)).as_bytes())
        );
        assert_agree_asymmetric(&relabelled, pinned, &forms).unwrap();
        assert!(forms[0].1.validate::<Value>(&relabelled).is_err());
    }
}

#[test]
fn an_rsa_modulus_with_a_leading_zero_byte_gets_jsonwebtokens_verdict_or_is_refused() {
    use jsonwebtoken::DecodingKey;
    let mut jwk = test_jwk(Algorithm::RS256, "rsa_private.pem");
    let n = base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        jwk["n"].as_str().unwrap(),
    )
    .unwrap();
    jwk["n"] = json!(b64(&[&[0u8][..], &n].concat()));
    let parsed: tower_jwt_auth::key::jwk::Jwk = serde_json::from_value(jwk).unwrap();
    let theirs_key = DecodingKey::from_jwk(&parsed).unwrap();
    let token = signed_token(Algorithm::RS256, "rsa_private.pem");
    let theirs = theirs_with(&token, Algorithm::RS256, &theirs_key, None);
    for ours in [
        Key::from_jwk_with(&parsed, Algorithm::RS256),
        Key::from_decoding_key(Algorithm::RS256, theirs_key.clone()),
    ] {
        match ours {
            // aws-lc-rs reads no leading zero: jsonwebtoken fails on every token, the crate
            // on the key.
            Err(tower_jwt_auth::key::KeyError::Invalid(_)) => {
                assert!(theirs.is_err(), "{theirs:?}");
            }
            Ok(key) => {
                let validator = Validator::new(key, Validation::new().any_token_type()).unwrap();
                let ours = validator.validate::<Value>(&token).map(|v| v.claims);
                assert_eq!(ours.ok(), theirs.clone().ok());
            }
            Err(other) => panic!("{other:?}"),
        }
    }
}
