//! The route handlers.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::header::CACHE_CONTROL;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::Auth;
use super::body::{JsonBody, RawBody, parse};
use super::dpop::Proof;
use super::error::AuthError;
use super::log_limit::LogLimit;
use super::throttle::Attempt;
use crate::claims::Claims;
use crate::error::TokenError;
use crate::issuer::{RefreshClaims, random_id};
use crate::password::HashError;
use crate::revocation::Revoked;
use crate::source::bearer;
use crate::store::{CreateUser, NewFamily, RefreshTokenStore, Rotation, User, UserStore};
use crate::validator::now;

#[cfg(feature = "openapi")]
use super::ErrorBody;
#[cfg(feature = "openapi")]
use super::openapi::{JsonBodyRejections, OptionalBodyRejections, Unavailable};

/// A signup or login body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Credentials {
    /// 1 to 64 characters, no control characters; compared exactly.
    #[cfg_attr(
        feature = "openapi",
        schema(example = "alice", min_length = 1, max_length = 64)
    )]
    pub username: String,
    /// 8 to 72 bytes (configurable).
    #[cfg_attr(feature = "openapi", schema(example = "correct horse"))]
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .finish()
    }
}

/// The signup answer: the username, never the hash.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignupResponse {
    /// The new account's username.
    pub username: String,
}

/// Tokens, as login and refresh return them.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenResponse {
    /// The access token (30 minutes by default).
    pub access_token: String,
    /// The refresh token: single use, rotated on every refresh.
    pub refresh_token: String,
    /// `DPoP` when the tokens are bound to the key of the request's DPoP
    /// proof, else `bearer`.
    #[cfg_attr(feature = "openapi", schema(example = "bearer"))]
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// A body carrying a refresh token.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token.
    pub refresh_token: String,
}

pub(super) fn unavailable<E: std::error::Error>(error: E) -> AuthError {
    tracing::error!(error = %error, "auth store unavailable");
    AuthError::Unavailable
}

fn hashing(error: HashError) -> AuthError {
    match error {
        HashError::Busy => {
            static SHED: LogLimit = LogLimit::new();
            if let Some(held_back) = SHED.report() {
                tracing::warn!(held_back, "password hashing queue full; shedding load");
            }
            AuthError::Busy
        }
        HashError::Failed => {
            tracing::error!("password hashing task failed");
            AuthError::Busy
        }
    }
}

fn signing(error: crate::signing::SignError) -> AuthError {
    tracing::error!(error = %error, "token signing failed");
    AuthError::Unavailable
}

fn check_username(max: usize, username: &str) -> Result<(), AuthError> {
    let chars = username.chars().count();
    if chars == 0 || chars > max {
        return Err(AuthError::InvalidInput(
            format!("username: must be 1 to {max} characters").into(),
        ));
    }
    if username.chars().any(char::is_control) {
        return Err(AuthError::InvalidInput(
            "username: must not contain control characters".into(),
        ));
    }
    Ok(())
}

fn check_password<S>(auth: &Auth<S>, password: &str) -> Result<(), AuthError> {
    let (min, max) = (auth.min_password, auth.max_password);
    if password.len() < min {
        return Err(AuthError::InvalidInput(
            format!("password: must be at least {min} bytes").into(),
        ));
    }
    if password.len() > max {
        return Err(AuthError::InvalidInput(
            format!("password: must be at most {max} bytes (bcrypt ignores the rest; it is never truncated)").into(),
        ));
    }
    Ok(())
}

#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/signup", tag = "auth",
    request_body = Credentials,
    responses(
        (status = 201, description = "Account created", body = SignupResponse),
        (status = 409, description = "Account already exists", body = ErrorBody),
        (status = 429, description = "Too many attempts", body = ErrorBody, headers(("Retry-After" = String, description = "Seconds to wait"))),
        JsonBodyRejections, Unavailable,
    ),
))]
pub(super) async fn signup<S: UserStore + RefreshTokenStore>(
    State(auth): State<Arc<Auth<S>>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Credentials>,
) -> Result<impl IntoResponse, AuthError> {
    let peer = peer.map(|Extension(ConnectInfo(addr))| addr);
    held(&auth, sign_up(&auth, peer, &headers, body).await).await
}

