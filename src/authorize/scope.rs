//! Where a token's scopes come from: [`ScopeSource`], and [`ScopeClaims`] for
//! the claims types that can answer "does this token grant that scope?".

use serde_json::Value;

use crate::claims::Claims;

/// The longest scope string (a `scope` or string `scp` claim) that is read,
/// in bytes; a longer one grants nothing. Identity providers send a few
/// hundred bytes; the cap bounds the scan a hostile token can ask for when
/// the token size cap is raised.
pub const MAX_SCOPE_CLAIM_LEN: usize = 16 * 1024;

/// The longest scope or role array that is read; a longer one grants
/// nothing.
pub const MAX_SCOPE_CLAIM_ITEMS: usize = 1024;

/// Which claim of a token lists what it may do.
///
/// | Constructor | Claim | Shape | Used by |
/// |---|---|---|---|
/// | [`oauth_scope`](Self::oauth_scope) (the default) | `scope` | space-separated string | RFC 9068 / RFC 6749 §3.3: Keycloak, Okta, Auth0, Cognito |
/// | [`scp`](Self::scp) | `scp` | array of strings, or a space-separated string | Microsoft Entra ID |
/// | [`keycloak_realm_roles`](Self::keycloak_realm_roles) | `realm_access.roles` | array of strings | Keycloak realm roles |
/// | [`keycloak_client_roles`](Self::keycloak_client_roles) | `resource_access.CLIENT.roles` | array of strings | Keycloak client roles |
/// | [`roles_at`](Self::roles_at) | any path of object keys | array of strings | `roles` (Entra app roles), `cognito:groups`, … |
/// | [`auth0_permissions`](Self::auth0_permissions) | `permissions` | array of strings | Auth0 RBAC |
///
/// A claim of another shape (a number, an object, `null`, a string in place
/// of an array) grants nothing; so does a string longer than
/// [`MAX_SCOPE_CLAIM_LEN`] or an array longer than
/// [`MAX_SCOPE_CLAIM_ITEMS`]. Array items that are not strings are skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScopeSource {
    /// The OAuth `scope` claim: names separated by single spaces.
    #[default]
    Scope,
    /// Entra ID's `scp` claim: an array of names, or names separated by
    /// spaces.
    Scp,
    /// Auth0's `permissions` claim: an array of names.
    Permissions,
    /// An array of names at a path of object keys, for example
    /// `["realm_access", "roles"]`.
    ArrayAt(Box<[String]>),
}

impl ScopeSource {
    /// The OAuth `scope` claim, space-separated (RFC 9068 §2.2.3.1).
    pub fn oauth_scope() -> Self {
        Self::Scope
    }

    /// Entra ID's `scp` claim (delegated permissions).
    pub fn scp() -> Self {
        Self::Scp
    }

    /// Auth0's `permissions` claim (RBAC with "Add Permissions in the Access
    /// Token").
    pub fn auth0_permissions() -> Self {
        Self::Permissions
    }

    /// Keycloak's realm roles, `realm_access.roles`.
    pub fn keycloak_realm_roles() -> Self {
        Self::roles_at(["realm_access", "roles"])
    }

    /// Keycloak's roles on the client `client`,
    /// `resource_access.<client>.roles`.
    pub fn keycloak_client_roles(client: impl Into<String>) -> Self {
        Self::ArrayAt(Box::new([
            "resource_access".to_owned(),
            client.into(),
            "roles".to_owned(),
        ]))
    }

    /// An array of strings at a path of object keys (each key is one object
    /// level; a key may contain dots or colons, as `cognito:groups` does).
    pub fn roles_at<I, S>(path: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::ArrayAt(path.into_iter().map(Into::into).collect())
    }
}

/// Claims that can say whether they grant a scope.
///
/// Implemented for [`Claims`] (the `scope` claim only) and for
/// [`serde_json::Value`] (every [`ScopeSource`]). Implement it for your own
/// claims type to use it with [`Scopes`](crate::authorize::Scopes); a
/// source your type does not carry should grant nothing.
pub trait ScopeClaims {
    /// Whether the claim `source` names lists `scope`.
    fn grants(&self, source: &ScopeSource, scope: &str) -> bool;
}

/// [`Claims`] keeps only the `scope` claim: [`ScopeSource::Scope`] reads it,
/// every other source grants nothing (decode the claims as
/// [`serde_json::Value`] for those).
///
/// The tutorial's tokens use `scope` as their token type (`access_token`),
/// not as OAuth scopes: they carry no OAuth scopes, and a requirement such as
/// `read` refuses them.
impl ScopeClaims for Claims {
    fn grants(&self, source: &ScopeSource, scope: &str) -> bool {
        match (source, self.scope.as_deref()) {
            (ScopeSource::Scope, Some(names)) => names_contain(names, scope),
            _ => false,
        }
    }
}

