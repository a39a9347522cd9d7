//! The OpenAPI document: what the tutorial app serves at `/openapi.json`, the router's
//! reusable fragment (`Auth::openapi`), and the server's real answers measured against them.

use std::collections::BTreeSet;

use axum::Router;
use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use support::{Answer, bearer_request, call, post_json};
use tower::ServiceExt;
use tower_jwt_auth::password::PasswordHasher;
use tower_jwt_auth::store::MemoryStore;
use tower_jwt_auth::{Algorithm, Auth, SigningKey, TokenIssuer};
use utoipa::OpenApi;

use support::APP_SECRET as SECRET;

/// Every route of the example app, as `(method, path)`.
const ROUTES: [(&str, &str); 9] = [
    ("post", "/signup"),
    ("post", "/login"),
    ("get", "/refresh_token"),
    ("post", "/refresh"),
    ("post", "/logout"),
    ("post", "/secret"),
    ("get", "/admin"),
    ("get", "/admin/cache"),
    ("get", "/notsecret"),
];

fn example_app() -> Router {
    let config = tutorial::config_from(|name| match name {
        "APP_SECRET_STRING" => Some(SECRET.to_owned()),
        "BCRYPT_COST" => Some("4".to_owned()),
        _ => None,
    })
    .unwrap();
    tutorial::app(MemoryStore::new(), &config).unwrap()
}

async fn served_spec(app: &Router) -> Value {
    let answer = call(
        app,
        Request::get("/openapi.json").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    answer.body
}

fn operations(spec: &Value) -> BTreeSet<(String, String)> {
    spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect()
}

fn operation<'a>(spec: &'a Value, method: &str, path: &str) -> &'a Value {
    let operation = &spec["paths"][path][method];
    assert!(operation.is_object(), "{method} {path} is not documented");
    operation
}

fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("unexpected $ref {reference}"));
            let found = &spec["components"]["schemas"][name];
            assert!(found.is_object(), "{reference} is not in the components");
            found
        }
        None => schema,
    }
}

/// A small JSON Schema check covering what the document uses: `$ref`, `type`, `required`,
/// `properties`, `additionalProperties: false` and `minimum`.
fn conforms(spec: &Value, schema: &Value, value: &Value) -> Result<(), String> {
    let schema = resolve(spec, schema);
    let fits = match schema["type"].as_str() {
        Some("object") => value.is_object(),
        Some("string") => value.is_string(),
        Some("integer") => value.is_u64() || value.is_i64(),
        None => true,
        Some(other) => return Err(format!("unhandled schema type {other}")),
    };
    if !fits {
        return Err(format!("{value} is not a {}", schema["type"]));
    }
    if let (Some(minimum), Some(number)) = (schema["minimum"].as_i64(), value.as_i64())
        && number < minimum
    {
        return Err(format!("{value} is below {minimum}"));
    }
    let Some(object) = value.as_object() else {
        return Ok(());
    };
    for name in schema["required"].as_array().into_iter().flatten() {
        let name = name.as_str().unwrap();
        if !object.contains_key(name) {
            return Err(format!("{value} lacks the required {name}"));
        }
    }
    for (name, field) in object {
        match schema["properties"].get(name) {
            Some(property) => conforms(spec, property, field)?,
            None if schema["additionalProperties"] == json!(false) => {
                return Err(format!("{value} has the undocumented {name}"));
            }
            None => {}
        }
    }
    Ok(())
}

