//! The validator: verifies a compact JWS against the key ring and checks the
//! claims, in one pass over the token.
//!
//! The order is fixed and matters: size cap → structure (three canonical
//! base64url segments, decoded but not yet parsed) → header → key selection
//! → signature → claims. Nothing about the claims is believed, or even
//! parsed, before the signature has verified, and so an expired token
//! with a good signature is reported as [`TokenError::Expired`], while an
//! expired token with a bad signature is [`TokenError::InvalidSignature`].

mod clock;
pub(crate) mod key_source;
mod payload;
pub(crate) mod revocation;
mod rules;
pub(crate) mod trusted_issuer;

use std::fmt;
use std::sync::Arc;

use serde::de::{DeserializeOwned, DeserializeSeed};

use crate::error::BuildError;
pub use crate::error::TokenError;
use crate::jws::{self, Compact, Header, algorithm_from_name};
use crate::key::KeyRing;
pub(crate) use clock::now;
#[cfg(feature = "remote")]
use key_source::KeySource;
pub(crate) use payload::CowStr;
pub use payload::RegisteredClaims;
use payload::RegisteredSeed;
use revocation::{NoRevocation, Revocation, Verdict};
pub use rules::{DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_LEN, Validation};
use trusted_issuer::TrustedIssuer;

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

/// One issuer's keys and rules, as the validator holds them.
#[derive(Clone, Debug)]
struct Entry {
    keys: KeyRing,
    rules: Validation,
    #[cfg(feature = "remote")]
    remote: Option<Arc<dyn KeySource>>,
}

impl Entry {
    fn new(keys: KeyRing, rules: Validation) -> Result<Self, BuildError> {
        rules.check()?;
        Ok(Self {
            keys,
            rules,
            #[cfg(feature = "remote")]
            remote: None,
        })
    }

    fn from_issuer(issuer: TrustedIssuer) -> Result<Self, BuildError> {
        issuer.check()?;
        #[cfg_attr(not(feature = "remote"), allow(unused_mut))]
        let mut entry = Self::new(issuer.keys, issuer.rules)?;
        #[cfg(feature = "remote")]
        {
            entry.remote = issuer.remote;
        }
        Ok(entry)
    }

    /// Whether this entry takes tokens whose `iss` is `iss` (`None`: no
    /// `iss`).
    fn takes(&self, iss: Option<&str>) -> bool {
        match (&self.rules.issuers, iss) {
            (Some(issuers), Some(iss)) => issuers.iter().any(|known| known == iss),
            (None, None) => true,
            _ => false,
        }
    }
}

/// Verifies tokens: the key ring, the claim rules and the revocation hook.
///
/// A validator trusts one issuer, or several ([`Validator::with_issuer`]):
/// each with its own keys, audiences, algorithms and token-type rules. With
/// several, the token's `iss` chooses whose keys and rules apply, before
/// the signature is checked; nothing else of an unverified token is
/// believed, and the `iss` itself is checked again once the signature
/// verified.
///
/// Cheap to share: wrap it in an [`Arc`]; nothing is rebuilt per token.
#[derive(Clone)]
pub struct Validator {
    entries: Vec<Entry>,
    revocation: Arc<dyn Revocation>,
    /// The largest token any entry accepts.
    max_token_len: usize,
}

impl fmt::Debug for Validator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Validator")
            .field("issuers", &self.entries)
            .finish_non_exhaustive()
    }
}

impl Validator {
    /// A validator over `keys` with `rules` and no revocation.
    ///
    /// # Errors
    ///
    /// [`BuildError::NoKeys`] if the key set is empty (fail closed), and
    /// [`BuildError::EmptyList`] for an empty issuer, audience or algorithm
    /// list.
    pub fn new(keys: impl Into<KeyRing>, rules: Validation) -> Result<Self, BuildError> {
        let keys = keys.into();
        if keys.current().is_empty() {
            return Err(BuildError::NoKeys);
        }
        let entry = Entry::new(keys, rules)?;
        Ok(Self {
            max_token_len: entry.rules.max_token_len,
            entries: vec![entry],
            revocation: Arc::new(NoRevocation),
        })
    }

