//! The example app in cookie mode (`AUTH_COOKIES=on`), driven in process with a cookie jar
//! kept by hand as a browser keeps one (paths, `Max-Age=0` removal), and its CSRF refusals:
//! every refusal is a 4xx with a JSON `detail` and changes nothing in the store.

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Body;
use http::{Request, StatusCode};
use serde_json::{Value, json};
use support::{Answer, CountingStore, call, creds, vars};

const HOST: &str = "app.test";
const ORIGIN: &str = "http://app.test";

/// A browser's cookie jar for one host: name → (path, value).
#[derive(Debug, Default, Clone)]
struct Jar(BTreeMap<String, (String, String)>);

impl Jar {
    /// Takes the `Set-Cookie` headers of an answer, as a browser does.
    fn take(&mut self, answer: &Answer) {
        for value in answer.headers.get_all("set-cookie") {
            let cookie = cookie::Cookie::parse(value.to_str().unwrap().to_owned()).unwrap();
            let path = cookie.path().unwrap_or("/").to_owned();
            if cookie.max_age() == Some(cookie::time::Duration::ZERO) {
                self.0.remove(cookie.name());
            } else {
                self.0
                    .insert(cookie.name().to_owned(), (path, cookie.value().to_owned()));
            }
        }
    }

    /// The `Cookie` header for `path` (RFC 6265 §5.1.4 path-match).
    fn header_for(&self, path: &str) -> Option<String> {
        let pairs: Vec<String> = self
            .0
            .iter()
            .filter(|(_, (cookie_path, _))| {
                path == cookie_path
                    || (path.starts_with(cookie_path.as_str())
                        && (cookie_path.ends_with('/')
                            || path[cookie_path.len()..].starts_with('/')))
            })
            .map(|(name, (_, value))| format!("{name}={value}"))
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }

    fn value(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|(_, value)| value.as_str())
    }
}

