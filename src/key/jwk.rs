//! JSON Web Keys (RFC 7517), the types of jsonwebtoken re-exported.
//!
//! Read a key with serde (`serde_json::from_str::<Jwk>(…)`) and turn it
//! into a verification key with [`Key::from_jwk`](crate::Key::from_jwk),
//! or [`Key::from_jwk_with`](crate::Key::from_jwk_with) to pin its
//! algorithm. Both refuse a key meant for something other than
//! signatures, an `alg` that does not fit the key, and weak keys.
//! The other types here are the parts of a [`Jwk`], for matching on one
//! or building one in code.
//!
//! A whole key set is read by [`KeySet::from_jwks`](crate::key::KeySet::from_jwks)
//! or, fetched from an identity provider, by `remote::RemoteKeys`
//! (feature `remote`); both skip the keys they cannot use instead of
//! failing on them.

pub use jsonwebtoken::jwk::*;
