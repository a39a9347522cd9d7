//! The store conformance suite.
//!
//! Every check is written once, as a generic async function over
//! `S: UserStore + RefreshTokenStore` (module `suite`), and instantiated for
//! each backend by `conformance_tests!`:
//!
//! - `memory`: always;
//! - `sqlite` (feature `sqlite`): every test gets a fresh database file in a
//!   temporary directory;
//! - `postgres` (feature `postgres`): runs against the database named by
//!   `TOWER_JWT_AUTH_TEST_POSTGRES_URL` and is skipped when it is unset. The
//!   database is shared by tests running in parallel, so every test uses
//!   unique usernames and family ids instead of truncating tables.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A name no other test (in this or a concurrent process) uses.
fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{nanos:x}-{n}", std::process::id())
}

mod suite {
    use std::sync::Arc;

    use tokio::sync::Barrier;
    use tower_jwt_auth::store::{
        CreateUser, NewFamily, RefreshTokenStore, Rotation, User, UserStore,
    };

    use super::unique;

    /// The clock of the suite. Families of every test except
    /// `purge_expired` expire well after `NOW`.
    const NOW: u64 = 1_700_000_000;
    /// A family lifetime.
    const TTL: u64 = 30 * 24 * 3600;
    /// The clock of `purge_expired`: far below anything other tests create,
    /// so that purging in a database shared by parallel tests only ever
    /// touches that test's own families.
    const PURGE_EPOCH: u64 = 1_000;

    /// A store under test.
    pub(crate) trait Store: UserStore + RefreshTokenStore + Clone {}
    impl<S: UserStore + RefreshTokenStore + Clone> Store for S {}

    async fn new_family<S: Store>(
        store: &S,
        username: &str,
        token: &str,
        expires_at: u64,
    ) -> String {
        let family_id = unique("fam");
        store
            .create_family(NewFamily {
                family_id: &family_id,
                username,
                token_id: token,
                expires_at,
            })
            .await
            .expect("create_family failed");
        family_id
    }

    async fn rotate<S: Store>(
        store: &S,
        family: &str,
        presented: &str,
        next: &str,
        now: u64,
    ) -> Rotation {
        store
            .rotate(family, presented, next, now)
            .await
            .expect("rotate failed")
    }

    pub(crate) async fn create_and_find_user<S: Store>(store: S) {
        let name = unique("alice");
        let missing = unique("nobody");

        assert_eq!(store.find_user(&name).await.expect("find_user"), None);
        assert_eq!(
            store
                .create_user(&name, "hash-1")
                .await
                .expect("create_user"),
            CreateUser::Created
        );
        assert_eq!(
            store.find_user(&name).await.expect("find_user"),
            Some(User {
                username: name.clone(),
                password_hash: "hash-1".to_owned(),
            })
        );

        // A second signup for the same name changes nothing.
        assert_eq!(
            store
                .create_user(&name, "hash-2")
                .await
                .expect("create_user"),
            CreateUser::AlreadyExists
        );
        let found = store
            .find_user(&name)
            .await
            .expect("find_user")
            .expect("user vanished");
        assert_eq!(found.password_hash, "hash-1");

        assert_eq!(store.find_user(&missing).await.expect("find_user"), None);
    }

    pub(crate) async fn usernames_are_compared_exactly<S: Store>(store: S) {
        let base = unique("exact");
        let variants = [
            format!("{base}-Alice"),
            format!("{base}-alice"),
            format!("{base}-ALICE"),
            format!("{base}-a"),
            format!("{base}-a "),
            format!("{base}- a"),
            // Precomposed vs decomposed "é": equal to a human, not byte-wise.
            format!("{base}-\u{e9}"),
            format!("{base}-e\u{301}"),
        ];
        for (i, name) in variants.iter().enumerate() {
            assert_eq!(
                store
                    .create_user(name, &format!("hash-{i}"))
                    .await
                    .expect("create_user"),
                CreateUser::Created,
                "{name:?} collided with another variant"
            );
        }
        for (i, name) in variants.iter().enumerate() {
            let user = store
                .find_user(name)
                .await
                .expect("find_user")
                .expect("variant not found");
            assert_eq!(&user.username, name);
            assert_eq!(user.password_hash, format!("hash-{i}"));
        }
        // Prefixes and case-folded forms that were never created stay unknown.
        for absent in [format!("{base}-aLice"), format!("{base}-"), base.clone()] {
            assert_eq!(store.find_user(&absent).await.expect("find_user"), None);
        }
        // Revoking by username is exact too.
        let family = new_family(&store, &variants[0], "t1", NOW + TTL).await;
        assert_eq!(
            store.revoke_user(&variants[1]).await.expect("revoke_user"),
            0
        );
        assert_eq!(
            rotate(&store, &family, "t1", "t2", NOW).await,
            Rotation::Rotated
        );
    }

