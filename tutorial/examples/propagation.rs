//! Revocation propagation latency between instances: two instances of the tutorial's app
//! (A and B, in this process, each with its own pool, listener and replica) served on
//! loopback ports and sharing a real backend. For each of N logouts on A, the time from A's
//! 204 to B's first 401 on `/secret` (B polled every 200 µs), reported as p50/p99/max.
//!
//! ```sh
//! TOWER_JWT_AUTH_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//! TOWER_JWT_AUTH_TEST_REDIS_URL=redis://127.0.0.1:6379 \
//!   cargo run --release -p tower-jwt-auth-tutorial --example propagation -- 20
//! ```
//!
//! A backend whose variable is unset is skipped.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::json;

async fn serve(vars: &[(&str, String)]) -> SocketAddr {
    let lookup = |name: &str| {
        vars.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.clone())
    };
    let config = tutorial::config_from(lookup).expect("configuration");
    let app = tutorial::app_from_config(&config).await.expect("app");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    addr
}

async fn post(
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
    body: Option<&serde_json::Value>,
) -> support::Answer {
    support::post_http(addr, path, token, body).await.unwrap()
}

async fn measure(name: &str, vars: Vec<(&str, String)>, rounds: usize) {
    let a = serve(&vars).await;
    let b = serve(&vars).await;
    let user = format!("propagation-{}", std::process::id());
    let credentials = json!({ "username": user, "password": "correct horse" });
    post(a, "/signup", None, Some(&credentials)).await;
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let login = post(a, "/login", None, Some(&credentials)).await;
        let access = login.body["access_token"].as_str().unwrap().to_owned();
        assert_eq!(post(b, "/secret", Some(&access), None).await.status, 200);
        let logout = post(a, "/logout", Some(&access), None).await;
        assert_eq!(logout.status, 204);
        let acknowledged = Instant::now();
        loop {
            let status = post(b, "/secret", Some(&access), None).await.status;
            if status == 401 {
                break;
            }
            assert_eq!(status, 200);
            assert!(
                acknowledged.elapsed() < Duration::from_secs(10),
                "never propagated"
            );
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        samples.push(acknowledged.elapsed());
    }
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{name}: {rounds} logouts, A's 204 to B's first 401: p50 {:.2?}, p99 {:.2?}, max {:.2?}",
        at(0.5),
        at(0.99),
        samples[samples.len() - 1]
    );
}

#[tokio::main]
async fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|arg| arg.parse().ok())
        .unwrap_or(20)
        .max(1);
    let common = |extra: Vec<(&'static str, String)>| {
        let mut vars = vec![
            ("APP_SECRET_STRING", support::APP_SECRET.to_owned()),
            ("BCRYPT_COST", "4".to_owned()),
            ("LOGIN_THROTTLE", "off".to_owned()),
        ];
        vars.extend(extra);
        vars
    };
    match std::env::var("TOWER_JWT_AUTH_TEST_POSTGRES_URL") {
        Ok(url) => measure("postgres", common(vec![("DATABASE_URL", url)]), rounds).await,
        Err(_) => eprintln!("skipping: TOWER_JWT_AUTH_TEST_POSTGRES_URL is not set"),
    }
    match std::env::var("TOWER_JWT_AUTH_TEST_REDIS_URL") {
        Ok(url) => {
            let dir = tempfile::tempdir().unwrap();
            let database = format!("sqlite://{}", dir.path().join("auth.db").display());
            let prefix = format!("propagation-{}:", std::process::id());
            measure(
                "redis",
                common(vec![
                    ("DATABASE_URL", database),
                    ("REDIS_URL", url),
                    ("REDIS_PREFIX", prefix),
                ]),
                rounds,
            )
            .await;
        }
        Err(_) => eprintln!("skipping: TOWER_JWT_AUTH_TEST_REDIS_URL is not set"),
    }
}
