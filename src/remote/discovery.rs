//! Finding an issuer's JWKS: OpenID Connect discovery and RFC 8414
//! authorization-server metadata.

use serde::Deserialize;

use super::RemoteError;

/// The metadata members this crate reads.
#[derive(Deserialize)]
struct Metadata {
    issuer: String,
    jwks_uri: Option<String>,
}

/// Where an issuer publishes its metadata, in the order they are tried:
/// OpenID Connect Discovery 1.0 §4 appends the well-known path to the
/// issuer; RFC 8414 §3.1 inserts it between the host and the issuer's path.
pub(super) fn metadata_urls(issuer: &str) -> Vec<String> {
    let trimmed = issuer.trim_end_matches('/');
    let mut urls = vec![format!("{trimmed}/.well-known/openid-configuration")];
    if let Some((scheme, rest)) = trimmed.split_once("://") {
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        urls.push(format!(
            "{scheme}://{authority}/.well-known/oauth-authorization-server{path}"
        ));
    }
    urls
}

/// Reads a metadata document: its `issuer` must be `issuer` exactly
/// (OpenID Connect Discovery §4.3, RFC 8414 §3.3), and it must name a
/// `jwks_uri`.
pub(super) fn jwks_uri(issuer: &str, url: &str, body: &[u8]) -> Result<String, RemoteError> {
    let metadata: Metadata = serde_json::from_slice(body).map_err(|_| RemoteError::Discovery {
        url: url.to_owned(),
        reason: "the metadata is not a JSON object with a string `issuer`",
    })?;
    if metadata.issuer != issuer {
        return Err(RemoteError::IssuerMismatch {
            expected: issuer.to_owned(),
            found: metadata.issuer,
        });
    }
    metadata.jwks_uri.ok_or_else(|| RemoteError::Discovery {
        url: url.to_owned(),
        reason: "the metadata has no `jwks_uri`",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_urls_follow_both_specifications() {
        assert_eq!(
            metadata_urls("https://idp.example"),
            [
                "https://idp.example/.well-known/openid-configuration",
                "https://idp.example/.well-known/oauth-authorization-server",
            ]
        );
        assert_eq!(
            metadata_urls("https://idp.example/realms/main/"),
            [
                "https://idp.example/realms/main/.well-known/openid-configuration",
                "https://idp.example/.well-known/oauth-authorization-server/realms/main",
            ]
        );
    }

    #[test]
    fn the_discovered_issuer_must_match_exactly() {
        let body = br#"{"issuer":"https://idp.example/","jwks_uri":"https://idp.example/jwks"}"#;
        assert!(matches!(
            jwks_uri("https://idp.example", "u", body),
            Err(RemoteError::IssuerMismatch { .. })
        ));
        assert_eq!(
            jwks_uri("https://idp.example/", "u", body).unwrap(),
            "https://idp.example/jwks"
        );
        assert!(matches!(
            jwks_uri(
                "https://idp.example",
                "u",
                br#"{"issuer":"https://idp.example"}"#
            ),
            Err(RemoteError::Discovery { .. })
        ));
        assert!(matches!(
            jwks_uri("https://idp.example", "u", b"[]"),
            Err(RemoteError::Discovery { .. })
        ));
    }
}
