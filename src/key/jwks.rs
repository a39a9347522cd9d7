//! A strict reader for the JWKS an identity provider publishes at its
//! `jwks_uri` (RFC 7517 §5).
//!
//! The document must be a JSON object with a `keys` array; each element is
//! then read on its own, and an element that cannot safely verify tokens is
//! skipped with a reason instead of failing the whole set:
//!
//! - an element that is not a JWK, or of a key type or curve this crate does
//!   not verify with (`kty` other than RSA, EC on P-256/P-384, OKP on
//!   Ed25519);
//! - `use` other than `sig`, or `key_ops` without `verify`;
//! - `kty: oct`, always: a secret published in a JWKS is known to everyone,
//!   so it can never verify an HMAC token; and any `HS*` `alg` on another key;
//! - an `alg` that is not among the allowed algorithms or does not fit the
//!   key; without `alg`, an algorithm inferred from the key (the one of its
//!   curve for EC and OKP keys; each allowed RSA algorithm for RSA keys, one
//!   [`Key`] apiece, all with the JWK's `kid`) that is not allowed;
//! - a weak key: see [`Key::rsa_pem`].
//!
//! The reasons name the key by its position and `kid`, never by its
//! material. The parser does not log; [`KeySet::from_jwks`] logs one warning
//! listing them.

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, AlgorithmFamily};
use serde_json::Value;

use crate::key::{JwkKind, Key, KeySet, check_jwk_use, jwk_algorithm};

/// At most this many characters of a `kid` are quoted in a skip reason.
const KID_QUOTE_CHARS: usize = 64;

/// Why a JWKS document could not be read.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum JwksError {
    /// The document is not JSON.
    #[error("the JWKS is not JSON: {0}")]
    NotJson(#[source] std::sync::Arc<serde_json::Error>),
    /// The document is JSON but not an object with a `keys` array.
    #[error("the JWKS is not an object with a `keys` array")]
    NoKeysArray,
    /// No key of the document can be used; `skipped` says why, one reason
    /// per key.
    #[error("the JWKS holds no usable key ({} skipped)", skipped.len())]
    NoUsableKeys {
        /// One reason per skipped key, naming it by position and `kid`.
        skipped: Vec<String>,
    },
}

/// The keys read from a JWKS, and why the others were skipped.
#[derive(Debug, Default)]
pub(crate) struct ParsedJwks {
    /// The usable keys, each pinned to one algorithm.
    pub(crate) keys: Vec<Key>,
    /// One human-readable reason per skipped key; never key material.
    pub(crate) skipped: Vec<String>,
}

/// Reads a JWKS document, keeping the keys that verify one of `allowed`.
///
/// A document without any usable key gives an empty [`ParsedJwks`], not an
/// error: whether that is an error is the caller's call.
///
/// # Errors
///
/// [`JwksError::NotJson`], [`JwksError::NoKeysArray`].
pub(crate) fn parse_jwks(body: &[u8], allowed: &[Algorithm]) -> Result<ParsedJwks, JwksError> {
    let document: Value =
        serde_json::from_slice(body).map_err(|error| JwksError::NotJson(error.into()))?;
    let Value::Object(mut document) = document else {
        return Err(JwksError::NoKeysArray);
    };
    let Some(Value::Array(elements)) = document.remove("keys") else {
        return Err(JwksError::NoKeysArray);
    };
    let mut parsed = ParsedJwks::default();
    for (index, element) in elements.into_iter().enumerate() {
        let name = describe(index, &element);
        match keys_of(element, allowed) {
            Ok(keys) => parsed.keys.extend(keys),
            Err(reason) => parsed.skipped.push(format!("{name}: {reason}")),
        }
    }
    Ok(parsed)
}

/// Names a JWKS element for a skip reason: its position, and its `kid` when
/// it is a string (quoted with escapes, cut short).
fn describe(index: usize, element: &Value) -> String {
    match element.get("kid").and_then(Value::as_str) {
        Some(kid) => {
            let quoted: String = kid.chars().take(KID_QUOTE_CHARS).collect();
            let cut = if kid.chars().nth(KID_QUOTE_CHARS).is_some() {
                "…"
            } else {
                ""
            };
            format!("key {index} (kid {quoted:?}{cut})")
        }
        None => format!("key {index}"),
    }
}

