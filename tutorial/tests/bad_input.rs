//! Bad input to the auth router of the example app: every case gets a 4xx with a
//! `detail`, and nothing is stored. SQL-looking usernames are plain data: stored and
//! returned verbatim by every store.

use axum::Router;
use axum::body::Body;
use http::{Request, StatusCode};
use serde_json::json;
use support::{APP_SECRET, CountingStore};
use support::{call, post_json};
use tower_jwt_auth::store::UserStore;

fn config(database_url: Option<&str>) -> tutorial::Config {
    let mut vars = vec![("APP_SECRET_STRING", APP_SECRET), ("BCRYPT_COST", "4")];
    if let Some(url) = database_url {
        vars.push(("DATABASE_URL", url));
    }
    tutorial::config_from(support::vars(&vars)).unwrap()
}

fn app() -> (Router, CountingStore) {
    let store = CountingStore::default();
    (tutorial::app(store.clone(), &config(None)).unwrap(), store)
}

fn raw(uri: &str, content_type: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut request = Request::post(uri);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    request.body(body.into()).unwrap()
}

fn json_bytes(uri: &str, body: impl Into<Body>) -> Request<Body> {
    raw(uri, Some("application/json"), body)
}

/// Sends `request`, expects `status` with a non-empty `detail` (and `needle` in it),
/// and checks that the store saw no write.
async fn refused(
    app: &Router,
    store: &CountingStore,
    case: &str,
    request: Request<Body>,
    status: StatusCode,
    needle: &str,
) {
    let writes = store.writes();
    let answer = call(app, request).await;
    assert_eq!(answer.status, status, "{case}: {answer:?}");
    let detail = answer.body["detail"].as_str().unwrap_or_default();
    assert!(!detail.is_empty(), "{case}: no detail in {:?}", answer.body);
    assert!(
        detail.contains(needle),
        "{case}: {detail:?} lacks {needle:?}"
    );
    assert_eq!(store.writes(), writes, "{case} wrote to the store");
}

const ROUTES: [&str; 2] = ["/signup", "/login"];

#[tokio::test]
async fn malformed_json_is_400_and_stores_nothing() {
    let (app, store) = app();
    let cases: [&[u8]; 9] = [
        b"",
        b"{",
        b"{\"username\":\"alice\",}",
        b"{\"username\":\"alice\",\"password\":\"correct horse\"} trailing",
        b"{'username':'alice','password':'correct horse'}",
        b"nul",
        b"username=alice&password=correct+horse",
        b"{\"username\":\"al\xffice\",\"password\":\"correct horse\"}",
        b"\xef\xbb\xbf{\"username\":\"alice\",\"password\":\"correct horse\"}",
    ];
    for route in ROUTES {
        for body in cases {
            let case = format!(
                "{route} {}",
                String::from_utf8_lossy(&body[..body.len().min(40)])
            );
            refused(
                &app,
                &store,
                &case,
                json_bytes(route, body.to_vec()),
                StatusCode::BAD_REQUEST,
                "",
            )
            .await;
        }
    }
}

#[tokio::test]
async fn a_wrong_content_type_is_415_and_stores_nothing() {
    let (app, store) = app();
    let body = json!({ "username": "alice", "password": "correct horse" }).to_string();
    for route in ROUTES {
        for content_type in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=x"),
            Some("application/jsonx"),
            Some("json"),
            Some(""),
        ] {
            refused(
                &app,
                &store,
                &format!("{route} {content_type:?}"),
                raw(route, content_type, body.clone()),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "application/json",
            )
            .await;
        }
    }
    // Parameters and casing of the right type are fine.
    let answer = call(
        &app,
        raw("/signup", Some("Application/JSON; charset=utf-8"), body),
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED);
}

#[tokio::test]
async fn missing_extra_and_wrongly_typed_fields_are_422_naming_the_field() {
    let (app, store) = app();
    let cases = [
        (json!({}), "username"),
        (json!({ "username": "alice" }), "password"),
        (json!({ "password": "correct horse" }), "username"),
        (
            json!({ "username": "alice", "password": "correct horse", "admin": true }),
            "admin",
        ),
        (
            json!({ "username": "alice", "password": "correct horse", "password_hash": "$2b$04$x" }),
            "password_hash",
        ),
        (
            json!({ "username": 42, "password": "correct horse" }),
            "string",
        ),
        (
            json!({ "username": null, "password": "correct horse" }),
            "string",
        ),
        (
            json!({ "username": ["alice"], "password": "correct horse" }),
            "string",
        ),
        (
            json!({ "username": { "$ne": "" }, "password": "correct horse" }),
            "string",
        ),
        (
            json!({ "username": "alice", "password": 12_345_678 }),
            "string",
        ),
        (json!({ "username": "alice", "password": true }), "string"),
        (json!(["alice", "correct horse"]), ""),
        (json!("alice"), ""),
        (json!(null), ""),
    ];
    for route in ROUTES {
        for (body, needle) in &cases {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            refused(
                &app,
                &store,
                &format!("{route} {body}"),
                post_json(route, body),
                status,
                needle,
            )
            .await;
        }
    }
    // Deep nesting is refused at its first bracket, without recursing.
    let deep = format!("{{\"username\":{}", "[".repeat(10_000));
    refused(
        &app,
        &store,
        "deep nesting",
        json_bytes("/signup", deep),
        StatusCode::UNPROCESSABLE_ENTITY,
        "string",
    )
    .await;
    // The wrongly typed value is not echoed back.
    let answer = call(
        &app,
        post_json(
            "/signup",
            &json!({ "username": "alice", "password": 31_415_926 }),
        ),
    )
    .await;
    assert!(
        !answer.body.to_string().contains("31415926"),
        "{:?}",
        answer.body
    );
}

