//! Reading the payload: the registered claims, with serde visitors that
//! borrow from the decoded payload.

use std::borrow::Cow;
use std::fmt;
use std::mem::ManuallyDrop;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::claims::NumericDate;

/// What the validator learned about a valid token besides the claims type:
/// the registered claims, borrowed from the decoded payload.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegisteredClaims<'a> {
    /// `exp`.
    pub exp: Option<u64>,
    /// `nbf`.
    pub nbf: Option<u64>,
    /// `iat`.
    pub iat: Option<u64>,
    /// `sub`, if it is a string.
    pub sub: Option<Cow<'a, str>>,
    /// `jti`, if it is a string.
    pub jti: Option<Cow<'a, str>>,
    /// `sid`, the session (for this crate's access tokens, the
    /// refresh-token family they were issued from), if it is a string.
    pub sid: Option<Cow<'a, str>>,
    pub(crate) iss: Option<Cow<'a, str>>,
    pub(crate) aud: Vec<Cow<'a, str>>,
    pub(crate) token_type: Option<Cow<'a, str>>,
    /// Whether the payload has a `cnf` claim (RFC 7800): a token bound to
    /// a key, which a DPoP layer refuses as a bearer token.
    pub(crate) bound: bool,
    /// Which of the validator's issuers verified the token.
    pub(crate) issuer: usize,
}

impl<'a> RegisteredClaims<'a> {
    /// The registered claims a cache entry kept, for the checks of a hit.
    ///
    /// Every field is borrowed or empty, so the value owns nothing: it is
    /// never dropped, which spares every hit the drop glue's look at each
    /// field.
    pub(crate) fn kept(
        exp: u64,
        nbf: Option<u64>,
        iat: Option<u64>,
        sub: Option<&'a str>,
        jti: Option<&'a str>,
        sid: Option<&'a str>,
        issuer: usize,
    ) -> ManuallyDrop<Self> {
        ManuallyDrop::new(Self {
            issuer,
            exp: Some(exp),
            nbf,
            iat,
            sub: sub.map(Cow::Borrowed),
            jti: jti.map(Cow::Borrowed),
            sid: sid.map(Cow::Borrowed),
            ..Self::default()
        })
    }
}

/// Deserializes the registered claims in one pass, with the token-type
/// claim's name chosen at run time. Registered claims of the wrong JSON type
/// make the token invalid; other members are skipped unread.
pub(super) struct RegisteredSeed<'c> {
    pub(super) type_claim: Option<&'c str>,
}

impl<'de> DeserializeSeed<'de> for RegisteredSeed<'_> {
    type Value = RegisteredClaims<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RegisteredSeed<'_> {
    type Value = RegisteredClaims<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JWT claims object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut claims = RegisteredClaims::default();
        let mut aud_seen = false;
        while let Some(CowStr(name)) = map.next_key()? {
            // Whatever its value, and even under a token-type claim so named.
            claims.bound |= name == "cnf";
            if Some(&*name) == self.type_claim {
                let CowStr(value) = map.next_value()?;
                once(&mut claims.token_type, value, &name)?;
                continue;
            }
            match &*name {
                "exp" => once(&mut claims.exp, map.next_value::<NumericDate>()?.0, "exp")?,
                "nbf" => once(&mut claims.nbf, map.next_value::<NumericDate>()?.0, "nbf")?,
                "iat" => once(&mut claims.iat, map.next_value::<NumericDate>()?.0, "iat")?,
                "sub" => once(&mut claims.sub, map.next_value::<CowStr<'de>>()?.0, "sub")?,
                "jti" => once(&mut claims.jti, map.next_value::<CowStr<'de>>()?.0, "jti")?,
                "sid" => once(&mut claims.sid, map.next_value::<CowStr<'de>>()?.0, "sid")?,
                "iss" => once(&mut claims.iss, map.next_value::<CowStr<'de>>()?.0, "iss")?,
                "aud" => {
                    if std::mem::replace(&mut aud_seen, true) {
                        return Err(de::Error::custom("duplicate claim `aud`"));
                    }
                    claims.aud = map.next_value::<AudienceList<'de>>()?.list;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(claims)
    }
}

/// Fills `slot` with `value`, refusing a claim that comes twice.
fn once<T, E: de::Error>(slot: &mut Option<T>, value: T, name: &str) -> Result<(), E> {
    if slot.replace(value).is_some() {
        return Err(E::custom(format_args!("duplicate claim `{name}`")));
    }
    Ok(())
}

/// A string that borrows from the input when it has no escapes.
pub(crate) struct CowStr<'a>(pub(crate) Cow<'a, str>);

impl<'de> Deserialize<'de> for CowStr<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrVisitor;
        impl<'de> Visitor<'de> for StrVisitor {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(StrVisitor)
    }
}

/// `aud`: one string or an array of strings.
struct AudienceList<'a> {
    list: Vec<Cow<'a, str>>,
}

impl<'de> Deserialize<'de> for AudienceList<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AudVisitor;
        impl<'de> Visitor<'de> for AudVisitor {
            type Value = AudienceList<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(AudienceList {
                    list: vec![Cow::Borrowed(v)],
                })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(AudienceList {
                    list: vec![Cow::Owned(v.to_owned())],
                })
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut list = Vec::new();
                while let Some(CowStr(aud)) = seq.next_element()? {
                    list.push(aud);
                }
                Ok(AudienceList { list })
            }
        }
        deserializer.deserialize_any(AudVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `kept` is never dropped: it must own nothing, or every hit leaks.
    #[test]
    fn kept_claims_own_nothing() {
        let kept = RegisteredClaims::kept(9, Some(1), Some(2), Some("s"), Some("j"), Some("f"), 3);
        for id in [&kept.sub, &kept.jti, &kept.sid] {
            assert!(matches!(id, Some(Cow::Borrowed(_))), "{id:?}");
        }
        assert!(kept.iss.is_none() && kept.token_type.is_none());
        assert_eq!(kept.aud.capacity(), 0);
        assert_eq!(
            (kept.exp, kept.nbf, kept.iat, kept.issuer),
            (Some(9), Some(1), Some(2), 3)
        );
    }
}