    pub(crate) async fn update_password_hash<S: Store>(store: S) {
        let name = unique("bob");
        let other = unique("carol");
        store.create_user(&name, "old").await.expect("create_user");
        store
            .create_user(&other, "other")
            .await
            .expect("create_user");

        assert!(
            store
                .update_password_hash(&name, "new")
                .await
                .expect("update_password_hash")
        );
        let user = store
            .find_user(&name)
            .await
            .expect("find_user")
            .expect("user vanished");
        assert_eq!(user.password_hash, "new");
        // Other users are untouched.
        let user = store
            .find_user(&other)
            .await
            .expect("find_user")
            .expect("user vanished");
        assert_eq!(user.password_hash, "other");

        // A missing user is reported, not created.
        let missing = unique("ghost");
        assert!(
            !store
                .update_password_hash(&missing, "x")
                .await
                .expect("update_password_hash")
        );
        assert_eq!(store.find_user(&missing).await.expect("find_user"), None);
    }

    pub(crate) async fn concurrent_signups_create_one_user<S: Store>(store: S) {
        const TASKS: usize = 32;
        let name = unique("race");
        let barrier = Arc::new(Barrier::new(TASKS));
        let mut tasks = Vec::with_capacity(TASKS);
        for i in 0..TASKS {
            let store = store.clone();
            let name = name.clone();
            let barrier = Arc::clone(&barrier);
            tasks.push(tokio::spawn(async move {
                let hash = format!("hash-{i}");
                barrier.wait().await;
                let outcome = store.create_user(&name, &hash).await.expect("create_user");
                (outcome, hash)
            }));
        }
        let mut winners = Vec::new();
        let mut conflicts = 0;
        for task in tasks {
            match task.await.expect("task panicked") {
                (CreateUser::Created, hash) => winners.push(hash),
                (CreateUser::AlreadyExists, _) => conflicts += 1,
            }
        }
        assert_eq!(winners.len(), 1, "exactly one signup must win");
        assert_eq!(conflicts, TASKS - 1);
        let user = store
            .find_user(&name)
            .await
            .expect("find_user")
            .expect("winner not stored");
        assert_eq!(
            user.password_hash, winners[0],
            "the winner's hash is stored"
        );
    }

    pub(crate) async fn rotation_chain<S: Store>(store: S) {
        let user = unique("dave");
        let family = new_family(&store, &user, "t1", NOW + TTL).await;

        assert_eq!(
            rotate(&store, &family, "t1", "t2", NOW).await,
            Rotation::Rotated
        );
        assert_eq!(
            rotate(&store, &family, "t2", "t3", NOW + 1).await,
            Rotation::Rotated
        );
        assert_eq!(
            rotate(&store, &family, "t3", "t4", NOW + 2).await,
            Rotation::Rotated
        );
        // Rotation does not extend the family's lifetime.
        assert_eq!(
            rotate(&store, &family, "t4", "t5", NOW + TTL).await,
            Rotation::Expired
        );
    }

    pub(crate) async fn reuse_revokes_the_family<S: Store>(store: S) {
        let user = unique("erin");
        let family = new_family(&store, &user, "t1", NOW + TTL).await;

        assert_eq!(
            rotate(&store, &family, "t1", "t2", NOW).await,
            Rotation::Rotated
        );
        // t1 was already used: the family is revoked...
        assert_eq!(
            rotate(&store, &family, "t1", "evil", NOW).await,
            Rotation::Reused
        );
        // ...so even the current token no longer works,
        assert_eq!(
            rotate(&store, &family, "t2", "t3", NOW).await,
            Rotation::Revoked
        );
        // and replaying again reports the revocation.
        assert_eq!(
            rotate(&store, &family, "t1", "t9", NOW).await,
            Rotation::Revoked
        );
        assert_eq!(
            rotate(&store, &family, "evil", "t9", NOW).await,
            Rotation::Revoked
        );
        // The family was revoked by the reuse, not by revoke_family.
        assert!(!store.revoke_family(&family).await.expect("revoke_family"));
    }

