//! The proof verifier: one DPoP proof JWT checked as RFC 9449 §4.3 lists
//! it, against the request it came with.
//!
//! The order follows the validator's: size cap → structure (three
//! canonical base64url segments) → header (`typ`, `alg`, `jwk`) → the key
//! (public, unambiguous, not weak; built once per key, see
//! [`ProofKeys`]) → signature → claims (`htm`, `htu`,
//! `iat`, `ath`, `nonce`). Nothing in the payload is read before the
//! signature verified. The `jti` is entered into the replay cache later,
//! once the access token has verified too.

use std::borrow::Cow;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::Method;
use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::Jwk;
use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use sha2::{Digest, Sha256};

use super::htu::{self, NormalUrl};
use super::proof_keys::ProofKeys;
use super::thumbprint::{THUMBPRINT_MEMBERS, required_members, thumbprint};
use crate::claims::numeric_date;
use crate::jws::{self, Compact, algorithm_from_name};
use crate::rejection::dpop::{DpopError, ProofError};

/// JWK members that only a private key has (RFC 7518 §6.2.2, §6.3.2,
/// §6.4; RFC 8037 §2).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// What a proof must match: the request and the layer's rules.
pub(crate) struct Expected<'a> {
    pub(crate) algorithms: &'a [Algorithm],
    /// The keys of recent proofs, built once each.
    pub(crate) keys: &'a ProofKeys,
    pub(crate) method: &'a Method,
    /// The request's URL in normal form.
    pub(crate) url: &'a NormalUrl,
    /// The access token, exactly as sent; `None` for a proof that comes
    /// without one (at a token endpoint), which then needs no `ath`.
    pub(crate) token: Option<&'a [u8]>,
    pub(crate) now: u64,
    /// How old, in seconds, a proof may be.
    pub(crate) max_age: u64,
    /// How far in the future, in seconds, a proof's `iat` may be.
    pub(crate) leeway: u64,
    /// Whether a nonce is accepted: `None` when nonces are off.
    pub(crate) nonce: Option<&'a dyn Fn(&str) -> bool>,
}

/// A proof that passed every check of §4.3 but the replay check.
#[derive(Debug)]
pub(crate) struct CheckedProof {
    /// The RFC 7638 thumbprint of the proof's key.
    pub(crate) jkt: String,
    pub(crate) jti: String,
}

/// Checks `proof` against `expected`.
///
/// # Errors
///
/// [`DpopError::InvalidProof`] with the first check the proof failed, or
/// [`DpopError::UseNonce`] when nonces are on and its nonce is missing or
/// stale.
pub(crate) fn check(proof: &[u8], expected: &Expected<'_>) -> Result<CheckedProof, DpopError> {
    let invalid = DpopError::InvalidProof;
    let compact = Compact::split(proof).map_err(|_| invalid(ProofError::Malformed))?;
    let mut header = Vec::with_capacity(compact.header.len() * 3 / 4 + 3);
    jws::decode_into(compact.header, &mut header).map_err(|_| invalid(ProofError::Malformed))?;
    let header = ProofHeader::parse(&header).map_err(invalid)?;
    if !is_dpop_type(header.typ.as_deref()) {
        return Err(invalid(ProofError::WrongType));
    }
    let alg = algorithm_from_name(&header.alg)
        .filter(|alg| expected.algorithms.contains(alg))
        .ok_or(invalid(ProofError::UnsupportedAlgorithm))?;
    let JwkMembers(jwk) = header.jwk.ok_or(invalid(ProofError::InvalidKey))?;
    let jkt = public_thumbprint(&jwk).map_err(invalid)?;
    let jwk: Jwk = serde_json::from_value(serde_json::Value::Object(jwk))
        .map_err(|_| invalid(ProofError::InvalidKey))?;
    expected
        .keys
        .verify(&jwk, &jkt, alg, &compact)
        .map_err(invalid)?;

    let mut payload = Vec::with_capacity(compact.payload.len() * 3 / 4 + 3);
    jws::decode_into(compact.payload, &mut payload).map_err(|_| invalid(ProofError::Malformed))?;
    if !jws::is_json_object(&payload) {
        return Err(invalid(ProofError::InvalidClaims));
    }
    let claims: ProofClaims<'_> =
        serde_json::from_slice(&payload).map_err(|_| invalid(ProofError::InvalidClaims))?;
    if claims.jti.is_empty() {
        return Err(invalid(ProofError::InvalidClaims));
    }
    if claims.htm != expected.method.as_str() {
        return Err(invalid(ProofError::WrongMethod));
    }
    if htu::normalize(&claims.htu).as_ref() != Some(expected.url) {
        return Err(invalid(ProofError::WrongUrl));
    }
    if claims.iat.saturating_add(expected.max_age) < expected.now {
        return Err(invalid(ProofError::Stale));
    }
    if claims.iat > expected.now.saturating_add(expected.leeway) {
        return Err(invalid(ProofError::IssuedInFuture));
    }
    if let Some(token) = expected.token {
        let ath = claims
            .ath
            .ok_or(invalid(ProofError::MissingAccessTokenHash))?;
        if ath != access_token_hash(token) {
            return Err(invalid(ProofError::WrongAccessTokenHash));
        }
    }
    if let Some(accepts) = expected.nonce
        && !claims.nonce.as_deref().is_some_and(accepts)
    {
        return Err(DpopError::UseNonce);
    }
    Ok(CheckedProof {
        jkt,
        jti: claims.jti.into_owned(),
    })
}

