//! What a request must be allowed: [`Authorize`], the scope requirement
//! [`Scopes`], and [`ScopeList`], the names a 403 challenge lists.

use super::scope::{ScopeClaims, ScopeSource};
use crate::error::BuildError;
use crate::rejection::Rejection;
use crate::rejection::scope::ScopeList;

/// Decides whether the claims of a request allow it.
///
/// Implemented by [`Scopes`] for every [`ScopeClaims`] type, by
/// [`StepUp`](super::StepUp) for every
/// [`AuthenticationClaims`](super::AuthenticationClaims) type, and by any
/// `Fn(&C) -> bool` (refusing with [`Rejection::InsufficientScope`] and an
/// empty [`ScopeList`]).
pub trait Authorize<C> {
    /// `Ok` to let the request through, or the rejection to answer with
    /// (usually [`Rejection::InsufficientScope`], or
    /// [`Rejection::InsufficientUserAuthentication`] for a step-up).
    ///
    /// # Errors
    ///
    /// The rejection when the claims do not allow the request.
    fn authorize(&self, claims: &C) -> Result<(), Rejection>;
}

impl<C, F> Authorize<C> for F
where
    F: Fn(&C) -> bool,
{
    fn authorize(&self, claims: &C) -> Result<(), Rejection> {
        if self(claims) {
            Ok(())
        } else {
            Err(Rejection::InsufficientScope {
                required: ScopeList::default(),
            })
        }
    }
}

/// A scope requirement: all of a list of scopes, or any one of them, read
/// from a [`ScopeSource`] (the `scope` claim unless set otherwise).
///
/// A request that lacks them is refused with
/// [`Rejection::InsufficientScope`], whose challenge lists every required
/// scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scopes {
    required: ScopeList,
    any: bool,
    source: ScopeSource,
}

impl Scopes {
    /// Requires every one of `scopes`.
    ///
    /// # Errors
    ///
    /// See [`ScopeList::new`].
    pub fn all<I, S>(scopes: I) -> Result<Self, BuildError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Ok(Self {
            required: ScopeList::new(scopes)?,
            any: false,
            source: ScopeSource::default(),
        })
    }

    /// Requires at least one of `scopes`.
    ///
    /// # Errors
    ///
    /// See [`ScopeList::new`].
    pub fn any<I, S>(scopes: I) -> Result<Self, BuildError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Ok(Self {
            any: true,
            ..Self::all(scopes)?
        })
    }

    /// Reads the scopes from `source` instead of the `scope` claim.
    #[must_use]
    pub fn source(mut self, source: ScopeSource) -> Self {
        self.source = source;
        self
    }

    /// The required scopes.
    pub fn required(&self) -> &ScopeList {
        &self.required
    }

    /// Whether `claims` meet the requirement.
    pub fn is_met_by<C: ScopeClaims + ?Sized>(&self, claims: &C) -> bool {
        let mut names = self.required.names();
        let grants = |name| claims.grants(&self.source, name);
        if self.any {
            names.any(grants)
        } else {
            names.all(grants)
        }
    }
}

impl<C: ScopeClaims> Authorize<C> for Scopes {
    fn authorize(&self, claims: &C) -> Result<(), Rejection> {
        if self.is_met_by(claims) {
            Ok(())
        } else {
            Err(Rejection::InsufficientScope {
                required: self.required.clone(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn challenge_lists_the_required_scopes_space_separated() {
        let list = ScopeList::new(["read", "write"]).unwrap();
        assert_eq!(
            list.challenge(),
            "Bearer error=\"insufficient_scope\", scope=\"read write\""
        );
        assert_eq!(list.names().collect::<Vec<_>>(), ["read", "write"]);
        assert_eq!(
            ScopeList::default().challenge(),
            "Bearer error=\"insufficient_scope\""
        );
    }

    #[test]
    fn names_that_cannot_be_quoted_are_refused_at_build_time() {
        for bad in [
            "",
            "a b",
            "quo\"te",
            "back\\slash",
            "tab\t",
            "new\nline",
            "é",
            "\u{7f}",
        ] {
            assert!(
                matches!(ScopeList::new([bad]), Err(BuildError::InvalidScope(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            ScopeList::new(Vec::<String>::new()),
            Err(BuildError::EmptyList("scope"))
        ));
        assert!(
            ScopeList::new(["read:orders", "https://api/x.y", "a!#$%&'()*+,-./[]^_`{|}~"]).is_ok()
        );
    }

    #[test]
    fn all_needs_every_scope_and_any_needs_one() {
        let claims = json!({ "scope": "read" });
        assert!(Scopes::all(["read"]).unwrap().is_met_by(&claims));
        assert!(!Scopes::all(["read", "write"]).unwrap().is_met_by(&claims));
        assert!(Scopes::any(["read", "write"]).unwrap().is_met_by(&claims));
        assert!(!Scopes::any(["write", "admin"]).unwrap().is_met_by(&claims));
    }

    #[test]
    fn a_refusal_carries_the_required_list() {
        let scopes = Scopes::all(["read", "write"]).unwrap();
        let refusal = scopes.authorize(&json!({ "scope": "read" })).unwrap_err();
        assert_eq!(
            refusal,
            Rejection::InsufficientScope {
                required: scopes.required().clone()
            }
        );
    }
}
