//! Faults: the example server killed with SIGKILL in the middle of a signup load on
//! SQLite loses no acknowledged signup and leaves a sound database; PostgreSQL going
//! away mid-run gives 503 (never a login or a refresh), and service resumes when it
//! comes back, without a restart.

use std::net::SocketAddr;
use std::process::Stdio;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::strip_ansi;

use http::StatusCode;
use serde_json::json;
use support::{bearer_request, post_json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

/// Starts the example server on port 0 over `database_url`; returns it and its address.
async fn start_server(database_url: &str) -> (Child, SocketAddr) {
    let mut child = Command::new(std::path::PathBuf::from(env!("CARGO_BIN_EXE_server")))
        .env("PORT", "0")
        .env("HOST", "127.0.0.1")
        .env("APP_SECRET_STRING", support::APP_SECRET)
        .env("DATABASE_URL", database_url)
        .env("BCRYPT_COST", "4")
        .env("TRUSTED_PROXY", "127.0.0.1")
        // Hundreds of signups from one address: a load, not an attack.
        .env("LOGIN_THROTTLE", "off")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let line = strip_ansi(&line);
            if let Some((_, addr)) = line.split_once("listening on http://") {
                return addr.trim().parse::<SocketAddr>().unwrap();
            }
        }
        panic!("the server exited before listening");
    })
    .await
    .expect("the server did not start listening within 60 s");
    // Keep draining stdout so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_signup_load_loses_no_acknowledged_signup() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("auth.db");
    let url = format!("sqlite://{}", db.display());
    let (mut child, addr) = start_server(&url).await;

    const CLIENTS: usize = 6;
    const PER_CLIENT: usize = 400;
    const KILL_AFTER: usize = 60;
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let failed = Arc::new(AtomicUsize::new(0));
    let clients: Vec<JoinHandle<()>> = (0..CLIENTS)
        .map(|client| {
            let (acknowledged, failed) = (acknowledged.clone(), failed.clone());
            tokio::spawn(async move {
                for n in 0..PER_CLIENT {
                    let username = format!("load-{client}-{n}");
                    let body = support::creds(&username, "correct horse");
                    match support::send_http(addr, "POST", "/signup", &[], Some(&body)).await {
                        Ok(reply) if reply.status == StatusCode::CREATED => {
                            acknowledged.lock().unwrap().push(username);
                        }
                        Ok(reply) => panic!("{username}: {reply:?}"),
                        Err(_) => {
                            // The server is gone: this client stops.
                            failed.fetch_add(1, Ordering::SeqCst);
                            return;
                        }
                    }
                }
            })
        })
        .collect();
    // Kill in the middle of the load, once enough signups went through.
    let waited = tokio::time::timeout(Duration::from_secs(120), async {
        while acknowledged.lock().unwrap().len() < KILL_AFTER {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(
        waited.is_ok(),
        "the load never reached {KILL_AFTER} signups"
    );
    child.start_kill().unwrap(); // SIGKILL on Unix
    let status = child.wait().await.unwrap();
    assert!(!status.success(), "killed, not exited: {status:?}");
    for client in clients {
        client.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        failed.load(Ordering::SeqCst) > 0,
        "the kill came after the load had finished"
    );
    assert!(acknowledged.len() < CLIENTS * PER_CLIENT);
    println!(
        "{} signups acknowledged before the kill; {} clients cut off",
        acknowledged.len(),
        failed.load(Ordering::SeqCst)
    );

    // The database is sound before anything opens it for writing again.
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(&url)
        .unwrap()
        .read_only(true);
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap();
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(check, "ok");
    pool.close().await;

    // After a restart, every acknowledged signup logs in. The logins come through the
    // trusted proxy address with one client address each, so per-address throttling
    // stays out of the way; this only works if the server passes the peer address on.
    let (_child, addr) = start_server(&url).await;
    for (n, username) in acknowledged.iter().enumerate() {
        let client = format!("10.0.{}.{}", n / 250, n % 250 + 1);
        let reply = support::send_http(
            addr,
            "POST",
            "/login",
            &[("x-forwarded-for", &client)],
            Some(&support::creds(username, "correct horse")),
        )
        .await
        .unwrap();
        assert_eq!(reply.status, StatusCode::OK, "{username}: {reply:?}");
    }
}

/// A loopback TCP proxy in front of PostgreSQL that can be cut and restored.
struct Proxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = tokio::spawn({
            let (up, links) = (up.clone(), links.clone());
            async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    if !up.load(Ordering::SeqCst) {
                        drop(client); // refused while down
                        continue;
                    }
                    let link = tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    links.lock().unwrap().push(link);
                }
            }
        });
        Self {
            addr,
            up,
            links,
            accept,
        }
    }

    /// Cuts every open connection and refuses new ones.
    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_going_away_gives_503_and_service_resumes_without_a_restart() {
    let Some(url) = support::postgres_url() else {
        return;
    };
    use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
    let direct = PgConnectOptions::from_str(&url).unwrap();
    let upstream = tokio::net::lookup_host((direct.get_host(), direct.get_port()))
        .await
        .unwrap()
        .find(SocketAddr::is_ipv4)
        .unwrap();
    assert!(upstream.ip().is_loopback(), "tests talk to loopback only");
    let proxy = Proxy::start(upstream).await;
    let pool = PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(2))
        .connect_with(direct.host("127.0.0.1").port(proxy.addr.port()))
        .await
        .unwrap();
    let store = tower_jwt_auth::store::PostgresStore::from_pool(pool)
        .await
        .unwrap();
    let config = tutorial::config_from(support::vars(&[
        ("APP_SECRET_STRING", support::APP_SECRET),
        ("BCRYPT_COST", "4"),
    ]))
    .unwrap();
    let app = tutorial::app(store, &config).unwrap();
    let call = |request| {
        let app = app.clone();
        async move { support::call(&app, request).await.pair() }
    };

    let user = format!("pg-fault-{}", &tower_jwt_auth::issuer::random_id()[..8]);
    assert_eq!(
        call(post_json(
            "/signup",
            &support::creds(&user, "correct horse")
        ))
        .await
        .0,
        StatusCode::CREATED
    );
    let (status, tokens) = call(post_json("/login", &support::creds(&user, "correct horse"))).await;
    assert_eq!(status, StatusCode::OK);
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();

    proxy.cut();
    let down = [
        (
            "signup",
            post_json(
                "/signup",
                &support::creds(&format!("{user}-2"), "correct horse"),
            ),
        ),
        (
            "login",
            post_json("/login", &support::creds(&user, "correct horse")),
        ),
        (
            "refresh by header",
            bearer_request("GET", "/refresh_token", &refresh),
        ),
        (
            "refresh by body",
            post_json("/refresh", &json!({ "refresh_token": refresh })),
        ),
        ("logout", bearer_request("POST", "/logout", &refresh)),
    ];
    for (case, request) in down {
        let (status, body) = call(request).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{case}: {body}");
        assert_eq!(body, json!({ "detail": "Service unavailable" }), "{case}");
    }
    // Access tokens need no store: the protected route still answers.
    assert_eq!(
        call(bearer_request("POST", "/secret", &access)).await.0,
        StatusCode::OK
    );

    proxy.restore();
    // The pool replaces its dead connections by itself; give it a few tries.
    let mut resumed = None;
    for _ in 0..20 {
        let (status, body) =
            call(post_json("/login", &support::creds(&user, "correct horse"))).await;
        if status == StatusCode::OK {
            resumed = Some(body);
            break;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(resumed.is_some(), "service did not resume");
    // Nothing was consumed while the store was down: the refresh token still rotates.
    let (status, body) = call(bearer_request("GET", "/refresh_token", &refresh)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        call(post_json(
            "/signup",
            &support::creds(&format!("{user}-2"), "correct horse")
        ))
        .await
        .0,
        StatusCode::CREATED
    );
}
