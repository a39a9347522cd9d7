//! Warnings that an attacker can trigger once per request (a shed login, a
//! throttled attempt) are logged at most once a second per kind: a flood of
//! requests must not become a flood of log lines, which would cost more than
//! answering the requests and bury everything else in the log.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::validator::now;

/// One kind of repeated warning.
pub(crate) struct LogLimit {
    /// The second of the last report.
    last: AtomicU64,
    /// Events since the last report that were not reported.
    held_back: AtomicU64,
}

impl LogLimit {
    pub(crate) const fn new() -> Self {
        Self {
            last: AtomicU64::new(0),
            held_back: AtomicU64::new(0),
        }
    }

    /// `Some(n)` when this event is to be logged, `n` being how many of its
    /// kind were held back since the last report; `None` when it is counted
    /// instead.
    pub(crate) fn report(&self) -> Option<u64> {
        self.report_at(now())
    }

    fn report_at(&self, second: u64) -> Option<u64> {
        let last = self.last.load(Ordering::Relaxed);
        if second > last
            && self
                .last
                .compare_exchange(last, second, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            Some(self.held_back.swap(0, Ordering::Relaxed))
        } else {
            self.held_back.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_report_a_second_with_the_count_held_back() {
        let limit = LogLimit::new();
        assert_eq!(limit.report_at(100), Some(0));
        for _ in 0..5 {
            assert_eq!(limit.report_at(100), None);
        }
        assert_eq!(limit.report_at(101), Some(5));
        assert_eq!(limit.report_at(101), None);
        // A clock that steps back reports nothing until it passes the last report.
        assert_eq!(limit.report_at(99), None);
        assert_eq!(limit.report_at(102), Some(2));
    }
}
