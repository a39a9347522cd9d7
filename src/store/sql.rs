//! What the SQL stores share: time conversion and the meaning of a failed
//! rotation.

use super::Rotation;

/// Seconds since the epoch as a BIGINT, saturating instead of wrapping.
pub(super) fn to_db_time(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX)
}

/// Why a rotation's conditional UPDATE matched no row, from the family's
/// `(revoked, expires_at)` (`None`: no such family). [`Rotation::Reused`]
/// means a live family's current token is not the presented one, so the
/// presented token was already used: the caller must revoke the family.
pub(super) fn unrotated(state: Option<(bool, i64)>, now: i64) -> Rotation {
    match state {
        None => Rotation::Unknown,
        Some((true, _)) => Rotation::Revoked,
        Some((false, expires_at)) if expires_at <= now => Rotation::Expired,
        Some((false, _)) => Rotation::Reused,
    }
}
