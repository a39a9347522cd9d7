//! Revocation propagation latency between instances: N instances of the tutorial's app (in
//! this process, each with its own pool, listener and replica) served on loopback ports and
//! sharing a real backend. For each of `rounds` logouts on instance 0, every other instance
//! is polled on `/secret` (each by a task of its own, asking for 200 µs between polls, which
//! tokio's millisecond timer makes about 1 ms: figures past the first poll are upper bounds
//! in steps of about a millisecond; each poll is a request on a new connection) from
//! instance 0's 204 until it answers 401; the logout's figure is the time until the last of
//! them did. Reported as p50/p99/max over the logouts, with the p50 of the single
//! instances' times, for each N of the list (default 2, 8 and 32); the instances of one N
//! are shut down, and their pools closed, before the next N starts. Writes the chart
//! `benches/propagation.svg` when every backend ran.
//!
//! PostgreSQL: each instance's pool holds at most 2 connections (the replica's `LISTEN`
//! holds one of them), instance 0's at most 4, so 32 instances open at most 66 connections
//! (PostgreSQL's default `max_connections` is 100). Redis: each instance has its own
//! SQLite pool over one shared file, and Redis's connections (one multiplexed, one
//! subscription per instance).
//!
//! ```sh
//! TOWER_JWT_AUTH_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//! TOWER_JWT_AUTH_TEST_REDIS_URL=redis://127.0.0.1:6379 \
//!   cargo run --release -p tower-jwt-auth-tutorial --example propagation -- 20 2,8,32
//! ```
//!
//! A backend whose variable is unset is skipped.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::postgres::PgPoolOptions;
use tokio::task::JoinHandle;
use tower_jwt_auth::store::PostgresStore;
use tutorial::revocation::SharedRevocation;

/// How long one instance may take to hear of a revocation before the run fails.
const GIVE_UP: Duration = Duration::from_secs(10);
/// The pause between two polls of one instance (tokio rounds it up to its 1 ms tick).
const POLL: Duration = Duration::from_micros(200);

/// One running instance: its address, its server task and its PostgreSQL pool, if any.
struct Instance {
    addr: SocketAddr,
    server: JoinHandle<()>,
    pool: Option<sqlx::PgPool>,
}

async fn serve(vars: &[(&str, String)], first: bool) -> Instance {
    let lookup = |name: &str| {
        vars.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.clone())
    };
    let config = tutorial::config_from(lookup).expect("configuration");
    let (app, pool) = if config.database_url.starts_with("postgres") {
        let pool = PgPoolOptions::new()
            .max_connections(if first { 4 } else { 2 })
            .acquire_timeout(Duration::from_secs(3))
            .connect(&config.database_url)
            .await
            .expect("PostgreSQL");
        let store = PostgresStore::from_pool(pool.clone()).await.expect("store");
        let shared = SharedRevocation::start(&config.revocation, Some(pool.clone()))
            .await
            .expect("revocation");
        let app = tutorial::app_sharing(store, &config, shared).expect("app");
        (app, Some(pool))
    } else {
        (tutorial::app_from_config(&config).await.expect("app"), None)
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    Instance { addr, server, pool }
}

async fn post(
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
    body: Option<&serde_json::Value>,
) -> support::Answer {
    support::post_http(addr, path, token, body).await.unwrap()
}