/// A request as the app's own page sends it: `Host`, the jar's cookies, and the extra
/// headers (for a same-origin `fetch`: `Sec-Fetch-Site: same-origin`).
fn request(
    method: &str,
    path: &str,
    jar: &Jar,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Request<Body> {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("host", HOST);
    if let Some(cookies) = jar.header_for(path) {
        builder = builder.header("cookie", cookies);
    }
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    match body {
        Some(body) => builder
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
        None => builder.body(Body::empty()).unwrap(),
    }
}

const SAME_ORIGIN: &[(&str, &str)] = &[("sec-fetch-site", "same-origin")];

fn cookie_app(store: CountingStore, extra: &[(&str, &str)]) -> Router {
    let mut pairs = vec![
        ("APP_SECRET_STRING", support::APP_SECRET),
        ("BCRYPT_COST", "4"),
        ("AUTH_COOKIES", "on"),
        ("COOKIE_SECURE", "off"),
        ("ADMIN_USERS", "root"),
    ];
    pairs.extend_from_slice(extra);
    let config = tutorial::config_from(vars(&pairs)).unwrap();
    tutorial::app(store, &config).unwrap()
}

/// Signs `username` up and logs in from the app's page; the jar then holds both cookies.
async fn logged_in(app: &Router, username: &str) -> (Jar, Answer) {
    let mut jar = Jar::default();
    let signup = call(
        app,
        request(
            "POST",
            "/auth/signup",
            &jar,
            SAME_ORIGIN,
            Some(&creds(username, "correct horse")),
        ),
    )
    .await;
    assert_eq!(signup.status, StatusCode::CREATED, "{signup:?}");
    let login = call(
        app,
        request(
            "POST",
            "/auth/login",
            &jar,
            SAME_ORIGIN,
            Some(&creds(username, "correct horse")),
        ),
    )
    .await;
    assert_eq!(login.status, StatusCode::OK, "{login:?}");
    jar.take(&login);
    (jar, login)
}

fn assert_cross_site(answer: &Answer) {
    assert_eq!(
        (answer.status, &answer.body),
        (
            StatusCode::FORBIDDEN,
            &json!({ "detail": "Cross-site request refused" })
        ),
        "{answer:?}"
    );
    assert!(answer.headers.get("set-cookie").is_none(), "{answer:?}");
}

#[tokio::test]
async fn login_sets_http_only_cookies_scoped_to_where_each_token_is_needed() {
    let app = cookie_app(CountingStore::default(), &[("COOKIE_SECURE", "on")]);
    let (jar, login) = logged_in(&app, "alice").await;
    // The tokens are in the cookies only: no script on the page can read them.
    assert_eq!(
        login.body,
        json!({ "token_type": "cookie", "expires_in": 1800 })
    );
    assert_eq!(login.header("cache-control"), Some("no-store"));
    let set: Vec<&str> = login
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|value| value.to_str().unwrap())
        .collect();
    assert_eq!(set.len(), 2, "{set:?}");
    let access = cookie::Cookie::parse(set[0]).unwrap();
    let refresh = cookie::Cookie::parse(set[1]).unwrap();
    assert_eq!(access.name(), "access_token");
    assert_eq!(access.path(), Some("/"));
    assert_eq!(
        access.max_age(),
        Some(cookie::time::Duration::seconds(1800))
    );
    assert_eq!(refresh.name(), "refresh_token");
    assert_eq!(refresh.path(), Some("/auth"));
    assert_eq!(
        refresh.max_age(),
        Some(cookie::time::Duration::seconds(36_000))
    );
    for cookie in [&access, &refresh] {
        assert_eq!(cookie.http_only(), Some(true), "{cookie}");
        assert_eq!(cookie.secure(), Some(true), "{cookie}");
        assert_eq!(
            cookie.same_site(),
            Some(cookie::SameSite::Strict),
            "{cookie}"
        );
    }
    // The refresh cookie goes to the auth routes only.
    assert!(
        jar.header_for("/secret")
            .is_some_and(|h| !h.contains("refresh_token"))
    );
    assert!(
        jar.header_for("/auth/refresh")
            .is_some_and(|h| h.contains("refresh_token"))
    );

    // COOKIE_SECURE=off (plain-HTTP development) drops `Secure`, nothing else.
    let plain = cookie_app(CountingStore::default(), &[]);
    let (_, login) = logged_in(&plain, "alice").await;
    for value in login.headers.get_all("set-cookie") {
        let cookie = cookie::Cookie::parse(value.to_str().unwrap()).unwrap();
        assert_eq!(cookie.secure(), None, "{cookie}");
        assert_eq!(cookie.http_only(), Some(true), "{cookie}");
    }
}

