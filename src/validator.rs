//! The validator: verifies a compact JWS against the key ring and checks the
//! claims, in one pass over the token.
//!
//! The order is fixed and matters: size cap → structure (three canonical
//! base64url segments, decoded but not yet parsed) → header → key selection
//! → signature → claims. Nothing about the claims is believed, or even
//! parsed, before the signature has verified, and so an expired token
//! with a good signature is reported as [`TokenError::Expired`], while an
//! expired token with a bad signature is [`TokenError::InvalidSignature`].

use std::any::{Any, TypeId};
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::claims::{ACCESS_TOKEN, Audience, Claims};
use crate::error::{BuildError, TokenError};
use crate::jws::{self, Compact, Header};
use crate::key::{KeyRing, algorithm_from_name};
use crate::revocation::{NoRevocation, Revocation};

/// The default cap on a token's length: 8 KiB.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 8 * 1024;
/// The largest decoded payload kept on the stack while it is parsed.
const SMALL_PAYLOAD: usize = 512;

/// The default clock-skew leeway for `exp`, `nbf` and `iat`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(5);

/// The rules a token's claims must satisfy.
///
/// Defaults: `exp` required, 5 s leeway, no `iss`/`aud` check, the claim
/// `scope` must equal `access_token`, tokens up to 8 KiB.
#[derive(Clone, Debug)]
#[must_use]
pub struct Validation {
    leeway: u64,
    issuers: Option<Vec<String>>,
    audiences: Option<Vec<String>>,
    token_type: Option<(String, String)>,
    max_token_len: usize,
}

impl Default for Validation {
    fn default() -> Self {
        Self {
            leeway: DEFAULT_LEEWAY.as_secs(),
            issuers: None,
            audiences: None,
            token_type: Some(("scope".to_owned(), ACCESS_TOKEN.to_owned())),
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
        }
    }
}

impl Validation {
    /// The default rules.
    pub fn new() -> Self {
        Self::default()
    }

    /// Clock-skew leeway for `exp`, `nbf` and `iat` (whole seconds).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway.as_secs();
        self
    }

    /// Requires `iss` to be one of `issuers`.
    pub fn issuers<I: IntoIterator<Item = S>, S: Into<String>>(mut self, issuers: I) -> Self {
        self.issuers = Some(issuers.into_iter().map(Into::into).collect());
        self
    }

    /// Requires `aud` to name at least one of `audiences`.
    pub fn audiences<I: IntoIterator<Item = S>, S: Into<String>>(mut self, audiences: I) -> Self {
        self.audiences = Some(audiences.into_iter().map(Into::into).collect());
        self
    }

    /// Requires the claim `claim` to equal `value` exactly. The default is
    /// `scope` = `access_token`.
    pub fn token_type(mut self, claim: impl Into<String>, value: impl Into<String>) -> Self {
        self.token_type = Some((claim.into(), value.into()));
        self
    }

    /// Accepts any token type. Only for tokens from issuers that do not mark
    /// their type: a refresh token would then pass as an access token.
    pub fn any_token_type(mut self) -> Self {
        self.token_type = None;
        self
    }

    /// Caps a token's length in bytes; longer tokens are refused before any
    /// decoding.
    pub fn max_token_len(mut self, max: usize) -> Self {
        self.max_token_len = max;
        self
    }

    fn check(&self) -> Result<(), BuildError> {
        if self.issuers.as_ref().is_some_and(Vec::is_empty) {
            return Err(BuildError::EmptyList("issuer"));
        }
        if self.audiences.as_ref().is_some_and(Vec::is_empty) {
            return Err(BuildError::EmptyList("audience"));
        }
        Ok(())
    }
}

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
    iss: Option<Cow<'a, str>>,
    aud: Vec<Cow<'a, str>>,
    token_type: Option<Cow<'a, str>>,
}

impl<'a> RegisteredClaims<'a> {
    /// The registered claims a cache entry kept, for the checks of a hit.
    pub(crate) fn kept(
        exp: u64,
        nbf: Option<u64>,
        iat: Option<u64>,
        sub: Option<&'a str>,
        jti: Option<&'a str>,
    ) -> Self {
        Self {
            exp: Some(exp),
            nbf,
            iat,
            sub: sub.map(Cow::Borrowed),
            jti: jti.map(Cow::Borrowed),
            ..Self::default()
        }
    }
}

