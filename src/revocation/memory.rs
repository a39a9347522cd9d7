//! [`MemoryRevocations`]: a backend within one process.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use tokio::sync::broadcast;

use super::{RevocationBackend, RevocationError, RevocationFeed, Revoked, RevokedId, check_id};

/// How many broadcasts a slow listener may fall behind before its feed
/// ends (and its replica reloads).
const CAPACITY: usize = 1024;

/// A revocation backend in memory: for one process with several replicas
/// (tests, several routers), and the reference the conformance suite holds
/// the other backends to.
#[derive(Debug)]
pub struct MemoryRevocations {
    entries: Mutex<HashMap<RevokedId, u64>>,
    sender: broadcast::Sender<Revoked>,
}

impl Default for MemoryRevocations {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryRevocations {
    /// An empty backend.
    pub fn new() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            sender: broadcast::channel(CAPACITY).0,
        }
    }
}

/// A listener of [`MemoryRevocations`].
#[derive(Debug)]
pub struct MemoryFeed(broadcast::Receiver<Revoked>);

impl RevocationFeed for MemoryFeed {
    async fn next(&mut self) -> Result<Revoked, RevocationError> {
        // Lagging behind ends the feed: the replica reloads everything.
        self.0.recv().await.map_err(|_| RevocationError::Closed)
    }
}

impl RevocationBackend for MemoryRevocations {
    type Feed = MemoryFeed;

    async fn revoke(&self, revoked: &Revoked) -> Result<(), RevocationError> {
        check_id(revoked)?;
        {
            let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            let until = entries.entry(revoked.id.clone()).or_insert(0);
            *until = (*until).max(revoked.until);
        }
        // No listener is not a failure: the entry is stored.
        let _ = self.sender.send(revoked.clone());
        Ok(())
    }

    async fn listen(&self) -> Result<MemoryFeed, RevocationError> {
        Ok(MemoryFeed(self.sender.subscribe()))
    }

    async fn load(&self, now: u64) -> Result<Vec<Revoked>, RevocationError> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(entries
            .iter()
            .filter(|(_, until)| **until > now)
            .map(|(id, until)| Revoked {
                id: id.clone(),
                until: *until,
            })
            .collect())
    }

    async fn purge(&self, now: u64) -> Result<(), RevocationError> {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, until| *until > now);
        Ok(())
    }
}
