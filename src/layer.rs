//! [`JwtAuthLayer`] and its builder.

mod future;
mod service;

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use tower_layer::Layer;

use crate::cache::TokenCache;
pub use crate::cache::{CacheStats, DEFAULT_CACHE_CAPACITY};
use crate::claims::Claims;
use crate::csrf::CsrfPolicy;
use crate::dpop::{Dpop, DpopVerifier};
use crate::error::BuildError;
use crate::key::KeyRing;
use crate::rejection::{ChallengeParams, JsonRejection};
use crate::resource_metadata::{
    BearerMethod, ProtectedResourceMetadata, ProtectedResourceMetadataBuilder,
};
use crate::source::TokenSources;
use crate::validator::revocation::{AnyRevoked, Revocation};
use crate::validator::trusted_issuer::TrustedIssuer;
use crate::validator::{Validation, Validator};
pub use future::ResponseFuture;
pub use service::JwtAuth;

/// What every clone of the layer and its services shares.
pub(crate) struct Shared<C> {
    pub(crate) validator: Validator,
    pub(crate) sources: TokenSources,
    pub(crate) optional: bool,
    pub(crate) cache: Option<TokenCache<C>>,
    pub(crate) dpop: Option<Arc<DpopVerifier>>,
    /// The CSRF check of unsafe requests whose token came from a cookie.
    pub(crate) csrf: CsrfPolicy,
    /// The answers of token introspection, for the tokens it takes.
    #[cfg(feature = "remote")]
    pub(crate) introspection: Option<Arc<crate::introspection::Answers<C>>>,
    /// What every challenge the layer answers with, or passes back, adds.
    pub(crate) challenge: Option<Arc<ChallengeParams>>,
    /// The resource's metadata (RFC 9728), when the layer was given one.
    pub(crate) metadata: Option<ProtectedResourceMetadata>,
}

impl<C: Clone> Shared<C> {
    fn new(validator: Validator, sources: TokenSources, optional: bool, cache: usize) -> Self {
        Self {
            cache: TokenCache::new(cache, &validator),
            validator,
            sources,
            optional,
            dpop: None,
            csrf: CsrfPolicy::default(),
            #[cfg(feature = "remote")]
            introspection: None,
            challenge: None,
            metadata: None,
        }
    }

    /// With this CSRF policy; see [`JwtAuthLayerBuilder::csrf`].
    fn with_csrf(mut self, csrf: CsrfPolicy) -> Self {
        self.csrf = csrf;
        self
    }

    /// With DPoP checks; see [`JwtAuthLayerBuilder::dpop`].
    fn with_dpop(mut self, dpop: Option<Arc<DpopVerifier>>) -> Self {
        self.sources.dpop = dpop.is_some();
        self.dpop = dpop;
        self
    }
}

/// A tower [`Layer`] that validates bearer JWTs and puts the claims into the
/// request extensions.
///
/// Build it with [`JwtAuthLayer::builder`]. Keys and rules sit behind an
/// `Arc`: cloning the layer or its services is cheap.
///
/// # The verified-token cache
///
/// The layer remembers the tokens it verified, up to
/// [`DEFAULT_CACHE_CAPACITY`] of them unless set otherwise with
/// [`JwtAuthLayerBuilder::cache`]. Clients send the same access token with
/// every request until it expires, and a hit costs a hash and a lookup
/// instead of base64, a signature check and JSON parsing: a few percent of an
/// HS256 verification, and well under one percent of an RS256, ES256 or
/// EdDSA one. A hit still checks `exp`, `nbf` and `iat` against the current
/// time and still asks the revocation hook; replacing the key set
/// ([`KeyRing::replace`]) empties the cache; only fully verified tokens are
/// entered, so forged or garbage tokens can neither fill nor evict it. Once
/// it is full, a token enters only on its second verification, so that a
/// stream of tokens each used once (many users, or clients that never reuse
/// a token) neither pushes out the busy tokens nor pays for an insertion and
/// an eviction each. It is on by default because it changes no outcome, only
/// the cost, and its memory is bounded (capacity × (token length + claims),
/// and 8 bytes a token of fingerprints). Turn it off with
/// [`JwtAuthLayerBuilder::no_cache`] when
/// every request carries a new token, where each lookup would miss.
///
/// [`Layer`]: https://docs.rs/tower-layer/0.3/tower_layer/trait.Layer.html
pub struct JwtAuthLayer<C = Claims, O = JsonRejection> {
    shared: Arc<Shared<C>>,
    on_rejection: O,
    _claims: PhantomData<fn() -> C>,
}

