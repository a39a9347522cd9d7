//! Revocation across instances: routers sharing one store and one
//! revocation backend, each with its own replica, as processes behind a
//! load balancer would. Families revoke their access tokens; a replica cut
//! off from its backend keeps serving, then fails closed with 503, and
//! catches up once the backend is back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use http::StatusCode;
use http::header::RETRY_AFTER;
use serde_json::json;
use support::{bearer_request, call, creds, post_json};
use tower_jwt_auth::password::PasswordHasher;
use tower_jwt_auth::revocation::{
    MemoryRevocations, Replica, ReplicaTask, RevocationBackend, RevocationError, RevocationFeed,
    Revoked,
};
use tower_jwt_auth::store::MemoryStore;
use tower_jwt_auth::{Algorithm, Auth, JwtClaims, SigningKey, TokenIssuer};

/// One instance: its router (auth routes and `/me`), its replica and the
/// replica's task.
struct Instance {
    router: Router,
    replica: Arc<Replica>,
    _task: Option<ReplicaTask>,
}

fn issuer() -> TokenIssuer {
    TokenIssuer::new(SigningKey::hmac(Algorithm::HS256, support::SECRET).unwrap())
}

fn router_of(auth: &Arc<Auth<MemoryStore>>) -> Router {
    let protected = Router::new()
        .route(
            "/me",
            get(|JwtClaims(claims): JwtClaims| async move { claims.sub.clone() }),
        )
        .route_layer(auth.layer());
    auth.router().merge(protected)
}

/// An instance whose revocations stay in the process.
fn local(store: &MemoryStore) -> Instance {
    let auth = Auth::builder(issuer(), store.clone())
        .hasher(PasswordHasher::new(4, 2, 64).unwrap())
        .build()
        .unwrap();
    Instance {
        router: router_of(&auth),
        replica: Arc::clone(auth.replica()),
        _task: None,
    }
}

/// An instance sharing revocations through `backend`.
async fn shared<B: RevocationBackend>(
    store: &MemoryStore,
    backend: Arc<B>,
    replica: Replica,
) -> Instance {
    let replica = Arc::new(replica);
    let task = replica.sync(Arc::clone(&backend));
    assert!(replica.loaded(Duration::from_secs(5)).await);
    let auth = Auth::builder(issuer(), store.clone())
        .hasher(PasswordHasher::new(4, 2, 64).unwrap())
        .shared_revocation(Arc::clone(&replica), backend)
        .build()
        .unwrap();
    Instance {
        router: router_of(&auth),
        replica,
        _task: Some(task),
    }
}

