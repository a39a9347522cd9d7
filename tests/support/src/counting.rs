//! A store that counts what reaches it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tower_jwt_auth::store::{
    Attributes, CreateUser, MemoryStore, NewFamily, RefreshTokenStore, Rotation, User, UserStore,
};

/// How many operations of each kind reached a [`CountingStore`].
#[derive(Debug, Default)]
pub struct Counts {
    pub reads: AtomicUsize,
    pub writes: AtomicUsize,
}

/// A [`MemoryStore`] that counts reads and writes, to prove that a request changed
/// nothing, or never reached the store at all.
#[derive(Clone, Debug, Default)]
pub struct CountingStore {
    pub inner: MemoryStore,
    pub counts: Arc<Counts>,
}

impl CountingStore {
    pub fn reads(&self) -> usize {
        self.counts.reads.load(Ordering::SeqCst)
    }

    pub fn writes(&self) -> usize {
        self.counts.writes.load(Ordering::SeqCst)
    }

    fn read(&self) {
        self.counts.reads.fetch_add(1, Ordering::SeqCst);
    }

    fn write(&self) {
        self.counts.writes.fetch_add(1, Ordering::SeqCst);
    }
}

impl UserStore for CountingStore {
    type Error = std::convert::Infallible;

    async fn create_user(&self, username: &str, hash: &str) -> Result<CreateUser, Self::Error> {
        self.write();
        self.inner.create_user(username, hash).await
    }

    async fn find_user(&self, username: &str) -> Result<Option<User>, Self::Error> {
        self.read();
        self.inner.find_user(username).await
    }

    async fn update_password_hash(&self, username: &str, hash: &str) -> Result<bool, Self::Error> {
        self.write();
        self.inner.update_password_hash(username, hash).await
    }

    async fn set_attributes(
        &self,
        username: &str,
        attributes: &Attributes,
    ) -> Result<bool, Self::Error> {
        self.write();
        self.inner.set_attributes(username, attributes).await
    }
}

impl RefreshTokenStore for CountingStore {
    type Error = std::convert::Infallible;

    async fn create_family(&self, family: NewFamily<'_>) -> Result<(), Self::Error> {
        self.write();
        self.inner.create_family(family).await
    }

    async fn rotate(
        &self,
        family: &str,
        presented: &str,
        next: &str,
        now: u64,
    ) -> Result<Rotation, Self::Error> {
        self.write();
        self.inner.rotate(family, presented, next, now).await
    }

    async fn revoke_family(&self, family: &str) -> Result<bool, Self::Error> {
        self.write();
        self.inner.revoke_family(family).await
    }

    async fn revoke_user(&self, username: &str) -> Result<u64, Self::Error> {
        self.write();
        self.inner.revoke_user(username).await
    }

    async fn purge_expired(&self, now: u64) -> Result<u64, Self::Error> {
        self.write();
        self.inner.purge_expired(now).await
    }
}
