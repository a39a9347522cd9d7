//! [`RevocationList`]: revoked tokens, families and subjects, in memory.

use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use arc_swap::ArcSwap;
use foldhash::fast::RandomState;

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
///
/// A token none of whose ids is in the list is told so without a lock:
/// every check would otherwise write the lock's count, a cache line that
/// all cores share, and the checks of a busy token on many cores would take
/// turns on it (`cached/revocations` in `benches/scaling.rs`).
#[derive(Debug, Default)]
pub struct RevocationList {
    entries: RwLock<Entries>,
    /// Which ids may be in `entries`; changed only under its write lock.
    filter: ArcSwap<Filter>,
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
        self.refilter(&entries, [revoked.into()]);
    }

    /// Adds many revocations at once (a reload from a backend). Nothing is
    /// ever taken back: a revocation stays until its time has passed.
    pub fn extend(&self, all: &[Revoked]) {
        let now = now();
        let mut entries = self.write();
        entries.purge(now);
        let current = || all.iter().filter(|revoked| revoked.until > now);
        for revoked in current() {
            entries.insert(revoked);
        }
        self.refilter(&entries, current().map(Into::into));
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
        self.refilter(&entries, [(Kind::Subject, sub)]);
    }

    /// How many entries are held.
    pub fn len(&self) -> usize {
        self.read().len()
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

    /// Puts the ids just added to `entries` in the filter, under the
    /// entries' write lock, so that every id in the list is in the filter
    /// before the lock is released. Once the filter has taken as many ids as
    /// it has room for, a new one is made from `entries` instead: sized to
    /// them, and without the ids purged since (whose bits stay until then,
    /// costing only a lock). Each id is added once between two rebuilds, and
    /// a rebuild leaves room for as many ids again as the list holds, so an
    /// addition costs O(1) on average.
    fn refilter<'a>(&self, entries: &Entries, added: impl IntoIterator<Item = (Kind, &'a str)>) {
        let filter = self.filter.load();
        for (kind, id) in added {
            if filter.added.load(Ordering::Relaxed) >= filter.capacity() {
                self.filter.store(Arc::new(Filter::of(entries)));
                return;
            }
            filter.add(kind, id);
        }
    }
}

impl Entries {
    fn len(&self) -> usize {
        self.tokens.len() + self.families.len() + self.subjects.len()
    }

    /// Every id held, with its kind.
    fn ids(&self) -> impl Iterator<Item = (Kind, &str)> {
        (self.tokens.keys().map(|id| (Kind::Token, id.as_str())))
            .chain(self.families.keys().map(|id| (Kind::Family, id.as_str())))
            .chain(self.subjects.keys().map(|id| (Kind::Subject, id.as_str())))
    }

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

/// The kinds of id, hashed apart in the filter.
#[derive(Clone, Copy, Hash)]
enum Kind {
    Token,
    Family,
    Subject,
}

impl<'a> From<&'a Revoked> for (Kind, &'a str) {
    fn from(revoked: &'a Revoked) -> Self {
        let kind = match revoked.id {
            RevokedId::Token(_) => Kind::Token,
            RevokedId::Family(_) => Kind::Family,
        };
        (kind, revoked.id.as_str())
    }
}

/// The ids a [`RevocationList`] may hold: one bit per id, set from a keyed
/// hash, and never clear for an id the list holds. Read with plain loads,
/// so that a check writes nothing. A set bit only sends the check on to the
/// list itself, so another id's bit (about one in sixteen at most, as the
/// filter is sized) costs just that.
struct Filter {
    words: Box<[AtomicU64]>,
    hasher: RandomState,
    /// Whether an id of each kind was added: a kind with none is not hashed.
    kinds: [AtomicBool; 3],
    /// How many ids were added since it was made, purged ones included.
    added: AtomicUsize,
}

impl Default for Filter {
    fn default() -> Self {
        Self::sized(0)
    }
}

impl fmt::Debug for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Filter")
            .field("bits", &(self.words.len() * 64))
            .finish_non_exhaustive()
    }
}

impl Filter {
    /// Bits per entry at the fullest it is let get.
    const BITS_PER_ENTRY: usize = 16;
    /// The fewest bits (512 bytes).
    const MIN_BITS: usize = 4096;

    /// An empty filter with room for twice `entries`, with keys of its own.
    fn sized(entries: usize) -> Self {
        let bits = entries
            .saturating_mul(2 * Self::BITS_PER_ENTRY)
            .max(Self::MIN_BITS)
            .next_power_of_two();
        Self {
            words: (0..bits / 64).map(|_| AtomicU64::new(0)).collect(),
            hasher: RandomState::default(),
            kinds: Default::default(),
            added: AtomicUsize::new(0),
        }
    }

    /// A filter of every id in `entries`, with room for as many again.
    fn of(entries: &Entries) -> Self {
        let filter = Self::sized(entries.len());
        for (kind, id) in entries.ids() {
            filter.add(kind, id);
        }
        filter
    }

    /// How many ids it takes at its fullest.
    fn capacity(&self) -> usize {
        self.words.len() * 64 / Self::BITS_PER_ENTRY
    }

    fn add(&self, kind: Kind, id: &str) {
        let (word, bit) = self.position(kind, id);
        self.words[word].fetch_or(bit, Ordering::Release);
        self.kinds[kind as usize].store(true, Ordering::Release);
        self.added.fetch_add(1, Ordering::Relaxed);
    }

