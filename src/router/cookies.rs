//! The router's cookie mode; see [`CookieConfig`].

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use super::Auth;
use super::body::{JsonBody, RawBody, parse};
use super::dpop::Proof;
use super::error::AuthError;
use super::handlers::{self, Credentials, RefreshRequest};
use crate::claims::Claims;
use crate::csrf::CsrfPolicy;
use crate::error::BuildError;
use crate::store::{RefreshTokenStore, UserStore};

/// The `SameSite` attribute of the token cookies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SameSite {
    /// Never sent with a request that another site starts (the default).
    #[default]
    Strict,
    /// Also sent when the user follows a link from another site to yours
    /// (top-level `GET` navigations), so a page reached from a link sees
    /// the user logged in.
    Lax,
}

/// How the router's cookie mode names and scopes its cookies.
///
/// The router's cookie mode, for browser apps: tokens in `HttpOnly`
/// cookies instead of response bodies, and the CSRF check of
/// [`csrf`](crate::csrf) on every route a cookie authenticates.
///
/// With [`AuthBuilder::cookies`](super::AuthBuilder::cookies):
///
/// | Route | In cookie mode |
/// |---|---|
/// | `POST /login` | sets both cookies; the body is `{"token_type":"cookie","expires_in":…}`. Refused (403) when the browser says another origin sent it |
/// | `POST /refresh` | takes the refresh token from its cookie (or, without the cookie, from the JSON body), sets both cookies anew |
/// | `POST /logout` | takes the tokens from the cookies (or, without them, as before), revokes them and clears both cookies (`Max-Age=0`) |
/// | [`Auth::layer`](super::Auth::layer), [`Auth::layer_builder`](super::Auth::layer_builder) | also read the access cookie |
///
/// Both cookies are `HttpOnly`, `Secure` (unless turned off for plain-HTTP
/// development), `SameSite=Strict` (or `Lax`), with `Max-Age` equal to the
/// token's lifetime. The access cookie's `Path` is `/` by default; the
/// refresh cookie's should be the path the router is mounted at, so that
/// the refresh token only goes to the auth routes: set it with
/// [`CookieConfig::refresh_path`] (for example `/auth` when the router is
/// nested there).
///
/// An unsafe request authenticated by a cookie must pass the CSRF check
/// (403 `{"detail":"Cross-site request refused"}` otherwise, before anything
/// changes). A request that sends a token both in a cookie and another way
/// is refused with 400; so is a cookie sent twice.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct CookieConfig {
    access_name: String,
    refresh_name: String,
    access_path: String,
    refresh_path: String,
    secure: bool,
    same_site: SameSite,
    csrf: CsrfPolicy,
}

impl Default for CookieConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl CookieConfig {
    /// Cookies `access_token` (path `/`) and `refresh_token` (path `/`:
    /// set [`refresh_path`](Self::refresh_path) to where the router is
    /// mounted), `Secure`, `HttpOnly`, `SameSite=Strict`, and the CSRF
    /// policy [`CsrfPolicy::new`].
    pub fn new() -> Self {
        Self {
            access_name: "access_token".to_owned(),
            refresh_name: "refresh_token".to_owned(),
            access_path: "/".to_owned(),
            refresh_path: "/".to_owned(),
            secure: true,
            same_site: SameSite::Strict,
            csrf: CsrfPolicy::new(),
        }
    }

    /// The access cookie's name (default `access_token`).
    pub fn access_name(mut self, name: impl Into<String>) -> Self {
        self.access_name = name.into();
        self
    }

    /// The refresh cookie's name (default `refresh_token`).
    pub fn refresh_name(mut self, name: impl Into<String>) -> Self {
        self.refresh_name = name.into();
        self
    }

    /// The access cookie's `Path`: where your protected routes are
    /// (default `/`).
    pub fn access_path(mut self, path: impl Into<String>) -> Self {
        self.access_path = path.into();
        self
    }

    /// The refresh cookie's `Path`: where the router is mounted, so that
    /// the browser sends the refresh token to the auth routes only (default
    /// `/`, right for a router merged at the root).
    pub fn refresh_path(mut self, path: impl Into<String>) -> Self {
        self.refresh_path = path.into();
        self
    }

    /// Whether the cookies are `Secure` (default `true`). Turn it off only
    /// for development over plain HTTP.
    pub fn secure(mut self, secure: bool) -> Self {
        self.secure = secure;
        self
    }

