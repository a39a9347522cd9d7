//! Per-route authorization behind the layer: each scope source, all-of and any-of,
//! predicates, the 403 answer, missing claims, malformed scope claims, the axum
//! extractor on one handler, and step-up authentication (RFC 9470).

use std::convert::Infallible;
use std::marker::PhantomData;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde::Deserialize;
use serde_json::{Value, json};
use support::*;
use tower::{ServiceBuilder, ServiceExt};
use tower_jwt_auth::authorize::{
    Authorize, RequireLayer, RequireScopeLayer, ScopeClaims, ScopeRequirement, ScopeSource, Scoped,
    Scopes, StepUp,
};
use tower_jwt_auth::rejection::Rejection;
use tower_jwt_auth::{Algorithm, Claims, JwtAuthLayer, JwtClaims, Key};

/// The services of these tests answer 200 `"reached"`.
trait Reached {
    fn assert_reached(&self);
}

impl Reached for Answer {
    fn assert_reached(&self) {
        assert_eq!(
            (self.status, &self.body),
            (StatusCode::OK, &json!("reached")),
            "{self:?}"
        );
    }
}

/// A layer for identity-provider style tokens: any token type, claims kept whole.
fn oauth_layer() -> JwtAuthLayer<Value> {
    JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, SECRET).unwrap())
        .any_token_type()
        .claims::<Value>()
        .build()
        .unwrap()
}

/// Claims valid for ten minutes with `extra` merged in.
fn oauth_claims(extra: Value) -> Value {
    let mut claims = json!({ "sub": "alice", "exp": now() + 600 });
    claims
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    claims
}

/// Sends `request` through `authenticate`, then `require`, to a service answering 200
/// `"reached"`.
async fn send<C, A>(
    authenticate: &JwtAuthLayer<C>,
    require: &RequireLayer<A, C>,
    request: Request<Full<Bytes>>,
) -> Answer
where
    C: serde::de::DeserializeOwned + Clone + Send + Sync + 'static,
    A: Authorize<C>,
{
    let service = ServiceBuilder::new()
        .layer(authenticate.clone())
        .layer(require.clone())
        .service_fn(|_: Request<Full<Bytes>>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"\"reached\""))))
        });
    answer(service.oneshot(request).await.unwrap()).await
}

/// Signs `extra` into OAuth-style claims and sends them through the OAuth layer and
/// `require`.
async fn send_claims<A: Authorize<Value>>(
    require: &RequireLayer<A, Value>,
    extra: Value,
) -> Answer {
    let token = hs256().sign(&oauth_claims(extra)).unwrap();
    send(&oauth_layer(), require, with_bearer(&token)).await
}

fn challenge(scopes: &str) -> String {
    format!("Bearer error=\"insufficient_scope\", scope=\"{scopes}\"")
}

#[tokio::test]
async fn each_scope_source_grants_what_it_lists_and_forbids_the_rest() {
    let cases = [
        (
            "scope string",
            ScopeSource::oauth_scope(),
            json!({ "scope": "read write" }),
        ),
        (
            "scp array",
            ScopeSource::scp(),
            json!({ "scp": ["read", "write"] }),
        ),
        (
            "scp string",
            ScopeSource::scp(),
            json!({ "scp": "read write" }),
        ),
        (
            "keycloak realm roles",
            ScopeSource::keycloak_realm_roles(),
            json!({ "realm_access": { "roles": ["read", "write"] } }),
        ),
        (
            "keycloak client roles",
            ScopeSource::keycloak_client_roles("my-api"),
            json!({ "resource_access": { "my-api": { "roles": ["read", "write"] },
                                         "other": { "roles": ["admin"] } } }),
        ),
        (
            "auth0 permissions",
            ScopeSource::auth0_permissions(),
            json!({ "permissions": ["read", "write"] }),
        ),
    ];
    for (name, source, extra) in cases {
        let granted = RequireScopeLayer::all(["write"])
            .source(source.clone())
            .claims::<Value>();
        let answer = send_claims(&granted, extra.clone()).await;
        assert_eq!(answer.status, 200, "{name}: {answer:?}");
        answer.assert_reached();

        let absent = RequireScopeLayer::all(["admin"])
            .source(source)
            .claims::<Value>();
        send_claims(&absent, extra)
            .await
            .assert_insufficient_scope(&challenge("admin"));
    }
}

