//! A store backed by a PostgreSQL database (sqlx).

use std::time::Duration;

use sqlx::Postgres;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPool, PgPoolOptions};

use super::StoreError;
use super::sql::{MIGRATIONS_TABLE, sql_store};

/// How long an operation waits for a pooled connection (including opening a
/// new one) before the store is reported unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// The embedded schema migrations (`migrations/postgres`).
fn migrator() -> Migrator {
    let mut migrator = sqlx::migrate!("migrations/postgres");
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    migrator
}

sql_store! {
    /// A store that keeps users and refresh-token families in a PostgreSQL
    /// database.
    ///
    /// The schema (tables prefixed `tja_`) is created or upgraded on connect;
    /// sqlx's migrator holds an advisory lock meanwhile, so several instances
    /// may start at once. Clones share the connection pool.
    PostgresStore, Postgres
}

impl PostgresStore {
    /// Connects to the database at `url` (a `postgres://` URL) and applies
    /// the schema migrations.
    ///
    /// Waiting for a connection is limited to 3 seconds, so an unreachable
    /// database makes this (and later operations) fail fast with
    /// [`StoreError::Unavailable`] instead of hanging.
    ///
    /// # Errors
    ///
    /// [`StoreError::Config`] if the URL is malformed,
    /// [`StoreError::Unavailable`] if the database cannot be reached, and
    /// [`StoreError::Migrate`] if the schema cannot be applied.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(url)
            .await?;
        Self::from_pool(pool).await
    }

    /// Uses an existing pool and applies the schema migrations.
    ///
    /// # Errors
    ///
    /// [`StoreError::Migrate`] if the schema cannot be applied, or
    /// [`StoreError::Unavailable`] if no connection can be obtained.
    pub async fn from_pool(pool: PgPool) -> Result<Self, StoreError> {
        migrator().run(&pool).await?;
        Ok(Self { pool })
    }
}
