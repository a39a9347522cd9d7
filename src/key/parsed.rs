//! Public keys parsed once, when they are loaded (feature `aws-lc-rs`).
//!
//! jsonwebtoken's aws-lc-rs verifiers keep a key as bytes and hand them to
//! aws-lc-rs on every signature check, which parses them again each time
//! (an RSA modulus, an EC point and its curve check). Here the key is parsed
//! once into an [`aws_lc_rs::signature::ParsedPublicKey`]; each check then
//! only verifies.
//!
//! The verdicts are jsonwebtoken's, by construction: the same bytes of the
//! same `DecodingKey` go to the same aws-lc-rs parser, and the signature to
//! the same verification jsonwebtoken picks for the JWS `alg` (RSA with its
//! 2048 to 8192 bit range, ECDSA, Ed25519). `tests/differential.rs` checks it
//! over public vectors and generated tokens. The one difference is when a key
//! aws-lc-rs cannot parse is noticed: jsonwebtoken refuses every signature
//! under it, this module refuses the key when it is loaded.
//!
//! ECDSA takes a shorter road to the same check (see [`verify`]): aws-lc
//! verifies a DER `Ecdsa-Sig-Value` over a digest, and jsonwebtoken's
//! fixed-length algorithm gets there by turning the JWS `r || s` into two
//! `BIGNUM`s and a DER buffer on the heap, and by hashing inside an
//! `EVP_MD_CTX`. Here `r || s` is written as that DER on the stack (with
//! `der`) and the signing input is hashed once with aws-lc-rs's one-shot
//! digest: about one point less of `jsonwebtoken::decode`'s time for an
//! ES256 validation (BENCHMARKS.md, "Ninth session").
//!
//! What it buys (BENCHMARKS.md, "Pre-parsed public keys"): the signature check
//! alone took 16.7 µs instead of 19.2 µs for RS256 and 50.8 µs instead of
//! 52.5 µs for ES256; an uncached RS256 validation took 0.81–0.83 × as long as
//! `jsonwebtoken::decode`, ES256 0.95–0.96 × (medians of interleaved rounds).
//! An Ed25519 key is 32 raw bytes: parsing it once saves nothing measurable,
//! but one path for every public key is simpler than two.

use aws_lc_rs::digest;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P384_SHA384_ASN1, ED25519, ParsedPublicKey,
    RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_2048_8192_SHA384, RSA_PKCS1_2048_8192_SHA512,
    RSA_PSS_2048_8192_SHA256, RSA_PSS_2048_8192_SHA384, RSA_PSS_2048_8192_SHA512, RsaParameters,
    RsaPublicKeyComponents, VerificationAlgorithm,
};
use der::asn1::UintRef;
use der::{Encode, EncodeValue, FixedTag, Length, Tag, Writer};
use jsonwebtoken::crypto::CryptoProvider;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind};

use crate::error::KeyError;

/// Whether `provider` is jsonwebtoken's own aws-lc-rs provider, whose
/// verdicts this module reproduces. A provider the application installed in
/// its place keeps verifying: its verdicts are its own.
pub(crate) fn replaces(provider: &'static CryptoProvider) -> bool {
    std::ptr::eq(provider, &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER)
}

/// The RSA verification parameters jsonwebtoken's aws-lc-rs backend uses
/// for `alg`.
fn rsa_parameters(alg: Algorithm) -> Option<&'static RsaParameters> {
    Some(match alg {
        Algorithm::RS256 => &RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}

/// The other verification algorithms: jsonwebtoken's aws-lc-rs backend's for
/// Ed25519; for ECDSA the same curve and hash taking the DER signature that
/// [`verify`] writes (jsonwebtoken's fixed-length algorithm converts to it).
fn other_algorithm(alg: Algorithm) -> Option<&'static dyn VerificationAlgorithm> {
    Some(match alg {
        Algorithm::ES256 => &ECDSA_P256_SHA256_ASN1,
        Algorithm::ES384 => &ECDSA_P384_SHA384_ASN1,
        Algorithm::EdDSA => &ED25519,
        _ => return None,
    })
}