    pub(crate) async fn foreign_token_revokes_the_family<S: Store>(store: S) {
        let user = unique("frank");
        let family = new_family(&store, &user, "t1", NOW + TTL).await;

        // A token that was never current in this family counts as reuse.
        assert_eq!(
            rotate(&store, &family, "forged", "t2", NOW).await,
            Rotation::Reused
        );
        assert_eq!(
            rotate(&store, &family, "t1", "t2", NOW).await,
            Rotation::Revoked
        );
    }

    pub(crate) async fn rotate_revoked_family<S: Store>(store: S) {
        let user = unique("grace");
        let family = new_family(&store, &user, "t1", NOW + TTL).await;

        assert!(store.revoke_family(&family).await.expect("revoke_family"));
        assert_eq!(
            rotate(&store, &family, "t1", "t2", NOW).await,
            Rotation::Revoked
        );
        assert_eq!(
            rotate(&store, &family, "x", "t2", NOW).await,
            Rotation::Revoked
        );
        // Revoked beats expired.
        assert_eq!(
            rotate(&store, &family, "t1", "t2", NOW + TTL + 1).await,
            Rotation::Revoked
        );
        // Already revoked: nothing live to revoke.
        assert!(!store.revoke_family(&family).await.expect("revoke_family"));
    }

    pub(crate) async fn rotate_expired_family<S: Store>(store: S) {
        let user = unique("heidi");
        let expires_at = NOW + 10;
        let family = new_family(&store, &user, "t1", expires_at).await;

        // Expiry is inclusive: at `expires_at` the family is dead.
        assert_eq!(
            rotate(&store, &family, "t1", "t2", expires_at).await,
            Rotation::Expired
        );
        assert_eq!(
            rotate(&store, &family, "t1", "t2", expires_at + 1000).await,
            Rotation::Expired
        );
        // A wrong token on an expired family is just "expired", not reuse.
        assert_eq!(
            rotate(&store, &family, "old", "t2", expires_at + 1).await,
            Rotation::Expired
        );
        // None of that revoked it or consumed t1: one second before expiry
        // the current token still rotates.
        assert_eq!(
            rotate(&store, &family, "t1", "t2", expires_at - 1).await,
            Rotation::Rotated
        );

        // Times beyond i64 saturate instead of failing.
        let far = new_family(&store, &user, "f1", u64::MAX).await;
        assert_eq!(
            rotate(&store, &far, "f1", "f2", NOW).await,
            Rotation::Rotated
        );
        assert_eq!(
            rotate(&store, &far, "f2", "f3", u64::MAX).await,
            Rotation::Expired
        );
    }

    pub(crate) async fn rotate_unknown_family<S: Store>(store: S) {
        let family = unique("no-such-family");
        assert_eq!(
            rotate(&store, &family, "t1", "t2", NOW).await,
            Rotation::Unknown
        );
        assert!(!store.revoke_family(&family).await.expect("revoke_family"));
        // Looking it up did not create it.
        assert_eq!(
            rotate(&store, &family, "t1", "t2", NOW).await,
            Rotation::Unknown
        );
    }

    pub(crate) async fn duplicate_family_id_keeps_the_original<S: Store>(store: S) {
        let owner = unique("ivan");
        let intruder = unique("judy");
        let family = new_family(&store, &owner, "t1", NOW + TTL).await;

        store
            .create_family(NewFamily {
                family_id: &family,
                username: &intruder,
                token_id: "other",
                expires_at: NOW + 2 * TTL,
            })
            .await
            .expect("create_family");

        assert_eq!(store.revoke_user(&intruder).await.expect("revoke_user"), 0);
        assert_eq!(
            rotate(&store, &family, "t1", "t2", NOW).await,
            Rotation::Rotated
        );
    }

