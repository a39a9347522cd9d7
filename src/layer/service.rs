//! [`JwtAuth`], the service the layer wraps around yours.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use serde::de::DeserializeOwned;
use tower_service::Service;

use crate::cache::Verified;
use crate::claims::Claims;
use crate::dpop::{DpopVerifier, RequestHead, SharedCheck};
use crate::error::TokenError;
use crate::layer::Shared;
use crate::layer::future::{Held, ResponseFuture};
use crate::rejection::{JsonRejection, OnRejection, Rejection};
use crate::source::{Scheme, SourceError, Via, is_token68};
use crate::validator::now;

/// Validates the bearer token of each request before calling the inner
/// service; see [`JwtAuthLayer`](crate::JwtAuthLayer).
///
/// On success the claims are inserted into the request extensions as an
/// `Arc<C>`, shared with the verified-token cache and with every reader. A
/// rejection is a response, never a service error.
pub struct JwtAuth<S, C = Claims, O = JsonRejection> {
    inner: S,
    shared: Arc<Shared<C>>,
    on_rejection: O,
    _claims: PhantomData<fn() -> C>,
}

impl<S, C, O> JwtAuth<S, C, O> {
    pub(crate) fn new(inner: S, shared: Arc<Shared<C>>, on_rejection: O) -> Self {
        Self {
            inner,
            shared,
            on_rejection,
            _claims: PhantomData,
        }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// Why a request does not go on to the inner service now.
pub(crate) enum Refusal<C> {
    /// Refused: answer with this rejection.
    Reject(Rejection),
    /// The token's issuer may have published its key since the keys were
    /// fetched: wait for the refetch, then check the token once more.
    #[cfg(feature = "remote")]
    Wait(crate::validator::key_source::KeyWait),
    /// The token is for introspection, and no answer is kept for it: wait
    /// for one, with the DPoP request's proof whose key the answer must
    /// bind the token to (never made without the `remote` feature).
    #[cfg_attr(not(feature = "remote"), allow(dead_code))]
    Introspect(
        crate::layer::future::Introspection<C>,
        Option<crate::dpop::BoundProof>,
    ),
}

/// A request that passed every check made here.
pub(crate) struct Authenticated<C> {
    /// The claims of its token, shared with the cache: `None` in optional
    /// mode without credentials.
    pub(crate) claims: Option<Arc<C>>,
    /// With a shared DPoP replay store, the store's verdict on its proof,
    /// which the request awaits before it goes on.
    pub(crate) shared_check: Option<SharedCheck>,
}

/// The request's claims, or why the request is refused. `may_wait`:
/// whether a token with an unknown `kid` may wait for its issuer's keys.
///
/// With DPoP, the proof is checked before the token, so that nothing a
/// refused proof came with enters the verified-token cache, and on every
/// request, cache hit or not; its `jti` is recorded once the token verified.
pub(crate) fn authenticate<C>(
    shared: &Shared<C>,
    request: &RequestHead<'_>,
    may_wait: bool,
) -> Result<Authenticated<C>, Refusal<C>>
where
    C: DeserializeOwned + Clone + Send + Sync + 'static,
{
    let dpop = shared.dpop.as_deref();
    let (scheme, token) = match shared.sources.find_via(request.headers, request.uri) {
        Ok(Some((scheme, token, via))) => {
            // Before the token is checked: a forged request costs nothing.
            if via == Via::Cookie
                && shared
                    .csrf
                    .check(request.method, request.uri, request.headers, true)
                    .is_err()
            {
                tracing::debug!("cross-site request with a cookie token refused");
                return Err(Refusal::Reject(Rejection::CrossSite));
            }
            (scheme, token)
        }
        Ok(None) if shared.optional => {
            return Ok(Authenticated {
                claims: None,
                shared_check: None,
            });
        }
        Ok(None) => {
            let rejection = dpop.map_or(Rejection::MissingCredentials, |dpop| {
                dpop.missing_credentials()
            });
            return Err(Refusal::Reject(rejection));
        }
        Err(SourceError::Malformed) => {
            let rejection = dpop.map_or(Rejection::InvalidRequest, |dpop| dpop.invalid_request());
            return Err(Refusal::Reject(rejection));
        }
    };
    let validator = &shared.validator;
    #[cfg(feature = "remote")]
    if let Some(answers) = &shared.introspection
        && answers.takes(token)
    {
        return introspect(shared, answers, scheme, token, request);
    }
    let proof = match dpop {
        Some(dpop) => dpop
            .check(scheme, token, request, validator.max_token_len())
            .map_err(Refusal::Reject)?,
        None => None,
    };
    // A DPoP layer refuses a bearer token bound to a key. Its validation
    // says whether it is (a hit reads no payload), and keeps it out of the
    // cache if it is.
    let bearer_under_dpop = dpop.filter(|_| scheme == Scheme::Bearer);
    let outcome = match &shared.cache {
        Some(cache) => cache.validate(validator, token, bearer_under_dpop.is_none()),
        None => validator.verify_at(token, now, |claims, registered| Verified {
            claims: Arc::new(claims),
            bound: registered.bound,
        }),
    };
    match outcome {
        Ok(Verified { bound: true, .. }) if let Some(dpop) = bearer_under_dpop => {
            Err(Refusal::Reject(dpop.bound_as_bearer()))
        }
        Ok(Verified { claims, .. }) => {
            let shared_check = match (dpop, proof) {
                (Some(dpop), Some(proof)) => dpop.record(proof).map_err(Refusal::Reject)?,
                _ => None,
            };
            Ok(Authenticated {
                claims: Some(claims),
                shared_check,
            })
        }
        // Bound, whatever else is wrong with it.
        Err(_)
            if let Some(dpop) = bearer_under_dpop
                && DpopVerifier::reads_bound(token, validator.max_token_len()) =>
        {
            Err(Refusal::Reject(dpop.bound_as_bearer()))
        }
        // The validator lets only base64url and dots through, so a token
        // it accepts is a token68. One refused as malformed or too large
        // may not even be that, and then the request is malformed (400,
        // RFC 6750 §3.1); every other refusal comes after the alphabet
        // check, so that token was a token68.
        Err(TokenError::Malformed | TokenError::TooLarge) if !is_token68(token) => {
            let rejection = dpop.map_or(Rejection::InvalidRequest, |dpop| dpop.invalid_request());
            Err(Refusal::Reject(rejection))
        }
        Err(error) => {
            #[cfg(feature = "remote")]
            if may_wait
                && let Some(remote) = validator.key_miss(token, error)
                && let Some(wait) = remote.on_unknown_kid()
            {
                return Err(Refusal::Wait(wait));
            }
            #[cfg(not(feature = "remote"))]
            let _ = may_wait;
            tracing::debug!(%error, "bearer token refused");
            Err(Refusal::Reject(refused(dpop, proof.is_some(), error)))
        }
    }
}

/// The answer to a token its verdict refused, a JWT's or an introspected
/// one's alike: 503 when the revocation store could not answer (fail
/// closed, but the token is not at fault; also under DPoP), else
/// `invalid_token`, as a DPoP error when the request came with a proof
/// (`proved`).
fn refused(dpop: Option<&DpopVerifier>, proved: bool, error: TokenError) -> Rejection {
    match (error, dpop) {
        (TokenError::RevocationUnknown, _) => Rejection::Unavailable,
        (error, Some(dpop)) if proved => dpop.invalid_token(error),
        (error, _) => Rejection::InvalidToken(error),
    }
}

/// A request whose token is for introspection: the answer kept for it, or
/// a wait for one. Under DPoP, a DPoP request's proof is checked first,
/// and its key compared with the one the answer binds the token to
/// (RFC 9449 §6.2).
#[cfg(feature = "remote")]
#[inline]
fn introspect<C>(
    shared: &Shared<C>,
    answers: &std::sync::Arc<crate::introspection::Answers<C>>,
    scheme: Scheme,
    token: &[u8],
    request: &RequestHead<'_>,
) -> Result<Authenticated<C>, Refusal<C>>
where
    C: DeserializeOwned + Clone + Send + Sync + 'static,
{
    let (dpop, validator) = (shared.dpop.as_deref(), &shared.validator);
    let proof = match dpop {
        Some(dpop) => dpop
            .check_introspected(scheme, token, request, validator.max_token_len())
            .map_err(Refusal::Reject)?,
        None => None,
    };
    if token.len() > validator.max_token_len() {
        return Err(Refusal::Reject(Rejection::InvalidToken(
            TokenError::TooLarge,
        )));
    }
    // Only token68s are introspected, so one that is not finds no answer
    // kept (its key is another token's one time in 2^128): its alphabet is
    // checked when it misses, not on every hit.
    if let Some(verdict) = answers.hit(validator, token, now()) {
        return introspected(shared, verdict, proof).map_err(Refusal::Reject);
    }
    if !is_token68(token) {
        let rejection = dpop.map_or(Rejection::InvalidRequest, |dpop| dpop.invalid_request());
        return Err(Refusal::Reject(rejection));
    }
    answers.count_miss();
    Err(Refusal::Introspect(answers.lookup(token), proof))
}

/// A request whose token introspection answered, or why it is refused: the
/// same verdicts as a JWT's. `proof`: a DPoP request's proof, whose key
/// must be the one the answer binds the token to; a bearer token bound to
/// a key is refused by a DPoP layer.
#[cfg(feature = "remote")]
#[inline]
pub(crate) fn introspected<C>(
    shared: &Shared<C>,
    verdict: Result<crate::introspection::Introspected<C>, TokenError>,
    proof: Option<crate::dpop::BoundProof>,
) -> Result<Authenticated<C>, Rejection> {
    let dpop = shared.dpop.as_deref();
    match verdict {
        Ok(introspected)
            if introspected.verified.bound
                && proof.is_none()
                && let Some(dpop) = dpop =>
        {
            Err(dpop.bound_as_bearer())
        }
        Ok(introspected) => {
            let shared_check = match (dpop, proof) {
                (Some(dpop), Some(proof)) => {
                    dpop.record_bound(proof, introspected.jkt.as_deref())?
                }
                _ => None,
            };
            Ok(Authenticated {
                claims: Some(introspected.verified.claims),
                shared_check,
            })
        }
        Err(error) => {
            tracing::debug!(%error, "introspected token refused");
            Err(refused(dpop, proof.is_some(), error))
        }
    }
}

impl<S: Clone, C, O: Clone> Clone for JwtAuth<S, C, O> {
    fn clone(&self) -> Self {
        Self::new(
            self.inner.clone(),
            Arc::clone(&self.shared),
            self.on_rejection.clone(),
        )
    }
}

impl<S: fmt::Debug, C, O> fmt::Debug for JwtAuth<S, C, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuth")
            .field("inner", &self.inner)
            .field("validator", &self.shared.validator)
            .finish_non_exhaustive()
    }
}

