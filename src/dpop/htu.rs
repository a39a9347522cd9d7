//! The URL a proof names (`htu`) and the URL of the request, both in one
//! normal form (RFC 9449 §4.3 step 9, RFC 3986 §6.2.2 and §6.2.3).
//!
//! A service sees only the path of a request: the scheme and host the
//! client used are the proxy's business, and the `Host` header is the
//! client's word. So the layer does not build the request URL from the
//! request: it is configured with the service's external base URL
//! ([`Dpop::new`](super::Dpop::new)), and the request's path is appended to
//! it. A proof made for another host, port, scheme or path is refused.
//!
//! The normal form: the scheme and host in lower case, the default port
//! (80 for `http`, 443 for `https`) left out, an empty path as `/`,
//! percent-encodings in upper case and those of unreserved characters
//! decoded; the query and the fragment dropped. Nothing else is
//! normalised: `/a/../b` and `/b` are different URLs here, and a client
//! must name the path it requests.

use std::fmt::Write as _;

/// A URL in the normal form, without query and fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NormalUrl(String);

/// The service's external base URL: scheme, authority and an optional path
/// prefix (without a trailing slash), in normal form.
#[derive(Debug, Clone)]
pub(crate) struct BaseUrl(String);

impl BaseUrl {
    /// Parses a configured base URL: `http` or `https`, a host, an
    /// optional port and path prefix; no query, fragment or user info.
    pub(crate) fn parse(base: &str) -> Result<Self, &'static str> {
        if base.contains(['?', '#']) {
            return Err("the DPoP base URL has a query or a fragment");
        }
        let NormalUrl(mut url) =
            normalize(base).ok_or("the DPoP base URL is not an absolute http(s) URL")?;
        // `normalize` gives at least `/` as the path; the prefix has none.
        if url.ends_with('/') {
            url.pop();
        }
        Ok(Self(url))
    }

    /// The normal form of the URL of a request for `path` (the request
    /// target's path, as received).
    pub(crate) fn request_url(&self, path: &str) -> Option<NormalUrl> {
        let mut url = String::with_capacity(self.0.len() + path.len());
        url.push_str(&self.0);
        if !path.starts_with('/') {
            url.push('/');
        }
        normal_path(path, &mut url)?;
        Some(NormalUrl(url))
    }
}

/// The normal form of an absolute `http` or `https` URL, without its query
/// and fragment; `None` for anything else (a relative URL, another scheme,
/// user info, a bad port, characters outside visible ASCII).
pub(crate) fn normalize(url: &str) -> Option<NormalUrl> {
    if url.is_empty() || !url.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    let end = url.find(['?', '#']).unwrap_or(url.len());
    let url = &url[..end];
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let path_at = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(path_at);
    if authority.contains('@') {
        return None;
    }
    // An IPv6 literal is bracketed; the port follows the last `:` after it.
    let host_end = match authority.strip_prefix('[') {
        Some(inner) => inner.find(']')? + 2,
        None => authority.find(':').unwrap_or(authority.len()),
    };
    let (host, port) = authority.split_at(host_end);
    if host.is_empty() || host.contains(['[', ']']) && !host.starts_with('[') {
        return None;
    }
    let port = match port {
        "" | ":" => None,
        port => {
            let digits = port.strip_prefix(':')?;
            if !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 5 {
                return None;
            }
            let port: u16 = digits.parse().ok()?;
            (port != default_port).then_some(port)
        }
    };
    let mut normal = String::with_capacity(url.len());
    normal.push_str(&scheme);
    normal.push_str("://");
    normal.push_str(&host.to_ascii_lowercase());
    if let Some(port) = port {
        let _ = write!(normal, ":{port}");
    }
    if path.is_empty() {
        normal.push('/');
    } else {
        normal_path(path, &mut normal)?;
    }
    Some(NormalUrl(normal))
}

/// Appends `path` with its percent-encodings normalised; `None` for a `%`
/// not followed by two hex digits or a character outside visible ASCII.
fn normal_path(path: &str, out: &mut String) -> Option<()> {
    let bytes = path.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        let byte = bytes[at];
        if !byte.is_ascii_graphic() {
            return None;
        }
        if byte == b'?' || byte == b'#' {
            break;
        }
        if byte != b'%' {
            out.push(char::from(byte));
            at += 1;
            continue;
        }
        let hex = bytes.get(at + 1..at + 3)?;
        let value = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
        if value.is_ascii_alphanumeric() || matches!(value, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(value));
        } else {
            let _ = write!(out, "%{value:02X}");
        }
        at += 3;
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normal(url: &str) -> Option<String> {
        normalize(url).map(|NormalUrl(url)| url)
    }

    #[test]
    fn scheme_host_default_port_and_percent_encodings_are_normalised() {
        for url in [
            "https://api.example.com/a/b",
            "HTTPS://API.Example.COM/a/b",
            "https://api.example.com:443/a/b",
            "https://api.example.com/a/b?x=1",
            "https://api.example.com/a/b#frag",
            "https://api.example.com/%61/b",
        ] {
            assert_eq!(
                normal(url).as_deref(),
                Some("https://api.example.com/a/b"),
                "{url}"
            );
        }
        assert_eq!(normal("http://h:80").as_deref(), Some("http://h/"));
        assert_eq!(normal("http://h:8080/").as_deref(), Some("http://h:8080/"));
        assert_eq!(normal("https://h:80/").as_deref(), Some("https://h:80/"));
        assert_eq!(normal("https://h/%2f").as_deref(), Some("https://h/%2F"));
        assert_eq!(
            normal("https://[::1]:8443/x").as_deref(),
            Some("https://[::1]:8443/x")
        );
    }

    #[test]
    fn other_schemes_relative_urls_and_odd_authorities_are_refused() {
        for url in [
            "",
            "/a/b",
            "ftp://h/a",
            "https:///a",
            "https://user@h/a",
            "https://h:99999/a",
            "https://h:x/a",
            "https://h/%zz",
            "https://h/a b",
            "https://h/\u{e9}",
            "https://[::1/a",
        ] {
            assert_eq!(normal(url), None, "{url:?}");
        }
    }

    #[test]
    fn base_url_and_request_path_make_the_request_url() {
        let base = BaseUrl::parse("https://API.example.com:443/").unwrap();
        assert_eq!(
            base.request_url("/secret"),
            normalize("https://api.example.com/secret")
        );
        let prefixed = BaseUrl::parse("https://example.com/api/").unwrap();
        assert_eq!(
            prefixed.request_url("/users"),
            normalize("https://example.com/api/users")
        );
        assert!(BaseUrl::parse("https://example.com/?x").is_err());
        assert!(BaseUrl::parse("example.com").is_err());
    }
}
