//! The hook through which the validator gets keys it does not have yet: a
//! token whose `kid` its issuer may have published since the keys were
//! fetched. [`RemoteKeys`](crate::remote::RemoteKeys) implements it; the
//! validator and the layer know only this trait and its wait.

use std::future::Future;
use std::pin::Pin;

/// A request's wait for its issuer's keys to be fetched again (a token with
/// an unknown `kid`): bounded by the fetch timeout.
pub(crate) type KeyWait = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Keys that can be fetched again when a token names one they lack.
#[cfg(feature = "remote")]
pub(crate) trait KeySource: Send + Sync + std::fmt::Debug {
    /// The wait a request carrying an unknown `kid` may do before its token
    /// is tried once more, or `None` to refuse the token now.
    fn on_unknown_kid(&self) -> Option<KeyWait>;
}
