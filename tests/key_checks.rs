//! Key checks through the public API: weak public keys are refused by every loader (PEM,
//! JWK, `DecodingKey`, JWKS), JWKs are read strictly (`use`, `oct`, `alg` inference), and
//! JWKS documents shaped like those of real identity providers give the expected keys.

// Every test here needs asymmetric keys, and so a crypto backend.
#![cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use curve25519_dalek::Scalar;
use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::traits::{Identity, IsIdentity};
use jsonwebtoken::DecodingKey;
use serde_json::{Value, json};
use support::*;
use tower_jwt_auth::key::jwk::Jwk;
use tower_jwt_auth::key::{JwksError, KeyError, KeySet};
use tower_jwt_auth::{Algorithm, JwtAuthLayer, Key, SigningKey};

const RSA: [Algorithm; 6] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

const ALL: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

fn jwk(value: Value) -> Jwk {
    serde_json::from_value(value).unwrap()
}

fn jwks(keys: &[Value]) -> Vec<u8> {
    json!({ "keys": keys }).to_string().into_bytes()
}

/// The DER inside a PEM file.
fn pem_der(pem: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(pem).unwrap();
    let body: String = text
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    STANDARD.decode(body).unwrap()
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|chunk| std::str::from_utf8(chunk).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// The public JWK of a test key, as `SigningKey` publishes it, without `alg`.
fn public_jwk_without_alg(alg: Algorithm, private: &str) -> Value {
    let pem = data(&format!("keys/{private}"));
    let signer = match alg {
        Algorithm::ES256 | Algorithm::ES384 => SigningKey::ec_pem(alg, pem),
        Algorithm::EdDSA => SigningKey::ed_pem(pem),
        _ => SigningKey::rsa_pem(alg, pem),
    }
    .unwrap();
    let mut value = serde_json::to_value(signer.public_jwk().unwrap()).unwrap();
    value.as_object_mut().unwrap().remove("alg");
    value
}

// ---------------------------------------------------------------------------------------
// RSA: a modulus under 2048 bits.

/// The 1024-bit test key's public JWK, without `alg`.
fn short_rsa_jwk() -> Value {
    let set: Value = serde_json::from_slice(&data("jwks/short_rsa.json")).unwrap();
    set["keys"][0].clone()
}

#[test]
fn a_1024_bit_rsa_key_is_refused_by_every_loader() {
    let weak =
        |result: Result<Key, KeyError>| matches!(result, Err(KeyError::WeakRsaKey { bits: 1024 }));
    for alg in RSA {
        for file in ["keys/rsa1024_public.pem", "keys/rsa1024_public_pkcs1.pem"] {
            assert!(weak(Key::rsa_pem(alg, data(file))), "{alg:?} {file}");
            let decoding = DecodingKey::from_rsa_pem(&data(file)).unwrap();
            assert!(
                weak(Key::from_decoding_key(alg, decoding)),
                "{alg:?} {file}"
            );
        }
        assert!(weak(Key::from_jwk_with(&jwk(short_rsa_jwk()), alg)));
        assert!(
            SigningKey::rsa_pem(alg, data("keys/rsa1024_private.pem")).is_err(),
            "a signing key whose public half is refused is refused too"
        );
    }
    assert!(weak(Key::from_jwk(&jwk(short_rsa_jwk()))));
    match KeySet::from_jwks(&jwks(&[short_rsa_jwk()]), &RSA) {
        Err(JwksError::NoUsableKeys { skipped }) => {
            assert_eq!(skipped.len(), 1);
            assert!(skipped[0].contains("1024-bit"), "{skipped:?}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_2048_bit_test_keys_still_load() {
    for alg in RSA {
        for file in ["keys/rsa_public.pem", "keys/rsa2_public.pem"] {
            Key::rsa_pem(alg, data(file)).unwrap();
        }
    }
}

// ---------------------------------------------------------------------------------------
// EC: a point off its curve.

#[test]
fn an_ec_point_off_its_curve_is_refused_by_every_loader() {
    for (alg, private, public) in [
        (
            Algorithm::ES256,
            "ec256_private.pem",
            "keys/ec256_public.pem",
        ),
        (
            Algorithm::ES384,
            "ec384_private.pem",
            "keys/ec384_public.pem",
        ),
    ] {
        // The SPKI ends with the point; its last byte is the low byte of y.
        let mut der = pem_der(&data(public));
        *der.last_mut().unwrap() ^= 1;
        let off_curve = pem("PUBLIC KEY", &der);
        assert!(matches!(
            Key::ec_pem(alg, &off_curve),
            Err(KeyError::InvalidPoint)
        ));
        let decoding = DecodingKey::from_ec_pem(off_curve.as_bytes()).unwrap();
        assert!(matches!(
            Key::from_decoding_key(alg, decoding),
            Err(KeyError::InvalidPoint)
        ));

        let mut value = public_jwk_without_alg(alg, private);
        let y = value["y"].as_str().unwrap();
        let mut y = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(y)
            .unwrap();
        *y.last_mut().unwrap() ^= 1;
        value["y"] = json!(b64(&y));
        assert!(matches!(
            Key::from_jwk(&jwk(value.clone())),
            Err(KeyError::InvalidPoint)
        ));
        assert!(matches!(
            KeySet::from_jwks(&jwks(&[value]), &ALL),
            Err(JwksError::NoUsableKeys { .. })
        ));
    }
}

// ---------------------------------------------------------------------------------------
// Ed25519: points of small order.

/// The eight points of small order, computed: `[ℓ]P` for a point `P` with a torsion
/// component of order 8 generates the torsion subgroup.
fn small_order_points() -> Vec<EdwardsPoint> {
    // [ℓ]P = [ℓ - 1]P + P, and ℓ - 1 is the scalar -1.
    let times_l = |point: EdwardsPoint| point * -Scalar::ONE + point;
    let generator = (2u8..)
        .filter_map(|y| {
            let mut bytes = [0u8; 32];
            bytes[0] = y;
            CompressedEdwardsY(bytes).decompress()
        })
        .map(times_l)
        .find(|torsion| {
            let twice = torsion + torsion;
            !(twice + twice).is_identity()
        })
        .unwrap();
    let mut points = vec![EdwardsPoint::identity()];
    for _ in 1..8 {
        points.push(points.last().unwrap() + generator);
    }
    points
}

#[test]
fn the_small_order_points_are_the_eight_torsion_points() {
    let points = small_order_points();
    let mut computed: Vec<[u8; 32]> = points.iter().map(|p| p.compress().to_bytes()).collect();
    assert!(points.iter().all(EdwardsPoint::is_small_order));
    let mut reference: Vec<[u8; 32]> = EIGHT_TORSION
        .iter()
        .map(|p| p.compress().to_bytes())
        .collect();
    computed.sort_unstable();
    reference.sort_unstable();
    computed.dedup();
    assert_eq!(computed.len(), 8);
    assert_eq!(computed, reference);
}

/// Every encoding of a small-order point: the canonical ones, and the non-canonical
/// ones (y + p where that fits in 255 bits, and x = 0 with the sign bit set).
fn small_order_encodings() -> Vec<[u8; 32]> {
    let mut encodings = Vec::new();
    for point in small_order_points() {
        let canonical = point.compress().to_bytes();
        encodings.push(canonical);
        let y_is_small = canonical[1..31].iter().all(|&byte| byte == 0)
            && canonical[31] & 0x7f == 0
            && canonical[0] < 19;
        if y_is_small {
            // y + p, with p = 2^255 - 19.
            let mut above = [0xffu8; 32];
            above[0] = 0xed + canonical[0];
            above[31] = 0x7f | (canonical[31] & 0x80);
            encodings.push(above);
        }
        let mut signed = canonical;
        signed[31] ^= 0x80;
        if CompressedEdwardsY(signed).decompress() == Some(point) {
            encodings.push(signed);
        }
    }
    encodings
}

fn ed25519_spki_pem(point: &[u8; 32]) -> String {
    let mut der = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    der.extend_from_slice(point);
    pem("PUBLIC KEY", &der)
}

#[test]
fn small_order_ed25519_keys_are_refused_by_every_loader() {
    let encodings = small_order_encodings();
    assert!(encodings.len() > 8, "non-canonical encodings are covered");
    for point in &encodings {
        let refused =
            |result: Result<Key, KeyError>| matches!(result, Err(KeyError::WeakEd25519Key));
        let value = json!({ "kty": "OKP", "crv": "Ed25519", "x": b64(point) });
        assert!(refused(Key::from_jwk(&jwk(value.clone()))), "{point:02x?}");
        assert!(
            refused(Key::ed_pem(ed25519_spki_pem(point))),
            "{point:02x?}"
        );
        let decoding = DecodingKey::from_ed_der(point);
        assert!(refused(Key::from_decoding_key(Algorithm::EdDSA, decoding)));
        match KeySet::from_jwks(&jwks(&[value]), &[Algorithm::EdDSA]) {
            Err(JwksError::NoUsableKeys { skipped }) => {
                assert!(skipped[0].contains("small order"), "{skipped:?}");
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_jwk_holding_the_identity_point_is_refused() {
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let value = json!({ "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "x": b64(&identity) });
    assert!(matches!(
        Key::from_jwk(&jwk(value.clone())),
        Err(KeyError::WeakEd25519Key)
    ));
    assert!(matches!(
        KeySet::from_jwks(&jwks(&[value]), &[Algorithm::EdDSA]),
        Err(JwksError::NoUsableKeys { .. })
    ));
}

/// Under the identity key, `R = identity, S = 0` satisfies `[S]B = R + [k]A` for every
/// message. No key that could accept it can be built, and the keys that can be built
/// refuse it. (Checked when this test was written: both jsonwebtoken backends, aws-lc-rs
/// and rust-crypto, verify this signature under a `DecodingKey` of the identity point, so
/// the load-time check is what stops it.)
#[tokio::test]
async fn a_signature_of_the_identity_point_and_zero_verifies_under_no_buildable_key() {
    let header = b64(br#"{"alg":"EdDSA","typ":"JWT"}"#);
    let payload = b64(access_claims("mallory").to_string().as_bytes());
    let mut signature = [0u8; 64];
    signature[0] = 1;
    let token = format!("{header}.{payload}.{}", b64(&signature));

    for point in small_order_encodings() {
        let value = json!({ "kty": "OKP", "crv": "Ed25519", "x": b64(&point) });
        assert!(Key::from_jwk(&jwk(value)).is_err());
        assert!(Key::ed_pem(ed25519_spki_pem(&point)).is_err());
        assert!(
            Key::from_decoding_key(Algorithm::EdDSA, DecodingKey::from_ed_der(&point)).is_err()
        );
    }
    let layer = JwtAuthLayer::builder(Key::ed_pem(data("keys/ed25519_public.pem")).unwrap())
        .build()
        .unwrap();
    send_token(&layer, &token).await.assert_invalid_token();
}

// ---------------------------------------------------------------------------------------
// JWK members: `use`, `oct`, a missing `alg`.

#[test]
fn a_key_for_encryption_is_refused() {
    let mut value = public_jwk_without_alg(Algorithm::ES256, "ec256_private.pem");
    value["use"] = json!("enc");
    assert!(matches!(
        Key::from_jwk(&jwk(value.clone())),
        Err(KeyError::NotForSigning)
    ));
    let mut ops = public_jwk_without_alg(Algorithm::ES256, "ec256_private.pem");
    ops["key_ops"] = json!(["encrypt"]);
    assert!(matches!(
        Key::from_jwk(&jwk(ops)),
        Err(KeyError::NotForSigning)
    ));
    assert!(matches!(
        KeySet::from_jwks(&jwks(&[value]), &ALL),
        Err(JwksError::NoUsableKeys { .. })
    ));
}

#[test]
fn an_oct_key_in_a_jwks_is_never_used() {
    let secret = json!({ "kty": "oct", "alg": "HS256", "kid": "s", "k": b64(SECRET) });
    let ec = public_jwk_without_alg(Algorithm::ES256, "ec256_private.pem");
    let set = KeySet::from_jwks(
        &jwks(&[secret.clone(), ec]),
        &[Algorithm::HS256, Algorithm::ES256],
    )
    .unwrap();
    assert_eq!(set.len(), 1);
    assert!(matches!(
        KeySet::from_jwks(&jwks(std::slice::from_ref(&secret)), &[Algorithm::HS256]),
        Err(JwksError::NoUsableKeys { .. })
    ));
    // Given in code, the same JWK is the app's own secret.
    assert_eq!(
        Key::from_jwk(&jwk(secret)).unwrap().algorithm(),
        Algorithm::HS256
    );
}

#[test]
fn a_missing_alg_is_inferred_for_ec_okp_and_rsa_keys() {
    let cases = [
        (Algorithm::ES256, "ec256_private.pem"),
        (Algorithm::ES384, "ec384_private.pem"),
        (Algorithm::EdDSA, "ed25519_private.pem"),
        (Algorithm::RS256, "rsa_private.pem"),
    ];
    for (alg, private) in cases {
        let value = public_jwk_without_alg(alg, private);
        assert_eq!(Key::from_jwk(&jwk(value)).unwrap().algorithm(), alg);
    }
    let rsa = jwk(public_jwk_without_alg(Algorithm::RS256, "rsa_private.pem"));
    assert_eq!(
        Key::from_jwk_with(&rsa, Algorithm::PS512)
            .unwrap()
            .algorithm(),
        Algorithm::PS512
    );

    let values: Vec<Value> = cases
        .iter()
        .map(|&(alg, private)| public_jwk_without_alg(alg, private))
        .collect();
    let set = KeySet::from_jwks(&jwks(&values), &ALL).unwrap();
    // One key each for EC and OKP, one per RSA algorithm for the RSA key.
    assert_eq!(set.len(), 3 + RSA.len());
    let set = KeySet::from_jwks(&jwks(&values), &[Algorithm::ES384, Algorithm::PS256]).unwrap();
    assert_eq!(set.len(), 2);
}

// ---------------------------------------------------------------------------------------
// JWKS documents shaped like those of identity providers.

fn provider_jwks(name: &str) -> (Vec<u8>, Value) {
    let body = data(&format!("jwks/{name}.json"));
    let value = serde_json::from_slice(&body).unwrap();
    (body, value)
}

/// A token signed with the test RSA key for `alg`, with `kid`, is accepted by a layer
/// built from the set.
async fn accepts(set: KeySet, alg: Algorithm, kid: &str) {
    let signer = SigningKey::rsa_pem(alg, data("keys/rsa_private.pem"))
        .unwrap()
        .with_kid(kid);
    let token = signer.sign(&access_claims("alice")).unwrap();
    let layer = JwtAuthLayer::builder(set).build().unwrap();
    send_token(&layer, &token).await.assert_ok("alice");
}

#[tokio::test]
async fn a_keycloak_jwks_gives_its_signing_key_and_skips_its_encryption_key() {
    let (body, _) = provider_jwks("keycloak");
    let set = KeySet::from_jwks(&body, &[Algorithm::RS256, Algorithm::PS256]).unwrap();
    assert_eq!(set.len(), 1);
    accepts(set, Algorithm::RS256, "kc-sig").await;
}

#[tokio::test]
async fn an_auth0_jwks_gives_one_rs256_key_per_entry() {
    let (body, _) = provider_jwks("auth0");
    let set = KeySet::from_jwks(&body, &ALL).unwrap();
    assert_eq!(set.len(), 2);
    accepts(set, Algorithm::RS256, "a0-1").await;
}

#[tokio::test]
async fn an_entra_jwks_without_alg_gives_each_allowed_rsa_algorithm() {
    let (body, value) = provider_jwks("entra");
    let kid = value["keys"][0]["kid"].as_str().unwrap().to_owned();
    let set = KeySet::from_jwks(&body, &[Algorithm::RS256]).unwrap();
    assert_eq!(set.len(), 2);
    accepts(set, Algorithm::RS256, &kid).await;
    let set = KeySet::from_jwks(&body, &[Algorithm::RS256, Algorithm::PS256]).unwrap();
    assert_eq!(set.len(), 4);
    accepts(set, Algorithm::PS256, &kid).await;
    assert!(matches!(
        KeySet::from_jwks(&body, &[Algorithm::ES256]),
        Err(JwksError::NoUsableKeys { .. })
    ));
}