/// A valid token's claims and its expiry.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Verified<C> {
    /// The claims, decoded into the caller's type.
    pub claims: C,
    /// `exp`, seconds since the epoch.
    pub exp: u64,
    /// `nbf`, if present.
    pub nbf: Option<u64>,
}

/// Verifies tokens: the key ring, the claim rules and the revocation hook.
///
/// Cheap to share: wrap it in an [`Arc`]; nothing is rebuilt per token.
#[derive(Clone)]
pub struct Validator {
    keys: KeyRing,
    rules: Validation,
    revocation: Arc<dyn Revocation>,
    /// Whether [`Claims`] can be read in the same pass as the registered
    /// claims: not when the token-type claim is one of its other members.
    one_pass: bool,
}

impl fmt::Debug for Validator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Validator")
            .field("keys", &self.keys)
            .field("rules", &self.rules)
            .finish()
    }
}

impl Validator {
    /// A validator over `keys` with `rules` and no revocation.
    ///
    /// # Errors
    ///
    /// [`BuildError::NoKeys`] if the key set is empty (fail closed), and
    /// [`BuildError::EmptyList`] for an empty issuer or audience list.
    pub fn new(keys: impl Into<KeyRing>, rules: Validation) -> Result<Self, BuildError> {
        let keys = keys.into();
        if keys.load().is_empty() {
            return Err(BuildError::NoKeys);
        }
        rules.check()?;
        let one_pass = match &rules.token_type {
            Some((claim, _)) => claim == "scope" || !CLAIMS_MEMBERS.contains(&claim.as_str()),
            None => true,
        };
        Ok(Self {
            keys,
            rules,
            revocation: Arc::new(NoRevocation),
            one_pass,
        })
    }

    /// Sets the revocation hook, asked about every token that is otherwise
    /// valid.
    #[must_use]
    pub fn with_revocation(mut self, revocation: Arc<dyn Revocation>) -> Self {
        self.revocation = revocation;
        self
    }

    /// The key ring, to replace keys while running.
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// The claim rules.
    pub fn rules(&self) -> &Validation {
        &self.rules
    }

    /// The cap on a token's length.
    pub(crate) fn max_token_len(&self) -> usize {
        self.rules.max_token_len
    }

