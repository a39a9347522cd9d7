//! An in-process store backed by concurrent hash maps.

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;

use super::{
    Attributes, CreateUser, FamilyState, NewFamily, RefreshTokenStore, Rotation, User, UserStore,
};

/// What is kept of one user, under the username.
struct Account {
    password_hash: String,
    attributes: Attributes,
}

/// The state of one refresh-token family.
struct Family {
    username: String,
    current_jti: String,
    expires_at: u64,
    revoked: bool,
}

#[derive(Default)]
struct Inner {
    /// Username to account.
    users: DashMap<String, Account>,
    /// Family id to family state.
    families: DashMap<String, Family>,
}

/// A store that keeps users and refresh-token families in memory.
///
/// Everything is lost when the process exits, so this store is meant for
/// tests, examples and single-instance deployments that accept losing all
/// accounts on restart. Clones share the same data.
///
/// Each atomic operation runs under the lock of the map entry it touches:
/// [`UserStore::create_user`] inserts only into a vacant entry,
/// [`UserStore::set_attributes`] replaces the attributes while holding the
/// user's entry and [`RefreshTokenStore::rotate`] checks and replaces the
/// current token while holding the family's entry.
#[derive(Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

impl MemoryStore {
    /// Creates an empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only sizes: never usernames, hashes or token ids.
        f.debug_struct("MemoryStore")
            .field("users", &self.inner.users.len())
            .field("families", &self.inner.families.len())
            .finish()
    }
}

impl UserStore for MemoryStore {
    type Error = Infallible;

    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
    ) -> Result<CreateUser, Self::Error> {
        Ok(match self.inner.users.entry(username.to_owned()) {
            Entry::Occupied(_) => CreateUser::AlreadyExists,
            Entry::Vacant(vacant) => {
                vacant.insert(Account {
                    password_hash: password_hash.to_owned(),
                    attributes: Attributes::new(),
                });
                CreateUser::Created
            }
        })
    }

    async fn find_user(&self, username: &str) -> Result<Option<User>, Self::Error> {
        Ok(self.inner.users.get(username).map(|entry| User {
            username: entry.key().clone(),
            password_hash: entry.password_hash.clone(),
            attributes: entry.attributes.clone(),
        }))
    }

    async fn update_password_hash(
        &self,
        username: &str,
        password_hash: &str,
    ) -> Result<bool, Self::Error> {
        Ok(match self.inner.users.get_mut(username) {
            Some(mut entry) => {
                password_hash.clone_into(&mut entry.password_hash);
                true
            }
            None => false,
        })
    }

    async fn set_attributes(
        &self,
        username: &str,
        attributes: &Attributes,
    ) -> Result<bool, Self::Error> {
        // Cloned before and dropped after the entry's lock, which is held
        // only for the swap.
        let attributes = attributes.clone();
        let replaced = self
            .inner
            .users
            .get_mut(username)
            .map(|mut entry| std::mem::replace(&mut entry.attributes, attributes));
        Ok(replaced.is_some())
    }
}

impl RefreshTokenStore for MemoryStore {
    type Error = Infallible;

    async fn create_family(&self, family: NewFamily<'_>) -> Result<(), Self::Error> {
        // Family ids are random; should one ever collide, the existing family
        // is left untouched (as the SQL stores do), so a login can never take
        // over somebody else's family.
        if let Entry::Vacant(vacant) = self.inner.families.entry(family.family_id.to_owned()) {
            vacant.insert(Family {
                username: family.username.to_owned(),
                current_jti: family.token_id.to_owned(),
                expires_at: family.expires_at,
                revoked: false,
            });
        }
        Ok(())
    }

    async fn rotate(
        &self,
        family_id: &str,
        presented: &str,
        next: &str,
        now: u64,
    ) -> Result<Rotation, Self::Error> {
        // `get_mut` holds the shard's write lock until `family` is dropped, so
        // the checks and the update below form one atomic step.
        let Some(mut family) = self.inner.families.get_mut(family_id) else {
            return Ok(Rotation::Unknown);
        };
        let outcome = Rotation::decide(Some(FamilyState {
            revoked: family.revoked,
            expired: family.expires_at <= now,
            current: family.current_jti == presented,
        }));
        match outcome {
            Rotation::Reused => family.revoked = true,
            Rotation::Rotated => next.clone_into(&mut family.current_jti),
            _ => {}
        }
        Ok(outcome)
    }

    async fn revoke_family(&self, family_id: &str) -> Result<bool, Self::Error> {
        Ok(match self.inner.families.get_mut(family_id) {
            Some(mut family) if !family.revoked => {
                family.revoked = true;
                true
            }
            _ => false,
        })
    }

    async fn revoke_user(&self, username: &str) -> Result<u64, Self::Error> {
        let mut revoked = 0u64;
        for mut family in self.inner.families.iter_mut() {
            if family.username == username && !family.revoked {
                family.revoked = true;
                revoked = revoked.saturating_add(1);
            }
        }
        Ok(revoked)
    }

    async fn purge_expired(&self, now: u64) -> Result<u64, Self::Error> {
        let mut purged = 0u64;
        self.inner.families.retain(|_, family| {
            let keep = family.expires_at > now;
            if !keep {
                purged = purged.saturating_add(1);
            }
            keep
        });
        Ok(purged)
    }
}
