//! Compact JWS parsing: splitting, canonical base64url, and the header.
//!
//! Only the header members that matter for verification are read: `alg`,
//! `kid` and `crit`. `jku`, `x5u`, `jwk` and `x5c` are never followed or
//! trusted: keys come from the key set alone.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::IgnoredAny;

use jsonwebtoken::Algorithm;

use crate::error::TokenError;

/// The algorithm named by a JOSE `alg` header value, matched exactly.
///
/// `none` (in any casing) and every unknown name give `None`.
pub(crate) fn algorithm_from_name(name: &str) -> Option<Algorithm> {
    Some(match name {
        "HS256" => Algorithm::HS256,
        "HS384" => Algorithm::HS384,
        "HS512" => Algorithm::HS512,
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        _ => return None,
    })
}

/// The three segments of a compact JWS, still encoded.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Compact<'a> {
    pub(crate) header: &'a [u8],
    pub(crate) payload: &'a [u8],
    pub(crate) signature: &'a [u8],
    /// `header.payload`, the bytes the signature covers, exactly as sent.
    pub(crate) signing_input: &'a [u8],
}

impl<'a> Compact<'a> {
    /// Splits a token into its three segments. No decoding happens here, and
    /// nothing that is not three non-empty base64url segments gets further.
    pub(crate) fn split(token: &'a [u8]) -> Result<Self, TokenError> {
        // One branch-free pass over the whole token (the compiler vectorizes
        // it), then the dots are found with memchr: garbage costs a few
        // nanoseconds per hundred bytes.
        if !token
            .iter()
            .fold(true, |ok, &byte| ok & is_base64url_or_dot(byte))
        {
            return Err(TokenError::Malformed);
        }
        let first = memchr::memchr(b'.', token).ok_or(TokenError::Malformed)?;
        let second = memchr::memchr(b'.', &token[first + 1..])
            .map(|at| first + 1 + at)
            .ok_or(TokenError::Malformed)?;
        if memchr::memchr(b'.', &token[second + 1..]).is_some() {
            return Err(TokenError::Malformed);
        }
        let header = &token[..first];
        let payload = &token[first + 1..second];
        let signature = &token[second + 1..];
        if header.is_empty() || payload.is_empty() || signature.is_empty() {
            return Err(TokenError::Malformed);
        }
        Ok(Self {
            header,
            payload,
            signature,
            signing_input: &token[..second],
        })
    }
}

/// Whether `token` has a dot, with a non-empty segment before it: a cheap
/// first look that turns most garbage away before anything else is done
/// with it. It stops at the first dot, which in a JWS ends the header, so a
/// valid token costs a few dozen bytes of scanning here, however long its
/// signature; [`Compact::split`] checks the rest.
pub(crate) fn has_header_segment(token: &[u8]) -> bool {
    memchr::memchr(b'.', token).is_some_and(|at| at > 0)
}

/// Whether `byte` is in the base64url alphabet or is a dot, without
/// branches.
fn is_base64url_or_dot(byte: u8) -> bool {
    // `| 0x20` folds upper case onto lower case; no other byte lands in a..=z.
    // `-`, `.` and the digits lie in 0x2D..=0x39, with `/` (0x2F) among them.
    ((byte | 0x20).wrapping_sub(b'a') < 26)
        | ((byte.wrapping_sub(b'-') <= b'9' - b'-') & (byte != b'/'))
        | (byte == b'_')
}

/// Decodes canonical, unpadded base64url into `buf`, growing it as needed.
/// Non-canonical trailing bits and padding are refused.
pub(crate) fn decode_into(segment: &[u8], buf: &mut Vec<u8>) -> Result<(), TokenError> {
    buf.clear();
    decode_append(segment, buf)
}