    pub(crate) async fn concurrent_rotations_rotate_once<S: Store>(store: S) {
        const TASKS: usize = 16;
        let user = unique("mallory");
        let family = new_family(&store, &user, "t1", NOW + TTL).await;
        let barrier = Arc::new(Barrier::new(TASKS));
        let mut tasks = Vec::with_capacity(TASKS);
        for i in 0..TASKS {
            let store = store.clone();
            let family = family.clone();
            let barrier = Arc::clone(&barrier);
            tasks.push(tokio::spawn(async move {
                let next = format!("next-{i}");
                barrier.wait().await;
                let outcome = store
                    .rotate(&family, "t1", &next, NOW)
                    .await
                    .expect("rotate");
                (outcome, next)
            }));
        }
        let mut winners = Vec::new();
        let mut reused = 0;
        for task in tasks {
            match task.await.expect("task panicked") {
                (Rotation::Rotated, next) => winners.push(next),
                (Rotation::Reused, _) => reused += 1,
                (Rotation::Revoked, _) => {}
                (other, _) => panic!("unexpected outcome {other:?}"),
            }
        }
        assert_eq!(winners.len(), 1, "exactly one rotation must win");
        assert!(reused >= 1, "the losers presented a used token");
        // The losers' replay revoked the family, including the winner's token.
        assert_eq!(
            rotate(&store, &family, &winners[0], "after", NOW).await,
            Rotation::Revoked
        );
    }

    pub(crate) async fn revoke_family_only_that_family<S: Store>(store: S) {
        let user = unique("niaj");
        let first = new_family(&store, &user, "a1", NOW + TTL).await;
        let second = new_family(&store, &user, "b1", NOW + TTL).await;

        assert!(store.revoke_family(&first).await.expect("revoke_family"));
        assert!(!store.revoke_family(&first).await.expect("revoke_family"));
        assert_eq!(
            rotate(&store, &first, "a1", "a2", NOW).await,
            Rotation::Revoked
        );
        assert_eq!(
            rotate(&store, &second, "b1", "b2", NOW).await,
            Rotation::Rotated
        );
    }

    pub(crate) async fn revoke_user_only_that_user<S: Store>(store: S) {
        let user = unique("olivia");
        let lookalike = format!("{user}x");
        let other = unique("peggy");

        let live_1 = new_family(&store, &user, "a1", NOW + TTL).await;
        let live_2 = new_family(&store, &user, "b1", NOW + TTL).await;
        let dead = new_family(&store, &user, "c1", NOW + TTL).await;
        assert!(store.revoke_family(&dead).await.expect("revoke_family"));
        let lookalike_family = new_family(&store, &lookalike, "l1", NOW + TTL).await;
        let other_family = new_family(&store, &other, "o1", NOW + TTL).await;

        // Only live families count.
        assert_eq!(store.revoke_user(&user).await.expect("revoke_user"), 2);
        assert_eq!(
            rotate(&store, &live_1, "a1", "a2", NOW).await,
            Rotation::Revoked
        );
        assert_eq!(
            rotate(&store, &live_2, "b1", "b2", NOW).await,
            Rotation::Revoked
        );
        assert_eq!(
            rotate(&store, &dead, "c1", "c2", NOW).await,
            Rotation::Revoked
        );
        // Nothing left to revoke.
        assert_eq!(store.revoke_user(&user).await.expect("revoke_user"), 0);
        // Other users, including one whose name extends this one, are untouched.
        assert_eq!(
            rotate(&store, &lookalike_family, "l1", "l2", NOW).await,
            Rotation::Rotated
        );
        assert_eq!(
            rotate(&store, &other_family, "o1", "o2", NOW).await,
            Rotation::Rotated
        );
        assert_eq!(
            store
                .revoke_user(&unique("nobody"))
                .await
                .expect("revoke_user"),
            0
        );
    }

