//! Where the token comes from: the `Authorization` header, and opt-in a
//! cookie or a query parameter (for WebSocket upgrades, which cannot set
//! headers from browsers).
//!
//! RFC 6750 §2 forbids sending the token more than one way in one request;
//! such a request, like one with several `Authorization` headers, is
//! malformed.

use http::header::{AUTHORIZATION, COOKIE};
use http::{HeaderMap, Uri};

/// Why no token could be taken from a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SourceError {
    /// Malformed: answered with 400 `invalid_request`.
    Malformed,
}

/// The scheme a token came with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// `Authorization: Bearer`, a cookie or a query parameter.
    Bearer,
    /// `Authorization: DPoP` (RFC 9449 §7.1), when the layer takes DPoP.
    Dpop,
}

/// The configured token sources.
#[derive(Debug, Clone, Default)]
pub(crate) struct TokenSources {
    pub(crate) cookie: Option<String>,
    pub(crate) query: Option<String>,
    /// Whether `Authorization: DPoP` is a token source; otherwise it is
    /// another scheme, as `Basic` is.
    pub(crate) dpop: bool,
}

impl TokenSources {
    /// As [`TokenSources::find_via`], without where the token came from.
    #[cfg(test)]
    pub(crate) fn find<'a>(
        &self,
        headers: &'a HeaderMap,
        uri: &'a Uri,
    ) -> Result<Option<(Scheme, &'a [u8])>, SourceError> {
        Ok(self
            .find_via(headers, uri)?
            .map(|(scheme, token, _)| (scheme, token)))
    }

    /// The request's token, exactly as sent, and where it came from (a
    /// token from a cookie needs the CSRF check).
    ///
    /// It is not yet checked to be a token68: the validator's own checks
    /// are stricter (canonical base64url and dots only), and for a token it
    /// refuses, [`is_token68`] tells a malformed request from an invalid
    /// token. A valid token is thus scanned once, not once more here.
    pub(crate) fn find_via<'a>(
        &self,
        headers: &'a HeaderMap,
        uri: &'a Uri,
    ) -> Result<Option<Found<'a>>, SourceError> {
        let (scheme, mut found) = match authorization_unchecked(headers, self.dpop)? {
            Some((scheme, token)) => (scheme, Some((token, Via::Header))),
            None => (Scheme::Bearer, None),
        };
        if let Some(name) = &self.cookie {
            let from_cookie = cookie(headers, name)?.map(|token| (token, Via::Cookie));
            found = only_one(found, from_cookie)?;
        }
        if let Some(name) = &self.query {
            found = only_one(found, query(uri, name)?.map(|token| (token, Via::Query)))?;
        }
        Ok(found.map(|(token, via)| (scheme, token, via)))
    }
}

/// A token found: its scheme, its bytes as sent, and where it came from.
pub(crate) type Found<'a> = (Scheme, &'a [u8], Via);

/// Where a token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    /// The `Authorization` header.
    Header,
    /// A cookie: unsafe requests need the CSRF check.
    Cookie,
    /// A query parameter.
    Query,
}

fn only_one<T>(a: Option<T>, b: Option<T>) -> Result<Option<T>, SourceError> {
    match (a, b) {
        (Some(_), Some(_)) => Err(SourceError::Malformed),
        (a, b) => Ok(a.or(b)),
    }
}

/// The token68 of an `Authorization: Bearer <token>` header.
///
/// The scheme is matched case-insensitively (RFC 7235 §2.1). Another scheme
/// (e.g. `Basic`) means "no bearer credentials", not a malformed request.
#[cfg(any(test, feature = "router"))]
pub(crate) fn bearer(headers: &HeaderMap) -> Result<Option<&str>, SourceError> {
    match authorization_unchecked(headers, false)? {
        // A token68 is visible ASCII: checking it checks the whole value.
        Some((_, token)) if is_token68(token) => std::str::from_utf8(token)
            .map(Some)
            .map_err(|_| SourceError::Malformed),
        Some(_) => Err(SourceError::Malformed),
        None => Ok(None),
    }
}

