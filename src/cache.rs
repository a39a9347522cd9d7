//! The verified-token cache: a bounded map from a token, exactly as sent, to
//! what its full verification established.
//!
//! Clients reuse their access token for many requests, so most requests of a
//! busy service carry a token the layer has already verified. A hit skips the
//! base64, the signature and the JSON, and costs a comparison of the token
//! and a reference count: the claims are decoded once, into an [`Arc`], and
//! every request that carries the token shares them.
//!
//! Two levels, so that a hit writes no memory that other threads use:
//! - a **front** per thread: a few slots (4 tokens) for each thread that
//!   calls the layer, each behind its own lock on its own cache line, so that
//!   a busy token served from every core makes no core wait for, or
//!   invalidate the cache line of, another;
//! - the **shared map** behind it (quick_cache), which the fronts fill from:
//!   a miss in the front that hits the map costs a shard read lock and a
//!   reference count. A token enters the map when it is first verified
//!   (once the map is full, when it is verified the second time; see
//!   below), and a front on its second map hit in a row in its way of the
//!   front ([`Ways`]): a thread serving more users in turn than its front
//!   holds serves them from the map, without copying each into its front
//!   only to push it out before its next use.
//!
//! What a hit still checks, every time:
//! - `exp`, `nbf` and `iat` against the current time, with the leeway;
//! - the revocation hook, with the token's `exp`, `nbf`, `iat`, `sub` and
//!   `jti` and `sid`;
//! - that the key set was not replaced since the entry was filled: a
//!   replacement ([`KeyRing::replace`](crate::key::KeyRing::replace)) empties the
//!   cache, and an entry filled by a verification that raced with the
//!   replacement is ignored.
//!
//! What a hit does not check again is what cannot change for the same token
//! string: its signature under an unchanged key set, and the claim rules
//! (issuer, audience, token type, claims type), which are fixed when the
//! layer is built.
//!
//! Only tokens that passed every check are entered, so garbage and forged
//! tokens can neither fill nor evict anything. Once the cache is full, a
//! token enters only when it is verified for the second time (a "doorkeeper":
//! a table of fingerprints of tokens seen once): a token used once, such as
//! each token of a client that never reuses its token, would otherwise evict
//! an entry and cost an insertion and an eviction, for no hit. A reused token
//! then costs one verification more, once. The cache holds at most its
//! capacity in entries (rounded up to a multiple of its shard count); past
//! it, entries are evicted (quick_cache's CLOCK-Pro policy: rarely used
//! tokens go first). An entry costs the token's length (at most the layer's
//! `max_token_len`) plus the decoded claims and about a hundred bytes. The
//! fronts hold at most [`FRONT_WAYS`] × the number of front slots (twice
//! the machine's cores, rounded up to a power of two, at most 256) more: a
//! token evicted from the map may live on in a front until another token
//! takes its place there.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use quick_cache::Equivalent;
use quick_cache::sync::Cache;
use serde::de::DeserializeOwned;

use crate::error::TokenError;
use crate::jws;
use crate::validator::{RegisteredClaims, Validator};

/// The default capacity of a layer's verified-token cache, in tokens.
///
/// With access tokens of the usual few hundred bytes, a full cache holds
/// about 2–4 MiB.
pub const DEFAULT_CACHE_CAPACITY: usize = 4096;

/// What is kept of a token that passed every check, for the hits that
/// follow: its claims, decoded once and shared, and a copy of the registered
/// claims a hit rechecks (the times, and what the revocation hook reads).
/// The verified-token cache keeps one per JWT; introspection keeps one per
/// active answer ([`crate::introspection`]), so that a hit of either costs
/// the same checks.
#[derive(Clone)]
pub(crate) struct Kept<C> {
    claims: Arc<C>,
    /// `u64::MAX` for an answer without `exp` (a verified JWT always has one).
    exp: u64,
    nbf: Option<u64>,
    iat: Option<u64>,
    sub: Option<Box<str>>,
    jti: Option<Box<str>>,
    sid: Option<Box<str>>,
    /// Which of the validator's issuers verified it.
    issuer: usize,
    /// Whether it has a `cnf` claim: bound to a key (RFC 9449 §6.2).
    bound: bool,
}

impl<C> Kept<C> {
    /// What to keep of a token whose claims are `claims` and whose registered
    /// claims are `registered`.
    pub(crate) fn new(claims: Arc<C>, registered: &RegisteredClaims<'_>) -> Self {
        Self {
            claims,
            exp: registered.exp.unwrap_or(u64::MAX),
            nbf: registered.nbf,
            iat: registered.iat,
            sub: registered.sub.as_deref().map(Box::from),
            jti: registered.jti.as_deref().map(Box::from),
            sid: registered.sid.as_deref().map(Box::from),
            issuer: registered.issuer,
            bound: registered.bound,
        }
    }

    /// What a hit hands back: the shared claims, and the binding.
    pub(crate) fn verified(&self) -> Verified<C> {
        Verified {
            claims: Arc::clone(&self.claims),
            bound: self.bound,
        }
    }

