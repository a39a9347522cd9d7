//! OAuth 2.0 Protected Resource Metadata (RFC 9728): the document that
//! tells clients which authorization servers issue tokens for this
//! resource, which scopes it knows and how to send a token, and its
//! serving at the well-known path.
//!
//! MCP clients, among others, find the authorization server this way: a
//! 401 names the document's URL ([`ProtectedResourceMetadata::metadata_url`])
//! in its challenge, or the client derives it from the resource's URL; it
//! fetches the document, then the authorization server's own metadata.
//!
//! [`ProtectedResourceMetadata::builder`] checks the members once, when
//! built. The document is served, serialized once, by
//! [`ServeMetadataLayer`] in front of an application (the layer answers
//! the well-known path, everything else goes on), by [`MetadataService`]
//! alone, or, with the `axum` feature, by
//! [`ProtectedResourceMetadata::router`] to merge into an axum `Router`.
//!
//! | Request for the well-known path | Answer |
//! |---|---|
//! | `GET` | 200, the JSON, `Content-Type: application/json`, `Cache-Control: public, max-age=3600`, `Access-Control-Allow-Origin: *` |
//! | `HEAD` | the same, without the body |
//! | `OPTIONS` (a browser's CORS preflight) | 204, `Access-Control-Allow-Origin: *`, `Access-Control-Allow-Methods: GET, HEAD`, `Access-Control-Allow-Headers: *` |
//! | any other method | 405, `Allow: GET, HEAD, OPTIONS` |
//!
//! The document is public: serve it outside the authentication layer, as
//! clients fetch it before they have a token.
//!
//! ```
//! use std::convert::Infallible;
//!
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::{BodyExt, Full};
//! use serde_json::json;
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_jwt_auth::resource_metadata::{
//!     BearerMethod, ProtectedResourceMetadata, ServeMetadataLayer,
//! };
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let metadata = ProtectedResourceMetadata::builder("https://api.example.com/mcp")
//!     .authorization_servers(["https://login.example.com"])
//!     .scopes_supported(["mcp:tools"])
//!     .bearer_methods_supported([BearerMethod::Header])
//!     .build()?;
//! assert_eq!(
//!     metadata.metadata_url(),
//!     "https://api.example.com/.well-known/oauth-protected-resource/mcp"
//! );
//!
//! let app = ServiceBuilder::new()
//!     .layer(ServeMetadataLayer::new(&metadata))
//!     .service_fn(|_req: Request<Full<Bytes>>| async {
//!         Ok::<_, Infallible>(Response::new(Full::<Bytes>::from("the application")))
//!     });
//!
//! // The well-known path: the document.
//! let request = Request::get("/.well-known/oauth-protected-resource/mcp").body(Full::default())?;
//! let response = app.clone().oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! assert_eq!(response.headers()["content-type"], "application/json");
//! let body = response.into_body().collect().await?.to_bytes();
//! let document: serde_json::Value = serde_json::from_slice(&body)?;
//! assert_eq!(
//!     document,
//!     json!({
//!         "resource": "https://api.example.com/mcp",
//!         "authorization_servers": ["https://login.example.com"],
//!         "scopes_supported": ["mcp:tools"],
//!         "bearer_methods_supported": ["header"],
//!     })
//! );
//!
//! // Any other path: the application.
//! let response = app.oneshot(Request::get("/mcp").body(Full::default())?).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! assert_eq!(response.into_body().collect().await?.to_bytes(), "the application");
//! # Ok(())
//! # }
//! ```
//!
//! # Signed metadata
//!
//! [`ProtectedResourceMetadata::signed`] adds `signed_metadata` (RFC 9728
//! §2.2): a JWT whose claims are the other members and `iss`, the party
//! that vouches for them. Clients that check it take its values over the
//! plain ones.

mod builder;
mod layer;
mod serve;
mod url;

use serde::{Deserialize, Serialize};

pub use builder::ProtectedResourceMetadataBuilder;
pub use layer::{ResponseFuture, ServeMetadata, ServeMetadataLayer};
pub use serve::MetadataService;

use crate::signing::{SignError, SigningKey};

/// How a client may send a bearer token (RFC 6750 §2), as
/// `bearer_methods_supported` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BearerMethod {
    /// `Authorization: Bearer` (RFC 6750 §2.1).
    Header,
    /// A form-encoded body parameter (RFC 6750 §2.2).
    Body,
    /// A query parameter (RFC 6750 §2.3).
    Query,
}

