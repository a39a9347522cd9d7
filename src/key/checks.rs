//! The checks every public key passes when it is loaded, wherever it comes
//! from: a PEM, a JWK given in code, a JWKS fetched from an identity provider
//! or a jsonwebtoken `DecodingKey`.
//!
//! - An RSA modulus has at least [`MIN_RSA_BITS`] bits.
//! - An EC key is a point of its curve (not the identity, coordinates below
//!   the field prime, on the curve equation).
//! - An Ed25519 key decodes to a curve point, canonically encoded, and not of
//!   small order: under a small-order key, a signature with `R` a small-order
//!   point and `S = 0` verifies for many messages without any private key.

use curve25519_dalek::edwards::CompressedEdwardsY;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind};
use pkcs1::RsaPublicKeyRef;
use pkcs1::der::Decode;

use crate::error::KeyError;

/// The smallest RSA modulus accepted, in bits.
pub(crate) const MIN_RSA_BITS: usize = 2048;

/// Refuses a public key that must not verify anything (see the module docs).
///
/// `alg` has already been matched to the key's family and, for EC and Ed
/// keys, to the length of its point.
pub(crate) fn check_public_key(alg: Algorithm, key: &DecodingKey) -> Result<(), KeyError> {
    match alg.family() {
        AlgorithmFamily::Rsa => {
            let bits = rsa_modulus_bits(key.kind())?;
            if bits < MIN_RSA_BITS {
                return Err(KeyError::WeakRsaKey { bits });
            }
            Ok(())
        }
        AlgorithmFamily::Ec => check_ec_point(alg, key.try_get_as_bytes()?),
        AlgorithmFamily::Ed => check_ed25519_point(key.try_get_as_bytes()?),
        AlgorithmFamily::Hmac => Ok(()),
    }
}

/// The size in bits of the modulus of an RSA key given as components or as
/// PKCS#1 `RSAPublicKey` DER (what jsonwebtoken keeps of an RSA PEM).
fn rsa_modulus_bits(kind: &DecodingKeyKind) -> Result<usize, KeyError> {
    let modulus = match kind {
        DecodingKeyKind::RsaModulusExponent { n, .. } => n.as_slice(),
        DecodingKeyKind::SecretOrDer(der) => RsaPublicKeyRef::from_der(der)
            .map_err(|_| {
                KeyError::Invalid(
                    ErrorKind::InvalidRsaKey("not a PKCS#1 RSAPublicKey".to_owned()).into(),
                )
            })?
            .modulus
            .as_bytes(),
    };
    Ok(bit_len(modulus))
}

/// The number of significant bits of a big-endian unsigned integer.
fn bit_len(bytes: &[u8]) -> usize {
    let start = bytes
        .iter()
        .position(|&byte| byte != 0)
        .unwrap_or(bytes.len());
    match bytes.get(start) {
        Some(first) => (bytes.len() - start) * 8 - first.leading_zeros() as usize,
        None => 0,
    }
}

/// Whether a SEC1 encoded point lies on the curve of `alg` (and is not the
/// identity, which has no SEC1 encoding of this length anyway).
fn check_ec_point(alg: Algorithm, point: &[u8]) -> Result<(), KeyError> {
    let on_curve = match alg {
        Algorithm::ES256 => p256::PublicKey::from_sec1_bytes(point).is_ok(),
        Algorithm::ES384 => p384::PublicKey::from_sec1_bytes(point).is_ok(),
        _ => false,
    };
    if on_curve {
        Ok(())
    } else {
        Err(KeyError::InvalidPoint)
    }
}