    /// A validator of the tokens of `issuer` alone.
    ///
    /// # Errors
    ///
    /// As [`Validator::with_issuer`].
    pub fn for_issuer(issuer: TrustedIssuer) -> Result<Self, BuildError> {
        let entry = Entry::from_issuer(issuer)?;
        Ok(Self {
            max_token_len: entry.rules.max_token_len,
            entries: vec![entry],
            revocation: Arc::new(NoRevocation),
        })
    }

    /// Also accepts the tokens of `issuer`, with its own keys and rules.
    ///
    /// A token is then matched to an issuer by its `iss` claim, exactly; a
    /// token without `iss` goes to the keys and rules this validator was
    /// made with by [`Validator::new`] when they require no issuer (the
    /// tutorial's own tokens), and a token whose `iss` names no trusted
    /// issuer is refused with [`TokenError::UnknownIssuer`].
    ///
    /// # Errors
    ///
    /// [`BuildError::DuplicateIssuer`] if the issuer is trusted already,
    /// [`BuildError::NoKeys`] for keys given in code that are empty, and
    /// [`BuildError::EmptyList`] as for [`Validator::new`].
    pub fn with_issuer(mut self, issuer: TrustedIssuer) -> Result<Self, BuildError> {
        if self
            .entries
            .iter()
            .any(|entry| entry.takes(Some(issuer.issuer())))
        {
            return Err(BuildError::DuplicateIssuer(issuer.issuer().to_owned()));
        }
        let entry = Entry::from_issuer(issuer)?;
        self.max_token_len = self.max_token_len.max(entry.rules.max_token_len);
        self.entries.push(entry);
        Ok(self)
    }

    /// Sets the revocation hook, asked about every token that is otherwise
    /// valid.
    #[must_use]
    pub fn with_revocation(mut self, revocation: Arc<dyn Revocation>) -> Self {
        self.revocation = revocation;
        self
    }

    /// The key ring of the first issuer (the one [`Validator::new`] was
    /// given), to replace keys while running.
    pub fn keys(&self) -> &KeyRing {
        &self.entries[0].keys
    }

    /// The claim rules of the first issuer.
    pub fn rules(&self) -> &Validation {
        &self.entries[0].rules
    }

    /// The issuers whose tokens the validator takes, as their rules name
    /// them.
    pub(crate) fn issuer_names(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter_map(|entry| entry.rules.issuers.as_ref())
            .flatten()
            .cloned()
            .collect()
    }

    /// The cap on a token's length.
    pub(crate) fn max_token_len(&self) -> usize {
        self.max_token_len
    }

    /// How many times any of the key rings was replaced: read it before
    /// loading a key set. A verified-token cache filled under another
    /// generation is stale.
    pub(crate) fn generation(&self) -> u64 {
        self.entries
            .iter()
            .fold(0u64, |sum, entry| sum.wrapping_add(entry.keys.generation()))
    }

    /// Validates `token` now.
    ///
    /// # Errors
    ///
    /// The first rule the token breaks, as a [`TokenError`].
    pub fn validate<C: DeserializeOwned>(&self, token: &str) -> Result<Verified<C>, TokenError> {
        self.verify_at(token.as_bytes(), now, verified)
    }

    /// Validates `token` as of `now` (seconds since the epoch).
    ///
    /// # Errors
    ///
    /// As [`Validator::validate`].
    pub fn validate_at<C: DeserializeOwned>(
        &self,
        token: &str,
        now: u64,
    ) -> Result<Verified<C>, TokenError> {
        self.verify_at(token.as_bytes(), || now, verified)
    }

    /// The issuer whose keys and rules apply to `compact`: the only one, or
    /// the one its `iss` names. The payload is decoded and read for `iss`
    /// alone here, before the signature is checked, and only when there are
    /// several issuers.
    /// Gives the issuer's position too.
    fn select(&self, compact: &Compact<'_>) -> Result<(usize, &Entry), TokenError> {
        if let [only] = self.entries.as_slice() {
            return Ok((0, only));
        }
        let iss = peek_iss(compact)?;
        self.entries
            .iter()
            .enumerate()
            .find(|(_, entry)| entry.takes(iss.as_deref()))
            .ok_or(match iss {
                Some(_) => TokenError::UnknownIssuer,
                None => TokenError::MissingClaim("iss"),
            })
    }