/// Holds an answer that tells the client to wait (503 busy, 429 throttled)
/// for one to two times the configured hold, at random, so that clients
/// refused together do not all come back together; see
/// [`AuthBuilder::hold_refusals`](super::AuthBuilder::hold_refusals).
async fn held<S, T>(auth: &Auth<S>, outcome: Result<T, AuthError>) -> Result<T, AuthError> {
    if matches!(outcome, Err(AuthError::Busy | AuthError::Throttled { .. })) {
        let jitter = rand::random::<f64>();
        tokio::time::sleep(auth.hold_refusals.mul_f64(1.0 + jitter)).await;
    }
    outcome
}

async fn sign_up<S: UserStore + RefreshTokenStore>(
    auth: &Auth<S>,
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
    body: Credentials,
) -> Result<(StatusCode, Json<SignupResponse>), AuthError> {
    // Before bcrypt, as for login; a refused username is refused anyway.
    auth.throttle
        .check(
            Attempt::Signup,
            &body.username,
            4 * auth.max_username,
            peer,
            headers,
        )
        .await?;
    check_username(auth.max_username, &body.username)?;
    check_password(auth, &body.password)?;
    let hash = auth.hasher.hash(&body.password).await.map_err(hashing)?;
    match auth
        .store
        .create_user(&body.username, &hash)
        .await
        .map_err(unavailable)?
    {
        CreateUser::Created => {
            tracing::info!(username = %body.username, "account created");
            Ok((
                StatusCode::CREATED,
                Json(SignupResponse {
                    username: body.username,
                }),
            ))
        }
        CreateUser::AlreadyExists => Err(AuthError::AccountExists),
    }
}

#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/login", tag = "auth",
    request_body = Credentials,
    params(("DPoP" = Option<String>, Header, description = "A DPoP proof (RFC 9449) for this request: the tokens are then bound to its key. Required for a family bound to a key, and always when the app requires DPoP.")),
    responses(
        (status = 200, description = "Logged in", body = TokenResponse, headers(("Cache-Control" = String, description = "no-store"))),
        (status = 401, description = "Invalid username or password", body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 429, description = "Too many attempts", body = ErrorBody, headers(("Retry-After" = String, description = "Seconds to wait"))),
        JsonBodyRejections, Unavailable,
    ),
))]
pub(super) async fn login<S: UserStore + RefreshTokenStore>(
    State(auth): State<Arc<Auth<S>>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    proof: Proof,
    JsonBody(body): JsonBody<Credentials>,
) -> Result<Response, AuthError> {
    let peer = peer.map(|Extension(ConnectInfo(addr))| addr);
    held(&auth, log_in(&auth, peer, &headers, proof, body).await).await
}

async fn log_in<S: UserStore + RefreshTokenStore>(
    auth: &Auth<S>,
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
    proof: Proof,
    body: Credentials,
) -> Result<Response, AuthError> {
    // Before the store and bcrypt: a throttled attempt costs almost nothing.
    let max_username = 4 * auth.max_username;
    auth.throttle
        .check(Attempt::Login, &body.username, max_username, peer, headers)
        .await?;
    // Overlong input cannot match a stored account; it still costs a verification.
    let user = if body.username.len() <= max_username && body.password.len() <= auth.max_password {
        auth.store
            .find_user(&body.username)
            .await
            .map_err(unavailable)?
    } else {
        None
    };
    let Some(user) = user else {
        auth.hasher
            .verify_dummy(&body.password)
            .await
            .map_err(hashing)?;
        tracing::info!("login failed");
        return Err(AuthError::InvalidCredentials);
    };
    if !auth
        .hasher
        .verify(&body.password, &user.password_hash)
        .await
        .map_err(hashing)?
    {
        tracing::info!(username = %user.username, "login failed");
        return Err(AuthError::InvalidCredentials);
    }
    let jkt = proof.bind(auth, None).await?;
    if auth.hasher.needs_rehash(&user.password_hash) {
        match auth.hasher.hash(&body.password).await {
            Ok(hash) => {
                if let Err(error) = auth.store.update_password_hash(&user.username, &hash).await {
                    tracing::warn!(error = %error, "could not store the rehashed password");
                }
            }
            Err(error) => tracing::warn!(%error, "rehash skipped"),
        }
    }
    let now = now();
    let family = random_id();
    let jti = random_id();
    let expires_at = now.saturating_add(auth.issuer.refresh_lifetime().as_secs());
    auth.store
        .create_family(NewFamily {
            family_id: &family,
            username: &user.username,
            token_id: &jti,
            expires_at,
        })
        .await
        .map_err(unavailable)?;
    tracing::info!(username = %user.username, "login succeeded");
    tokens(auth, &user, &family, &jti, now, expires_at, jkt.as_deref())
}