/// The time from `since` until `addr` answers `token` 401 on `/secret`.
async fn until_refused(addr: SocketAddr, token: String, since: Instant) -> Duration {
    loop {
        let status = post(addr, "/secret", Some(&token), None).await.status;
        if status == 401 {
            return since.elapsed();
        }
        assert_eq!(status, 200);
        assert!(since.elapsed() < GIVE_UP, "never propagated to {addr}");
        tokio::time::sleep(POLL).await;
    }
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

/// p50, p99 and max of the logouts' times until every instance refused, in ms.
type Figures = [f64; 3];

async fn measure(name: &str, vars: &[(&str, String)], instances: usize, rounds: usize) -> Figures {
    let mut running = Vec::with_capacity(instances);
    for at in 0..instances {
        running.push(serve(vars, at == 0).await);
    }
    let addrs: Vec<SocketAddr> = running.iter().map(|instance| instance.addr).collect();
    let first = addrs[0];
    let user = format!("propagation-{}-{instances}", std::process::id());
    let credentials = json!({ "username": user, "password": "correct horse" });
    post(first, "/signup", None, Some(&credentials)).await;
    let (mut all, mut each) = (Vec::with_capacity(rounds), Vec::new());
    for _ in 0..rounds {
        let login = post(first, "/login", None, Some(&credentials)).await;
        let access = login.body["access_token"].as_str().unwrap().to_owned();
        for &addr in &addrs[1..] {
            assert_eq!(post(addr, "/secret", Some(&access), None).await.status, 200);
        }
        let logout = post(first, "/logout", Some(&access), None).await;
        assert_eq!(logout.status, 204);
        let acknowledged = Instant::now();
        let pollers: Vec<_> = addrs[1..]
            .iter()
            .map(|&addr| tokio::spawn(until_refused(addr, access.clone(), acknowledged)))
            .collect();
        let mut last = Duration::ZERO;
        for poller in pollers {
            let elapsed = poller.await.unwrap();
            each.push(elapsed);
            last = last.max(elapsed);
        }
        all.push(last);
    }
    for instance in running {
        instance.server.abort();
        let _ = instance.server.await;
        if let Some(pool) = instance.pool {
            pool.close().await;
        }
    }
    all.sort();
    each.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let figures = [
        ms(quantile(&all, 0.5)),
        ms(quantile(&all, 0.99)),
        ms(all[all.len() - 1]),
    ];
    println!(
        "| {name} | {instances} | {rounds} | {:.2} | {:.2} | {:.2} | {:.2} |",
        figures[0],
        figures[1],
        figures[2],
        ms(quantile(&each, 0.5)),
    );
    figures
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rounds: usize = args
        .first()
        .and_then(|arg| arg.parse().ok())
        .unwrap_or(20)
        .max(1);
    let counts: Vec<usize> = args
        .get(1)
        .map(|list| {
            list.split(',')
                .filter_map(|n| n.parse().ok())
                .filter(|&n| (2..=32).contains(&n))
                .collect()
        })
        .unwrap_or_else(|| vec![2, 8, 32]);
    let common = |extra: Vec<(&'static str, String)>| {
        let mut vars = vec![
            ("APP_SECRET_STRING", support::APP_SECRET.to_owned()),
            ("BCRYPT_COST", "4".to_owned()),
            ("LOGIN_THROTTLE", "off".to_owned()),
        ];
        vars.extend(extra);
        vars
    };
    println!(
        "{rounds} logouts on instance 0 per row; instance 0's 204 until every other instance \
         answered 401 (ms), and the p50 of each instance's own time"
    );
    println!("| backend | instances | logouts | p50 | p99 | max | p50, one instance |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mut groups = Vec::new();
    match std::env::var("TOWER_JWT_AUTH_TEST_POSTGRES_URL") {
        Ok(url) => {
            let vars = common(vec![("DATABASE_URL", url)]);
            for &n in &counts {
                let figures = measure("postgres", &vars, n, rounds).await;
                groups.push((format!("PG, {n}"), figures.to_vec()));
            }
        }
        Err(_) => eprintln!("skipping: TOWER_JWT_AUTH_TEST_POSTGRES_URL is not set"),
    }
    match std::env::var("TOWER_JWT_AUTH_TEST_REDIS_URL") {
        Ok(url) => {
            let dir = tempfile::tempdir().unwrap();
            let database = format!("sqlite://{}", dir.path().join("auth.db").display());
            let prefix = format!("propagation-{}:", std::process::id());
            let vars = common(vec![
                ("DATABASE_URL", database),
                ("REDIS_URL", url),
                ("REDIS_PREFIX", prefix),
            ]);
            for &n in &counts {
                let figures = measure("redis", &vars, n, rounds).await;
                groups.push((format!("Redis, {n}"), figures.to_vec()));
            }
        }
        Err(_) => eprintln!("skipping: TOWER_JWT_AUTH_TEST_REDIS_URL is not set"),
    }
    if groups.len() == 2 * counts.len() {
        let groups: Vec<(&str, Vec<f64>)> = groups
            .iter()
            .map(|(name, figures)| (name.as_str(), figures.clone()))
            .collect();
        let svg = support::chart::Bars {
            title: "Revocation: logout until every instance refuses (ms), by instances",
            series: &[("p50", "#4e79a7"), ("p99", "#f28e2b"), ("max", "#e15759")],
            groups: &groups,
            label: |ms| format!("{ms:.1} ms"),
        }
        .svg();
        let path = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../benches/propagation.svg"
        ));
        std::fs::write(&path, svg).unwrap();
        println!("wrote {}", path.display());
    }
}
