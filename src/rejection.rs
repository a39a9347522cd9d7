//! Rejections and how they become responses (RFC 6750 §3): [`Rejection`],
//! the default format [`JsonRejection`] (its docs hold the table), and
//! [`OnRejection`] to replace the format (a closure works). A cookie token on
//! a cross-site unsafe request is refused with 403 ([`csrf`](crate::csrf)). A layer with
//! [DPoP](crate::dpop) answers with DPoP challenges instead (see
//! [`DpopRejection`]). When revocations cannot be told (a [stale
//! replica](crate::revocation::Verdict::Unknown)), the answer is 503 with
//! `Retry-After`.

pub(crate) mod dpop;
pub(crate) mod scope;
pub(crate) mod step_up;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Response, StatusCode};

use crate::error::TokenError;
use dpop::{DPOP_NONCE, DpopRejection};
use scope::ScopeList;
use step_up::StepUp;

/// Why a request was refused.
///
/// Cheap to clone: [`Rejection::InsufficientScope`] shares its list and
/// [`Rejection::InsufficientUserAuthentication`] its requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// No bearer token came with the request.
    MissingCredentials,
    /// The request was malformed: an `Authorization` header that is not valid
    /// `Bearer <token68>`, repeated `Authorization` headers, or a token sent
    /// in more than one way (RFC 6750 §2).
    InvalidRequest,
    /// A token came and was refused.
    InvalidToken(TokenError),
    /// A valid token that does not meet a route's requirement
    /// ([`authorize`](crate::authorize)): `required` lists the scopes the
    /// route needs (empty for a predicate).
    InsufficientScope {
        /// The scopes required, named in the challenge.
        required: ScopeList,
    },
    /// A valid token whose user did not authenticate as a route's
    /// [`StepUp`] requirement asks (RFC 9470): another `acr`, or too long
    /// ago. 401 with an `insufficient_user_authentication` challenge naming
    /// the `acr_values` and `max_age` required, so that the client can get
    /// a token that meets them.
    InsufficientUserAuthentication {
        /// The requirement, named in the challenge.
        required: StepUp,
    },
    /// An unsafe request (`POST`, `PUT`, `PATCH`, `DELETE`, …) whose token
    /// came from a cookie, and that the browser did not say came from the
    /// site's own pages: refused by the CSRF check of [`csrf`](crate::csrf)
    /// with 403 and `{"detail":"Cross-site request refused"}`.
    CrossSite,
    /// The token is otherwise valid, but whether it was revoked cannot be
    /// told: the revocation replica is stale beyond its limit. Fail closed:
    /// 503 with `Retry-After`, no challenge (the token is not at fault).
    Unavailable,
    /// Refused by a layer with [DPoP](crate::dpop): a DPoP challenge, and
    /// for `use_dpop_nonce` a `DPoP-Nonce` header.
    Dpop(DpopRejection),
}

