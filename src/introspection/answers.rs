//! A layer's introspection answers: kept per token (keyed by a 128-bit keyed
//! hash of the token, [`Keying`], so that no token is held in memory), each
//! decoded once into the layer's claims type, and one call at a time per
//! token.
//!
//! Two levels, as the verified-token cache has ([`crate::cache`]): a front
//! per thread, a few answers behind that thread's own lock, each with its
//! own copy of the claims, so that a busy token served from every core
//! writes no memory another core uses; and the shared map (quick_cache)
//! behind it, which fills a front when an answer kept there is used. A
//! front holds what the map held, until the same `until`: an answer the
//! map evicted may still be served from a front until another takes its
//! place there, at most [`FRONT_WAYS`] answers per front slot.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use quick_cache::sync::Cache;
use serde::de::DeserializeOwned;
use tokio::sync::OnceCell;

use super::{Introspector, Unanswered, parse_active};
use crate::cache::{CacheStats, FRONT_WAYS, Front, Kept, Verified};
use crate::dpop::Binding;
use crate::error::TokenError;
use crate::validator::{Validator, read_registered};

/// A token's cache key: a 128-bit keyed hash of it ([`Keying`]).
type Key = u128;

/// How a layer makes its tokens' keys: XXH3's 128-bit hash of the token
/// under a secret of [`Keying::SECRET_LEN`] bytes drawn from the system's
/// randomness when the introspector is built.
///
/// A kept answer is found by its key alone, so two tokens with one key would
/// share an answer. What keeps that from happening:
/// - By chance: one in 2^128 for two tokens.
/// - On purpose: the secret is secret, so a key can be neither computed nor
///   aimed at from outside; and the keys are never shown, so a client can
///   only send tokens and see whether one is accepted. Against a cache of a
///   million answers (2^20), a guess wins one time in 2^108.
/// - Nothing is gained by a token that collides with a token one already
///   holds: both get the same answer.
///
/// A key does not give its token back, even with the secret at hand: an
/// opaque token carries more than 128 bits, so each key has countless
/// tokens. The hash takes some 7 ns for a 43-byte token, a SHA-256 66 ns
/// (BENCHMARKS.md, "Introspection"): the key is computed for every request
/// that carries an opaque token.
///
/// Clones share the secret: the introspector draws it, and each layer's
/// answers hold it one pointer away from the request path.
#[derive(Clone)]
pub(crate) struct Keying {
    secret: Arc<[u8; Keying::SECRET_LEN]>,
}

impl Keying {
    /// The secret's length: XXH3's own default secret's.
    const SECRET_LEN: usize = 192;

    /// A secret drawn from the system's randomness; `None` without it.
    pub(crate) fn random() -> Option<Self> {
        let mut secret = [0u8; Self::SECRET_LEN];
        getrandom::fill(&mut secret).ok()?;
        Some(Self {
            secret: Arc::new(secret),
        })
    }

    /// The key of `token`.
    pub(crate) fn key(&self, token: &[u8]) -> Key {
        xxhash_rust::xxh3::xxh3_128_with_secret(token, &self.secret[..])
    }
}

/// What the authorization server said of a token, as this layer keeps it.
#[derive(Clone)]
pub(crate) enum Answer<C> {
    /// Active, and its claims passed the introspector's rules: kept as a
    /// verified JWT is, until `until`, the cache TTL or `exp` if sooner.
    /// `jkt`: the DPoP key the token is bound to (`cnf.jkt`, RFC 9449 §6.2).
    Active {
        kept: Kept<C>,
        jkt: Option<Arc<str>>,
        until: u64,
    },
    /// Not active, or refused by the rules: refused with `error` until
    /// `until`.
    Refused { error: TokenError, until: u64 },
}

impl<C> Answer<C> {
    fn until(&self) -> u64 {
        match self {
            Self::Active { until, .. } | Self::Refused { until, .. } => *until,
        }
    }
}

impl<C: Clone> Answer<C> {
    /// The same answer with claims of its own, for a front.
    fn copy(&self) -> Self {
        match self {
            Self::Active { kept, jkt, until } => Self::Active {
                kept: kept.copy(),
                jkt: jkt.as_deref().map(Arc::from),
                until: *until,
            },
            Self::Refused { error, until } => Self::Refused {
                error: *error,
                until: *until,
            },
        }
    }
}

