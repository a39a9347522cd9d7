//! The router's error type and its JSON responses.

use std::borrow::Cow;

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, StatusCode};
use serde::Serialize;

/// Why an auth route refused a request. Each variant has a fixed status and a
/// `{"detail": …}` body; internals (store errors) are logged, never sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// A field breaks a rule (422).
    #[error("{0}")]
    InvalidInput(Cow<'static, str>),
    /// The body is not acceptable JSON (400).
    #[error("{0}")]
    BadRequest(Cow<'static, str>),
    /// The body is not `application/json` (415).
    #[error("Content-Type must be application/json")]
    UnsupportedMediaType,
    /// The body exceeds the limit (413).
    #[error("Request body too large")]
    PayloadTooLarge,
    /// The username is taken (409).
    #[error("Account already exists")]
    AccountExists,
    /// Unknown user or wrong password; the two are indistinguishable (401).
    #[error("Invalid username or password")]
    InvalidCredentials,
    /// No token was presented (401).
    #[error("Not authenticated")]
    NotAuthenticated,
    /// The refresh token has expired (401).
    #[error("Refresh token expired")]
    RefreshExpired,
    /// The refresh token is invalid, used, or revoked (401).
    #[error("Invalid refresh token")]
    InvalidRefresh,
    /// An unsafe request authenticated by a cookie, or a login, that the
    /// browser said another origin sent (403); see [`csrf`](crate::csrf).
    #[error("Cross-site request refused")]
    CrossSite,
    /// Too many attempts (429).
    #[error("Too many attempts, try again later")]
    Throttled {
        /// Seconds until a retry may succeed.
        retry_after: u64,
    },
    /// Password hashing is saturated (503).
    #[error("Server busy, try again later")]
    Busy,
    /// The store cannot be reached (503).
    #[error("Service unavailable")]
    Unavailable,
    /// A DPoP proof at login or refresh was refused, or a refresh of a
    /// DPoP-bound family came without a proof by its key (401, with a
    /// `DPoP` challenge).
    #[error("{}", .0.detail())]
    Dpop(crate::dpop::DpopRejection),
}

impl AuthError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidInput(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::AccountExists => StatusCode::CONFLICT,
            Self::InvalidCredentials
            | Self::NotAuthenticated
            | Self::RefreshExpired
            | Self::InvalidRefresh => StatusCode::UNAUTHORIZED,
            Self::CrossSite => StatusCode::FORBIDDEN,
            Self::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Busy | Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Dpop(rejection) => rejection.status(),
        }
    }
}

/// The JSON error body.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// What went wrong, for people.
    #[cfg_attr(feature = "openapi", schema(example = "Invalid username or password"))]
    pub detail: String,
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = (
            status,
            Json(ErrorBody {
                detail: self.to_string(),
            }),
        )
            .into_response();
        let headers = response.headers_mut();
        match &self {
            Self::Throttled { retry_after } => {
                headers.insert(RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            Self::Busy | Self::Unavailable => {
                headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Self::NotAuthenticated => {
                headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::RefreshExpired | Self::InvalidRefresh | Self::InvalidCredentials => {
                headers.insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
            }
            Self::Dpop(rejection) => {
                headers.insert(WWW_AUTHENTICATE, rejection.challenge());
                if let Some(nonce) = rejection.nonce() {
                    headers.insert(crate::rejection::dpop::DPOP_NONCE, nonce.clone());
                }
            }
            _ => {}
        }
        response
    }
}