    /// The registered claims a hit rechecks (borrowed: never dropped).
    pub(crate) fn registered(&self) -> ManuallyDrop<RegisteredClaims<'_>> {
        RegisteredClaims::kept(
            self.exp,
            self.nbf,
            self.iat,
            self.sub.as_deref(),
            self.jti.as_deref(),
            self.sid.as_deref(),
            self.issuer,
        )
    }

    /// The same, with a copy of the claims of its own, for a front: the
    /// requests a front serves share that copy, so that a token busy on
    /// every core bumps no reference count another core uses. (The answers'
    /// fronts copy so; the verified-token cache's keep the claims apart.)
    #[cfg_attr(not(feature = "remote"), allow(dead_code))]
    pub(crate) fn copy(&self) -> Self
    where
        C: Clone,
    {
        Self {
            claims: Arc::new(C::clone(&self.claims)),
            ..self.clone()
        }
    }
}

/// One verified token, and the key-ring generation it was verified under.
struct Entry<C> {
    kept: Kept<C>,
    generation: u64,
}

/// A valid token's claims, shared, and whether the token is bound to a key
/// (has a `cnf` claim), which a DPoP layer needs to know of every bearer
/// token. Kept in the entry, so that a hit need not read the payload for it.
#[derive(Debug)]
pub(crate) struct Verified<C> {
    pub(crate) claims: Arc<C>,
    pub(crate) bound: bool,
}

/// A cache key: a verified token, exactly as sent.
#[derive(PartialEq, Eq)]
struct TokenKey(Box<[u8]>);

/// A token looked up in the cache.
struct Lookup<'a>(&'a [u8]);

/// What the hash of a token covers: its length and its last bytes, the end
/// of its signature. Only verified tokens are entered, so nobody can choose
/// keys that collide; equality still compares whole tokens. An RS256 token is
/// some 600 bytes, and hashing only its tail saves most of that work.
fn hash_token<H: Hasher>(token: &[u8], state: &mut H) {
    const TAIL: usize = 32;
    state.write_usize(token.len());
    state.write(&token[token.len().saturating_sub(TAIL)..]);
}

impl Hash for TokenKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_token(&self.0, state);
    }
}

impl Hash for Lookup<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_token(self.0, state);
    }
}

impl Equivalent<TokenKey> for Lookup<'_> {
    fn equivalent(&self, key: &TokenKey) -> bool {
        *self.0 == *key.0
    }
}

/// How many tokens one thread's front holds.
pub(crate) const FRONT_WAYS: usize = 4;

/// A token in a front, its entry, and this front's own copy of its claims:
/// the requests a front serves share that copy, so that a token busy on
/// every core bumps no reference count that another core uses.
type Slot<C> = (Box<[u8]>, Arc<Entry<C>>, Arc<C>);

/// One thread's front: a few recently used tokens (`T`: a token and what
/// is kept for it), on a cache line (or two) of its own. The introspection
/// answers keep fronts of the same kind.
///
/// A front also counts the lookups of the threads it serves, for
/// [`CacheStats`]: the hits counted while its lock is held in its [`Ways`],
/// the rest in its own atomics, so that counting writes nothing that other
/// cores read.
#[repr(align(128))]
pub(crate) struct Front<T> {
    pub(crate) slots: Mutex<Ways<T>>,
    /// Hits counted while another thread sharing this front held its lock.
    hits: AtomicU64,
    misses: AtomicU64,
}

impl<T> Default for Front<T> {
    fn default() -> Self {
        Self {
            slots: Mutex::new(Ways {
                held: std::array::from_fn(|_| None),
                seen: [0; FRONT_WAYS],
                hits: 0,
            }),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }
}

/// A front's ways (indexed as an array of [`FRONT_WAYS`]), and in each way
/// the fingerprint of the last token served from the shared map there and
/// not taken in.
///
/// A token takes a way on its second map hit in a row there: a thread
/// that serves many users in turn (more than its ways) would otherwise copy
/// each user's token and claims into its front on every request, only to
/// push the copy out before its next use. Such users are served from the
/// map, which costs no copy; a busy token takes its way on its second
/// request.
pub(crate) struct Ways<T> {
    held: [Option<T>; FRONT_WAYS],
    seen: [u64; FRONT_WAYS],
    /// Hits counted by threads holding the lock: no locked instruction on
    /// the hit path, which holds it anyway.
    hits: u64,
}

impl<T> Ways<T> {
    /// Counts a hit, by a thread holding this front.
    pub(crate) fn count_hit(&mut self) {
        self.hits += 1;
    }

    /// Whether the token with `fingerprint` (never 0), just served from the
    /// shared map, takes `way` now: if it was the last served there.
    pub(crate) fn second_in_a_row(&mut self, way: usize, fingerprint: u64) -> bool {
        let again = self.seen[way] == fingerprint;
        self.seen[way] = if again { 0 } else { fingerprint };
        again
    }
}

impl<T> std::ops::Deref for Ways<T> {
    type Target = [Option<T>; FRONT_WAYS];

    fn deref(&self) -> &Self::Target {
        &self.held
    }
}

impl<T> std::ops::DerefMut for Ways<T> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.held
    }
}

