//! The revocation-backend conformance suite.
//!
//! Every check is written once, generic over `B: RevocationBackend`
//! (module `suite`), and instantiated per backend by `conformance_tests!`:
//!
//! - `memory`: always;
//! - `postgres` (feature `postgres`): the database of
//!   `TOWER_JWT_AUTH_TEST_POSTGRES_URL`, in a schema of its own
//!   (`tja_revocation_tests`) so that no other test's tables are touched;
//!   skipped when the variable is unset (outside CI);
//! - `redis` (feature `redis`): the server of `TOWER_JWT_AUTH_TEST_REDIS_URL`,
//!   a key prefix and channel per test; skipped likewise.
//!
//! Backends are shared by tests running in parallel, so every test uses
//! unique ids (and, for PostgreSQL, a channel of its own).
//!
//! The same backends hold the shared login limiter's buckets
//! ([`LimitStore`](tower_jwt_auth::router::LimitStore)); module `limits`
//! checks those on PostgreSQL and Redis.

use support::unique;

mod suite {
    use std::sync::Arc;
    use std::time::Duration;

    use tower_jwt_auth::revocation::{
        Replica, RevocationBackend, RevocationError, RevocationFeed, Revoked,
    };
    use tower_jwt_auth::revocation::{Revocation, Verdict};
    use tower_jwt_auth::validator::RegisteredClaims;

    use support::unique;

    /// Far in the future of every test's clock.
    fn later() -> u64 {
        SystemTimeNow::secs() + 3600
    }

