//! `/docs` in a real browser: headless Chromium loads the example server's Swagger UI, served
//! from the binary, and the rendered page lists every endpoint.
//!
//! Chromium is Debian's `chromium` package (`.ci/run` installs it). Without it the test prints
//! a `skipping:` line, except in CI (`CI` set), where it fails.
//!
//! `TOWER_JWT_AUTH_SCREENSHOT=docs/swagger.png cargo test --all-features --test browser`
//! also saves a screenshot of the page (the one in tutorial/README.md).

use std::process::Output;
use std::time::Duration;

use http_body_util::BodyExt;
use tokio::process::Command;
use tower::ServiceExt;
use tower_jwt_auth::store::MemoryStore;

const CHROMIUM: &str = "/usr/bin/chromium";

/// The flags of every run, one a line (shared with `tests/docs_click_through.cjs`): headless,
/// and nothing that talks to the network by itself.
const FLAGS: &str = include_str!("../../tests/data/chromium-flags.txt");

/// Swagger UI renders after fetching `/openapi.json`; virtual time lets it settle.
const VIRTUAL_TIME_BUDGET_MS: u32 = 20_000;

/// A hung browser fails the test instead of hanging it.
const WALL_CLOCK_LIMIT: Duration = Duration::from_secs(180);

/// The example app, and the `(method, path)` of every operation its `/openapi.json` lists.
async fn example_app() -> (axum::Router, Vec<(String, String)>) {
    let config = tutorial::config_from(|name| match name {
        "APP_SECRET_STRING" => Some("an-app-secret-string-that-is-32-bytes-or-more".to_owned()),
        "BCRYPT_COST" => Some("4".to_owned()),
        _ => None,
    })
    .unwrap();
    let app = tutorial::app(MemoryStore::new(), &config).unwrap();
    let request = http::Request::get("/openapi.json")
        .body(axum::body::Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let spec: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let mut operations = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            operations.push((method.clone(), path.clone()));
        }
    }
    (app, operations)
}

/// Serves `app` on 127.0.0.1, port 0, and returns its base URL.
async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// Runs Chromium with [`FLAGS`], a new empty profile, and `extra`, on `url`.
async fn chromium(extra: &[String], url: &str) -> Output {
    let profile = tempfile::tempdir().unwrap();
    let mut command = Command::new(CHROMIUM);
    command
        .args(FLAGS.lines().filter(|flag| !flag.is_empty()))
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .kill_on_drop(true);
    let output = tokio::time::timeout(WALL_CLOCK_LIMIT, command.output())
        .await
        .unwrap_or_else(|_| panic!("chromium did not finish within {WALL_CLOCK_LIMIT:?}"))
        .unwrap();
    assert!(
        output.status.success(),
        "chromium failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_page_renders_every_endpoint_in_headless_chromium() {
    if support::chromium().is_none() {
        return;
    }
    let (app, operations) = example_app().await;
    assert!(operations.len() >= 7, "{operations:?}");
    let base = serve(app).await;
    let url = format!("{base}/docs/");
    let budget = format!("--virtual-time-budget={VIRTUAL_TIME_BUDGET_MS}");
    let output = chromium(&["--dump-dom".to_owned(), budget.clone()], &url).await;
    let dom = String::from_utf8_lossy(&output.stdout);

    assert!(
        dom.contains("tower-jwt-auth: the tutorial's app"),
        "the document's title is not on the page:\n{dom}"
    );
    for (method, path) in &operations {
        // Swagger UI renders each operation as `opblock-<method>` holding `data-path="<path>"`.
        let block = dom
            .split("class=\"opblock opblock-")
            .skip(1)
            .find(|block| block.contains(&format!("data-path=\"{path}\"")))
            .unwrap_or_else(|| panic!("{path} is not on the page:\n{dom}"));
        assert!(
            block.starts_with(method.as_str()),
            "{path} is not shown as {method}"
        );
    }
    assert!(dom.contains("btn authorize"), "no Authorize button:\n{dom}");

    if let Some(path) = std::env::var_os("TOWER_JWT_AUTH_SCREENSHOT") {
        let path = std::path::absolute(path).unwrap();
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder).unwrap();
        }
        let screenshot = format!("--screenshot={}", path.display());
        let extra = [
            screenshot,
            budget,
            "--window-size=1280,1100".to_owned(),
            "--hide-scrollbars".to_owned(),
        ];
        chromium(&extra, &url).await;
        assert!(path.exists(), "no screenshot at {}", path.display());
    }
}