async fn login(router: &Router, username: &str) -> (String, String) {
    let signup = call(
        router,
        post_json("/signup", &creds(username, "correct horse")),
    )
    .await;
    assert!(
        signup.status == StatusCode::CREATED || signup.status == StatusCode::CONFLICT,
        "{:?}",
        signup.status
    );
    let login = call(
        router,
        post_json("/login", &creds(username, "correct horse")),
    )
    .await;
    assert_eq!(login.status, StatusCode::OK, "{:?}", login.body);
    (
        login.body["access_token"].as_str().unwrap().to_owned(),
        login.body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

async fn me(router: &Router, access: &str) -> StatusCode {
    call(router, bearer_request("GET", "/me", access))
        .await
        .status
}

/// Polls `/me` until it answers `want`, at most 5 s.
async fn until_me_is(router: &Router, access: &str, want: StatusCode) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let got = me(router, access).await;
        if got == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/me answered {got}, not {want}, for 5 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_replayed_refresh_token_revokes_the_access_tokens_of_its_family() {
    let store = MemoryStore::new();
    let app = local(&store);
    let (first_access, first_refresh) = login(&app.router, "alice").await;
    let (other_access, _) = login(&app.router, "alice").await;
    let rotated = call(
        &app.router,
        post_json("/refresh", &json!({ "refresh_token": first_refresh })),
    )
    .await;
    assert_eq!(rotated.status, StatusCode::OK);
    let rotated_access = rotated.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(me(&app.router, &rotated_access).await, StatusCode::OK);

    // The first refresh token again: reuse, the family is revoked.
    let replay = call(
        &app.router,
        post_json("/refresh", &json!({ "refresh_token": first_refresh })),
    )
    .await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        me(&app.router, &rotated_access).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        me(&app.router, &first_access).await,
        StatusCode::UNAUTHORIZED
    );
    // Another login of the same user is another family.
    assert_eq!(me(&app.router, &other_access).await, StatusCode::OK);
}

#[tokio::test]
async fn logout_with_the_refresh_token_revokes_its_access_tokens() {
    let store = MemoryStore::new();
    let app = local(&store);
    let (access, refresh) = login(&app.router, "bob").await;
    let logout = call(
        &app.router,
        post_json("/logout", &json!({ "refresh_token": refresh })),
    )
    .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    assert_eq!(me(&app.router, &access).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_on_one_instance_is_refused_by_the_others_and_by_one_started_later() {
    let store = MemoryStore::new();
    let backend = Arc::new(MemoryRevocations::new());
    let a = shared(&store, Arc::clone(&backend), Replica::new()).await;
    let b = shared(&store, Arc::clone(&backend), Replica::new()).await;
    let c = shared(&store, Arc::clone(&backend), Replica::new()).await;
    let (access, refresh) = login(&a.router, "carol").await;
    let (kept, _) = login(&b.router, "carol").await;
    for instance in [&a, &b, &c] {
        assert_eq!(me(&instance.router, &access).await, StatusCode::OK);
    }
    // The access token alone, then the family through the refresh token.
    let logout = call(&a.router, bearer_request("POST", "/logout", &access)).await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    for instance in [&a, &b, &c] {
        until_me_is(&instance.router, &access, StatusCode::UNAUTHORIZED).await;
        assert_eq!(me(&instance.router, &kept).await, StatusCode::OK);
    }
    let rotated = call(
        &b.router,
        post_json("/refresh", &json!({ "refresh_token": refresh })),
    )
    .await;
    let rotated_access = rotated.body["access_token"].as_str().unwrap().to_owned();
    let logout = call(
        &c.router,
        post_json(
            "/logout",
            &json!({ "refresh_token": rotated.body["refresh_token"] }),
        ),
    )
    .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    for instance in [&a, &b, &c] {
        until_me_is(&instance.router, &rotated_access, StatusCode::UNAUTHORIZED).await;
    }
    let d = shared(&store, Arc::clone(&backend), Replica::new()).await;
    assert_eq!(me(&d.router, &access).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        me(&d.router, &rotated_access).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(me(&d.router, &kept).await, StatusCode::OK);
    assert!(d.replica.is_current());
}

/// A view of a shared backend that the test can cut off: while cut, every
/// operation fails and every feed ends, as through a dead network.
struct Cuttable {
    inner: Arc<MemoryRevocations>,
    cut: Arc<AtomicBool>,
}

struct CuttableFeed {
    inner: <MemoryRevocations as RevocationBackend>::Feed,
    cut: Arc<AtomicBool>,
}

fn unreachable() -> RevocationError {
    RevocationError::Backend("connection refused (cut by the test)".into())
}

impl RevocationFeed for CuttableFeed {
    async fn next(&mut self) -> Result<Revoked, RevocationError> {
        loop {
            if self.cut.load(Ordering::SeqCst) {
                return Err(unreachable());
            }
            // Wake up now and then to notice a cut.
            if let Ok(next) =
                tokio::time::timeout(Duration::from_millis(20), self.inner.next()).await
            {
                if self.cut.load(Ordering::SeqCst) {
                    return Err(unreachable());
                }
                return next;
            }
        }
    }
}

impl RevocationBackend for Cuttable {
    type Feed = CuttableFeed;

    async fn revoke(&self, revoked: &Revoked) -> Result<(), RevocationError> {
        if self.cut.load(Ordering::SeqCst) {
            return Err(unreachable());
        }
        self.inner.revoke(revoked).await
    }

    async fn listen(&self) -> Result<CuttableFeed, RevocationError> {
        if self.cut.load(Ordering::SeqCst) {
            return Err(unreachable());
        }
        Ok(CuttableFeed {
            inner: self.inner.listen().await?,
            cut: Arc::clone(&self.cut),
        })
    }

    async fn load(&self, now: u64) -> Result<Vec<Revoked>, RevocationError> {
        if self.cut.load(Ordering::SeqCst) {
            return Err(unreachable());
        }
        self.inner.load(now).await
    }

    async fn purge(&self, now: u64) -> Result<(), RevocationError> {
        if self.cut.load(Ordering::SeqCst) {
            return Err(unreachable());
        }
        self.inner.purge(now).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_replica_fails_closed_after_the_staleness_limit_and_catches_up() {
    let store = MemoryStore::new();
    let backend = Arc::new(MemoryRevocations::new());
    let cut = Arc::new(AtomicBool::new(false));
    let a = shared(
        &store,
        Arc::new(Cuttable {
            inner: Arc::clone(&backend),
            cut: Arc::clone(&cut),
        }),
        Replica::new()
            .max_staleness(Duration::from_millis(300))
            .heartbeat(Duration::from_millis(50)),
    )
    .await;
    let b = shared(&store, Arc::clone(&backend), Replica::new()).await;
    let (kept, _) = login(&a.router, "dave").await;
    let (revoked_meanwhile, _) = login(&b.router, "dave").await;
    let (logged_out_on_a, _) = login(&a.router, "dave").await;
    assert_eq!(me(&a.router, &kept).await, StatusCode::OK);

    cut.store(true, Ordering::SeqCst);
    // Within the limit the replica still answers.
    assert_eq!(me(&a.router, &kept).await, StatusCode::OK);
    // A logout on A cannot be shared: 503, never a silent 204. A refuses
    // the token from now on all the same (fail closed); the client retries.
    let refused = call(
        &a.router,
        bearer_request("POST", "/logout", &logged_out_on_a),
    )
    .await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        me(&a.router, &logged_out_on_a).await,
        StatusCode::UNAUTHORIZED
    );
    let logout = call(
        &b.router,
        bearer_request("POST", "/logout", &revoked_meanwhile),
    )
    .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);

    // Past it: 503 with Retry-After, for every token, never another 5xx.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let stale = loop {
        let answer = call(&a.router, bearer_request("GET", "/me", &revoked_meanwhile)).await;
        if answer.status == StatusCode::SERVICE_UNAVAILABLE {
            break answer;
        }
        assert_eq!(answer.status, StatusCode::OK, "only 200 before the limit");
        assert!(tokio::time::Instant::now() < deadline, "never went stale");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(stale.headers[RETRY_AFTER], "1");
    assert_eq!(stale.body, json!({ "detail": "Service unavailable" }));
    assert!(!a.replica.is_current());

    // Back: A reloads without a restart and refuses what B revoked.
    cut.store(false, Ordering::SeqCst);
    until_me_is(&a.router, &kept, StatusCode::OK).await;
    assert_eq!(
        me(&a.router, &revoked_meanwhile).await,
        StatusCode::UNAUTHORIZED
    );
    assert!(a.replica.is_current());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_may_choose_to_serve_from_a_stale_replica() {
    let store = MemoryStore::new();
    let cut = Arc::new(AtomicBool::new(false));
    let a = shared(
        &store,
        Arc::new(Cuttable {
            inner: Arc::new(MemoryRevocations::new()),
            cut: Arc::clone(&cut),
        }),
        Replica::new()
            .max_staleness(Duration::from_millis(100))
            .heartbeat(Duration::from_millis(20))
            .serve_stale(true),
    )
    .await;
    let (access, _) = login(&a.router, "erin").await;
    cut.store(true, Ordering::SeqCst);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while a.replica.is_current() {
        assert!(tokio::time::Instant::now() < deadline, "never went stale");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(me(&a.router, &access).await, StatusCode::OK);
}

#[tokio::test]
async fn a_replica_that_never_loaded_fails_closed() {
    let store = MemoryStore::new();
    let cut = Arc::new(AtomicBool::new(true));
    let replica = Arc::new(Replica::new());
    let backend = Arc::new(Cuttable {
        inner: Arc::new(MemoryRevocations::new()),
        cut,
    });
    let _task = replica.sync(Arc::clone(&backend));
    let auth = Auth::builder(issuer(), store.clone())
        .hasher(PasswordHasher::new(4, 2, 64).unwrap())
        .shared_revocation(Arc::clone(&replica), backend)
        .build()
        .unwrap();
    let router = router_of(&auth);
    // Logging in needs no revocations; the token it gives cannot be checked.
    let (access, _) = login(&router, "frank").await;
    assert!(!replica.is_current());
    assert_eq!(me(&router, &access).await, StatusCode::SERVICE_UNAVAILABLE);
}