impl Rejection {
    /// The response status: 400 for [`Rejection::InvalidRequest`], 403 for
    /// [`Rejection::InsufficientScope`], 503 for [`Rejection::Unavailable`],
    /// else 401.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidRequest => StatusCode::BAD_REQUEST,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::InsufficientScope { .. } | Self::CrossSite => StatusCode::FORBIDDEN,
            Self::Dpop(dpop) => dpop.status(),
            Self::MissingCredentials
            | Self::InvalidToken(_)
            | Self::InsufficientUserAuthentication { .. } => StatusCode::UNAUTHORIZED,
        }
    }

    /// The `WWW-Authenticate` challenge of RFC 6750 §3 (RFC 9470 §3 for
    /// [`Rejection::InsufficientUserAuthentication`]). For
    /// [`Rejection::CrossSite`], which is not about the token, it is
    /// `Bearer error="invalid_request"`, and for [`Rejection::Unavailable`]
    /// `Bearer`; [`JsonRejection`] sends none for either.
    pub fn challenge(&self) -> HeaderValue {
        // Constants: `from_static` checks its text when it is evaluated, and
        // here that happens at compile time, not on every rejection.
        const MISSING: HeaderValue = HeaderValue::from_static("Bearer");
        const INVALID_REQUEST: HeaderValue =
            HeaderValue::from_static("Bearer error=\"invalid_request\"");
        const EXPIRED: HeaderValue = HeaderValue::from_static(
            "Bearer error=\"invalid_token\", error_description=\"The access token expired\"",
        );
        const INVALID_TOKEN: HeaderValue =
            HeaderValue::from_static("Bearer error=\"invalid_token\"");
        match self {
            Self::MissingCredentials | Self::Unavailable => MISSING,
            Self::InvalidRequest | Self::CrossSite => INVALID_REQUEST,
            Self::InvalidToken(TokenError::Expired) => EXPIRED,
            Self::InvalidToken(_) => INVALID_TOKEN,
            Self::InsufficientScope { required } => required.challenge(),
            Self::InsufficientUserAuthentication { required } => required.challenge(),
            Self::Dpop(dpop) => dpop.challenge(),
        }
    }

    /// The client-facing message: stable and generic, it never says which
    /// check failed beyond "expired" (the scopes, `acr` values and maximum
    /// age a route needs are in the challenge, as RFC 6750 §3.1 and RFC 9470
    /// §3 ask).
    pub fn detail(&self) -> &'static str {
        match self {
            Self::MissingCredentials => "Not authenticated",
            Self::InvalidRequest => "Invalid request",
            Self::InvalidToken(TokenError::Expired) => "Token expired",
            Self::InvalidToken(_) => "Invalid token",
            Self::InsufficientScope { .. } => "Insufficient scope",
            Self::InsufficientUserAuthentication { .. } => "Insufficient user authentication",
            Self::CrossSite => "Cross-site request refused",
            Self::Unavailable => "Service unavailable",
            Self::Dpop(dpop) => dpop.detail(),
        }
    }

    fn json_body(&self) -> Bytes {
        Bytes::from_static(match self {
            Self::MissingCredentials => br#"{"detail":"Not authenticated"}"#,
            Self::InvalidRequest => br#"{"detail":"Invalid request"}"#,
            Self::InvalidToken(TokenError::Expired) => br#"{"detail":"Token expired"}"#,
            Self::InvalidToken(_) => br#"{"detail":"Invalid token"}"#,
            Self::InsufficientScope { .. } => br#"{"detail":"Insufficient scope"}"#,
            Self::InsufficientUserAuthentication { .. } => {
                br#"{"detail":"Insufficient user authentication"}"#
            }
            Self::CrossSite => br#"{"detail":"Cross-site request refused"}"#,
            Self::Unavailable => br#"{"detail":"Service unavailable"}"#,
            Self::Dpop(dpop) => dpop.json_body(),
        })
    }
}

/// Turns a [`Rejection`] into a response.
///
/// Implemented by [`JsonRejection`] (the default) and by any
/// `Fn(Rejection) -> Response<B> + Clone`.
pub trait OnRejection<B> {
    /// The response for `rejection`.
    fn on_rejection(&self, rejection: Rejection) -> Response<B>;
}

/// The default rejection format: the status and `WWW-Authenticate`
/// challenge of RFC 6750 §3, and a JSON body `{"detail": …}` with
/// `Content-Type: application/json`.
///
/// | Case ([`Rejection`]) | Status | `WWW-Authenticate` | Body |
/// |---|---|---|---|
/// | No credentials (`MissingCredentials`) | 401 | `Bearer` | `{"detail":"Not authenticated"}` |
/// | Expired (`InvalidToken(TokenError::Expired)`) | 401 | `Bearer error="invalid_token", error_description="The access token expired"` | `{"detail":"Token expired"}` |
/// | Any other bad token (`InvalidToken`) | 401 | `Bearer error="invalid_token"` | `{"detail":"Invalid token"}` |
/// | Malformed request (`InvalidRequest`) | 400 | `Bearer error="invalid_request"` | `{"detail":"Invalid request"}` |
/// | Valid token, requirement not met (`InsufficientScope`, from [`authorize`](crate::authorize)) | 403 | `Bearer error="insufficient_scope", scope="…"` | `{"detail":"Insufficient scope"}` |
/// | Valid token, user authentication too weak or too old (`InsufficientUserAuthentication`, from [`StepUp`]) | 401 | `Bearer error="insufficient_user_authentication", error_description="…", acr_values="…", max_age="…"` | `{"detail":"Insufficient user authentication"}` |
///
/// A DPoP refusal carries a DPoP challenge instead, and the `DPoP-Nonce`
/// header of a `use_dpop_nonce` refusal.
///
/// The body never says more than the table: which check refused a token
/// goes to the server's `tracing` logs, not to the client. For another
/// format, give the layer your own [`OnRejection`].
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonRejection;