    /// The remote key set to refresh before `token` is tried again, when it
    /// was refused for want of a key that its issuer may have published
    /// since the keys were last fetched: its `kid` is not among them (or,
    /// without a `kid`, no key fitted).
    #[cfg(feature = "remote")]
    pub(crate) fn key_miss(&self, token: &[u8], error: TokenError) -> Option<&dyn KeySource> {
        if !matches!(
            error,
            TokenError::UnknownKey | TokenError::InvalidSignature | TokenError::AlgorithmMismatch
        ) {
            return None;
        }
        if self.entries.iter().all(|entry| entry.remote.is_none()) {
            return None;
        }
        let compact = Compact::split(token).ok()?;
        let (_, entry) = self.select(&compact).ok()?;
        let remote = entry.remote.as_ref()?;
        // A token that does not even name this issuer is no reason to ask
        // the issuer for keys (with several issuers, `select` checked it).
        if self.entries.len() == 1 && !entry.takes(peek_iss(&compact).ok()?.as_deref()) {
            return None;
        }
        let mut header = Vec::new();
        jws::decode_into(compact.header, &mut header).ok()?;
        let header = Header::parse(&header).ok()?;
        let missing = match header.kid.as_deref() {
            Some(kid) => !entry.keys.current().has_kid(kid),
            None => error == TokenError::UnknownKey,
        };
        missing.then_some(&**remote)
    }

    /// Fully verifies `token` as of `now()` and hands the decoded claims and
    /// the registered claims to `keep`. The clock is only read for a token
    /// whose signature verified.
    pub(crate) fn verify_at<C: DeserializeOwned, R>(
        &self,
        token: &[u8],
        now: impl FnOnce() -> u64,
        keep: impl FnOnce(C, &RegisteredClaims<'_>) -> R,
    ) -> Result<R, TokenError> {
        if token.len() > self.max_token_len {
            return Err(TokenError::TooLarge);
        }
        let compact = Compact::split(token)?;
        let (issuer, entry) = self.select(&compact)?;
        let rules = &entry.rules;
        if token.len() > rules.max_token_len {
            return Err(TokenError::TooLarge);
        }
        let keys = entry.keys.current();
        // The usual headers are recognised in their encoded form, unparsed,
        // unless the header's `typ` is to be checked. Parsing costs an HS256
        // validation about 1.5 × its time (`HS256/verdict/parsed_header`
        // against `HS256/verdict/accept`, `cargo bench --bench validation`;
        // BENCHMARKS.md, "Verification shortcuts").
        let parsed;
        let common = match rules.jwt_type {
            None => keys.common_header(compact.header),
            Some(_) => None,
        };
        let (alg, kid) = match common {
            Some(alg) => (alg, None),
            None => {
                let mut header = Vec::with_capacity(compact.header.len() * 3 / 4 + 3);
                jws::decode_into(compact.header, &mut header)?;
                parsed = header;
                let header = Header::parse(&parsed)?;
                let alg =
                    algorithm_from_name(&header.alg).ok_or(TokenError::UnsupportedAlgorithm)?;
                Header::check_members(&parsed)?;
                if !rules.typ_allowed(header.typ.as_deref()) {
                    return Err(TokenError::WrongJwtType);
                }
                (alg, header.kid)
            }
        };
        if !rules.algorithm_allowed(alg) {
            return Err(TokenError::UnsupportedAlgorithm);
        }
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
        // One heap buffer for every payload: a stack buffer for small ones
        // measured no gain (BENCHMARKS.md, "Verification shortcuts").
        let mut payload = Vec::new();
        jws::decode_into(compact.payload, &mut payload)?;
        let payload = payload.as_slice();
        if !jws::is_json_object(payload) {
            return Err(TokenError::InvalidClaims);
        }
        let now = now();
        // The registered claims, checked, and only then `C`.
        let mut registered = registered(rules, payload)?;
        registered.issuer = issuer;
        self.check_claims(rules, &registered, now)?;
        let claims: C = serde_json::from_slice(payload).map_err(|_| TokenError::InvalidClaims)?;
        Ok(keep(claims, &registered))
    }

    /// The checks that depend on the time and on the revocation hook, for a
    /// token whose signature and other claims were verified earlier (a
    /// cache hit).
    pub(crate) fn recheck(
        &self,
        registered: &RegisteredClaims<'_>,
        now: u64,
    ) -> Result<(), TokenError> {
        let rules = self
            .entries
            .get(registered.issuer)
            .map_or(&self.entries[0].rules, |entry| &entry.rules);
        check_times(rules, registered, now)?;
        self.check_revocation(registered)
    }

    /// The revocation hook's verdict as a result.
    pub(crate) fn check_revocation(
        &self,
        registered: &RegisteredClaims<'_>,
    ) -> Result<(), TokenError> {
        match self.revocation.verdict(registered) {
            Verdict::Valid => Ok(()),
            Verdict::Revoked => Err(TokenError::Revoked),
            Verdict::Unknown => Err(TokenError::RevocationUnknown),
        }
    }

    /// Every rule on the registered claims, then the revocation hook.
    fn check_claims(
        &self,
        rules: &Validation,
        registered: &RegisteredClaims<'_>,
        now: u64,
    ) -> Result<(), TokenError> {
        check_times(rules, registered, now)?;
        if let Some(issuers) = &rules.issuers {
            let iss = registered
                .iss
                .as_deref()
                .ok_or(TokenError::MissingClaim("iss"))?;
            if !issuers.iter().any(|accepted| accepted == iss) {
                return Err(TokenError::InvalidIssuer);
            }
        }
        if let Some(audiences) = &rules.audiences {
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
        if let Some((_, value)) = &rules.token_type
            && registered.token_type.as_deref() != Some(value.as_str())
        {
            return Err(TokenError::WrongTokenType);
        }
        self.check_revocation(registered)
    }
}

fn type_claim(rules: &Validation) -> Option<&str> {
    rules.token_type.as_ref().map(|(claim, _)| claim.as_str())
}

/// The registered claims alone, with their types checked.
fn registered<'p>(
    rules: &Validation,
    payload: &'p [u8],
) -> Result<RegisteredClaims<'p>, TokenError> {
    let mut de = serde_json::Deserializer::from_slice(payload);
    let registered = RegisteredSeed {
        type_claim: type_claim(rules),
    }
    .deserialize(&mut de)
    .map_err(|_| TokenError::InvalidClaims)?;
    de.end().map_err(|_| TokenError::InvalidClaims)?;
    Ok(registered)
}

