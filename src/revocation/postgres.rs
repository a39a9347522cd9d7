//! [`PgRevocations`]: revocations shared through PostgreSQL, a table and
//! `LISTEN/NOTIFY`.

use sqlx::postgres::{PgListener, PgPool};

use super::{RevocationBackend, RevocationError, RevocationFeed, Revoked, RevokedId, check_id};

/// The default notification channel.
pub const DEFAULT_CHANNEL: &str = "tower_jwt_auth_revocations";

/// The schema, idempotent (`migrations/revocation/postgres.sql`).
const SCHEMA: &str = include_str!("../../migrations/revocation/postgres.sql");

/// Revocations in the table `tower_jwt_auth_revocations` of a PostgreSQL
/// database, broadcast with `NOTIFY` on a channel.
///
/// A revocation is one statement: the row is written (or its expiry
/// extended) and the notification sent in the same transaction, so a
/// listener hears of exactly the revocations that were stored. Clones
/// share the pool.
#[derive(Debug, Clone)]
pub struct PgRevocations {
    pub(crate) pool: PgPool,
    channel: String,
}

impl PgRevocations {
    /// Revocations over `pool`, notified on [`DEFAULT_CHANNEL`]. Call
    /// [`PgRevocations::install`] once before use.
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            channel: DEFAULT_CHANNEL.to_owned(),
        }
    }

    /// Another notification channel (a PostgreSQL identifier: letters,
    /// digits and `_`, at most 63 bytes; anything else keeps the current
    /// channel).
    #[must_use]
    pub fn channel(mut self, channel: &str) -> Self {
        if !channel.is_empty()
            && channel.len() <= 63
            && channel
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
        {
            self.channel = channel.to_owned();
        }
        self
    }

    /// Creates the table if it is missing, under an advisory lock, so that
    /// instances starting together do not race.
    ///
    /// # Errors
    ///
    /// [`RevocationError::Backend`] when the database cannot be reached or
    /// refuses.
    pub async fn install(&self) -> Result<(), RevocationError> {
        let mut tx = self.pool.begin().await.map_err(RevocationError::backend)?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('tower_jwt_auth_revocations'))")
            .execute(&mut *tx)
            .await
            .map_err(RevocationError::backend)?;
        sqlx::raw_sql(SCHEMA)
            .execute(&mut *tx)
            .await
            .map_err(RevocationError::backend)?;
        tx.commit().await.map_err(RevocationError::backend)
    }
}

/// A `LISTEN` on its own connection.
#[derive(Debug)]
pub struct PgFeed(PgListener);

impl RevocationFeed for PgFeed {
    async fn next(&mut self) -> Result<Revoked, RevocationError> {
        loop {
            // `try_recv` says when the connection was lost (`None`) instead
            // of reconnecting quietly and losing what was sent meanwhile.
            match self.0.try_recv().await {
                Ok(Some(notification)) => match Revoked::from_message(notification.payload()) {
                    Some(revoked) => return Ok(revoked),
                    None => tracing::warn!("ignored a malformed revocation notification"),
                },
                Ok(None) => return Err(RevocationError::Closed),
                Err(error) => return Err(RevocationError::backend(error)),
            }
        }
    }
}

impl RevocationBackend for PgRevocations {
    type Feed = PgFeed;

    async fn revoke(&self, revoked: &Revoked) -> Result<(), RevocationError> {
        check_id(revoked)?;
        let until = i64::try_from(revoked.until).unwrap_or(i64::MAX);
        sqlx::query(
            "WITH upsert AS ( \
                INSERT INTO tower_jwt_auth_revocations AS r (kind, id, expires_at) \
                VALUES ($1, $2, $3) \
                ON CONFLICT (kind, id) \
                DO UPDATE SET expires_at = GREATEST(r.expires_at, EXCLUDED.expires_at) \
                RETURNING 1 \
            ) SELECT pg_notify($4, $5) FROM upsert",
        )
        .bind(revoked.id.kind())
        .bind(revoked.id.as_str())
        .bind(until)
        .bind(&self.channel)
        .bind(revoked.to_message())
        .execute(&self.pool)
        .await
        .map_err(RevocationError::backend)?;
        Ok(())
    }

    async fn listen(&self) -> Result<PgFeed, RevocationError> {
        let mut listener = PgListener::connect_with(&self.pool)
            .await
            .map_err(RevocationError::backend)?;
        listener
            .listen(&self.channel)
            .await
            .map_err(RevocationError::backend)?;
        Ok(PgFeed(listener))
    }

    async fn load(&self, now: u64) -> Result<Vec<Revoked>, RevocationError> {
        let now = i64::try_from(now).unwrap_or(i64::MAX);
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT kind, id, expires_at FROM tower_jwt_auth_revocations WHERE expires_at > $1",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(RevocationError::backend)?;
        Ok(rows
            .into_iter()
            .filter_map(|(kind, id, until)| {
                Some(Revoked {
                    id: RevokedId::from_parts(&kind, id)?,
                    until: u64::try_from(until).ok()?,
                })
            })
            .collect())
    }

    async fn purge(&self, now: u64) -> Result<(), RevocationError> {
        let now = i64::try_from(now).unwrap_or(i64::MAX);
        // One statement, so the heartbeat stays one round trip: the
        // revocations, login-limit buckets and DPoP proofs that have expired.
        sqlx::query(
            "WITH revocations AS ( \
                DELETE FROM tower_jwt_auth_revocations WHERE expires_at <= $1 \
            ), limits AS ( \
                DELETE FROM tower_jwt_auth_limits WHERE expires_at <= $1 \
            ) DELETE FROM tower_jwt_auth_dpop_proofs WHERE expires_at <= $1",
        )
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(RevocationError::backend)?;
        Ok(())
    }
}