/// An active answer's verdict: the claims to hand on, and the DPoP key the
/// token is bound to, if any, which a DPoP request's proof must match.
#[derive(Debug)]
pub(crate) struct Introspected<C> {
    pub(crate) verified: Verified<C>,
    pub(crate) jkt: Option<Arc<str>>,
}

/// A token's key in a front, and the front's own copy of its answer: the
/// requests a front serves share that copy's claims, so that a token busy
/// on every core bumps no reference count another core uses.
type Slot<C> = (Key, Arc<Answer<C>>);

/// The way of a key in a front: its low bits (a keyed hash is uniform).
fn way_of(key: Key) -> usize {
    // In range: FRONT_WAYS is small.
    (key as usize) % FRONT_WAYS
}

/// An introspection's outcome, shared by the requests that waited for it.
pub(crate) type Outcome<C> = Result<Arc<Answer<C>>, Unanswered>;

/// A request's wait for its token's introspection.
pub(crate) type IntrospectFuture<C> = Pin<Box<dyn Future<Output = Outcome<C>> + Send>>;

/// The answers of one layer, and the introspections under way.
pub(crate) struct Answers<C> {
    introspector: Introspector,
    /// The introspector's, kept here so that a key costs no more hops.
    keying: Keying,
    kept: Option<Cache<Key, Arc<Answer<C>>>>,
    /// Per thread, a few answers of `kept` used lately.
    fronts: Box<[Front<Slot<C>>]>,
    in_flight: Mutex<HashMap<Key, Arc<OnceCell<Outcome<C>>>>>,
}