    pub(crate) async fn purge_expired<S: Store>(store: S) {
        let t = PURGE_EPOCH;
        // Clear leftovers of an earlier, interrupted run (shared databases).
        store.purge_expired(t + 100).await.expect("purge_expired");

        let user = unique("trent");
        let expired = new_family(&store, &user, "e1", t + 10).await;
        let expired_revoked = new_family(&store, &user, "r1", t + 20).await;
        assert!(
            store
                .revoke_family(&expired_revoked)
                .await
                .expect("revoke_family")
        );
        let live = new_family(&store, &user, "l1", t + 30).await;
        let live_revoked = new_family(&store, &user, "v1", t + 40).await;
        assert!(
            store
                .revoke_family(&live_revoked)
                .await
                .expect("revoke_family")
        );

        // Expiry at exactly `now` counts as expired; revoked or not.
        assert_eq!(store.purge_expired(t + 20).await.expect("purge_expired"), 2);
        assert_eq!(store.purge_expired(t + 20).await.expect("purge_expired"), 0);

        // Purged families are gone...
        assert_eq!(
            rotate(&store, &expired, "e1", "e2", t).await,
            Rotation::Unknown
        );
        assert_eq!(
            rotate(&store, &expired_revoked, "r1", "r2", t).await,
            Rotation::Unknown
        );
        // ...the others are kept, with their state.
        assert_eq!(
            rotate(&store, &live, "l1", "l2", t + 25).await,
            Rotation::Rotated
        );
        assert_eq!(
            rotate(&store, &live_revoked, "v1", "v2", t + 25).await,
            Rotation::Revoked
        );

        // Clean up.
        assert_eq!(
            store.purge_expired(t + 100).await.expect("purge_expired"),
            2
        );
        assert_eq!(
            rotate(&store, &live, "l2", "l3", t + 25).await,
            Rotation::Unknown
        );
    }
}

/// Instantiates the whole suite as `#[tokio::test]`s. `$fixture` is an async
/// fn returning `Option<(store, guard)>`: `None` skips the test, and the guard
/// (for example a temporary directory) lives until the test ends.
macro_rules! conformance_tests {
    ($fixture:path) => {
        conformance_tests!(@current_thread $fixture;
            create_and_find_user,
            usernames_are_compared_exactly,
            update_password_hash,
            rotation_chain,
            reuse_revokes_the_family,
            foreign_token_revokes_the_family,
            rotate_revoked_family,
            rotate_expired_family,
            rotate_unknown_family,
            duplicate_family_id_keeps_the_original,
            revoke_family_only_that_family,
            revoke_user_only_that_user,
            purge_expired,
        );
        conformance_tests!(@multi_thread $fixture;
            concurrent_signups_create_one_user,
            concurrent_rotations_rotate_once,
        );
    };
    (@current_thread $fixture:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let Some((store, _guard)) = $fixture().await else {
                    return;
                };
                crate::suite::$name(store).await;
            }
        )*
    };
    (@multi_thread $fixture:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let Some((store, _guard)) = $fixture().await else {
                    return;
                };
                crate::suite::$name(store).await;
            }
        )*
    };
}

mod memory {
    use tower_jwt_auth::store::MemoryStore;

    async fn fixture() -> Option<(MemoryStore, ())> {
        Some((MemoryStore::new(), ()))
    }

    conformance_tests!(fixture);

    #[tokio::test]
    async fn debug_shows_no_contents() {
        use tower_jwt_auth::store::UserStore;

        let store = MemoryStore::new();
        store
            .create_user("visible-name", "secret-hash")
            .await
            .expect("create_user");
        let rendered = format!("{store:?}");
        assert!(rendered.contains("MemoryStore"), "{rendered}");
        assert!(!rendered.contains("secret-hash"), "{rendered}");
        assert!(!rendered.contains("visible-name"), "{rendered}");
    }
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use std::time::Duration;

    use tempfile::TempDir;
    use tower_jwt_auth::store::{
        CreateUser, NewFamily, RefreshTokenStore, Rotation, SqliteStore, UserStore,
    };