/// The longest signature of a parsed key that is not RSA's: ES384's.
pub(crate) const SHORT_SIGNATURE_LEN: usize = 96;

/// Whether `signature` (decoded from the JWS) is `key`'s over `signing_input`,
/// for the `alg` the key was parsed for by [`parse`].
pub(crate) fn verify(
    alg: Algorithm,
    key: &ParsedPublicKey,
    signing_input: &[u8],
    signature: &[u8],
) -> bool {
    let ecdsa = |scalar_len, hash| verify_ecdsa(key, scalar_len, hash, signing_input, signature);
    match alg {
        Algorithm::ES256 => ecdsa(32, &digest::SHA256),
        Algorithm::ES384 => ecdsa(48, &digest::SHA384),
        _ => key.verify_sig(signing_input, signature).is_ok(),
    }
}

/// ECDSA over a JWS signature, `r || s` of `scalar_len` bytes each
/// (RFC 7518, section 3.4), as jsonwebtoken's fixed-length algorithm checks it.
///
/// That algorithm refuses any other length, then writes `r` and `s` as the
/// minimal DER integers of an `Ecdsa-Sig-Value` (RFC 3279, section 2.2.3) and
/// verifies that over the hash of `signing_input`. So does this, with the DER
/// on the stack. Range checks (`0 < r, s < n`) are aws-lc's, on both roads.
fn verify_ecdsa(
    key: &ParsedPublicKey,
    scalar_len: usize,
    hash: &'static digest::Algorithm,
    signing_input: &[u8],
    signature: &[u8],
) -> bool {
    if signature.len() != 2 * scalar_len {
        return false;
    }
    let (r, s) = signature.split_at(scalar_len);
    let mut buf = [0u8; SIG_VALUE_MAX_LEN];
    let Ok(der) = SigValue::new(r, s).and_then(|value| value.encode_to_slice(&mut buf)) else {
        return false;
    };
    key.verify_digest_sig(&digest::digest(hash, signing_input), der)
        .is_ok()
}

/// The longest DER `Ecdsa-Sig-Value` of P-384: a two-byte sequence header
/// and two integers of a two-byte header, a zero byte and 48 bytes.
const SIG_VALUE_MAX_LEN: usize = 2 + 2 * (2 + 1 + 48);

/// `Ecdsa-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }`, both unsigned.
struct SigValue<'a> {
    r: UintRef<'a>,
    s: UintRef<'a>,
}

impl<'a> SigValue<'a> {
    fn new(r: &'a [u8], s: &'a [u8]) -> der::Result<Self> {
        Ok(Self {
            r: UintRef::new(r)?,
            s: UintRef::new(s)?,
        })
    }
}

impl EncodeValue for SigValue<'_> {
    fn value_len(&self) -> der::Result<Length> {
        self.r.encoded_len()? + self.s.encoded_len()?
    }

    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        self.r.encode(writer)?;
        self.s.encode(writer)
    }
}

impl FixedTag for SigValue<'_> {
    const TAG: Tag = Tag::Sequence;
}