impl ScopeClaims for Value {
    fn grants(&self, source: &ScopeSource, scope: &str) -> bool {
        match source {
            ScopeSource::Scope => self
                .get("scope")
                .and_then(Value::as_str)
                .is_some_and(|names| names_contain(names, scope)),
            ScopeSource::Scp => match self.get("scp") {
                Some(Value::String(names)) => names_contain(names, scope),
                Some(Value::Array(items)) => items_contain(items, scope),
                _ => false,
            },
            ScopeSource::Permissions => match self.get("permissions") {
                Some(Value::Array(items)) => items_contain(items, scope),
                _ => false,
            },
            ScopeSource::ArrayAt(path) => {
                let mut at = self;
                for key in path.iter() {
                    match at.get(key.as_str()) {
                        Some(next) => at = next,
                        None => return false,
                    }
                }
                match at {
                    Value::Array(items) => items_contain(items, scope),
                    _ => false,
                }
            }
        }
    }
}

/// Whether the space-separated `names` include `scope`: a scan, no set is
/// built. Names are separated by single spaces (RFC 6749 §3.3); empty
/// names between repeated spaces match nothing.
fn names_contain(names: &str, scope: &str) -> bool {
    !scope.is_empty()
        && names.len() <= MAX_SCOPE_CLAIM_LEN
        && names.split(' ').any(|name| name == scope)
}

/// Whether the array `items` holds the string `scope`.
fn items_contain(items: &[Value], scope: &str) -> bool {
    items.len() <= MAX_SCOPE_CLAIM_ITEMS && items.iter().any(|item| item.as_str() == Some(scope))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn grants(claims: Value, source: ScopeSource, scope: &str) -> bool {
        claims.grants(&source, scope)
    }

    #[test]
    fn each_source_reads_its_claim_and_no_other() {
        let claims = json!({
            "scope": "read write",
            "scp": ["files.read"],
            "permissions": ["read:orders"],
            "realm_access": { "roles": ["admin"] },
            "resource_access": { "api": { "roles": ["editor"] } },
        });
        let cases = [
            (ScopeSource::oauth_scope(), "write", "files.read"),
            (ScopeSource::scp(), "files.read", "read"),
            (ScopeSource::auth0_permissions(), "read:orders", "read"),
            (ScopeSource::keycloak_realm_roles(), "admin", "editor"),
            (ScopeSource::keycloak_client_roles("api"), "editor", "admin"),
        ];
        for (source, granted, other) in cases {
            assert!(
                grants(claims.clone(), source.clone(), granted),
                "{source:?}"
            );
            assert!(!grants(claims.clone(), source.clone(), other), "{source:?}");
        }
    }

    #[test]
    fn scp_may_be_a_space_separated_string() {
        let claims = json!({ "scp": "User.Read Files.Read" });
        assert!(grants(claims.clone(), ScopeSource::Scp, "Files.Read"));
        assert!(!grants(claims, ScopeSource::Scp, "Files"));
    }

    #[test]
    fn scope_names_match_whole_names_only() {
        let claims = json!({ "scope": "read  write:all" });
        for missing in ["", "rea", "write", "read write:all", " "] {
            assert!(
                !grants(claims.clone(), ScopeSource::Scope, missing),
                "{missing:?}"
            );
        }
        assert!(grants(claims, ScopeSource::Scope, "write:all"));
    }

    #[test]
    fn malformed_scope_claims_grant_nothing() {
        let long = format!("{} read", "x".repeat(MAX_SCOPE_CLAIM_LEN));
        let many: Vec<Value> = (0..=MAX_SCOPE_CLAIM_ITEMS).map(|_| json!("read")).collect();
        let cases = [
            json!({ "scope": 1 }),
            json!({ "scope": { "read": true } }),
            json!({ "scope": null }),
            json!({ "scope": ["read"] }),
            json!({ "scope": long }),
            json!({ "scp": [1, 2] }),
            json!({ "scp": many }),
            json!({ "permissions": "read" }),
            json!({ "realm_access": ["read"] }),
            json!({ "realm_access": { "roles": "read" } }),
            json!("read"),
            json!(null),
        ];
        let sources = [
            ScopeSource::Scope,
            ScopeSource::Scp,
            ScopeSource::Permissions,
            ScopeSource::keycloak_realm_roles(),
        ];
        for claims in cases {
            for source in &sources {
                assert!(
                    !grants(claims.clone(), source.clone(), "read"),
                    "{claims} {source:?}"
                );
            }
        }
    }

    #[test]
    fn claims_read_only_the_scope_claim_and_tutorial_tokens_have_no_oauth_scopes() {
        let mut claims = Claims {
            sub: "alice".into(),
            exp: 0,
            iat: None,
            nbf: None,
            iss: None,
            aud: None,
            jti: None,
            scope: Some("read write".into()),
            acr: None,
            auth_time: None,
        };
        assert!(claims.grants(&ScopeSource::Scope, "write"));
        assert!(!claims.grants(&ScopeSource::Scp, "write"));
        claims.scope = Some("access_token".into());
        assert!(!claims.grants(&ScopeSource::Scope, "read"));
    }
}