impl<C> Answers<C> {
    pub(crate) fn new(introspector: Introspector) -> Self {
        let config = introspector.config();
        let keeps = config.capacity > 0 && !config.ttl.is_zero();
        Self {
            kept: keeps.then(|| Cache::new(config.capacity)),
            keying: introspector.keying().clone(),
            fronts: Front::per_thread(),
            introspector,
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    /// The introspections under way, by token.
    fn lock_in_flight(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Arc<OnceCell<Outcome<C>>>>> {
        self.in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether `token` is for introspection rather than local validation.
    pub(crate) fn takes(&self, token: &[u8]) -> bool {
        self.introspector.takes(token)
    }

    /// How many introspections are under way.
    #[cfg(test)]
    fn in_flight(&self) -> usize {
        self.lock_in_flight().len()
    }

    /// How many answers are kept.
    pub(crate) fn len(&self) -> usize {
        self.kept.as_ref().map_or(0, Cache::len)
    }

    /// What the kept answers have served so far.
    pub(crate) fn stats(&self) -> CacheStats {
        Front::stats(&self.fronts, self.len())
    }

    /// Counts a token found in no front and no map, which the caller sends
    /// for introspection ([`Answers::lookup`]).
    pub(crate) fn count_miss(&self) {
        Front::mine(&self.fronts).count_miss();
    }

    fn kept_by_key(&self, key: &Key, now: u64) -> Option<Arc<Answer<C>>> {
        let answer = self.kept.as_ref()?.get(key)?;
        (answer.until() > now).then_some(answer)
    }

    /// The verdict at `now` on the kept answer for `token`, if one is still
    /// kept: from this thread's front, or from the map, which then puts a
    /// copy in the front.
    pub(crate) fn hit(
        &self,
        validator: &Validator,
        token: &[u8],
        now: u64,
    ) -> Option<Result<Introspected<C>, TokenError>>
    where
        C: Clone,
    {
        let kept = self.kept.as_ref()?;
        let key = self.keying.key(token);
        let (front, way) = (Front::mine(&self.fronts), way_of(key));
        if let Ok(mut slots) = front.slots.try_lock()
            && let Some((_, answer)) = &slots[way]
                .as_ref()
                .filter(|(kept, answer)| *kept == key && answer.until() > now)
        {
            let verdict = self.verdict(validator, answer, now);
            slots.count_hit();
            return Some(verdict);
        }
        let answer = kept.get(&key).filter(|answer| answer.until() > now)?;
        let verdict = self.verdict(validator, &answer, now);
        // Into the front on its second map hit in a row in its way, as a
        // verified JWT ([`crate::cache::Ways`]).
        let Ok(mut slots) = front.slots.try_lock() else {
            front.count_hit();
            return Some(verdict);
        };
        slots.count_hit();
        if slots.second_in_a_row(way, (key as u64) | 1) {
            slots[way] = Some((key, Arc::new(answer.copy())));
        }
        Some(verdict)
    }

    /// The verdict on an answer at `now`: the claims to hand on, or why the
    /// token is refused. An active answer is still checked against `exp`
    /// and `nbf` and the layer's revocation hook, as a cache hit of a JWT
    /// is.
    pub(crate) fn verdict(
        &self,
        validator: &Validator,
        answer: &Answer<C>,
        now: u64,
    ) -> Result<Introspected<C>, TokenError> {
        match answer {
            Answer::Refused { error, .. } => Err(*error),
            Answer::Active { kept, jkt, .. } => {
                let registered = kept.registered();
                // `iss` and `aud` were checked when the answer came.
                self.introspector.config().check_times(&registered, now)?;
                validator.check_revocation(&registered)?;
                Ok(Introspected {
                    verified: kept.verified(),
                    jkt: jkt.clone(),
                })
            }
        }
    }
}

impl<C: DeserializeOwned + Send + Sync + 'static> Answers<C> {
    /// The answer for `token`: kept, or from the introspection under way
    /// for it, or from a new one.
    pub(crate) fn lookup(self: &Arc<Self>, token: &[u8]) -> IntrospectFuture<C> {
        let this = Arc::clone(self);
        let token: Box<[u8]> = Box::from(token);
        Box::pin(async move {
            let key = this.keying.key(&token);
            let cell = {
                let mut in_flight = this.lock_in_flight();
                Arc::clone(in_flight.entry(key).or_default())
            };
            // Leaves the map clean however this wait ends, a dropped request included.
            let waiter = Waiter {
                answers: &this,
                key,
                cell,
            };
            // A waiter whose caller went away leaves the call to the next.
            waiter
                .cell
                .get_or_init(|| this.fetch(&key, &token))
                .await
                .clone()
        })
    }

    /// One introspection of `token`, its answer kept.
    async fn fetch(&self, key: &Key, token: &[u8]) -> Outcome<C> {
        if let Some(answer) = self.kept_by_key(key, crate::validator::now()) {
            return Ok(answer);
        }
        let body = self.introspector.introspect(token).await?;
        let now = crate::validator::now();
        let Some(answer) = self.answer(&body, now) else {
            tracing::warn!(
                endpoint = %self.introspector.endpoint(),
                "the introspection answer is not a JSON object with a boolean `active`"
            );
            return Err(Unanswered::Failed);
        };
        let answer = Arc::new(answer);
        if let Some(kept) = &self.kept
            && answer.until() > now
        {
            kept.insert(*key, Arc::clone(&answer));
        }
        Ok(answer)
    }

    /// The answer `body` gives at `now`; `None` for a body that is not an
    /// introspection answer.
    fn answer(&self, body: &[u8], now: u64) -> Option<Answer<C>> {
        let config = self.introspector.config();
        let refused = |error| Answer::Refused {
            error,
            until: now.saturating_add(whole_seconds(config.inactive_ttl)),
        };
        if !parse_active(body)? {
            tracing::debug!("introspection: the token is not active");
            return Some(refused(TokenError::Inactive));
        }
        let registered = match read_registered(body) {
            Ok(registered) => registered,
            Err(error) => {
                tracing::debug!(%error, "an active introspection answer with malformed registered claims");
                return Some(refused(error));
            }
        };
        if let Err(error) = config.check(&registered, now) {
            tracing::debug!(%error, "an active introspection answer refused by the rules");
            return Some(refused(error));
        }
        let claims: C = match serde_json::from_slice(body) {
            Ok(claims) => claims,
            Err(error) => {
                tracing::debug!(%error, "an introspection answer does not decode into the claims type");
                return Some(refused(TokenError::InvalidClaims));
            }
        };
        let kept_until = now.saturating_add(whole_seconds(config.ttl));
        let jkt = match crate::dpop::binding_of_claims(body) {
            Some(Binding::Jkt(jkt)) => Some(Arc::from(jkt)),
            _ => None,
        };
        Some(Answer::Active {
            jkt,
            until: registered.exp.map_or(kept_until, |exp| exp.min(kept_until)),
            kept: Kept::new(Arc::new(claims), &registered),
        })
    }
}

/// `ttl` in whole seconds, rounded up: the times answers carry, and the
/// clock they are checked against, are whole seconds, and a TTL under a
/// second must still keep an answer.
fn whole_seconds(ttl: std::time::Duration) -> u64 {
    ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0)
}

/// One request's wait on the introspection under way for its token. When it
/// ends, by an answer or because the request went away, the token's entry
/// leaves the map if the introspection is over or nobody else waits on it:
/// a flood of requests dropped mid-wait leaves nothing behind.
struct Waiter<'a, C> {
    answers: &'a Answers<C>,
    key: Key,
    cell: Arc<OnceCell<Outcome<C>>>,
}

impl<C> Drop for Waiter<'_, C> {
    fn drop(&mut self) {
        let mut in_flight = self.answers.lock_in_flight();
        let ours = in_flight
            .get(&self.key)
            .is_some_and(|current| Arc::ptr_eq(current, &self.cell));
        // The map's reference and this one: nobody else waits.
        let alone = Arc::strong_count(&self.cell) <= 2;
        if ours && (self.cell.initialized() || alone) {
            in_flight.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use serde_json::Value;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::introspection::{ClientAuth, Introspection};
    use crate::validator::Validation;
    use crate::{Algorithm, Key};

    /// An introspection endpoint on loopback that answers `body` after `delay`, counting
    /// the requests.
    async fn endpoint(body: &'static str, delay: Duration) -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/introspect", listener.local_addr().unwrap());
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let calls = Arc::clone(&counted);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    // One request a connection is enough here: read its head and body.
                    let _ = stream.read(&mut buf).await;
                    calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(delay).await;
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                });
            }
        });
        (url, calls)
    }

    fn answers(
        url: &str,
        configure: impl FnOnce(Introspection) -> Introspection,
    ) -> Arc<Answers<Value>> {
        let introspection = configure(Introspection::new(
            url,
            ClientAuth::client_secret_basic("rs", "secret"),
        ));
        Arc::new(Answers::new(introspection.build_lazy().unwrap()))
    }

    const ACTIVE: &str = r#"{"active":true,"sub":"alice","scope":"read","exp":4102444800}"#;

    #[tokio::test]
    async fn concurrent_requests_for_one_token_share_one_call_and_leave_no_entry() {
        let (url, calls) = endpoint(ACTIVE, Duration::from_millis(50)).await;
        let answers = answers(&url, |config| config);
        let waits: Vec<_> = (0..20).map(|_| answers.lookup(b"opaque-token")).collect();
        for outcome in futures_join(waits).await {
            assert!(matches!(&*outcome.unwrap(), Answer::Active { .. }));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(answers.in_flight(), 0);
        assert_eq!(answers.len(), 1);
        assert!(
            answers
                .kept_by_key(
                    &answers.keying.key(b"opaque-token"),
                    crate::validator::now()
                )
                .is_some()
        );
    }

    #[tokio::test]
    async fn waits_dropped_mid_call_leave_no_entry_behind() {
        let (url, _calls) = endpoint(ACTIVE, Duration::from_secs(5)).await;
        let answers = answers(&url, |config| config);
        for index in 0..50 {
            let token = format!("token-{index}");
            let wait = answers.lookup(token.as_bytes());
            // Polled until the call is under way, then dropped, as a request whose client
            // went away.
            let _ = tokio::time::timeout(Duration::from_millis(5), wait).await;
        }
        assert_eq!(answers.in_flight(), 0);
    }

    #[tokio::test]
    async fn past_the_rate_limit_a_new_token_is_answered_without_a_call() {
        let (url, calls) = endpoint(ACTIVE, Duration::ZERO).await;
        let answers = answers(&url, |config| config.rate_limit(1, 3));
        let mut throttled = 0;
        for index in 0..10 {
            let token = format!("token-{index}");
            if answers.lookup(token.as_bytes()).await.err() == Some(Unanswered::Throttled) {
                throttled += 1;
            }
        }
        // A burst of 3, and perhaps one more refilled while the ten ran.
        let made = calls.load(Ordering::SeqCst);
        assert!((3..=4).contains(&made), "{made} calls");
        assert_eq!(throttled, 10 - made);
    }

    #[tokio::test]
    async fn an_answer_that_is_not_an_introspection_answer_is_no_answer() {
        let (url, _calls) = endpoint(r#"{"sub":"alice"}"#, Duration::ZERO).await;
        let answers = answers(&url, |config| config);
        assert_eq!(
            answers.lookup(b"token").await.err(),
            Some(Unanswered::Failed)
        );
        assert_eq!(answers.len(), 0);
    }

    /// Polls every future to completion, concurrently.
    async fn futures_join<F: std::future::Future + Send + 'static>(
        futures: Vec<F>,
    ) -> Vec<F::Output>
    where
        F::Output: Send + 'static,
    {
        let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
        let mut outputs = Vec::new();
        for handle in handles {
            outputs.push(handle.await.unwrap());
        }
        outputs
    }

    const ISSUER: &str = "https://as.example";
    const AUDIENCE: &str = "https://api.example";

    /// Answers of an introspector that requires [`ISSUER`] and [`AUDIENCE`]; never called.
    fn ruled_answers() -> Answers<serde_json::Value> {
        let introspector = Introspection::new(
            "http://127.0.0.1:9/introspect",
            ClientAuth::client_secret_basic("rs", "secret"),
        )
        .issuer(ISSUER)
        .audiences([AUDIENCE])
        .build_lazy()
        .unwrap();
        Answers::new(introspector)
    }

    fn validator() -> Validator {
        Validator::new(
            Key::hmac(Algorithm::HS256, [1u8; 32]).unwrap(),
            Validation::new(),
        )
        .unwrap()
    }

    fn body(iss: &str, aud: &str, exp: u64) -> Vec<u8> {
        serde_json::json!({ "active": true, "sub": "client", "iss": iss, "aud": aud, "exp": exp })
            .to_string()
            .into_bytes()
    }

    #[test]
    fn an_active_answer_with_the_required_issuer_and_audience_passes_its_verdict() {
        let (answers, now) = (ruled_answers(), crate::validator::now());
        let answer = answers
            .answer(&body(ISSUER, AUDIENCE, now + 60), now)
            .unwrap();
        assert!(matches!(answer, Answer::Active { .. }));
        let verified = answers.verdict(&validator(), &answer, now).unwrap();
        assert_eq!(verified.verified.claims["sub"], "client");
        // A kept answer, later, likewise.
        assert!(answers.verdict(&validator(), &answer, now + 30).is_ok());
    }

    #[test]
    fn an_active_answer_of_another_issuer_or_audience_is_refused() {
        let (answers, now) = (ruled_answers(), crate::validator::now());
        for (iss, aud, error) in [
            ("https://other.example", AUDIENCE, TokenError::InvalidIssuer),
            (ISSUER, "https://other.example", TokenError::InvalidAudience),
        ] {
            let answer = answers.answer(&body(iss, aud, now + 60), now).unwrap();
            assert!(
                matches!(answers.verdict(&validator(), &answer, now), Err(e) if e == error),
                "{iss} {aud}"
            );
        }
    }
}

