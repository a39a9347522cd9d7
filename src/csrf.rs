//! CSRF protection for tokens that come from a cookie: a strict check of
//! where a browser says the request came from.
//!
//! A browser attaches cookies to requests that other sites start (a form
//! posted from another page, an image, a `fetch` in `no-cors` mode), so a
//! token read from a cookie proves only that the browser holds it, not that
//! the user's own page sent the request. A token sent in the
//! `Authorization` header needs no such check: another site cannot make the
//! browser send it.
//!
//! [`CsrfPolicy`] checks every request with an unsafe method (anything but
//! `GET`, `HEAD`, `OPTIONS` and `TRACE`) whose token came from a cookie:
//!
//! 1. `Sec-Fetch-Site` (Fetch Metadata, sent by every current browser):
//!    only `same-origin` passes. `same-site` (a sibling subdomain, another
//!    port), `cross-site` and `none` are refused.
//! 2. Without it, `Origin`: it must be one of the allowed origins, or, when
//!    none are configured, the origin of the request's own `Host`
//!    (`http://` or `https://` + host). `Origin: null` is refused.
//! 3. Without either header, the request is refused: a browser sends at
//!    least one of them on every unsafe request, so a request with neither
//!    is not from a browser page, and a client that is not a browser sends
//!    its token in the `Authorization` header.
//!
//! Headers sent more than once are refused. A refusal is 403 with
//! `{"detail":"Cross-site request refused"}`, before the token is checked
//! or anything is changed.
//!
//! Why this and not a CSRF token (OWASP's double-submit or synchronizer
//! patterns): these headers are set by the browser and cannot be set or
//! removed by a page's script, so a check of them needs no state on the
//! server, no secret, nothing for the app's JavaScript to carry, and it
//! keeps working when the refresh token rotates. OWASP's CSRF cheat sheet
//! lists Fetch Metadata and standard-header origin checks as defenses;
//! together with `SameSite=Strict` (or `Lax`) cookies, which most browsers
//! do not send on cross-site requests at all, an attack needs both a
//! browser that sends neither header and one that ignores `SameSite`.

use http::header::{HOST, ORIGIN};
use http::{HeaderMap, HeaderName, Method, Uri};

/// `Sec-Fetch-Site` (W3C Fetch Metadata).
const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

/// Which origins may send unsafe requests authenticated by a cookie; see
/// the [module docs](self).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CsrfPolicy {
    allowed_origins: Vec<String>,
}

/// Why a request was refused as cross-site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CrossSite {
    /// `Sec-Fetch-Site` other than `same-origin`, or an `Origin` that is
    /// not allowed.
    Refused,
    /// Neither header came (or one came more than once).
    Unproven,
}

impl CsrfPolicy {
    /// The default policy: only the request's own origin (from `Host`).
    pub fn new() -> Self {
        Self::default()
    }

    /// Allows `origin` (as browsers send it: `https://app.example.com`,
    /// with the port when it is not the default). Once any origin is
    /// allowed, the `Host` header no longer counts: only the listed origins
    /// pass. Use it when the server sits behind a proxy that rewrites
    /// `Host`.
    #[must_use]
    pub fn allow_origin(mut self, origin: impl Into<String>) -> Self {
        self.allowed_origins
            .push(origin.into().trim_end_matches('/').to_owned());
        self
    }

    /// The origins allowed explicitly.
    pub fn allowed_origins(&self) -> &[String] {
        &self.allowed_origins
    }

    /// Checks a request whose credentials came from a cookie. `strict`:
    /// a request with neither `Sec-Fetch-Site` nor `Origin` is refused (for
    /// a request authenticated by the cookie); otherwise only evidence of
    /// another origin refuses it (for `/login`, where clients that are not
    /// browsers send no cookie and no such header).
    pub(crate) fn check(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        strict: bool,
    ) -> Result<(), CrossSite> {
        if is_safe(method) {
            return Ok(());
        }
        if let Some(site) = only(headers, &SEC_FETCH_SITE)? {
            return if site.as_bytes() == b"same-origin" {
                Ok(())
            } else {
                Err(CrossSite::Refused)
            };
        }
        if let Some(origin) = only(headers, &ORIGIN)? {
            let origin = origin.to_str().map_err(|_| CrossSite::Refused)?;
            return if self.allows(origin, uri, headers) {
                Ok(())
            } else {
                Err(CrossSite::Refused)
            };
        }
        if strict {
            Err(CrossSite::Unproven)
        } else {
            Ok(())
        }
    }