/// The metadata of a protected resource (RFC 9728 §2).
///
/// Build it with [`ProtectedResourceMetadata::builder`], which checks it;
/// a document read from elsewhere deserializes unchecked. Serialized, it
/// leaves out unset members and empty lists. Algorithms are kept by their
/// JOSE names, so that a document naming one this crate does not know
/// still reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectedResourceMetadata {
    resource: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    authorization_servers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    jwks_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    scopes_supported: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    bearer_methods_supported: Vec<BearerMethod>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    resource_signing_alg_values_supported: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    resource_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    resource_documentation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    resource_policy_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    resource_tos_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tls_client_certificate_bound_access_tokens: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    authorization_details_types_supported: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    dpop_signing_alg_values_supported: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dpop_bound_access_tokens_required: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signed_metadata: Option<String>,
}

impl ProtectedResourceMetadata {
    /// Starts the metadata of the resource `resource`: its resource
    /// identifier, the URL clients know it by (`https://api.example.com`,
    /// or `https://api.example.com/mcp` for a resource under a path).
    pub fn builder(resource: impl Into<String>) -> ProtectedResourceMetadataBuilder {
        ProtectedResourceMetadataBuilder::new(resource.into())
    }

    /// The path the document is served at (RFC 9728 §3.1): the well-known
    /// path `/.well-known/oauth-protected-resource`, followed by the
    /// resource's path, if it has one other than `/`:
    /// `https://api.example.com/mcp` is served at
    /// `/.well-known/oauth-protected-resource/mcp`.
    pub fn well_known_path(&self) -> String {
        url::well_known_path(&self.resource)
    }

    /// The document's absolute URL, for the `resource_metadata` parameter
    /// of a challenge (RFC 9728 §5.1): the resource's scheme, host and
    /// port, and [the well-known path](Self::well_known_path).
    pub fn metadata_url(&self) -> String {
        let (origin, _) = url::split(&self.resource);
        origin.to_owned() + &self.well_known_path()
    }