    /// Validates `token` now.
    ///
    /// # Errors
    ///
    /// The first rule the token breaks, as a [`TokenError`].
    pub fn validate<C: DeserializeOwned + 'static>(
        &self,
        token: &str,
    ) -> Result<Verified<C>, TokenError> {
        self.verify_at(token.as_bytes(), now, verified)
    }

    /// Validates `token` as of `now` (seconds since the epoch).
    ///
    /// # Errors
    ///
    /// As [`Validator::validate`].
    pub fn validate_at<C: DeserializeOwned + 'static>(
        &self,
        token: &str,
        now: u64,
    ) -> Result<Verified<C>, TokenError> {
        self.verify_at(token.as_bytes(), || now, verified)
    }

    /// Fully verifies `token` as of `now()` and hands the decoded claims and
    /// the registered claims to `keep`. The clock is only read for a token
    /// whose signature verified.
    pub(crate) fn verify_at<C: DeserializeOwned + 'static, R>(
        &self,
        token: &[u8],
        now: impl FnOnce() -> u64,
        keep: impl FnOnce(C, &RegisteredClaims<'_>) -> R,
    ) -> Result<R, TokenError> {
        if token.len() > self.rules.max_token_len {
            return Err(TokenError::TooLarge);
        }
        let compact = Compact::split(token)?;
        let keys = self.keys.load();
        // The usual headers are recognised in their encoded form, unparsed.
        let parsed;
        let (alg, kid) = match keys.common_header(compact.header) {
            Some(alg) => (alg, None),
            None => {
                let mut header = Vec::with_capacity(compact.header.len() * 3 / 4 + 3);
                jws::decode_into(compact.header, &mut header)?;
                parsed = header;
                let header = Header::parse(&parsed)?;
                let alg =
                    algorithm_from_name(&header.alg).ok_or(TokenError::UnsupportedAlgorithm)?;
                Header::check_members(&parsed)?;
                (alg, header.kid)
            }
        };
        // The payload is checked to be canonical base64url before the
        // signature is (no crypto runs on a token that is not canonical
        // base64url throughout), but decoded only once the signature verified.
        jws::check_canonical(compact.payload)?;
        let mut outcome = Err(TokenError::InvalidSignature);
        for key in keys.candidates(alg, kid.as_deref())? {
            outcome = key.verify(compact.signing_input, compact.signature);
            if outcome.is_ok() {
                break;
            }
        }
        outcome?;
        // Usual payloads are decoded on the stack, larger ones on the heap.
        let mut small = [0u8; SMALL_PAYLOAD];
        let mut large = Vec::new();
        // The bound is base64's own estimate, which `decode_slice` requires.
        let payload = if compact.payload.len().div_ceil(4) * 3 <= SMALL_PAYLOAD {
            let len = jws::decode_slice(compact.payload, &mut small)?;
            &small[..len]
        } else {
            jws::decode_into(compact.payload, &mut large)?;
            large.as_slice()
        };
        if !jws::is_json_object(payload) {
            return Err(TokenError::InvalidClaims);
        }
        let now = now();
        if let Some((claims, registered)) = self.one_pass::<C>(payload) {
            self.check_claims(&registered, now)?;
            return Ok(keep(claims, &registered));
        }
        // Two passes: the registered claims, checked, and only then `C`.
        let registered = self.registered(payload)?;
        self.check_claims(&registered, now)?;
        let claims: C = serde_json::from_slice(payload).map_err(|_| TokenError::InvalidClaims)?;
        Ok(keep(claims, &registered))
    }

    /// The crate's own [`Claims`] and the registered claims, read in one
    /// pass, when `C` is `Claims`.
    ///
    /// The pass accepts exactly the payloads that both of the two passes
    /// would accept (the registered claims and then `C`), and gives the
    /// same values; `None` for any other payload, so that the two passes
    /// decide it and give the same error they always would.
    #[inline(always)]
    fn one_pass<'p, C: 'static>(&self, payload: &'p [u8]) -> Option<(C, RegisteredClaims<'p>)> {
        if !self.one_pass || TypeId::of::<C>() != TypeId::of::<Claims>() {
            return None;
        }
        let mut de = serde_json::Deserializer::from_slice(payload);
        let (claims, registered) = de
            .deserialize_map(ClaimsVisitor {
                type_claim: self.type_claim(),
            })
            .ok()?;
        de.end().ok()?;
        // `C` is `Claims`: this moves the value out without `unsafe`.
        let mut slot = Some(claims);
        let claims = (&mut slot as &mut dyn Any)
            .downcast_mut::<Option<C>>()?
            .take()?;
        Some((claims, registered))
    }

    fn type_claim(&self) -> Option<&str> {
        self.rules
            .token_type
            .as_ref()
            .map(|(claim, _)| claim.as_str())
    }

    /// The registered claims alone, with their types checked.
    fn registered<'p>(&self, payload: &'p [u8]) -> Result<RegisteredClaims<'p>, TokenError> {
        let mut de = serde_json::Deserializer::from_slice(payload);
        let registered = RegisteredSeed {
            type_claim: self.type_claim(),
        }
        .deserialize(&mut de)
        .map_err(|_| TokenError::InvalidClaims)?;
        de.end().map_err(|_| TokenError::InvalidClaims)?;
        Ok(registered)
    }

    /// The checks that depend on the time and on the revocation hook, for a
    /// token whose signature and other claims were verified earlier (a
    /// cache hit).
    pub(crate) fn recheck(
        &self,
        registered: &RegisteredClaims<'_>,
        now: u64,
    ) -> Result<(), TokenError> {
        self.check_times(registered, now)?;
        if self.revocation.is_revoked(registered) {
            return Err(TokenError::Revoked);
        }
        Ok(())
    }

    fn check_times(&self, registered: &RegisteredClaims<'_>, now: u64) -> Result<(), TokenError> {
        let leeway = self.rules.leeway;
        let exp = registered.exp.ok_or(TokenError::MissingClaim("exp"))?;
        if now >= exp.saturating_add(leeway) {
            return Err(TokenError::Expired);
        }
        if registered
            .nbf
            .is_some_and(|nbf| nbf > now.saturating_add(leeway))
        {
            return Err(TokenError::NotYetValid);
        }
        if registered
            .iat
            .is_some_and(|iat| iat > now.saturating_add(leeway))
        {
            return Err(TokenError::IssuedInFuture);
        }
        Ok(())
    }

    /// Every rule on the registered claims, then the revocation hook.
    fn check_claims(&self, registered: &RegisteredClaims<'_>, now: u64) -> Result<(), TokenError> {
        self.check_times(registered, now)?;
        if let Some(issuers) = &self.rules.issuers {
            let iss = registered
                .iss
                .as_deref()
                .ok_or(TokenError::MissingClaim("iss"))?;
            if !issuers.iter().any(|accepted| accepted == iss) {
                return Err(TokenError::InvalidIssuer);
            }
        }
        if let Some(audiences) = &self.rules.audiences {
            if registered.aud.is_empty() {
                return Err(TokenError::MissingClaim("aud"));
            }
            if !registered
                .aud
                .iter()
                .any(|aud| audiences.iter().any(|ok| ok == aud))
            {
                return Err(TokenError::InvalidAudience);
            }
        }
        if let Some((_, value)) = &self.rules.token_type
            && registered.token_type.as_deref() != Some(value.as_str())
        {
            return Err(TokenError::WrongTokenType);
        }
        if self.revocation.is_revoked(registered) {
            return Err(TokenError::Revoked);
        }
        Ok(())
    }
}

