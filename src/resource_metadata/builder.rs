//! [`ProtectedResourceMetadataBuilder`]: the metadata, member by member,
//! checked once when built.

use jsonwebtoken::Algorithm;

use super::url::{check_issuer, check_resource, check_url};
use super::{BearerMethod, ProtectedResourceMetadata};
use crate::error::BuildError;
use crate::key::ASYMMETRIC_ALGORITHMS;
use crate::rejection::scope::is_scope_token;

/// Builds a [`ProtectedResourceMetadata`]; start with
/// [`ProtectedResourceMetadata::builder`].
///
/// Each method sets the member of RFC 9728 §2 it is named for; list
/// members are replaced, not extended. Members left unset are not
/// published.
#[derive(Debug, Clone)]
#[must_use]
pub struct ProtectedResourceMetadataBuilder {
    metadata: ProtectedResourceMetadata,
}

/// The JOSE names of `algorithms`.
fn names(algorithms: impl IntoIterator<Item = Algorithm>) -> Vec<String> {
    algorithms
        .into_iter()
        .map(|alg| format!("{alg:?}"))
        .collect()
}

fn strings<I: IntoIterator<Item = S>, S: Into<String>>(items: I) -> Vec<String> {
    items.into_iter().map(Into::into).collect()
}

impl ProtectedResourceMetadataBuilder {
    pub(super) fn new(resource: String) -> Self {
        Self {
            metadata: ProtectedResourceMetadata {
                resource,
                authorization_servers: Vec::new(),
                jwks_uri: None,
                scopes_supported: Vec::new(),
                bearer_methods_supported: Vec::new(),
                resource_signing_alg_values_supported: Vec::new(),
                resource_name: None,
                resource_documentation: None,
                resource_policy_uri: None,
                resource_tos_uri: None,
                tls_client_certificate_bound_access_tokens: None,
                authorization_details_types_supported: Vec::new(),
                dpop_signing_alg_values_supported: Vec::new(),
                dpop_bound_access_tokens_required: None,
                signed_metadata: None,
            },
        }
    }

    /// What a layer knows of itself, for the members left unset: the
    /// issuers it trusts, where it takes tokens from, and its DPoP
    /// algorithms.
    pub(crate) fn derive(
        mut self,
        issuers: Vec<String>,
        methods: Vec<BearerMethod>,
        dpop: Vec<String>,
    ) -> Self {
        let metadata = &mut self.metadata;
        if metadata.authorization_servers.is_empty() {
            metadata.authorization_servers = issuers;
        }
        if metadata.bearer_methods_supported.is_empty() {
            metadata.bearer_methods_supported = methods;
        }
        if metadata.dpop_signing_alg_values_supported.is_empty() {
            metadata.dpop_signing_alg_values_supported = dpop;
        }
        self
    }