impl<B: From<Bytes>> OnRejection<B> for JsonRejection {
    fn on_rejection(&self, rejection: Rejection) -> Response<B> {
        // Sized for its two headers up front: no growth on the way.
        const JSON: HeaderValue = HeaderValue::from_static("application/json");
        const RETRY_AFTER_SECONDS: HeaderValue = HeaderValue::from_static("1");
        let mut headers = HeaderMap::with_capacity(2);
        if rejection == Rejection::Unavailable {
            headers.insert(RETRY_AFTER, RETRY_AFTER_SECONDS);
        } else if rejection != Rejection::CrossSite {
            headers.insert(WWW_AUTHENTICATE, rejection.challenge());
        }
        headers.insert(CONTENT_TYPE, JSON);
        if let Rejection::Dpop(dpop) = &rejection
            && let Some(nonce) = dpop.nonce()
        {
            headers.insert(DPOP_NONCE, nonce.clone());
        }
        let mut response = Response::new(B::from(rejection.json_body()));
        *response.status_mut() = rejection.status();
        *response.headers_mut() = headers;
        response
    }
}

impl<B, F> OnRejection<B> for F
where
    F: Fn(Rejection) -> Response<B>,
{
    fn on_rejection(&self, rejection: Rejection) -> Response<B> {
        self(rejection)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_bodies_match_detail() {
        let cases = [
            Rejection::MissingCredentials,
            Rejection::InvalidRequest,
            Rejection::InvalidToken(TokenError::Expired),
            Rejection::InvalidToken(TokenError::InvalidSignature),
            Rejection::Unavailable,
            Rejection::InsufficientScope {
                required: ScopeList::default(),
            },
            Rejection::CrossSite,
            Rejection::InsufficientUserAuthentication {
                required: StepUp::authenticated_within(std::time::Duration::from_secs(60)),
            },
        ];
        for rejection in cases {
            let body: serde_json::Value = serde_json::from_slice(&rejection.json_body()).unwrap();
            assert_eq!(body, serde_json::json!({ "detail": rejection.detail() }));
        }
    }

    #[test]
    fn unknown_revocations_answer_503_with_retry_after_and_no_challenge() {
        let response: Response<Bytes> = JsonRejection.on_rejection(Rejection::Unavailable);
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[RETRY_AFTER], "1");
        assert!(response.headers().get(WWW_AUTHENTICATE).is_none());
        assert_eq!(
            response.body().as_ref(),
            br#"{"detail":"Service unavailable"}"#
        );
    }
}

/// Parameters a layer adds to every challenge it answers with, or passes
/// back from the routes behind it: `resource_metadata` (RFC 9728 §5.1), and
/// on a 401 the `scope` the resource needs (RFC 6750 §3), unless the
/// challenge names its own.
#[derive(Debug, Clone)]
pub(crate) struct ChallengeParams {
    /// `resource_metadata="…"`, if the layer publishes metadata.
    metadata: Option<String>,
    /// `scope="…"`, if the layer was given the scopes.
    scope: Option<String>,
}