/// Parses `key` for `alg`, as jsonwebtoken's aws-lc-rs verifier for `alg`
/// would on each signature check.
///
/// # Errors
///
/// [`KeyError::AlgorithmMismatch`] for an HMAC algorithm or RSA components
/// given for another family; [`KeyError::Invalid`] for bytes aws-lc-rs does
/// not parse as a key of `alg` (jsonwebtoken would refuse every signature
/// under them).
pub(crate) fn parse(alg: Algorithm, key: &DecodingKey) -> Result<ParsedPublicKey, KeyError> {
    let invalid = |reason: &str| {
        let kind = match alg {
            Algorithm::ES256 | Algorithm::ES384 => ErrorKind::InvalidEcdsaKey,
            Algorithm::EdDSA => ErrorKind::InvalidEddsaKey,
            _ => ErrorKind::InvalidRsaKey(reason.to_owned()),
        };
        KeyError::Invalid(kind.into())
    };
    match (rsa_parameters(alg), key.kind()) {
        (Some(parameters), DecodingKeyKind::RsaModulusExponent { n, e }) => {
            RsaPublicKeyComponents { n, e }
                .to_parsed_public_key(parameters)
                .map_err(|rejected| invalid(rejected.description_()))
        }
        (Some(parameters), DecodingKeyKind::SecretOrDer(der)) => {
            ParsedPublicKey::new(parameters, der)
                .map_err(|rejected| invalid(rejected.description_()))
        }
        (None, DecodingKeyKind::SecretOrDer(bytes)) => {
            let algorithm = other_algorithm(alg).ok_or(KeyError::AlgorithmMismatch(alg))?;
            ParsedPublicKey::new(algorithm, bytes)
                .map_err(|rejected| invalid(rejected.description_()))
        }
        (None, DecodingKeyKind::RsaModulusExponent { .. }) => Err(KeyError::AlgorithmMismatch(alg)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::testing::hex;

    #[test]
    fn hmac_algorithms_have_no_parsed_key() {
        let key = DecodingKey::from_secret(&[7u8; 32]).unwrap();
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            assert!(matches!(
                parse(alg, &key),
                Err(KeyError::AlgorithmMismatch(_))
            ));
        }
    }

    #[test]
    fn rsa_components_are_not_an_ec_or_ed_key() {
        let mut n = vec![1u8; 256];
        n[0] = 0xc0;
        let key = DecodingKey::from_rsa_raw_components(&n, &[1, 0, 1]);
        assert!(parse(Algorithm::RS256, &key).is_ok());
        for alg in [Algorithm::ES256, Algorithm::ES384, Algorithm::EdDSA] {
            assert!(matches!(
                parse(alg, &key),
                Err(KeyError::AlgorithmMismatch(_))
            ));
        }
    }

    #[test]
    fn a_modulus_with_a_leading_zero_byte_is_not_parsed() {
        // aws-lc-rs reads components without leading zeros only; jsonwebtoken
        // passes them as given, so it refuses every signature under this key.
        let mut n = vec![1u8; 257];
        n[0] = 0;
        n[1] = 0xc0;
        let key = DecodingKey::from_rsa_raw_components(&n, &[1, 0, 1]);
        assert!(matches!(
            parse(Algorithm::RS256, &key),
            Err(KeyError::Invalid(_))
        ));
    }

    /// Signatures of `alg` by a new key over `message`, collected until each
    /// DER special case has shown up: an `r` or `s` with a leading zero byte
    /// (shorter as an integer) and one with its high bit set (a zero byte
    /// added). Bounded: about one signature in 256 has a given leading zero.
    fn signatures_with_every_der_shape(alg: Algorithm, message: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
        use aws_lc_rs::rand::SystemRandom;
        use aws_lc_rs::signature::{
            ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
        };
        let (signing, half) = match alg {
            Algorithm::ES256 => (&ECDSA_P256_SHA256_FIXED_SIGNING, 32),
            _ => (&ECDSA_P384_SHA384_FIXED_SIGNING, 48),
        };
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(signing, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(signing, pkcs8.as_ref()).unwrap();
        let shapes: [fn(&[u8], usize) -> bool; 4] = [
            |sig, _| sig[0] == 0,
            |sig, half| sig[half] == 0,
            |sig, _| sig[0] >= 0x80,
            |sig, half| sig[half] >= 0x80,
        ];
        let mut found: Vec<Option<Vec<u8>>> = vec![None; shapes.len()];
        for _ in 0..20_000 {
            let signature = pair.sign(&rng, message).unwrap().as_ref().to_vec();
            for (shape, slot) in shapes.iter().zip(&mut found) {
                if slot.is_none() && shape(&signature, half) {
                    *slot = Some(signature.clone());
                }
            }
            if found.iter().all(Option::is_some) {
                break;
            }
        }
        let found = found
            .into_iter()
            .map(|sig| sig.expect("every shape within 20 000 signatures"));
        (pair.public_key().as_ref().to_vec(), found.collect())
    }

    #[test]
    fn ecdsa_gets_the_fixed_length_algorithms_verdict() {
        use aws_lc_rs::signature::{
            ECDSA_P256_SHA256_FIXED, ECDSA_P384_SHA384_FIXED, UnparsedPublicKey,
        };
        let message = b"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0";
        for alg in [Algorithm::ES256, Algorithm::ES384] {
            let (point, signatures) = signatures_with_every_der_shape(alg, message);
            let fixed = match alg {
                Algorithm::ES256 => &ECDSA_P256_SHA256_FIXED,
                _ => &ECDSA_P384_SHA384_FIXED,
            };
            let theirs = UnparsedPublicKey::new(fixed, &point);
            let ours = parse(alg, &DecodingKey::from_ec_der(&point)).unwrap();
            let half = point.len() / 2;
            // The group's order: the first value out of range.
            let n = hex(match alg {
                Algorithm::ES256 => {
                    "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551"
                }
                _ => {
                    "ffffffffffffffffffffffffffffffffffffffffffffffff\
                     c7634d81f4372ddf581a0db248b0a77aecec196accc52973"
                }
            });
            for signature in &signatures {
                let (r, s) = signature.split_at(half);
                // The key is parsed for DER signatures; a JWS never carries one.
                let mut buf = [0u8; SIG_VALUE_MAX_LEN];
                let der = SigValue::new(r, s)
                    .unwrap()
                    .encode_to_slice(&mut buf)
                    .unwrap()
                    .to_vec();
                let mut cases = vec![
                    (der, &message[..], false),
                    (signature.clone(), &message[..], true),
                    (signature.clone(), &message[1..], false),
                    ([r, &n].concat(), &message[..], false),
                    ([&n, s].concat(), &message[..], false),
                    ([r, &vec![0; half]].concat(), &message[..], false),
                    ([&vec![0; half], s].concat(), &message[..], false),
                    ([r, &vec![0xff; half]].concat(), &message[..], false),
                    (vec![0; 2 * half], &message[..], false),
                    (signature[1..].to_vec(), &message[..], false),
                    ([&signature[..], &[0]].concat(), &message[..], false),
                    (Vec::new(), &message[..], false),
                ];
                for bit in (0..signature.len() * 8).step_by(5) {
                    let mut flipped = signature.clone();
                    flipped[bit / 8] ^= 1 << (bit % 8);
                    cases.push((flipped, &message[..], false));
                }
                for (case, input, verifies) in cases {
                    assert_eq!(
                        theirs.verify(input, &case).is_ok(),
                        verifies,
                        "{alg:?} {case:02x?}"
                    );
                    assert_eq!(
                        verify(alg, &ours, input, &case),
                        verifies,
                        "{alg:?} {case:02x?}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_longest_ecdsa_signature_fits_its_der_buffer() {
        let ones = [0xff; 48];
        let value = SigValue::new(&ones, &ones).unwrap();
        assert_eq!(
            value.encoded_len().unwrap(),
            Length::new(SIG_VALUE_MAX_LEN as u32)
        );
    }

    #[test]
    fn the_provider_replaced_is_jsonwebtokens_aws_lc_one_only() {
        assert!(replaces(&jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER));
        // An application's provider, even one made of the same functions.
        let custom: &'static CryptoProvider = Box::leak(Box::new(
            jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.clone(),
        ));
        assert!(!replaces(custom));
    }
}
