//! The replay cache: the `jti` of every accepted proof, remembered for as
//! long as the proof could still be accepted (RFC 9449 §11.1).
//!
//! Bounded: it holds at most its capacity of entries, whatever arrives. An
//! entry is 16 bytes of a keyed hash of the `jti` and its expiry (about 100
//! to 125 bytes of resident memory with the map's and the queue's overhead
//! when full, measured by `examples/dpop_replay_memory.rs`), not the `jti`
//! itself, so a long `jti` costs no more than a short one. An entry expires when a
//! proof with its `iat` could no longer be accepted: `max_age + leeway + 1 s`
//! after it was entered. When the cache is full of unexpired entries, a new
//! proof is refused (fail closed) rather than an older `jti` forgotten,
//! which would let that proof be replayed.
//!
//! Only proofs that passed every other check, with an access token that
//! verified and is bound to the proof's key, are entered: filling the cache
//! takes valid tokens and their keys, not just a stream of garbage.
//!
//! On its own, the guarantee holds for one process: a layer remembers the
//! proofs it accepted itself. Behind a load balancer with several
//! instances, a proof accepted by one instance can be replayed once against
//! each other instance within its window; server nonces
//! ([`Dpop::nonces`](super::Dpop::nonces)) shorten that window. With a
//! shared store (`Dpop::shared_replay`, feature `router`) this cache stays
//! in front of it: a `jti` it holds is refused at once, and only a `jti`
//! new to it is asked of the store, which decides for every instance.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::BuildError;

/// How many independently locked parts the cache has: concurrent requests
/// rarely wait for each other.
const SHARDS: usize = 16;

/// Why a proof's `jti` could not be entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplayError {
    /// The `jti` was seen within the window.
    Replayed,
    /// The cache is full of unexpired entries.
    Full,
}

/// The `jti`s of accepted proofs, for a bounded time and in bounded number
/// (see [the replay cache](super#the-replay-cache)).
///
/// A layer with DPoP makes its own; the type is public so that its bound
/// and its cost under concurrent inserts can be measured on their own.
pub struct ReplayCache {
    shards: Box<[Mutex<Shard>]>,
    shard_capacity: usize,
    /// How long an entry lives, in seconds.
    lifetime: u64,
    /// Keys the hash of a `jti`, so that nobody can aim `jti`s at one
    /// shard or make two of them collide.
    hasher: Hmac<Sha256>,
}

#[derive(Default)]
struct Shard {
    /// Hashed `jti` → expiry.
    seen: HashMap<u128, u64>,
    /// The same entries in the order they were entered, which is the
    /// order they expire in (one lifetime for all).
    order: VecDeque<(u128, u64)>,
}

impl Shard {
    fn purge(&mut self, now: u64) {
        while let Some(&(key, expiry)) = self.order.front() {
            if expiry > now {
                break;
            }
            self.order.pop_front();
            self.seen.remove(&key);
        }
    }
}

impl std::fmt::Debug for ReplayCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayCache")
            .field("capacity", &self.capacity())
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

impl ReplayCache {
    /// A cache of at most `capacity` entries (rounded up to a multiple of
    /// 16), each kept for `lifetime`, under a random key.
    ///
    /// # Errors
    ///
    /// [`BuildError::Dpop`] if the operating system has no randomness to
    /// give.
    pub fn new(capacity: usize, lifetime: Duration) -> Result<Self, BuildError> {
        Ok(Self::with_hasher(
            capacity,
            lifetime.as_secs(),
            super::keyed(&super::random_key()?)?,
        ))
    }