/// Asserts that `answer` to `method path` has a documented status, content type and body.
fn assert_documented(spec: &Value, method: &str, path: &str, answer: &Answer) {
    let status = answer.status.as_str();
    let response = &operation(spec, method, path)["responses"][status];
    assert!(
        response.is_object(),
        "{method} {path} answered the undocumented {status}: {}",
        answer.body
    );
    let content_type = answer
        .headers
        .get("content-type")
        .map(|value| value.to_str().unwrap().to_owned());
    match response["content"].as_object() {
        None => assert!(
            content_type.is_none(),
            "{method} {path} {status}: a body where none is documented"
        ),
        Some(content) => {
            let content_type =
                content_type.unwrap_or_else(|| panic!("{method} {path} {status}: no content type"));
            let media = content.get(&content_type).unwrap_or_else(|| {
                panic!("{method} {path} {status}: undocumented content type {content_type}")
            });
            if let Err(error) = conforms(spec, &media["schema"], &answer.body) {
                panic!("{method} {path} {status}: {error}");
            }
        }
    }
}

#[tokio::test]
async fn the_served_document_is_openapi_3_1_and_lists_every_route_with_schemas() {
    let app = example_app();
    let spec = served_spec(&app).await;
    assert!(
        spec["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        spec["openapi"]
    );
    let expected: BTreeSet<_> = ROUTES
        .iter()
        .map(|(method, path)| ((*method).to_owned(), (*path).to_owned()))
        .collect();
    assert_eq!(operations(&spec), expected);

    for (name, body) in [
        ("/signup", "Credentials"),
        ("/login", "Credentials"),
        ("/refresh", "RefreshRequest"),
        ("/logout", "RefreshRequest"),
    ] {
        let request = &operation(&spec, "post", name)["requestBody"];
        assert_eq!(
            request["content"]["application/json"]["schema"]["$ref"],
            format!("#/components/schemas/{body}"),
            "{name}"
        );
        // The body of /logout is optional (the token may come as bearer); the others are not.
        assert_eq!(
            request["required"] == json!(true),
            name != "/logout",
            "{name}"
        );
    }
    let success = [
        ("post", "/signup", "201", Some("SignupResponse")),
        ("post", "/login", "200", Some("TokenResponse")),
        ("get", "/refresh_token", "200", Some("TokenResponse")),
        ("post", "/refresh", "200", Some("TokenResponse")),
        ("post", "/logout", "204", None),
        ("post", "/secret", "200", None),
        ("get", "/admin", "200", None),
        ("get", "/admin/cache", "200", Some("CacheReport")),
        ("get", "/notsecret", "200", None),
    ];
    for (method, path, status, schema) in success {
        let response = &operation(&spec, method, path)["responses"][status];
        assert!(response.is_object(), "{method} {path} {status}");
        if let Some(schema) = schema {
            assert_eq!(
                response["content"]["application/json"]["schema"]["$ref"],
                format!("#/components/schemas/{schema}")
            );
        }
    }
    let credentials = &spec["components"]["schemas"]["Credentials"];
    assert_eq!(credentials["required"], json!(["username", "password"]));
    assert_eq!(credentials["additionalProperties"], json!(false));
    for schema in [
        "SignupResponse",
        "TokenResponse",
        "RefreshRequest",
        "ErrorBody",
    ] {
        assert!(
            spec["components"]["schemas"][schema].is_object(),
            "{schema}"
        );
    }
}

#[tokio::test]
async fn every_error_status_of_each_route_is_documented_with_the_detail_body() {
    let spec = served_spec(&example_app()).await;
    let errors: [(&str, &str, &[&str]); 8] = [
        (
            "post",
            "/signup",
            &["400", "409", "413", "415", "422", "429", "503"],
        ),
        (
            "post",
            "/login",
            &["400", "401", "413", "415", "422", "429", "503"],
        ),
        ("get", "/refresh_token", &["400", "401", "503"]),
        (
            "post",
            "/refresh",
            &["400", "401", "413", "415", "422", "503"],
        ),
        ("post", "/logout", &["400", "401", "413", "422", "503"]),
        ("post", "/secret", &["400", "401"]),
        ("get", "/admin", &["400", "401", "403"]),
        ("get", "/notsecret", &[]),
    ];
    for (method, path, statuses) in errors {
        let responses = operation(&spec, method, path)["responses"]
            .as_object()
            .unwrap();
        let documented: BTreeSet<_> = responses
            .keys()
            .filter(|status| !status.starts_with('2'))
            .map(String::as_str)
            .collect();
        assert_eq!(
            documented,
            statuses.iter().copied().collect(),
            "{method} {path}"
        );
        for status in statuses {
            assert_eq!(
                responses[*status]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ErrorBody",
                "{method} {path} {status}"
            );
        }
        if documented.contains("401") {
            assert!(
                responses["401"]["headers"]["WWW-Authenticate"].is_object(),
                "{method} {path}"
            );
        }
    }
    assert!(
        operation(&spec, "post", "/login")["responses"]["429"]["headers"]["Retry-After"]
            .is_object()
    );
    assert_eq!(
        spec["components"]["schemas"]["ErrorBody"]["required"],
        json!(["detail"])
    );
}

#[tokio::test]
async fn protected_routes_carry_the_bearer_scheme() {
    let spec = served_spec(&example_app()).await;
    for name in ["bearer", "refresh_token"] {
        let scheme = &spec["components"]["securitySchemes"][name];
        assert_eq!(
            (&scheme["type"], &scheme["scheme"], &scheme["bearerFormat"]),
            (&json!("http"), &json!("bearer"), &json!("JWT")),
            "{name}"
        );
    }
    // DPoP: `Authorization: DPoP <token>` and the proof in the `DPoP` header, together.
    for (name, header) in [("dpop", "Authorization"), ("dpop_proof", "DPoP")] {
        let scheme = &spec["components"]["securitySchemes"][name];
        assert_eq!(
            (&scheme["type"], &scheme["in"], &scheme["name"]),
            (&json!("apiKey"), &json!("header"), &json!(header)),
            "{name}"
        );
    }
    let security = |method, path| operation(&spec, method, path)["security"].clone();
    assert_eq!(
        security("post", "/secret"),
        json!([{ "bearer": [] }, { "dpop": [], "dpop_proof": [] }])
    );
    assert_eq!(
        security("get", "/refresh_token"),
        json!([{ "refresh_token": [] }])
    );
    // Either token, or none when the refresh token comes in the body.
    assert_eq!(
        security("post", "/logout"),
        json!([{ "bearer": [] }, { "refresh_token": [] }, {}])
    );
    for (method, path) in [
        ("post", "/signup"),
        ("post", "/login"),
        ("post", "/refresh"),
        ("get", "/notsecret"),
    ] {
        assert_eq!(security(method, path), Value::Null, "{method} {path}");
    }
}

/// Sends an empty-bodied request for every documented operation and asserts the app serves it.
async fn assert_every_operation_is_routed(app: &Router, spec: &Value) {
    for (method, path) in operations(spec) {
        let request = Request::builder()
            .method(method.to_uppercase().as_str())
            .uri(&path)
            .body(Body::empty())
            .unwrap();
        let status = call(app, request).await.status;
        assert!(
            status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path} is documented but answered {status}"
        );
    }
}

