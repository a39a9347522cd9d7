//! The outage flag of a shared store (the throttle's limit store, the DPoP
//! replay store): each outage is logged once when it starts and once when it
//! ends, not once per request.

use std::sync::atomic::{AtomicBool, Ordering};

/// Whether a shared store is in an outage, so that each outage is logged
/// once when it starts and once when it ends, not once per request.
#[derive(Debug, Default)]
pub(crate) struct Outage(AtomicBool);

impl Outage {
    /// Records a failed call: `true` when it starts an outage (log it).
    pub(crate) fn failed(&self) -> bool {
        !self.0.swap(true, Ordering::Relaxed)
    }

    /// Records an answered call: `true` when it ends an outage (log it).
    pub(crate) fn answered(&self) -> bool {
        self.0.swap(false, Ordering::Relaxed)
    }

    /// Whether an outage is going on.
    #[cfg(test)]
    pub(crate) fn is_down(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_reported_when_it_starts_and_when_it_ends() {
        let outage = Outage::default();
        assert!(!outage.answered(), "no outage to end");
        assert!(outage.failed(), "the first failure starts one");
        assert!(!outage.failed(), "later failures are the same outage");
        assert!(outage.answered(), "an answer ends it");
        assert!(!outage.answered());
    }
}
