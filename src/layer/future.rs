//! The response future of [`JwtAuth`](crate::layer::JwtAuth).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project_lite::pin_project;
use serde::de::DeserializeOwned;
use tower_service::Service;

use crate::claims::Claims;
use crate::dpop::{BoundProof, SharedCheck};
use crate::layer::Shared;
use crate::layer::service::{Authenticated, Refusal, authenticate};
use crate::rejection::{ChallengeParams, JsonRejection, OnRejection};
use crate::validator::key_source::KeyWait;

pin_project! {
    /// The inner service's future, a ready rejection, (for a token whose
    /// `kid` its issuer may have published since the keys were fetched) a
    /// wait for the refetch, after which the token is checked once more,
    /// or (with a shared DPoP replay store) the wait for the store's
    /// verdict on the proof, after which the request goes on or is refused.
    pub struct ResponseFuture<S, ReqBody, C = Claims, O = JsonRejection>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        kind: Kind<S, ReqBody, C, O>,
        // The layer's challenge parameters, added to the response's
        // challenges whichever arm gave it.
        challenge: Option<Arc<ChallengeParams>>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<S, ReqBody, C, O>
    where
        S: Service<Request<ReqBody>>,
    {
        Future {
            #[pin]
            future: S::Future,
        },
        Rejected {
            response: Option<S::Response>,
        },
        Waiting {
            wait: KeyWait,
            held: Option<Held<S, ReqBody, C, O>>,
        },
        Checking {
            check: SharedCheck,
            held: Option<Held<S, ReqBody, C, O>>,
        },
        Introspecting {
            lookup: Introspection<C>,
            proof: Option<BoundProof>,
            held: Option<Held<S, ReqBody, C, O>>,
        },
    }
}

/// A request's wait for its token's introspection (nothing without the
/// `remote` feature).
#[cfg(feature = "remote")]
pub(crate) type Introspection<C> = crate::introspection::IntrospectFuture<C>;
#[cfg(not(feature = "remote"))]
pub(crate) type Introspection<C> = std::marker::PhantomData<fn() -> C>;

/// What the request needs once the wait is over: the ready inner service
/// (swapped out of the service for a clone), the request (with its claims,
/// when checking), and the layer's state.
pub(crate) struct Held<S, ReqBody, C, O> {
    pub(crate) inner: S,
    pub(crate) request: Request<ReqBody>,
    pub(crate) shared: Arc<Shared<C>>,
    pub(crate) on_rejection: O,
}

impl<S, ReqBody, C, O> Held<S, ReqBody, C, O>
where
    S: Service<Request<ReqBody>>,
    C: Send + Sync + 'static,
{
    /// Goes on with a request that passed: its claims into its extensions,
    /// then the shared replay store's check if there is one, else the inner
    /// service.
    fn proceed(self, authenticated: Authenticated<C>) -> Kind<S, ReqBody, C, O> {
        let Self {
            mut inner,
            mut request,
            shared,
            on_rejection,
        } = self;
        if let Some(claims) = authenticated.claims {
            request.extensions_mut().insert(claims);
        }
        match authenticated.shared_check {
            Some(check) => Kind::Checking {
                check,
                held: Some(Self {
                    inner,
                    request,
                    shared,
                    on_rejection,
                }),
            },
            None => Kind::Future {
                future: inner.call(request),
            },
        }
    }
}

impl<S, ReqBody, C, O> ResponseFuture<S, ReqBody, C, O>
where
    S: Service<Request<ReqBody>>,
{
    /// Adds the layer's challenge parameters to the response.
    pub(crate) fn set_challenge(&mut self, challenge: Arc<ChallengeParams>) {
        self.challenge = Some(challenge);
    }

    pub(crate) fn future(future: S::Future) -> Self {
        Self {
            kind: Kind::Future { future },
            challenge: None,
        }
    }

    pub(crate) fn rejected(response: S::Response) -> Self {
        Self {
            kind: Kind::Rejected {
                response: Some(response),
            },
            challenge: None,
        }
    }

    #[cfg_attr(not(feature = "remote"), allow(dead_code))]
    pub(crate) fn waiting(wait: KeyWait, held: Held<S, ReqBody, C, O>) -> Self {
        Self {
            kind: Kind::Waiting {
                wait,
                held: Some(held),
            },
            challenge: None,
        }
    }

    /// A request whose token is being introspected, with its DPoP proof if
    /// it is a DPoP request.
    pub(crate) fn introspecting(
        lookup: Introspection<C>,
        proof: Option<BoundProof>,
        held: Held<S, ReqBody, C, O>,
    ) -> Self {
        Self {
            kind: Kind::Introspecting {
                lookup,
                proof,
                held: Some(held),
            },
            challenge: None,
        }
    }

    /// A request that passed every check but the shared replay store's,
    /// its claims inserted, awaiting `check`.
    #[cfg_attr(not(feature = "router"), allow(dead_code))]
    pub(crate) fn checking(check: SharedCheck, held: Held<S, ReqBody, C, O>) -> Self {
        Self {
            kind: Kind::Checking {
                check,
                held: Some(held),
            },
            challenge: None,
        }
    }
}