/// The keys one JWKS element gives, or why it gives none.
fn keys_of(element: Value, allowed: &[Algorithm]) -> Result<Vec<Key>, String> {
    // Decided on the raw member, before parsing: an `oct` element is refused
    // whatever else it holds or lacks.
    if element.get("kty").and_then(Value::as_str) == Some("oct") {
        return Err("symmetric (`oct`) keys are never taken from a JWKS".to_owned());
    }
    // The serde message may quote a member's value: not repeated here.
    let jwk: Jwk = serde_json::from_value(element).map_err(|_| "not a valid JWK".to_owned())?;
    let kind = JwkKind::of(&jwk).map_err(|err| err.to_string())?;
    check_jwk_use(&jwk).map_err(|err| err.to_string())?;
    let algorithms: Vec<Algorithm> = match jwk_algorithm(&jwk).map_err(|err| err.to_string())? {
        Some(alg) if alg.family() == AlgorithmFamily::Hmac => {
            return Err(format!(
                "`alg` {alg:?} is an HMAC algorithm on a public key"
            ));
        }
        Some(alg) if !allowed.contains(&alg) => {
            return Err(format!("`alg` {alg:?} is not an allowed algorithm"));
        }
        Some(alg) => vec![alg],
        None => {
            let inferred: Vec<Algorithm> = kind
                .algorithms()
                .iter()
                .copied()
                .filter(|alg| allowed.contains(alg))
                .collect();
            if inferred.is_empty() {
                return Err(format!(
                    "no `alg`, and none of the algorithms of the key ({:?}) is allowed",
                    kind.algorithms()
                ));
            }
            inferred
        }
    };
    algorithms
        .into_iter()
        .map(|alg| Key::from_jwk_with(&jwk, alg).map_err(|err| format!("refused: {err}")))
        .collect()
}

