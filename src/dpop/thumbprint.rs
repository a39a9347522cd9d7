//! The RFC 7638 JWK thumbprint: the SHA-256 of a key's required public
//! members, serialised in one canonical way, base64url-encoded. It is what a
//! DPoP-bound token names in `cnf.jkt` (RFC 9449 §6.1).
//!
//! Only the members RFC 7638 §3.2 requires for the key type enter the hash,
//! in lexicographic order, without white space: `{"crv","kty","x","y"}` for
//! `EC`, `{"crv","kty","x"}` for `OKP`, `{"e","kty","n"}` for `RSA`.
//! Optional members (`kid`, `alg`, `use`, …) never change it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};
use sha2::{Digest, Sha256};

use crate::error::KeyError;

/// The members whose values enter the thumbprint of a key of type `kty`
/// (besides `kty` itself), in lexicographic order; `None` for a key type
/// DPoP does not use (`oct` among them: a shared secret has no public
/// part).
pub(crate) fn required_members(kty: &str) -> Option<&'static [&'static str]> {
    match kty {
        "EC" => Some(&["crv", "x", "y"]),
        "OKP" => Some(&["crv", "x"]),
        "RSA" => Some(&["e", "n"]),
        _ => None,
    }
}

/// The members that enter the thumbprint of some key type: a key carrying
/// one that its own type does not use (an `n` in an `EC` key) is ambiguous.
pub(crate) const THUMBPRINT_MEMBERS: [&str; 5] = ["crv", "e", "n", "x", "y"];

/// The thumbprint of a key of type `kty` whose required members (as
/// [`required_members`] lists them, in that order) have the values
/// `values`.
pub(crate) fn thumbprint(kty: &str, values: &[&str]) -> Option<String> {
    let names = required_members(kty)?;
    if names.len() != values.len() {
        return None;
    }
    // `kty` sorts between `e` and `n`, and after `crv`: it goes after every
    // member that sorts before it.
    let mut members: Vec<(&str, &str)> =
        names.iter().copied().zip(values.iter().copied()).collect();
    members.push(("kty", kty));
    members.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut json = String::with_capacity(64 + values.iter().map(|v| v.len()).sum::<usize>());
    json.push('{');
    for (at, (name, value)) in members.iter().enumerate() {
        if at > 0 {
            json.push(',');
        }
        // Names are fixed ASCII; values are escaped as JSON strings (RFC
        // 7638 §3.3), though base64url and curve names need no escapes.
        json.push('"');
        json.push_str(name);
        json.push_str("\":");
        json.push_str(&serde_json::Value::from(*value).to_string());
    }
    json.push('}');
    Some(URL_SAFE_NO_PAD.encode(Sha256::digest(json.as_bytes())))
}

/// The RFC 7638 SHA-256 thumbprint of a public JWK, base64url-encoded: the
/// value an issuer puts into `cnf.jkt` to bind a token to the key of a DPoP
/// proof (RFC 9449 §6.1).
///
/// # Errors
///
/// [`KeyError::UnsupportedKey`] for a key that is not an `EC`, `OKP` or
/// `RSA` key (an `oct` secret has no thumbprint to bind to).
pub fn jwk_thumbprint(jwk: &Jwk) -> Result<String, KeyError> {
    let unsupported = || KeyError::UnsupportedKey("a key type other than EC, OKP or RSA");
    let (kty, values) = match &jwk.algorithm {
        AlgorithmParameters::EllipticCurve(ec) => (
            "EC",
            [curve_name(&ec.curve)?, ec.x.as_str(), ec.y.as_str()].to_vec(),
        ),
        AlgorithmParameters::OctetKeyPair(okp) => {
            ("OKP", [curve_name(&okp.curve)?, okp.x.as_str()].to_vec())
        }
        AlgorithmParameters::RSA(rsa) => ("RSA", [rsa.e.as_str(), rsa.n.as_str()].to_vec()),
        _ => return Err(unsupported()),
    };
    thumbprint(kty, &values).ok_or_else(unsupported)
}

/// The JWK name of a curve (RFC 7518 §6.2.1.1, RFC 8037 §2).
fn curve_name(curve: &jsonwebtoken::jwk::EllipticCurve) -> Result<&'static str, KeyError> {
    use jsonwebtoken::jwk::EllipticCurve as C;
    Ok(match curve {
        C::P256 => "P-256",
        C::P384 => "P-384",
        C::P521 => "P-521",
        C::Ed25519 => "Ed25519",
        _ => return Err(KeyError::UnsupportedKey("an unknown curve")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7638 §3.1.
    const RFC7638_N: &str = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
    const RFC7638_THUMBPRINT: &str = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

    #[test]
    fn rfc7638_example_from_members_and_from_a_jwk() {
        assert_eq!(
            thumbprint("RSA", &["AQAB", RFC7638_N]).as_deref(),
            Some(RFC7638_THUMBPRINT)
        );
        let jwk: Jwk = serde_json::from_value(serde_json::json!({
            "kty": "RSA", "e": "AQAB", "alg": "RS256", "kid": "2011-04-29", "n": RFC7638_N,
        }))
        .unwrap();
        assert_eq!(jwk_thumbprint(&jwk).unwrap(), RFC7638_THUMBPRINT);
    }

    #[test]
    fn unknown_key_types_and_wrong_member_counts_have_no_thumbprint() {
        assert_eq!(thumbprint("oct", &["secret"]), None);
        assert_eq!(thumbprint("EC", &["P-256", "x"]), None);
        let jwk: Jwk =
            serde_json::from_value(serde_json::json!({ "kty": "oct", "k": "c2VjcmV0" })).unwrap();
        assert!(jwk_thumbprint(&jwk).is_err());
    }
}