#[cfg(test)]
mod front_tests {
    use std::time::Duration;

    use serde_json::{Value, json};

    use super::*;
    use crate::introspection::{ClientAuth, Introspection};
    use crate::revocation::RevocationList;
    use crate::validator::Validation;
    use crate::{Algorithm, Claims, Key};

    const NOW: u64 = 1_700_000_000;
    const TOKEN: &str = "opaque-token-of-alice_0123456789abcdefghijk";

    /// Answers kept for `ttl`, from an endpoint that is never called.
    fn answers(ttl: Duration) -> Answers<Claims> {
        let introspector = Introspection::new(
            "http://127.0.0.1:9/introspect",
            ClientAuth::client_secret_basic("rs", "secret"),
        )
        .cache_ttl(ttl)
        .build_lazy()
        .unwrap();
        Answers::new(introspector)
    }

    fn validator() -> Validator {
        let key = Key::hmac(Algorithm::HS256, b"an answers-test secret of 32 bytes").unwrap();
        Validator::new(key, Validation::new()).unwrap()
    }

    /// Keeps the answer `body` gives for `token` at `now`, as an introspection does.
    fn keep(answers: &Answers<Claims>, token: &str, body: &Value, now: u64) {
        let answer = answers.answer(body.to_string().as_bytes(), now).unwrap();
        let kept = answers.kept.as_ref().unwrap();
        kept.insert(answers.keying.key(token.as_bytes()), Arc::new(answer));
    }