fn verified<C>(claims: C, registered: &RegisteredClaims<'_>) -> Verified<C> {
    Verified {
        claims,
        exp: registered.exp.unwrap_or_default(),
        nbf: registered.nbf,
    }
}

/// Seconds since the Unix epoch (0 if the clock is before it).
///
/// On Linux this reads the coarse wall clock, the time of the kernel's last
/// tick (a few milliseconds behind at most), which costs a fraction of a
/// precise read; token dates are whole seconds and checked with a leeway.
pub(crate) fn now() -> u64 {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let now = rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse);
        u64::try_from(now.tv_sec).unwrap_or(0)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// Deserializes the registered claims in one pass, with the token-type
/// claim's name chosen at run time. Registered claims of the wrong JSON type
/// make the token invalid; other members are skipped unread.
struct RegisteredSeed<'c> {
    type_claim: Option<&'c str>,
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

/// The members of [`Claims`].
const CLAIMS_MEMBERS: [&str; 8] = ["sub", "exp", "iat", "nbf", "iss", "aud", "jti", "scope"];

/// Reads the crate's own [`Claims`] and the registered claims in one pass.
///
/// Each member is held to the stricter of the two passes it replaces: the
/// registered claims' (a date is a number, `sub`, `jti`, `iss` and the token
/// type are strings, none of them `null`; no registered claim twice) and
/// `Claims`' derived `Deserialize` (dates are whole numbers, `sub` and `exp`
/// are required, no member twice). Whatever this refuses is handed to the
/// two passes, which then give their own verdict. Only used when the token
/// type claim is `scope` or is not a member of `Claims`.
struct ClaimsVisitor<'c> {
    type_claim: Option<&'c str>,
}

