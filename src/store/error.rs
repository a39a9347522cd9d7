//! The error type of the SQL stores.

use sqlx::migrate::MigrateError;

/// Why an operation of an SQL store (`SqliteStore`, `PostgresStore`) failed.
///
/// The messages are deliberately generic: they never contain usernames,
/// password hashes, token ids or connection URLs. The underlying
/// [`sqlx::Error`] is available through [`std::error::Error::source`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database could not be reached: no connection became available in
    /// time, the pool is closed, an I/O error occurred, the database file
    /// could not be opened, or the database is busy or shutting down.
    #[error("the token store is unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// The connection settings are invalid (for example a malformed URL).
    #[error("the token store is misconfigured")]
    Config(#[source] sqlx::Error),
    /// A query failed.
    #[error("a token store query failed")]
    Database(#[source] sqlx::Error),
    /// Applying the store's schema migrations failed.
    #[error("migrating the token store schema failed")]
    Migrate(#[source] MigrateError),
    /// User attributes were refused because the store could not read them
    /// back (for example JSON nested deeper than its reader accepts).
    /// Nothing was changed.
    #[error("the user attributes cannot be stored")]
    Attributes(#[source] serde_json::Error),
}

impl StoreError {
    /// Whether the error means that the database could not be reached (as
    /// opposed to a query or schema problem).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        if is_unavailable(&error) {
            Self::Unavailable(error)
        } else if matches!(error, sqlx::Error::Configuration(_)) {
            Self::Config(error)
        } else {
            Self::Database(error)
        }
    }
}

impl From<MigrateError> for StoreError {
    fn from(error: MigrateError) -> Self {
        match error {
            // A lost connection while migrating is an availability problem,
            // not a schema problem.
            MigrateError::Execute(inner) if is_unavailable(&inner) => Self::Unavailable(inner),
            other => Self::Migrate(other),
        }
    }
}

/// Whether a sqlx error means "could not reach the database".
fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => unavailable_database_error(&**db),
        _ => false,
    }
}

/// Database errors that mean the database is unreachable or temporarily
/// unable to serve requests.
fn unavailable_database_error(error: &(dyn sqlx::error::DatabaseError + 'static)) -> bool {
    #[cfg(feature = "postgres")]
    if let Some(pg) = error.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        let code = pg.code();
        // Class 08 (connection exception), class 53 (insufficient
        // resources), 57P01..57P05 (shutdown, cannot connect now, idle
        // session timeout) and 3D000 (no such database).
        return code.starts_with("08")
            || code.starts_with("53")
            || code.starts_with("57P")
            || code == "3D000";
    }
    #[cfg(feature = "sqlite")]
    if error
        .try_downcast_ref::<sqlx::sqlite::SqliteError>()
        .is_some()
    {
        // SQLite reports its extended result code as a decimal number; the
        // primary result code is the low byte.
        const SQLITE_BUSY: i64 = 5;
        const SQLITE_LOCKED: i64 = 6;
        const SQLITE_IOERR: i64 = 10;
        const SQLITE_FULL: i64 = 13;
        const SQLITE_CANTOPEN: i64 = 14;
        return error
            .code()
            .and_then(|code| code.parse::<i64>().ok())
            .is_some_and(|extended| {
                matches!(
                    extended & 0xff,
                    SQLITE_BUSY | SQLITE_LOCKED | SQLITE_IOERR | SQLITE_FULL | SQLITE_CANTOPEN
                )
            });
    }
    false
}
