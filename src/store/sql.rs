//! What the SQL stores share: time conversion and reading a failed
//! rotation.

use super::{FamilyState, Rotation};

/// Seconds since the epoch as a BIGINT, saturating instead of wrapping.
pub(super) fn to_db_time(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX)
}

/// Why a rotation's conditional UPDATE matched no row, from the family's
/// `(revoked, expires_at)` (`None`: no such family). A live family whose
/// current token did not match is [`Rotation::Reused`]: the caller must
/// revoke it.
pub(super) fn unrotated(state: Option<(bool, i64)>, now: i64) -> Rotation {
    Rotation::decide(state.map(|(revoked, expires_at)| FamilyState {
        revoked,
        expired: expires_at <= now,
        current: false,
    }))
}