/// The token response; with `jkt`, both tokens bound to that DPoP key.
fn tokens<S>(
    auth: &Auth<S>,
    user: &User,
    family: &str,
    jti: &str,
    now: u64,
    family_exp: u64,
    jkt: Option<&str>,
) -> Result<Response, AuthError> {
    let sub = user.username.as_str();
    let extra = auth.access_claims(user);
    let access = auth
        .issuer
        .issue_access(sub, &extra, Some(family), jkt, now)
        .map_err(signing)?;
    let refresh_token = auth
        .issuer
        .refresh_bound(sub, family, jti, now, family_exp, jkt)
        .map_err(signing)?;
    if let Some(cookies) = &auth.cookies {
        let expires_in = access.exp.saturating_sub(now);
        let refresh_in = family_exp.saturating_sub(now);
        return Ok(cookies.tokens_response(&access.token, expires_in, &refresh_token, refresh_in));
    }
    let body = TokenResponse {
        access_token: access.token,
        refresh_token,
        token_type: if jkt.is_some() { "DPoP" } else { "bearer" }.to_owned(),
        expires_in: access.exp.saturating_sub(now),
    };
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

pub(super) fn refresh_claims<S>(auth: &Auth<S>, token: &str) -> Result<RefreshClaims, AuthError> {
    auth.refresh_validator
        .validate::<RefreshClaims>(token)
        .map(|verified| verified.claims)
        .map_err(|error| {
            tracing::debug!(%error, "refresh token refused");
            match error {
                TokenError::Expired => AuthError::RefreshExpired,
                _ => AuthError::InvalidRefresh,
            }
        })
}

pub(super) async fn rotate<S: UserStore + RefreshTokenStore>(
    auth: &Auth<S>,
    token: &str,
    proof: Proof,
) -> Result<Response, AuthError> {
    let claims = refresh_claims(auth, token)?;
    // Before the store: a refresh the binding refuses consumes nothing.
    let jkt = proof.bind(auth, claims.cnf.as_ref()).await?;
    // The user as stored now: a deleted user's refresh fails before
    // anything changes, and the access token's extra claims are fresh.
    let Some(user) = auth
        .store
        .find_user(&claims.sub)
        .await
        .map_err(unavailable)?
    else {
        tracing::info!(username = %claims.sub, "refresh for an unknown user refused");
        return Err(AuthError::InvalidRefresh);
    };
    let next = random_id();
    let now = now();
    match auth
        .store
        .rotate(&claims.fam, &claims.jti, &next, now)
        .await
        .map_err(unavailable)?
    {
        Rotation::Rotated => tokens(
            auth,
            &user,
            &claims.fam,
            &next,
            now,
            claims.exp,
            jkt.as_deref(),
        ),
        Rotation::Expired => Err(AuthError::RefreshExpired),
        Rotation::Reused => {
            tracing::warn!(username = %claims.sub, "refresh token reuse detected; family revoked");
            // The family's access tokens too; if the other instances cannot
            // be told, the error is logged and the replay still refused.
            let _ = auth.revoke_family_tokens(&claims.fam).await;
            Err(AuthError::InvalidRefresh)
        }
        Rotation::Revoked | Rotation::Unknown => Err(AuthError::InvalidRefresh),
    }
}

fn header_token(headers: &HeaderMap) -> Result<Option<&str>, AuthError> {
    bearer(headers).map_err(|_| AuthError::BadRequest("Malformed Authorization header".into()))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/refresh_token", tag = "auth",
    params(("DPoP" = Option<String>, Header, description = "A DPoP proof (RFC 9449) for this request: the tokens are then bound to its key. Required for a family bound to a key, and always when the app requires DPoP.")),
    description = "Rotates the refresh token sent as bearer: a new access token and the next refresh token.",
    security(("refresh_token" = [])),
    responses(
        (status = 200, description = "Rotated", body = TokenResponse, headers(("Cache-Control" = String, description = "no-store"))),
        (status = 400, description = "Malformed `Authorization` header", body = ErrorBody),
        (status = 401, description = "No token, or an expired, invalid or used one", body = ErrorBody, headers(("WWW-Authenticate" = String))),
        Unavailable,
    ),
))]
pub(super) async fn refresh_from_header<S: UserStore + RefreshTokenStore>(
    State(auth): State<Arc<Auth<S>>>,
    headers: HeaderMap,
    proof: Proof,
) -> Result<Response, AuthError> {
    let token = header_token(&headers)?.ok_or(AuthError::NotAuthenticated)?;
    rotate(&auth, token, proof).await
}

