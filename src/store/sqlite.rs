//! A store backed by an SQLite database file (sqlx).

use std::str::FromStr;
use std::time::Duration;

use sqlx::Sqlite;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::StoreError;
use super::sql::{MIGRATIONS_TABLE, sql_store};

/// How long a connection waits for another writer before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an operation waits for a free pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The embedded schema migrations (`migrations/sqlite`).
fn migrator() -> Migrator {
    let mut migrator = sqlx::migrate!("migrations/sqlite");
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    migrator
}

sql_store! {
    /// A store that keeps users and refresh-token families in an SQLite
    /// database.
    ///
    /// [`SqliteStore::connect`] opens the database in WAL mode with
    /// `synchronous=FULL`, so every write that has been acknowledged survives a
    /// crash of the process or a power cut. The schema (tables prefixed `tja_`)
    /// is created or upgraded on connect. Clones share the connection pool.
    SqliteStore, Sqlite
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
}