#[tokio::test]
async fn the_cookie_alone_authenticates_refresh_rotates_it_and_logout_clears_it() {
    let store = CountingStore::default();
    let app = cookie_app(store.clone(), &[]);
    let (mut jar, _) = logged_in(&app, "alice").await;

    let secret = call(&app, request("POST", "/secret", &jar, SAME_ORIGIN, None)).await;
    assert_eq!(secret.status, StatusCode::OK, "{secret:?}");
    // Origin instead of Fetch Metadata (an older browser): its own origin passes.
    let secret = call(
        &app,
        request("POST", "/secret", &jar, &[("origin", ORIGIN)], None),
    )
    .await;
    assert_eq!(secret.status, StatusCode::OK, "{secret:?}");

    let before = jar.clone();
    let refresh = call(
        &app,
        request("POST", "/auth/refresh", &jar, SAME_ORIGIN, None),
    )
    .await;
    assert_eq!(refresh.status, StatusCode::OK, "{refresh:?}");
    assert_eq!(refresh.body["token_type"], "cookie");
    jar.take(&refresh);
    assert_ne!(jar.value("refresh_token"), before.value("refresh_token"));
    assert_ne!(jar.value("access_token"), before.value("access_token"));
    let secret = call(&app, request("POST", "/secret", &jar, SAME_ORIGIN, None)).await;
    assert_eq!(secret.status, StatusCode::OK, "{secret:?}");

    // The rotated-away refresh cookie is refused (and revokes the family, RFC 9700).
    let reused = call(
        &app,
        request("POST", "/auth/refresh", &before, SAME_ORIGIN, None),
    )
    .await;
    assert_eq!(reused.status, StatusCode::UNAUTHORIZED, "{reused:?}");

    let (mut jar, _) = {
        let mut again = Jar::default();
        let login = call(
            &app,
            request(
                "POST",
                "/auth/login",
                &again,
                SAME_ORIGIN,
                Some(&creds("alice", "correct horse")),
            ),
        )
        .await;
        again.take(&login);
        (again, login)
    };
    let kept = jar.clone();
    let logout = call(
        &app,
        request("POST", "/auth/logout", &jar, SAME_ORIGIN, None),
    )
    .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT, "{logout:?}");
    let cleared: Vec<cookie::Cookie<'_>> = logout
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|value| cookie::Cookie::parse(value.to_str().unwrap()).unwrap())
        .collect();
    assert_eq!(cleared.len(), 2);
    for cookie in &cleared {
        assert_eq!(cookie.value(), "");
        assert_eq!(
            cookie.max_age(),
            Some(cookie::time::Duration::ZERO),
            "{cookie}"
        );
    }
    assert_eq!(cleared[1].path(), Some("/auth"), "cleared where it was set");
    jar.take(&logout);
    assert!(jar.0.is_empty(), "{jar:?}");

    // Without cookies: 401 with the bare challenge.
    let after = call(&app, request("POST", "/secret", &jar, SAME_ORIGIN, None)).await;
    after.assert_not_authenticated();
    // A copy of the old cookies: the access token was revoked, the family too.
    let stolen = call(&app, request("POST", "/secret", &kept, SAME_ORIGIN, None)).await;
    stolen.assert_invalid_token();
    let stolen = call(
        &app,
        request("POST", "/auth/refresh", &kept, SAME_ORIGIN, None),
    )
    .await;
    assert_eq!(stolen.status, StatusCode::UNAUTHORIZED, "{stolen:?}");
}