    async fn fixture() -> Option<(SqliteStore, TempDir)> {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}", dir.path().join("auth.db").display());
        let store = SqliteStore::connect(&url).await.expect("connect");
        Some((store, dir))
    }

    conformance_tests!(fixture);

    #[tokio::test]
    async fn data_survives_reconnect() {
        let dir = tempfile::tempdir().expect("temporary directory");
        // A plain path works as well as an `sqlite:` URL.
        let path = dir.path().join("durable.db");
        let url = path.to_str().expect("utf-8 path");

        let store = SqliteStore::connect(url).await.expect("connect");
        assert_eq!(
            store.create_user("alice", "h1").await.expect("create_user"),
            CreateUser::Created
        );
        store
            .create_family(NewFamily {
                family_id: "fam-1",
                username: "alice",
                token_id: "t1",
                expires_at: 2_000_000_000,
            })
            .await
            .expect("create_family");
        assert_eq!(
            store
                .rotate("fam-1", "t1", "t2", 1_700_000_000)
                .await
                .expect("rotate"),
            Rotation::Rotated
        );
        store.pool().close().await;
        drop(store);

        // Migrations already applied: connecting again is fine.
        let store = SqliteStore::connect(url).await.expect("reconnect");
        let user = store
            .find_user("alice")
            .await
            .expect("find_user")
            .expect("user lost across reconnect");
        assert_eq!(user.password_hash, "h1");
        assert_eq!(
            store.create_user("alice", "h2").await.expect("create_user"),
            CreateUser::AlreadyExists
        );
        assert_eq!(
            store
                .rotate("fam-1", "t2", "t3", 1_700_000_001)
                .await
                .expect("rotate"),
            Rotation::Rotated
        );
        store.pool().close().await;
    }

    #[tokio::test]
    async fn connect_configures_durability() {
        let (store, _dir) = fixture().await.expect("fixture");
        let pool = store.pool();
        let journal_mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(pool)
            .await
            .expect("journal_mode");
        assert_eq!(journal_mode.to_ascii_lowercase(), "wal");
        // 2 = FULL
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(pool)
            .await
            .expect("synchronous");
        assert_eq!(synchronous, 2);
        let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(pool)
            .await
            .expect("foreign_keys");
        assert_eq!(foreign_keys, 1);
        let busy_timeout: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(pool)
            .await
            .expect("busy_timeout");
        assert!(busy_timeout >= 1000, "busy_timeout is {busy_timeout} ms");
    }

    #[tokio::test]
    async fn from_pool_migrates() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(dir.path().join("pool.db"))
            .create_if_missing(true);
        let pool = sqlx::sqlite::SqlitePool::connect_with(options)
            .await
            .expect("pool");
        let store = SqliteStore::from_pool(pool).await.expect("from_pool");
        assert_eq!(
            store.create_user("bob", "h").await.expect("create_user"),
            CreateUser::Created
        );
    }

    #[tokio::test]
    async fn unreachable_database_is_an_error() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("no-such-dir").join("auth.db");
        let url = path.to_str().expect("utf-8 path");
        let result = tokio::time::timeout(Duration::from_secs(15), SqliteStore::connect(url)).await;
        let error = result
            .expect("connect hung")
            .expect_err("opening a file in a missing directory must fail");
        assert!(error.is_unavailable(), "{error:?}");
        assert!(!error.to_string().contains("no-such-dir"), "{error}");
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use std::error::Error as _;
    use std::time::{Duration, Instant};

    use tower_jwt_auth::store::PostgresStore;

    const URL_VAR: &str = "TOWER_JWT_AUTH_TEST_POSTGRES_URL";

    async fn fixture() -> Option<(PostgresStore, ())> {
        let Ok(url) = std::env::var(URL_VAR) else {
            assert!(
                std::env::var_os("CI").is_none(),
                "{URL_VAR} must be set in CI: nothing skips there"
            );
            // Straight to stderr: the test harness hides what `println!` prints from a
            // passing test, and a skip must be seen.
            let _ = std::io::Write::write_fmt(
                &mut std::io::stderr(),
                format_args!("skipping: {URL_VAR} is not set\n"),
            );
            return None;
        };
        let store = PostgresStore::connect(&url).await.expect("connect");
        Some((store, ()))
    }

    conformance_tests!(fixture);

    #[tokio::test]
    async fn unreachable_database_fails_fast() {
        // Nothing listens on port 1. The password must never show up in the
        // error.
        let url = "postgres://postgres:s3cr3t-pw@127.0.0.1:1/test";
        let started = Instant::now();
        let result =
            tokio::time::timeout(Duration::from_secs(15), PostgresStore::connect(url)).await;
        let error = result
            .expect("connect hung")
            .expect_err("connecting to a closed port must fail");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "took {:?}",
            started.elapsed()
        );
        assert!(error.is_unavailable(), "{error:?}");
        let mut rendered = format!("{error} / {error:?}");
        let mut source = error.source();
        while let Some(cause) = source {
            rendered.push_str(&format!(" / {cause}"));
            source = cause.source();
        }
        assert!(!rendered.contains("s3cr3t-pw"), "{rendered}");
    }

    #[tokio::test]
    async fn malformed_url_is_an_error() {
        let error = PostgresStore::connect("postgres://[not a url")
            .await
            .expect_err("a malformed URL must fail");
        assert!(!error.is_unavailable(), "{error:?}");
    }
}
