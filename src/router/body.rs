//! A JSON body extractor whose every rejection is a `{"detail": …}` 4xx.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;

use super::error::AuthError;

/// Like `axum::Json`, but rejections are [`AuthError`]s: 415 for another
/// content type, 413 past the body limit, 400 for malformed JSON and 422 for
/// missing, unknown or wrongly typed fields, each naming the problem.
#[derive(Debug)]
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = AuthError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(AuthError::UnsupportedMediaType);
        }
        let RawBody(bytes) = RawBody::from_request(req, state).await?;
        parse(&bytes).map(JsonBody)
    }
}

/// The body's bytes, of any content type, with [`AuthError`] rejections: 413
/// past the body limit, 400 if it cannot be read.
#[derive(Debug)]
pub(crate) struct RawBody(pub(crate) Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = AuthError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(req, state)
            .await
            .map(RawBody)
            .map_err(|rejection| {
                if rejection.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
                    AuthError::PayloadTooLarge
                } else {
                    AuthError::BadRequest("Could not read the request body".into())
                }
            })
    }
}

/// Parses a JSON object body. Other JSON values are refused, arrays included
/// (serde would otherwise fill a struct's fields from an array's elements).
pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AuthError> {
    if !crate::jws::is_json_object(bytes) {
        return Err(
            if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() {
                AuthError::InvalidInput("body: expected a JSON object".into())
            } else {
                AuthError::BadRequest("Malformed JSON".into())
            },
        );
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error(&mut de);
    value.and_then(|value| {
        de.end()
            .map(|()| value)
            .map_err(|_| AuthError::BadRequest("Malformed JSON".into()))
    })
}

fn serde_path_to_error<'de, T: DeserializeOwned>(
    de: &mut serde_json::Deserializer<serde_json::de::SliceRead<'de>>,
) -> Result<T, AuthError> {
    T::deserialize(de).map_err(|error| match error.classify() {
        serde_json::error::Category::Data => AuthError::InvalidInput(clean(&error).into()),
        _ => AuthError::BadRequest("Malformed JSON".into()),
    })
}

/// serde's message without the position suffix, and without echoing input values.
fn clean(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let text = text.split(" at line ").next().unwrap_or_default();
    // "invalid type: string \"…\", expected …" would echo the input; keep the shape only.
    match text.split_once(", expected ") {
        Some((found, expected)) if found.starts_with("invalid type") => {
            let kind = found
                .trim_start_matches("invalid type: ")
                .split(' ')
                .next()
                .unwrap_or("value");
            format!("invalid type: {kind}, expected {expected}")
        }
        _ => text.to_owned(),
    }
}
