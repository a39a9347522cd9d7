//! The peers, set up as tower-jwt-auth's peer benches use them: jwt-authorizer's layer for
//! one algorithm's key, with the rules of our default layer (signature, `exp`, `scope` =
//! `access_token`).

use std::convert::Infallible;
use std::future::{Ready, ready};

use http::{Request, Response};
use jwt_authorizer::{AuthorizerBuilder, IntoLayer};
use support::bench::Setup;
use tower::ServiceBuilder;
use tower::util::ServiceFn;
use tower_jwt_auth::claims::ACCESS_TOKEN;
use tower_jwt_auth::{Algorithm, Claims};

/// Whether `claims` are an access token's: the scope check every contender makes.
pub fn is_access_token(claims: &Claims) -> bool {
    claims.scope.as_deref() == Some(ACCESS_TOKEN)
}

/// A no-op service that answers with axum 0.7's response, as jwt-authorizer's layer needs.
pub type AuthorizerNoop =
    fn(Request<()>) -> Ready<Result<axum_core::response::Response, Infallible>>;

fn authorizer_noop(_: Request<()>) -> Ready<Result<axum_core::response::Response, Infallible>> {
    ready(Ok(Response::new(axum_core::body::Body::empty())))
}

/// jwt-authorizer's layer over the no-op service. Clones share the layer's authorizer.
pub type JwtAuthorizer =
    jwt_authorizer::layer::AuthorizationService<ServiceFn<AuthorizerNoop>, Claims>;

/// jwt-authorizer's layer for `setup`'s key over the no-op service, with our layer's rules:
/// `exp` required, 5 s leeway, the scope (its `check`, a 403 if it fails).
pub fn jwt_authorizer(setup: &Setup) -> JwtAuthorizer {
    let pem = |name: &str| String::from_utf8(support::data(&format!("keys/{name}"))).unwrap();
    let builder: AuthorizerBuilder<Claims> = match setup.alg {
        Algorithm::HS256 => {
            AuthorizerBuilder::from_secret(std::str::from_utf8(support::bench::SECRET).unwrap())
        }
        Algorithm::RS256 => AuthorizerBuilder::from_rsa_pem_text(&pem("rsa_public.pem")),
        Algorithm::ES256 => AuthorizerBuilder::from_ec_pem_text(&pem("ec256_public.pem")),
        Algorithm::EdDSA => AuthorizerBuilder::from_ed_pem_text(&pem("ed25519_public.pem")),
        other => panic!("no jwt-authorizer key for {other:?}"),
    };
    let builder = builder
        .validation(jwt_authorizer::Validation::new().leeway(5))
        .check(is_access_token);
    // Building is `async` (it may fetch keys); with a PEM or a secret nothing waits.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let authorizer = runtime.block_on(builder.build()).unwrap();
    ServiceBuilder::new()
        .layer(authorizer.into_layer())
        .service_fn(authorizer_noop as AuthorizerNoop)
}
