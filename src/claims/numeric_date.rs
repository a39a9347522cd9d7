//! NumericDate (RFC 7519 §2): the one rule by which the validator and the
//! claims types read a date.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer};

/// A NumericDate (RFC 7519 §2): a non-negative JSON number of seconds,
/// which may be fractional. Fractions are rounded to the nearest second, as
/// jsonwebtoken does. This one rule reads the dates the validator checks and
/// the dates of [`Claims`](crate::Claims), so both see the same second.
pub(crate) struct NumericDate(pub(crate) u64);

/// Deserializes a NumericDate; see [`NumericDate`].
pub(crate) fn numeric_date<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    NumericDate::deserialize(deserializer).map(|date| date.0)
}

/// Deserializes an optional NumericDate (`null` is `None`).
pub(crate) fn optional_numeric_date<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u64>, D::Error> {
    Option::<NumericDate>::deserialize(deserializer).map(|date| date.map(|date| date.0))
}

impl<'de> Deserialize<'de> for NumericDate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DateVisitor;
        impl Visitor<'_> for DateVisitor {
            type Value = NumericDate;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative number of seconds")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(NumericDate(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                u64::try_from(v)
                    .map(NumericDate)
                    .map_err(|_| E::custom("negative date"))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                #[allow(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    clippy::cast_precision_loss
                )]
                if v.is_finite() && v >= 0.0 && v < u64::MAX as f64 {
                    Ok(NumericDate(v.round() as u64))
                } else {
                    Err(E::custom("date out of range"))
                }
            }
        }
        deserializer.deserialize_any(DateVisitor)
    }
}
