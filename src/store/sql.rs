//! The SQL stores, written once: [`sql_store!`] stamps out the store type of
//! one sqlx database, with the same query text for every database. What
//! differs between them (connecting, the migration files) lives in the
//! backend's own file.
//!
//! The query text uses `$1`-style placeholders, which PostgreSQL and SQLite
//! (through sqlx) both read, and only SQL both dialects accept.

use super::{Attributes, FamilyState, Rotation, StoreError};

/// The table in which this crate records its applied migrations, kept apart
/// from the application's own `_sqlx_migrations`.
pub(super) const MIGRATIONS_TABLE: &str = "_tja_sqlx_migrations";

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

/// Attributes as stored: JSON text.
///
/// # Errors
///
/// [`StoreError::Attributes`] if the text would not read back: serde_json
/// writes nesting of any depth but reads at most 128 levels, and a user whose
/// attributes cannot be read could not log in any more. The check is the
/// reader [`attributes_from_text`] uses.
pub(super) fn attributes_to_text(attributes: &Attributes) -> Result<String, StoreError> {
    let text = serde_json::to_string(attributes).map_err(StoreError::Attributes)?;
    serde_json::from_str::<Attributes>(&text).map_err(StoreError::Attributes)?;
    Ok(text)
}

/// Reads stored attributes.
///
/// # Errors
///
/// [`StoreError::Database`] (a column that does not decode, as sqlx reports
/// one) if the text is not a JSON object, which only a writer other than this
/// store can have stored.
pub(super) fn attributes_from_text(text: &str) -> Result<Attributes, StoreError> {
    serde_json::from_str(text).map_err(|error| {
        StoreError::from(sqlx::Error::ColumnDecode {
            index: "attributes".to_owned(),
            source: Box::new(error),
        })
    })
}