/// `ath`: the base64url SHA-256 of an access token (RFC 9449 §4.2), the
/// claim a proof that comes with `token` must carry.
pub fn access_token_hash(token: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_ref()))
}

/// `dpop+jwt`, in any casing, with or without `application/` (RFC 7515
/// §4.1.9).
fn is_dpop_type(typ: Option<&str>) -> bool {
    let Some(typ) = typ else { return false };
    let bare = match typ.get(..12) {
        Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &typ[12..],
        _ => typ,
    };
    bare.eq_ignore_ascii_case("dpop+jwt")
}

/// The thumbprint of a proof's `jwk`, once it is known to be a public key
/// of a supported type whose members cannot be read two ways.
fn public_thumbprint(
    jwk: &serde_json::Map<String, serde_json::Value>,
) -> Result<String, ProofError> {
    if PRIVATE_MEMBERS.iter().any(|name| jwk.contains_key(*name)) {
        return Err(ProofError::PrivateKey);
    }
    let kty = jwk
        .get("kty")
        .and_then(serde_json::Value::as_str)
        .ok_or(ProofError::InvalidKey)?;
    let names = required_members(kty).ok_or(ProofError::InvalidKey)?;
    // A member of another key type's thumbprint (an `n` in an EC key)
    // makes the key ambiguous: which members are "the key" would depend on
    // who reads it.
    if THUMBPRINT_MEMBERS
        .iter()
        .any(|name| jwk.contains_key(*name) && !names.contains(name))
    {
        return Err(ProofError::AmbiguousKey);
    }
    let values = names
        .iter()
        .map(|name| jwk.get(*name).and_then(serde_json::Value::as_str))
        .collect::<Option<Vec<_>>>()
        .ok_or(ProofError::InvalidKey)?;
    thumbprint(kty, &values).ok_or(ProofError::InvalidKey)
}

/// The proof's header members that matter.
#[derive(Deserialize)]
struct ProofHeader<'a> {
    #[serde(borrow, default)]
    typ: Option<Cow<'a, str>>,
    #[serde(borrow)]
    alg: Cow<'a, str>,
    #[serde(default)]
    jwk: Option<JwkMembers>,
    /// Present at all (`null` included): refused, as the validator refuses
    /// it (RFC 7515 §4.1.11).
    #[serde(default, deserialize_with = "present")]
    crit: bool,
    /// Present at all: an unencoded payload (RFC 7797) is not a JWT.
    #[serde(default, deserialize_with = "present")]
    b64: bool,
}

impl<'a> ProofHeader<'a> {
    fn parse(json: &'a [u8]) -> Result<Self, ProofError> {
        if !jws::is_json_object(json) {
            return Err(ProofError::Malformed);
        }
        // Derived: a member given twice is an error.
        let header: Self = serde_json::from_slice(json).map_err(|_| ProofError::Malformed)?;
        if header.crit || header.b64 {
            return Err(ProofError::Malformed);
        }
        Ok(header)
    }
}

/// Deserializes any value, recording only that the member was there.
fn present<'de, D: de::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(deserializer).map(|_| true)
}

/// A `jwk` header member: a JSON object whose members each come once.
/// With a member twice, two readers (the thumbprint, the key) could see
/// two different keys; serde_json would keep the last silently.
struct JwkMembers(serde_json::Map<String, serde_json::Value>);