impl<T> Front<T> {
    /// The fronts of one cache: a slot for each of twice the machine's
    /// cores, rounded up to a power of two, at most 256.
    pub(crate) fn per_thread() -> Box<[Self]> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let fronts = (2 * cores).next_power_of_two().min(256);
        (0..fronts).map(|_| Self::default()).collect()
    }

    /// The calling thread's front among `fronts` (made by
    /// [`Front::per_thread`]).
    pub(crate) fn mine(fronts: &[Self]) -> &Self {
        // `fronts` has a power-of-two length.
        &fronts[thread_number() & (fronts.len() - 1)]
    }

    /// Counts a hit by a thread that could not take this front's lock.
    pub(crate) fn count_hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a miss: a token looked up and not held.
    pub(crate) fn count_miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }

    /// The hits and misses counted in `fronts` so far, with `entries` held.
    pub(crate) fn stats(fronts: &[Self], entries: usize) -> CacheStats {
        let mut stats = CacheStats {
            entries,
            ..CacheStats::default()
        };
        for front in fronts {
            // A poisoned lock still holds its count.
            let ways = front.slots.lock().unwrap_or_else(PoisonError::into_inner);
            stats.hits += ways.hits + front.hits.load(Ordering::Relaxed);
            stats.misses += front.misses.load(Ordering::Relaxed);
        }
        stats
    }
}

/// What a cache has served since its layer was built: from
/// [`JwtAuthLayer::cache_stats`](crate::JwtAuthLayer::cache_stats) for the
/// verified-token cache, and `JwtAuthLayer::introspection_stats` (feature
/// `remote`) for the introspection answers.
///
/// A lookup is a token that passed the checks made before any (its size,
/// its form): it is a **hit** when the cache held it (and was then checked
/// again for time and revocation, which may still refuse it), a **miss**
/// otherwise (a full verification, or a call to the authorization server,
/// follows). Each thread counts in its own slot of the cache, and the counts
/// are summed when read, so counting costs a hit no write that other cores
/// read; counts read while requests run may be a few lookups behind.
///
/// The counts only grow: the difference of two readings
/// ([`CacheStats::since`]) is what happened between them, and the miss rate
/// over it tells whether the cache is large enough for the tokens in use.
///
/// ```
/// # use tower_jwt_auth::layer::CacheStats;
/// # fn report(before: CacheStats, now: CacheStats) {
/// let window = now.since(&before);
/// if window.miss_rate().is_some_and(|rate| rate > 0.1) {
///     eprintln!("{} of {} lookups missed", window.misses, window.lookups());
/// }
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Lookups the cache served.
    pub hits: u64,
    /// Lookups it could not serve.
    pub misses: u64,
    /// Entries it holds now (not counting the per-thread copies).
    pub entries: usize,
}

impl CacheStats {
    /// Hits and misses.
    #[must_use]
    pub fn lookups(&self) -> u64 {
        self.hits.saturating_add(self.misses)
    }

    /// Misses ÷ lookups; `None` before any lookup.
    #[must_use]
    pub fn miss_rate(&self) -> Option<f64> {
        // Counts far below 2^53 convert exactly.
        #[allow(clippy::cast_precision_loss)]
        (self.lookups() > 0).then(|| self.misses as f64 / self.lookups() as f64)
    }

    /// The hits and misses since `earlier`, a reading of the same cache,
    /// with the entries held now.
    #[must_use]
    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            hits: self.hits.saturating_sub(earlier.hits),
            misses: self.misses.saturating_sub(earlier.misses),
            entries: self.entries,
        }
    }
}

/// The front slot of the calling thread: threads are numbered as they first
/// use a cache, and each number picks a slot.
fn thread_number() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static NUMBER: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    NUMBER.with(|number| *number)
}

/// The way of a token in a front: from its last bytes, the end of its
/// signature (only verified tokens are entered, so nobody picks them).
fn way_of(token: &[u8]) -> usize {
    let tail = match token.last_chunk::<8>() {
        Some(last) => u64::from_le_bytes(*last),
        None => word(token),
    };
    let mixed = tail.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
    // In range: FRONT_WAYS is small.
    (mixed as usize) % FRONT_WAYS
}

/// Up to 8 bytes as a little-endian word, zero-padded.
fn word(bytes: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    word[..bytes.len()].copy_from_slice(bytes);
    u64::from_le_bytes(word)
}

/// Fingerprints of verified tokens seen once while the cache was full: a
/// token enters the full cache when its fingerprint is found here. A slot per
/// token the cache holds (rounded up to a power of two, at most
/// [`DOORKEEPER_MAX`]); tokens whose fingerprints share a slot push each
/// other out, which only delays their entry.
struct Doorkeeper {
    slots: Box<[AtomicU64]>,
    /// Tokens entered since the cache was last empty: once it reaches the
    /// capacity, the cache is taken to be full (entries leave it only when
    /// evicted, or all at once when it is emptied).
    entered: AtomicUsize,
    capacity: usize,
}

/// The most doorkeeper slots, 512 KiB of fingerprints.
const DOORKEEPER_MAX: usize = 1 << 16;

impl Doorkeeper {
    fn new(capacity: usize) -> Self {
        // Capped before rounding up, which would overflow for a capacity past 2^63.
        let slots = capacity.min(DOORKEEPER_MAX).next_power_of_two().max(64);
        Self {
            slots: (0..slots).map(|_| AtomicU64::new(0)).collect(),
            entered: AtomicUsize::new(0),
            capacity,
        }
    }