    /// The `SameSite` attribute (default [`SameSite::Strict`]).
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = same_site;
        self
    }

    /// The CSRF policy of the cookie-authenticated routes and of the layers
    /// [`Auth`] hands out (default [`CsrfPolicy::new`]: the request's own
    /// origin only).
    pub fn csrf(mut self, policy: CsrfPolicy) -> Self {
        self.csrf = policy;
        self
    }

    /// The access cookie's name.
    pub fn access_cookie_name(&self) -> &str {
        &self.access_name
    }

    /// The refresh cookie's name.
    pub fn refresh_cookie_name(&self) -> &str {
        &self.refresh_name
    }

    /// The CSRF policy.
    pub fn csrf_policy(&self) -> &CsrfPolicy {
        &self.csrf
    }

    /// Checks the names and paths.
    pub(super) fn validate(&self) -> Result<(), BuildError> {
        for name in [&self.access_name, &self.refresh_name] {
            if name.is_empty() || !name.bytes().all(is_cookie_name_byte) {
                return Err(BuildError::Cookies(
                    "a cookie name must be a non-empty RFC 6265 token",
                ));
            }
        }
        if self.access_name == self.refresh_name {
            return Err(BuildError::Cookies(
                "the access and refresh cookies need two names",
            ));
        }
        for path in [&self.access_path, &self.refresh_path] {
            if !path.starts_with('/')
                || path
                    .bytes()
                    .any(|b| b == b';' || !(0x20..0x7f).contains(&b))
            {
                return Err(BuildError::Cookies(
                    "a cookie path must start with / and hold no ; or control characters",
                ));
            }
        }
        Ok(())
    }

    fn cookie(&self, name: &str, value: &str, path: &str, max_age: u64) -> HeaderValue {
        let max_age = i64::try_from(max_age).unwrap_or(i64::MAX);
        let cookie = cookie::Cookie::build((name, value))
            .path(path)
            .http_only(true)
            .secure(self.secure)
            .same_site(match self.same_site {
                SameSite::Strict => cookie::SameSite::Strict,
                SameSite::Lax => cookie::SameSite::Lax,
            })
            .max_age(cookie::time::Duration::seconds(max_age))
            .build();
        // Names and paths were checked at build, and tokens are base64url
        // and dots: the header is always valid.
        HeaderValue::try_from(cookie.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// The two `Set-Cookie` headers that carry fresh tokens.
    pub(super) fn set(
        &self,
        access: &str,
        access_max_age: u64,
        refresh: &str,
        refresh_max_age: u64,
    ) -> [HeaderValue; 2] {
        [
            self.cookie(&self.access_name, access, &self.access_path, access_max_age),
            self.cookie(
                &self.refresh_name,
                refresh,
                &self.refresh_path,
                refresh_max_age,
            ),
        ]
    }

    /// The two `Set-Cookie` headers that make the browser drop the cookies.
    fn clear(&self) -> [HeaderValue; 2] {
        [
            self.cookie(&self.access_name, "", &self.access_path, 0),
            self.cookie(&self.refresh_name, "", &self.refresh_path, 0),
        ]
    }

    /// The answer of login and refresh in cookie mode: the tokens in
    /// cookies, only their lifetime in the body.
    pub(super) fn tokens_response(
        &self,
        access: &str,
        expires_in: u64,
        refresh: &str,
        refresh_expires_in: u64,
    ) -> Response {
        let body = serde_json::json!({ "token_type": "cookie", "expires_in": expires_in });
        let mut response = Json(body).into_response();
        let headers = response.headers_mut();
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        for value in self.set(access, expires_in, refresh, refresh_expires_in) {
            headers.append(SET_COOKIE, value);
        }
        response
    }
}

/// RFC 6265 §4.1.1 cookie-name: an RFC 7230 token.
fn is_cookie_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The value of cookie `name` as text: `None` when absent or empty, 400
/// when it comes twice.
fn read_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, AuthError> {
    match crate::source::cookie(headers, name) {
        Ok(Some(value)) => std::str::from_utf8(value)
            .map(Some)
            .map_err(|_| AuthError::BadRequest("Malformed cookie".into())),
        Ok(None) => Ok(None),
        Err(_) => Err(AuthError::BadRequest(
            "A token cookie was sent more than once".into(),
        )),
    }
}

fn check_csrf(
    config: &CookieConfig,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    strict: bool,
) -> Result<(), AuthError> {
    config
        .csrf
        .check(method, uri, headers, strict)
        .map_err(|_| {
            tracing::info!("cross-site request to an auth route refused");
            AuthError::CrossSite
        })
}

/// `POST /login` in cookie mode: refused when the browser says another
/// origin sent it (login CSRF), then as without cookies.
pub(super) async fn login<S: UserStore + RefreshTokenStore>(
    State(auth): State<Arc<Auth<S>>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    proof: Proof,
    body: JsonBody<Credentials>,
) -> Result<Response, AuthError> {
    if let Some(config) = &auth.cookies {
        // Lenient: clients that are not browsers send neither header.
        check_csrf(config, &method, &uri, &headers, false)?;
    }
    handlers::login(State(auth), peer, headers, proof, body).await
}

/// `POST /refresh` in cookie mode.
pub(super) async fn refresh<S: UserStore + RefreshTokenStore>(
    State(auth): State<Arc<Auth<S>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    proof: Proof,
    RawBody(body): RawBody,
) -> Result<Response, AuthError> {
    let from_cookie = match &auth.cookies {
        Some(config) => read_cookie(&headers, &config.refresh_name)?.map(|token| (config, token)),
        None => None,
    };
    if let Some((config, token)) = from_cookie {
        // First: a forged request is told so, whatever else it carries.
        check_csrf(config, &method, &uri, &headers, true)?;
        if !body.is_empty() {
            return Err(AuthError::BadRequest(
                "Send the refresh token one way: in its cookie or in the body".into(),
            ));
        }
        return handlers::rotate(&auth, token, proof).await;
    }
    if body.is_empty() {
        return Err(AuthError::NotAuthenticated);
    }
    if !is_json(&headers) {
        return Err(AuthError::UnsupportedMediaType);
    }
    let request: RefreshRequest = parse(&body)?;
    handlers::rotate(&auth, &request.refresh_token, proof).await
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

/// `POST /logout` in cookie mode.
pub(super) async fn logout<S: UserStore + RefreshTokenStore>(
    State(auth): State<Arc<Auth<S>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, AuthError> {
    let Some(config) = auth.cookies.clone() else {
        return handlers::logout(State(auth), headers, RawBody(body))
            .await
            .map(IntoResponse::into_response);
    };
    let access = read_cookie(&headers, &config.access_name)?;
    let refresh = read_cookie(&headers, &config.refresh_name)?;
    if access.is_none() && refresh.is_none() {
        // No cookies: a client of the header or the body, as without
        // cookie mode; the browser's cookies are cleared all the same.
        let status = handlers::logout(State(auth), headers, RawBody(body)).await?;
        return Ok(cleared(&config, status));
    }
    check_csrf(&config, &method, &uri, &headers, true)?;
    if !body.is_empty() || headers.contains_key(AUTHORIZATION) {
        return Err(AuthError::BadRequest(
            "Send the tokens one way: in their cookies, or as bearer and in the body".into(),
        ));
    }
    let access = access.and_then(|token| auth.access_validator().validate::<Claims>(token).ok());
    let refresh = refresh.map(|token| handlers::refresh_claims(&auth, token));
    let family = match (refresh, &access) {
        (Some(Ok(claims)), _) => Some(claims),
        (Some(Err(error)), None) => return Err(error),
        // An expired or used refresh cookie does not stop the access token's revocation.
        (Some(Err(_)), Some(_)) | (None, Some(_)) => None,
        (None, None) => return Err(AuthError::InvalidRefresh),
    };
    if let Some(verified) = access
        && let Some(jti) = &verified.claims.jti
    {
        auth.revoked.revoke(jti, verified.exp);
    }
    if let Some(claims) = family {
        auth.store
            .revoke_family(&claims.fam)
            .await
            .map_err(handlers::unavailable)?;
        tracing::info!(username = %claims.sub, "logged out");
    }
    Ok(cleared(&config, StatusCode::NO_CONTENT))
}

fn cleared(config: &CookieConfig, status: StatusCode) -> Response {
    let mut response = status.into_response();
    for value in config.clear() {
        response.headers_mut().append(SET_COOKIE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_carry_every_attribute_and_clearing_keeps_the_path() {
        let config = CookieConfig::new().refresh_path("/auth");
        let [access, refresh] = config.set("a.b.c", 1800, "r.e.f", 36_000);
        let access = access.to_str().unwrap();
        let refresh = refresh.to_str().unwrap();
        for attribute in ["HttpOnly", "SameSite=Strict", "Secure"] {
            assert!(access.contains(attribute), "{access}");
            assert!(refresh.contains(attribute), "{refresh}");
        }
        assert!(
            access.starts_with("access_token=a.b.c;")
                && access.contains("Path=/;")
                && access.contains("Max-Age=1800"),
            "{access}"
        );
        assert!(
            refresh.starts_with("refresh_token=r.e.f;")
                && refresh.contains("Path=/auth")
                && refresh.contains("Max-Age=36000"),
            "{refresh}"
        );
        let [access, refresh] = config.clear();
        assert!(access.to_str().unwrap().starts_with("access_token=;"));
        assert!(refresh.to_str().unwrap().contains("Max-Age=0"));
        assert!(refresh.to_str().unwrap().contains("Path=/auth"));

        let lax = CookieConfig::new().secure(false).same_site(SameSite::Lax);
        let [access, _] = lax.set("t", 1, "r", 1);
        assert!(!access.to_str().unwrap().contains("Secure"));
        assert!(access.to_str().unwrap().contains("SameSite=Lax"));
    }

    #[test]
    fn bad_names_and_paths_fail_the_build() {
        assert!(CookieConfig::new().validate().is_ok());
        for config in [
            CookieConfig::new().access_name(""),
            CookieConfig::new().access_name("a b"),
            CookieConfig::new().refresh_name("x;y"),
            CookieConfig::new().refresh_name("access_token"),
            CookieConfig::new().refresh_path("auth"),
            CookieConfig::new().access_path("/a;Domain=evil"),
            CookieConfig::new().access_path("/a\n"),
        ] {
            assert!(
                matches!(config.validate(), Err(BuildError::Cookies(_))),
                "{config:?}"
            );
        }
    }
}