#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/refresh", tag = "auth",
    params(("DPoP" = Option<String>, Header, description = "A DPoP proof (RFC 9449) for this request: the tokens are then bound to its key. Required for a family bound to a key, and always when the app requires DPoP.")),
    description = "Rotates the refresh token sent in the body: a new access token and the next refresh token.",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "Rotated", body = TokenResponse, headers(("Cache-Control" = String, description = "no-store"))),
        (status = 401, description = "Expired, invalid or used refresh token", body = ErrorBody, headers(("WWW-Authenticate" = String))),
        JsonBodyRejections, Unavailable,
    ),
))]
pub(super) async fn refresh_from_body<S: UserStore + RefreshTokenStore>(
    State(auth): State<Arc<Auth<S>>>,
    proof: Proof,
    JsonBody(body): JsonBody<RefreshRequest>,
) -> Result<Response, AuthError> {
    rotate(&auth, &body.refresh_token, proof).await
}

#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/logout", tag = "auth",
    description = "Revokes the access token and/or the refresh token's family, sent as bearer and/or in the body.",
    // A `ref` body is optional (not `required`) without becoming nullable.
    request_body(
        content = ref("#/components/schemas/RefreshRequest"), content_type = "application/json",
        description = "Optional: the refresh token, when it is not sent as bearer",
    ),
    security(("bearer" = []), ("refresh_token" = []), ()),
    responses(
        (status = 204, description = "Logged out"),
        (status = 401, description = "No token, or an invalid one", body = ErrorBody, headers(("WWW-Authenticate" = String))),
        OptionalBodyRejections, Unavailable,
    ),
))]
pub(super) async fn logout<S: UserStore + RefreshTokenStore>(
    State(auth): State<Arc<Auth<S>>>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<StatusCode, AuthError> {
    let from_body = if body.is_empty() {
        None
    } else {
        Some(parse::<RefreshRequest>(&body)?.refresh_token)
    };
    let from_header = header_token(&headers)?;
    if from_body.is_none() && from_header.is_none() {
        return Err(AuthError::NotAuthenticated);
    }
    let mut refresh = from_body
        .as_deref()
        .map(|token| refresh_claims(&auth, token))
        .transpose()?;
    if let Some(token) = from_header {
        // The header may carry the access token (cut it short) or the refresh token.
        match auth.access_validator().validate::<Claims>(token) {
            Ok(verified) => {
                if let Some(jti) = &verified.claims.jti {
                    auth.revoke(Revoked::token(jti, verified.exp)).await?;
                }
            }
            Err(TokenError::Revoked) => {}
            Err(TokenError::RevocationUnknown) => return Err(AuthError::Unavailable),
            Err(_) if refresh.is_none() => refresh = Some(refresh_claims(&auth, token)?),
            Err(_) => return Err(AuthError::InvalidRefresh),
        }
    }
    if let Some(claims) = refresh {
        auth.store
            .revoke_family(&claims.fam)
            .await
            .map_err(unavailable)?;
        auth.revoke_family_tokens(&claims.fam).await?;
        tracing::info!(username = %claims.sub, "logged out");
    }
    Ok(StatusCode::NO_CONTENT)
}

#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/.well-known/jwks.json", tag = "auth",
    description = "The public signing keys (only with an asymmetric signing key).",
    responses((status = 200, description = "A JWK Set (RFC 7517 §5)", body = Object)),
))]
pub(super) async fn jwks<S: UserStore + RefreshTokenStore>(
    State(auth): State<Arc<Auth<S>>>,
) -> Response {
    let keys: Vec<_> = auth.issuer.key().public_jwk().into_iter().collect();
    Json(serde_json::json!({ "keys": keys })).into_response()
}