    /// `authorization_servers`: the issuer identifiers of the
    /// authorization servers whose tokens this resource accepts.
    pub fn authorization_servers<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        issuers: I,
    ) -> Self {
        self.metadata.authorization_servers = strings(issuers);
        self
    }

    /// `jwks_uri`: where the resource publishes the keys it signs
    /// responses with.
    pub fn jwks_uri(mut self, url: impl Into<String>) -> Self {
        self.metadata.jwks_uri = Some(url.into());
        self
    }

    /// `scopes_supported`: the scopes clients may request to reach this
    /// resource.
    pub fn scopes_supported<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        scopes: I,
    ) -> Self {
        self.metadata.scopes_supported = strings(scopes);
        self
    }

    /// `bearer_methods_supported`: how clients may send a token.
    pub fn bearer_methods_supported(
        mut self,
        methods: impl IntoIterator<Item = BearerMethod>,
    ) -> Self {
        self.metadata.bearer_methods_supported = methods.into_iter().collect();
        self
    }

    /// `resource_signing_alg_values_supported`: the algorithms the resource
    /// signs its responses with.
    pub fn resource_signing_alg_values_supported(
        mut self,
        algorithms: impl IntoIterator<Item = Algorithm>,
    ) -> Self {
        self.metadata.resource_signing_alg_values_supported = names(algorithms);
        self
    }

    /// `resource_name`: a name for end users.
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.metadata.resource_name = Some(name.into());
        self
    }

    /// `resource_documentation`: a page for developers.
    pub fn resource_documentation(mut self, url: impl Into<String>) -> Self {
        self.metadata.resource_documentation = Some(url.into());
        self
    }

    /// `resource_policy_uri`: a page on how clients may use the data.
    pub fn resource_policy_uri(mut self, url: impl Into<String>) -> Self {
        self.metadata.resource_policy_uri = Some(url.into());
        self
    }

    /// `resource_tos_uri`: the terms of service.
    pub fn resource_tos_uri(mut self, url: impl Into<String>) -> Self {
        self.metadata.resource_tos_uri = Some(url.into());
        self
    }

    /// `tls_client_certificate_bound_access_tokens`: whether the resource
    /// accepts mutual-TLS certificate-bound tokens (RFC 8705).
    pub fn tls_client_certificate_bound_access_tokens(mut self, supported: bool) -> Self {
        self.metadata.tls_client_certificate_bound_access_tokens = Some(supported);
        self
    }

    /// `authorization_details_types_supported`: the `type` values of rich
    /// authorization requests (RFC 9396) the resource understands.
    pub fn authorization_details_types_supported<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        types: I,
    ) -> Self {
        self.metadata.authorization_details_types_supported = strings(types);
        self
    }

    /// `dpop_signing_alg_values_supported`: the algorithms DPoP proofs may
    /// be signed with (asymmetric only, as [`Dpop::algorithms`]
    /// requires).
    ///
    /// [`Dpop::algorithms`]: crate::dpop::Dpop::algorithms
    pub fn dpop_signing_alg_values_supported(
        mut self,
        algorithms: impl IntoIterator<Item = Algorithm>,
    ) -> Self {
        self.metadata.dpop_signing_alg_values_supported = names(algorithms);
        self
    }

    /// `dpop_bound_access_tokens_required`: whether every token must be
    /// DPoP-bound (a layer with [`Dpop::required`]).
    ///
    /// [`Dpop::required`]: crate::dpop::Dpop::required
    pub fn dpop_bound_access_tokens_required(mut self, required: bool) -> Self {
        self.metadata.dpop_bound_access_tokens_required = Some(required);
        self
    }

    /// `signed_metadata`: a JWT of these members signed elsewhere (an HSM,
    /// another service). To sign with a [`SigningKey`], build and call
    /// [`ProtectedResourceMetadata::signed`].
    ///
    /// [`SigningKey`]: crate::SigningKey
    pub fn signed_metadata(mut self, jwt: impl Into<String>) -> Self {
        self.metadata.signed_metadata = Some(jwt.into());
        self
    }

    /// Checks the members and gives the metadata.
    ///
    /// # Errors
    ///
    /// [`BuildError::ResourceMetadata`] for a resource identifier that is
    /// not an absolute `https` URL (`http` only on `localhost`, `127.0.0.1`
    /// or `[::1]`) or that has a query or a fragment; an authorization
    /// server that is not an absolute `http(s)` URL without query and
    /// fragment; a `jwks_uri`, documentation, policy or terms-of-service
    /// URL that is not an absolute `http(s)` URL; an HMAC algorithm for
    /// DPoP proofs. [`BuildError::InvalidScope`] for a scope that is not a
    /// `scope-token` of RFC 6749 §3.3.
    pub fn build(self) -> Result<ProtectedResourceMetadata, BuildError> {
        let metadata = self.metadata;
        check_resource(&metadata.resource).map_err(BuildError::ResourceMetadata)?;
        for issuer in &metadata.authorization_servers {
            check_issuer(issuer).map_err(BuildError::ResourceMetadata)?;
        }
        let urls = [
            ("jwks_uri", &metadata.jwks_uri),
            ("resource_documentation", &metadata.resource_documentation),
            ("resource_policy_uri", &metadata.resource_policy_uri),
            ("resource_tos_uri", &metadata.resource_tos_uri),
        ];
        for (member, url) in urls {
            if let Some(url) = url {
                check_url(member, url).map_err(BuildError::ResourceMetadata)?;
            }
        }
        if let Some(bad) = metadata
            .scopes_supported
            .iter()
            .find(|scope| !is_scope_token(scope))
        {
            return Err(BuildError::InvalidScope(bad.clone()));
        }
        let asymmetric = names(ASYMMETRIC_ALGORITHMS);
        if let Some(bad) = metadata
            .dpop_signing_alg_values_supported
            .iter()
            .find(|alg| !asymmetric.contains(alg))
        {
            return Err(BuildError::ResourceMetadata(format!(
                "DPoP proofs need an asymmetric algorithm, not {bad}"
            )));
        }
        Ok(metadata)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builder() -> ProtectedResourceMetadataBuilder {
        ProtectedResourceMetadata::builder("https://api.example.com/mcp")
    }

    fn refusal(builder: ProtectedResourceMetadataBuilder) -> String {
        builder.build().expect_err("refused").to_string()
    }

    #[test]
    fn build_refuses_a_resource_with_a_fragment_a_query_or_no_scheme() {
        for (resource, reason) in [
            ("https://api.example.com/mcp#x", "has a fragment"),
            ("https://api.example.com/mcp?x=1", "has a query"),
            ("/mcp", "not an absolute http(s) URL"),
            ("http://api.example.com/mcp", "must use https"),
        ] {
            let error = refusal(ProtectedResourceMetadata::builder(resource));
            assert!(error.contains(reason), "{resource}: {error}");
        }
    }

    #[test]
    fn build_takes_http_on_a_loopback_host() {
        let metadata = ProtectedResourceMetadata::builder("http://127.0.0.1:8080/mcp")
            .build()
            .unwrap();
        assert_eq!(metadata.resource(), "http://127.0.0.1:8080/mcp");
    }

    #[test]
    fn build_refuses_a_relative_or_query_bearing_authorization_server() {
        for issuer in ["login.example.com", "https://login.example.com/?tenant=a"] {
            let error = refusal(builder().authorization_servers(["https://ok.example", issuer]));
            assert!(error.contains("authorization server"), "{issuer}: {error}");
        }
    }

    #[test]
    fn build_refuses_a_relative_jwks_uri() {
        let error = refusal(builder().jwks_uri("/jwks.json"));
        assert!(error.contains("jwks_uri"), "{error}");
    }

    #[test]
    fn build_refuses_a_scope_that_is_not_a_scope_token() {
        assert!(matches!(
            builder().scopes_supported(["read", "two words"]).build(),
            Err(BuildError::InvalidScope(scope)) if scope == "two words"
        ));
    }

    #[test]
    fn build_refuses_hmac_for_dpop_proofs() {
        let error = refusal(
            builder().dpop_signing_alg_values_supported([Algorithm::ES256, Algorithm::HS256]),
        );
        assert!(error.contains("not HS256"), "{error}");
    }

    #[test]
    fn list_setters_replace_the_previous_list() {
        let metadata = builder()
            .scopes_supported(["a"])
            .scopes_supported(["b"])
            .build()
            .unwrap();
        assert_eq!(metadata.scopes_supported(), ["b"]);
    }
}
