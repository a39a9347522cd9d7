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

mod suite {
    use std::sync::Arc;

    use serde_json::json;
    use tokio::sync::Barrier;
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    use tower_jwt_auth::store::StoreError;
    use tower_jwt_auth::store::{
        Attributes, CreateUser, NewFamily, RefreshTokenStore, Rotation, User, UserStore,
    };

    use support::unique;

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
                attributes: Attributes::new(),
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

    /// Attributes from a JSON literal (must be an object).
    fn attributes(value: serde_json::Value) -> Attributes {
        match value {
            serde_json::Value::Object(map) => map,
            other => panic!("not a JSON object: {other}"),
        }
    }

    /// The attributes `find_user` gives for an existing user.
    async fn stored_attributes<S: Store>(store: &S, username: &str) -> Attributes {
        store
            .find_user(username)
            .await
            .expect("find_user")
            .expect("user vanished")
            .attributes
    }

    /// Sets an existing user's attributes and checks that `find_user` reads
    /// back exactly them.
    async fn set_and_read_back<S: Store>(store: &S, username: &str, attributes: &Attributes) {
        assert!(
            store
                .set_attributes(username, attributes)
                .await
                .expect("set_attributes"),
            "the user exists"
        );
        assert_eq!(&stored_attributes(store, username).await, attributes);
    }

    pub(crate) async fn new_users_have_no_attributes<S: Store>(store: S) {
        let name = unique("uma");
        store.create_user(&name, "hash").await.expect("create_user");
        assert_eq!(stored_attributes(&store, &name).await, Attributes::new());
    }

    pub(crate) async fn set_attributes_replaces_them_whole<S: Store>(store: S) {
        let name = unique("victor");
        let other = unique("wendy");
        store.create_user(&name, "hash").await.expect("create_user");
        store
            .create_user(&other, "other")
            .await
            .expect("create_user");

        let first = attributes(json!({ "roles": ["admin", "ops"], "tier": 1 }));
        set_and_read_back(&store, &name, &first).await;

        // Replaced, not merged: "tier" is gone.
        set_and_read_back(&store, &name, &attributes(json!({ "roles": [] }))).await;
        // The password hash is untouched, and so is every other user.
        let user = store
            .find_user(&name)
            .await
            .expect("find_user")
            .expect("user vanished");
        assert_eq!(user.password_hash, "hash");
        assert_eq!(stored_attributes(&store, &other).await, Attributes::new());

        // Back to none.
        set_and_read_back(&store, &name, &Attributes::new()).await;
        // A later password change keeps the attributes.
        set_and_read_back(&store, &name, &first).await;
        assert!(
            store
                .update_password_hash(&name, "rehashed")
                .await
                .expect("update_password_hash")
        );
        assert_eq!(stored_attributes(&store, &name).await, first);
    }

    pub(crate) async fn set_attributes_of_missing_user_creates_nothing<S: Store>(store: S) {
        let missing = unique("xavier");
        let roles = attributes(json!({ "roles": ["admin"] }));
        assert!(
            !store
                .set_attributes(&missing, &roles)
                .await
                .expect("set_attributes")
        );
        assert_eq!(store.find_user(&missing).await.expect("find_user"), None);
        // Nothing was left behind for a later signup to inherit.
        assert_eq!(
            store
                .create_user(&missing, "hash")
                .await
                .expect("create_user"),
            CreateUser::Created
        );
        assert_eq!(stored_attributes(&store, &missing).await, Attributes::new());
    }