#[tokio::test]
async fn an_empty_cookie_is_no_credentials_not_a_malformed_request() {
    let app = cookie_app(CountingStore::default(), &[]);
    for cookies in [
        "access_token=",
        "theme=dark; access_token=",
        "access_token=; refresh_token=",
    ] {
        let secret = call(
            &app,
            Request::post("/secret")
                .header("host", HOST)
                .header("sec-fetch-site", "same-origin")
                .header("cookie", cookies)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        secret.assert_not_authenticated();
        let refresh = call(
            &app,
            Request::post("/auth/refresh")
                .header("host", HOST)
                .header("sec-fetch-site", "same-origin")
                .header("cookie", cookies)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(
            (refresh.status, refresh.challenge()),
            (StatusCode::UNAUTHORIZED, Some("Bearer")),
            "{cookies}: {refresh:?}"
        );
    }
}

#[tokio::test]
async fn cross_site_and_malformed_cookie_requests_are_refused_and_change_nothing() {
    let store = CountingStore::default();
    let app = cookie_app(store.clone(), &[]);
    let (jar, _) = logged_in(&app, "alice").await;
    let writes = store.writes();
    let refresh_cookie = format!("refresh_token={}", jar.value("refresh_token").unwrap());
    let access_cookie = format!("access_token={}", jar.value("access_token").unwrap());

    let cross_site: &[&[(&str, &str)]] = &[
        &[],
        &[("sec-fetch-site", "cross-site")],
        &[("sec-fetch-site", "same-site")],
        &[("sec-fetch-site", "none")],
        &[("origin", "https://evil.example")],
        &[("origin", "null")],
        &[("origin", "http://app.test.evil.example")],
        &[("sec-fetch-site", "cross-site"), ("origin", ORIGIN)],
        &[
            ("sec-fetch-site", "same-origin"),
            ("sec-fetch-site", "same-origin"),
        ],
    ];
    for headers in cross_site {
        for path in ["/auth/refresh", "/auth/logout", "/secret"] {
            let answer = call(&app, request("POST", path, &jar, headers, None)).await;
            assert_cross_site(&answer);
            assert!(
                answer.challenge().is_none(),
                "{path} {headers:?}: {answer:?}"
            );
        }
    }
    // A login that the browser says another site sent (login CSRF).
    let login = call(
        &app,
        request(
            "POST",
            "/auth/login",
            &Jar::default(),
            &[("origin", "https://evil.example")],
            Some(&creds("alice", "correct horse")),
        ),
    )
    .await;
    assert_cross_site(&login);

    // The same cookie twice (one planted by a sibling subdomain), the token sent two
    // ways, or a cookie value that is no token: 4xx with a detail.
    let malformed: Vec<(&str, String, Option<Value>, StatusCode)> = vec![
        (
            "/auth/refresh",
            format!("{refresh_cookie}; refresh_token=x.y.z"),
            None,
            StatusCode::BAD_REQUEST,
        ),
        (
            "/auth/logout",
            format!("{access_cookie}; {access_cookie}"),
            None,
            StatusCode::BAD_REQUEST,
        ),
        (
            "/auth/refresh",
            refresh_cookie.clone(),
            Some(json!({ "refresh_token": "x" })),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/auth/refresh",
            "refresh_token=\"quoted\"".to_owned(),
            None,
            StatusCode::UNAUTHORIZED,
        ),
        (
            "/auth/refresh",
            "refresh_token=a b".to_owned(),
            None,
            StatusCode::UNAUTHORIZED,
        ),
        (
            "/auth/logout",
            "refresh_token=%00; access_token=..".to_owned(),
            None,
            StatusCode::UNAUTHORIZED,
        ),
        (
            "/auth/refresh",
            format!("refresh_token={}", "A".repeat(20_000)),
            None,
            StatusCode::UNAUTHORIZED,
        ),
    ];
    for (path, cookies, body, status) in malformed {
        let mut builder = Request::post(path)
            .header("host", HOST)
            .header("sec-fetch-site", "same-origin")
            .header("cookie", &cookies);
        let body = match body {
            Some(body) => {
                builder = builder.header("content-type", "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        let answer = call(&app, builder.body(body).unwrap()).await;
        assert_eq!(answer.status, status, "{path} {cookies:.60}: {answer:?}");
        assert!(answer.body["detail"].is_string(), "{answer:?}");
        assert!(answer.headers.get("set-cookie").is_none());
    }
    // On the layer: a duplicate access cookie is malformed (400), a value that is no token
    // is refused.
    let twice = call(
        &app,
        Request::post("/secret")
            .header("host", HOST)
            .header("sec-fetch-site", "same-origin")
            .header("cookie", format!("{access_cookie}; {access_cookie}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    twice.assert_invalid_request();

    assert_eq!(
        store.writes(),
        writes,
        "a refused request wrote to the store"
    );
    // Nothing was revoked or rotated: the session still works.
    let secret = call(&app, request("POST", "/secret", &jar, SAME_ORIGIN, None)).await;
    assert_eq!(secret.status, StatusCode::OK, "{secret:?}");
    let refresh = call(
        &app,
        request("POST", "/auth/refresh", &jar, SAME_ORIGIN, None),
    )
    .await;
    assert_eq!(refresh.status, StatusCode::OK, "{refresh:?}");
}

#[tokio::test]
async fn safe_methods_need_no_csrf_check_and_the_admin_route_reads_the_cookie() {
    let app = cookie_app(CountingStore::default(), &[]);
    let (root, _) = logged_in(&app, "root").await;
    let (alice, _) = logged_in(&app, "alice").await;
    // A cross-site GET (a link followed) is no CSRF: it is answered as usual.
    let cross = &[("sec-fetch-site", "cross-site")][..];
    let admin = call(&app, request("GET", "/admin", &root, cross, None)).await;
    assert_eq!(
        admin.pair(),
        (
            StatusCode::OK,
            json!("Admin data only administrators can access")
        )
    );
    let admin = call(&app, request("GET", "/admin", &alice, cross, None)).await;
    admin.assert_insufficient_scope("Bearer error=\"insufficient_scope\", scope=\"admin\"");
}
