//! [`ScopeList`], the scope names a 403 challenge lists, with the rule
//! (RFC 6749 §3.3 `scope-token`) that lets a challenge quote them.

use std::fmt;
use std::sync::Arc;

use http::HeaderValue;

use crate::error::BuildError;

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
