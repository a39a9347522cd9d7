//! Fetching documents over HTTP: the [`Fetch`] trait, and [`HttpFetch`], its
//! default implementation on reqwest with rustls.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, StatusCode};

/// The future a [`Fetch`] returns.
pub type FetchFuture<'a> = Pin<Box<dyn Future<Output = Result<Fetched, FetchError>> + Send + 'a>>;

/// Fetches a discovery document or a JWKS.
///
/// Implement it to bring your own HTTP client: a proxy, your own TLS
/// roots, a test double. The crate sets the limits in each
/// [`FetchRequest`] and enforces them itself as well: the whole fetch is
/// cut at [`FetchRequest::timeout`], and a body over
/// [`FetchRequest::max_body`] is refused, whatever the client does.
/// Statuses other than 200 and 304 are refused by the crate; return them
/// as they came.
pub trait Fetch: Send + Sync + 'static {
    /// Performs one `GET`.
    fn fetch(&self, request: FetchRequest) -> FetchFuture<'_>;
}

/// One `GET` the crate asks a [`Fetch`] for.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FetchRequest {
    /// The absolute URL.
    pub url: String,
    /// The `ETag` of the copy the crate holds, to send as `If-None-Match`.
    pub if_none_match: Option<HeaderValue>,
    /// The most the request may take, connection included.
    pub timeout: Duration,
    /// The largest body to read; stop reading and fail past it.
    pub max_body: usize,
}

/// A response: its status, headers and body.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Fetched {
    /// The status.
    pub status: StatusCode,
    /// The headers (`ETag` and `Cache-Control` are read).
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Fetched {
    /// A response of `status` with `headers` and `body`.
    pub fn new(status: StatusCode, headers: HeaderMap, body: Bytes) -> Self {
        Self {
            status,
            headers,
            body,
        }
    }
}

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The URL is not an absolute `https` URL (plain `http` is allowed for
    /// loopback hosts only).
    #[error("the URL {0:?} is not an https URL (http only on loopback)")]
    InsecureUrl(String),
    /// No answer within the timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The body is larger than the cap.
    #[error("the response body is larger than {limit} bytes")]
    TooLarge {
        /// The cap, in bytes.
        limit: usize,
    },
    /// An answer with a status other than 200 (or 304 to a conditional
    /// request).
    #[error("the server answered {0}")]
    Status(StatusCode),
    /// A redirect to another host, or too many redirects.
    #[error("a redirect to another host, or too many redirects")]
    Redirect,
    /// The connection or the HTTP exchange failed.
    #[error("the request failed: {0}")]
    Transport(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The default [`Fetch`]: reqwest with rustls and the platform's trust
/// roots, following redirects only within the same host (at most 5), with
/// no cookies and no proxy from the environment unless the client you pass
/// has one.
#[derive(Clone)]
pub struct HttpFetch {
    client: reqwest::Client,
}

impl fmt::Debug for HttpFetch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpFetch").finish_non_exhaustive()
    }
}

impl HttpFetch {
    /// A client with the defaults above.
    ///
    /// # Errors
    ///
    /// [`FetchError::Transport`] if the TLS backend cannot be set up.
    pub fn new() -> Result<Self, FetchError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                let same_host = attempt
                    .previous()
                    .first()
                    .is_some_and(|first| first.host_str() == attempt.url().host_str());
                if attempt.previous().len() > 5 || !same_host {
                    attempt.error(RedirectRefused)
                } else {
                    attempt.follow()
                }
            }))
            .no_proxy()
            .build()
            .map_err(|err| FetchError::Transport(Box::new(err)))?;
        Ok(Self { client })
    }

    /// Uses `client`, with its own proxy, TLS roots, timeouts and redirect
    /// policy. The crate's own timeout and body cap still apply.
    pub fn with_client(client: reqwest::Client) -> Self {
        Self { client }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("redirect refused")]