impl JwtAuthLayer {
    /// Starts a layer over `keys` (a [`Key`](crate::Key),
    /// [`KeySet`](crate::key::KeySet) or [`KeyRing`]) with the default rules:
    /// required `exp`, `scope` = `access_token`, 5 s leeway, tokens up to
    /// 8 KiB from the `Authorization` header only, claims of type
    /// [`Claims`], rejections as JSON.
    pub fn builder(keys: impl Into<KeyRing>) -> JwtAuthLayerBuilder {
        Self::start(First::Keys(keys.into()), Validation::default())
    }

    /// Starts a layer that accepts the tokens of `issuer`, with its rules
    /// (see [`TrustedIssuer`]), claims of type [`Claims`], rejections as
    /// JSON. The builder's rule methods then adjust this issuer's rules;
    /// [`JwtAuthLayerBuilder::issuer`] adds more issuers.
    pub fn builder_for(issuer: TrustedIssuer) -> JwtAuthLayerBuilder {
        let rules = issuer.rules().clone();
        Self::start(First::Issuer(Box::new(issuer)), rules)
    }

    fn start(first: First, rules: Validation) -> JwtAuthLayerBuilder {
        JwtAuthLayerBuilder {
            first,
            issuers: Vec::new(),
            rules,
            revocation: Vec::new(),
            sources: TokenSources::default(),
            optional: false,
            cache: DEFAULT_CACHE_CAPACITY,
            dpop: None,
            csrf: CsrfPolicy::default(),
            #[cfg(feature = "remote")]
            introspection: None,
            resource_metadata: None,
            challenge_scopes: Vec::new(),
            on_rejection: JsonRejection,
            _claims: PhantomData,
        }
    }
}

impl<C, O> JwtAuthLayer<C, O> {
    /// The validator, for example to replace keys through
    /// [`Validator::keys`].
    pub fn validator(&self) -> &Validator {
        &self.shared.validator
    }

    /// How many verified tokens the layer's cache holds (0 without a cache).
    pub fn cached_tokens(&self) -> usize {
        self.shared.cache.as_ref().map_or(0, TokenCache::len)
    }

    /// The hits and misses of the layer's verified-token cache since the
    /// layer was built, shared by its clones (all zero without a cache): the
    /// miss rate over an interval tells whether
    /// [`cache`](JwtAuthLayerBuilder::cache) is large enough for the tokens
    /// in use. Reading it visits every thread's counts, so read it now and
    /// then (a metrics scrape), not on every request.
    pub fn cache_stats(&self) -> CacheStats {
        self.shared
            .cache
            .as_ref()
            .map_or_else(CacheStats::default, TokenCache::stats)
    }

    /// The resource's metadata document (RFC 9728), when the layer was
    /// built with [`JwtAuthLayerBuilder::resource_metadata`]: serve it with
    /// [`ServeMetadataLayer`](crate::resource_metadata::ServeMetadataLayer)
    /// or its `router`.
    pub fn resource_metadata(&self) -> Option<&ProtectedResourceMetadata> {
        self.shared.metadata.as_ref()
    }

    /// How many introspection answers the layer keeps (0 without
    /// introspection).
    #[cfg(feature = "remote")]
    pub fn introspection_answers(&self) -> usize {
        self.shared
            .introspection
            .as_ref()
            .map_or(0, |answers| answers.len())
    }

    /// The hits and misses of the kept introspection answers, as
    /// [`cache_stats`](Self::cache_stats) for JWTs: a miss is an opaque
    /// token without a kept answer, sent for introspection (a call to the
    /// authorization server, or a wait for one already under way for it,
    /// or a refusal past the introspector's rate limit).
    #[cfg(feature = "remote")]
    pub fn introspection_stats(&self) -> CacheStats {
        self.shared
            .introspection
            .as_ref()
            .map_or_else(CacheStats::default, |answers| answers.stats())
    }
}