impl<'de> Deserialize<'de> for JwkMembers {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = JwkMembers;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JWK object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JwkMembers, A::Error> {
                let mut members = serde_json::Map::new();
                while let Some(name) = map.next_key::<String>()? {
                    let value = map.next_value()?;
                    if members.insert(name, value).is_some() {
                        return Err(de::Error::custom("a JWK member given twice"));
                    }
                }
                Ok(JwkMembers(members))
            }
        }
        deserializer.deserialize_map(MembersVisitor)
    }
}

/// A proof's claims. Derived: a claim given twice is an error; other
/// claims are ignored.
#[derive(Deserialize)]
struct ProofClaims<'a> {
    #[serde(borrow)]
    jti: Cow<'a, str>,
    #[serde(borrow)]
    htm: Cow<'a, str>,
    #[serde(borrow)]
    htu: Cow<'a, str>,
    #[serde(deserialize_with = "numeric_date")]
    iat: u64,
    #[serde(borrow, default)]
    ath: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    nonce: Option<Cow<'a, str>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        match value {
            serde_json::Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    fn vectors() -> serde_json::Value {
        serde_json::from_str(include_str!("../../tests/data/vectors/dpop_vectors.json")).unwrap()
    }

    /// RFC 9449 Figure 2, checked by the verifier as of its own `iat`.
    // Asymmetric keys: only with a crypto backend.
    #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
    #[test]
    fn rfc9449_example_proof_verifies_as_of_its_iat_and_not_for_another_request() {
        let vectors = vectors();
        let vector = &vectors["rfc9449_proof"];
        let proof = vector["proof"].as_str().unwrap();
        let iat = vector["iat"].as_u64().unwrap();
        let url = htu::normalize(vector["htu"].as_str().unwrap()).unwrap();
        let algorithms = [Algorithm::ES256];
        let keys = ProofKeys::new(8);
        let expected = |method: &'static Method, now: u64| Expected {
            algorithms: &algorithms,
            keys: &keys,
            method,
            url: &url,
            token: None,
            now,
            max_age: 60,
            leeway: 5,
            nonce: None,
        };
        let checked = check(proof.as_bytes(), &expected(&Method::POST, iat)).unwrap();
        assert_eq!(checked.jkt, vector["jkt"].as_str().unwrap());
        assert_eq!(checked.jti, "-BwC3ESc6acc2lTc");

        let refused = |expected: &Expected<'_>| check(proof.as_bytes(), expected).unwrap_err();
        assert_eq!(
            refused(&expected(&Method::GET, iat)),
            DpopError::InvalidProof(ProofError::WrongMethod)
        );
        assert_eq!(
            refused(&expected(&Method::POST, iat + 61)),
            DpopError::InvalidProof(ProofError::Stale)
        );
        // With an access token, the proof lacks `ath`.
        let with_token = Expected {
            token: Some(b"a.b.c"),
            ..expected(&Method::POST, iat)
        };
        assert_eq!(
            refused(&with_token),
            DpopError::InvalidProof(ProofError::MissingAccessTokenHash)
        );
        // One bit of the signature flipped.
        let mut tampered = proof.to_owned().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            check(&tampered, &expected(&Method::POST, iat)).unwrap_err(),
            DpopError::InvalidProof(ProofError::InvalidSignature)
        );
    }

    #[test]
    fn ath_of_rfc9449_section_7_1() {
        let vectors = vectors();
        let vector = &vectors["rfc9449_ath"];
        assert_eq!(
            access_token_hash(vector["access_token"].as_str().unwrap()),
            vector["ath"].as_str().unwrap()
        );
    }

    #[test]
    fn the_dpop_type_in_any_casing_with_or_without_application() {
        for typ in [
            "dpop+jwt",
            "DPoP+JWT",
            "application/dpop+jwt",
            "Application/DPOP+jwt",
        ] {
            assert!(is_dpop_type(Some(typ)), "{typ}");
        }
        for typ in [
            None,
            Some("JWT"),
            Some("at+jwt"),
            Some("application/"),
            Some("dpop"),
        ] {
            assert!(!is_dpop_type(typ), "{typ:?}");
        }
    }

    #[test]
    fn optional_members_leave_the_thumbprint_alone_and_foreign_or_private_ones_refuse_the_key() {
        let ec = serde_json::json!({
            "kty": "EC", "crv": "P-256",
            "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
            "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
        });
        // RFC 9449 §6.1 Figure 9: the thumbprint of the Figure 2 key.
        let plain = public_thumbprint(&members(ec.clone())).unwrap();
        assert_eq!(plain, "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I");
        let mut extra = ec.clone();
        extra["kid"] = "k1".into();
        extra["alg"] = "ES256".into();
        extra["use"] = "sig".into();
        assert_eq!(public_thumbprint(&members(extra)).unwrap(), plain);

        let mut foreign = ec.clone();
        foreign["n"] = "AQAB".into();
        assert_eq!(
            public_thumbprint(&members(foreign)),
            Err(ProofError::AmbiguousKey)
        );
        let mut private = ec.clone();
        private["d"] = "AAAA".into();
        assert_eq!(
            public_thumbprint(&members(private)),
            Err(ProofError::PrivateKey)
        );
        let mut not_string = ec;
        not_string["x"] = 5.into();
        assert_eq!(
            public_thumbprint(&members(not_string)),
            Err(ProofError::InvalidKey)
        );
        let oct = serde_json::json!({ "kty": "oct", "alg": "HS256" });
        assert_eq!(
            public_thumbprint(&members(oct)),
            Err(ProofError::InvalidKey)
        );
    }

    #[test]
    fn a_jwk_member_given_twice_is_malformed() {
        let header = br#"{"typ":"dpop+jwt","alg":"ES256","jwk":{"kty":"EC","x":"a","x":"b"}}"#;
        assert!(matches!(
            ProofHeader::parse(header),
            Err(ProofError::Malformed)
        ));
        let twice = br#"{"typ":"dpop+jwt","alg":"ES256","alg":"ES256"}"#;
        assert!(matches!(
            ProofHeader::parse(twice),
            Err(ProofError::Malformed)
        ));
        for crit in [
            &br#"{"typ":"dpop+jwt","alg":"ES256","crit":["x"]}"#[..],
            br#"{"typ":"dpop+jwt","alg":"ES256","crit":null}"#,
            br#"{"typ":"dpop+jwt","alg":"ES256","b64":true}"#,
        ] {
            assert!(matches!(
                ProofHeader::parse(crit),
                Err(ProofError::Malformed)
            ));
        }
    }
}