    /// Whether the verified `token` may enter the cache now: while the cache
    /// is not full, always; once it is, when the token was seen before.
    fn admits(&self, token: &[u8]) -> bool {
        if self.entered.load(Ordering::Relaxed) < self.capacity {
            self.entered.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        let fingerprint = fingerprint(token);
        // `slots` has a power-of-two length; the low bits pick the slot.
        let slot = &self.slots[(fingerprint as usize) & (self.slots.len() - 1)];
        if slot.load(Ordering::Relaxed) == fingerprint {
            slot.store(0, Ordering::Relaxed);
            return true;
        }
        slot.store(fingerprint, Ordering::Relaxed);
        false
    }

    /// The cache was emptied.
    fn reset(&self) {
        self.entered.store(0, Ordering::Relaxed);
    }
}

/// A verified token's fingerprint, never 0 (an empty slot): from the last
/// bytes of its signature, which nobody without the key chooses.
fn fingerprint(token: &[u8]) -> u64 {
    let mut state = 0x243F_6A88_85A3_08D3_u64 ^ token.len() as u64;
    for chunk in token[token.len().saturating_sub(16)..].chunks(8) {
        state = (state ^ word(chunk)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        state ^= state >> 29;
    }
    state | 1
}

/// A bounded, concurrent map from verified tokens to their claims.
pub(crate) struct TokenCache<C> {
    fronts: Box<[Front<Slot<C>>]>,
    entries: Cache<TokenKey, Arc<Entry<C>>>,
    doorkeeper: Doorkeeper,
    /// The key-ring generation the current entries belong to.
    generation: AtomicU64,
    #[cfg(test)]
    front_hits: AtomicU64,
}

impl<C> fmt::Debug for TokenCache<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("len", &self.entries.len())
            .field("capacity", &self.entries.capacity())
            .finish()
    }
}

impl<C> TokenCache<C> {
    /// How many tokens the cache holds.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// What the cache has served so far.
    pub(crate) fn stats(&self) -> CacheStats {
        Front::stats(&self.fronts, self.entries.len())
    }
}

impl<C: Clone> TokenCache<C> {
    /// A cache of about `capacity` tokens; `None` for a capacity of zero.
    pub(crate) fn new(capacity: usize, validator: &Validator) -> Option<Self> {
        (capacity > 0).then(|| Self {
            fronts: Front::per_thread(),
            entries: Cache::new(capacity),
            doorkeeper: Doorkeeper::new(capacity),
            generation: AtomicU64::new(validator.generation()),
            #[cfg(test)]
            front_hits: AtomicU64::new(0),
        })
    }

    #[cfg(test)]
    /// The most tokens the cache holds: the configured capacity rounded up
    /// to a multiple of the shard count.
    pub(crate) fn capacity(&self) -> u64 {
        self.entries.capacity()
    }

    /// Validates `token` now: from the cache when it holds the token,
    /// otherwise fully, entering the token if it is valid, and if it is
    /// bound to a key, only when `admit_bound` (a caller that refuses bound
    /// tokens keeps them out, so that what it refuses never enters).
    ///
    /// # Errors
    ///
    /// As [`Validator::validate`].
    pub(crate) fn validate(
        &self,
        validator: &Validator,
        token: &[u8],
        admit_bound: bool,
    ) -> Result<Verified<C>, TokenError>
    where
        C: DeserializeOwned,
    {
        self.validate_with(validator, token, admit_bound, crate::validator::now)
    }

    /// Validates `token` as of `now`, admitting bound tokens.
    #[cfg(test)]
    fn validate_at(
        &self,
        validator: &Validator,
        token: &str,
        now: u64,
    ) -> Result<Arc<C>, TokenError>
    where
        C: DeserializeOwned,
    {
        self.validate_with(validator, token.as_bytes(), true, || now)
            .map(|verified| verified.claims)
    }

    fn validate_with(
        &self,
        validator: &Validator,
        token: &[u8],
        admit_bound: bool,
        now: impl Fn() -> u64,
    ) -> Result<Verified<C>, TokenError>
    where
        C: DeserializeOwned,
    {
        // Read before the key set is loaded; see `KeyRing::replace`.
        let generation = validator.generation();
        if token.len() > validator.max_token_len() {
            return Err(TokenError::TooLarge);
        }
        // Only whole verified tokens are in the front: garbage matches none
        // of them, so a front hit needs no look at the token's form.
        if let Some(hit) = self.front_hit(validator, token, generation, &now) {
            #[cfg(test)]
            self.front_hits.fetch_add(1, Ordering::Relaxed);
            return hit;
        }
        // Most garbage is refused before it is hashed or takes a shard's
        // lock; the rest when it misses.
        if !jws::has_header_segment(token) {
            return Err(TokenError::Malformed);
        }
        if let Some(entry) = self.lookup(token, generation) {
            if let Err(refused) = validator.recheck(&entry.kept.registered(), now()) {
                // A hit all the same; not into the front.
                self.front().count_hit();
                return Err(refused);
            }
            let verified = entry.kept.verified();
            self.remember(token, entry, &verified.claims);
            return Ok(verified);
        }
        self.front().count_miss();
        validator.verify_at(token, now, |claims: C, registered| {
            let claims = Arc::new(claims);
            // An entry (the shared claims and a copy of the registered claims
            // the hits recheck) is made only for a token admitted: most
            // tokens a full cache sees once are not.
            if (admit_bound || !registered.bound) && self.doorkeeper.admits(token) {
                // Not into the front yet: a token used once (a new user's, or
                // a client that never reuses its token) would only push out
                // the front's busy tokens, at the cost of another copy.
                let entry = Entry {
                    kept: Kept::new(Arc::clone(&claims), registered),
                    generation,
                };
                self.entries
                    .insert(TokenKey(Box::from(token)), Arc::new(entry));
            }
            Verified {
                claims,
                bound: registered.bound,
            }
        })
    }

