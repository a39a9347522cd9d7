//! How the resource server authenticates itself at the introspection
//! endpoint (RFC 7662 §2.1 points to RFC 6749 §2.3 and RFC 7523 §2.2).

use std::fmt;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::signing::SigningKey;

/// The client authentication of the introspection request.
///
/// `Debug` never shows a secret or a key.
#[derive(Clone)]
pub struct ClientAuth {
    client_id: String,
    method: Method,
}

#[derive(Clone)]
enum Method {
    /// `client_secret_basic`: HTTP Basic with the form-encoded id and secret.
    Basic { secret: String },
    /// `client_secret_post`: `client_id` and `client_secret` in the form.
    Post { secret: String },
    /// `private_key_jwt`: a fresh signed assertion in the form.
    PrivateKeyJwt {
        key: Arc<SigningKey>,
        audience: Option<String>,
    },
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientAuth")
            .field("client_id", &self.client_id)
            .field("method", &self.method_name())
            .finish_non_exhaustive()
    }
}

/// How long a `private_key_jwt` assertion is valid.
const ASSERTION_TTL: u64 = 60;

impl ClientAuth {
    /// `client_secret_basic` (RFC 6749 §2.3.1): the id and secret in an HTTP
    /// Basic `Authorization` header, each form-encoded first.
    pub fn client_secret_basic(client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            method: Method::Basic {
                secret: secret.into(),
            },
        }
    }

    /// `client_secret_post` (RFC 6749 §2.3.1): `client_id` and
    /// `client_secret` in the request body.
    pub fn client_secret_post(client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            method: Method::Post {
                secret: secret.into(),
            },
        }
    }

    /// `private_key_jwt` (RFC 7523 §2.2, OpenID Connect Core §9): each
    /// request carries a new assertion signed with `key`, whose `iss` and
    /// `sub` are the client id, with a fresh `jti` and a lifetime of 60 s.
    /// Its `aud` is the introspection endpoint's URL unless
    /// [`ClientAuth::audience`] names another (the issuer, or the token
    /// endpoint, as some servers want).
    pub fn private_key_jwt(client_id: impl Into<String>, key: SigningKey) -> Self {
        Self {
            client_id: client_id.into(),
            method: Method::PrivateKeyJwt {
                key: Arc::new(key),
                audience: None,
            },
        }
    }

    /// The `aud` of `private_key_jwt` assertions; no effect on the other
    /// methods.
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        if let Method::PrivateKeyJwt { audience: aud, .. } = &mut self.method {
            *aud = Some(audience.into());
        }
        self
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The method's name as the registries spell it (`client_secret_basic`,
    /// `client_secret_post`, `private_key_jwt`).
    pub fn method_name(&self) -> &'static str {
        match self.method {
            Method::Basic { .. } => "client_secret_basic",
            Method::Post { .. } => "client_secret_post",
            Method::PrivateKeyJwt { .. } => "private_key_jwt",
        }
    }

    /// The request's `Authorization` header value, if the method uses one.
    pub(super) fn authorization(&self) -> Option<String> {
        match &self.method {
            Method::Basic { secret } => {
                let pair = format!("{}:{}", form_encode(&self.client_id), form_encode(secret));
                Some(format!("Basic {}", STANDARD.encode(pair)))
            }
            _ => None,
        }
    }

    /// Appends the method's form members to `form`; `endpoint` is the
    /// default assertion audience.
    ///
    /// # Errors
    ///
    /// When the assertion cannot be signed.
    pub(super) fn append_form(
        &self,
        form: &mut form_urlencoded::Serializer<'_, String>,
        endpoint: &str,
        now: u64,
    ) -> Result<(), crate::signing::SignError> {
        match &self.method {
            Method::Basic { .. } => {}
            Method::Post { secret } => {
                form.append_pair("client_id", &self.client_id);
                form.append_pair("client_secret", secret);
            }
            Method::PrivateKeyJwt { key, audience } => {
                let assertion = key.sign(&serde_json::json!({
                    "iss": self.client_id,
                    "sub": self.client_id,
                    "aud": audience.as_deref().unwrap_or(endpoint),
                    "jti": random_id(),
                    "iat": now,
                    "exp": now + ASSERTION_TTL,
                }))?;
                form.append_pair("client_id", &self.client_id);
                form.append_pair(
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                );
                form.append_pair("client_assertion", &assertion);
            }
        }
        Ok(())
    }
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// 128 random bits, base64url: a `jti` no other assertion has.
pub(super) fn random_id() -> String {
    let mut bytes = [0u8; 16];
    // An assertion without a fresh jti would be refused as a replay; the OS
    // random source does not fail on the platforms tokio runs on.
    let _ = getrandom::fill(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_form_encodes_the_id_and_secret_before_base64() {
        let auth = ClientAuth::client_secret_basic("rs:1", "p@ss word");
        let header = auth.authorization().unwrap();
        let decoded = STANDARD
            .decode(header.strip_prefix("Basic ").unwrap())
            .unwrap();
        assert_eq!(decoded, b"rs%3A1:p%40ss+word");
    }

    #[test]
    fn post_puts_the_credentials_in_the_form_and_no_header() {
        let auth = ClientAuth::client_secret_post("rs", "secret");
        assert!(auth.authorization().is_none());
        let mut form = form_urlencoded::Serializer::new(String::new());
        auth.append_form(&mut form, "https://as.example/introspect", 0)
            .unwrap();
        assert_eq!(form.finish(), "client_id=rs&client_secret=secret");
    }

    #[test]
    fn debug_shows_neither_secret_nor_key() {
        let auth = ClientAuth::client_secret_basic("rs", "hunter2-secret");
        let shown = format!("{auth:?}");
        assert!(shown.contains("client_secret_basic"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
