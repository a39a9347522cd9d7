//! The key an access token is bound to: its `cnf` claim (RFC 7800), whose
//! `jkt` member names a DPoP key by its thumbprint (RFC 9449 §6.1).
//!
//! Read from a DPoP request's token before the token is validated, so that
//! a token bound to another key is refused before it could enter the
//! verified-token cache. The token is then validated as sent, byte for byte:
//! once its signature verified, the binding read here is the issuer's.
//!
//! A bearer token's binding comes with its validation instead (the
//! validator notes `cnf` with the registered claims, and a cache entry keeps
//! it), so that a cached bearer token is not read twice; a bound one is not
//! entered. Only a bearer token the validator refused is read here, to
//! refuse it as bound whatever else is wrong with it.

use std::fmt;

use serde::Deserializer as _;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};

use crate::jws::{self, Compact};
use crate::validator::CowStr;

/// What a token's payload says about its binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Binding {
    /// No `cnf` claim: a bearer token.
    Unbound,
    /// `cnf.jkt`: bound to the DPoP key of this thumbprint.
    Jkt(String),
    /// A `cnf` claim without a usable `jkt` (another confirmation method,
    /// such as an mTLS certificate's `x5t#S256`, a `jkt` that is not a
    /// string, or `cnf` twice): bound to something this layer cannot
    /// check.
    Other,
}

/// The binding of `token`; `None` when its payload is not a JSON object in
/// canonical base64url (a token the validator refuses anyway).
pub(crate) fn binding(token: &[u8]) -> Option<Binding> {
    let compact = Compact::split(token).ok()?;
    let mut payload = Vec::with_capacity(compact.payload.len() * 3 / 4 + 3);
    jws::decode_into(compact.payload, &mut payload).ok()?;
    if !jws::is_json_object(&payload) {
        return None;
    }
    binding_of_claims(&payload)
}

/// The binding a JSON claims object states: a JWT's payload, or an
/// introspection answer (RFC 9449 §6.2); `None` when it is not a JSON
/// object.
pub(crate) fn binding_of_claims(claims: &[u8]) -> Option<Binding> {
    let mut de = serde_json::Deserializer::from_slice(claims);
    let binding = de.deserialize_map(PayloadVisitor).ok()?;
    de.end().ok()?;
    Some(binding)
}

/// Reads a claims object for `cnf` alone.
struct PayloadVisitor;

