//! [`RevocationList`]: revoked tokens, families and subjects, in memory.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use super::{Revocation, Revoked, RevokedId};
use crate::validator::{RegisteredClaims, now};

/// An in-memory revocation list: token ids (`jti`), token families (`sid`)
/// and subjects.
///
/// Each entry lives until the time it was given (for a token, its own
/// `exp`); expired entries are dropped as new ones are added, so the list
/// holds at most the revocations that still matter. It is per process: a
/// [`Replica`](super::Replica) keeps one in step with a shared
/// [`RevocationBackend`](super::RevocationBackend) for several instances.
#[derive(Debug, Default)]
pub struct RevocationList {
    entries: RwLock<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    /// `jti` → until when the entry is kept.
    tokens: HashMap<String, u64>,
    /// `sid` (the family a token was issued from) → until when.
    families: HashMap<String, u64>,
    /// `sub` → tokens of this subject issued before this time are revoked;
    /// the entry lives until `(cutoff, until)`'s `until`.
    subjects: HashMap<String, (u64, u64)>,
}

impl RevocationList {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Revokes the token with this `jti`, which expires at `exp`.
    pub fn revoke(&self, jti: &str, exp: u64) {
        self.apply(&Revoked::token(jti, exp));
    }

    /// Revokes every token carrying `sid` (the family it was issued from),
    /// until `until`: the last moment such a token can still be accepted.
    pub fn revoke_family(&self, sid: &str, until: u64) {
        self.apply(&Revoked::family(sid, until));
    }

    /// Adds one revocation (nothing when it has already expired).
    pub fn apply(&self, revoked: &Revoked) {
        let now = now();
        if revoked.until <= now {
            return;
        }
        let mut entries = self.write();
        entries.purge(now);
        entries.insert(revoked);
    }

    /// Adds many revocations at once (a reload from a backend). Nothing is
    /// ever taken back: a revocation stays until its time has passed.
    pub fn extend(&self, all: &[Revoked]) {
        let now = now();
        let mut entries = self.write();
        entries.purge(now);
        for revoked in all.iter().filter(|revoked| revoked.until > now) {
            entries.insert(revoked);
        }
    }

    /// Drops the entries that have expired.
    pub fn purge(&self) {
        self.write().purge(now());
    }

    /// Revokes every token of `sub` issued at or before now. Tokens without
    /// `iat` are revoked too. `max_lifetime` bounds how long such tokens can
    /// live, and so how long the entry is kept. Subjects stay in this
    /// process: no backend shares them.
    pub fn revoke_subject(&self, sub: &str, max_lifetime: std::time::Duration) {
        let now = now();
        let mut entries = self.write();
        entries.purge(now);
        entries.subjects.insert(
            sub.to_owned(),
            (now, now.saturating_add(max_lifetime.as_secs())),
        );
    }

    /// How many entries are held.
    pub fn len(&self) -> usize {
        let entries = self.read();
        entries.tokens.len() + entries.families.len() + entries.subjects.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Entries> {
        self.entries.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Entries> {
        self.entries.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Entries {
    fn insert(&mut self, revoked: &Revoked) {
        let map = match &revoked.id {
            RevokedId::Token(_) => &mut self.tokens,
            RevokedId::Family(_) => &mut self.families,
        };
        let until = map.entry(revoked.id.as_str().to_owned()).or_insert(0);
        *until = (*until).max(revoked.until);
    }

    fn purge(&mut self, now: u64) {
        self.tokens.retain(|_, until| *until > now);
        self.families.retain(|_, until| *until > now);
        self.subjects.retain(|_, (_, until)| *until > now);
    }
}

impl Revocation for RevocationList {
    fn is_revoked(&self, claims: &RegisteredClaims<'_>) -> bool {
        let entries = self.read();
        if entries.tokens.is_empty() && entries.families.is_empty() && entries.subjects.is_empty() {
            return false;
        }
        if claims
            .jti
            .as_deref()
            .is_some_and(|jti| entries.tokens.contains_key(jti))
            || claims
                .sid
                .as_deref()
                .is_some_and(|sid| entries.families.contains_key(sid))
        {
            return true;
        }
        match (
            claims
                .sub
                .as_deref()
                .and_then(|sub| entries.subjects.get(sub)),
            claims.iat,
        ) {
            (Some((cutoff, _)), Some(iat)) => iat <= *cutoff,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    fn claims<'a>(jti: &'a str, sub: &'a str, iat: u64) -> RegisteredClaims<'a> {
        RegisteredClaims {
            jti: Some(Cow::Borrowed(jti)),
            sub: Some(Cow::Borrowed(sub)),
            iat: Some(iat),
            ..RegisteredClaims::default()
        }
    }

    #[test]
    fn revoked_jti_is_reported_until_it_expires() {
        let list = RevocationList::new();
        list.revoke("t1", now() + 60);
        assert!(list.is_revoked(&claims("t1", "alice", now())));
        assert!(!list.is_revoked(&claims("t2", "alice", now())));
        // An already expired token is not worth an entry.
        list.revoke("old", now() - 1);
        assert_eq!(list.len(), 1);
    }

    #[test]
    fn revoking_a_subject_cuts_tokens_issued_before_now() {
        let list = RevocationList::new();
        list.revoke_subject("alice", std::time::Duration::from_secs(60));
        assert!(list.is_revoked(&claims("a", "alice", now() - 10)));
        assert!(!list.is_revoked(&claims("b", "alice", now() + 10)));
        assert!(!list.is_revoked(&claims("c", "bob", now() - 10)));
    }

    #[test]
    fn revoking_a_family_cuts_every_token_carrying_its_sid() {
        let list = RevocationList::new();
        list.revoke_family("fam-1", now() + 60);
        let mut first = claims("a", "alice", now());
        first.sid = Some(Cow::Borrowed("fam-1"));
        let mut other = claims("b", "alice", now());
        other.sid = Some(Cow::Borrowed("fam-2"));
        assert!(list.is_revoked(&first));
        assert!(!list.is_revoked(&other));
        // A token id equal to a family id is not the family.
        assert!(!list.is_revoked(&claims("fam-1", "alice", now())));
    }

    #[test]
    fn a_reload_adds_to_what_is_held_and_skips_the_expired() {
        let list = RevocationList::new();
        list.revoke("applied-meanwhile", now() + 60);
        list.extend(&[
            Revoked::token("loaded", now() + 60),
            Revoked::family("gone", now() - 1),
        ]);
        assert!(list.is_revoked(&claims("applied-meanwhile", "a", now())));
        assert!(list.is_revoked(&claims("loaded", "a", now())));
        assert_eq!(list.len(), 2);
    }
}