    /// This thread's front.
    fn front(&self) -> &Front<Slot<C>> {
        Front::mine(&self.fronts)
    }

    /// The token from this thread's front, rechecked, if it is there and
    /// was verified under key-ring `generation`. Writes only this thread's
    /// front lock; `None` also when another thread sharing the slot holds
    /// it.
    fn front_hit(
        &self,
        validator: &Validator,
        token: &[u8],
        generation: u64,
        now: &impl Fn() -> u64,
    ) -> Option<Result<Verified<C>, TokenError>> {
        if self.generation.load(Ordering::Acquire) != generation {
            return None;
        }
        let mut slots = self.front().slots.try_lock().ok()?;
        let (_, entry, claims) = slots[way_of(token)]
            .as_ref()
            .filter(|(kept, entry, _)| **kept == *token && entry.generation == generation)?;
        let verdict = validator
            .recheck(&entry.kept.registered(), now())
            .map(|()| Verified {
                claims: Arc::clone(claims),
                bound: entry.kept.bound,
            });
        slots.count_hit();
        Some(verdict)
    }

    /// Counts a hit of a token just served from the map, and puts it in
    /// this thread's front, with a copy of its `claims` of the front's own,
    /// if it was the last served from the map in its way too ([`Ways`]).
    fn remember(&self, token: &[u8], entry: Arc<Entry<C>>, claims: &C) {
        let way = way_of(token);
        let front = self.front();
        let Ok(mut slots) = front.slots.try_lock() else {
            // Another thread sharing this front holds it.
            front.count_hit();
            return;
        };
        slots.count_hit();
        if slots.second_in_a_row(way, fingerprint(token)) {
            slots[way] = Some((Box::from(token), entry, Arc::new(claims.clone())));
        }
    }

