//! The revocation hook the validator asks about every otherwise valid
//! token: [`Revocation`] and its [`Verdict`]. The hooks that keep
//! revocations (a list, a replica of a shared backend) are in
//! [`revocation`](crate::revocation).

use std::sync::Arc;

use super::RegisteredClaims;

/// What the hook knows about an otherwise valid token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not revoked.
    Valid,
    /// Revoked: refused with `invalid_token`.
    Revoked,
    /// Not known: the revocations could not be kept up to date. Refused
    /// with 503 and `Retry-After` (fail closed).
    Unknown,
}

/// Decides whether an otherwise valid token has been revoked.
///
/// Implement [`Revocation::is_revoked`]; a hook that can also not know
/// (a replica cut off from its backend) overrides [`Revocation::verdict`].
pub trait Revocation: Send + Sync + 'static {
    /// `true` refuses the token with `invalid_token`.
    fn is_revoked(&self, claims: &RegisteredClaims<'_>) -> bool;

    /// The verdict the layer acts on; by default [`Verdict::Revoked`] when
    /// [`Revocation::is_revoked`] says so, else [`Verdict::Valid`].
    fn verdict(&self, claims: &RegisteredClaims<'_>) -> Verdict {
        if self.is_revoked(claims) {
            Verdict::Revoked
        } else {
            Verdict::Valid
        }
    }
}

/// The default hook: nothing is revoked.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRevocation;

impl Revocation for NoRevocation {
    fn is_revoked(&self, _: &RegisteredClaims<'_>) -> bool {
        false
    }
}

/// Several hooks: a token is revoked when any of them says so, else unknown
/// when any of them does not know.
pub(crate) struct AnyRevoked(pub(crate) Vec<Arc<dyn Revocation>>);

impl Revocation for AnyRevoked {
    fn is_revoked(&self, claims: &RegisteredClaims<'_>) -> bool {
        self.0.iter().any(|hook| hook.is_revoked(claims))
    }

    fn verdict(&self, claims: &RegisteredClaims<'_>) -> Verdict {
        let mut verdict = Verdict::Valid;
        for hook in &self.0 {
            match hook.verdict(claims) {
                Verdict::Revoked => return Verdict::Revoked,
                Verdict::Unknown => verdict = Verdict::Unknown,
                Verdict::Valid => {}
            }
        }
        verdict
    }
}

impl<R: Revocation> Revocation for Arc<R> {
    fn is_revoked(&self, claims: &RegisteredClaims<'_>) -> bool {
        (**self).is_revoked(claims)
    }

    fn verdict(&self, claims: &RegisteredClaims<'_>) -> Verdict {
        (**self).verdict(claims)
    }
}