    fn allows(&self, origin: &str, uri: &Uri, headers: &HeaderMap) -> bool {
        if !self.allowed_origins.is_empty() {
            return self.allowed_origins.iter().any(|allowed| allowed == origin);
        }
        let host = match headers.get(HOST) {
            Some(host) => host.to_str().ok(),
            None => uri.authority().map(http::uri::Authority::as_str),
        };
        let Some(host) = host.filter(|host| !host.is_empty()) else {
            return false;
        };
        origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"))
            .is_some_and(|rest| rest.eq_ignore_ascii_case(host))
    }
}

/// The one value of `name`: `None` when absent, refused when repeated.
fn only<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
) -> Result<Option<&'a http::HeaderValue>, CrossSite> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(CrossSite::Unproven);
    }
    Ok(first)
}

/// RFC 9110 §9.2.1 safe methods.
fn is_safe(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn check(policy: &CsrfPolicy, method: Method, pairs: &[(&str, &str)]) -> Result<(), CrossSite> {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_static("app.example:8000"));
        for (name, value) in pairs {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        policy.check(&method, &Uri::from_static("/x"), &headers, true)
    }

    #[test]
    fn safe_methods_pass_without_headers() {
        for method in [Method::GET, Method::HEAD, Method::OPTIONS, Method::TRACE] {
            assert_eq!(check(&CsrfPolicy::new(), method, &[]), Ok(()));
        }
    }

    #[test]
    fn only_same_origin_fetch_metadata_passes() {
        let policy = CsrfPolicy::new();
        let post = || Method::POST;
        assert_eq!(
            check(&policy, post(), &[("sec-fetch-site", "same-origin")]),
            Ok(())
        );
        for site in ["same-site", "cross-site", "none", "SAME-ORIGIN", ""] {
            assert_eq!(
                check(&policy, post(), &[("sec-fetch-site", site)]),
                Err(CrossSite::Refused),
                "{site:?}"
            );
        }
        // The browser's own header wins over an Origin that would pass.
        assert_eq!(
            check(
                &policy,
                post(),
                &[
                    ("sec-fetch-site", "cross-site"),
                    ("origin", "http://app.example:8000")
                ]
            ),
            Err(CrossSite::Refused)
        );
    }

    #[test]
    fn origin_must_match_host_or_the_allowed_list() {
        let policy = CsrfPolicy::new();
        assert_eq!(
            check(
                &policy,
                Method::DELETE,
                &[("origin", "http://app.example:8000")]
            ),
            Ok(())
        );
        assert_eq!(
            check(
                &policy,
                Method::PUT,
                &[("origin", "https://app.example:8000")]
            ),
            Ok(())
        );
        for origin in [
            "https://evil.example",
            "null",
            "http://app.example",
            "http://app.example:8000.evil",
        ] {
            assert_eq!(
                check(&policy, Method::PATCH, &[("origin", origin)]),
                Err(CrossSite::Refused),
                "{origin}"
            );
        }
        let listed = CsrfPolicy::new().allow_origin("https://front.example/");
        assert_eq!(
            check(
                &listed,
                Method::POST,
                &[("origin", "https://front.example")]
            ),
            Ok(())
        );
        assert_eq!(
            check(
                &listed,
                Method::POST,
                &[("origin", "http://app.example:8000")]
            ),
            Err(CrossSite::Refused)
        );
    }

    #[test]
    fn no_evidence_or_repeated_headers_are_refused_when_strict() {
        let policy = CsrfPolicy::new();
        assert_eq!(check(&policy, Method::POST, &[]), Err(CrossSite::Unproven));
        assert_eq!(
            check(
                &policy,
                Method::POST,
                &[
                    ("sec-fetch-site", "same-origin"),
                    ("sec-fetch-site", "same-origin")
                ]
            ),
            Err(CrossSite::Unproven)
        );
        let lenient = policy.check(
            &Method::POST,
            &Uri::from_static("/"),
            &HeaderMap::new(),
            false,
        );
        assert_eq!(lenient, Ok(()));
    }
}
