//! Storage for users and refresh-token families.
//!
//! The auth router talks to storage through two traits, [`UserStore`] and
//! [`RefreshTokenStore`]. Stores know nothing about HTTP or JWTs: they keep
//! usernames, password hashes, per-user [`Attributes`] and the state of
//! refresh-token *families*.
//!
//! Every operation that must be atomic is a single method, so that the
//! router never does read-then-write:
//!
//! - [`UserStore::create_user`] creates a user only if the username is free
//!   and reports a conflict otherwise;
//! - [`UserStore::set_attributes`] replaces all of a user's attributes at
//!   once, and only if the user exists;
//! - [`RefreshTokenStore::rotate`] consumes the current refresh token of a
//!   family and installs the next one in one step, detecting reuse.
//!
//! Three implementations ship with the crate: [`MemoryStore`] (always),
//! `SqliteStore` (feature `sqlite`) and `PostgresStore` (feature
//! `postgres`). All three pass the same conformance suite
//! (`tests/store_conformance.rs`).
//!
//! Times are whole seconds since the Unix epoch.

use std::future::Future;

mod memory;
pub use memory::MemoryStore;

#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod error;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use error::StoreError;

#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;

/// A user's attributes: a JSON object such as `{"roles": ["admin"]}`.
///
/// A store keeps them per user, opaque to it; a new user has none (an empty
/// object).
pub type Attributes = serde_json::Map<String, serde_json::Value>;

/// A stored user account.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// The username, exactly as given at signup.
    pub username: String,
    /// The password hash (a bcrypt hash string).
    pub password_hash: String,
    /// The user's attributes (empty for a new user); replaced as a whole by
    /// [`UserStore::set_attributes`].
    pub attributes: Attributes,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The names of the attributes only: their values may be personal data.
        f.debug_struct("User")
            .field("username", &self.username)
            .field("password_hash", &"[redacted]")
            .field("attributes", &self.attributes.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The outcome of [`UserStore::create_user`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateUser {
    /// The user was created.
    Created,
    /// A user with this username already exists; nothing was changed.
    AlreadyExists,
}

/// Where user accounts live.
pub trait UserStore: Send + Sync + 'static {
    /// The error a store operation fails with (the store is unreachable,
    /// a query failed, ...). The router answers 503 for any of them.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Creates the user if no user with this username exists, as one atomic
    /// operation. Usernames are compared exactly (byte for byte).
    fn create_user(
        &self,
        username: &str,
        password_hash: &str,
    ) -> impl Future<Output = Result<CreateUser, Self::Error>> + Send;

    /// Finds a user by exact username.
    fn find_user(
        &self,
        username: &str,
    ) -> impl Future<Output = Result<Option<User>, Self::Error>> + Send;

    /// Replaces a user's password hash. Returns `false` if there is no such user.
    fn update_password_hash(
        &self,
        username: &str,
        password_hash: &str,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;

    /// Replaces all of a user's attributes with `attributes`, as one atomic
    /// operation: of concurrent calls, one wins whole and readers never see a
    /// mix. Returns `false`, creating nothing, if there is no such user. The
    /// password hash is left alone. Read them back with
    /// [`find_user`](UserStore::find_user).
    ///
    /// A store may refuse attributes it could not read back (for example the
    /// SQL stores refuse nesting deeper than their JSON reader accepts); it
    /// then fails and leaves the stored attributes as they were.
    fn set_attributes(
        &self,
        username: &str,
        attributes: &Attributes,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;
}

/// A new refresh-token family, created at login.
#[derive(Debug, Clone, Copy)]
pub struct NewFamily<'a> {
    /// A random, unique family id.
    pub family_id: &'a str,
    /// The user the family belongs to.
    pub username: &'a str,
    /// The id (`jti`) of the family's first refresh token.
    pub token_id: &'a str,
    /// When the whole family expires (seconds since the epoch). Rotation
    /// never moves this.
    pub expires_at: u64,
}

/// The outcome of [`RefreshTokenStore::rotate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// The presented token was the family's current one; the next token is
    /// now current.
    Rotated,
    /// The presented token had already been used. The family has been
    /// revoked by this call (RFC 9700 §4.14.2).
    Reused,
    /// The family was revoked before this call.
    Revoked,
    /// The family has expired.
    Expired,
    /// No such family.
    Unknown,
}

impl Rotation {
    /// What presenting a token to a family means, given whether the family
    /// exists, is revoked, has expired, and has the presented token as its
    /// current one. [`Rotation::Reused`] obliges the store to revoke the
    /// family; [`Rotation::Rotated`] to make the next token current. Every
    /// store decides by this one table.
    pub(crate) fn decide(family: Option<FamilyState>) -> Self {
        match family {
            None => Self::Unknown,
            Some(FamilyState { revoked: true, .. }) => Self::Revoked,
            Some(FamilyState { expired: true, .. }) => Self::Expired,
            Some(FamilyState { current: false, .. }) => Self::Reused,
            Some(FamilyState { current: true, .. }) => Self::Rotated,
        }
    }
}

/// A family as [`Rotation::decide`] sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FamilyState {
    pub(crate) revoked: bool,
    pub(crate) expired: bool,
    /// Whether the presented token is the family's current one.
    pub(crate) current: bool,
}

/// Where refresh-token families live.
pub trait RefreshTokenStore: Send + Sync + 'static {
    /// The error a store operation fails with. The router answers 503.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Records a new family whose current token is `family.token_id`.
    fn create_family(
        &self,
        family: NewFamily<'_>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Atomically consumes `presented` and makes `next` the family's current
    /// token, if and only if `presented` is the current token, the family is
    /// not revoked and `now < expires_at`. If `presented` is not the current
    /// token of a live family, the family is revoked and
    /// [`Rotation::Reused`] is returned. Of many concurrent calls with the
    /// same `presented` token, at most one returns [`Rotation::Rotated`].
    fn rotate(
        &self,
        family_id: &str,
        presented: &str,
        next: &str,
        now: u64,
    ) -> impl Future<Output = Result<Rotation, Self::Error>> + Send;

    /// Revokes one family. Returns `false` if there was no such live family.
    fn revoke_family(
        &self,
        family_id: &str,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;

    /// Revokes every family of a user; returns how many were live.
    fn revoke_user(&self, username: &str) -> impl Future<Output = Result<u64, Self::Error>> + Send;

    /// Deletes families that expired at or before `now` (revoked or not);
    /// returns how many were deleted.
    fn purge_expired(&self, now: u64) -> impl Future<Output = Result<u64, Self::Error>> + Send;
}