#[tokio::test]
async fn a_source_reads_its_own_claim_not_another() {
    // `read` granted in `scp` does not satisfy a requirement on `scope`, and a role
    // of another Keycloak client does not count.
    let on_scope = RequireScopeLayer::all(["read"]).claims::<Value>();
    send_claims(&on_scope, json!({ "scp": ["read"] }))
        .await
        .assert_insufficient_scope(&challenge("read"));
    let client = RequireScopeLayer::all(["admin"])
        .source(ScopeSource::keycloak_client_roles("my-api"))
        .claims::<Value>();
    send_claims(
        &client,
        json!({ "resource_access": { "other": { "roles": ["admin"] } } }),
    )
    .await
    .assert_insufficient_scope(&challenge("admin"));
}

#[tokio::test]
async fn all_of_needs_every_scope_and_the_challenge_lists_them_all() {
    let require = RequireScopeLayer::all(["read", "write"]).claims::<Value>();
    send_claims(&require, json!({ "scope": "write read admin" }))
        .await
        .assert_reached();
    send_claims(&require, json!({ "scope": "read" }))
        .await
        .assert_insufficient_scope("Bearer error=\"insufficient_scope\", scope=\"read write\"");
}

#[tokio::test]
async fn any_of_needs_one_scope() {
    let require = RequireScopeLayer::any(["read", "write"]).claims::<Value>();
    send_claims(&require, json!({ "scope": "write" }))
        .await
        .assert_reached();
    send_claims(&require, json!({ "scope": "admin" }))
        .await
        .assert_insufficient_scope(&challenge("read write"));
}

#[tokio::test]
async fn predicate_decides_and_its_refusal_names_no_scope() {
    let require = RequireLayer::predicate(|claims: &Value| claims["tenant"] == "acme");
    send_claims(&require, json!({ "tenant": "acme" }))
        .await
        .assert_reached();
    send_claims(&require, json!({ "tenant": "other" }))
        .await
        .assert_insufficient_scope("Bearer error=\"insufficient_scope\"");
}

#[tokio::test]
async fn tutorial_token_carries_no_oauth_scopes() {
    // The tutorial's `scope = "access_token"` is a token type: an OAuth requirement
    // refuses it with 403, while a predicate over `Claims` still works.
    let token = hs256().sign(&access_claims("alice")).unwrap();
    let read = RequireScopeLayer::all(["read"]);
    send(&hs256_layer(), &read, with_bearer(&token))
        .await
        .assert_insufficient_scope(&challenge("read"));
    let alice = RequireLayer::predicate(|claims: &Claims| claims.sub == "alice");
    send(&hs256_layer(), &alice, with_bearer(&token))
        .await
        .assert_reached();
}

#[tokio::test]
async fn claims_type_scope_claim_grants_oauth_scopes() {
    let layer = JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, SECRET).unwrap())
        .any_token_type()
        .build()
        .unwrap();
    let token = hs256()
        .sign(&oauth_claims(json!({ "scope": "read" })))
        .unwrap();
    send(
        &layer,
        &RequireScopeLayer::all(["read"]),
        with_bearer(&token),
    )
    .await
    .assert_reached();
    // `Claims` keeps only `scope`: other sources grant nothing.
    let token = hs256()
        .sign(&oauth_claims(json!({ "scp": ["read"] })))
        .unwrap();
    let on_scp = RequireScopeLayer::all(["read"]).source(ScopeSource::scp());
    send(&layer, &on_scp, with_bearer(&token))
        .await
        .assert_insufficient_scope(&challenge("read"));
}

