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
//! the same verification algorithm jsonwebtoken picks for the JWS `alg` (RSA
//! with its 2048 to 8192 bit range, ECDSA with fixed-length `r || s`,
//! Ed25519). `tests/differential.rs` checks it over public vectors and
//! generated tokens. The one difference is when a key aws-lc-rs cannot parse
//! is noticed: jsonwebtoken refuses every signature under it, this module
//! refuses the key when it is loaded.
//!
//! What it buys (BENCHMARKS.md, "Pre-parsed public keys"): the signature check
//! alone took 16.7 µs instead of 19.2 µs for RS256 and 50.8 µs instead of
//! 52.5 µs for ES256; an uncached RS256 validation took 0.81–0.83 × as long as
//! `jsonwebtoken::decode`, ES256 0.95–0.96 × (medians of interleaved rounds).
//! An Ed25519 key is 32 raw bytes: parsing it once saves nothing measurable,
//! but one path for every public key is simpler than two.

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P384_SHA384_FIXED, ED25519, ParsedPublicKey,
    RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_2048_8192_SHA384, RSA_PKCS1_2048_8192_SHA512,
    RSA_PSS_2048_8192_SHA256, RSA_PSS_2048_8192_SHA384, RSA_PSS_2048_8192_SHA512, RsaParameters,
    RsaPublicKeyComponents, VerificationAlgorithm,
};
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

/// The other verification algorithms jsonwebtoken's aws-lc-rs backend uses.
fn other_algorithm(alg: Algorithm) -> Option<&'static dyn VerificationAlgorithm> {
    Some(match alg {
        Algorithm::ES256 => &ECDSA_P256_SHA256_FIXED,
        Algorithm::ES384 => &ECDSA_P384_SHA384_FIXED,
        Algorithm::EdDSA => &ED25519,
        _ => return None,
    })
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