impl ChallengeParams {
    /// The parameters for the metadata document at `metadata_url` (checked
    /// to be a URL that needs no quoting) and the scopes `scopes` (checked
    /// to be scope tokens); `None` when there are neither.
    pub(crate) fn new(metadata_url: Option<&str>, scopes: &[String]) -> Option<Self> {
        let params = Self {
            metadata: metadata_url.map(|url| format!("resource_metadata=\"{url}\"")),
            scope: (!scopes.is_empty()).then(|| format!("scope=\"{}\"", scopes.join(" "))),
        };
        (params.metadata.is_some() || params.scope.is_some()).then_some(params)
    }

    /// Adds the parameters to each `Bearer` or `DPoP` challenge of a 401
    /// or 403 response that does not carry them yet.
    pub(crate) fn apply<B>(&self, response: &mut Response<B>) {
        let status = response.status();
        if status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN {
            return;
        }
        let headers = response.headers_mut();
        if !headers.contains_key(WWW_AUTHENTICATE) {
            return;
        }
        let challenges: Vec<HeaderValue> = headers
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .map(|value| self.extend(value, status).unwrap_or_else(|| value.clone()))
            .collect();
        headers.remove(WWW_AUTHENTICATE);
        for challenge in challenges {
            headers.append(WWW_AUTHENTICATE, challenge);
        }
    }

    /// `value` (one or more challenges, RFC 9110 §11.6.1) with the
    /// parameters added to each `Bearer` and `DPoP` challenge that lacks
    /// them, or `None` to keep it as it is.
    fn extend(&self, value: &HeaderValue, status: StatusCode) -> Option<HeaderValue> {
        let challenges = split_challenges(value.to_str().ok()?);
        let mut extended = String::with_capacity(value.len() + 96);
        let mut changed = false;
        for (index, (scheme, params)) in challenges.iter().enumerate() {
            if index > 0 {
                extended.push_str(", ");
            }
            extended.push_str(scheme);
            let mut written = params.len();
            for (position, param) in params.iter().enumerate() {
                extended.push_str(if position == 0 { " " } else { ", " });
                extended.push_str(param);
            }
            let ours = scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("dpop");
            let named = |name: &str| params.iter().any(|param| param.starts_with(name));
            // A challenge that names a document of its own is another resource's.
            if !ours || named("resource_metadata=") {
                continue;
            }
            let mut add = |param: &str| {
                extended.push_str(if written == 0 { " " } else { ", " });
                extended.push_str(param);
                written += 1;
                changed = true;
            };
            if status == StatusCode::UNAUTHORIZED
                && let Some(scope) = &self.scope
                && !named("scope=")
            {
                add(scope);
            }
            if let Some(metadata) = &self.metadata {
                add(metadata);
            }
        }
        if !changed {
            return None;
        }
        HeaderValue::from_str(&extended).ok()
    }
}

/// The challenges of one `WWW-Authenticate` value: each scheme with its
/// parameters (`name=value`, or a token68), split at the commas that are
/// not inside a quoted string.
fn split_challenges(value: &str) -> Vec<(&str, Vec<&str>)> {
    let mut pieces = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (index, byte) in value.bytes().enumerate() {
        match byte {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            b',' if !quoted => {
                pieces.push(value[start..index].trim());
                start = index + 1;
            }
            _ => {}
        }
    }
    pieces.push(value[start..].trim());
    let mut challenges: Vec<(&str, Vec<&str>)> = Vec::new();
    for piece in pieces.into_iter().filter(|piece| !piece.is_empty()) {
        // A parameter is `name=…` with no space before the `=`; anything
        // else starts a challenge: its scheme, and maybe a first parameter.
        let is_param = piece.find('=').is_some_and(|eq| !piece[..eq].contains(' '));
        match challenges.last_mut() {
            Some((_, params)) if is_param => params.push(piece),
            _ => match piece.split_once(' ') {
                Some((scheme, first)) => challenges.push((scheme, vec![first.trim()])),
                None => challenges.push((piece, Vec::new())),
            },
        }
    }
    challenges
}

#[cfg(test)]
mod challenge_tests {
    use super::*;

