//! The metadata's URLs: what a resource identifier and an authorization
//! server may be (RFC 9728 §2, RFC 8707 §2, RFC 8414 §2), and where the
//! document is published (RFC 9728 §3).

use crate::dpop::htu::normalize;

/// The well-known URI suffix of RFC 9728 §3, as a path.
pub(super) const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// The visible ASCII characters RFC 3986 §2 does not allow in a URI (and
/// that a router would read as its own syntax, as axum does `{` and `}`).
const NOT_IN_URIS: [char; 9] = ['"', '<', '>', '\\', '^', '`', '{', '|', '}'];

/// `url` split where the well-known path goes: `scheme://authority`, and
/// the path without query and fragment. Total: a string without `://` is
/// all path.
pub(super) fn split(url: &str) -> (&str, &str) {
    let url = &url[..url.find(['?', '#']).unwrap_or(url.len())];
    let authority_at = url.find("://").map_or(0, |at| at + 3);
    let path_at = url[authority_at..]
        .find('/')
        .map_or(url.len(), |at| authority_at + at);
    url.split_at(path_at)
}

/// The path the metadata of `resource` is published at (RFC 9728 §3.1):
/// the well-known path inserted between the host and the path; a path of
/// `/` alone is dropped.
pub(super) fn well_known_path(resource: &str) -> String {
    match split(resource).1 {
        "" | "/" => WELL_KNOWN.to_owned(),
        path => format!("{WELL_KNOWN}{path}"),
    }
}

/// Checks a resource identifier: an absolute `https` URL (`http` only on
/// a loopback host, for development and tests), without a fragment (RFC
/// 9728 §2) or a query (which RFC 8707 §2 discourages).
pub(super) fn check_resource(resource: &str) -> Result<(), String> {
    let reason = if resource.contains('#') {
        "has a fragment"
    } else if resource.contains('?') {
        "has a query"
    } else if resource.contains(NOT_IN_URIS) {
        "holds a character a URI cannot hold unencoded"
    } else if normalize(resource).is_none() {
        "is not an absolute http(s) URL"
    } else if !is_https(resource) && !is_loopback(resource) {
        "must use https (http only on localhost, 127.0.0.1 or [::1])"
    } else {
        return Ok(());
    };
    Err(format!("the resource {resource:?} {reason}"))
}

/// Checks an authorization server's issuer identifier (RFC 8414 §2): an
/// absolute `http(s)` URL without query and fragment.
pub(super) fn check_issuer(issuer: &str) -> Result<(), String> {
    if issuer.contains(['?', '#']) || normalize(issuer).is_none() {
        return Err(format!(
            "the authorization server {issuer:?} is not an absolute http(s) URL \
             without query and fragment"
        ));
    }
    Ok(())
}

/// Checks a URL member (`jwks_uri`, the documentation, policy and terms of
/// service pages): an absolute `http(s)` URL.
pub(super) fn check_url(member: &str, url: &str) -> Result<(), String> {
    if normalize(url).is_none() {
        return Err(format!("{member} {url:?} is not an absolute http(s) URL"));
    }
    Ok(())
}

fn is_https(url: &str) -> bool {
    url.get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
}

/// Whether the host of `url` is `localhost`, `127.0.0.1` or `[::1]`.
fn is_loopback(url: &str) -> bool {
    let (origin, _) = split(url);
    let authority = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    let host = match authority.find(']') {
        Some(end) if authority.starts_with('[') => &authority[..=end],
        _ => authority.split(':').next().unwrap_or_default(),
    };
    host.eq_ignore_ascii_case("localhost") || host == "127.0.0.1" || host == "[::1]"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_path_is_inserted_between_host_and_path() {
        let cases = [
            ("https://api.example.com", WELL_KNOWN),
            ("https://api.example.com/", WELL_KNOWN),
            ("https://api.example.com:8443", WELL_KNOWN),
            (
                "https://api.example.com/mcp",
                "/.well-known/oauth-protected-resource/mcp",
            ),
            (
                "https://api.example.com/mcp/",
                "/.well-known/oauth-protected-resource/mcp/",
            ),
            (
                "https://api.example.com/a/b",
                "/.well-known/oauth-protected-resource/a/b",
            ),
        ];
        for (resource, path) in cases {
            assert_eq!(well_known_path(resource), path, "{resource}");
        }
    }

    #[test]
    fn split_separates_the_origin_from_the_path() {
        assert_eq!(
            split("https://h:1/a/b?q#f"),
            ("https://h:1", "/a/b"),
            "query and fragment dropped"
        );
        assert_eq!(split("https://h"), ("https://h", ""));
        assert_eq!(split("/a/b"), ("", "/a/b"));
    }

    #[test]
    fn resource_must_be_https_or_http_on_loopback() {
        for ok in [
            "https://api.example.com",
            "HTTPS://api.example.com/mcp",
            "http://localhost:3000/mcp",
            "http://LOCALHOST",
            "http://127.0.0.1:8080",
            "http://[::1]:8080/x",
        ] {
            assert_eq!(check_resource(ok), Ok(()), "{ok}");
        }
        for (bad, reason) in [
            ("https://api.example.com/mcp#top", "has a fragment"),
            ("https://api.example.com/mcp?tenant=1", "has a query"),
            ("/mcp", "is not an absolute"),
            ("api.example.com/mcp", "is not an absolute"),
            ("ftp://api.example.com", "is not an absolute"),
            ("https://user@api.example.com", "is not an absolute"),
            ("https://api.example.com/{tenant}", "cannot hold"),
            ("http://api.example.com", "must use https"),
            ("http://localhost.example.com", "must use https"),
            ("http://127.0.0.2", "must use https"),
            ("http://[::2]", "must use https"),
        ] {
            let error = check_resource(bad).expect_err(bad);
            assert!(error.contains(reason), "{bad}: {error}");
        }
    }

    #[test]
    fn issuer_must_be_an_absolute_url_without_query_or_fragment() {
        assert_eq!(check_issuer("https://login.example.com/realms/a"), Ok(()));
        assert_eq!(check_issuer("http://keycloak:8080/realms/a"), Ok(()));
        for bad in [
            "login.example.com",
            "https://login.example.com?x=1",
            "https://login.example.com#x",
            "urn:example:issuer",
        ] {
            assert!(check_issuer(bad).is_err(), "{bad}");
        }
    }
}
