//! The cookie mode in a real browser: headless Chromium loads a page of the example app's
//! own origin (the app in cookie mode, `AUTH_COOKIES=on`, `COOKIE_SECURE=off` over plain
//! HTTP), which signs up and logs in with `fetch(…, {credentials: "include"})`, calls the
//! protected routes with nothing but the cookie, refreshes, logs out and is then refused.
//! In between, a page of another origin (another port on 127.0.0.1: cross-origin, same
//! site, so `SameSite` lets the cookies through and only the CSRF check stands in the way)
//! posts forms to `/secret` and `/auth/logout`: the server must refuse both with 403 and
//! the session must go on unharmed.
//!
//! Chromium is Debian's `chromium` package (`.ci/run` installs it). Without it the test prints
//! a `skipping:` line, except in CI (`CI` set), where it fails.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{Html, Response};
use axum::routing::get;
use tokio::process::Command;
use tower_jwt_auth::store::MemoryStore;

const CHROMIUM: &str = "/usr/bin/chromium";

/// The flags of every run, one a line (shared with `tests/browser.rs`).
const FLAGS: &str = include_str!("../../tests/data/chromium-flags.txt");

/// The page's script waits on the network; virtual time only runs while it is idle.
const VIRTUAL_TIME_BUDGET_MS: u32 = 30_000;

/// A hung browser fails the test instead of hanging it.
const WALL_CLOCK_LIMIT: Duration = Duration::from_secs(180);

/// What the app answered: (method, path, `Sec-Fetch-Site`, status).
type Seen = Arc<Mutex<Vec<(String, String, String, u16)>>>;

async fn record(State(seen): State<Seen>, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let site = request
        .headers()
        .get("sec-fetch-site")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let response = next.run(request).await;
    seen.lock()
        .unwrap()
        .push((method, path, site, response.status().as_u16()));
    response
}

/// The app's page: every step's answer, one a line, in `<pre id="out">` once done.
fn page(attacker: &str) -> String {
    format!(
        r#"<!doctype html><title>cookie mode</title><pre id="out">running</pre>
<script>
const log = [];
const post = (path, body) => fetch(path, {{
  method: "POST",
  credentials: "include",
  headers: body ? {{ "content-type": "application/json" }} : {{}},
  body: body ? JSON.stringify(body) : undefined,
}});
// Loads `url` in an iframe, whose page posts a form at once; done at the second load.
const attack = (url) => new Promise((resolve) => {{
  const frame = document.createElement("iframe");
  let loads = 0;
  frame.onload = () => {{ if (++loads === 2) resolve(); }};
  setTimeout(resolve, 10000);
  frame.src = url;
  document.body.appendChild(frame);
}});
(async () => {{
  const creds = {{ username: "browser", password: "correct horse" }};
  log.push("signup " + (await post("/auth/signup", creds)).status);
  const login = await post("/auth/login", creds);
  log.push("login " + login.status + " " + JSON.stringify(await login.json()));
  log.push("script sees cookies: " + JSON.stringify(document.cookie));
  log.push("secret " + (await post("/secret")).status);
  log.push("admin " + (await fetch("/admin", {{ credentials: "include" }})).status);
  await attack("{attacker}/attack-secret");
  await attack("{attacker}/attack-logout");
  log.push("secret after the attacks " + (await post("/secret")).status);
  log.push("refresh " + (await post("/auth/refresh")).status);
  log.push("secret after refresh " + (await post("/secret")).status);
  log.push("logout " + (await post("/auth/logout")).status);
  log.push("secret after logout " + (await post("/secret")).status);
  log.push("refresh after logout " + (await post("/auth/refresh")).status);
}})().catch((error) => log.push("error " + error)).finally(() => {{
  document.getElementById("out").textContent = "\n" + log.join("\n") + "\ndone\n";
}});
</script>"#
    )
}

/// The other origin's page: a form that posts itself to `target` on load.
fn attack_page(target: &str) -> Html<String> {
    Html(format!(
        r#"<!doctype html><form method="POST" action="{target}" enctype="text/plain">
<input name="a" value="b"></form><script>document.forms[0].submit();</script>"#
    ))
}

async fn listener() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    (listener, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_page_uses_the_cookies_and_a_cross_site_form_is_refused() {
    if support::chromium().is_none() {
        return;
    }
    let (app_listener, app_base) = listener().await;
    let (attacker_listener, attacker_base) = listener().await;

    let config = tutorial::config_from(support::vars(&[
        ("APP_SECRET_STRING", support::APP_SECRET),
        ("BCRYPT_COST", "4"),
        ("AUTH_COOKIES", "on"),
        ("COOKIE_SECURE", "off"),
    ]))
    .unwrap();
    let seen: Seen = Arc::default();
    let page = page(&attacker_base);
    let app = tutorial::app(MemoryStore::new(), &config)
        .unwrap()
        .route("/cookie-mode.html", get(move || async move { Html(page) }))
        .layer(from_fn_with_state(seen.clone(), record));
    tokio::spawn(async move { axum::serve(app_listener, app).await });

    let secret_target = format!("{app_base}/secret");
    let logout_target = format!("{app_base}/auth/logout");
    let attacker = Router::new()
        .route(
            "/attack-secret",
            get(move || async move { attack_page(&secret_target) }),
        )
        .route(
            "/attack-logout",
            get(move || async move { attack_page(&logout_target) }),
        );
    tokio::spawn(async move { axum::serve(attacker_listener, attacker).await });

    let profile = tempfile::tempdir().unwrap();
    let mut command = Command::new(CHROMIUM);
    command
        .args(FLAGS.lines().filter(|flag| !flag.is_empty()))
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("--virtual-time-budget={VIRTUAL_TIME_BUDGET_MS}"))
        .arg(format!("{app_base}/cookie-mode.html"))
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
    let dom = String::from_utf8_lossy(&output.stdout);
    let seen = seen.lock().unwrap().clone();
    let lines: Vec<&str> = dom
        .split("<pre id=\"out\">")
        .nth(1)
        .and_then(|rest| rest.split("</pre>").next())
        .unwrap_or_default()
        .lines()
        .filter(|line| !line.is_empty())
        .collect();
    assert_eq!(
        lines,
        [
            "signup 201",
            r#"login 200 {"expires_in":1800,"token_type":"cookie"}"#,
            "script sees cookies: \"\"",
            "secret 200",
            "admin 403",
            "secret after the attacks 200",
            "refresh 200",
            "secret after refresh 200",
            "logout 204",
            "secret after logout 401",
            "refresh after logout 401",
            "done",
        ],
        "the page's steps; the server saw {seen:#?}"
    );
    // The forms of the other origin came with the cookies, and the CSRF check refused them.
    for path in ["/secret", "/auth/logout"] {
        assert!(
            seen.iter()
                .any(|(method, seen_path, site, status)| method == "POST"
                    && seen_path == path
                    && site == "same-site"
                    && *status == 403),
            "no refused cross-origin POST {path}: {seen:#?}"
        );
    }
    // And nothing the other origin sent with an unsafe method got through.
    assert!(
        !seen.iter().any(|(method, _, site, status)| method == "POST"
            && site == "same-site"
            && *status < 400),
        "{seen:#?}"
    );
}