/// Checks, without decoding, that a segment which [`Compact::split`] let
/// through (so all of it is in the base64url alphabet) is canonical,
/// unpadded base64url: exactly the segments [`decode_into`] accepts. Lets
/// the payload be decoded only once its signature verified, while no crypto
/// runs on a token that is not canonical base64url throughout.
pub(crate) fn check_canonical(segment: &[u8]) -> Result<(), TokenError> {
    // The bits of the last symbol that fall beyond the last whole byte.
    let spare_bits = match segment.len() % 4 {
        0 => return Ok(()),
        1 => return Err(TokenError::Malformed),
        2 => 0b1111,
        _ => 0b11,
    };
    let value = match segment.last().copied().unwrap_or(b'A') {
        byte @ b'A'..=b'Z' => byte - b'A',
        byte @ b'a'..=b'z' => byte - b'a' + 26,
        byte @ b'0'..=b'9' => byte - b'0' + 52,
        b'-' => 62,
        b'_' => 63,
        _ => return Err(TokenError::Malformed),
    };
    if value & spare_bits == 0 {
        Ok(())
    } else {
        Err(TokenError::Malformed)
    }
}

/// As [`decode_into`], appending to what `buf` holds.
pub(crate) fn decode_append(segment: &[u8], buf: &mut Vec<u8>) -> Result<(), TokenError> {
    URL_SAFE_NO_PAD
        .decode_vec(segment, buf)
        .map_err(|_| TokenError::Malformed)
}