impl<'de> Visitor<'de> for PayloadVisitor {
    type Value = Binding;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JWT claims object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Binding, A::Error> {
        let mut binding = Binding::Unbound;
        while let Some(CowStr(name)) = map.next_key()? {
            if name != "cnf" {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let Cnf(jkt) = map.next_value()?;
            binding = match (binding, jkt) {
                (Binding::Unbound, Some(jkt)) => Binding::Jkt(jkt),
                _ => Binding::Other,
            };
        }
        Ok(binding)
    }
}

/// A `cnf` value: its `jkt` if it is an object with exactly one string
/// `jkt`.
struct Cnf(Option<String>);

impl<'de> de::Deserialize<'de> for Cnf {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CnfVisitor;
        impl<'de> Visitor<'de> for CnfVisitor {
            type Value = Cnf;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a confirmation claim")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Cnf, A::Error> {
                let mut jkt = None;
                let mut usable = true;
                while let Some(CowStr(name)) = map.next_key()? {
                    if name != "jkt" {
                        map.next_value::<IgnoredAny>()?;
                        continue;
                    }
                    match map.next_value::<serde_json::Value>()? {
                        serde_json::Value::String(value) if jkt.is_none() => jkt = Some(value),
                        _ => usable = false,
                    }
                }
                Ok(Cnf(jkt.filter(|_| usable)))
            }
            // Any other JSON value is a confirmation this layer cannot use.
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Cnf, E> {
                Ok(Cnf(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Cnf, E> {
                Ok(Cnf(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Cnf, E> {
                Ok(Cnf(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Cnf, E> {
                Ok(Cnf(None))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Cnf, E> {
                Ok(Cnf(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Cnf, E> {
                Ok(Cnf(None))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Cnf, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Cnf(None))
            }
        }
        deserializer.deserialize_any(CnfVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(payload: &str) -> Vec<u8> {
        use base64::Engine;
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.c2ln", b64(r#"{"alg":"ES256"}"#), b64(payload)).into_bytes()
    }

    #[test]
    fn cnf_jkt_is_read_and_anything_else_in_cnf_is_another_binding() {
        let cases = [
            (r#"{"sub":"a"}"#, Some(Binding::Unbound)),
            (r#"{"cnf":{"jkt":"abc"}}"#, Some(Binding::Jkt("abc".into()))),
            (
                r#"{"cnf":{"jkt":"abc","x":1}}"#,
                Some(Binding::Jkt("abc".into())),
            ),
            (r#"{"cnf":{"x5t#S256":"abc"}}"#, Some(Binding::Other)),
            (r#"{"cnf":{"jkt":5}}"#, Some(Binding::Other)),
            (r#"{"cnf":{"jkt":"a","jkt":"b"}}"#, Some(Binding::Other)),
            (
                r#"{"cnf":{"jkt":"a"},"cnf":{"jkt":"a"}}"#,
                Some(Binding::Other),
            ),
            (r#"{"cnf":"abc"}"#, Some(Binding::Other)),
            (r#"{"cnf":null}"#, Some(Binding::Other)),
            (r#"{"cnf":[1]}"#, Some(Binding::Other)),
            (r#"[1]"#, None),
            (r#"{"cnf":"#, None),
            (r#"{} x"#, None),
        ];
        for (payload, expected) in cases {
            assert_eq!(binding(&token(payload)), expected, "{payload}");
        }
        assert_eq!(binding(b"not a token"), None);
    }

    /// A bearer token's binding as the validator finds it, in the pass that
    /// reads its registered claims, and as a cache hit returns it.
    fn validator_says_bound(payload: &str) -> Option<bool> {
        use base64::Engine;
        use hmac::{Hmac, KeyInit, Mac};
        const SECRET: &[u8] = b"a binding-test secret of at least 32 bytes";
        let b64 = |s: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let input = format!("{}.{}", b64(br#"{"alg":"HS256"}"#), b64(payload.as_bytes()));
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET).unwrap();
        mac.update(input.as_bytes());
        let token = format!("{input}.{}", b64(&mac.finalize().into_bytes()));
        let key = crate::Key::hmac(crate::Algorithm::HS256, SECRET).unwrap();
        let validator =
            crate::validator::Validator::new(key, crate::validator::Validation::new()).unwrap();
        let cache = crate::cache::TokenCache::<IgnoredAny>::new(4, &validator).unwrap();
        let uncached = validator
            .verify_at(
                token.as_bytes(),
                crate::validator::now,
                |_: IgnoredAny, registered| registered.bound,
            )
            .ok();
        let cached = || {
            cache
                .validate(&validator, token.as_bytes(), true)
                .ok()
                .map(|verified| verified.bound)
        };
        let (first, hit) = (cached(), cached());
        assert_eq!((first, hit), (uncached, uncached), "{payload}");
        if uncached.is_some() {
            assert_eq!(cache.len(), 1, "{payload}");
        }
        uncached
    }

    fn reader_says_bound(payload: &str) -> bool {
        matches!(
            binding(&token(payload)),
            Some(Binding::Jkt(_) | Binding::Other)
        )
    }

    #[test]
    fn the_validator_finds_cnf_as_the_binding_reader_does() {
        for (payload, bound) in [
            (r#"{"sub":"a"}"#, false),
            (r#"{"sub":"a","cnf":{"jkt":"abc"}}"#, true),
            (r#"{"cnf":null}"#, true),
            (r#"{"cn\u0066":{"jkt":"abc"}}"#, true),
            (r#"{"x":{"cnf":{"jkt":"abc"}}}"#, false),
            (r#"{"cnfx":1,"Cnf":2}"#, false),
        ] {
            let payload = payload.replacen('{', r#"{"exp":4000000000,"scope":"access_token","#, 1);
            assert_eq!(validator_says_bound(&payload), Some(bound), "{payload}");
            assert_eq!(reader_says_bound(&payload), bound, "{payload}");
        }
    }

    proptest::proptest! {
        /// The fast path (the flag read with the registered claims, kept in
        /// the cache entry) against the reader a refused token still goes
        /// through, over payloads of the members that matter.
        #[test]
        fn the_validators_bound_flag_agrees_with_the_binding_reader(
            members in proptest::collection::vec(
                (
                    proptest::sample::select(&[
                        "cnf", "sub", "x", r"cn\u0066", r"\u0063nf", "jkt", "cnf ", "CNF",
                    ][..]),
                    proptest::sample::select(&[
                        r#"{"jkt":"abc"}"#, r#"{"x5t#S256":"a"}"#, "1", r#""s""#, "null",
                        r#"[1,{"cnf":1}]"#, r#"{"jkt":1}"#, r#"{"jkt":"a","jkt":"b"}"#, "true",
                        r#"{"cnf":{"jkt":"a"}}"#, "{}",
                    ][..]),
                ),
                0..5,
            ),
        ) {
            let mut payload = String::from(r#"{"exp":4000000000,"scope":"access_token""#);
            for (name, value) in members {
                payload.push_str(&format!(r#","{name}":{value}"#));
            }
            payload.push('}');
            let verified = validator_says_bound(&payload);
            // A payload the validator refuses (a `sub` that isn't a string, or
            // twice) is not this path's; the reader decides those.
            proptest::prop_assume!(verified.is_some());
            proptest::prop_assert_eq!(verified, Some(reader_says_bound(&payload)), "{}", payload);
        }
    }
}