#[tokio::test]
async fn missing_claims_are_not_authenticated_with_a_bare_challenge() {
    // Optional mode, no credentials: the layer lets the request on without claims.
    let optional = JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, SECRET).unwrap())
        .optional()
        .build()
        .unwrap();
    let require = RequireLayer::predicate(|_: &Claims| true);
    send(&optional, &require, Request::new(Full::default()))
        .await
        .assert_not_authenticated();

    // Misordered: the requirement runs before authentication.
    let token = hs256().sign(&access_claims("alice")).unwrap();
    let service = ServiceBuilder::new()
        .layer(RequireScopeLayer::all(["read"]))
        .layer(hs256_layer())
        .service_fn(|_: Request<Full<Bytes>>| async {
            Ok::<_, Infallible>(Response::new(Full::<Bytes>::default()))
        });
    answer(service.oneshot(with_bearer(&token)).await.unwrap())
        .await
        .assert_not_authenticated();
}

#[tokio::test]
async fn malformed_scope_claims_are_forbidden_never_an_error() {
    let huge = format!("{} read", "x".repeat(1 << 20));
    let layer = JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, SECRET).unwrap())
        .any_token_type()
        .max_token_len(4 << 20)
        .claims::<Value>()
        .build()
        .unwrap();
    let values = [
        ("number", json!(42)),
        ("object", json!({ "read": true })),
        ("null", json!(null)),
        ("1 MB string", json!(huge)),
        ("array of numbers", json!([1, 2, 3])),
        ("array of arrays", json!([["read"]])),
    ];
    let sources = [
        ("scope", ScopeSource::oauth_scope(), "scope"),
        ("scp", ScopeSource::scp(), "scp"),
        (
            "permissions",
            ScopeSource::auth0_permissions(),
            "permissions",
        ),
        ("roles", ScopeSource::roles_at(["roles"]), "roles"),
    ];
    for (what, value) in &values {
        for (name, source, claim) in &sources {
            let require = RequireScopeLayer::all(["read"])
                .source(source.clone())
                .claims::<Value>();
            let token = hs256()
                .sign(&oauth_claims(json!({ *claim: value })))
                .unwrap();
            let answer = send(&layer, &require, with_bearer(&token)).await;
            assert_eq!(answer.status, 403, "{what} in {name}: {answer:?}");
            answer.assert_insufficient_scope(&challenge("read"));
        }
    }
    // The path to a roles array crossing a non-object grants nothing either.
    let realm = RequireScopeLayer::all(["read"])
        .source(ScopeSource::keycloak_realm_roles())
        .claims::<Value>();
    for realm_access in [
        json!("read"),
        json!(["read"]),
        json!(null),
        json!({ "roles": "read" }),
    ] {
        send_claims(&realm, json!({ "realm_access": realm_access }))
            .await
            .assert_insufficient_scope(&challenge("read"));
    }
}

#[tokio::test]
async fn custom_rejection_format_sees_insufficient_scope() {
    let require = RequireScopeLayer::all(["read", "write"])
        .claims::<Value>()
        .on_rejection(|rejection: Rejection| {
            let text = match &rejection {
                Rejection::InsufficientScope { required } => {
                    format!(
                        "\"needs {}\"",
                        required.names().collect::<Vec<_>>().join("+")
                    )
                }
                other => format!("\"{}\"", other.detail()),
            };
            let mut response = Response::new(Full::new(Bytes::from(text)));
            *response.status_mut() = rejection.status();
            response
        });
    let token = hs256()
        .sign(&oauth_claims(json!({ "scope": "read" })))
        .unwrap();
    let service = ServiceBuilder::new()
        .layer(oauth_layer())
        .layer(require)
        .service_fn(|_: Request<Full<Bytes>>| async {
            Ok::<_, Infallible>(Response::new(Full::<Bytes>::default()))
        });
    let answer = answer(service.oneshot(with_bearer(&token)).await.unwrap()).await;
    assert_eq!(
        (answer.status, answer.body),
        (StatusCode::FORBIDDEN, json!("needs read+write"))
    );
}

/// A claims type of the application's own, with roles in a field of its own.
#[derive(Debug, Clone, Deserialize)]
struct AppClaims {
    groups: Vec<String>,
}

impl ScopeClaims for AppClaims {
    fn grants(&self, source: &ScopeSource, scope: &str) -> bool {
        *source == ScopeSource::roles_at(["groups"]) && self.groups.iter().any(|g| g == scope)
    }
}