/// The usual encoded headers naming `alg`: `{"alg":"…","typ":"JWT"}` (this
/// crate, PyJWT), `{"typ":"JWT","alg":"…"}` (jsonwebtoken) and
/// `{"alg":"…"}`.
pub(crate) fn common_headers(alg: Algorithm) -> [String; 3] {
    let name = format!("{alg:?}");
    [
        format!(r#"{{"alg":"{name}","typ":"JWT"}}"#),
        format!(r#"{{"typ":"JWT","alg":"{name}"}}"#),
        format!(r#"{{"alg":"{name}"}}"#),
    ]
    .map(|json| URL_SAFE_NO_PAD.encode(json))
}

/// Whether the JSON text starts with `{` (after white space): a JOSE header
/// and a JWT claims set must be JSON objects, and serde's derived structs
/// would otherwise also accept arrays.
pub(crate) fn is_json_object(json: &[u8]) -> bool {
    json.iter()
        .find(|byte| !matches!(byte, b' ' | b'\t' | b'\r' | b'\n'))
        == Some(&b'{')
}

/// The header members this crate reads.
#[derive(Debug, Deserialize)]
pub(crate) struct Header<'a> {
    #[serde(borrow)]
    pub(crate) alg: Cow<'a, str>,
    #[serde(borrow, default)]
    pub(crate) kid: Option<Cow<'a, str>>,
    /// The media type of the whole token (RFC 7515 §4.1.9), checked when
    /// the rules require one (RFC 9068 `at+jwt`).
    #[serde(borrow, default)]
    pub(crate) typ: Option<Cow<'a, str>>,
    /// Whether a `crit` member is present, whatever its value (`null`
    /// included: a present `crit` that is not a valid list is no better).
    #[serde(default, deserialize_with = "present")]
    crit: bool,
    /// RFC 7797: `false` would mean an unencoded payload, which this crate
    /// does not implement.
    #[serde(default)]
    b64: Option<bool>,
}

/// Deserializes any value, recording only that the member was there.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(deserializer).map(|_| true)
}

impl<'a> Header<'a> {
    /// Parses a decoded header.
    ///
    /// # Errors
    ///
    /// [`TokenError::Malformed`] unless the header is a JSON object with a
    /// string `alg` (duplicate members are refused too), or with `b64`
    /// false;
    /// [`TokenError::UnsupportedCritical`] if it has a `crit` member: this
    /// crate implements no extension that `crit` could name, so RFC 7515
    /// §4.1.11 requires the token to be refused.
    pub(crate) fn parse(json: &'a [u8]) -> Result<Self, TokenError> {
        if !is_json_object(json) {
            return Err(TokenError::Malformed);
        }
        let header: Self = serde_json::from_slice(json).map_err(|_| TokenError::Malformed)?;
        if header.crit {
            return Err(TokenError::UnsupportedCritical);
        }
        if header.b64 == Some(false) {
            return Err(TokenError::Malformed);
        }
        Ok(header)
    }

    /// Checks that the registered members this crate does not use (`typ`,
    /// `cty`, `jku`, `jwk`, `x5c`, …) have their registered types, as
    /// jsonwebtoken requires: both refuse the same headers. Called once the
    /// algorithm is known to be supported; only unusual headers get here,
    /// the usual ones are recognised unparsed.
    ///
    /// # Errors
    ///
    /// [`TokenError::Malformed`] for a member of the wrong type.
    pub(crate) fn check_members(json: &[u8]) -> Result<(), TokenError> {
        serde_json::from_slice::<jsonwebtoken::Header>(json)
            .map(drop)
            .map_err(|_| TokenError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_requires_exactly_three_non_empty_segments() {
        assert!(Compact::split(b"a.b.c").is_ok());
        for bad in [
            &b""[..],
            b"a",
            b"a.b",
            b"a.b.c.d",
            b"a..c",
            b".b.c",
            b"a.b.",
            b"a.b.c=",
            b"a+b.c.d",
            b"a.b.c\n",
        ] {
            assert_eq!(
                Compact::split(bad).unwrap_err(),
                TokenError::Malformed,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn common_headers_parse_to_their_algorithm_alone() {
        for name in [
            "HS256", "HS384", "HS512", "RS256", "PS512", "ES256", "ES384", "EdDSA",
        ] {
            let alg = algorithm_from_name(name).unwrap();
            for encoded in common_headers(alg) {
                let json = URL_SAFE_NO_PAD.decode(encoded).unwrap();
                let header = Header::parse(&json).unwrap();
                assert_eq!((&*header.alg, header.kid), (name, None));
            }
        }
    }

    #[test]
    fn signing_input_is_the_bytes_as_sent() {
        let compact = Compact::split(b"aGk.eW8.c2ln").unwrap();
        assert_eq!(compact.signing_input, b"aGk.eW8");
        assert_eq!(compact.signature, b"c2ln");
    }

    #[test]
    fn decode_refuses_non_canonical_base64url() {
        let mut buf = Vec::new();
        assert!(decode_into(b"QQ", &mut buf).is_ok());
        assert_eq!(buf, b"A");
        // "QR" decodes to the same byte with non-zero trailing bits.
        assert_eq!(
            decode_into(b"QR", &mut buf).unwrap_err(),
            TokenError::Malformed
        );
        assert_eq!(
            decode_into(b"Q", &mut buf).unwrap_err(),
            TokenError::Malformed
        );
    }

    #[test]
    fn check_canonical_accepts_exactly_what_decoding_accepts() {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut buf = Vec::new();
        let mut segment = Vec::new();
        // Every segment of one to three symbols, and each behind a full
        // quantum: the last quantum alone decides canonicity.
        for len in 1..=3 {
            for index in 0..ALPHABET.len().pow(len) {
                for prefix in [&b""[..], b"QUJD"] {
                    segment.clear();
                    segment.extend_from_slice(prefix);
                    let mut rest = index;
                    for _ in 0..len {
                        segment.push(ALPHABET[rest % ALPHABET.len()]);
                        rest /= ALPHABET.len();
                    }
                    assert_eq!(
                        check_canonical(&segment).is_ok(),
                        decode_into(&segment, &mut buf).is_ok(),
                        "{segment:?}"
                    );
                }
            }
        }
        assert!(check_canonical(b"QUJD").is_ok());
        assert_eq!(
            check_canonical(b"QUJDR").unwrap_err(),
            TokenError::Malformed
        );
    }

    #[test]
    fn header_must_be_an_object_with_a_string_alg_and_no_crit() {
        assert_eq!(
            Header::parse(br#"{"alg":"HS256","kid":"k1"}"#)
                .unwrap()
                .kid
                .as_deref(),
            Some("k1")
        );
        assert_eq!(
            Header::parse(b" {\"typ\":\"JWT\",\r\n \"alg\":\"HS256\"}")
                .unwrap()
                .alg,
            "HS256"
        );
        for bad in [
            &br#"["HS256"]"#[..],
            br#"{"alg":1}"#,
            br#"{}"#,
            br#"{"alg":"HS256","alg":"none"}"#,
            b"not json",
        ] {
            assert_eq!(
                Header::parse(bad).unwrap_err(),
                TokenError::Malformed,
                "{bad:?}"
            );
        }
        for crit in [
            &br#"{"alg":"HS256","crit":["exp"],"exp":1}"#[..],
            br#"{"alg":"HS256","crit":null}"#,
            br#"{"alg":"HS256","crit":[]}"#,
        ] {
            assert_eq!(
                Header::parse(crit).unwrap_err(),
                TokenError::UnsupportedCritical,
                "{crit:?}"
            );
        }
    }
}