impl<'de> Visitor<'de> for ClaimsVisitor<'_> {
    type Value = (Claims, RegisteredClaims<'de>);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JWT claims object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut registered = RegisteredClaims::default();
        let mut aud = None;
        let mut scope = None;
        while let Some(CowStr(name)) = map.next_key()? {
            match &*name {
                "exp" => once(&mut registered.exp, map.next_value::<u64>()?, "exp")?,
                "nbf" => once(&mut registered.nbf, map.next_value::<u64>()?, "nbf")?,
                "iat" => once(&mut registered.iat, map.next_value::<u64>()?, "iat")?,
                "sub" => once(
                    &mut registered.sub,
                    map.next_value::<CowStr<'de>>()?.0,
                    "sub",
                )?,
                "jti" => once(
                    &mut registered.jti,
                    map.next_value::<CowStr<'de>>()?.0,
                    "jti",
                )?,
                "iss" => once(
                    &mut registered.iss,
                    map.next_value::<CowStr<'de>>()?.0,
                    "iss",
                )?,
                "aud" => {
                    let AudienceList { list, single } = map.next_value()?;
                    let owned = list.iter().map(|aud| aud.to_string());
                    let value = if single {
                        Audience::One(owned.collect())
                    } else {
                        Audience::Many(owned.collect())
                    };
                    once(&mut aud, value, "aud")?;
                    registered.aud = list;
                }
                "scope" if self.type_claim == Some("scope") => {
                    let CowStr(value) = map.next_value()?;
                    once(&mut scope, Some(value.to_string()), "scope")?;
                    once(&mut registered.token_type, value, "scope")?;
                }
                "scope" => once(&mut scope, map.next_value::<Option<String>>()?, "scope")?,
                other if Some(other) == self.type_claim => {
                    let CowStr(value) = map.next_value()?;
                    once(&mut registered.token_type, value, other)?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let claims = Claims {
            sub: registered
                .sub
                .as_deref()
                .ok_or_else(|| de::Error::missing_field("sub"))?
                .to_owned(),
            exp: registered
                .exp
                .ok_or_else(|| de::Error::missing_field("exp"))?,
            iat: registered.iat,
            nbf: registered.nbf,
            iss: registered.iss.as_deref().map(str::to_owned),
            aud,
            jti: registered.jti.as_deref().map(str::to_owned),
            scope: scope.flatten(),
        };
        Ok((claims, registered))
    }
}

/// A string that borrows from the input when it has no escapes.
struct CowStr<'a>(Cow<'a, str>);

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

/// `aud`: one string (`single`) or an array of strings.
struct AudienceList<'a> {
    list: Vec<Cow<'a, str>>,
    single: bool,
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
                    single: true,
                })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(AudienceList {
                    list: vec![Cow::Owned(v.to_owned())],
                    single: true,
                })
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut list = Vec::new();
                while let Some(CowStr(aud)) = seq.next_element()? {
                    list.push(aud);
                }
                Ok(AudienceList {
                    list,
                    single: false,
                })
            }
        }
        deserializer.deserialize_any(AudVisitor)
    }
}

/// A NumericDate (RFC 7519 §2): a non-negative JSON number of seconds.
/// Fractions are rounded, as jsonwebtoken does.
struct NumericDate(u64);

impl<'de> Deserialize<'de> for NumericDate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DateVisitor;
        impl Visitor<'_> for DateVisitor {
            type Value = NumericDate;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative number of seconds")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(NumericDate(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                u64::try_from(v)
                    .map(NumericDate)
                    .map_err(|_| E::custom("negative date"))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                #[allow(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    clippy::cast_precision_loss
                )]
                if v.is_finite() && v >= 0.0 && v < u64::MAX as f64 {
                    Ok(NumericDate(v.round() as u64))
                } else {
                    Err(E::custom("date out of range"))
                }
            }
        }
        deserializer.deserialize_any(DateVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{Key, KeySet};
    use crate::signing::SigningKey;
    use jsonwebtoken::Algorithm;

    #[test]
    fn payloads_on_either_side_of_the_stack_buffer_are_accepted_whole() {
        let secret = [7u8; 32];
        let validator = Validator::new(
            KeySet::new([Key::hmac(Algorithm::HS256, secret).unwrap()]),
            Validation::new().any_token_type(),
        )
        .unwrap();
        let signer = SigningKey::hmac(Algorithm::HS256, secret).unwrap();
        // `{"exp":4000000000,"pad":"…"}` is 30 bytes besides the padding.
        for len in SMALL_PAYLOAD - 40..SMALL_PAYLOAD + 10 {
            let claims =
                serde_json::json!({ "exp": 4_000_000_000u64, "pad": "x".repeat(len - 30) });
            let token = signer.sign(&claims).unwrap();
            let verified = validator
                .validate_at::<serde_json::Value>(&token, 1_000)
                .unwrap();
            assert_eq!(verified.claims, claims, "{len}");
        }
    }
}
