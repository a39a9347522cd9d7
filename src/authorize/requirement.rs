//! What a request must be allowed: [`Authorize`], the scope requirement
//! [`Scopes`], and [`ScopeList`], the names a 403 challenge lists.

use std::fmt;
use std::sync::Arc;

use http::HeaderValue;

use super::scope::{ScopeClaims, ScopeSource};
use crate::error::BuildError;
use crate::rejection::Rejection;

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

/// Whether `name` is a `scope-token` of RFC 6749 §3.3: one or more visible
/// ASCII characters other than `"` and `\`. Only such names can be quoted
/// in a challenge without escaping.
pub(crate) const fn is_scope_token(name: &str) -> bool {
    let bytes = name.as_bytes();
    if bytes.is_empty() {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        if !matches!(byte, 0x21 | 0x23..=0x5B | 0x5D..=0x7E) {
            return false;
        }
        i += 1;
    }
    true
}

/// `names` as a non-empty list of `scope-token`s (RFC 6749 §3.3), which a
/// challenge can list space-separated in one quoted string without escapes.
///
/// # Errors
///
/// [`BuildError::EmptyList`] naming the list `what` for no names, `invalid`
/// of the first name that is not a `scope-token`.
pub(crate) fn token_list<I, S>(
    names: I,
    what: &'static str,
    invalid: fn(String) -> BuildError,
) -> Result<Box<[Box<str>]>, BuildError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let names: Box<[Box<str>]> = names
        .into_iter()
        .map(|name| name.into().into_boxed_str())
        .collect();
    if names.is_empty() {
        return Err(BuildError::EmptyList(what));
    }
    if let Some(bad) = names.iter().find(|name| !is_scope_token(name)) {
        return Err(invalid(bad.to_string()));
    }
    Ok(names)
}

/// The scope names a requirement needs, checked when it is built, with the
/// `WWW-Authenticate` challenge that lists them (RFC 6750 §3.1): built once,
/// shared by every 403.
///
/// Empty for a predicate: its challenge names no scope.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ScopeList(Option<Arc<ListInner>>);

#[derive(PartialEq, Eq)]
struct ListInner {
    names: Box<[Box<str>]>,
    challenge: HeaderValue,
}

impl ScopeList {
    /// A list of `names`.
    ///
    /// # Errors
    ///
    /// [`BuildError::EmptyList`] for no names, [`BuildError::InvalidScope`]
    /// for a name that is empty or holds a space, `"`, `\`, a control or a
    /// non-ASCII character (RFC 6749 §3.3).
    pub fn new<I, S>(names: I) -> Result<Self, BuildError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let names = token_list(names, "scope", BuildError::InvalidScope)?;
        let text = format!(
            "Bearer error=\"insufficient_scope\", scope=\"{}\"",
            names.join(" ")
        );
        // Scope tokens are visible ASCII without quotes or backslashes, so
        // quoting them needs no escapes and the header value is valid; the
        // error arm is unreachable but costs nothing to keep honest.
        let challenge =
            HeaderValue::from_str(&text).map_err(|_| BuildError::InvalidScope(names.join(" ")))?;
        Ok(Self(Some(Arc::new(ListInner { names, challenge }))))
    }

    /// The names, in the order given.
    pub fn names(&self) -> impl ExactSizeIterator<Item = &str> {
        self.0
            .as_deref()
            .map_or(&[][..], |inner| &inner.names[..])
            .iter()
            .map(|name| &**name)
    }

    /// Whether the list names no scope.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// `Bearer error="insufficient_scope", scope="…"`, or without `scope`
    /// for an empty list.
    pub fn challenge(&self) -> HeaderValue {
        const NO_SCOPE: HeaderValue =
            HeaderValue::from_static("Bearer error=\"insufficient_scope\"");
        self.0
            .as_ref()
            .map_or(NO_SCOPE, |inner| inner.challenge.clone())
    }
}

impl fmt::Debug for ScopeList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
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