/// As [`bearer`], without checking that the token is a token68; with
/// `dpop`, the `DPoP` scheme is taken too.
fn authorization_unchecked(
    headers: &HeaderMap,
    dpop: bool,
) -> Result<Option<(Scheme, &[u8])>, SourceError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(SourceError::Malformed);
    }
    let value = value.as_bytes();
    let (scheme, rest) = match memchr::memchr(b' ', value) {
        Some(at) => (&value[..at], &value[at + 1..]),
        None => (value, &b""[..]),
    };
    let scheme = if scheme.eq_ignore_ascii_case(b"bearer") {
        Scheme::Bearer
    } else if dpop && scheme.eq_ignore_ascii_case(b"dpop") {
        Scheme::Dpop
    } else {
        return if visible_ascii(value) && !scheme.is_empty() && is_token(scheme) {
            Ok(None)
        } else {
            Err(SourceError::Malformed)
        };
    };
    let spaces = rest.iter().take_while(|b| **b == b' ').count();
    Ok(Some((scheme, &rest[spaces..])))
}

/// The value of the cookie `name`, from every `Cookie` header.
///
/// An empty value (`name=`, what a browser may keep after a logout that
/// emptied the cookie) is no token: the request has no credentials from
/// this cookie. The cookie sent twice with values is malformed.
pub(crate) fn cookie<'a>(
    headers: &'a HeaderMap,
    name: &str,
) -> Result<Option<&'a [u8]>, SourceError> {
    let mut found = None;
    for value in headers.get_all(COOKIE) {
        // Not text: another app's cookies, not a token of ours.
        let Ok(value) = value.to_str() else { continue };
        for pair in value.split(';') {
            let Some((key, token)) = pair.trim_matches(' ').split_once('=') else {
                continue;
            };
            if key == name && !token.is_empty() {
                found = only_one(found, Some(token.as_bytes()))?;
            }
        }
    }
    Ok(found)
}

fn query<'a>(uri: &'a Uri, name: &str) -> Result<Option<&'a [u8]>, SourceError> {
    let mut found = None;
    for pair in uri.query().unwrap_or_default().split('&') {
        let (key, token) = pair.split_once('=').unwrap_or((pair, ""));
        if key == name {
            found = only_one(found, Some(token.as_bytes()))?;
        }
    }
    Ok(found)
}

/// RFC 7235 token68: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
pub(crate) fn is_token68(value: &[u8]) -> bool {
    let padding = value.iter().rev().take_while(|b| **b == b'=').count();
    let body = &value[..value.len() - padding];
    // Branch-free, so that the compiler vectorizes it: this runs over the
    // whole of every token the layer refuses.
    !body.is_empty()
        && body.iter().fold(true, |ok, &b| {
            // `-`, `.`, `/` and the digits are one range (0x2D..=0x39).
            ok & (((b | 0x20).wrapping_sub(b'a') < 26)
                | (b.wrapping_sub(b'-') <= b'9' - b'-')
                | (b == b'_')
                | (b == b'~')
                | (b == b'+'))
        })
}

/// What `HeaderValue::to_str` accepts: visible ASCII and tab.
fn visible_ascii(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .all(|&b| b == b'\t' || (b' '..=b'~').contains(&b))
}