    fn active(exp: u64) -> Value {
        json!({
            "active": true, "sub": "alice", "scope": "read write", "jti": "jti-alice",
            "exp": exp, "iat": NOW,
        })
    }

    /// Whether this thread's front holds an answer under `token`'s key.
    fn in_front(answers: &Answers<Claims>, token: &str) -> bool {
        let key = answers.keying.key(token.as_bytes());
        let slots = Front::mine(&answers.fronts).slots.lock().unwrap();
        slots[way_of(key)]
            .as_ref()
            .is_some_and(|(kept, _)| *kept == key)
    }

    /// Hits `token` twice at `now`, which puts its kept answer into this thread's front.
    fn into_front(answers: &Answers<Claims>, validator: &Validator, token: &str, now: u64) {
        for _ in 0..2 {
            answers.hit(validator, token.as_bytes(), now).unwrap().ok();
        }
        assert!(in_front(answers, token));
    }

    #[test]
    fn a_kept_answer_is_served_from_the_front_with_the_same_claims() {
        let (answers, validator) = (answers(Duration::from_secs(60)), validator());
        keep(&answers, TOKEN, &active(NOW + 3600), NOW);
        assert!(!in_front(&answers, TOKEN));
        let first = answers.hit(&validator, TOKEN.as_bytes(), NOW).unwrap();
        let first = first.unwrap().verified.claims;
        assert_eq!(first.sub, "alice");
        assert!(
            !in_front(&answers, TOKEN),
            "one map hit leaves the front as it was"
        );
        let second = answers.hit(&validator, TOKEN.as_bytes(), NOW).unwrap();
        assert!(
            Arc::ptr_eq(&second.unwrap().verified.claims, &first),
            "the map's claims"
        );
        assert!(in_front(&answers, TOKEN), "the second in a row fills it");
        let again = answers.hit(&validator, TOKEN.as_bytes(), NOW + 1).unwrap();
        let again = again.unwrap().verified.claims;
        assert_eq!(*again, *first);
        assert!(!Arc::ptr_eq(&again, &first), "the front's own copy");
        // Another token finds nothing, front or map.
        assert!(answers.hit(&validator, b"another-token", NOW).is_none());
    }

