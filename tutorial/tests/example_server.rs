//! The tutorial's app (the `tutorial` crate): configuration, its routes, and a restart
//! that keeps users and tokens.

use support::{bearer_request, post_json};

use std::collections::HashMap;

use axum::body::Body;
use http::{Request, StatusCode};
use serde_json::json;

use support::APP_SECRET as SECRET;

fn config(vars: &[(&str, &str)]) -> Result<tutorial::Config, String> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    tutorial::config_from(|name| vars.get(name).cloned())
}

#[test]
fn a_short_secret_refuses_to_start_with_advice() {
    let error = config(&[("APP_SECRET_STRING", "too-short")]).unwrap_err();
    assert!(
        error.contains("at least 32") && error.contains("openssl rand"),
        "{error}"
    );
}

#[test]
fn defaults_are_the_tutorials() {
    let config = config(&[]).unwrap();
    assert_eq!(config.addr.to_string(), "127.0.0.1:8000");
    assert_eq!(config.database_url, "sqlite://auth.db");
    assert!(config.secret.len() >= 32, "a random secret when unset");
    assert_eq!(config.access_ttl.as_secs(), 1800);
    assert_eq!(config.refresh_ttl.as_secs(), 36000);
    assert_eq!(config.bcrypt_cost, 12);
    assert!(
        config.login_throttle,
        "logins are throttled unless turned off"
    );
    assert!(!config_of(&[("LOGIN_THROTTLE", "off")]).login_throttle);
    assert!(config_from_bad_throttle().is_err());
    assert!(!format!("{config:?}").contains(&String::from_utf8_lossy(&config.secret).to_string()));
    let custom = config_with_port();
    assert_eq!(custom.addr.to_string(), "0.0.0.0:9000");
    assert!(config_from_bad_cost().is_err());
}

fn config_from_bad_throttle() -> Result<tutorial::Config, String> {
    config(&[("LOGIN_THROTTLE", "maybe")])
}

fn config_of(vars: &[(&str, &str)]) -> tutorial::Config {
    config(vars).unwrap()
}

fn config_with_port() -> tutorial::Config {
    config(&[
        ("HOST", "0.0.0.0"),
        ("PORT", "9000"),
        ("APP_SECRET_STRING", SECRET),
    ])
    .unwrap()
}

fn config_from_bad_cost() -> Result<tutorial::Config, String> {
    config(&[("BCRYPT_COST", "40")])
}

#[tokio::test]
async fn the_tutorial_walkthrough_and_a_restart_keep_users_and_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("auth.db").display());
    let config = config(&[
        ("APP_SECRET_STRING", SECRET),
        ("DATABASE_URL", &url),
        ("BCRYPT_COST", "4"),
    ])
    .unwrap();
    let app = tutorial::app_from_config(&config).await.unwrap();

    assert_eq!(
        support::call(
            &app,
            Request::get("/notsecret").body(Body::empty()).unwrap()
        )
        .await
        .pair(),
        (StatusCode::OK, json!("Not secret data"))
    );
    let (status, body) = support::call(&app, Request::post("/secret").body(Body::empty()).unwrap())
        .await
        .pair();
    assert_eq!(
        (status, body),
        (
            StatusCode::UNAUTHORIZED,
            json!({ "detail": "Not authenticated" })
        )
    );

    let creds = json!({ "username": "alice", "password": "correct horse" });
    assert_eq!(
        support::call(&app, post_json("/signup", &creds))
            .await
            .pair(),
        (StatusCode::CREATED, json!({ "username": "alice" }))
    );
    let (status, tokens) = support::call(&app, post_json("/login", &creds))
        .await
        .pair();
    assert_eq!(status, StatusCode::OK);
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let top_secret = json!("Top Secret data only authorized users can access this info");
    assert_eq!(
        support::call(&app, bearer_request("POST", "/secret", &access))
            .await
            .pair(),
        (StatusCode::OK, top_secret.clone())
    );
    assert_eq!(
        support::call(&app, bearer_request("POST", "/secret", &refresh))
            .await
            .pair()
            .0,
        StatusCode::UNAUTHORIZED
    );
    drop(app);

    // Restart with the same secret and database.
    let app = tutorial::app_from_config(&config).await.unwrap();
    assert_eq!(
        support::call(&app, bearer_request("POST", "/secret", &access))
            .await
            .pair(),
        (StatusCode::OK, top_secret)
    );
    let (status, rotated) = support::call(&app, bearer_request("GET", "/refresh_token", &refresh))
        .await
        .pair();
    assert_eq!(status, StatusCode::OK, "{rotated}");
    assert_eq!(
        support::call(&app, post_json("/login", &creds))
            .await
            .pair()
            .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn postgres_database_url_selects_postgres() {
    let Ok(url) = std::env::var("TOWER_JWT_AUTH_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "TOWER_JWT_AUTH_TEST_POSTGRES_URL must be set in CI"
        );
        // Straight to stderr: the test harness hides what `println!` prints from a
        // passing test, and a skip must be seen.
        let _ = std::io::Write::write_fmt(
            &mut std::io::stderr(),
            format_args!("skipping: TOWER_JWT_AUTH_TEST_POSTGRES_URL is not set\n"),
        );
        return;
    };
    let config = config(&[
        ("APP_SECRET_STRING", SECRET),
        ("DATABASE_URL", &url),
        ("BCRYPT_COST", "4"),
    ])
    .unwrap();
    let app = tutorial::app_from_config(&config).await.unwrap();
    let username = format!("example-{}", tower_jwt_auth::issuer::random_id());
    let creds = json!({ "username": username, "password": "correct horse" });
    assert_eq!(
        support::call(&app, post_json("/signup", &creds))
            .await
            .pair()
            .0,
        StatusCode::CREATED
    );
    assert_eq!(
        support::call(&app, post_json("/login", &creds))
            .await
            .pair()
            .0,
        StatusCode::OK
    );
}

/// The app's background tasks (the purge of expired refresh families) live as long as the
/// app, whichever of its routes holds their guards: a clone keeps them, and dropping the
/// last clone stops them, so building an app leaves no task behind.
#[tokio::test(flavor = "current_thread")]
async fn dropping_the_last_clone_of_the_app_stops_its_background_tasks() {
    let metrics = tokio::runtime::Handle::current().metrics();
    let before = metrics.num_alive_tasks();
    let app = tutorial::app(
        tower_jwt_auth::store::MemoryStore::new(),
        &config_of(&[("APP_SECRET_STRING", SECRET)]),
    )
    .unwrap();
    let running = metrics.num_alive_tasks();
    assert!(running > before, "the app started no task");
    let clone = app.clone();
    drop(app);
    tokio::task::yield_now().await;
    assert_eq!(
        metrics.num_alive_tasks(),
        running,
        "a clone keeps the tasks"
    );
    drop(clone);
    // An aborted task ends when the runtime next polls it.
    for _ in 0..100 {
        if metrics.num_alive_tasks() == before {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(metrics.num_alive_tasks(), before, "a task outlived the app");
}