    pub(crate) async fn unusual_attributes_round_trip<S: Store>(store: S) {
        let name = unique("yolanda");
        store.create_user(&name, "hash").await.expect("create_user");
        let mut nested = json!("bottom");
        for _ in 0..100 {
            nested = json!([nested]);
        }
        let odd = attributes(json!({
            "": "empty key",
            "quote \" backslash \\ newline \n": "key with escapes",
            "'); DROP TABLE tja_users; --": "'); DROP TABLE tja_users; --",
            "caf\u{e9} e\u{301} \u{1F600}": "non-ASCII",
            "nul": "before\u{0}after",
            "numbers": [u64::MAX, i64::MIN, 0.1, 1e308, -0.0],
            "null": null,
            "flags": [true, false],
            "nested": nested,
            "large": "x".repeat(1 << 20),
        }));
        set_and_read_back(&store, &name, &odd).await;
    }

    pub(crate) async fn unreadable_attributes_are_refused_or_kept<S: Store>(store: S) {
        let name = unique("zed");
        store.create_user(&name, "hash").await.expect("create_user");
        let before = attributes(json!({ "roles": ["user"] }));
        set_and_read_back(&store, &name, &before).await;

        // Deeper than serde_json reads back by default (128 levels).
        let mut deep = json!(0);
        for _ in 0..300 {
            deep = json!({ "d": deep });
        }
        let deep = attributes(json!({ "deep": deep }));
        match store.set_attributes(&name, &deep).await {
            // Kept whole...
            Ok(stored) => {
                assert!(stored);
                assert_eq!(stored_attributes(&store, &name).await, deep);
            }
            // ...or refused, leaving the user readable as before.
            Err(error) => {
                assert!(!error.to_string().is_empty());
                assert_eq!(stored_attributes(&store, &name).await, before);
            }
        }
    }