    fn challenged(status: StatusCode, challenges: &[&str]) -> Vec<String> {
        let mut response = Response::new(());
        *response.status_mut() = status;
        for challenge in challenges {
            response
                .headers_mut()
                .append(WWW_AUTHENTICATE, HeaderValue::from_str(challenge).unwrap());
        }
        ChallengeParams::new(
            Some("https://api.example.com/.well-known/oauth-protected-resource"),
            &["read".to_owned(), "write".to_owned()],
        )
        .unwrap()
        .apply(&mut response);
        response
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .map(|value| value.to_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn a_bare_bearer_401_gains_the_scope_and_the_metadata_url() {
        assert_eq!(
            challenged(StatusCode::UNAUTHORIZED, &["Bearer"]),
            [
                r#"Bearer scope="read write", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource""#
            ]
        );
    }

    #[test]
    fn an_invalid_token_401_keeps_its_error_and_gains_the_parameters() {
        assert_eq!(
            challenged(
                StatusCode::UNAUTHORIZED,
                &[r#"Bearer error="invalid_token""#]
            ),
            [
                r#"Bearer error="invalid_token", scope="read write", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource""#
            ]
        );
    }

    #[test]
    fn a_403_names_only_the_metadata_and_keeps_its_own_scope() {
        assert_eq!(
            challenged(
                StatusCode::FORBIDDEN,
                &[r#"Bearer error="insufficient_scope", scope="admin""#]
            ),
            [
                r#"Bearer error="insufficient_scope", scope="admin", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource""#
            ]
        );
    }

    #[test]
    fn dpop_and_bearer_challenges_both_gain_it_and_other_schemes_do_not() {
        let out = challenged(
            StatusCode::UNAUTHORIZED,
            &[r#"DPoP algs="ES256""#, "Bearer", r#"Basic realm="x""#],
        );
        assert!(
            out[0].starts_with(r#"DPoP algs="ES256", scope="read write", resource_metadata=""#)
        );
        assert!(out[1].starts_with(r#"Bearer scope="read write", resource_metadata=""#));
        assert_eq!(out[2], r#"Basic realm="x""#);
    }

    #[test]
    fn each_challenge_of_one_header_value_gains_it() {
        assert_eq!(
            challenged(
                StatusCode::UNAUTHORIZED,
                &[
                    r#"Bearer error="invalid_token", DPoP algs="ES256 EdDSA", error="invalid_token""#
                ]
            ),
            [concat!(
                r#"Bearer error="invalid_token", scope="read write", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource", "#,
                r#"DPoP algs="ES256 EdDSA", error="invalid_token", scope="read write", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource""#
            )]
        );
        let bare = challenged(StatusCode::UNAUTHORIZED, &[r#"Bearer, DPoP algs="ES256""#]);
        assert_eq!(
            bare,
            [concat!(
                r#"Bearer scope="read write", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource", "#,
                r#"DPoP algs="ES256", scope="read write", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource""#
            )]
        );
    }

    #[test]
    fn a_comma_inside_a_quoted_value_does_not_split_a_challenge() {
        assert_eq!(
            split_challenges(r#"Bearer error_description="a, b", realm="x", Basic realm="y""#),
            [
                (
                    "Bearer",
                    vec![r#"error_description="a, b""#, r#"realm="x""#]
                ),
                ("Basic", vec![r#"realm="y""#]),
            ]
        );
    }

    #[test]
    fn scopes_alone_name_the_scope_on_a_401_and_nothing_else() {
        let params = ChallengeParams::new(None, &["read".to_owned()]).unwrap();
        let mut response = Response::new(());
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        response
            .headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        params.apply(&mut response);
        assert_eq!(
            response.headers()[WWW_AUTHENTICATE],
            r#"Bearer scope="read""#
        );
        assert!(ChallengeParams::new(None, &[]).is_none());
    }

    #[test]
    fn other_statuses_and_challenges_that_have_it_are_left_alone() {
        assert_eq!(challenged(StatusCode::OK, &["Bearer"]), ["Bearer"]);
        let already = r#"Bearer resource_metadata="https://elsewhere/""#;
        assert_eq!(challenged(StatusCode::UNAUTHORIZED, &[already]), [already]);
    }
}
