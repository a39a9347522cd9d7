//! Server nonces (RFC 9449 §8): a value the server hands out with
//! `DPoP-Nonce`, which proofs must then carry, so that a proof cannot be
//! made long before it is used.
//!
//! A nonce is the HMAC-SHA256 of the current time window's number under a
//! key (random per process unless configured), truncated to 128 bits and
//! base64url-encoded: it needs no storage, changes with every window, and
//! cannot be made without the key. A proof's nonce is accepted while it is
//! the nonce of the current window or of the one before, so a nonce lives
//! between one and two windows. Instances that share the key (see
//! [`Dpop::nonce_secret`](super::Dpop::nonce_secret)) accept each other's
//! nonces.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The length of a nonce before encoding.
const NONCE_LEN: usize = 16;
/// The length of a nonce, base64url-encoded without padding.
const ENCODED_LEN: usize = 22;

/// Issues and checks nonces.
#[derive(Clone)]
pub(crate) struct Nonces {
    mac: Hmac<Sha256>,
    /// The window length, in seconds (at least 1).
    window: u64,
}

impl std::fmt::Debug for Nonces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nonces")
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl Nonces {
    /// Nonces under the keyed `mac` that change every `window` seconds.
    pub(crate) fn new(mac: Hmac<Sha256>, window: u64) -> Self {
        Self {
            mac,
            window: window.max(1),
        }
    }

    fn tag(&self, window: u64) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        mac.update(b"tower-jwt-auth DPoP nonce\0");
        mac.update(&window.to_be_bytes());
        mac
    }

    /// The nonce to hand out as of `now` (seconds).
    pub(crate) fn current(&self, now: u64) -> String {
        let tag = self.tag(now / self.window).finalize().into_bytes();
        URL_SAFE_NO_PAD.encode(&tag[..NONCE_LEN])
    }

    /// Whether `nonce` is the nonce of the current window or the one
    /// before, as of `now`. Compared in constant time.
    pub(crate) fn accepts(&self, nonce: &str, now: u64) -> bool {
        // Room for base64's estimate of 22 characters (18 bytes).
        let mut bytes = [0u8; 18];
        if nonce.len() != ENCODED_LEN
            || URL_SAFE_NO_PAD.decode_slice(nonce, &mut bytes) != Ok(NONCE_LEN)
        {
            return false;
        }
        let bytes = &bytes[..NONCE_LEN];
        let window = now / self.window;
        [Some(window), window.checked_sub(1)]
            .into_iter()
            .flatten()
            .any(|window| self.tag(window).verify_truncated_left(bytes).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use hmac::KeyInit;

    use super::*;

    fn nonces(key: u8) -> Nonces {
        Nonces::new(Hmac::new_from_slice(&[key; 32]).unwrap(), 300)
    }

    #[test]
    fn a_nonce_is_accepted_in_its_window_and_the_next_then_refused() {
        let nonces = nonces(1);
        let nonce = nonces.current(3_000);
        assert_eq!(nonce.len(), 22);
        assert!(nonces.accepts(&nonce, 3_000));
        assert!(nonces.accepts(&nonce, 3_299));
        assert!(nonces.accepts(&nonce, 3_599));
        assert!(!nonces.accepts(&nonce, 3_600));
        // Rotated: the next window has another nonce.
        assert_ne!(nonces.current(3_300), nonce);
    }

    #[test]
    fn nonces_of_another_key_and_garbage_are_refused() {
        let ours = nonces(1);
        let theirs = nonces(2);
        assert!(!ours.accepts(&theirs.current(3_000), 3_000));
        for garbage in ["", "x", "AAAAAAAAAAAAAAAAAAAAAA", "!!!!!!!!!!!!!!!!!!!!!!"] {
            assert!(!ours.accepts(garbage, 3_000), "{garbage:?}");
        }
    }
}