    struct SystemTimeNow;
    impl SystemTimeNow {
        fn secs() -> u64 {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|elapsed| elapsed.as_secs())
                .unwrap_or_default()
        }
    }

    async fn next<F: RevocationFeed>(feed: &mut F) -> Revoked {
        tokio::time::timeout(Duration::from_secs(10), feed.next())
            .await
            .expect("no broadcast within 10 s")
            .expect("the feed failed")
    }

    fn token_claims(jti: &str) -> RegisteredClaims<'_> {
        let mut claims = RegisteredClaims::default();
        claims.jti = Some(jti.into());
        claims
    }

    pub(crate) async fn a_revocation_is_loaded_until_its_time<B: RevocationBackend>(backend: B) {
        let token = Revoked::token(&unique("t"), later());
        let family = Revoked::family(&unique("f"), later() + 10);
        backend.revoke(&token).await.unwrap();
        backend.revoke(&family).await.unwrap();
        // Revoking again with an earlier time never shortens it.
        backend
            .revoke(&Revoked::token(token.id.as_str(), later() - 100))
            .await
            .unwrap();
        let all = backend.load(SystemTimeNow::secs()).await.unwrap();
        assert!(all.contains(&token), "{all:?}");
        assert!(all.contains(&family), "{all:?}");
        // At its time it is over.
        let after = backend.load(family.until).await.unwrap();
        assert!(!after.contains(&token) && !after.contains(&family));
    }

    pub(crate) async fn purge_deletes_only_what_has_expired<B: RevocationBackend>(backend: B) {
        // Times far below anything other tests use, so that purging a shared
        // backend only touches this test's entries.
        let old = Revoked::token(&unique("old"), 1_000);
        let young = Revoked::token(&unique("young"), 3_000);
        backend.revoke(&old).await.unwrap();
        backend.revoke(&young).await.unwrap();
        backend.purge(2_000).await.unwrap();
        let all = backend.load(0).await.unwrap();
        assert!(!all.contains(&old), "purged entry still there");
        assert!(all.contains(&young), "unexpired entry purged");
    }

    pub(crate) async fn every_listener_hears_every_revocation<B: RevocationBackend>(backend: B) {
        let mut first = backend.listen().await.unwrap();
        let mut second = backend.listen().await.unwrap();
        let revoked = Revoked::family(&unique("f"), later());
        backend.revoke(&revoked).await.unwrap();
        assert_eq!(next(&mut first).await, revoked);
        assert_eq!(next(&mut second).await, revoked);
    }

    pub(crate) async fn bad_ids_are_refused_and_change_nothing<B: RevocationBackend>(backend: B) {
        let long = "x".repeat(257);
        for id in ["", long.as_str()] {
            let error = backend
                .revoke(&Revoked::token(id, later()))
                .await
                .unwrap_err();
            assert!(matches!(error, RevocationError::InvalidId), "{error}");
        }
        let all = backend.load(0).await.unwrap();
        assert!(
            all.iter()
                .all(|revoked| !revoked.id.as_str().is_empty() && revoked.id.as_str() != long)
        );
    }

    pub(crate) async fn concurrent_revocations_all_arrive<B: RevocationBackend>(backend: B) {
        let backend = Arc::new(backend);
        let mut feed = backend.listen().await.unwrap();
        let ids: Vec<String> = (0..40).map(|_| unique("c")).collect();
        let tasks: Vec<_> = ids
            .iter()
            .map(|id| {
                let backend = Arc::clone(&backend);
                let revoked = Revoked::token(id, later());
                tokio::spawn(async move { backend.revoke(&revoked).await })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        let mut heard = std::collections::HashSet::new();
        while heard.len() < ids.len() {
            let revoked = next(&mut feed).await;
            if ids.iter().any(|id| id == revoked.id.as_str()) {
                heard.insert(revoked.id.as_str().to_owned());
            }
        }
        let loaded = backend.load(SystemTimeNow::secs()).await.unwrap();
        for id in &ids {
            assert!(
                loaded.iter().any(|revoked| revoked.id.as_str() == id),
                "{id} not loaded"
            );
        }
    }

    /// Replicas starting while revocations happen (each start is a listen
    /// and a reload) end up with every revocation, old and new.
    pub(crate) async fn replicas_started_during_revocations_see_them_all<B: RevocationBackend>(
        backend: B,
    ) {
        let backend = Arc::new(backend);
        let before: Vec<String> = (0..10).map(|_| unique("before")).collect();
        for id in &before {
            backend.revoke(&Revoked::token(id, later())).await.unwrap();
        }
        let during: Vec<String> = (0..20).map(|_| unique("during")).collect();
        let revoking = {
            let backend = Arc::clone(&backend);
            let during = during.clone();
            tokio::spawn(async move {
                for id in &during {
                    backend.revoke(&Revoked::token(id, later())).await.unwrap();
                    tokio::task::yield_now().await;
                }
            })
        };
        let replicas: Vec<_> = (0..3)
            .map(|_| {
                let replica = Arc::new(Replica::new());
                let task = replica.sync(Arc::clone(&backend));
                (replica, task)
            })
            .collect();
        revoking.await.unwrap();
        for (replica, _task) in &replicas {
            assert!(
                replica.loaded(Duration::from_secs(10)).await,
                "never loaded"
            );
            for id in before.iter().chain(&during) {
                let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
                while replica.verdict(&token_claims(id)) != Verdict::Revoked {
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "{id} never reached the replica"
                    );
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            assert!(!replica.is_revoked(&token_claims("never-revoked")));
        }
    }
}

/// The shared login limiter's buckets: a burst, then refusals with the wait;
/// atomic under concurrent takes; refilled by time; one bucket per name.
mod limits {
    use std::sync::Arc;
    use std::time::Duration;

    use tower_jwt_auth::router::{LimitStore, RateLimit};

    use support::unique;

    fn limit(burst: u32, refill: Duration) -> RateLimit {
        RateLimit::new(burst, refill).unwrap()
    }

    pub(crate) async fn a_burst_then_refusals_with_the_wait<L: LimitStore>(store: L) {
        let bucket = unique("burst");
        let minute = limit(3, Duration::from_secs(60));
        for attempt in 0..3 {
            assert_eq!(
                store.take(&bucket, minute).await.unwrap(),
                None,
                "{attempt}"
            );
        }
        for _ in 0..2 {
            let wait = store.take(&bucket, minute).await.unwrap().expect("refused");
            assert!(
                wait > Duration::from_secs(55) && wait <= Duration::from_secs(60),
                "{wait:?}"
            );
        }
        // Another bucket is untouched.
        assert_eq!(store.take(&unique("other"), minute).await.unwrap(), None);
    }

    pub(crate) async fn concurrent_takes_are_atomic<L: LimitStore>(store: L) {
        let store = Arc::new(store);
        let bucket = unique("race");
        let hour = limit(5, Duration::from_secs(3600));
        let tasks: Vec<_> = (0..24)
            .map(|_| {
                let store = Arc::clone(&store);
                let bucket = bucket.clone();
                tokio::spawn(async move { store.take(&bucket, hour).await.unwrap() })
            })
            .collect();
        let mut allowed = 0;
        for task in tasks {
            if task.await.unwrap().is_none() {
                allowed += 1;
            }
        }
        assert_eq!(
            allowed, 5,
            "exactly the burst passes, however the takes interleave"
        );
    }

    pub(crate) async fn a_bucket_refills_with_time<L: LimitStore>(store: L) {
        let bucket = unique("refill");
        let quick = limit(1, Duration::from_millis(300));
        assert_eq!(store.take(&bucket, quick).await.unwrap(), None);
        let wait = store.take(&bucket, quick).await.unwrap().expect("refused");
        assert!(wait <= Duration::from_millis(300), "{wait:?}");
        tokio::time::sleep(Duration::from_millis(450)).await;
        assert_eq!(store.take(&bucket, quick).await.unwrap(), None);
    }
}

macro_rules! limit_tests {
    ($backend:ident, $make:expr) => {
        mod $backend {
            limit_tests!(@each $make;
                a_burst_then_refusals_with_the_wait,
                concurrent_takes_are_atomic,
                a_bucket_refills_with_time,
            );
        }
    };
    (@each $make:expr; $($test:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                let Some(backend) = $make.await else { return };
                crate::limits::$test(backend).await;
            }
        )*
    };
}

macro_rules! conformance_tests {
    ($backend:ident, $make:expr) => {
        mod $backend {
            #[allow(unused_imports)]
            use super::*;

            conformance_tests!(@each $make;
                a_revocation_is_loaded_until_its_time,
                purge_deletes_only_what_has_expired,
                every_listener_hears_every_revocation,
                bad_ids_are_refused_and_change_nothing,
                concurrent_revocations_all_arrive,
                replicas_started_during_revocations_see_them_all,
            );
        }
    };
    (@each $make:expr; $($test:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                let Some(backend) = $make.await else { return };
                crate::suite::$test(backend).await;
            }
        )*
    };
}

