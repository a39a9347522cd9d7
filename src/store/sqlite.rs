//! A store backed by an SQLite database file (sqlx).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::sql::{to_db_time, unrotated};
use super::{CreateUser, NewFamily, RefreshTokenStore, Rotation, StoreError, User, UserStore};

/// How long a connection waits for another writer before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an operation waits for a free pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// The table in which this crate records its applied migrations, kept apart
/// from the application's own `_sqlx_migrations`.
const MIGRATIONS_TABLE: &str = "_tja_sqlx_migrations";

/// The embedded schema migrations (`migrations/sqlite`).
fn migrator() -> Migrator {
    let mut migrator = sqlx::migrate!("migrations/sqlite");
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    migrator
}

/// Converts seconds since the epoch to the stored `BIGINT`, saturating.
/// A store that keeps users and refresh-token families in an SQLite
/// database.
///
/// [`SqliteStore::connect`] opens the database in WAL mode with
/// `synchronous=FULL`, so every write that has been acknowledged survives a
/// crash of the process or a power cut. The schema (tables prefixed `tja_`)
/// is created or upgraded on connect. Clones share the connection pool.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("connections", &self.pool.size())
            .field("closed", &self.pool.is_closed())
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating it if missing) the database at `url` and applies the
    /// schema migrations.
    ///
    /// `url` is a file path or an `sqlite:` URL such as
    /// `sqlite:///var/lib/app/auth.db` or `sqlite://auth.db`. The database
    /// is opened with `journal_mode=WAL`, `synchronous=FULL`, foreign keys on
    /// and a busy timeout of 5 seconds.
    ///
    /// # Errors
    ///
    /// [`StoreError::Config`] if the URL is malformed,
    /// [`StoreError::Unavailable`] if the file cannot be opened or created
    /// (for example because its directory does not exist), and
    /// [`StoreError::Migrate`] if the schema cannot be applied.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        Self::from_pool(pool).await
    }

    /// Uses an existing pool and applies the schema migrations.
    ///
    /// The pool's connect options are used as they are; for the durability
    /// guarantees of [`SqliteStore::connect`] configure WAL mode and
    /// `synchronous=FULL` yourself.
    ///
    /// # Errors
    ///
    /// [`StoreError::Migrate`] if the schema cannot be applied, or
    /// [`StoreError::Unavailable`] if no connection can be obtained.
    pub async fn from_pool(pool: SqlitePool) -> Result<Self, StoreError> {
        migrator().run(&pool).await?;
        Ok(Self { pool })
    }

    /// The underlying connection pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

impl UserStore for SqliteStore {
    type Error = StoreError;

    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
    ) -> Result<CreateUser, Self::Error> {
        let result = sqlx::query(
            "INSERT INTO tja_users (username, password_hash) VALUES (?1, ?2) \
             ON CONFLICT (username) DO NOTHING",
        )
        .bind(username)
        .bind(password_hash)
        .execute(&self.pool)
        .await?;
        Ok(if result.rows_affected() == 1 {
            CreateUser::Created
        } else {
            CreateUser::AlreadyExists
        })
    }

    async fn find_user(&self, username: &str) -> Result<Option<User>, Self::Error> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT username, password_hash FROM tja_users WHERE username = ?1")
                .bind(username)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(username, password_hash)| User {
            username,
            password_hash,
        }))
    }

    async fn update_password_hash(
        &self,
        username: &str,
        password_hash: &str,
    ) -> Result<bool, Self::Error> {
        let result = sqlx::query("UPDATE tja_users SET password_hash = ?1 WHERE username = ?2")
            .bind(password_hash)
            .bind(username)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() > 0)
    }
}

impl RefreshTokenStore for SqliteStore {
    type Error = StoreError;

    async fn create_family(&self, family: NewFamily<'_>) -> Result<(), Self::Error> {
        // Should a random family id ever collide, the existing family is left
        // untouched rather than handed over to another login.
        sqlx::query(
            "INSERT INTO tja_refresh_families (family_id, username, current_jti, expires_at) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (family_id) DO NOTHING",
        )
        .bind(family.family_id)
        .bind(family.username)
        .bind(family.token_id)
        .bind(to_db_time(family.expires_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn rotate(
        &self,
        family_id: &str,
        presented: &str,
        next: &str,
        now: u64,
    ) -> Result<Rotation, Self::Error> {
        let now = to_db_time(now);
        // The single conditional UPDATE is the atomic compare-and-swap: of
        // many concurrent calls with the same `presented`, one matches.
        let rotated = sqlx::query(
            "UPDATE tja_refresh_families SET current_jti = ?1 \
             WHERE family_id = ?2 AND current_jti = ?3 AND NOT revoked AND expires_at > ?4",
        )
        .bind(next)
        .bind(family_id)
        .bind(presented)
        .bind(now)
        .execute(&self.pool)
        .await?;
        if rotated.rows_affected() == 1 {
            return Ok(Rotation::Rotated);
        }

        let state: Option<(bool, i64)> = sqlx::query_as(
            "SELECT revoked, expires_at FROM tja_refresh_families WHERE family_id = ?1",
        )
        .bind(family_id)
        .fetch_optional(&self.pool)
        .await?;
        let outcome = unrotated(state, now);
        if outcome == Rotation::Reused {
            sqlx::query("UPDATE tja_refresh_families SET revoked = TRUE WHERE family_id = ?1")
                .bind(family_id)
                .execute(&self.pool)
                .await?;
        }
        Ok(outcome)
    }

    async fn revoke_family(&self, family_id: &str) -> Result<bool, Self::Error> {
        let result = sqlx::query(
            "UPDATE tja_refresh_families SET revoked = TRUE WHERE family_id = ?1 AND NOT revoked",
        )
        .bind(family_id)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() > 0)
    }

    async fn revoke_user(&self, username: &str) -> Result<u64, Self::Error> {
        let result = sqlx::query(
            "UPDATE tja_refresh_families SET revoked = TRUE WHERE username = ?1 AND NOT revoked",
        )
        .bind(username)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected())
    }

    async fn purge_expired(&self, now: u64) -> Result<u64, Self::Error> {
        let result = sqlx::query("DELETE FROM tja_refresh_families WHERE expires_at <= ?1")
            .bind(to_db_time(now))
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected())
    }
}