/// RFC 7230 token (an auth-scheme name).
fn is_token(value: &[u8]) -> bool {
    value
        .iter()
        .copied()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        for value in [
            "Bearer a.b.c",
            "bearer a.b.c",
            "BEARER a.b.c",
            "bEaReR   a.b.c",
        ] {
            assert_eq!(bearer(&headers(&[value])), Ok(Some("a.b.c")), "{value}");
        }
    }

    #[test]
    fn other_schemes_are_no_credentials() {
        assert_eq!(bearer(&headers(&["Basic dXNlcjpwYXNz"])), Ok(None));
        assert_eq!(bearer(&HeaderMap::new()), Ok(None));
    }

    #[test]
    fn malformed_bearer_headers_are_invalid_requests() {
        for value in [
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearer a,b",
            "",
            " Bearer x",
            "Bearer ==",
        ] {
            assert_eq!(
                bearer(&headers(&[value])),
                Err(SourceError::Malformed),
                "{value:?}"
            );
        }
        assert_eq!(
            bearer(&headers(&["Bearer a", "Bearer a"])),
            Err(SourceError::Malformed)
        );
    }

    #[test]
    fn cookie_and_query_are_opt_in_and_exclusive() {
        let sources = TokenSources {
            cookie: Some("jwt".into()),
            query: Some("access_token".into()),
            dpop: false,
        };
        let mut map = HeaderMap::new();
        map.insert(COOKIE, HeaderValue::from_static("theme=dark; jwt=c.o.k"));
        let plain: Uri = "/ws".parse().unwrap();
        assert_eq!(
            sources.find(&map, &plain),
            Ok(Some((Scheme::Bearer, &b"c.o.k"[..])))
        );
        assert_eq!(TokenSources::default().find(&map, &plain), Ok(None));

        let with_query: Uri = "/ws?x=1&access_token=q.u.e".parse().unwrap();
        assert_eq!(
            sources.find(&HeaderMap::new(), &with_query),
            Ok(Some((Scheme::Bearer, &b"q.u.e"[..])))
        );
        assert_eq!(sources.find(&map, &with_query), Err(SourceError::Malformed));
        let twice: Uri = "/ws?access_token=a&access_token=b".parse().unwrap();
        assert_eq!(
            sources.find(&HeaderMap::new(), &twice),
            Err(SourceError::Malformed)
        );
    }

    #[test]
    fn an_empty_cookie_is_no_token() {
        let sources = TokenSources {
            cookie: Some("jwt".into()),
            ..TokenSources::default()
        };
        let uri: Uri = "/".parse().unwrap();
        for value in ["jwt=", "theme=dark; jwt=", "jwt=; theme=dark", "jwt=;jwt="] {
            let mut map = HeaderMap::new();
            map.insert(COOKIE, HeaderValue::from_str(value).unwrap());
            assert_eq!(sources.find(&map, &uri), Ok(None), "{value:?}");
        }
        // An emptied copy next to a real one: the real one counts.
        let mut map = HeaderMap::new();
        map.insert(COOKIE, HeaderValue::from_static("jwt=; jwt=a.b.c"));
        assert_eq!(
            sources.find(&map, &uri),
            Ok(Some((Scheme::Bearer, &b"a.b.c"[..])))
        );
        assert_eq!(
            sources
                .find_via(&map, &uri)
                .map(|found| found.map(|(_, _, via)| via)),
            Ok(Some(Via::Cookie))
        );
        // Two with values, even in two headers: malformed.
        let mut map = HeaderMap::new();
        map.append(COOKIE, HeaderValue::from_static("jwt=a.b.c"));
        map.append(COOKIE, HeaderValue::from_static("jwt=a.b.c"));
        assert_eq!(sources.find(&map, &uri), Err(SourceError::Malformed));
    }

    #[test]
    fn the_dpop_scheme_is_a_source_only_when_dpop_is_on() {
        let map = headers(&["DPoP a.b.c"]);
        let uri: Uri = "/".parse().unwrap();
        assert_eq!(TokenSources::default().find(&map, &uri), Ok(None));
        let dpop = TokenSources {
            dpop: true,
            ..TokenSources::default()
        };
        assert_eq!(
            dpop.find(&map, &uri),
            Ok(Some((Scheme::Dpop, &b"a.b.c"[..])))
        );
        assert_eq!(
            dpop.find(&headers(&["dpop   a.b.c"]), &uri),
            Ok(Some((Scheme::Dpop, &b"a.b.c"[..])))
        );
        assert_eq!(bearer(&map), Ok(None));
    }
}