/// The key step with the cache against the key step as it was before the
/// cache (the key built from the `jwk`, its verifier built twice, no
/// memory of earlier proofs): over sequences of proofs by a few fixed and
/// many generated keys, with the members a thumbprint does not cover
/// varied, tampered signatures and payloads, keys off their curve, and a
/// cache small enough to evict, every proof gets the same verdict from
/// both.
// Asymmetric keys: only with a crypto backend.
#[cfg(all(test, any(feature = "aws-lc-rs", feature = "rust-crypto")))]
mod differential {
    use base64::engine::general_purpose::STANDARD;
    use jsonwebtoken::EncodingKey;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;
    use crate::SigningKey;
    use crate::key::Key;

    /// The key step as it was: the key built (one verifier to check it),
    /// the payload's encoding, the signature (another verifier).
    fn uncached(jwk: &Jwk, alg: Algorithm, compact: &Compact<'_>) -> Result<(), ProofError> {
        let key = Key::from_jwk_with(jwk, alg).map_err(|_| ProofError::InvalidKey)?;
        jws::check_canonical(compact.payload).map_err(|_| ProofError::Malformed)?;
        key.verify(compact.signing_input, compact.signature)
            .map_err(|_| ProofError::InvalidSignature)
    }

    /// A signer: its algorithm, private key, and public JWK members.
    #[derive(Clone)]
    struct Signer {
        alg: Algorithm,
        encoding: EncodingKey,
        jwk: Value,
    }