    #[test]
    fn stats_count_the_hits_from_the_map_and_the_front_and_the_misses_counted() {
        let (answers, validator) = (answers(Duration::from_secs(60)), validator());
        keep(&answers, TOKEN, &active(NOW + 3600), NOW);
        let counts = || {
            let stats = answers.stats();
            (stats.hits, stats.misses, stats.entries)
        };
        assert_eq!(counts(), (0, 0, 1));
        into_front(&answers, &validator, TOKEN, NOW);
        answers
            .hit(&validator, TOKEN.as_bytes(), NOW)
            .unwrap()
            .unwrap();
        assert_eq!(counts(), (3, 0, 1), "two from the map, one from the front");
        // A kept refusal is a hit too.
        keep(
            &answers,
            "an-inactive-token",
            &json!({ "active": false }),
            NOW,
        );
        let refused = answers.hit(&validator, b"an-inactive-token", NOW);
        assert_eq!(refused.unwrap().unwrap_err(), TokenError::Inactive);
        assert_eq!(counts(), (4, 0, 2));
        assert!(answers.hit(&validator, b"another-token", NOW).is_none());
        answers.count_miss();
        assert_eq!(counts(), (4, 1, 2), "a miss is counted by the layer");
    }

    #[test]
    fn an_answer_is_not_served_from_the_front_once_no_longer_kept() {
        let (answers, validator) = (answers(Duration::from_secs(60)), validator());
        keep(&answers, TOKEN, &active(NOW + 3600), NOW);
        into_front(&answers, &validator, TOKEN, NOW);
        let at = |now| answers.hit(&validator, TOKEN.as_bytes(), now);
        assert!(at(NOW + 59).unwrap().is_ok());
        assert!(at(NOW + 60).is_none(), "kept for the 60 s TTL");
    }