/// Defines the store type `$name` over the sqlx database `$db`: the struct
/// (documented by the given attributes), its `Debug`, `pool()`, and the
/// [`UserStore`](super::UserStore) and
/// [`RefreshTokenStore`](super::RefreshTokenStore) implementations.
///
/// A macro rather than one struct generic over `sqlx::Database`: sqlx has no
/// trait for `rows_affected` and a generic body needs a bound for every
/// encoded, decoded and executed type; over a concrete database each query
/// type-checks as written. The caller adds `connect` and `from_pool`.
macro_rules! sql_store {
    ($(#[$meta:meta])* $name:ident, $db:ty) => {
        $(#[$meta])*
        #[derive(Clone)]
        pub struct $name {
            pool: ::sqlx::Pool<$db>,
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                // Sizes only: the pool's connect options may hold a password.
                f.debug_struct(stringify!($name))
                    .field("connections", &self.pool.size())
                    .field("closed", &self.pool.is_closed())
                    .finish_non_exhaustive()
            }
        }

        impl $name {
            /// The underlying connection pool.
            pub fn pool(&self) -> &::sqlx::Pool<$db> {
                &self.pool
            }
        }

        impl $crate::store::UserStore for $name {
            type Error = $crate::store::StoreError;

            async fn create_user(
                &self,
                username: &str,
                password_hash: &str,
            ) -> Result<$crate::store::CreateUser, Self::Error> {
                let result = ::sqlx::query(
                    "INSERT INTO tja_users (username, password_hash) VALUES ($1, $2) \
                     ON CONFLICT (username) DO NOTHING",
                )
                .bind(username)
                .bind(password_hash)
                .execute(&self.pool)
                .await?;
                Ok(if result.rows_affected() == 1 {
                    $crate::store::CreateUser::Created
                } else {
                    $crate::store::CreateUser::AlreadyExists
                })
            }

            async fn find_user(
                &self,
                username: &str,
            ) -> Result<Option<$crate::store::User>, Self::Error> {
                let row: Option<(String, String, String)> = ::sqlx::query_as(
                    "SELECT username, password_hash, attributes FROM tja_users \
                     WHERE username = $1",
                )
                .bind(username)
                .fetch_optional(&self.pool)
                .await?;
                let Some((username, password_hash, attributes)) = row else {
                    return Ok(None);
                };
                Ok(Some($crate::store::User {
                    username,
                    password_hash,
                    attributes: $crate::store::sql::attributes_from_text(&attributes)?,
                }))
            }

            async fn update_password_hash(
                &self,
                username: &str,
                password_hash: &str,
            ) -> Result<bool, Self::Error> {
                let result =
                    ::sqlx::query("UPDATE tja_users SET password_hash = $1 WHERE username = $2")
                        .bind(password_hash)
                        .bind(username)
                        .execute(&self.pool)
                        .await?;
                Ok(result.rows_affected() > 0)
            }

            async fn set_attributes(
                &self,
                username: &str,
                attributes: &$crate::store::Attributes,
            ) -> Result<bool, Self::Error> {
                let text = $crate::store::sql::attributes_to_text(attributes)?;
                // One UPDATE of one column: atomic, and the password hash is
                // left alone.
                let result =
                    ::sqlx::query("UPDATE tja_users SET attributes = $1 WHERE username = $2")
                        .bind(text)
                        .bind(username)
                        .execute(&self.pool)
                        .await?;
                Ok(result.rows_affected() > 0)
            }
        }

        impl $crate::store::RefreshTokenStore for $name {
            type Error = $crate::store::StoreError;

            async fn create_family(
                &self,
                family: $crate::store::NewFamily<'_>,
            ) -> Result<(), Self::Error> {
                // Should a random family id ever collide, the existing family
                // is left untouched rather than handed over to another login.
                ::sqlx::query(
                    "INSERT INTO tja_refresh_families \
                     (family_id, username, current_jti, expires_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (family_id) DO NOTHING",
                )
                .bind(family.family_id)
                .bind(family.username)
                .bind(family.token_id)
                .bind($crate::store::sql::to_db_time(family.expires_at))
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
            ) -> Result<$crate::store::Rotation, Self::Error> {
                let now = $crate::store::sql::to_db_time(now);
                // The single conditional UPDATE is the atomic compare-and-swap:
                // of many concurrent calls with the same `presented`, one
                // matches.
                let rotated = ::sqlx::query(
                    "UPDATE tja_refresh_families SET current_jti = $1 \
                     WHERE family_id = $2 AND current_jti = $3 AND NOT revoked \
                     AND expires_at > $4",
                )
                .bind(next)
                .bind(family_id)
                .bind(presented)
                .bind(now)
                .execute(&self.pool)
                .await?;
                if rotated.rows_affected() == 1 {
                    return Ok($crate::store::Rotation::Rotated);
                }

                let state: Option<(bool, i64)> = ::sqlx::query_as(
                    "SELECT revoked, expires_at FROM tja_refresh_families WHERE family_id = $1",
                )
                .bind(family_id)
                .fetch_optional(&self.pool)
                .await?;
                let outcome = $crate::store::sql::unrotated(state, now);
                if outcome == $crate::store::Rotation::Reused {
                    ::sqlx::query(
                        "UPDATE tja_refresh_families SET revoked = TRUE WHERE family_id = $1",
                    )
                    .bind(family_id)
                    .execute(&self.pool)
                    .await?;
                }
                Ok(outcome)
            }

            async fn revoke_family(&self, family_id: &str) -> Result<bool, Self::Error> {
                let result = ::sqlx::query(
                    "UPDATE tja_refresh_families SET revoked = TRUE \
                     WHERE family_id = $1 AND NOT revoked",
                )
                .bind(family_id)
                .execute(&self.pool)
                .await?;
                Ok(result.rows_affected() > 0)
            }

            async fn revoke_user(&self, username: &str) -> Result<u64, Self::Error> {
                let result = ::sqlx::query(
                    "UPDATE tja_refresh_families SET revoked = TRUE \
                     WHERE username = $1 AND NOT revoked",
                )
                .bind(username)
                .execute(&self.pool)
                .await?;
                Ok(result.rows_affected())
            }

            async fn purge_expired(&self, now: u64) -> Result<u64, Self::Error> {
                let result = ::sqlx::query("DELETE FROM tja_refresh_families WHERE expires_at <= $1")
                    .bind($crate::store::sql::to_db_time(now))
                    .execute(&self.pool)
                    .await?;
                Ok(result.rows_affected())
            }
        }
    };
}

pub(super) use sql_store;