impl KeySet {
    /// The keys of a JWKS document (RFC 7517 §5), as an identity provider
    /// publishes it at its `jwks_uri`, that verify one of `allowed`.
    ///
    /// Keys that cannot safely verify tokens are skipped (the rules are in
    /// the module docs of `jwks`: `use: enc`, `oct` keys, weak keys, an `alg`
    /// not allowed, …), and one warning lists them. A key without `alg` gets
    /// the algorithm of its curve (EC, OKP), or one key per allowed RSA
    /// algorithm (RSA), all with the JWK's `kid`.
    ///
    /// ```
    /// use tower_jwt_auth::Algorithm;
    /// use tower_jwt_auth::key::KeySet;
    ///
    /// // RFC 8037 §A.2's Ed25519 key, as a provider would publish it.
    /// let jwks = br#"{"keys": [
    ///     {"kty": "OKP", "crv": "Ed25519", "kid": "ed",
    ///      "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
    ///     {"kty": "oct", "kid": "shared", "k": "c2VjcmV0"}
    /// ]}"#;
    /// let keys = KeySet::from_jwks(jwks, &[Algorithm::EdDSA, Algorithm::RS256])?;
    /// assert_eq!(keys.len(), 1); // the `oct` key is skipped
    /// # Ok::<_, tower_jwt_auth::key::JwksError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`JwksError::NotJson`], [`JwksError::NoKeysArray`], and
    /// [`JwksError::NoUsableKeys`] when every key was skipped (or there were
    /// none).
    pub fn from_jwks(body: &[u8], allowed: &[Algorithm]) -> Result<Self, JwksError> {
        let parsed = parse_jwks(body, allowed)?;
        if parsed.keys.is_empty() {
            return Err(JwksError::NoUsableKeys {
                skipped: parsed.skipped,
            });
        }
        if !parsed.skipped.is_empty() {
            tracing::warn!(
                skipped = ?parsed.skipped,
                usable = parsed.keys.len(),
                "JWKS keys skipped"
            );
        }
        Ok(Self::new(parsed.keys))
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::key::testing::p256_generator_jwk;

    const ALL: [Algorithm; 9] = crate::key::ASYMMETRIC_ALGORITHMS;

    /// RFC 8037 §A.2's Ed25519 public key.
    const ED_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    fn ed_jwk() -> Value {
        json!({ "kty": "OKP", "crv": "Ed25519", "x": ED_X })
    }

    /// A 2048-bit RSA modulus: 0xc0 followed by 255 bytes of 0x01, odd.
    fn rsa_jwk() -> Value {
        let mut n = vec![1u8; 256];
        n[0] = 0xc0;
        json!({ "kty": "RSA", "e": "AQAB", "n": URL_SAFE_NO_PAD.encode(n) })
    }

    fn with(mut jwk: Value, members: Value) -> Value {
        for (name, value) in members.as_object().expect("an object") {
            jwk[name] = value.clone();
        }
        jwk
    }

    fn parse(keys: &[Value], allowed: &[Algorithm]) -> ParsedJwks {
        let body = json!({ "keys": keys }).to_string();
        parse_jwks(body.as_bytes(), allowed).expect("a JWKS document")
    }

    #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
    fn algorithms(parsed: &ParsedJwks) -> Vec<Algorithm> {
        parsed.keys.iter().map(Key::algorithm).collect()
    }

    #[test]
    fn a_document_that_is_not_json_or_has_no_keys_array_is_an_error() {
        assert!(matches!(parse_jwks(b"{", &ALL), Err(JwksError::NotJson(_))));
        for body in [
            &b"[]"[..],
            b"{}",
            b"{\"keys\": {}}",
            b"{\"keys\": null}",
            b"\"keys\"",
        ] {
            assert!(matches!(
                parse_jwks(body, &ALL),
                Err(JwksError::NoKeysArray)
            ));
        }
    }

    #[test]
    fn an_empty_keys_array_parses_to_no_keys() {
        let parsed = parse_jwks(br#"{"keys": []}"#, &ALL).unwrap();
        assert!(parsed.keys.is_empty() && parsed.skipped.is_empty());
    }

    // Asymmetric keys: only with a crypto backend.
    #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
    #[test]
    fn elements_that_are_not_jwks_or_of_unsupported_types_are_skipped_one_by_one() {
        let parsed = parse(
            &[
                json!(1),
                json!("RSA"),
                json!({ "kty": "RSA", "e": "AQAB" }),
                json!({ "kty": "EC", "crv": "P-521", "x": "AA", "y": "AA" }),
                json!({ "kty": "OKP", "crv": "X25519", "x": ED_X }),
                json!({ "kty": "EC", "crv": "Ed25519", "x": ED_X, "y": ED_X }),
                json!({ "kty": "OKP", "crv": "Ed25519", "x": ED_X, "use": 7 }),
                ed_jwk(),
            ],
            &ALL,
        );
        assert_eq!(algorithms(&parsed), [Algorithm::EdDSA]);
        assert_eq!(parsed.skipped.len(), 7, "{:?}", parsed.skipped);
        assert!(parsed.skipped[0].starts_with("key 0: "));
    }

    // Asymmetric keys: only with a crypto backend.
    #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
    #[test]
    fn keys_not_for_signing_are_skipped() {
        let parsed = parse(
            &[
                with(ed_jwk(), json!({ "use": "enc" })),
                with(ed_jwk(), json!({ "use": "other" })),
                with(ed_jwk(), json!({ "key_ops": ["encrypt"] })),
                with(ed_jwk(), json!({ "key_ops": [] })),
                with(rsa_jwk(), json!({ "alg": "RSA-OAEP" })),
                with(ed_jwk(), json!({ "use": "sig", "key_ops": ["verify"] })),
            ],
            &ALL,
        );
        assert_eq!(algorithms(&parsed), [Algorithm::EdDSA]);
        assert_eq!(parsed.skipped.len(), 5, "{:?}", parsed.skipped);
    }

    #[test]
    fn oct_keys_and_hmac_algorithms_are_always_skipped() {
        let secret = URL_SAFE_NO_PAD.encode([7u8; 64]);
        let parsed = parse(
            &[
                json!({ "kty": "oct", "alg": "HS256", "k": secret, "kid": "hs" }),
                json!({ "kty": "oct", "k": secret }),
                json!({ "kty": "oct" }),
                with(rsa_jwk(), json!({ "alg": "HS256" })),
                with(ed_jwk(), json!({ "alg": "HS512" })),
            ],
            &[Algorithm::HS256, Algorithm::HS512, Algorithm::RS256],
        );
        assert!(parsed.keys.is_empty());
        assert_eq!(parsed.skipped.len(), 5, "{:?}", parsed.skipped);
        assert!(parsed.skipped[0].contains("kid \"hs\""));
        assert!(
            parsed
                .skipped
                .iter()
                .all(|reason| !reason.contains(&secret))
        );
    }

    // Asymmetric keys: only with a crypto backend.
    #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
    #[test]
    fn alg_is_honoured_only_when_allowed_and_fitting() {
        let parsed = parse(
            &[
                with(rsa_jwk(), json!({ "alg": "PS384", "kid": "ps" })),
                with(rsa_jwk(), json!({ "alg": "RS512" })),
                with(rsa_jwk(), json!({ "alg": "ES256" })),
                with(p256_generator_jwk(), json!({ "alg": "ES384" })),
                with(ed_jwk(), json!({ "alg": "RS256" })),
                with(rsa_jwk(), json!({ "alg": "XX999" })),
            ],
            &[
                Algorithm::PS384,
                Algorithm::RS256,
                Algorithm::ES256,
                Algorithm::ES384,
            ],
        );
        assert_eq!(algorithms(&parsed), [Algorithm::PS384]);
        assert_eq!(parsed.keys[0].kid(), Some("ps"));
        assert_eq!(parsed.skipped.len(), 5, "{:?}", parsed.skipped);
    }

    // Asymmetric keys: only with a crypto backend.
    #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
    #[test]
    fn a_missing_alg_is_inferred_from_the_key() {
        let parsed = parse(
            &[
                with(p256_generator_jwk(), json!({ "kid": "ec" })),
                with(ed_jwk(), json!({ "kid": "ed" })),
                with(rsa_jwk(), json!({ "kid": "rsa" })),
            ],
            &ALL,
        );
        assert!(parsed.skipped.is_empty(), "{:?}", parsed.skipped);
        let got: Vec<_> = parsed
            .keys
            .iter()
            .map(|key| (key.kid().unwrap(), key.algorithm()))
            .collect();
        let mut expected = vec![("ec", Algorithm::ES256), ("ed", Algorithm::EdDSA)];
        expected.extend(crate::key::RSA_ALGORITHMS.map(|alg| ("rsa", alg)));
        assert_eq!(got, expected);
    }

    // Asymmetric keys: only with a crypto backend.
    #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
    #[test]
    fn an_rsa_key_without_alg_gives_one_key_per_allowed_rsa_algorithm() {
        let parsed = parse(
            &[rsa_jwk()],
            &[Algorithm::PS256, Algorithm::ES256, Algorithm::RS256],
        );
        assert_eq!(algorithms(&parsed), [Algorithm::RS256, Algorithm::PS256]);
    }

    #[test]
    fn keys_inferred_to_an_algorithm_not_allowed_are_skipped() {
        let parsed = parse(
            &[p256_generator_jwk(), ed_jwk(), rsa_jwk()],
            &[Algorithm::ES384],
        );
        assert!(parsed.keys.is_empty());
        assert_eq!(parsed.skipped.len(), 3, "{:?}", parsed.skipped);
    }

    #[test]
    fn weak_keys_are_skipped_with_the_reason() {
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut short = vec![1u8; 128];
        short[0] = 0xc0;
        let parsed = parse(
            &[
                json!({ "kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(identity) }),
                json!({ "kty": "RSA", "e": "AQAB", "n": URL_SAFE_NO_PAD.encode(short) }),
                with(
                    p256_generator_jwk(),
                    json!({ "y": URL_SAFE_NO_PAD.encode([1u8; 32]) }),
                ),
            ],
            &ALL,
        );
        assert!(parsed.keys.is_empty());
        // One reason per key, even for the RSA key tried for six algorithms.
        assert_eq!(parsed.skipped.len(), 3, "{:?}", parsed.skipped);
        assert!(parsed.skipped[0].contains("small order"));
        assert!(parsed.skipped[1].contains("1024-bit"));
        assert!(parsed.skipped[2].contains("not a valid point"));
    }

    #[test]
    fn the_kid_in_a_reason_is_escaped_and_cut_short() {
        let kid = format!("a\nb{}", "x".repeat(200));
        let parsed = parse(&[json!({ "kty": "oct", "kid": kid })], &ALL);
        let reason = &parsed.skipped[0];
        assert!(!reason.contains('\n') && reason.contains("a\\nb"));
        assert!(reason.len() < 150, "{reason}");
    }

    // Asymmetric keys: only with a crypto backend.
    #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
    #[test]
    fn from_jwks_refuses_a_set_without_usable_keys_and_lists_why() {
        let body = json!({ "keys": [with(ed_jwk(), json!({ "use": "enc" }))] }).to_string();
        match KeySet::from_jwks(body.as_bytes(), &ALL) {
            Err(JwksError::NoUsableKeys { skipped }) => assert_eq!(skipped.len(), 1),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            KeySet::from_jwks(br#"{"keys": []}"#, &ALL),
            Err(JwksError::NoUsableKeys { .. })
        ));
        let body = json!({ "keys": [ed_jwk(), rsa_jwk()] }).to_string();
        assert_eq!(
            KeySet::from_jwks(body.as_bytes(), &[Algorithm::EdDSA])
                .unwrap()
                .len(),
            1
        );
    }

    /// JSON built from the names and values a JWK uses, nested a little.
    fn jwk_like_json() -> impl Strategy<Value = Value> {
        let strings = prop::sample::select(vec![
            "RSA", "EC", "OKP", "oct", "sig", "enc", "verify", "P-256", "P-384", "P-521",
            "Ed25519", "X25519", "RS256", "PS512", "ES256", "ES384", "EdDSA", "HS256", "none",
            "AQAB", "", "AA", ED_X,
        ])
        .prop_map(|text| Value::String(text.to_owned()));
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            strings,
            ".*".prop_map(Value::String),
            prop::collection::vec(any::<u8>(), 0..80)
                .prop_map(|bytes| Value::String(URL_SAFE_NO_PAD.encode(bytes))),
        ];
        let names = prop::sample::select(vec![
            "kty", "crv", "x", "y", "n", "e", "k", "alg", "use", "key_ops", "kid", "x5c", "x5t",
            "keys",
        ]);
        leaf.prop_recursive(4, 48, 8, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(names.clone(), inner, 0..8).prop_map(|map| {
                    Value::Object(map.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
                }),
            ]
        })
    }

    fn check_invariants(body: &[u8], allowed: &[Algorithm]) {
        if let Ok(parsed) = parse_jwks(body, allowed) {
            for key in &parsed.keys {
                assert!(allowed.contains(&key.algorithm()));
                assert_ne!(key.algorithm().family(), AlgorithmFamily::Hmac);
            }
        }
    }

    proptest! {
        #[test]
        fn parse_jwks_never_panics_on_bytes(body in prop::collection::vec(any::<u8>(), 0..256)) {
            check_invariants(&body, &ALL);
        }

        #[test]
        fn parse_jwks_never_panics_on_jwk_shaped_json(
            keys in prop::collection::vec(jwk_like_json(), 0..6),
            top in jwk_like_json(),
            allowed in prop::sample::subsequence(ALL.to_vec(), 0..=ALL.len()),
        ) {
            let body = json!({ "keys": keys }).to_string();
            check_invariants(body.as_bytes(), &allowed);
            if let Ok(parsed) = parse_jwks(body.as_bytes(), &allowed) {
                // Every element is either skipped or gives keys.
                prop_assert!(parsed.skipped.len() <= keys.len());
                prop_assert!(parsed.keys.len() + parsed.skipped.len() >= keys.len());
            }
            check_invariants(top.to_string().as_bytes(), &allowed);
        }
    }
}