#[tokio::test]
async fn own_claims_type_implements_scope_claims() {
    let layer = JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, SECRET).unwrap())
        .any_token_type()
        .claims::<AppClaims>()
        .build()
        .unwrap();
    let require = RequireLayer::new(
        Scopes::all(["staff"])
            .unwrap()
            .source(ScopeSource::roles_at(["groups"])),
    )
    .claims::<AppClaims>();
    let staff = hs256()
        .sign(&oauth_claims(json!({ "groups": ["staff"] })))
        .unwrap();
    send(&layer, &require, with_bearer(&staff))
        .await
        .assert_reached();
    let guest = hs256()
        .sign(&oauth_claims(json!({ "groups": ["guest"] })))
        .unwrap();
    send(&layer, &require, with_bearer(&guest))
        .await
        .assert_insufficient_scope(&challenge("staff"));
}

#[test]
fn invalid_scope_names_are_refused_when_the_requirement_is_built() {
    for bad in ["has space", "quote\"", "back\\slash", "", "\u{1}"] {
        assert!(Scopes::all([bad]).is_err(), "{bad:?}");
    }
    assert!(Scopes::any(Vec::<String>::new()).is_err());
}

// The axum extractor on one handler.

/// `orders:write`, from the `scope` claim.
struct WriteOrders;

impl ScopeRequirement for WriteOrders {
    const SCOPES: &'static [&'static str] = &["orders:write"];
}

/// `admin` or `support`, from Keycloak's realm roles.
struct Staff;

impl ScopeRequirement for Staff {
    const SCOPES: &'static [&'static str] = &["admin", "support"];
    const ANY: bool = true;

    fn source() -> ScopeSource {
        ScopeSource::keycloak_realm_roles()
    }
}

async fn create_order(Scoped(claims, _): Scoped<WriteOrders, Value>) -> String {
    format!("order by {}", claims["sub"].as_str().unwrap())
}

async fn staff_only(Scoped(claims, PhantomData): Scoped<Staff, Value>) -> String {
    format!("staff {}", claims["sub"].as_str().unwrap())
}

async fn me(JwtClaims(claims): JwtClaims<Value>) -> String {
    format!("me {}", claims["sub"].as_str().unwrap())
}

fn app(layer: JwtAuthLayer<Value>) -> Router {
    Router::new()
        .route("/orders", get(create_order))
        .route("/staff", get(staff_only))
        .route("/me", get(me))
        .layer(layer)
}

async fn call(app: &Router, uri: &str, extra: Option<Value>) -> (Answer, String) {
    let mut request = Request::builder().uri(uri);
    if let Some(extra) = extra {
        let token = hs256().sign(&oauth_claims(extra)).unwrap();
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let answer = answer(Response::from_parts(parts, Full::new(bytes))).await;
    (answer, text)
}

#[tokio::test]
async fn scoped_extractor_guards_one_handler_and_leaves_the_others() {
    let app = app(oauth_layer());
    let reader = json!({ "scope": "orders:read" });
    let (answer, _) = call(&app, "/orders", Some(reader.clone())).await;
    answer.assert_insufficient_scope(&challenge("orders:write"));
    assert_eq!(call(&app, "/me", Some(reader)).await.1, "me alice");

    let writer = json!({ "scope": "orders:read orders:write" });
    let (answer, text) = call(&app, "/orders", Some(writer)).await;
    assert_eq!(
        (answer.status, text.as_str()),
        (StatusCode::OK, "order by alice")
    );
}

#[tokio::test]
async fn scoped_extractor_with_any_of_and_another_source() {
    let app = app(oauth_layer());
    let support = json!({ "realm_access": { "roles": ["support"] } });
    let (answer, text) = call(&app, "/staff", Some(support)).await;
    assert_eq!(
        (answer.status, text.as_str()),
        (StatusCode::OK, "staff alice")
    );
    let user = json!({ "realm_access": { "roles": ["user"] }, "scope": "admin" });
    call(&app, "/staff", Some(user))
        .await
        .0
        .assert_insufficient_scope(&challenge("admin support"));
}

#[tokio::test]
async fn scoped_extractor_without_claims_is_not_authenticated() {
    let optional = JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, SECRET).unwrap())
        .any_token_type()
        .optional()
        .claims::<Value>()
        .build()
        .unwrap();
    call(&app(optional), "/orders", None)
        .await
        .0
        .assert_not_authenticated();
}

