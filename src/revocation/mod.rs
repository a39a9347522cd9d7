//! Revocation: the hook that lets logout cut access tokens short, and the
//! backends that share revocations between server instances.
//!
//! The layer asks the [`Revocation`] hook about every token that is
//! otherwise valid (cache hits too). The hook is synchronous and on the hot
//! path, so it answers from memory: [`RevocationList`] does, and forgets
//! each entry once the token it names has expired anyway.
//!
//! Behind a load balancer every instance must see every revocation. A
//! [`RevocationBackend`] records revocations durably and broadcasts them:
//! [`MemoryRevocations`] within one process, `PgRevocations` (feature
//! `postgres`: a table and `LISTEN/NOTIFY`) and `RedisRevocations` (feature
//! `redis`: a sorted set and pub/sub) across processes. Each instance keeps a
//! [`Replica`], an in-memory list that a background task keeps in step with
//! the backend: it listens, reloads every unexpired revocation on start and
//! after every reconnect, and purges expired ones. The request path reads
//! only the replica.
//!
//! When the backend has been unreachable longer than the replica's
//! maximum staleness, the replica answers [`Verdict::Unknown`] and the
//! layer refuses with [`Rejection::Unavailable`](crate::rejection::Rejection::Unavailable)
//! (503 with `Retry-After`), unless the application chose
//! [`Replica::serve_stale`].

mod list;
#[cfg(feature = "router")]
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "router")]
mod replica;

use std::future::Future;

#[cfg(any(feature = "postgres", feature = "redis"))]
use serde::{Deserialize, Serialize};

pub use list::RevocationList;
#[cfg(feature = "router")]
pub use memory::{MemoryFeed, MemoryRevocations};
#[cfg(feature = "postgres")]
pub use postgres::{DEFAULT_CHANNEL, PgFeed, PgRevocations};
#[cfg(feature = "redis")]
pub use redis::{RedisFeed, RedisRevocations};
#[cfg(feature = "router")]
pub use replica::{DEFAULT_MAX_STALENESS, Replica, ReplicaTask};

pub use crate::validator::revocation::{NoRevocation, Revocation, Verdict};

/// What is revoked: one token or a whole family.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RevokedId {
    /// The token with this `jti`.
    Token(String),
    /// Every token with this `sid`: the access tokens issued from one
    /// refresh-token family (one login).
    Family(String),
}

impl RevokedId {
    /// The id itself.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Token(id) | Self::Family(id) => id,
        }
    }

    /// `"token"` or `"family"`: the kind as backends store it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Token(_) => "token",
            Self::Family(_) => "family",
        }
    }

    /// The id of `kind` ([`RevokedId::kind`]'s names); `None` for another
    /// kind.
    pub fn from_parts(kind: &str, id: String) -> Option<Self> {
        match kind {
            "token" => Some(Self::Token(id)),
            "family" => Some(Self::Family(id)),
            _ => None,
        }
    }
}

/// One revocation: what, and until when it matters (seconds since the
/// epoch; after that the tokens it names are expired anyway).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revoked {
    /// What is revoked.
    pub id: RevokedId,
    /// Until when.
    pub until: u64,
}

/// The longest id a backend accepts, in bytes: ids are the crate's random
/// ids (22 bytes) or an identity provider's `jti`/`sid`, far shorter.
pub const MAX_REVOKED_ID_LEN: usize = 256;

impl Revoked {
    /// The token `jti`, until `until`.
    pub fn token(jti: &str, until: u64) -> Self {
        Self {
            id: RevokedId::Token(jti.to_owned()),
            until,
        }
    }

    /// The family `sid`, until `until`.
    pub fn family(sid: &str, until: u64) -> Self {
        Self {
            id: RevokedId::Family(sid.to_owned()),
            until,
        }
    }

    /// The broadcast form: a small JSON object.
    #[cfg(any(feature = "postgres", feature = "redis"))]
    pub(crate) fn to_message(&self) -> String {
        serde_json::to_string(&Message {
            kind: self.id.kind().into(),
            id: self.id.as_str().into(),
            until: self.until,
        })
        .unwrap_or_default()
    }

    /// Reads a broadcast; `None` for anything else.
    #[cfg(any(feature = "postgres", feature = "redis"))]
    pub(crate) fn from_message(message: &str) -> Option<Self> {
        let message: Message<'_> = serde_json::from_str(message).ok()?;
        let revoked = Self {
            id: RevokedId::from_parts(&message.kind, message.id.into_owned())?,
            until: message.until,
        };
        check_id(&revoked).ok()?;
        Some(revoked)
    }
}

/// A revocation on the wire.
#[cfg(any(feature = "postgres", feature = "redis"))]
#[derive(Serialize, Deserialize)]
struct Message<'a> {
    #[serde(borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    id: std::borrow::Cow<'a, str>,
    until: u64,
}

/// Why a revocation could not be recorded or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RevocationError {
    /// The id is empty or longer than [`MAX_REVOKED_ID_LEN`]; nothing was
    /// recorded.
    #[error("a revoked id must have 1 to {MAX_REVOKED_ID_LEN} bytes")]
    InvalidId,
    /// The backend could not be reached or refused the operation.
    #[error("revocation backend: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The broadcast ended (the connection closed): listen again.
    #[error("the revocation broadcast ended")]
    Closed,
}

impl RevocationError {
    #[cfg(feature = "router")]
    pub(crate) fn backend(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Backend(Box::new(error))
    }
}

/// Checks an id before a backend records it.
#[cfg(feature = "router")]
pub(crate) fn check_id(revoked: &Revoked) -> Result<(), RevocationError> {
    let len = revoked.id.as_str().len();
    if len == 0 || len > MAX_REVOKED_ID_LEN {
        return Err(RevocationError::InvalidId);
    }
    Ok(())
}

/// Where revocations are recorded and broadcast, shared by every instance.
///
/// Every operation is atomic on the backend: a revocation that
/// [`RevocationBackend::revoke`] acknowledged is both stored (until its
/// time) and broadcast, and is in every later
/// [`RevocationBackend::load`].
pub trait RevocationBackend: Send + Sync + 'static {
    /// The broadcast of revocations, as one instance receives it.
    type Feed: RevocationFeed;

    /// Records `revoked` and broadcasts it to every listener.
    fn revoke(&self, revoked: &Revoked)
    -> impl Future<Output = Result<(), RevocationError>> + Send;

    /// Starts receiving the broadcast. The replica listens before it loads,
    /// so nothing revoked in between is missed.
    fn listen(&self) -> impl Future<Output = Result<Self::Feed, RevocationError>> + Send;

    /// Every revocation still in force at `now`.
    fn load(&self, now: u64) -> impl Future<Output = Result<Vec<Revoked>, RevocationError>> + Send;

    /// Deletes the revocations whose time has passed at `now`; also the
    /// replica's periodic check that the backend answers.
    fn purge(&self, now: u64) -> impl Future<Output = Result<(), RevocationError>> + Send;
}

/// One instance's subscription to a backend's broadcast.
pub trait RevocationFeed: Send + 'static {
    /// The next revocation broadcast by any instance. An error (the
    /// connection was lost, messages were dropped) ends the feed: the
    /// replica listens and reloads again.
    fn next(&mut self) -> impl Future<Output = Result<Revoked, RevocationError>> + Send;
}