    /// Signs the metadata (RFC 9728 §2.2): `signed_metadata` becomes a JWT
    /// signed with `key` whose claims are the other members and `iss` =
    /// `issuer`, the party that vouches for them. A `signed_metadata`
    /// already there is replaced, never signed into the new one.
    ///
    /// # Errors
    ///
    /// [`SignError`] when the key fails to sign.
    pub fn signed(mut self, key: &SigningKey, issuer: &str) -> Result<Self, SignError> {
        #[derive(Serialize)]
        struct Claims<'a> {
            iss: &'a str,
            #[serde(flatten)]
            members: &'a ProtectedResourceMetadata,
        }
        self.signed_metadata = None;
        let jwt = key.sign(&Claims {
            iss: issuer,
            members: &self,
        })?;
        self.signed_metadata = Some(jwt);
        Ok(self)
    }

    /// An axum `Router` that serves the document at its well-known path,
    /// as [`MetadataService`] does (every method goes to it, which answers
    /// as the [module docs](self) list): `app.merge(metadata.router())`.
    /// Merge it after the authentication layer is added, or add that layer
    /// with `route_layer`, so that the document stays public.
    ///
    /// # Panics
    ///
    /// When merged into a router that already has a route at the
    /// well-known path, as axum panics for any overlapping route.
    #[cfg(feature = "axum")]
    pub fn router<S>(&self) -> axum::Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        axum::Router::new().route_service(
            &self.well_known_path(),
            MetadataService::<axum::body::Body>::new(self),
        )
    }

    /// `resource`: the resource identifier.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// `authorization_servers`: the issuer identifiers of the authorization
    /// servers.
    pub fn authorization_servers(&self) -> &[String] {
        &self.authorization_servers
    }

    /// `jwks_uri`: the URL of the resource's JWK set.
    pub fn jwks_uri(&self) -> Option<&str> {
        self.jwks_uri.as_deref()
    }

    /// `scopes_supported`.
    pub fn scopes_supported(&self) -> &[String] {
        &self.scopes_supported
    }

    /// `bearer_methods_supported`.
    pub fn bearer_methods_supported(&self) -> &[BearerMethod] {
        &self.bearer_methods_supported
    }

    /// `resource_signing_alg_values_supported`, by JOSE name.
    pub fn resource_signing_alg_values_supported(&self) -> &[String] {
        &self.resource_signing_alg_values_supported
    }

    /// `resource_name`.
    pub fn resource_name(&self) -> Option<&str> {
        self.resource_name.as_deref()
    }

    /// `resource_documentation`.
    pub fn resource_documentation(&self) -> Option<&str> {
        self.resource_documentation.as_deref()
    }

    /// `resource_policy_uri`.
    pub fn resource_policy_uri(&self) -> Option<&str> {
        self.resource_policy_uri.as_deref()
    }

    /// `resource_tos_uri`.
    pub fn resource_tos_uri(&self) -> Option<&str> {
        self.resource_tos_uri.as_deref()
    }

    /// `tls_client_certificate_bound_access_tokens` (`false` when absent).
    pub fn tls_client_certificate_bound_access_tokens(&self) -> bool {
        self.tls_client_certificate_bound_access_tokens
            .unwrap_or(false)
    }

    /// `authorization_details_types_supported`.
    pub fn authorization_details_types_supported(&self) -> &[String] {
        &self.authorization_details_types_supported
    }

    /// `dpop_signing_alg_values_supported`, by JOSE name.
    pub fn dpop_signing_alg_values_supported(&self) -> &[String] {
        &self.dpop_signing_alg_values_supported
    }

    /// `dpop_bound_access_tokens_required` (`false` when absent).
    pub fn dpop_bound_access_tokens_required(&self) -> bool {
        self.dpop_bound_access_tokens_required.unwrap_or(false)
    }

    /// `signed_metadata`: the signed JWT, if any.
    pub fn signed_metadata(&self) -> Option<&str> {
        self.signed_metadata.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::Algorithm;
    use serde_json::{Value, json};

    use super::*;
    use crate::jws::Compact;

    fn minimal() -> ProtectedResourceMetadata {
        ProtectedResourceMetadata::builder("https://api.example.com/mcp")
            .build()
            .unwrap()
    }

    fn full() -> ProtectedResourceMetadata {
        ProtectedResourceMetadata::builder("https://api.example.com/mcp")
            .authorization_servers(["https://login.example.com"])
            .jwks_uri("https://api.example.com/jwks.json")
            .scopes_supported(["mcp:tools", "mcp:resources"])
            .bearer_methods_supported([BearerMethod::Header, BearerMethod::Query])
            .resource_signing_alg_values_supported([Algorithm::ES256])
            .resource_name("Example MCP server")
            .resource_documentation("https://docs.example.com/mcp")
            .resource_policy_uri("https://example.com/policy")
            .resource_tos_uri("https://example.com/tos")
            .tls_client_certificate_bound_access_tokens(false)
            .authorization_details_types_supported(["payment_initiation"])
            .dpop_signing_alg_values_supported([Algorithm::ES256, Algorithm::EdDSA])
            .dpop_bound_access_tokens_required(true)
            .build()
            .unwrap()
    }

    fn to_json(metadata: &ProtectedResourceMetadata) -> Value {
        serde_json::to_value(metadata).unwrap()
    }

    #[test]
    fn serialization_leaves_out_unset_members_and_empty_lists() {
        let metadata = ProtectedResourceMetadata::builder("https://api.example.com/mcp")
            .scopes_supported(Vec::<String>::new())
            .build()
            .unwrap();
        assert_eq!(
            to_json(&metadata),
            json!({ "resource": "https://api.example.com/mcp" })
        );
    }

    #[test]
    fn serialization_names_every_member_set() {
        assert_eq!(
            to_json(&full()),
            json!({
                "resource": "https://api.example.com/mcp",
                "authorization_servers": ["https://login.example.com"],
                "jwks_uri": "https://api.example.com/jwks.json",
                "scopes_supported": ["mcp:tools", "mcp:resources"],
                "bearer_methods_supported": ["header", "query"],
                "resource_signing_alg_values_supported": ["ES256"],
                "resource_name": "Example MCP server",
                "resource_documentation": "https://docs.example.com/mcp",
                "resource_policy_uri": "https://example.com/policy",
                "resource_tos_uri": "https://example.com/tos",
                "tls_client_certificate_bound_access_tokens": false,
                "authorization_details_types_supported": ["payment_initiation"],
                "dpop_signing_alg_values_supported": ["ES256", "EdDSA"],
                "dpop_bound_access_tokens_required": true,
            })
        );
    }

    #[test]
    fn a_document_deserializes_back_to_the_same_metadata() {
        let metadata = full();
        let json = serde_json::to_vec(&metadata).unwrap();
        let read: ProtectedResourceMetadata = serde_json::from_slice(&json).unwrap();
        assert_eq!(read, metadata);
        assert!(read.dpop_bound_access_tokens_required());
    }

    #[test]
    fn a_document_of_another_server_reads_with_unknown_algorithms_and_members() {
        let read: ProtectedResourceMetadata = serde_json::from_value(json!({
            "resource": "https://rs.example",
            "dpop_signing_alg_values_supported": ["ES512"],
            "an_extension": 1,
        }))
        .unwrap();
        assert_eq!(read.dpop_signing_alg_values_supported(), ["ES512"]);
        assert!(!read.tls_client_certificate_bound_access_tokens());
    }

    #[test]
    fn well_known_path_and_metadata_url_follow_the_resource() {
        assert_eq!(
            minimal().well_known_path(),
            "/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(
            minimal().metadata_url(),
            "https://api.example.com/.well-known/oauth-protected-resource/mcp"
        );
        for (resource, url) in [
            (
                "https://api.example.com",
                "https://api.example.com/.well-known/oauth-protected-resource",
            ),
            (
                "https://api.example.com/",
                "https://api.example.com/.well-known/oauth-protected-resource",
            ),
            (
                "http://localhost:3000/a/b/",
                "http://localhost:3000/.well-known/oauth-protected-resource/a/b/",
            ),
        ] {
            let metadata = ProtectedResourceMetadata::builder(resource)
                .build()
                .unwrap();
            assert_eq!(metadata.metadata_url(), url, "{resource}");
        }
    }

    /// The claims of `jwt`, once its signature verifies with `key`'s
    /// verification key.
    fn verified_claims(jwt: &str, key: &SigningKey) -> Result<Value, crate::error::TokenError> {
        let compact = Compact::split(jwt.as_bytes())?;
        key.verifying_key()
            .verify(compact.signing_input, compact.signature)?;
        let payload = URL_SAFE_NO_PAD.decode(compact.payload).unwrap();
        Ok(serde_json::from_slice(&payload).unwrap())
    }

    fn hmac_key(byte: u8) -> SigningKey {
        SigningKey::hmac(Algorithm::HS256, [byte; 32]).unwrap()
    }

    #[test]
    fn signed_metadata_verifies_with_the_key_and_carries_the_members_and_iss() {
        let key = hmac_key(1);
        let metadata = full().signed(&key, "https://api.example.com").unwrap();
        let claims = verified_claims(metadata.signed_metadata().unwrap(), &key).unwrap();
        let mut expected = to_json(&full());
        expected["iss"] = json!("https://api.example.com");
        assert_eq!(claims, expected);
    }

    #[test]
    fn signed_metadata_does_not_verify_with_another_key() {
        let metadata = minimal().signed(&hmac_key(1), "https://a.example").unwrap();
        assert_eq!(
            verified_claims(metadata.signed_metadata().unwrap(), &hmac_key(2)),
            Err(crate::error::TokenError::InvalidSignature)
        );
    }

    #[test]
    fn signing_again_replaces_the_signed_metadata_without_nesting_it() {
        let key = hmac_key(1);
        let once = minimal().signed(&key, "https://a.example").unwrap();
        let twice = once.clone().signed(&key, "https://b.example").unwrap();
        let claims = verified_claims(twice.signed_metadata().unwrap(), &key).unwrap();
        assert_eq!(claims.get("signed_metadata"), None);
        assert_eq!(claims["iss"], "https://b.example");
        assert_ne!(once.signed_metadata(), twice.signed_metadata());
    }

    #[test]
    fn signed_metadata_is_published_with_the_plain_members() {
        let metadata = minimal().signed(&hmac_key(1), "https://a.example").unwrap();
        let json = to_json(&metadata);
        assert_eq!(json["resource"], "https://api.example.com/mcp");
        assert_eq!(json["signed_metadata"], metadata.signed_metadata().unwrap());
    }

    #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
    #[test]
    fn signed_metadata_verifies_with_an_es256_public_key() {
        let pem = include_str!("../../tests/data/keys/ec256_private.pem");
        let key = SigningKey::ec_pem(Algorithm::ES256, pem).unwrap();
        let metadata = minimal().signed(&key, "https://api.example.com").unwrap();
        let claims = verified_claims(metadata.signed_metadata().unwrap(), &key).unwrap();
        assert_eq!(claims["resource"], "https://api.example.com/mcp");
    }

    #[cfg(feature = "axum")]
    #[tokio::test]
    async fn router_serves_the_document_at_the_well_known_path() {
        use http::{Request, StatusCode};
        use http_body_util::BodyExt;
        use tower::ServiceExt;

        let app = axum::Router::new()
            .route("/mcp", axum::routing::get(|| async { "the application" }))
            .merge(minimal().router());
        let request = Request::get("/.well-known/oauth-protected-resource/mcp")
            .body(axum::body::Body::empty())
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["access-control-allow-origin"], "*");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, r#"{"resource":"https://api.example.com/mcp"}"#);
        let request = Request::post("/.well-known/oauth-protected-resource/mcp")
            .body(axum::body::Body::empty())
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
}