#[tokio::test]
async fn huge_bodies_are_413_and_stores_nothing() {
    let (app, store) = app();
    for route in ROUTES {
        for size in [16 * 1024 + 1, 1 << 20, 8 << 20] {
            let body =
                json!({ "username": "a".repeat(size), "password": "correct horse" }).to_string();
            refused(
                &app,
                &store,
                &format!("{route} {size} bytes"),
                json_bytes(route, body),
                StatusCode::PAYLOAD_TOO_LARGE,
                "too large",
            )
            .await;
        }
    }
    // A huge body without a length (chunked) is cut off the same way.
    let chunks = chunked_body(64, 1024);
    refused(
        &app,
        &store,
        "streamed",
        json_bytes("/signup", Body::from_stream(chunks)),
        StatusCode::PAYLOAD_TOO_LARGE,
        "too large",
    )
    .await;
}

/// A JSON body whose username is `count` chunks of `size` bytes, as a stream.
fn chunked_body(
    count: usize,
    size: usize,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> {
    let mut chunks = vec![Ok(bytes::Bytes::from_static(b"{\"username\":\""))];
    chunks.extend((0..count).map(|_| Ok(bytes::Bytes::from(vec![b'a'; size]))));
    chunks.push(Ok(bytes::Bytes::from_static(
        b"\",\"password\":\"correct horse\"}",
    )));
    futures_util::stream::iter(chunks)
}

#[tokio::test]
async fn bad_usernames_are_422_and_stores_nothing() {
    let (app, store) = app();
    let cases = [
        ("empty", String::new(), "1 to 64"),
        ("65 characters", "a".repeat(65), "1 to 64"),
        ("65 emoji", "🦀".repeat(65), "1 to 64"),
        ("10k characters", "a".repeat(10_000), "1 to 64"),
        ("newline", "alice\nadmin".to_owned(), "control"),
        ("carriage return", "alice\r".to_owned(), "control"),
        ("tab", "\talice".to_owned(), "control"),
        ("NUL", "alice\u{0}".to_owned(), "control"),
        ("escape", "\u{1b}[31malice".to_owned(), "control"),
        ("DEL", "alice\u{7f}".to_owned(), "control"),
        ("C1 control", "alice\u{85}".to_owned(), "control"),
    ];
    for (case, username, needle) in cases {
        let body = json!({ "username": username, "password": "correct horse" });
        refused(
            &app,
            &store,
            case,
            post_json("/signup", &body),
            StatusCode::UNPROCESSABLE_ENTITY,
            needle,
        )
        .await;
        assert!(
            store.inner.find_user(&username).await.unwrap().is_none(),
            "{case}"
        );
        // Login with it is an ordinary failure, never a 5xx.
        let answer = call(&app, post_json("/login", &body)).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{case}");
    }
    // 64 characters of four bytes each are fine: the limit counts characters.
    let answer = call(
        &app,
        post_json(
            "/signup",
            &json!({ "username": "🦀".repeat(64), "password": "correct horse" }),
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED);
}

#[tokio::test]
async fn bad_passwords_are_422_and_nul_bytes_are_never_a_cut_off() {
    let (app, store) = app();
    let cases = [
        ("7 bytes", "1234567".to_owned(), "at least 8"),
        ("73 bytes", "a".repeat(73), "at most 72"),
        ("25 three-byte characters", "€".repeat(25), "at most 72"),
    ];
    for (case, password, needle) in cases {
        let body = json!({ "username": "alice", "password": password });
        refused(
            &app,
            &store,
            case,
            post_json("/signup", &body),
            StatusCode::UNPROCESSABLE_ENTITY,
            needle,
        )
        .await;
    }
    assert!(store.inner.find_user("alice").await.unwrap().is_none());

    // A NUL inside a password is a byte like any other: bcrypt must not stop there.
    let creds = |password: &str| json!({ "username": "nul", "password": password });
    for (route, password, status) in [
        ("/signup", "prefix12\u{0}suffix", StatusCode::CREATED),
        ("/login", "prefix12", StatusCode::UNAUTHORIZED),
        ("/login", "prefix12\u{0}other", StatusCode::UNAUTHORIZED),
        ("/login", "prefix12\u{0}suffix", StatusCode::OK),
    ] {
        let answer = call(&app, post_json(route, &creds(password))).await;
        assert_eq!(answer.status, status, "{route} {password:?}");
    }
}

#[tokio::test]
async fn bad_refresh_and_logout_bodies_are_4xx_and_store_nothing() {
    let (app, store) = app();
    let cases = [
        (json_bytes("/refresh", "{"), StatusCode::BAD_REQUEST),
        (
            json_bytes("/refresh", "{}"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            post_json("/refresh", &json!({ "refresh_token": 1 })),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            post_json("/refresh", &json!({ "refresh_token": "x", "extra": 1 })),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            post_json("/refresh", &json!({ "refresh_token": "" })),
            StatusCode::UNAUTHORIZED,
        ),
        (
            post_json("/refresh", &json!({ "refresh_token": "a".repeat(15_000) })),
            StatusCode::UNAUTHORIZED,
        ),
        (
            raw("/refresh", Some("text/plain"), "x"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (json_bytes("/logout", "{"), StatusCode::BAD_REQUEST),
        (
            post_json("/logout", &json!({ "refresh_token": ["x"] })),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            post_json("/logout", &json!({ "refresh_token": "x.y.z" })),
            StatusCode::UNAUTHORIZED,
        ),
        (
            json_bytes("/logout", vec![b'['; 20_000]),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    for (n, (request, status)) in cases.into_iter().enumerate() {
        refused(&app, &store, &format!("case {n}"), request, status, "").await;
    }
}

const SQL_USERNAMES: [&str; 8] = [
    "alice'; DROP TABLE tja_users; --",
    "' OR '1'='1",
    "admin'--",
    "\" OR \"\"=\"",
    "%",
    "_",
    "1; SELECT pg_sleep(10)",
    "Robert'); DELETE FROM tja_refresh_families;--",
];

/// Signs up every SQL-looking username, checks it comes back verbatim, logs in with it,
/// and checks that neighbours (LIKE wildcards, quotes dropped) do not match.
async fn sql_looking_usernames_are_plain_data<S: UserStore>(app: &Router, store: &S, suffix: &str) {
    for base in SQL_USERNAMES {
        let username = format!("{base}{suffix}");
        let creds = json!({ "username": username, "password": "correct horse" });
        let answer = call(app, post_json("/signup", &creds)).await;
        assert_eq!(
            answer.pair(),
            (StatusCode::CREATED, json!({ "username": username })),
            "{username}"
        );
        let stored = store.find_user(&username).await.unwrap().unwrap();
        assert_eq!(stored.username, username);
        assert_eq!(
            call(app, post_json("/login", &creds)).await.status,
            StatusCode::OK,
            "{username}"
        );
        let near = username.replace(['\'', '"', '%', '_'], "");
        if near != username {
            let creds = json!({ "username": near, "password": "correct horse" });
            assert_eq!(
                call(app, post_json("/login", &creds)).await.status,
                StatusCode::UNAUTHORIZED,
                "{near}"
            );
        }
    }
    // Wildcards match only themselves.
    assert!(
        store
            .find_user(&format!("x{suffix}"))
            .await
            .unwrap()
            .is_none()
    );
    // The tables are intact: an ordinary account still works end to end.
    let creds = json!({ "username": format!("plain{suffix}"), "password": "correct horse" });
    assert_eq!(
        call(app, post_json("/signup", &creds)).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        call(app, post_json("/login", &creds)).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn sql_looking_usernames_are_stored_and_returned_verbatim_in_memory() {
    let (app, store) = app();
    sql_looking_usernames_are_plain_data(&app, &store, "").await;
}

#[tokio::test]
async fn sql_looking_usernames_are_stored_and_returned_verbatim_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("auth.db").display());
    let store = tower_jwt_auth::store::SqliteStore::connect(&url)
        .await
        .unwrap();
    let app = tutorial::app(store.clone(), &config(Some(&url))).unwrap();
    sql_looking_usernames_are_plain_data(&app, &store, "").await;
}

#[tokio::test]
async fn sql_looking_usernames_are_stored_and_returned_verbatim_in_postgres() {
    let Some(url) = support::postgres_url() else {
        return;
    };
    let store = tower_jwt_auth::store::PostgresStore::connect(&url)
        .await
        .unwrap();
    let app = tutorial::app(store.clone(), &config(Some(&url))).unwrap();
    let suffix = format!("-{}", &tower_jwt_auth::issuer::random_id()[..8]);
    sql_looking_usernames_are_plain_data(&app, &store, &suffix).await;
}
