//! [`Replica`]: one instance's in-memory copy of a shared backend's
//! revocations, and the task that keeps it in step.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::{
    Revocation, RevocationBackend, RevocationError, RevocationFeed, RevocationList, Verdict,
};
use crate::validator::{RegisteredClaims, now};

/// The default of [`Replica::max_staleness`]: 30 seconds.
pub const DEFAULT_MAX_STALENESS: Duration = Duration::from_secs(30);

/// How long one backend operation may take before the replica counts the
/// backend as unreachable.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(5);
/// The first wait before reconnecting; it doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// An in-memory copy of the revocations of a [`RevocationBackend`], read by
/// the layer on every request ([`Revocation`]), kept in step by the task of
/// [`Replica::sync`].
///
/// A replica that [`Replica::sync`] never started is local: the list alone,
/// always current. A synced replica counts as current while its task is
/// connected to the backend; once contact has been lost for longer than
/// [`Replica::max_staleness`] (or before the first load), it answers
/// [`Verdict::Unknown`], and the layer refuses with 503 and `Retry-After`
/// — unless [`Replica::serve_stale`] chose to go on from the replica, with a
/// warning once per outage.
#[derive(Debug)]
pub struct Replica {
    list: Arc<RevocationList>,
    shared: AtomicBool,
    /// Whether a full load has happened since the task started.
    loaded: AtomicBool,
    /// Milliseconds after `epoch` at which contact was lost; 0 while in
    /// contact.
    down_since: AtomicU64,
    epoch: Instant,
    max_staleness: Duration,
    serve_stale: bool,
    stale_warned: AtomicBool,
    heartbeat: Duration,
}

impl Default for Replica {
    fn default() -> Self {
        Self::new()
    }
}

impl Replica {
    /// A local replica with an empty list, [`DEFAULT_MAX_STALENESS`], failing
    /// closed, with a heartbeat every 5 seconds once synced.
    pub fn new() -> Self {
        Self {
            list: Arc::new(RevocationList::new()),
            shared: AtomicBool::new(false),
            loaded: AtomicBool::new(false),
            down_since: AtomicU64::new(0),
            epoch: Instant::now(),
            max_staleness: DEFAULT_MAX_STALENESS,
            serve_stale: false,
            stale_warned: AtomicBool::new(false),
            heartbeat: Duration::from_secs(5),
        }
    }

    /// How long the replica goes on answering from memory after losing
    /// contact with the backend (default [`DEFAULT_MAX_STALENESS`]).
    #[must_use]
    pub fn max_staleness(mut self, max: Duration) -> Self {
        self.max_staleness = max;
        self
    }

    /// `true`: past the maximum staleness, go on answering from memory
    /// (logging a warning once per outage) instead of refusing with 503.
    /// A token revoked on another instance during the outage is then
    /// accepted here until contact returns.
    #[must_use]
    pub fn serve_stale(mut self, serve_stale: bool) -> Self {
        self.serve_stale = serve_stale;
        self
    }

    /// How often the task asks the backend to purge expired revocations,
    /// which is also how it notices a silent outage (default 5 s).
    #[must_use]
    pub fn heartbeat(mut self, every: Duration) -> Self {
        self.heartbeat = every.max(Duration::from_millis(10));
        self
    }

    /// The list the layer reads.
    pub fn list(&self) -> &Arc<RevocationList> {
        &self.list
    }

    /// Whether the replica is current: local, or loaded and in contact with
    /// its backend (or out of contact for less than the maximum
    /// staleness).
    pub fn is_current(&self) -> bool {
        if !self.shared.load(Ordering::Acquire) {
            return true;
        }
        if !self.loaded.load(Ordering::Acquire) {
            return false;
        }
        match self.down_since.load(Ordering::Acquire) {
            0 => true,
            since => self.millis().saturating_sub(since) <= millis(self.max_staleness),
        }
    }