    #[test]
    fn a_refused_answer_is_refused_from_the_front_too() {
        let (answers, validator) = (answers(Duration::from_secs(60)), validator());
        keep(&answers, TOKEN, &json!({ "active": false }), NOW);
        let at = |now| answers.hit(&validator, TOKEN.as_bytes(), now);
        assert_eq!(at(NOW).unwrap().unwrap_err(), TokenError::Inactive);
        into_front(&answers, &validator, TOKEN, NOW);
        assert_eq!(at(NOW + 4).unwrap().unwrap_err(), TokenError::Inactive);
        assert!(at(NOW + 5).is_none(), "kept for the 5 s inactive TTL");
    }

    #[test]
    fn an_answer_in_the_front_revoked_later_is_refused() {
        let revoked = Arc::new(RevocationList::new());
        let validator = validator().with_revocation(revoked.clone());
        let answers = answers(Duration::from_secs(60));
        let now = crate::validator::now();
        keep(&answers, TOKEN, &active(now + 600), now);
        into_front(&answers, &validator, TOKEN, now);
        revoked.revoke("jti-alice", now + 600);
        let verdict = answers.hit(&validator, TOKEN.as_bytes(), now).unwrap();
        assert_eq!(verdict.unwrap_err(), TokenError::Revoked);
    }

    #[test]
    fn a_key_depends_on_every_byte_the_length_and_the_secret() {
        let keying = Keying::random().unwrap();
        let key = keying.key(TOKEN.as_bytes());
        assert_eq!(
            keying.key(TOKEN.as_bytes()),
            key,
            "the same token, the same key"
        );
        let mut others = vec![format!("{TOKEN}A"), TOKEN[1..].to_owned()];
        for at in 0..TOKEN.len() {
            let mut changed = TOKEN.as_bytes().to_vec();
            changed[at] ^= 1;
            others.push(String::from_utf8(changed).unwrap());
        }
        for other in &others {
            assert_ne!(keying.key(other.as_bytes()), key, "{other}");
        }
        // Another secret, other keys: a key cannot be computed without the secret.
        assert_ne!(Keying::random().unwrap().key(TOKEN.as_bytes()), key);
    }

    #[test]
    fn a_token_one_byte_off_a_kept_one_finds_nothing_kept() {
        let (answers, validator) = (answers(Duration::from_secs(60)), validator());
        keep(&answers, TOKEN, &active(NOW + 3600), NOW);
        assert!(answers.hit(&validator, TOKEN.as_bytes(), NOW).is_some());
        let mut near = TOKEN.as_bytes().to_vec();
        *near.last_mut().unwrap() ^= 1;
        assert!(answers.hit(&validator, &near, NOW).is_none());
        // Once the front holds the token, too.
        into_front(&answers, &validator, TOKEN, NOW);
        assert!(answers.hit(&validator, &near, NOW).is_none());
    }

    #[test]
    fn a_ttl_under_a_second_keeps_an_answer_for_the_second() {
        let (answers, validator) = (answers(Duration::from_millis(500)), validator());
        keep(&answers, TOKEN, &active(NOW + 3600), NOW);
        let at = |now| answers.hit(&validator, TOKEN.as_bytes(), now);
        assert!(at(NOW).unwrap().is_ok(), "kept, not dropped as a zero TTL");
        assert!(at(NOW + 1).is_none(), "and no longer than the second");
    }

    #[test]
    fn nothing_is_kept_with_a_zero_ttl() {
        let answers = answers(Duration::ZERO);
        assert!(answers.kept.is_none());
        assert!(answers.hit(&validator(), TOKEN.as_bytes(), NOW).is_none());
    }
}