    fn data(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/data/keys/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    fn public_members(signing: &SigningKey) -> Value {
        let mut jwk = signing.public_jwk().unwrap().clone();
        jwk.common = Default::default();
        serde_json::to_value(jwk).unwrap()
    }

    fn fixed_signers() -> Vec<Signer> {
        let ec = |alg, name: &str| {
            let pem = data(name);
            Signer {
                alg,
                encoding: EncodingKey::from_ec_pem(&pem).unwrap(),
                jwk: public_members(&SigningKey::ec_pem(alg, &pem).unwrap()),
            }
        };
        let rsa = |alg, name: &str| {
            let pem = data(name);
            Signer {
                alg,
                encoding: EncodingKey::from_rsa_pem(&pem).unwrap(),
                jwk: public_members(&SigningKey::rsa_pem(alg, &pem).unwrap()),
            }
        };
        let rsa_weak = Signer {
            // A 1024-bit key: it signs, but no verifier may accept it.
            alg: Algorithm::RS256,
            encoding: EncodingKey::from_rsa_pem(&data("rsa1024_private.pem")).unwrap(),
            jwk: rsa_members(&data("rsa1024_public_pkcs1.pem")),
        };
        vec![
            ec(Algorithm::ES256, "ec256_private.pem"),
            ec(Algorithm::ES384, "ec384_private.pem"),
            rsa(Algorithm::RS256, "rsa_private.pem"),
            rsa(Algorithm::PS256, "rsa_private.pem"),
            rsa_weak,
            ed25519(&data("ed25519_private.pem")),
        ]
    }

    /// The JWK members of a PKCS#1 `RSA PUBLIC KEY` PEM.
    fn rsa_members(pem: &[u8]) -> Value {
        use pkcs1::der::Decode;
        let body: String = std::str::from_utf8(pem)
            .unwrap()
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .collect();
        let der = STANDARD.decode(body).unwrap();
        let rsa = pkcs1::RsaPublicKeyRef::from_der(&der).unwrap();
        json!({
            "kty": "RSA",
            "n": URL_SAFE_NO_PAD.encode(rsa.modulus.as_bytes()),
            "e": URL_SAFE_NO_PAD.encode(rsa.public_exponent.as_bytes()),
        })
    }

    /// An Ed25519 signer from a PEM private key.
    fn ed25519(pem: &[u8]) -> Signer {
        Signer {
            alg: Algorithm::EdDSA,
            encoding: EncodingKey::from_ed_pem(pem).unwrap(),
            jwk: public_members(&SigningKey::ed_pem(pem).unwrap()),
        }
    }

    /// An Ed25519 signer of a generated seed (PKCS#8 v1: a fixed prefix,
    /// then the seed).
    fn generated(seed: [u8; 32]) -> Signer {
        let mut der = PKCS8_ED25519_PREFIX.to_vec();
        der.extend_from_slice(&seed);
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(der)
        );
        ed25519(pem.as_bytes())
    }