impl<S: Clone, C, O: Clone> JwtAuth<S, C, O> {
    /// What a request that must wait takes into its future. The service
    /// made ready is the one that must be called: it goes into the future,
    /// and a clone stays here (tower's "be careful when cloning inner
    /// services").
    #[cfg_attr(not(any(feature = "router", feature = "remote")), allow(dead_code))]
    fn hold<ReqBody>(&mut self, request: Request<ReqBody>) -> Held<S, ReqBody, C, O> {
        let clone = self.inner.clone();
        Held {
            inner: std::mem::replace(&mut self.inner, clone),
            request,
            shared: Arc::clone(&self.shared),
            on_rejection: self.on_rejection.clone(),
        }
    }
}

impl<S, C, O, ReqBody, ResBody> Service<Request<ReqBody>> for JwtAuth<S, C, O>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    C: DeserializeOwned + Clone + Send + Sync + 'static,
    O: OnRejection<ResBody> + Clone,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody, C, O>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let mut future = self.authenticated_call(req);
        if let Some(challenge) = &self.shared.challenge {
            future.set_challenge(Arc::clone(challenge));
        }
        future
    }
}

impl<S: Clone, C, O: Clone> JwtAuth<S, C, O> {
    /// Authenticates `req`, then calls the inner service or refuses it.
    fn authenticated_call<ReqBody, ResBody>(
        &mut self,
        mut req: Request<ReqBody>,
    ) -> ResponseFuture<S, ReqBody, C, O>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>>,
        C: DeserializeOwned + Clone + Send + Sync + 'static,
        O: OnRejection<ResBody>,
    {
        let head = RequestHead {
            method: req.method(),
            uri: req.uri(),
            headers: req.headers(),
        };
        match authenticate(&self.shared, &head, true) {
            Ok(Authenticated {
                claims,
                shared_check,
            }) => {
                if let Some(claims) = claims {
                    req.extensions_mut().insert(claims);
                }
                if let Some(check) = shared_check {
                    return ResponseFuture::checking(check, self.hold(req));
                }
            }
            Err(Refusal::Reject(rejection)) => {
                return ResponseFuture::rejected(self.on_rejection.on_rejection(rejection));
            }
            #[cfg(feature = "remote")]
            Err(Refusal::Wait(wait)) => return ResponseFuture::waiting(wait, self.hold(req)),
            Err(Refusal::Introspect(lookup, proof)) => {
                return ResponseFuture::introspecting(lookup, proof, self.hold(req));
            }
        }
        ResponseFuture::future(self.inner.call(req))
    }
}
