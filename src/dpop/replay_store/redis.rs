//! [`RedisRevocations`] as the shared DPoP replay store: one key per proof,
//! `{prefix}dpop:{key}`, with a TTL.

use redis::Value;

use super::ReplayStore;
use crate::revocation::{RedisRevocations, RevocationError};

impl RedisRevocations {
    /// The Redis key of a proof's `key`, under the revocations' prefix.
    fn proof_key(&self, key: &str) -> String {
        self.key(&format!("dpop:{key}"))
    }
}

/// `SET … NX EX`: one atomic command, which sets the key only if it is
/// absent (an expired key is absent) and answers `OK` when it did, nil
/// when it was there. The TTL is relative (`until - now`), so a Redis
/// clock that differs from this host's changes nothing.
impl ReplayStore for RedisRevocations {
    async fn first_use(&self, key: &str, now: u64, until: u64) -> Result<bool, RevocationError> {
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(self.proof_key(key))
            .arg(1)
            .arg("NX")
            .arg("EX")
            .arg(until.saturating_sub(now).max(1));
        let (answer,): (Value,) = self.run(&pipe).await?;
        Ok(!matches!(answer, Value::Nil))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proof_keys_live_under_the_revocations_prefix() {
        let revocations = RedisRevocations::new("redis://127.0.0.1:1", "app:").unwrap();
        assert_eq!(revocations.proof_key("abc"), "app:dpop:abc");
        let bare = RedisRevocations::new("redis://127.0.0.1:1", "").unwrap();
        assert_eq!(bare.proof_key("abc"), "dpop:abc");
    }
}