conformance_tests!(memory, async {
    Some(tower_jwt_auth::revocation::MemoryRevocations::new())
});

#[cfg(feature = "postgres")]
async fn postgres() -> Option<tower_jwt_auth::revocation::PgRevocations> {
    use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
    let url = support::postgres_url()?;
    let options: PgConnectOptions = url.parse().expect("a postgres:// URL");
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options.clone())
        .await
        .expect("PostgreSQL unreachable");
    // Tests start together: one creates the schema at a time.
    let mut tx = admin.begin().await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('tja_revocation_tests'))")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("CREATE SCHEMA IF NOT EXISTS tja_revocation_tests")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect_with(options.options([("search_path", "tja_revocation_tests")]))
        .await
        .unwrap();
    let backend = tower_jwt_auth::revocation::PgRevocations::new(pool).channel(&unique("ch"));
    backend.install().await.unwrap();
    Some(backend)
}

#[cfg(feature = "postgres")]
conformance_tests!(postgres, postgres());

#[cfg(feature = "postgres")]
limit_tests!(postgres_limits, crate::postgres());

#[cfg(feature = "redis")]
async fn redis() -> Option<tower_jwt_auth::revocation::RedisRevocations> {
    let url = support::redis_url()?;
    Some(
        tower_jwt_auth::revocation::RedisRevocations::new(&url, &format!("{}:", unique("tja")))
            .unwrap(),
    )
}

#[cfg(feature = "redis")]
conformance_tests!(redis, redis());

#[cfg(feature = "redis")]
limit_tests!(redis_limits, crate::redis());