impl<C, O: Clone> Clone for JwtAuthLayer<C, O> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            on_rejection: self.on_rejection.clone(),
            _claims: PhantomData,
        }
    }
}

impl<C, O> fmt::Debug for JwtAuthLayer<C, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuthLayer")
            .field("validator", &self.shared.validator)
            .field("optional", &self.shared.optional)
            .field("dpop", &self.shared.dpop)
            .field("claims", &std::any::type_name::<C>())
            .finish_non_exhaustive()
    }
}

impl<S, C, O: Clone> Layer<S> for JwtAuthLayer<C, O> {
    type Service = JwtAuth<S, C, O>;

    fn layer(&self, inner: S) -> Self::Service {
        JwtAuth::new(inner, Arc::clone(&self.shared), self.on_rejection.clone())
    }
}

/// The keys (and the rules of [`JwtAuthLayerBuilder`]) a layer starts from.
#[derive(Debug)]
enum First {
    Keys(KeyRing),
    Issuer(Box<TrustedIssuer>),
}

/// Builds a [`JwtAuthLayer`].
#[must_use]
pub struct JwtAuthLayerBuilder<C = Claims, O = JsonRejection> {
    first: First,
    issuers: Vec<TrustedIssuer>,
    rules: Validation,
    revocation: Vec<Arc<dyn Revocation>>,
    sources: TokenSources,
    optional: bool,
    cache: usize,
    dpop: Option<Dpop>,
    csrf: CsrfPolicy,
    #[cfg(feature = "remote")]
    introspection: Option<crate::introspection::Introspector>,
    resource_metadata: Option<ProtectedResourceMetadataBuilder>,
    challenge_scopes: Vec<String>,
    on_rejection: O,
    _claims: PhantomData<fn() -> C>,
}

impl<C, O> fmt::Debug for JwtAuthLayerBuilder<C, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuthLayerBuilder")
            .field("first", &self.first)
            .field("issuers", &self.issuers)
            .field("rules", &self.rules)
            .field("optional", &self.optional)
            .field("cache", &self.cache)
            .field("dpop", &self.dpop)
            .finish_non_exhaustive()
    }
}

impl<C, O> JwtAuthLayerBuilder<C, O> {
    /// Also accepts the tokens of `issuer`, with its own keys and rules; see
    /// [`Validator::with_issuer`] for how a token finds its issuer.
    pub fn issuer(mut self, issuer: TrustedIssuer) -> Self {
        self.issuers.push(issuer);
        self
    }

    /// Replaces all claim rules at once.
    pub fn validation(mut self, rules: Validation) -> Self {
        self.rules = rules;
        self
    }