impl<S, ReqBody, ResBody, C, O> Future for ResponseFuture<S, ReqBody, C, O>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    C: DeserializeOwned + Clone + Send + Sync + 'static,
    O: OnRejection<ResBody>,
{
    type Output = Result<Response<ResBody>, S::Error>;

    /// # Panics
    ///
    /// If polled again after it completed.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut output = ready!(this.kind.poll(cx));
        if let (Ok(response), Some(challenge)) = (&mut output, this.challenge.as_deref()) {
            challenge.apply(response);
        }
        Poll::Ready(output)
    }
}

impl<S, ReqBody, ResBody, C, O> Future for Kind<S, ReqBody, C, O>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    C: DeserializeOwned + Clone + Send + Sync + 'static,
    O: OnRejection<ResBody>,
{
    type Output = Result<Response<ResBody>, S::Error>;

    /// # Panics
    ///
    /// If a rejection is polled again after it completed.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut kind = self;
        loop {
            let next = match kind.as_mut().project() {
                KindProj::Future { future } => return future.poll(cx),
                KindProj::Rejected { response } => {
                    return Poll::Ready(Ok(response
                        .take()
                        .expect("ResponseFuture polled after completion")));
                }
                KindProj::Waiting { wait, held } => {
                    ready!(wait.as_mut().poll(cx));
                    let held = held.take().expect("ResponseFuture polled after completion");
                    // Once more, now without waiting: a token whose key is
                    // still unknown is refused.
                    let head = crate::dpop::RequestHead {
                        method: held.request.method(),
                        uri: held.request.uri(),
                        headers: held.request.headers(),
                    };
                    match authenticate(&held.shared, &head, false) {
                        Ok(authenticated) => held.proceed(authenticated),
                        Err(Refusal::Reject(rejection)) => Kind::Rejected {
                            response: Some(held.on_rejection.on_rejection(rejection)),
                        },
                        Err(Refusal::Introspect(lookup, proof)) => Kind::Introspecting {
                            lookup,
                            proof,
                            held: Some(held),
                        },
                        #[cfg(feature = "remote")]
                        Err(Refusal::Wait(_)) => Kind::Rejected {
                            response: Some(held.on_rejection.on_rejection(
                                crate::rejection::Rejection::InvalidToken(
                                    crate::error::TokenError::UnknownKey,
                                ),
                            )),
                        },
                    }
                }
                KindProj::Checking { check, held } => {
                    let verdict = ready!(check.as_mut().poll(cx));
                    let Held {
                        mut inner,
                        request,
                        shared,
                        on_rejection,
                    } = held.take().expect("ResponseFuture polled after completion");
                    match (verdict, shared.dpop.as_deref()) {
                        (Ok(()), _) => Kind::Future {
                            future: inner.call(request),
                        },
                        (Err(refusal), Some(dpop)) => Kind::Rejected {
                            response: Some(on_rejection.on_rejection(dpop.shared_refusal(refusal))),
                        },
                        // A check comes only from a layer with DPoP.
                        (Err(_), None) => Kind::Rejected {
                            response: Some(
                                on_rejection.on_rejection(crate::rejection::Rejection::Unavailable),
                            ),
                        },
                    }
                }
                #[cfg(feature = "remote")]
                KindProj::Introspecting {
                    lookup,
                    proof,
                    held,
                } => {
                    let outcome = ready!(lookup.as_mut().poll(cx));
                    let held = held.take().expect("ResponseFuture polled after completion");
                    let shared = &held.shared;
                    let authenticated = match (outcome, shared.introspection.as_deref()) {
                        (Ok(answer), Some(answers)) => crate::layer::service::introspected(
                            shared,
                            answers.verdict(&shared.validator, &answer, crate::validator::now()),
                            proof.take(),
                        ),
                        // No answer: fail closed, 503.
                        _ => Err(crate::rejection::Rejection::Unavailable),
                    };
                    match authenticated {
                        Ok(authenticated) => held.proceed(authenticated),
                        Err(rejection) => Kind::Rejected {
                            response: Some(held.on_rejection.on_rejection(rejection)),
                        },
                    }
                }
                // Never built without `remote`; fail closed all the same.
                #[cfg(not(feature = "remote"))]
                KindProj::Introspecting { held, .. } => {
                    let held = held.take().expect("ResponseFuture polled after completion");
                    Kind::Rejected {
                        response: Some(
                            held.on_rejection
                                .on_rejection(crate::rejection::Rejection::Unavailable),
                        ),
                    }
                }
            };
            kind.set(next);
        }
    }
}

impl<S, ReqBody, C, O> std::fmt::Debug for ResponseFuture<S, ReqBody, C, O>
where
    S: Service<Request<ReqBody>>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
