//! The replay store shared between instances: a proof accepted by one
//! instance is refused by every other (see [the replay
//! cache](super#the-replay-cache)).
//!
//! Each layer keeps its own bounded [`ReplayCache`](super::ReplayCache) in
//! front: a `jti` this process has seen is refused without a round trip.
//! Only a `jti` new to this process is asked of the store, once the proof
//! and its token verified, and the request waits for the answer. The
//! store decides in one step ("enter it unless present"), so of two
//! instances racing with one proof exactly one accepts it.
//!
//! The key is the base64url SHA-256 of the `jti`, unkeyed: every instance
//! must compute the same key without sharing a secret, and the store
//! indexes the whole 256-bit digest, so nobody can aim `jti`s at a part of
//! it or make two collide. Hashing keeps the key 43 bytes whatever the
//! client sent, and keeps client strings out of the store.
//!
//! Fail closed: when the store errs or does not answer within
//! [`STORE_TIMEOUT`], the request is refused with 503 and `Retry-After`,
//! never accepted. The outage is logged once when it starts and once when
//! it ends, not once per request.

#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::{SharedCheck, SharedRefusal};
use crate::outage::Outage;
use crate::revocation::RevocationError;

/// How long one call to the shared store may take before the request is
/// refused with 503.
pub(crate) const STORE_TIMEOUT: Duration = Duration::from_secs(2);

/// A store of proof `jti`s shared between instances, for
/// [`Dpop::shared_replay`](super::Dpop::shared_replay).
///
/// Implemented by `RedisRevocations` (feature `redis`: one `SET … NX EX`)
/// and `PgRevocations` (feature `postgres`: one `INSERT … ON CONFLICT` into
/// `tower_jwt_auth_dpop_proofs`, whose expired rows the revocation
/// heartbeat purges).
pub trait ReplayStore: Send + Sync + 'static {
    /// Enters `key` until `until` (seconds since the epoch) unless an
    /// entry for it is still in force at `now`: `true` when this call
    /// entered it (the proof's first use), `false` when it was there (a
    /// replay). One atomic step: of concurrent calls with one key, exactly
    /// one gets `true`. An entry whose time has passed counts as absent.
    ///
    /// `key` is at most 64 bytes of base64url; the store may prefix it.
    ///
    /// # Errors
    ///
    /// [`RevocationError::Backend`] when the store cannot be reached or
    /// refuses; the request is then refused with 503.
    fn first_use(
        &self,
        key: &str,
        now: u64,
        until: u64,
    ) -> impl Future<Output = Result<bool, RevocationError>> + Send;
}

/// A [`ReplayStore`] behind `dyn`: the layer holds stores of any type.
trait ErasedStore: Send + Sync {
    fn first_use<'a>(
        &'a self,
        key: &'a str,
        now: u64,
        until: u64,
    ) -> Pin<Box<dyn Future<Output = Result<bool, RevocationError>> + Send + 'a>>;
}

impl<T: ReplayStore> ErasedStore for T {
    fn first_use<'a>(
        &'a self,
        key: &'a str,
        now: u64,
        until: u64,
    ) -> Pin<Box<dyn Future<Output = Result<bool, RevocationError>> + Send + 'a>> {
        Box::pin(ReplayStore::first_use(self, key, now, until))
    }
}

/// The shared store of a [`Dpop`](super::Dpop), and whether it is in an
/// outage. Clones (every layer and the router's token endpoints built from
/// one `Dpop`) share both, so an outage is logged once for all of them.
#[derive(Clone)]
pub(crate) struct SharedReplay {
    store: Arc<dyn ErasedStore>,
    /// Whether the last call failed: set when an outage starts, cleared
    /// when the store answers again.
    outage: Arc<Outage>,
}

impl SharedReplay {
    pub(crate) fn new<T: ReplayStore>(store: Arc<T>) -> Self {
        Self {
            store,
            outage: Arc::default(),
        }
    }

    /// The store's verdict on `jti`, first seen by this process at `now`,
    /// to be remembered for `lifetime` seconds.
    pub(crate) fn check(&self, jti: &str, now: u64, lifetime: u64) -> SharedCheck {
        let store = Arc::clone(&self.store);
        let outage = Arc::clone(&self.outage);
        let key = replay_key(jti);
        let until = now.saturating_add(lifetime);
        Box::pin(async move {
            let answer = tokio::time::timeout(STORE_TIMEOUT, store.first_use(&key, now, until))
                .await
                .unwrap_or_else(|elapsed| Err(RevocationError::backend(elapsed)));
            match answer {
                Ok(first) => {
                    if outage.answered() {
                        tracing::info!("DPoP replay store reachable again");
                    }
                    if first {
                        Ok(())
                    } else {
                        Err(SharedRefusal::Replayed)
                    }
                }
                Err(error) => {
                    if outage.failed() {
                        tracing::warn!(
                            %error,
                            "DPoP replay store unreachable: DPoP requests answer 503 until it is back"
                        );
                    }
                    Err(SharedRefusal::Unavailable)
                }
            }
        })
    }
}

/// The key of `jti` in a shared store: its base64url SHA-256 (see the
/// module docs for why unkeyed).
pub(crate) fn replay_key(jti: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(jti.as_bytes()))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    /// Answers from a map, or fails every call.
    #[derive(Default)]
    struct Map {
        entries: Mutex<std::collections::HashMap<String, u64>>,
        failing: AtomicBool,
    }

    impl ReplayStore for Map {
        async fn first_use(
            &self,
            key: &str,
            now: u64,
            until: u64,
        ) -> Result<bool, RevocationError> {
            if self.failing.load(Ordering::Relaxed) {
                return Err(RevocationError::Closed);
            }
            let mut entries = self.entries.lock().unwrap();
            match entries.get(key) {
                Some(&expiry) if expiry > now => Ok(false),
                _ => {
                    entries.insert(key.to_owned(), until);
                    Ok(true)
                }
            }
        }
    }

    #[test]
    fn the_key_is_the_unkeyed_sha256_of_the_jti_so_every_instance_agrees() {
        // SHA-256("abc"), FIPS 180-2 B.1, base64url.
        assert_eq!(
            replay_key("abc"),
            "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
        );
        assert_eq!(replay_key(&"x".repeat(4096)).len(), 43);
    }

    #[tokio::test]
    async fn a_replay_and_an_outage_are_refusals_and_the_store_comes_back() {
        let map = Arc::new(Map::default());
        let shared = SharedReplay::new(Arc::clone(&map));
        assert_eq!(shared.check("a", 100, 66).await, Ok(()));
        assert_eq!(
            shared.check("a", 101, 66).await,
            Err(SharedRefusal::Replayed)
        );
        map.failing.store(true, Ordering::Relaxed);
        assert_eq!(
            shared.check("b", 101, 66).await,
            Err(SharedRefusal::Unavailable)
        );
        assert!(shared.outage.is_down());
        map.failing.store(false, Ordering::Relaxed);
        assert_eq!(shared.check("b", 102, 66).await, Ok(()));
        assert!(!shared.outage.is_down());
    }

    /// Never answers.
    struct Silent;

    impl ReplayStore for Silent {
        async fn first_use(&self, _: &str, _: u64, _: u64) -> Result<bool, RevocationError> {
            std::future::pending().await
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_store_that_never_answers_is_an_outage_after_the_timeout() {
        let shared = SharedReplay::new(Arc::new(Silent));
        let started = tokio::time::Instant::now();
        assert_eq!(
            shared.check("a", 100, 66).await,
            Err(SharedRefusal::Unavailable)
        );
        assert_eq!(started.elapsed(), STORE_TIMEOUT);
    }
}