    pub(crate) async fn concurrent_set_attributes_leave_one_whole_value<S: Store>(store: S) {
        const TASKS: usize = 16;
        let name = unique("race-attributes");
        store.create_user(&name, "old").await.expect("create_user");
        let written: Vec<Attributes> = (0..TASKS)
            .map(|i| {
                attributes(json!({
                    "writer": i,
                    "roles": [format!("role-{i}-a"), format!("role-{i}-b")],
                    "padding": "p".repeat(i * 4096),
                }))
            })
            .collect();
        let barrier = Arc::new(Barrier::new(TASKS + 1));
        let mut tasks = Vec::with_capacity(TASKS);
        for mine in written.clone() {
            let store = store.clone();
            let name = name.clone();
            let barrier = Arc::clone(&barrier);
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                store
                    .set_attributes(&name, &mine)
                    .await
                    .expect("set_attributes")
            }));
        }
        // A password change racing the attribute writes must survive them.
        let rehash = {
            let store = store.clone();
            let name = name.clone();
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                store
                    .update_password_hash(&name, "new")
                    .await
                    .expect("update_password_hash")
            })
        };
        for task in tasks {
            assert!(task.await.expect("task panicked"), "the user exists");
        }
        assert!(rehash.await.expect("task panicked"));

        let user = store
            .find_user(&name)
            .await
            .expect("find_user")
            .expect("user vanished");
        assert!(
            written.contains(&user.attributes),
            "the stored attributes are not one writer's whole value: {:?}",
            user.attributes.get("writer")
        );
        assert_eq!(user.password_hash, "new");
    }

    /// Attributes that something other than the store wrote and that are not
    /// a JSON object make `find_user` fail cleanly; setting them again heals
    /// the user. `write_raw(username, text)` writes the stored text as is.
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub(crate) async fn corrupt_stored_attributes_are_an_error<S>(
        store: S,
        write_raw: impl AsyncFn(&str, &str),
    ) where
        S: Store + UserStore<Error = StoreError>,
    {
        let name = unique("corrupt");
        store.create_user(&name, "hash").await.expect("create_user");
        for text in ["not json", "", "[]", "null", "{\"roles\": [", "{} {}"] {
            write_raw(&name, text).await;
            let error = store
                .find_user(&name)
                .await
                .expect_err("unreadable attributes must fail find_user");
            assert!(!error.is_unavailable(), "{error:?}");
            assert!(!error.to_string().contains(&name), "{error}");
        }
        let roles = attributes(json!({ "roles": ["admin"] }));
        set_and_read_back(&store, &name, &roles).await;
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
/// (for example a temporary directory) lives until the test ends. `@sql`
/// adds the checks that reach past an SQL store into its tables (the store
/// has a `pool()`).
macro_rules! conformance_tests {
    ($fixture:path) => {
        conformance_tests!(@current_thread $fixture;
            create_and_find_user,
            usernames_are_compared_exactly,
            update_password_hash,
            new_users_have_no_attributes,
            set_attributes_replaces_them_whole,
            set_attributes_of_missing_user_creates_nothing,
            unusual_attributes_round_trip,
            unreadable_attributes_are_refused_or_kept,
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
            concurrent_set_attributes_leave_one_whole_value,
        );
    };
    (@sql $fixture:path) => {
        #[tokio::test]
        async fn corrupt_stored_attributes_are_an_error() {
            let Some((store, _guard)) = $fixture().await else {
                return;
            };
            let pool = store.pool().clone();
            // What a writer other than the store might do; the same text
            // for every SQL dialect.
            let write_raw = async |username: &str, text: &str| {
                sqlx::query("UPDATE tja_users SET attributes = $1 WHERE username = $2")
                    .bind(text)
                    .bind(username)
                    .execute(&pool)
                    .await
                    .expect("raw write");
            };
            crate::suite::corrupt_stored_attributes_are_an_error(store, write_raw).await;
        }
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
        let serde_json::Value::Object(attributes) =
            serde_json::json!({ "email": "private@example.com" })
        else {
            unreachable!("a JSON object literal");
        };
        assert!(
            store
                .set_attributes("visible-name", &attributes)
                .await
                .expect("set_attributes")
        );

        let rendered = format!("{store:?}");
        assert!(rendered.contains("MemoryStore"), "{rendered}");
        assert!(!rendered.contains("secret-hash"), "{rendered}");
        assert!(!rendered.contains("visible-name"), "{rendered}");
        assert!(!rendered.contains("private@example.com"), "{rendered}");

        // A user shows its name and the names of its attributes, never the
        // hash or the attributes' values.
        let user = store
            .find_user("visible-name")
            .await
            .expect("find_user")
            .expect("user");
        let rendered = format!("{user:?}");
        assert!(rendered.contains("visible-name"), "{rendered}");
        assert!(rendered.contains("email"), "{rendered}");
        assert!(!rendered.contains("secret-hash"), "{rendered}");
        assert!(!rendered.contains("private@example.com"), "{rendered}");
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
    conformance_tests!(@sql fixture);

    /// A pool on a new database file, with sqlx's default settings and no
    /// schema.
    async fn plain_pool(path: &std::path::Path) -> sqlx::sqlite::SqlitePool {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true);
        sqlx::sqlite::SqlitePool::connect_with(options)
            .await
            .expect("pool")
    }

    #[tokio::test]
    async fn upgrade_gives_existing_users_empty_attributes() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let pool = plain_pool(&dir.path().join("old.db")).await;
        // The schema as the first release left it, with a user in it.
        let mut first_release = sqlx::migrate!("migrations/sqlite");
        first_release.dangerous_set_table_name("_tja_sqlx_migrations");
        first_release.run_to(1, &pool).await.expect("migration 1");
        sqlx::query("INSERT INTO tja_users (username, password_hash) VALUES ('old', 'h')")
            .execute(&pool)
            .await
            .expect("insert");

        let store = SqliteStore::from_pool(pool).await.expect("upgrade");
        let user = store
            .find_user("old")
            .await
            .expect("find_user")
            .expect("user lost in the upgrade");
        assert_eq!(user.password_hash, "h");
        assert!(user.attributes.is_empty(), "{user:?}");
    }

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
        let pool = plain_pool(&dir.path().join("pool.db")).await;
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
    conformance_tests!(@sql fixture);

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
