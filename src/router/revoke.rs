//! Revoking from the router: into this instance's replica at once, then
//! through the shared backend, if any, to every other instance.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use super::Auth;
use super::error::AuthError;
use crate::revocation::{RevocationBackend, RevocationError, Revoked};
use crate::validator::now;

/// How long logout waits for the backend before answering 503.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);

/// A family's access tokens may be signed by a rotation that passed the
/// store just before the family was revoked; its entry outlives the last
/// possible such token by this margin.
const FAMILY_MARGIN: Duration = Duration::from_secs(60);

type Publishing<'a> = Pin<Box<dyn Future<Output = Result<(), RevocationError>> + Send + 'a>>;

/// A [`RevocationBackend`] behind `dyn`, for the router's state.
pub(crate) trait Publish: Send + Sync {
    fn publish<'a>(&'a self, revoked: &'a Revoked) -> Publishing<'a>;
}

impl<B: RevocationBackend> Publish for B {
    fn publish<'a>(&'a self, revoked: &'a Revoked) -> Publishing<'a> {
        Box::pin(self.revoke(revoked))
    }
}

/// The shared backend of an [`Auth`].
#[derive(Clone)]
pub(crate) struct Backend(pub(crate) Arc<dyn Publish>);

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Backend")
    }
}

impl<S> Auth<S> {
    /// Revokes here at once, then everywhere. The token stays accepted by
    /// the validator until its `exp` plus the leeway, so the entry lasts
    /// that long. `Err` (503) when the backend did not acknowledge: the
    /// caller must not report success.
    pub(crate) async fn revoke(&self, mut revoked: Revoked) -> Result<(), AuthError> {
        revoked.until = revoked.until.saturating_add(self.leeway.as_secs());
        self.revoked.apply(&revoked);
        let Some(Backend(backend)) = &self.backend else {
            return Ok(());
        };
        match tokio::time::timeout(PUBLISH_TIMEOUT, backend.publish(&revoked)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => {
                tracing::error!(%error, "revocation backend unavailable");
                Err(AuthError::Unavailable)
            }
            Err(_) => {
                tracing::error!("revocation backend did not answer in time");
                Err(AuthError::Unavailable)
            }
        }
    }

    /// Revokes every access token issued from the family `sid`: those
    /// carry it in their `sid` claim and expire within an access-token
    /// lifetime from now.
    pub(crate) async fn revoke_family_tokens(&self, sid: &str) -> Result<(), AuthError> {
        let until = now()
            .saturating_add(self.issuer.access_lifetime().as_secs())
            .saturating_add(FAMILY_MARGIN.as_secs());
        self.revoke(Revoked::family(sid, until)).await
    }
}