struct RedirectRefused;

impl Fetch for HttpFetch {
    fn fetch(&self, request: FetchRequest) -> FetchFuture<'_> {
        Box::pin(async move {
            let mut builder = self.client.get(&request.url).timeout(request.timeout);
            if let Some(etag) = &request.if_none_match {
                builder = builder.header(http::header::IF_NONE_MATCH, etag);
            }
            let mut response = builder.send().await.map_err(transport)?;
            if response
                .content_length()
                .is_some_and(|len| len > request.max_body as u64)
            {
                return Err(FetchError::TooLarge {
                    limit: request.max_body,
                });
            }
            let status = response.status();
            let headers = std::mem::take(response.headers_mut());
            let mut body = BytesMut::new();
            while let Some(chunk) = response.chunk().await.map_err(transport)? {
                if body.len() + chunk.len() > request.max_body {
                    return Err(FetchError::TooLarge {
                        limit: request.max_body,
                    });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Fetched::new(status, headers, body.freeze()))
        })
    }
}

fn transport(err: reqwest::Error) -> FetchError {
    if err.is_redirect() {
        FetchError::Redirect
    } else if err.is_timeout() {
        FetchError::Timeout(Duration::ZERO)
    } else {
        // reqwest's own text leaves out the cause ("connection refused", a
        // certificate error): keep the whole chain in the message.
        let mut message = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        FetchError::Transport(message.into())
    }
}

/// Checks that `url` is `https`, or `http` to a loopback host.
pub(crate) fn check_url(url: &str) -> Result<(), FetchError> {
    let insecure = || FetchError::InsecureUrl(url.to_owned());
    let uri: http::Uri = url.parse().map_err(|_| insecure())?;
    match uri.scheme_str() {
        Some("https") if uri.host().is_some() => Ok(()),
        Some("http") if uri.host().is_some_and(is_loopback) => Ok(()),
        _ => Err(insecure()),
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The freshness lifetime a response grants: `Cache-Control: max-age`
/// (`no-cache` and `no-store` count as zero), or `None` without one.
pub(crate) fn max_age(headers: &HeaderMap) -> Option<Duration> {
    let mut found = None;
    for value in headers.get_all(http::header::CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',') {
            let directive = directive.trim();
            let (name, arg) = directive.split_once('=').unwrap_or((directive, ""));
            if name.eq_ignore_ascii_case("max-age") {
                if let Ok(secs) = arg.trim_matches('"').parse::<u64>() {
                    found = Some(found.map_or(secs, |known: u64| known.min(secs)));
                }
            } else if name.eq_ignore_ascii_case("no-cache") || name.eq_ignore_ascii_case("no-store")
            {
                found = Some(0);
            }
        }
    }
    found.map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http_is_fetched() {
        for ok in [
            "https://idp.example/jwks",
            "http://127.0.0.1:8080/jwks",
            "http://localhost/x",
            "http://[::1]:9/x",
        ] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://idp.example/jwks",
            "http://10.0.0.1/x",
            "ftp://idp.example/x",
            "/jwks",
            "",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn max_age_is_read_from_cache_control() {
        let headers = |values: &[&str]| {
            let mut map = HeaderMap::new();
            for value in values {
                map.append(
                    http::header::CACHE_CONTROL,
                    HeaderValue::from_str(value).unwrap(),
                );
            }
            map
        };
        assert_eq!(max_age(&headers(&[])), None);
        assert_eq!(
            max_age(&headers(&["public, max-age=3600"])),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(
            max_age(&headers(&["Max-Age=\"60\""])),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            max_age(&headers(&["no-cache"])),
            Some(Duration::from_secs(0))
        );
        assert_eq!(max_age(&headers(&["max-age=x"])), None);
        assert_eq!(
            max_age(&headers(&["max-age=600", "max-age=30"])),
            Some(Duration::from_secs(30))
        );
    }
}