    /// Clock-skew leeway for `exp`, `nbf` and `iat` (default 5 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.rules = self.rules.leeway(leeway);
        self
    }

    /// Requires `iss` to be one of `issuers`.
    pub fn issuers<I: IntoIterator<Item = S>, S: Into<String>>(mut self, issuers: I) -> Self {
        self.rules = self.rules.issuers(issuers);
        self
    }

    /// Requires `aud` to name one of `audiences`.
    pub fn audiences<I: IntoIterator<Item = S>, S: Into<String>>(mut self, audiences: I) -> Self {
        self.rules = self.rules.audiences(audiences);
        self
    }

    /// Requires the claim `claim` to equal `value` (default: `scope` =
    /// `access_token`).
    pub fn token_type(mut self, claim: impl Into<String>, value: impl Into<String>) -> Self {
        self.rules = self.rules.token_type(claim, value);
        self
    }

    /// Accepts tokens of any type; see [`Validation::any_token_type`].
    pub fn any_token_type(mut self) -> Self {
        self.rules = self.rules.any_token_type();
        self
    }

    /// Caps the token length (default 8 KiB).
    pub fn max_token_len(mut self, max: usize) -> Self {
        self.rules = self.rules.max_token_len(max);
        self
    }

    /// Also asks `revocation` about every otherwise valid token: a token
    /// is refused when any hook says it is revoked. Hooks add up; none
    /// replaces another, so the builder from
    /// [`Auth::layer_builder`](crate::Auth::layer_builder) always keeps the
    /// hook that logout feeds.
    pub fn revocation(mut self, revocation: Arc<dyn Revocation>) -> Self {
        self.revocation.push(revocation);
        self
    }

    /// Also takes the token from the cookie `name`.
    ///
    /// An empty cookie (`name=`) counts as no credentials. A request with
    /// an unsafe method (not `GET`, `HEAD`, `OPTIONS` or `TRACE`) whose
    /// token came from the cookie must pass the CSRF check of
    /// [`csrf`](crate::csrf) (by default: from the request's own origin),
    /// else it is refused with 403 [`Rejection::CrossSite`](crate::rejection::Rejection::CrossSite).
    pub fn cookie(mut self, name: impl Into<String>) -> Self {
        self.sources.cookie = Some(name.into());
        self
    }

    /// The CSRF policy for tokens from the cookie (default
    /// [`CsrfPolicy::new`]: only the request's own origin).
    pub fn csrf(mut self, policy: CsrfPolicy) -> Self {
        self.csrf = policy;
        self
    }

    /// Also takes the token from the query parameter `name` (for WebSocket
    /// upgrades). Query strings end up in access logs: prefer the header.
    pub fn query_param(mut self, name: impl Into<String>) -> Self {
        self.sources.query = Some(name.into());
        self
    }

    /// Optional mode: a request without credentials passes through without
    /// claims; bad credentials are still refused.
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    /// Keeps up to about `capacity` verified tokens in the layer's cache
    /// (default [`DEFAULT_CACHE_CAPACITY`]; 0 turns the cache off). See
    /// [the cache](JwtAuthLayer#the-verified-token-cache) for what a hit
    /// still checks.
    pub fn cache(mut self, capacity: usize) -> Self {
        self.cache = capacity;
        self
    }

    /// Verifies every token in full, without a cache.
    pub fn no_cache(self) -> Self {
        self.cache(0)
    }

    /// Accepts DPoP-bound tokens (RFC 9449) with `Authorization: DPoP` and
    /// a proof in the `DPoP` header, and refuses bound tokens sent as
    /// bearer tokens; see [`dpop`](crate::dpop). The proof is checked on
    /// every request, whether or not the token is in the cache.
    pub fn dpop(mut self, dpop: Dpop) -> Self {
        self.dpop = Some(dpop);
        self
    }

    /// Checks opaque tokens, and the JWTs of the issuers it names, by token
    /// introspection (RFC 7662) instead of locally; see
    /// [`introspection`](crate::introspection). Their claims land in the
    /// request extensions as a JWT's do.
    #[cfg(feature = "remote")]
    pub fn introspection(mut self, introspector: crate::introspection::Introspector) -> Self {
        self.introspection = Some(introspector);
        self
    }

    /// Publishes the resource's metadata (RFC 9728): every 401 and 403
    /// challenge of the layer, and of the requirements behind it, names the
    /// document in `resource_metadata="…"`, and
    /// [`JwtAuthLayer::resource_metadata`] gives the document to serve.
    /// Members left unset are filled from the layer: `authorization_servers`
    /// from the trusted issuers (and the introspection issuer),
    /// `bearer_methods_supported` from the token sources (`header`, and
    /// `query` with [`Self::query_param`]), and
    /// `dpop_signing_alg_values_supported` from [`Self::dpop`]. See
    /// [`resource_metadata`](crate::resource_metadata).
    pub fn resource_metadata(mut self, metadata: ProtectedResourceMetadataBuilder) -> Self {
        self.resource_metadata = Some(metadata);
        self
    }

    /// Names `scopes` in the layer's 401 challenges (`scope="…"`, RFC 6750
    /// §3), so that a client knows what to ask its authorization server
    /// for: the scopes the routes behind this layer need.
    pub fn challenge_scopes<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        scopes: I,
    ) -> Self {
        self.challenge_scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Decodes the claims into `C2` instead.
    pub fn claims<C2>(self) -> JwtAuthLayerBuilder<C2, O> {
        JwtAuthLayerBuilder {
            first: self.first,
            issuers: self.issuers,
            rules: self.rules,
            revocation: self.revocation,
            sources: self.sources,
            optional: self.optional,
            cache: self.cache,
            dpop: self.dpop,
            csrf: self.csrf,
            #[cfg(feature = "remote")]
            introspection: self.introspection,
            resource_metadata: self.resource_metadata,
            challenge_scopes: self.challenge_scopes,
            on_rejection: self.on_rejection,
            _claims: PhantomData,
        }
    }

    /// Renders rejections with `on_rejection` instead of [`JsonRejection`].
    pub fn on_rejection<O2>(self, on_rejection: O2) -> JwtAuthLayerBuilder<C, O2> {
        JwtAuthLayerBuilder {
            first: self.first,
            issuers: self.issuers,
            rules: self.rules,
            revocation: self.revocation,
            sources: self.sources,
            optional: self.optional,
            cache: self.cache,
            dpop: self.dpop,
            csrf: self.csrf,
            #[cfg(feature = "remote")]
            introspection: self.introspection,
            resource_metadata: self.resource_metadata,
            challenge_scopes: self.challenge_scopes,
            on_rejection,
            _claims: PhantomData,
        }
    }

    /// Builds the layer.
    ///
    /// # Errors
    ///
    /// [`BuildError::NoKeys`] for an empty key set given in code,
    /// [`BuildError::DuplicateIssuer`] for an issuer trusted twice,
    /// [`BuildError::EmptyList`] for an empty issuer or audience list,
    /// [`BuildError::EmptySourceName`] for an empty cookie or query name,
    /// [`BuildError::Dpop`] for a DPoP configuration that cannot work.
    pub fn build(self) -> Result<JwtAuthLayer<C, O>, BuildError>
    where
        C: Clone,
    {
        if self.sources.cookie.as_deref() == Some("") {
            return Err(BuildError::EmptySourceName("cookie"));
        }
        if self.sources.query.as_deref() == Some("") {
            return Err(BuildError::EmptySourceName("query parameter"));
        }
        let mut validator = match self.first {
            First::Keys(keys) => Validator::new(keys, self.rules)?,
            First::Issuer(issuer) => Validator::for_issuer(issuer.validation(self.rules))?,
        };
        for issuer in self.issuers {
            validator = validator.with_issuer(issuer)?;
        }
        let mut hooks = self.revocation;
        match hooks.len() {
            0 => {}
            1 => validator = validator.with_revocation(hooks.remove(0)),
            _ => validator = validator.with_revocation(Arc::new(AnyRevoked(hooks))),
        }
        let dpop = self.dpop.map(Dpop::build).transpose()?.map(Arc::new);
        #[cfg_attr(not(feature = "remote"), allow(unused_mut))]
        let mut shared = Shared::new(validator, self.sources, self.optional, self.cache)
            .with_dpop(dpop)
            .with_csrf(self.csrf);
        #[cfg(feature = "remote")]
        let introspection_issuer = self
            .introspection
            .as_ref()
            .and_then(|introspector| introspector.config().issuer_name().map(str::to_owned));
        #[cfg(not(feature = "remote"))]
        let introspection_issuer: Option<String> = None;
        #[cfg(feature = "remote")]
        {
            shared.introspection = self
                .introspection
                .map(|introspector| Arc::new(crate::introspection::Answers::new(introspector)));
        }
        for scope in &self.challenge_scopes {
            if !crate::rejection::scope::is_scope_token(scope) {
                return Err(BuildError::InvalidScope(scope.clone()));
            }
        }
        if let Some(metadata) = self.resource_metadata {
            let mut issuers = shared.validator.issuer_names();
            issuers.extend(introspection_issuer);
            issuers.dedup();
            let mut methods = vec![BearerMethod::Header];
            if shared.sources.query.is_some() {
                methods.push(BearerMethod::Query);
            }
            let dpop_algs = shared
                .dpop
                .as_deref()
                .map(DpopVerifier::algorithm_names)
                .unwrap_or_default();
            shared.metadata = Some(metadata.derive(issuers, methods, dpop_algs).build()?);
        }
        let metadata_url = shared
            .metadata
            .as_ref()
            .map(ProtectedResourceMetadata::metadata_url);
        shared.challenge =
            ChallengeParams::new(metadata_url.as_deref(), &self.challenge_scopes).map(Arc::new);
        Ok(JwtAuthLayer {
            shared: Arc::new(shared),
            on_rejection: self.on_rejection,
            _claims: PhantomData,
        })
    }
}