#[tokio::test]
async fn every_documented_operation_is_a_real_route() {
    let app = example_app();
    let spec = served_spec(&app).await;
    assert_every_operation_is_routed(&app, &spec).await;
}

fn auth_with(key: SigningKey) -> std::sync::Arc<Auth<MemoryStore>> {
    let store = MemoryStore::new();
    Auth::builder(TokenIssuer::new(key), store)
        .hasher(PasswordHasher::new(4, 1, 8).unwrap())
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_router_fragment_nests_under_the_prefix_the_router_is_mounted_at() {
    #[derive(OpenApi)]
    #[openapi(info(title = "an app"))]
    struct AppDoc;

    let auth = auth_with(SigningKey::hmac(Algorithm::HS256, support::SECRET).unwrap());
    let app = Router::new().nest("/api/auth", auth.router());
    let doc = AppDoc::openapi().nest("/api/auth", auth.openapi());
    let spec = serde_json::to_value(&doc).unwrap();

    let paths: BTreeSet<_> = operations(&spec)
        .into_iter()
        .map(|(_, path)| path)
        .collect();
    assert_eq!(
        paths,
        [
            "/api/auth/login",
            "/api/auth/logout",
            "/api/auth/refresh",
            "/api/auth/refresh_token",
            "/api/auth/signup"
        ]
        .map(str::to_owned)
        .into()
    );
    assert_every_operation_is_routed(&app, &spec).await;
    assert_eq!(spec["info"]["title"], "an app");
    assert!(spec["components"]["schemas"]["TokenResponse"].is_object());
    assert!(spec["components"]["securitySchemes"]["refresh_token"].is_object());
    // The fragment alone is the same document, at the root.
    let root = serde_json::to_value(auth.openapi()).unwrap();
    assert!(root["paths"]["/login"].is_object());
    assert_eq!(
        serde_json::to_value(tower_jwt_auth::router::ApiDoc::openapi()).unwrap()["paths"]["/login"],
        root["paths"]["/login"]
    );
}

#[tokio::test]
async fn the_jwks_route_is_documented_exactly_when_it_is_served() {
    let hmac = auth_with(SigningKey::hmac(Algorithm::HS256, support::SECRET).unwrap());
    let spec = serde_json::to_value(hmac.openapi()).unwrap();
    assert!(spec["paths"]["/.well-known/jwks.json"].is_null());

    let pem = support::data("keys/ec256_private.pem");
    let ec = auth_with(SigningKey::ec_pem(Algorithm::ES256, pem).unwrap());
    let spec = serde_json::to_value(ec.openapi()).unwrap();
    assert!(spec["paths"]["/.well-known/jwks.json"]["get"].is_object());
    assert_every_operation_is_routed(&ec.router(), &spec).await;
    let answer = call(
        &ec.router(),
        Request::get("/.well-known/jwks.json")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_documented(&spec, "get", "/.well-known/jwks.json", &answer);
}

fn raw(
    method: &str,
    uri: &str,
    content_type: Option<&str>,
    body: impl Into<Body>,
) -> Request<Body> {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    request.body(body.into()).unwrap()
}

fn authorization(mut request: Request<Body>, value: &'static str) -> Request<Body> {
    request
        .headers_mut()
        .insert("authorization", http::HeaderValue::from_static(value));
    request
}

#[tokio::test]
async fn answers_to_bad_requests_are_documented_with_their_bodies() {
    let app = example_app();
    let spec = served_spec(&app).await;
    let json = Some("application/json");
    let big = vec![b' '; 17 * 1024];
    let mut seen = BTreeSet::new();
    for (method, path) in ROUTES {
        let upper = method.to_uppercase();
        let requests = [
            raw(&upper, path, None, Body::empty()),
            raw(&upper, path, Some("text/plain"), "hello"),
            raw(&upper, path, json, "{"),
            raw(&upper, path, json, "null"),
            raw(&upper, path, json, "[]"),
            raw(&upper, path, json, r#"{"username": "alice"}"#),
            raw(
                &upper,
                path,
                json,
                r#"{"username": "", "password": "correct horse"}"#,
            ),
            raw(
                &upper,
                path,
                json,
                r#"{"username": "a", "password": "short"}"#,
            ),
            raw(&upper, path, json, r#"{"refresh_token": 42}"#),
            raw(
                &upper,
                path,
                json,
                r#"{"refresh_token": "x.y.z", "extra": 1}"#,
            ),
            raw(&upper, path, json, big.clone()),
            bearer_request(&upper, path, "not-a-token"),
            authorization(raw(&upper, path, None, Body::empty()), "Basic YTpi"),
            authorization(raw(&upper, path, None, Body::empty()), "Bearer"),
        ];
        for request in requests {
            let answer = call(&app, request).await;
            assert_documented(&spec, method, path, &answer);
            seen.insert(answer.status.as_u16());
        }
    }
    // The battery reached every kind of refusal, so the check above is not vacuous.
    for status in [400, 401, 413, 415, 422] {
        assert!(seen.contains(&status), "no request got {status}: {seen:?}");
    }
}

#[tokio::test]
async fn the_docs_flow_sign_up_log_in_authorize_call_secret_works_with_the_documented_operations() {
    let app = example_app();
    let spec = served_spec(&app).await;
    // What Swagger UI's "Try it out" pre-fills: the schema's examples.
    let properties = &spec["components"]["schemas"]["Credentials"]["properties"];
    let creds = json!({
        "username": properties["username"]["example"],
        "password": properties["password"]["example"],
    });
    let signup = call(&app, post_json("/signup", &creds)).await;
    assert_eq!(signup.status, StatusCode::CREATED, "{}", signup.body);
    assert_documented(&spec, "post", "/signup", &signup);
    let again = call(&app, post_json("/signup", &creds)).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_documented(&spec, "post", "/signup", &again);

    let login = call(&app, post_json("/login", &creds)).await;
    assert_eq!(login.status, StatusCode::OK);
    assert_documented(&spec, "post", "/login", &login);
    let access = login.body["access_token"].as_str().unwrap();
    let refresh = login.body["refresh_token"].as_str().unwrap();

    // "Authorize" with the `bearer` scheme sends `Authorization: Bearer <access_token>`.
    assert_eq!(
        operation(&spec, "post", "/secret")["security"][0]["bearer"],
        json!([])
    );
    let secret = call(&app, bearer_request("POST", "/secret", access)).await;
    assert_eq!(secret.status, StatusCode::OK);
    assert_documented(&spec, "post", "/secret", &secret);
    let refused = call(&app, bearer_request("POST", "/secret", refresh)).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_documented(&spec, "post", "/secret", &refused);

    let rotated = call(&app, bearer_request("GET", "/refresh_token", refresh)).await;
    assert_eq!(rotated.status, StatusCode::OK);
    assert_documented(&spec, "get", "/refresh_token", &rotated);
    let replayed = call(
        &app,
        post_json("/refresh", &json!({ "refresh_token": refresh })),
    )
    .await;
    assert_eq!(replayed.status, StatusCode::UNAUTHORIZED);
    assert_documented(&spec, "post", "/refresh", &replayed);
    let logout = call(&app, bearer_request("POST", "/logout", access)).await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    assert_documented(&spec, "post", "/logout", &logout);
    let notsecret = call(
        &app,
        Request::get("/notsecret").body(Body::empty()).unwrap(),
    )
    .await;
    assert_documented(&spec, "get", "/notsecret", &notsecret);
}

#[tokio::test]
async fn the_docs_page_is_served_from_the_binary_and_names_no_other_host() {
    let app = example_app();
    let redirect = call(&app, Request::get("/docs").body(Body::empty()).unwrap()).await;
    assert!(redirect.status.is_redirection(), "{}", redirect.status);
    for asset in [
        "/docs/",
        "/docs/swagger-initializer.js",
        "/docs/swagger-ui-bundle.js",
        "/docs/swagger-ui.css",
    ] {
        let response = app
            .clone()
            .oneshot(Request::get(asset).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{asset}");
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes);
        if asset == "/docs/" || asset.ends_with("initializer.js") {
            // The page and its configuration load only relative URLs...
            assert!(!text.contains("://"), "{asset} names another host:\n{text}");
        }
        if asset.ends_with("initializer.js") {
            // ...the document from this server, and no validator badge from elsewhere.
            assert!(text.contains("\"url\": \"/openapi.json\""), "{text}");
            assert!(text.contains("\"validatorUrl\": \"none\""), "{text}");
        }
    }
}