    /// Waits until the first load from the backend has happened, at most
    /// `timeout`; whether it has.
    pub async fn loaded(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while !self.loaded.load(Ordering::Acquire) {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }

    /// Starts the task that keeps this replica in step with `backend`:
    /// listen, load every unexpired revocation, apply each broadcast,
    /// purge on every heartbeat; on any failure, count the time out of
    /// contact and reconnect with exponential backoff (100 ms to 5 s) and
    /// jitter, loading again. Must be called within a tokio runtime.
    ///
    /// The task ends when the returned [`ReplicaTask`] is dropped, or when
    /// the replica is dropped.
    pub fn sync<B: RevocationBackend>(self: &Arc<Self>, backend: Arc<B>) -> ReplicaTask {
        self.shared.store(true, Ordering::Release);
        let replica = Arc::downgrade(self);
        ReplicaTask(tokio::spawn(run(replica, backend)))
    }

    fn millis(&self) -> u64 {
        // Never 0, which means "in contact".
        u64::try_from(self.epoch.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    fn mark_loaded(&self) {
        self.loaded.store(true, Ordering::Release);
        self.down_since.store(0, Ordering::Release);
        self.stale_warned.store(false, Ordering::Release);
    }

    fn mark_down(&self) {
        let now = self.millis();
        let _ = self
            .down_since
            .compare_exchange(0, now, Ordering::AcqRel, Ordering::Acquire);
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl Revocation for Replica {
    fn is_revoked(&self, claims: &RegisteredClaims<'_>) -> bool {
        self.list.is_revoked(claims)
    }

    fn verdict(&self, claims: &RegisteredClaims<'_>) -> Verdict {
        if self.list.is_revoked(claims) {
            return Verdict::Revoked;
        }
        if self.is_current() {
            return Verdict::Valid;
        }
        if self.serve_stale {
            if !self.stale_warned.swap(true, Ordering::AcqRel) {
                tracing::warn!(
                    max_staleness = ?self.max_staleness,
                    "revocation replica is stale; serving from it as configured"
                );
            }
            return Verdict::Valid;
        }
        Verdict::Unknown
    }
}

/// The replica's background task; dropping it stops the task.
#[derive(Debug)]
pub struct ReplicaTask(tokio::task::JoinHandle<()>);

impl Drop for ReplicaTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn run<B: RevocationBackend>(replica: Weak<Replica>, backend: Arc<B>) {
    let mut attempt: u32 = 0;
    let mut in_outage = false;
    loop {
        let error = match connect(&replica, &*backend).await {
            Connected::Gone => return,
            Connected::Ready(mut feed) => {
                if std::mem::take(&mut in_outage) {
                    tracing::info!("revocation backend reachable again; replica reloaded");
                }
                attempt = 0;
                match follow(&replica, &*backend, &mut feed).await {
                    Some(error) => error,
                    None => return,
                }
            }
            Connected::Failed(error) => error,
        };
        let Some(strong) = replica.upgrade() else {
            return;
        };
        strong.mark_down();
        drop(strong);
        if !std::mem::replace(&mut in_outage, true) {
            tracing::warn!(%error, "revocation backend unreachable; serving from the replica");
        }
        tokio::time::sleep(backoff(attempt)).await;
        attempt = attempt.saturating_add(1);
    }
}

enum Connected<F> {
    Ready(F),
    Failed(RevocationError),
    Gone,
}

/// Listens, then loads: what is revoked between the two is in the load or
/// in the feed.
async fn connect<B: RevocationBackend>(replica: &Weak<Replica>, backend: &B) -> Connected<B::Feed> {
    let feed = match bounded(backend.listen()).await {
        Ok(feed) => feed,
        Err(error) => return Connected::Failed(error),
    };
    let all = match bounded(backend.load(now())).await {
        Ok(all) => all,
        Err(error) => return Connected::Failed(error),
    };
    let Some(replica) = replica.upgrade() else {
        return Connected::Gone;
    };
    replica.list.extend(&all);
    replica.mark_loaded();
    Connected::Ready(feed)
}

/// Applies the broadcast until it fails (`Some(error)`) or the replica is
/// gone (`None`).
async fn follow<B: RevocationBackend>(
    replica: &Weak<Replica>,
    backend: &B,
    feed: &mut B::Feed,
) -> Option<RevocationError> {
    let heartbeat = replica.upgrade()?.heartbeat;
    let mut tick = tokio::time::interval(heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            next = feed.next() => match next {
                Ok(revoked) => replica.upgrade()?.list.apply(&revoked),
                Err(error) => return Some(error),
            },
            _ = tick.tick() => {
                if let Err(error) = bounded(backend.purge(now())).await {
                    return Some(error);
                }
                replica.upgrade()?.list.purge();
            }
        }
    }
}

async fn bounded<T>(
    operation: impl Future<Output = Result<T, RevocationError>>,
) -> Result<T, RevocationError> {
    tokio::time::timeout(OPERATION_TIMEOUT, operation)
        .await
        .unwrap_or_else(|elapsed| Err(RevocationError::backend(elapsed)))
}

/// Exponential backoff with jitter: a random wait between half and all of
/// `MIN_BACKOFF * 2^attempt`, capped at `MAX_BACKOFF`.
fn backoff(attempt: u32) -> Duration {
    let full = MIN_BACKOFF
        .saturating_mul(1u32 << attempt.min(16))
        .min(MAX_BACKOFF);
    let half = full / 2;
    half + half.mul_f64(rand::random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_bounded() {
        for attempt in 0..40 {
            let wait = backoff(attempt);
            assert!(wait >= MIN_BACKOFF / 2 && wait <= MAX_BACKOFF, "{wait:?}");
        }
        assert!(backoff(30) >= MAX_BACKOFF / 2);
    }

    #[test]
    fn a_local_replica_is_always_current() {
        let replica = Replica::new();
        assert!(replica.is_current());
        assert_eq!(
            replica.verdict(&RegisteredClaims::default()),
            Verdict::Valid
        );
    }
}