    /// The entry for `token`, if it was verified under key-ring
    /// `generation`. The first lookup after a replacement empties the cache.
    fn lookup(&self, token: &[u8], generation: u64) -> Option<Arc<Entry<C>>> {
        let seen = self.generation.load(Ordering::Acquire);
        if seen != generation {
            if self
                .generation
                .compare_exchange(seen, generation, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                self.entries.clear();
                self.doorkeeper.reset();
            }
            return None;
        }
        let entry = self.entries.get(&Lookup(token))?;
        if entry.generation != generation {
            // Filled by a verification that raced with a replacement.
            self.entries.remove(&Lookup(token));
            return None;
        }
        Some(entry)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::{Value, json};

    use super::*;
    use crate::key::KeySet;
    use crate::revocation::RevocationList;
    use crate::validator::Validation;
    use crate::{Algorithm, Claims, Key, SigningKey};

    const SECRET: &[u8] = b"a cache-test secret of at least 32 bytes";
    const OTHER: &[u8] = b"another cache-test secret, 32 bytes or more";
    const NOW: u64 = 1_700_000_000;

    fn sign(secret: &[u8], claims: &Value) -> String {
        SigningKey::hmac(Algorithm::HS256, secret)
            .unwrap()
            .sign(claims)
            .unwrap()
    }

    fn access(sub: &str, exp: u64) -> Value {
        json!({ "sub": sub, "exp": exp, "iat": NOW, "jti": format!("jti-{sub}"), "scope": "access_token" })
    }

    fn validator() -> Validator {
        Validator::new(
            Key::hmac(Algorithm::HS256, SECRET).unwrap(),
            Validation::new().leeway(std::time::Duration::ZERO),
        )
        .unwrap()
    }

    #[test]
    fn a_valid_token_is_entered_and_then_served_from_the_cache() {
        let validator = validator();
        let cache = TokenCache::<Claims>::new(16, &validator).unwrap();
        let token = sign(SECRET, &access("alice", NOW + 60));
        assert_eq!(
            cache.validate_at(&validator, &token, NOW).unwrap().sub,
            "alice"
        );
        assert_eq!(cache.len(), 1);
        let claims = cache.validate_at(&validator, &token, NOW + 1).unwrap();
        assert_eq!(claims.sub, "alice");
        assert_eq!(cache.stats().hits, 1, "the second call was a hit");
    }

    #[test]
    fn a_token_with_a_cached_tokens_length_and_tail_is_no_hit() {
        let validator = validator();
        let cache = TokenCache::<Claims>::new(16, &validator).unwrap();
        let alice = sign(SECRET, &access("alice", NOW + 60));
        let bobby = sign(SECRET, &access("bobby", NOW + 60));
        cache.validate_at(&validator, &alice, NOW).unwrap();
        // Bobby's header and payload under alice's signature: the same length and the
        // same hash as alice's token, so it lands on her entry, and must not match it.
        let (_, signature) = alice.rsplit_once('.').unwrap();
        let (signed, _) = bobby.rsplit_once('.').unwrap();
        let spliced = format!("{signed}.{signature}");
        assert_eq!(spliced.len(), alice.len());
        assert_eq!(
            cache.validate_at(&validator, &spliced, NOW).unwrap_err(),
            TokenError::InvalidSignature
        );
        assert_eq!(cache.stats().hits, 0);
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn refused_tokens_are_never_entered() {
        let validator = validator();
        let cache = TokenCache::<Claims>::new(16, &validator).unwrap();
        let forged = sign(OTHER, &access("mallory", NOW + 60));
        let expired = sign(SECRET, &access("alice", NOW - 1));
        for token in [&forged, &expired, &"garbage".to_owned()] {
            assert!(cache.validate_at(&validator, token, NOW).is_err());
        }
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn a_cached_token_expires_on_time() {
        let validator = validator();
        let cache = TokenCache::<Claims>::new(16, &validator).unwrap();
        let token = sign(SECRET, &access("alice", NOW + 60));
        cache.validate_at(&validator, &token, NOW).unwrap();
        cache.validate_at(&validator, &token, NOW + 59).unwrap();
        assert_eq!(
            cache.validate_at(&validator, &token, NOW + 60).unwrap_err(),
            TokenError::Expired
        );
        assert_eq!(cache.stats().hits, 2, "both later calls were hits");
    }

    #[test]
    fn a_cached_token_is_not_valid_before_its_nbf() {
        let validator = validator();
        let cache = TokenCache::<Claims>::new(16, &validator).unwrap();
        let token = sign(
            SECRET,
            &json!({ "sub": "alice", "exp": NOW + 60, "nbf": NOW, "scope": "access_token" }),
        );
        cache.validate_at(&validator, &token, NOW).unwrap();
        // The clock stepped back: the hit checks nbf again.
        assert_eq!(
            cache.validate_at(&validator, &token, NOW - 1).unwrap_err(),
            TokenError::NotYetValid
        );
    }

    #[test]
    fn a_cached_token_revoked_later_is_refused() {
        let revoked = Arc::new(RevocationList::new());
        let validator = validator().with_revocation(revoked.clone());
        let cache = TokenCache::<Claims>::new(16, &validator).unwrap();
        let exp = crate::validator::now() + 600;
        let token = sign(SECRET, &access("alice", exp));
        let other = sign(SECRET, &access("bob", exp));
        cache.validate(&validator, token.as_bytes(), true).unwrap();
        cache.validate(&validator, other.as_bytes(), true).unwrap();
        revoked.revoke("jti-alice", exp);
        assert_eq!(
            cache
                .validate(&validator, token.as_bytes(), true)
                .unwrap_err(),
            TokenError::Revoked
        );
        cache.validate(&validator, other.as_bytes(), true).unwrap();

        // Revoking by subject sees the cached `sub` and `iat`.
        revoked.revoke_subject("bob", std::time::Duration::from_secs(600));
        assert_eq!(
            cache
                .validate(&validator, other.as_bytes(), true)
                .unwrap_err(),
            TokenError::Revoked
        );
        assert_eq!(cache.stats().hits, 3);
    }

    #[test]
    fn replacing_the_key_set_clears_the_cache() {
        let validator = validator();
        let cache = TokenCache::<Claims>::new(16, &validator).unwrap();
        let token = sign(SECRET, &access("alice", NOW + 60));
        cache.validate_at(&validator, &token, NOW).unwrap();
        assert_eq!(cache.len(), 1);

        validator
            .keys()
            .replace(KeySet::new([Key::hmac(Algorithm::HS256, OTHER).unwrap()]));
        assert_eq!(
            cache.validate_at(&validator, &token, NOW).unwrap_err(),
            TokenError::InvalidSignature,
            "the old key's token is verified again, and fails"
        );
        assert_eq!(cache.len(), 0);
        let fresh = sign(OTHER, &access("alice", NOW + 60));
        cache.validate_at(&validator, &fresh, NOW).unwrap();
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn an_entry_filled_under_an_old_key_set_is_ignored() {
        let validator = validator();
        let cache = TokenCache::<Claims>::new(16, &validator).unwrap();
        let token = sign(SECRET, &access("alice", NOW + 60));
        cache.validate_at(&validator, &token, NOW).unwrap();
        // A verification that began before the replacement enters its token
        // after the cache was emptied.
        let stale = cache.entries.get(&Lookup(token.as_bytes())).unwrap();
        validator
            .keys()
            .replace(KeySet::new([Key::hmac(Algorithm::HS256, OTHER).unwrap()]));
        let _ = cache.validate_at(&validator, "x.y.z", NOW);
        cache
            .entries
            .insert(TokenKey(Box::from(token.as_bytes())), stale);
        assert_eq!(
            cache.validate_at(&validator, &token, NOW).unwrap_err(),
            TokenError::InvalidSignature
        );
    }

    #[test]
    fn stats_count_each_lookup_once_as_a_hit_or_a_miss() {
        let validator = validator();
        let cache = TokenCache::<Claims>::new(16, &validator).unwrap();
        let counts = || {
            let stats = cache.stats();
            (stats.hits, stats.misses, stats.entries)
        };
        let alice = sign(SECRET, &access("alice", NOW + 60));
        let bobby = sign(SECRET, &access("bobby", NOW + 30));
        assert_eq!(counts(), (0, 0, 0));
        cache.validate_at(&validator, &alice, NOW).unwrap();
        assert_eq!(counts(), (0, 1, 1), "verified and entered");
        for _ in 0..3 {
            cache.validate_at(&validator, &alice, NOW).unwrap();
        }
        assert_eq!(counts(), (3, 1, 1), "two map hits, then one from the front");
        assert_eq!(cache.front_hits.load(Ordering::Relaxed), 1);
        assert_eq!(
            cache.validate_at(&validator, &alice, NOW + 60).unwrap_err(),
            TokenError::Expired
        );
        assert_eq!(counts(), (4, 1, 1), "a front hit refused is a hit");
        cache.validate_at(&validator, &bobby, NOW).unwrap();
        assert_eq!(
            cache.validate_at(&validator, &bobby, NOW + 30).unwrap_err(),
            TokenError::Expired
        );
        assert_eq!(counts(), (5, 2, 2), "a map hit refused is a hit");
        let forged = sign(OTHER, &access("mallory", NOW + 60));
        assert!(cache.validate_at(&validator, &forged, NOW).is_err());
        assert_eq!(counts(), (5, 3, 2), "a forged token is a miss, not entered");
        let huge = "a".repeat(validator.max_token_len() + 1);
        for refused_before_lookup in ["garbage", huge.as_str()] {
            assert!(
                cache
                    .validate_at(&validator, refused_before_lookup, NOW)
                    .is_err()
            );
        }
        assert_eq!(counts(), (5, 3, 2), "refused before any lookup");

        let window = cache.stats().since(&CacheStats {
            hits: 1,
            misses: 1,
            entries: 0,
        });
        assert_eq!((window.hits, window.misses, window.lookups()), (4, 2, 6));
        assert_eq!(window.miss_rate(), Some(2.0 / 6.0));
        assert_eq!(CacheStats::default().miss_rate(), None);
    }

    #[test]
    fn stats_sum_every_threads_lookups() {
        let validator = validator();
        let cache = TokenCache::<Claims>::new(4096, &validator).unwrap();
        // More threads than the machine has front slots, so that some share one.
        let threads = 2 * cache.fronts.len() + 1;
        std::thread::scope(|scope| {
            for thread in 0..threads {
                let (cache, validator) = (&cache, &validator);
                scope.spawn(move || {
                    let token = sign(SECRET, &access(&format!("user{thread}"), NOW + 60));
                    for _ in 0..500 {
                        cache.validate_at(validator, &token, NOW).unwrap();
                    }
                });
            }
        });
        let stats = cache.stats();
        assert_eq!(stats.lookups(), 500 * threads as u64);
        assert_eq!(stats.misses, threads as u64, "one verification a token");
        assert_eq!(stats.entries, threads);
    }

    #[test]
    fn a_full_cache_enters_a_token_on_its_second_verification() {
        let validator = validator();
        let cache = TokenCache::<Claims>::new(16, &validator).unwrap();
        let fill = |from: usize| {
            for n in from..from + 16 {
                let token = sign(SECRET, &access(&format!("user{n}"), NOW + 60));
                cache.validate_at(&validator, &token, NOW).unwrap();
            }
        };
        fill(0);
        assert_eq!(cache.len(), 16, "not full yet: every token entered");
        let token = sign(SECRET, &access("alice", NOW + 60));
        let hits = || cache.stats().hits;
        let before = hits();
        for (call, entered) in [(1, false), (2, true), (3, true)] {
            assert_eq!(
                cache.validate_at(&validator, &token, NOW).unwrap().sub,
                "alice"
            );
            let held = cache
                .lookup(token.as_bytes(), validator.generation())
                .is_some();
            assert_eq!(held, entered, "call {call}");
        }
        assert_eq!(hits() - before, 1, "only the third call was a hit");

        // Emptied by a key replacement: tokens enter at once again, until it is full.
        validator
            .keys()
            .replace(KeySet::new([Key::hmac(Algorithm::HS256, SECRET).unwrap()]));
        let _ = cache.validate_at(&validator, "x.y.z", NOW);
        let fresh = sign(SECRET, &access("bobby", NOW + 60));
        cache.validate_at(&validator, &fresh, NOW).unwrap();
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn a_huge_capacity_builds_a_bounded_doorkeeper() {
        let validator = validator();
        let cache = TokenCache::<Claims>::new(usize::MAX, &validator).unwrap();
        assert_eq!(cache.doorkeeper.slots.len(), DOORKEEPER_MAX);
        let token = sign(SECRET, &access("alice", NOW + 60));
        cache.validate_at(&validator, &token, NOW).unwrap();
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn fingerprints_are_never_an_empty_slot_and_tell_tokens_apart() {
        let tokens: Vec<String> = (0..1_000)
            .map(|n| sign(SECRET, &access(&format!("user{n}"), NOW + 60)))
            .collect();
        let prints: std::collections::HashSet<u64> = tokens
            .iter()
            .map(|token| fingerprint(token.as_bytes()))
            .collect();
        assert_eq!(prints.len(), tokens.len());
        assert!(!prints.contains(&0));
        assert_ne!(fingerprint(b""), 0);
    }

    #[test]
    fn the_cache_never_holds_more_than_its_capacity() {
        let validator = validator();
        let cache = TokenCache::<Value>::new(100, &validator).unwrap();
        let bound = cache.capacity();
        assert!((100..100 + 64).contains(&bound), "{bound}");
        for n in 0..2_000 {
            let token = sign(SECRET, &access(&format!("user{n}"), NOW + 60));
            cache.validate_at(&validator, &token, NOW).unwrap();
            assert!(cache.len() as u64 <= bound, "{} > {bound}", cache.len());
        }
        assert!(cache.len() > 50, "the cache is in use: {}", cache.len());
    }

    /// A token served from this thread's front: verified, then two hits in
    /// the map, the second of which puts it in the front, then a front hit.
    fn in_front(cache: &TokenCache<Claims>, validator: &Validator, token: &str, now: u64) {
        for _ in 0..4 {
            cache.validate_at(validator, token, now).unwrap();
        }
        assert!(cache.front_hits.load(Ordering::Relaxed) >= 1);
    }

    #[test]
    fn a_token_in_the_front_is_rechecked_for_time_and_revocation() {
        let revoked = Arc::new(RevocationList::new());
        let validator = validator().with_revocation(revoked.clone());
        let cache = TokenCache::<Claims>::new(16, &validator).unwrap();
        let exp = crate::validator::now() + 600;
        let token = sign(SECRET, &access("alice", exp));
        let now = exp - 600;
        in_front(&cache, &validator, &token, now);
        let before = cache.front_hits.load(Ordering::Relaxed);
        assert_eq!(
            cache.validate_at(&validator, &token, exp).unwrap_err(),
            TokenError::Expired
        );
        revoked.revoke("jti-alice", exp);
        assert_eq!(
            cache.validate_at(&validator, &token, now).unwrap_err(),
            TokenError::Revoked
        );
        assert_eq!(
            cache.front_hits.load(Ordering::Relaxed),
            before + 2,
            "both refusals were front hits"
        );
    }

    /// Whether this thread's front holds `token`.
    fn held(cache: &TokenCache<Claims>, token: &str) -> bool {
        let slots = cache.front().slots.lock().unwrap();
        slots[way_of(token.as_bytes())]
            .as_ref()
            .is_some_and(|(kept, _, _)| **kept == *token.as_bytes())
    }

    #[test]
    fn a_token_takes_its_front_way_on_its_second_map_hit_in_a_row_there() {
        let validator = validator();
        let cache = TokenCache::<Claims>::new(64, &validator).unwrap();
        // Two users whose tokens share a way of the front.
        let alice = (sign(SECRET, &access("alice", NOW + 60)), "alice".to_owned());
        let bobby = (0..)
            .map(|n| format!("bobby{n}"))
            .map(|sub| (sign(SECRET, &access(&sub, NOW + 60)), sub))
            .find(|(token, _)| way_of(token.as_bytes()) == way_of(alice.0.as_bytes()))
            .unwrap();
        for (token, _) in [&alice, &bobby] {
            cache.validate_at(&validator, token, NOW).unwrap();
        }
        // In turn: each served from the map, and neither copied into the front.
        for _ in 0..3 {
            for (token, sub) in [&alice, &bobby] {
                assert_eq!(cache.validate_at(&validator, token, NOW).unwrap().sub, *sub);
                assert!(!held(&cache, &alice.0) && !held(&cache, &bobby.0));
            }
        }
        assert_eq!(cache.front_hits.load(Ordering::Relaxed), 0);
        // Twice in a row from the map: into the front, and then served from it.
        cache.validate_at(&validator, &alice.0, NOW).unwrap();
        assert!(!held(&cache, &alice.0));
        cache.validate_at(&validator, &alice.0, NOW).unwrap();
        assert!(held(&cache, &alice.0));
        let claims = cache.validate_at(&validator, &alice.0, NOW).unwrap();
        assert_eq!(claims.sub, "alice");
        assert_eq!(cache.front_hits.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_token_in_the_front_is_verified_again_after_a_key_replacement() {
        let validator = validator();
        let cache = TokenCache::<Claims>::new(16, &validator).unwrap();
        let token = sign(SECRET, &access("alice", NOW + 60));
        in_front(&cache, &validator, &token, NOW);
        validator
            .keys()
            .replace(KeySet::new([Key::hmac(Algorithm::HS256, OTHER).unwrap()]));
        assert_eq!(
            cache.validate_at(&validator, &token, NOW).unwrap_err(),
            TokenError::InvalidSignature
        );
    }

    #[test]
    fn a_spliced_token_does_not_hit_the_front() {
        let validator = validator();
        let cache = TokenCache::<Claims>::new(16, &validator).unwrap();
        let alice = sign(SECRET, &access("alice", NOW + 60));
        let bobby = sign(SECRET, &access("bobby", NOW + 60));
        in_front(&cache, &validator, &alice, NOW);
        let (_, signature) = alice.rsplit_once('.').unwrap();
        let (signed, _) = bobby.rsplit_once('.').unwrap();
        let spliced = format!("{signed}.{signature}");
        assert_eq!(way_of(spliced.as_bytes()), way_of(alice.as_bytes()));
        assert_eq!(
            cache.validate_at(&validator, &spliced, NOW).unwrap_err(),
            TokenError::InvalidSignature
        );
    }

    #[test]
    fn threads_hitting_one_token_each_get_its_claims() {
        let validator = validator();
        let cache = TokenCache::<Claims>::new(64, &validator).unwrap();
        let tokens: Vec<String> = (0..8)
            .map(|n| sign(SECRET, &access(&format!("user{n}"), NOW + 60)))
            .collect();
        std::thread::scope(|scope| {
            for thread in 0..4 {
                let (cache, validator, tokens) = (&cache, &validator, &tokens);
                scope.spawn(move || {
                    for round in 0..500 {
                        // Each token four times in a row: into the front.
                        let n = (thread + round / 4) % tokens.len();
                        let claims = cache.validate_at(validator, &tokens[n], NOW).unwrap();
                        assert_eq!(claims.sub, format!("user{n}"));
                    }
                });
            }
        });
        assert!(cache.front_hits.load(Ordering::Relaxed) > 0);
    }

    #[test]
    fn a_capacity_of_zero_means_no_cache() {
        assert!(TokenCache::<Value>::new(0, &validator()).is_none());
    }
}