fn check_times(
    rules: &Validation,
    registered: &RegisteredClaims<'_>,
    now: u64,
) -> Result<(), TokenError> {
    let leeway = rules.leeway;
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

/// The unverified `iss` of a token, to choose whose keys verify it.
/// The `iss` of a compact JWS, read without verifying anything: `None` for
/// anything that is not a JWS with a JSON payload naming a string `iss`.
#[cfg(feature = "remote")]
pub(crate) fn unverified_issuer(token: &[u8]) -> Option<String> {
    let compact = Compact::split(token).ok()?;
    peek_iss(&compact).ok().flatten()
}

/// The registered claims of a JSON object (an introspection answer), with
/// no token-type claim.
#[cfg(feature = "remote")]
pub(crate) fn read_registered(json: &[u8]) -> Result<RegisteredClaims<'_>, TokenError> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let registered = RegisteredSeed { type_claim: None }
        .deserialize(&mut de)
        .map_err(|_| TokenError::InvalidClaims)?;
    de.end().map_err(|_| TokenError::InvalidClaims)?;
    Ok(registered)
}

fn peek_iss(compact: &Compact<'_>) -> Result<Option<String>, TokenError> {
    let mut payload = Vec::with_capacity(compact.payload.len() * 3 / 4 + 3);
    jws::decode_into(compact.payload, &mut payload)?;
    if !jws::is_json_object(&payload) {
        return Err(TokenError::InvalidClaims);
    }
    serde_json::from_slice::<IssuerOnly>(&payload)
        .map(|only| only.iss)
        .map_err(|_| TokenError::InvalidClaims)
}

/// A payload read for its `iss` alone.
#[derive(serde::Deserialize)]
struct IssuerOnly {
    #[serde(default)]
    iss: Option<String>,
}

fn verified<C>(claims: C, registered: &RegisteredClaims<'_>) -> Verified<C> {
    Verified {
        claims,
        exp: registered.exp.unwrap_or_default(),
        nbf: registered.nbf,
    }
}
