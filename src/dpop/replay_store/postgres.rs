//! [`PgRevocations`] as the shared DPoP replay store: one row per proof in
//! `tower_jwt_auth_dpop_proofs`, created by
//! [`PgRevocations::install`] and purged of expired rows by the revocation
//! heartbeat.

use super::ReplayStore;
use crate::revocation::{PgRevocations, RevocationError};

/// One statement: the row is inserted, or an expired row (not purged yet)
/// taken over; a row still in force is left alone and nothing is written.
/// Of concurrent inserts of one key, PostgreSQL lets one through and makes
/// the others see its row, so exactly one writes a row.
const FIRST_USE: &str = "INSERT INTO tower_jwt_auth_dpop_proofs AS p (jti, expires_at) \
     VALUES ($1, $2) \
     ON CONFLICT (jti) DO UPDATE SET expires_at = EXCLUDED.expires_at \
     WHERE p.expires_at <= $3";

impl ReplayStore for PgRevocations {
    async fn first_use(&self, key: &str, now: u64, until: u64) -> Result<bool, RevocationError> {
        let result = sqlx::query(FIRST_USE)
            .bind(key)
            .bind(i64::try_from(until).unwrap_or(i64::MAX))
            .bind(i64::try_from(now).unwrap_or(i64::MAX))
            .execute(&self.pool)
            .await
            .map_err(RevocationError::backend)?;
        Ok(result.rows_affected() == 1)
    }
}