    /// The DER of a PKCS#8 v1 Ed25519 private key up to its 32-byte seed.
    const PKCS8_ED25519_PREFIX: [u8; 16] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];

    /// What a proof changes from a good one.
    #[derive(Debug, Clone)]
    enum Change {
        None,
        /// Members the thumbprint does not cover.
        Member(&'static str, Value),
        /// Another `alg` in the header than the signer's.
        HeaderAlg(Algorithm),
        /// One bit of the signature flipped.
        Signature,
        /// The payload's last character changed to a non-canonical one.
        Payload,
        /// One character of `x` (or `n`) changed: a key off its curve, or
        /// another key.
        KeyBytes,
        /// Signed by another signer than the `jwk` names.
        OtherSigner(usize),
    }

    fn change() -> impl Strategy<Value = Change> {
        prop_oneof![
            Just(Change::None),
            Just(Change::Member("use", json!("sig"))),
            Just(Change::Member("use", json!("enc"))),
            Just(Change::Member("key_ops", json!(["verify"]))),
            Just(Change::Member("key_ops", json!(["sign"]))),
            Just(Change::Member("alg", json!("ES256"))),
            Just(Change::Member("alg", json!("RS256"))),
            Just(Change::Member("alg", json!("RSA-OAEP"))),
            Just(Change::Member("kid", json!("k1"))),
            prop_oneof![
                Just(Algorithm::ES256),
                Just(Algorithm::ES384),
                Just(Algorithm::EdDSA),
                Just(Algorithm::RS256),
                Just(Algorithm::PS256),
            ]
            .prop_map(Change::HeaderAlg),
            Just(Change::Signature),
            Just(Change::Payload),
            Just(Change::KeyBytes),
            (0usize..8).prop_map(Change::OtherSigner),
        ]
    }

    fn proof(signers: &[Signer], signer: usize, change: &Change) -> String {
        let signer = &signers[signer % signers.len()];
        let mut jwk = signer.jwk.clone();
        let mut alg = signer.alg;
        let mut by = signer;
        match change {
            Change::Member(name, value) => jwk[*name] = value.clone(),
            Change::HeaderAlg(other) => alg = *other,
            Change::KeyBytes => {
                let member = if jwk.get("x").is_some() { "x" } else { "n" };
                let mut value = jwk[member].as_str().unwrap().to_owned().into_bytes();
                value[3] = if value[3] == b'A' { b'B' } else { b'A' };
                jwk[member] = Value::from(String::from_utf8(value).unwrap());
            }
            Change::OtherSigner(other) => by = &signers[*other % signers.len()],
            _ => {}
        }
        let header = json!({ "typ": "dpop+jwt", "alg": format!("{alg:?}"), "jwk": jwk });
        let payload = json!({ "jti": "j", "htm": "GET", "htu": "https://a.example/", "iat": 1 });
        let mut payload = URL_SAFE_NO_PAD.encode(payload.to_string());
        if matches!(change, Change::Payload) {
            // `}` encodes to a last character whose low bits are zero;
            // any other bit set there is non-canonical.
            let last = payload.pop().unwrap();
            payload.push(if last == 'Q' { 'R' } else { 'Q' });
        }
        let input = format!("{}.{payload}", URL_SAFE_NO_PAD.encode(header.to_string()));
        // A backend that will not sign with a weak key: a signature of
        // the right shape that verifies nothing.
        let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &by.encoding, by.alg)
            .unwrap_or_else(|_| "A".repeat(86));
        let mut signature = signature.into_bytes();
        if matches!(change, Change::Signature) {
            signature[5] = if signature[5] == b'A' { b'B' } else { b'A' };
        }
        format!("{input}.{}", String::from_utf8(signature).unwrap())
    }

    /// Both key steps' verdicts on `proof`, `None` when it fails before the
    /// key step (then both paths refuse it the same way already).
    fn verdicts(
        keys: &ProofKeys,
        proof: &str,
    ) -> Option<(Result<(), ProofError>, Result<(), ProofError>)> {
        let compact = Compact::split(proof.as_bytes()).ok()?;
        let mut header = Vec::new();
        jws::decode_into(compact.header, &mut header).ok()?;
        let header = ProofHeader::parse(&header).ok()?;
        let alg = algorithm_from_name(&header.alg)?;
        let JwkMembers(members) = header.jwk?;
        let jkt = public_thumbprint(&members).ok()?;
        let jwk: Jwk = serde_json::from_value(Value::Object(members)).ok()?;
        Some((
            keys.verify(&jwk, &jkt, alg, &compact),
            uncached(&jwk, alg, &compact),
        ))
    }

    #[test]
    fn every_fixed_signer_and_change_gets_the_same_verdict_cold_and_warm() {
        let signers = fixed_signers();
        let changes: Vec<Change> = std::iter::once(Change::None)
            .chain([
                Change::Member("use", json!("enc")),
                Change::Member("key_ops", json!(["sign"])),
                Change::Member("alg", json!("RS256")),
                Change::HeaderAlg(Algorithm::PS256),
                Change::Signature,
                Change::Payload,
                Change::KeyBytes,
                Change::OtherSigner(0),
            ])
            .collect();
        let keys = ProofKeys::new(64);
        let mut accepted = 0;
        // Twice: the second round finds every key the first one built.
        for _ in 0..2 {
            for signer in 0..signers.len() {
                for change in &changes {
                    let proof = proof(&signers, signer, change);
                    let Some((cached, reference)) = verdicts(&keys, &proof) else {
                        continue;
                    };
                    assert_eq!(cached, reference, "signer {signer}, {change:?}");
                    accepted += usize::from(cached.is_ok());
                }
            }
        }
        // Good proofs by the usable keys pass, so the comparison is not
        // between two paths that refuse everything.
        assert!(accepted >= 10, "{accepted}");
        assert!(keys.len() > 0);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        #[test]
        fn sequences_of_proofs_by_generated_keys_get_the_same_verdicts(
            seeds in prop::collection::vec(any::<[u8; 32]>(), 1..4),
            steps in prop::collection::vec((0usize..8, change()), 1..12),
        ) {
            let signers: Vec<Signer> = seeds.into_iter().map(generated).collect();
            // Room for two keys: a sequence of more evicts.
            let keys = ProofKeys::new(2);
            for (signer, change) in &steps {
                let proof = proof(&signers, *signer, change);
                if let Some((cached, reference)) = verdicts(&keys, &proof) {
                    prop_assert_eq!(cached, reference, "{:?}", change);
                }
            }
        }
    }
}
