//! The revocation hook: lets logout cut access tokens short.
//!
//! The layer asks the hook about every token that is otherwise valid. The
//! hook is synchronous and on the hot path, so it should answer from memory;
//! [`RevocationList`] does, and forgets each entry once the token it names
//! has expired anyway.

use std::collections::HashMap;
use std::sync::RwLock;

use crate::validator::{RegisteredClaims, now};

/// Decides whether an otherwise valid token has been revoked.
pub trait Revocation: Send + Sync + 'static {
    /// `true` refuses the token with `invalid_token`.
    fn is_revoked(&self, claims: &RegisteredClaims<'_>) -> bool;
}

/// The default hook: nothing is revoked.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRevocation;

impl Revocation for NoRevocation {
    fn is_revoked(&self, _: &RegisteredClaims<'_>) -> bool {
        false
    }
}

/// An in-memory revocation list, keyed by `jti`.
///
/// Each entry lives until the revoked token's own `exp`; expired entries are
/// dropped as new ones are added, so the list holds at most the tokens that
/// are revoked and still unexpired. It is per process: several server
/// instances each need the revocations (for example through a shared
/// store's notifications) to agree.
#[derive(Debug, Default)]
pub struct RevocationList {
    entries: RwLock<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    /// `jti` → the token's `exp`.
    tokens: HashMap<String, u64>,
    /// `sub` → tokens of this subject issued before this time are revoked;
    /// the entry lives until `(cutoff, until)`'s `until`.
    subjects: HashMap<String, (u64, u64)>,
}

impl RevocationList {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Revokes the token with this `jti`, which expires at `exp`.
    pub fn revoke(&self, jti: &str, exp: u64) {
        let now = now();
        if exp <= now {
            return;
        }
        let mut entries = self
            .entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.purge(now);
        entries.tokens.insert(jti.to_owned(), exp);
    }

    /// Revokes every token of `sub` issued at or before now. Tokens without
    /// `iat` are revoked too. `max_lifetime` bounds how long such tokens can
    /// live, and so how long the entry is kept.
    pub fn revoke_subject(&self, sub: &str, max_lifetime: std::time::Duration) {
        let now = now();
        let mut entries = self
            .entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.purge(now);
        entries.subjects.insert(
            sub.to_owned(),
            (now, now.saturating_add(max_lifetime.as_secs())),
        );
    }

    /// How many entries are held.
    pub fn len(&self) -> usize {
        let entries = self
            .entries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.tokens.len() + entries.subjects.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Entries {
    fn purge(&mut self, now: u64) {
        self.tokens.retain(|_, exp| *exp > now);
        self.subjects.retain(|_, (_, until)| *until > now);
    }
}

impl Revocation for RevocationList {
    fn is_revoked(&self, claims: &RegisteredClaims<'_>) -> bool {
        let entries = self
            .entries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.tokens.is_empty() && entries.subjects.is_empty() {
            return false;
        }
        if claims
            .jti
            .as_deref()
            .is_some_and(|jti| entries.tokens.contains_key(jti))
        {
            return true;
        }
        match (
            claims
                .sub
                .as_deref()
                .and_then(|sub| entries.subjects.get(sub)),
            claims.iat,
        ) {
            (Some((cutoff, _)), Some(iat)) => iat <= *cutoff,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }
}

/// Several hooks: a token is revoked when any of them says so.
pub(crate) struct AnyRevoked(pub(crate) Vec<std::sync::Arc<dyn Revocation>>);

impl Revocation for AnyRevoked {
    fn is_revoked(&self, claims: &RegisteredClaims<'_>) -> bool {
        self.0.iter().any(|hook| hook.is_revoked(claims))
    }
}

impl<R: Revocation> Revocation for std::sync::Arc<R> {
    fn is_revoked(&self, claims: &RegisteredClaims<'_>) -> bool {
        (**self).is_revoked(claims)
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    fn claims<'a>(jti: &'a str, sub: &'a str, iat: u64) -> RegisteredClaims<'a> {
        RegisteredClaims {
            jti: Some(Cow::Borrowed(jti)),
            sub: Some(Cow::Borrowed(sub)),
            iat: Some(iat),
            ..RegisteredClaims::default()
        }
    }

    #[test]
    fn revoked_jti_is_reported_until_it_expires() {
        let list = RevocationList::new();
        list.revoke("t1", now() + 60);
        assert!(list.is_revoked(&claims("t1", "alice", now())));
        assert!(!list.is_revoked(&claims("t2", "alice", now())));
        // An already expired token is not worth an entry.
        list.revoke("old", now() - 1);
        assert_eq!(list.len(), 1);
    }

    #[test]
    fn revoking_a_subject_cuts_tokens_issued_before_now() {
        let list = RevocationList::new();
        list.revoke_subject("alice", std::time::Duration::from_secs(60));
        assert!(list.is_revoked(&claims("a", "alice", now() - 10)));
        assert!(!list.is_revoked(&claims("b", "alice", now() + 10)));
        assert!(!list.is_revoked(&claims("c", "bob", now() - 10)));
    }
}
