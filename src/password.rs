//! Password hashing with bcrypt, off the async executor and behind a bounded queue.
//!
//! bcrypt at cost 12 takes about a quarter of a second of one core. Every hash
//! and verification runs on tokio's blocking pool; at most `workers` run at
//! once (default: the number of CPUs) and at most `queue` more may wait. A
//! request beyond that gets [`HashError::Busy`] at once (the router answers
//! 503 with `Retry-After`) instead of piling up without bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{OnceCell, Semaphore};

use crate::error::BuildError;

/// bcrypt only reads the first 72 bytes of a password; longer ones are
/// refused rather than silently truncated.
pub const BCRYPT_MAX_PASSWORD_LEN: usize = 72;
/// The default bcrypt cost.
pub const DEFAULT_BCRYPT_COST: u32 = 12;

/// The costs bcrypt accepts.
pub const BCRYPT_COSTS: std::ops::RangeInclusive<u32> = 4..=31;

/// Why a password could not be hashed or checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HashError {
    /// The queue is full: try again later.
    #[error("password hashing is saturated")]
    Busy,
    /// The blocking task failed.
    #[error("password hashing failed")]
    Failed,
}

/// A bcrypt hasher with a concurrency limit and a bounded wait queue.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    cost: u32,
    permits: Semaphore,
    /// Running plus waiting jobs.
    admitted: AtomicUsize,
    capacity: usize,
    /// A hash of a random password, verified against when a user is unknown, so
    /// that an unknown username costs the same time as a wrong password.
    dummy: OnceCell<String>,
}

impl PasswordHasher {
    /// A hasher with `cost`, `workers` concurrent jobs and `queue` waiting
    /// ones.
    ///
    /// # Errors
    ///
    /// [`BuildError::BcryptCost`] if `cost` is outside bcrypt's 4..=31.
    pub fn new(cost: u32, workers: usize, queue: usize) -> Result<Self, BuildError> {
        if !BCRYPT_COSTS.contains(&cost) {
            return Err(BuildError::BcryptCost(cost));
        }
        let workers = workers.max(1);
        Ok(Self {
            inner: Arc::new(Inner {
                cost,
                permits: Semaphore::new(workers),
                admitted: AtomicUsize::new(0),
                capacity: workers + queue,
                dummy: OnceCell::new(),
            }),
        })
    }

    /// A hasher with `cost`, one worker per CPU and a queue of 16 per worker.
    ///
    /// # Errors
    ///
    /// As [`PasswordHasher::new`].
    pub fn with_cost(cost: u32) -> Result<Self, BuildError> {
        let workers = std::thread::available_parallelism().map_or(1, usize::from);
        Self::new(cost, workers, workers * 16)
    }

    /// The configured cost.
    pub fn cost(&self) -> u32 {
        self.inner.cost
    }

    /// Jobs running or waiting now.
    pub fn in_flight(&self) -> usize {
        self.inner.admitted.load(Ordering::Acquire)
    }

    /// Hashes `password`.
    ///
    /// # Errors
    ///
    /// [`HashError::Busy`] when the queue is full.
    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        let cost = self.inner.cost;
        let password = password.to_owned();
        self.run(move || bcrypt::hash(password, cost).map_err(|_| HashError::Failed))
            .await?
    }

    /// Checks `password` against `hash`. A malformed hash is a mismatch.
    ///
    /// # Errors
    ///
    /// [`HashError::Busy`] when the queue is full.
    pub async fn verify(&self, password: &str, hash: &str) -> Result<bool, HashError> {
        let (password, hash) = (password.to_owned(), hash.to_owned());
        self.run(move || bcrypt::verify(password, &hash).unwrap_or(false))
            .await
    }

    /// Spends the time of a verification on a dummy hash, for unknown users.
    ///
    /// # Errors
    ///
    /// [`HashError::Busy`] when the queue is full.
    pub async fn verify_dummy(&self, password: &str) -> Result<(), HashError> {
        let dummy = self
            .inner
            .dummy
            .get_or_try_init(|| async {
                let cost = self.inner.cost;
                let random: [u8; 16] = rand::random();
                self.run(move || bcrypt::hash(random, cost).map_err(|_| HashError::Failed))
                    .await?
            })
            .await?
            .clone();
        self.verify(password, &dummy).await.map(drop)
    }

    /// Whether `hash` was made with a lower cost than the configured one.
    pub fn needs_rehash(&self, hash: &str) -> bool {
        // "$2b$12$...": the cost is the two digits after the second '$'.
        hash.get(4..6)
            .and_then(|cost| cost.parse::<u32>().ok())
            .is_none_or(|cost| cost < self.inner.cost)
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let inner = &self.inner;
        if inner.admitted.fetch_add(1, Ordering::AcqRel) >= inner.capacity {
            inner.admitted.fetch_sub(1, Ordering::AcqRel);
            return Err(HashError::Busy);
        }
        // Released on every path, including a cancelled request.
        let _admitted = Admitted(&inner.admitted);
        let _permit = inner
            .permits
            .acquire()
            .await
            .map_err(|_| HashError::Failed)?;
        tokio::task::spawn_blocking(job)
            .await
            .map_err(|_| HashError::Failed)
    }
}

struct Admitted<'a>(&'a AtomicUsize);

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_and_verify_round_trip() {
        let hasher = PasswordHasher::new(4, 1, 1).unwrap();
        let hash = hasher.hash("correct horse").await.unwrap();
        assert!(hash.starts_with("$2b$04$"));
        assert!(hasher.verify("correct horse", &hash).await.unwrap());
        assert!(!hasher.verify("wrong horse", &hash).await.unwrap());
        assert!(!hasher.verify("x", "not a hash").await.unwrap());
        hasher.verify_dummy("anything").await.unwrap();
    }

    #[tokio::test]
    async fn lower_cost_hashes_need_a_rehash() {
        let hasher = PasswordHasher::new(5, 1, 1).unwrap();
        assert!(hasher.needs_rehash(&bcrypt::hash("pw", 4).unwrap()));
        assert!(!hasher.needs_rehash(&bcrypt::hash("pw", 5).unwrap()));
        assert!(hasher.needs_rehash("garbage"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_answers_busy_instead_of_waiting() {
        // One worker, one waiting slot: of many simultaneous jobs, some are refused.
        let hasher = PasswordHasher::new(10, 1, 1).unwrap();
        let jobs: Vec<_> = (0..8)
            .map(|_| {
                let hasher = hasher.clone();
                tokio::spawn(async move { hasher.hash("password").await })
            })
            .collect();
        let mut busy = 0;
        for job in jobs {
            if job.await.unwrap() == Err(HashError::Busy) {
                busy += 1;
            }
        }
        assert!(busy >= 1, "no job was refused");
        assert!(busy <= 7, "every job was refused");
        // Once drained, the hasher accepts work again.
        assert!(hasher.hash("password").await.is_ok());
    }
}