#[tokio::test]
async fn route_layer_runs_authentication_first_then_the_requirement() {
    let app = Router::new()
        .route("/orders", get(|| async { "\"reached\"" }))
        .route_layer(RequireScopeLayer::all(["orders:write"]).claims::<Value>())
        .route_layer(oauth_layer());
    // No token: the authentication layer's own 401.
    call(&app, "/orders", None)
        .await
        .0
        .assert_not_authenticated();
    call(&app, "/orders", Some(json!({ "scope": "orders:read" })))
        .await
        .0
        .assert_insufficient_scope(&challenge("orders:write"));
    call(&app, "/orders", Some(json!({ "scope": "orders:write" })))
        .await
        .0
        .assert_reached();
}

// Step-up authentication (RFC 9470).

const ACR_CHALLENGE: &str = "Bearer error=\"insufficient_user_authentication\", \
    error_description=\"A different authentication level is required\", \
    acr_values=\"urn:mace:incommon:iap:silver phr\"";

const MAX_AGE_CHALLENGE: &str = "Bearer error=\"insufficient_user_authentication\", \
    error_description=\"More recent authentication is required\", max_age=\"300\"";

const BOTH_CHALLENGE: &str = "Bearer error=\"insufficient_user_authentication\", \
    error_description=\"A different authentication level and more recent authentication \
    are required\", acr_values=\"phr\", max_age=\"300\"";

/// `acr` one of silver or `phr`, on `Value` claims.
fn silver_or_phr() -> RequireLayer<StepUp, Value> {
    RequireLayer::new(StepUp::acr_values(["urn:mace:incommon:iap:silver", "phr"]).unwrap())
        .claims::<Value>()
}

/// A login at most five minutes ago.
fn five_minutes() -> Duration {
    Duration::from_secs(300)
}

/// Sends each of `cases` (claims to sign) through `require`, expecting the step-up 401 with
/// `challenge`.
async fn assert_step_up_refuses(
    require: &RequireLayer<StepUp, Value>,
    cases: impl IntoIterator<Item = Value>,
    challenge: &str,
) {
    for extra in cases {
        send_claims(require, extra)
            .await
            .assert_insufficient_user_authentication(challenge);
    }
}

#[tokio::test]
async fn step_up_acr_values_admit_any_listed_value() {
    let require = silver_or_phr();
    for acr in ["phr", "urn:mace:incommon:iap:silver"] {
        send_claims(&require, json!({ "acr": acr }))
            .await
            .assert_reached();
    }
}

#[tokio::test]
async fn step_up_refuses_another_missing_or_malformed_acr_with_401_and_the_acr_values() {
    let require = silver_or_phr();
    assert_step_up_refuses(
        &require,
        [
            json!({ "acr": "pwd" }),
            json!({ "acr": "PHR" }),
            json!({}),
            json!({ "acr": null }),
            json!({ "acr": 2 }),
            json!({ "acr": ["phr"] }),
        ],
        ACR_CHALLENGE,
    )
    .await;
}

#[tokio::test]
async fn step_up_max_age_admits_a_recent_login() {
    let require = RequireLayer::new(StepUp::authenticated_within(five_minutes())).claims::<Value>();
    for auth_time in [now() - 10, now() - 290, now() + 5] {
        send_claims(&require, json!({ "auth_time": auth_time }))
            .await
            .assert_reached();
    }
}

#[tokio::test]
async fn step_up_max_age_refuses_an_old_missing_or_malformed_auth_time_with_the_max_age() {
    let require = RequireLayer::new(StepUp::authenticated_within(five_minutes())).claims::<Value>();
    assert_step_up_refuses(
        &require,
        [
            json!({ "auth_time": now() - 310 }),
            json!({ "auth_time": 0 }),
            json!({}),
            json!({ "auth_time": "yesterday" }),
            json!({ "auth_time": -5 }),
            json!({ "auth_time": null }),
        ],
        MAX_AGE_CHALLENGE,
    )
    .await;
}