    fn position(&self, kind: Kind, id: &str) -> (usize, u64) {
        // `words` has a power-of-two length.
        let at = self.hasher.hash_one((kind, id)) as usize & (self.words.len() * 64 - 1);
        (at / 64, 1 << (at % 64))
    }

    /// Whether the list may hold `id` of `kind`: false only if it does not.
    fn may_hold(&self, kind: Kind, id: Option<&str>) -> bool {
        id.is_some_and(|id| {
            self.kinds[kind as usize].load(Ordering::Acquire) && {
                let (word, bit) = self.position(kind, id);
                self.words[word].load(Ordering::Acquire) & bit != 0
            }
        })
    }
}

impl RevocationList {
    /// Whether one of the ids of `claims` may be in the list: false only if
    /// none is. Reads the filter alone.
    fn may_hold(&self, claims: &RegisteredClaims<'_>) -> bool {
        let filter = self.filter.load();
        filter.may_hold(Kind::Token, claims.jti.as_deref())
            || filter.may_hold(Kind::Family, claims.sid.as_deref())
            || filter.may_hold(Kind::Subject, claims.sub.as_deref())
    }

    /// Whether the entries revoke `claims`, under their read lock.
    fn listed(&self, claims: &RegisteredClaims<'_>) -> bool {
        let entries = self.read();
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

impl Revocation for RevocationList {
    fn is_revoked(&self, claims: &RegisteredClaims<'_>) -> bool {
        self.may_hold(claims) && self.listed(claims)
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

    /// Claims with only an id of `kind`.
    fn with_id(kind: Kind, id: &str) -> RegisteredClaims<'_> {
        let id = Some(Cow::Borrowed(id));
        match kind {
            Kind::Token => RegisteredClaims {
                jti: id,
                ..RegisteredClaims::default()
            },
            Kind::Family => RegisteredClaims {
                sid: id,
                ..RegisteredClaims::default()
            },
            Kind::Subject => RegisteredClaims {
                sub: id,
                ..RegisteredClaims::default()
            },
        }
    }

    #[test]
    fn the_filter_never_turns_away_an_id_the_list_holds() {
        let list = RevocationList::new();
        let later = now() + 3600;
        // Enough to make the filter anew several times (it starts with room for 256).
        for n in 0..3000 {
            list.revoke(&format!("jti-{n}"), later);
            if n % 3 == 0 {
                list.revoke_family(&format!("sid-{n}"), later);
            }
            if n % 100 == 0 {
                list.revoke_subject(&format!("sub-{n}"), std::time::Duration::from_secs(60));
            }
        }
        // A batch, as a replica's reload gives it.
        let batch: Vec<Revoked> = (0..500)
            .map(|n| Revoked::token(&format!("batch-{n}"), later))
            .collect();
        list.extend(&batch);
        // Entries purged and ids added after, so that a rebuild leaves the purged out.
        list.write().purge(later);
        for n in 0..400 {
            list.revoke(&format!("after-{n}"), later + 60);
        }
        let entries = list.read();
        assert_eq!(entries.len(), 400);
        let filter = list.filter.load();
        for (kind, id) in entries.ids() {
            assert!(filter.may_hold(kind, Some(id)), "{id} turned away");
        }
        drop(entries);
        for n in 0..400 {
            assert!(list.is_revoked(&with_id(Kind::Token, &format!("after-{n}"))));
        }
    }

    #[test]
    fn the_filter_spares_most_ids_the_lock() {
        let list = RevocationList::new();
        for n in 0..2000 {
            list.revoke(&format!("jti-{n}"), now() + 3600);
            list.revoke_family(&format!("sid-{n}"), now() + 3600);
        }
        // At most one bit in sixteen is set, so about one unlisted id in sixteen may pass.
        let passed = (0..1000)
            .filter(|n| {
                list.may_hold(&with_id(Kind::Token, &format!("other-{n}")))
                    || list.may_hold(&with_id(Kind::Family, &format!("other-{n}")))
            })
            .count();
        assert!(
            passed < 250,
            "{passed} of 1000 unlisted ids went to the lock"
        );
        // No subject was revoked: no subject goes to the lock.
        assert!(!list.may_hold(&with_id(Kind::Subject, "jti-1")));
    }

    proptest::proptest! {
        /// The list's verdict with the filter is its verdict without.
        #[test]
        fn the_filter_changes_no_verdict(
            revoked in proptest::collection::vec((0_u8..3, 0_u16..600), 0..400),
            asked in proptest::collection::vec((0_u8..3, 0_u16..600), 1..50),
        ) {
            let kind = |k: u8| [Kind::Token, Kind::Family, Kind::Subject][usize::from(k)];
            let list = RevocationList::new();
            for (k, id) in &revoked {
                let id = format!("id-{id}");
                match kind(*k) {
                    Kind::Token => list.revoke(&id, now() + 60),
                    Kind::Family => list.revoke_family(&id, now() + 60),
                    Kind::Subject => list.revoke_subject(&id, std::time::Duration::from_secs(60)),
                }
            }
            for (k, id) in &asked {
                let id = format!("id-{id}");
                let claims = with_id(kind(*k), &id);
                proptest::prop_assert_eq!(list.is_revoked(&claims), list.listed(&claims));
            }
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