/// Whether 32 bytes are the canonical encoding of an Ed25519 point that is
/// not of small order (RFC 8032 §5.1.3 decoding, plus the small-order check
/// that RFC 8032 leaves to the verifier).
fn check_ed25519_point(bytes: &[u8]) -> Result<(), KeyError> {
    let bytes: [u8; 32] = bytes.try_into().map_err(|_| KeyError::InvalidPoint)?;
    let encoded = CompressedEdwardsY(bytes);
    let point = encoded.decompress().ok_or(KeyError::InvalidPoint)?;
    // Before the canonical check: a non-canonical encoding of a small-order
    // point (y = p + 1 for the identity, or x = 0 with the sign bit set) is
    // reported as what it is.
    if point.is_small_order() {
        return Err(KeyError::WeakEd25519Key);
    }
    // A y of p or more, reduced, decodes to a point whose own encoding
    // differs: refused, as RFC 8032 asks.
    if point.compress() != encoded {
        return Err(KeyError::InvalidPoint);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;

    use super::*;
    use crate::key::testing::{P256_GENERATOR, hex};

    /// 2^255 - 19, little-endian.
    const P: [u8; 32] = {
        let mut p = [0xff; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        p
    };

    fn plus(mut le: [u8; 32], small: u8) -> [u8; 32] {
        let (sum, carry) = le[0].overflowing_add(small);
        le[0] = sum;
        assert!(!carry, "the test only adds without carry");
        le
    }

    #[test]
    fn bit_len_counts_from_the_first_set_bit() {
        assert_eq!(bit_len(&[]), 0);
        assert_eq!(bit_len(&[0, 0]), 0);
        assert_eq!(bit_len(&[1]), 1);
        assert_eq!(bit_len(&[0, 0x80, 0]), 16);
        assert_eq!(bit_len(&[0, 0x7f, 0xff]), 15);
        let mut modulus = vec![0u8; 257];
        modulus[1] = 0x80;
        assert_eq!(bit_len(&modulus), 2048);
    }

    #[test]
    fn ed25519_identity_and_its_other_encodings_are_refused_as_small_order() {
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut identity_with_sign_bit = identity;
        identity_with_sign_bit[31] |= 0x80;
        // y = p + 1: a non-canonical y that reduces to 1.
        let identity_above_p = plus(P, 1);
        // y = p - 1 = -1: the point of order 2; y = p: a non-canonical 0, order 4.
        let minus_one = {
            let mut minus_one = P;
            minus_one[0] -= 1;
            minus_one
        };
        for bytes in [
            identity,
            identity_with_sign_bit,
            identity_above_p,
            minus_one,
            P,
            [0u8; 32],
        ] {
            assert!(
                matches!(check_ed25519_point(&bytes), Err(KeyError::WeakEd25519Key)),
                "{bytes:02x?}"
            );
        }
    }

    #[test]
    fn ed25519_points_off_the_curve_or_not_canonical_are_refused() {
        // y = 2 is not the y of any point.
        let mut two = [0u8; 32];
        two[0] = 2;
        assert!(CompressedEdwardsY(two).decompress().is_none());
        assert!(matches!(
            check_ed25519_point(&two),
            Err(KeyError::InvalidPoint)
        ));
        assert!(matches!(
            check_ed25519_point(&[9u8; 31]),
            Err(KeyError::InvalidPoint)
        ));
        // Every y in p..2^255 whose reduction is a point of large order is a
        // second encoding of that point.
        for extra in 0..19u8 {
            let bytes = plus(P, extra);
            if let Some(point) = CompressedEdwardsY(bytes).decompress() {
                let expected = if point.is_small_order() {
                    "small order"
                } else {
                    "invalid"
                };
                let got = match check_ed25519_point(&bytes) {
                    Err(KeyError::WeakEd25519Key) => "small order",
                    Err(KeyError::InvalidPoint) => "invalid",
                    other => panic!("{other:?} for y = p + {extra}"),
                };
                assert_eq!(got, expected, "y = p + {extra}");
            }
        }
    }

    #[test]
    fn ed25519_basepoint_is_accepted() {
        let bytes = ED25519_BASEPOINT_POINT.compress().to_bytes();
        assert!(check_ed25519_point(&bytes).is_ok());
    }

    #[test]
    fn ec_points_must_lie_on_their_curve() {
        // The P-256 generator, then with y changed by one bit.
        let mut point = vec![4u8];
        for coordinate in P256_GENERATOR {
            point.extend(hex(coordinate));
        }
        assert!(check_ec_point(Algorithm::ES256, &point).is_ok());
        let last = point.len() - 1;
        point[last] ^= 1;
        assert!(matches!(
            check_ec_point(Algorithm::ES256, &point),
            Err(KeyError::InvalidPoint)
        ));
        // (0, 0) is not a point of either curve.
        for len in [65, 97] {
            let mut zeros = vec![0u8; len];
            zeros[0] = 4;
            let alg = if len == 65 {
                Algorithm::ES256
            } else {
                Algorithm::ES384
            };
            assert!(matches!(
                check_ec_point(alg, &zeros),
                Err(KeyError::InvalidPoint)
            ));
        }
    }

    #[test]
    fn rsa_modulus_size_comes_from_components_or_pkcs1_der() {
        let mut n = vec![0u8; 128];
        n[0] = 0xc0;
        let key = DecodingKey::from_rsa_raw_components(&n, &[1, 0, 1]);
        assert_eq!(rsa_modulus_bits(key.kind()).unwrap(), 1024);
        // SEQUENCE { INTEGER n (with its leading 0x00), INTEGER 65537 }
        let mut der = vec![0x30, 0x81, 0x89, 0x02, 0x81, 0x81, 0x00];
        der.extend_from_slice(&n);
        der.extend_from_slice(&[0x02, 0x03, 1, 0, 1]);
        let key = DecodingKey::from_rsa_der(&der);
        assert_eq!(rsa_modulus_bits(key.kind()).unwrap(), 1024);
        assert!(matches!(
            check_public_key(Algorithm::RS256, &key),
            Err(KeyError::WeakRsaKey { bits: 1024 })
        ));
        let garbage = DecodingKey::from_rsa_der(b"not der");
        assert!(matches!(
            check_public_key(Algorithm::RS256, &garbage),
            Err(KeyError::Invalid(_))
        ));
    }
}