#[tokio::test]
async fn step_up_with_acr_and_max_age_needs_both_and_names_both() {
    let require = RequireLayer::new(StepUp::acr_values(["phr"]).unwrap().max_age(five_minutes()))
        .claims::<Value>();
    send_claims(&require, json!({ "acr": "phr", "auth_time": now() - 10 }))
        .await
        .assert_reached();
    assert_step_up_refuses(
        &require,
        [
            json!({ "acr": "phr", "auth_time": now() - 310 }),
            json!({ "acr": "pwd", "auth_time": now() - 10 }),
            json!({ "acr": "phr" }),
        ],
        BOTH_CHALLENGE,
    )
    .await;
}

#[tokio::test]
async fn step_up_reads_acr_and_auth_time_of_the_claims_type() {
    let layer = JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, SECRET).unwrap())
        .any_token_type()
        .build()
        .unwrap();
    let require = RequireLayer::new(StepUp::acr_values(["phr"]).unwrap().max_age(five_minutes()));
    let sign = |extra| hs256().sign(&oauth_claims(extra)).unwrap();
    let fresh = sign(json!({ "acr": "phr", "auth_time": now() - 10 }));
    send(&layer, &require, with_bearer(&fresh))
        .await
        .assert_reached();
    let stale = sign(json!({ "acr": "phr", "auth_time": now() - 310 }));
    send(&layer, &require, with_bearer(&stale))
        .await
        .assert_insufficient_user_authentication(BOTH_CHALLENGE);
    // `Claims` decodes `auth_time` as it decodes `iat`: a malformed one makes the token
    // invalid before any requirement sees it.
    let malformed = sign(json!({ "acr": "phr", "auth_time": "yesterday" }));
    send(&layer, &require, with_bearer(&malformed))
        .await
        .assert_invalid_token();
}

#[tokio::test]
async fn step_up_and_scopes_compose_as_two_layers() {
    let scopes = RequireScopeLayer::all(["payments:write"]).claims::<Value>();
    let step_up = RequireLayer::new(StepUp::acr_values(["phr"]).unwrap().max_age(five_minutes()))
        .claims::<Value>();
    let service = ServiceBuilder::new()
        .layer(oauth_layer())
        .layer(scopes)
        .layer(step_up)
        .service_fn(|_: Request<Full<Bytes>>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"\"reached\""))))
        });
    let call = |extra| {
        let token = hs256().sign(&oauth_claims(extra)).unwrap();
        let service = service.clone();
        async move { answer(service.oneshot(with_bearer(&token)).await.unwrap()).await }
    };
    call(json!({ "scope": "payments:write", "acr": "phr", "auth_time": now() - 10 }))
        .await
        .assert_reached();
    call(json!({ "scope": "payments:read", "acr": "phr", "auth_time": now() - 10 }))
        .await
        .assert_insufficient_scope(&challenge("payments:write"));
    call(json!({ "scope": "payments:write", "acr": "pwd", "auth_time": now() - 10 }))
        .await
        .assert_insufficient_user_authentication(BOTH_CHALLENGE);
}

#[tokio::test]
async fn step_up_guards_an_axum_route_through_route_layer() {
    let app = Router::new()
        .route("/transfers", get(|| async { "\"reached\"" }))
        .route_layer(
            RequireLayer::new(StepUp::authenticated_within(five_minutes())).claims::<Value>(),
        )
        .route("/me", get(me))
        .route_layer(oauth_layer());
    let stale = json!({ "auth_time": now() - 3600 });
    call(&app, "/transfers", Some(stale.clone()))
        .await
        .0
        .assert_insufficient_user_authentication(MAX_AGE_CHALLENGE);
    assert_eq!(call(&app, "/me", Some(stale)).await.1, "me alice");
    call(&app, "/transfers", Some(json!({ "auth_time": now() - 10 })))
        .await
        .0
        .assert_reached();
    call(&app, "/transfers", None)
        .await
        .0
        .assert_not_authenticated();
}
