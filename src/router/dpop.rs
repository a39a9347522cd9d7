//! DPoP at the router's token endpoints (RFC 9449 §5): `/login`,
//! `GET /refresh_token` and `POST /refresh`.
//!
//! With [`AuthBuilder::dpop`](super::AuthBuilder::dpop), a request to one of
//! them that carries a `DPoP` proof has it checked as the layer checks one
//! (`typ`, `alg`, `jwk`, signature, `htm`, `htu` against the configured
//! base URL, `iat`, nonce), except `ath`: no access token comes along. The
//! tokens it gets are bound to the proof's key: `cnf.jkt` in the access
//! token and in the refresh token, and `token_type: "DPoP"`.
//!
//! The binding of a refresh-token family lives in its refresh tokens' own
//! `cnf` claim, signed like the rest of the token and copied from the
//! presented token to the next at every rotation; the store knows nothing
//! of it. A refresh of a bound family needs a proof by that key, so a
//! stolen refresh token is of no use without the private key. A family
//! logged in without a proof gets bound by the first refresh that comes
//! with one, and stays bound from then on; a binding never changes keys
//! and is never dropped.
//!
//! A proof enters the replay cache only once the request's credentials
//! verified (the password at login, the refresh token at refresh), so that
//! a stream of proofs made with throwaway keys cannot fill it. With
//! [`Dpop::shared_replay`](crate::dpop::Dpop::shared_replay) it then
//! enters the shared store too, and a store that cannot answer refuses the
//! request with 503.

use std::sync::Arc;

use axum::extract::{FromRequestParts, OriginalUri};
use http::request::Parts;

use super::Auth;
use super::error::AuthError;
use crate::dpop::{DpopError, ProofError, RequestHead, TokenProof};
use crate::issuer::Confirmation;
use crate::rejection::Rejection;

/// The `DPoP` proof of a request to a token endpoint, checked but not yet
/// entered into the replay cache; `None` without a proof, or when the
/// [`Auth`] has no DPoP.
///
/// Refuses the request (401 `invalid_dpop_proof`) when a proof came and
/// fails a check, or none came and DPoP is required.
pub(super) struct Proof(Option<TokenProof>);

impl<S: Send + Sync> FromRequestParts<Arc<Auth<S>>> for Proof {
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, auth: &Arc<Auth<S>>) -> Result<Self, AuthError> {
        let Some(dpop) = &auth.token_dpop else {
            return Ok(Self(None));
        };
        // The URL the client asked for, also when the router is nested.
        let uri = parts
            .extensions
            .get::<OriginalUri>()
            .map_or(&parts.uri, |OriginalUri(uri)| uri);
        let head = RequestHead {
            method: &parts.method,
            uri,
            headers: &parts.headers,
        };
        let proof = dpop.token_proof(&head).map_err(AuthError::Dpop)?;
        if proof.is_none() && dpop.is_required() {
            let missing = DpopError::InvalidProof(ProofError::Missing);
            return Err(AuthError::Dpop(dpop.token_rejection(missing)));
        }
        Ok(Self(proof))
    }
}

impl Proof {
    /// The key to bind a request's tokens to, once its credentials
    /// verified: the proof's, entered into the replay cache now. `bound`:
    /// the key the presented refresh token is bound to, which the proof
    /// must be by.
    ///
    /// # Errors
    ///
    /// 401 `invalid_dpop_proof` for a replayed proof, for a bound refresh
    /// token without a proof or with a proof by another key;
    /// 401 `invalid_token` for a bound refresh token when the [`Auth`] has
    /// no DPoP to check its proof with; 503 when the shared replay store
    /// ([`Dpop::shared_replay`](crate::dpop::Dpop::shared_replay)) is
    /// unavailable.
    pub(super) async fn bind<S>(
        self,
        auth: &Auth<S>,
        bound: Option<&Confirmation>,
    ) -> Result<Option<String>, AuthError> {
        let Some(dpop) = &auth.token_dpop else {
            if bound.is_some() {
                tracing::warn!("a DPoP-bound refresh token, and no DPoP configured: refused");
                return Err(AuthError::InvalidRefresh);
            }
            return Ok(None);
        };
        let refuse = |error| AuthError::Dpop(dpop.token_rejection(DpopError::InvalidProof(error)));
        match (self.0, bound) {
            (None, None) => Ok(None),
            (None, Some(_)) => Err(refuse(ProofError::Missing)),
            (Some(proof), Some(cnf)) if proof.jkt != cnf.jkt => {
                Err(refuse(ProofError::KeyMismatch))
            }
            (Some(proof), _) => match dpop.record_token_proof(&proof).await {
                Ok(()) => Ok(Some(proof.jkt)),
                Err(Rejection::Dpop(rejection)) => Err(AuthError::Dpop(rejection)),
                Err(_) => Err(AuthError::Unavailable),
            },
        }
    }
}