    /// A cache of at most `capacity` entries (rounded up to a multiple of
    /// its shard count), each kept `lifetime` seconds, `jti`s hashed with
    /// the keyed `hasher`.
    pub(crate) fn with_hasher(capacity: usize, lifetime: u64, hasher: Hmac<Sha256>) -> Self {
        let shard_capacity = capacity.div_ceil(SHARDS).max(1);
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            shard_capacity,
            lifetime,
            hasher,
        }
    }

    /// The most entries the cache holds.
    pub fn capacity(&self) -> usize {
        self.shard_capacity * SHARDS
    }

    /// How many entries the cache holds, expired ones that were not purged
    /// yet included.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|shard| lock(shard).seen.len()).sum()
    }

    /// Whether the cache holds no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Enters `jti` as of `now` (seconds since the epoch): in one step, so that of two
    /// requests racing with the same proof only one gets through.
    ///
    /// # Errors
    ///
    /// [`ReplayError::Replayed`] if it was entered within its lifetime,
    /// [`ReplayError::Full`] if its shard holds its capacity of unexpired
    /// entries.
    pub fn insert(&self, jti: &str, now: u64) -> Result<(), ReplayError> {
        let key = self.key(jti);
        // The low bits choose the shard; the map hashes the whole key.
        #[allow(clippy::cast_possible_truncation)]
        let shard = &self.shards[(key as usize) % SHARDS];
        let mut shard = lock(shard);
        shard.purge(now);
        if shard.seen.contains_key(&key) {
            return Err(ReplayError::Replayed);
        }
        if shard.seen.len() >= self.shard_capacity {
            return Err(ReplayError::Full);
        }
        let expiry = now.saturating_add(self.lifetime);
        shard.seen.insert(key, expiry);
        shard.order.push_back((key, expiry));
        Ok(())
    }

    fn key(&self, jti: &str) -> u128 {
        let mut mac = self.hasher.clone();
        mac.update(jti.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut first = [0u8; 16];
        first.copy_from_slice(&digest[..16]);
        u128::from_le_bytes(first)
    }
}

/// Locks a shard. Nothing panics while holding the lock, and a shard is
/// consistent after every statement, so a poisoned lock is used as is.
fn lock(shard: &Mutex<Shard>) -> std::sync::MutexGuard<'_, Shard> {
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use hmac::KeyInit;

    use super::*;

    fn cache(capacity: usize) -> ReplayCache {
        ReplayCache::with_hasher(capacity, 60, Hmac::new_from_slice(&[7; 32]).unwrap())
    }

    #[test]
    fn a_jti_is_refused_within_its_lifetime_and_accepted_after() {
        let cache = cache(100);
        assert_eq!(cache.insert("a", 1_000), Ok(()));
        assert_eq!(cache.insert("a", 1_059), Err(ReplayError::Replayed));
        assert_eq!(cache.insert("b", 1_059), Ok(()));
        // Expired: purged on the next insert into its shard, and free again.
        assert_eq!(cache.insert("a", 1_060), Ok(()));
    }

    #[test]
    fn a_flood_of_distinct_jtis_never_grows_it_past_its_capacity() {
        let cache = cache(64);
        let capacity = cache.capacity();
        assert_eq!(capacity, 64);
        let mut refused = 0;
        for n in 0..10_000 {
            match cache.insert(&format!("flood-{n}"), 1_000) {
                Ok(()) => {}
                Err(ReplayError::Full) => refused += 1,
                Err(ReplayError::Replayed) => panic!("distinct jtis are never replays"),
            }
            assert!(cache.len() <= capacity);
        }
        assert_eq!(cache.len(), capacity);
        assert_eq!(refused, 10_000 - capacity);
        // Once the flood expires, proofs are accepted again.
        assert_eq!(cache.insert("later", 1_060), Ok(()));
    }

    #[test]
    fn racing_inserts_of_one_jti_let_exactly_one_through() {
        let cache = std::sync::Arc::new(cache(1_000));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let cache = std::sync::Arc::clone(&cache);
                std::thread::spawn(move || cache.insert("same", 1_000).is_ok())
            })
            .collect();
        let accepted = threads
            .into_iter()
            .map(|thread| thread.join().unwrap())
            .filter(|ok| *ok)
            .count();
        assert_eq!(accepted, 1);
    }
}
