//! Step-up authentication (RFC 9470): [`StepUp`], a requirement on how and
//! how recently the user authenticated, and [`AuthenticationClaims`] for the
//! claims types that say so (`acr`, `auth_time`).

use serde::Deserialize;
use serde_json::Value;

use super::requirement::Authorize;
use crate::claims::Claims;
use crate::claims::NumericDate;
use crate::rejection::Rejection;
use crate::rejection::step_up::StepUp;
use crate::validator::now;

/// Claims that say how and when the user authenticated: the `acr` and
/// `auth_time` claims of OpenID Connect Core §2, which RFC 9470 §4 puts in
/// access tokens.
///
/// Implemented for [`Claims`] and for [`serde_json::Value`] (the top-level
/// members). Implement it for your own claims type to use it with
/// [`StepUp`]; a claim your type does not carry is `None`, and a requirement
/// on it refuses the token.
pub trait AuthenticationClaims {
    /// The authentication context class reference (`acr`), if the token
    /// has one and it is a string.
    fn acr(&self) -> Option<&str>;

    /// When the user authenticated (`auth_time`), in seconds since the
    /// epoch, if the token has one and it is a NumericDate (RFC 7519 §2).
    fn auth_time(&self) -> Option<u64>;
}

impl AuthenticationClaims for Claims {
    fn acr(&self) -> Option<&str> {
        self.acr.as_deref()
    }

    fn auth_time(&self) -> Option<u64> {
        self.auth_time
    }
}

/// `acr` must be a string and `auth_time` a NumericDate, read by the rule
/// that reads the validator's dates (fractions rounded); any other value
/// (a number for `acr`, a string or a negative number for `auth_time`,
/// `null`) is `None`.
impl AuthenticationClaims for Value {
    fn acr(&self) -> Option<&str> {
        self.get("acr")?.as_str()
    }

    fn auth_time(&self) -> Option<u64> {
        NumericDate::deserialize(self.get("auth_time")?)
            .ok()
            .map(|date| date.0)
    }
}

impl StepUp {
    /// Whether `claims` meet the requirement now.
    pub fn is_met_by<C: AuthenticationClaims + ?Sized>(&self, claims: &C) -> bool {
        self.is_met_at(claims, now)
    }

    /// Whether `claims` meet the requirement at the time `now` gives, in
    /// seconds since the epoch; the clock is read only for a maximum age.
    fn is_met_at<C: AuthenticationClaims + ?Sized>(
        &self,
        claims: &C,
        now: impl FnOnce() -> u64,
    ) -> bool {
        let inner = &*self.0;
        let acr_met = inner.acr_values.is_empty()
            || claims
                .acr()
                .is_some_and(|acr| inner.acr_values.iter().any(|value| **value == *acr));
        acr_met
            && inner.max_age.is_none_or(|max_age| {
                claims
                    .auth_time()
                    .is_some_and(|auth_time| now().saturating_sub(auth_time) <= max_age)
            })
    }
}

impl<C: AuthenticationClaims> Authorize<C> for StepUp {
    fn authorize(&self, claims: &C) -> Result<(), Rejection> {
        if self.is_met_by(claims) {
            Ok(())
        } else {
            Err(Rejection::InsufficientUserAuthentication {
                required: self.clone(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::error::BuildError;

    /// The time of these tests.
    const NOW: u64 = 1_700_000_000;

    fn silver_or_phr() -> StepUp {
        StepUp::acr_values(["urn:mace:incommon:iap:silver", "phr"]).unwrap()
    }

    fn met(step_up: &StepUp, claims: &Value) -> bool {
        step_up.is_met_at(claims, || NOW)
    }

    #[test]
    fn any_listed_acr_value_meets_the_requirement() {
        let step_up = silver_or_phr();
        assert!(met(&step_up, &json!({ "acr": "phr" })));
        assert!(met(
            &step_up,
            &json!({ "acr": "urn:mace:incommon:iap:silver" })
        ));
    }

    #[test]
    fn another_acr_value_is_refused() {
        let step_up = silver_or_phr();
        for acr in [
            "urn:mace:incommon:iap:bronze",
            "PHR",
            "phr ",
            "",
            "phr phrh",
        ] {
            assert!(!met(&step_up, &json!({ "acr": acr })), "{acr:?}");
        }
    }

    #[test]
    fn missing_or_non_string_acr_is_refused() {
        let step_up = silver_or_phr();
        for claims in [
            json!({}),
            json!({ "acr": null }),
            json!({ "acr": 2 }),
            json!({ "acr": ["phr"] }),
            json!({ "acr": { "phr": true } }),
            json!("phr"),
        ] {
            assert!(!met(&step_up, &claims), "{claims}");
        }
    }

    #[test]
    fn auth_time_within_max_age_is_met_and_older_is_refused() {
        let step_up = StepUp::authenticated_within(Duration::from_secs(300));
        for (auth_time, expected) in [
            (NOW, true),
            (NOW - 300, true),
            (NOW - 301, false),
            (0, false),
            // Later than the clock: fresh, not a panic or an overflow.
            (NOW + 60, true),
            (u64::MAX, true),
        ] {
            let claims = json!({ "auth_time": auth_time });
            assert_eq!(met(&step_up, &claims), expected, "{auth_time}");
        }
        // Fractional dates are rounded, as the validator rounds them.
        assert!(met(
            &step_up,
            &json!({ "auth_time": (NOW - 300) as f64 - 0.4 })
        ));
        assert!(!met(
            &step_up,
            &json!({ "auth_time": (NOW - 300) as f64 - 0.6 })
        ));
    }

    #[test]
    fn missing_or_garbage_auth_time_fails_a_max_age() {
        let step_up = StepUp::authenticated_within(Duration::from_secs(300));
        for claims in [
            json!({}),
            json!({ "auth_time": null }),
            json!({ "auth_time": NOW.to_string() }),
            json!({ "auth_time": -1 }),
            json!({ "auth_time": 1e300 }),
            json!({ "auth_time": [NOW] }),
            json!({ "auth_time": true }),
        ] {
            assert!(!met(&step_up, &claims), "{claims}");
        }
    }

    #[test]
    fn max_age_reads_the_clock_only_when_required() {
        let acr_only = silver_or_phr();
        assert!(acr_only.is_met_at(&json!({ "acr": "phr" }), || panic!("clock read")));
    }

    #[test]
    fn acr_and_max_age_together_need_both() {
        let step_up = silver_or_phr().max_age(Duration::from_secs(60));
        let fresh = NOW - 10;
        let stale = NOW - 61;
        assert!(met(&step_up, &json!({ "acr": "phr", "auth_time": fresh })));
        assert!(!met(&step_up, &json!({ "acr": "phr", "auth_time": stale })));
        assert!(!met(&step_up, &json!({ "acr": "pwd", "auth_time": fresh })));
        assert!(!met(&step_up, &json!({ "acr": "phr" })));
        assert!(!met(&step_up, &json!({ "auth_time": fresh })));
    }

    #[test]
    fn claims_read_their_acr_and_auth_time_fields() {
        let mut claims: Claims =
            serde_json::from_value(json!({ "sub": "alice", "exp": NOW + 60 })).unwrap();
        let step_up = silver_or_phr().max_age(Duration::from_secs(60));
        assert!(!step_up.is_met_at(&claims, || NOW));
        claims.acr = Some("phr".into());
        claims.auth_time = Some(NOW - 60);
        assert!(step_up.is_met_at(&claims, || NOW));
        claims.auth_time = Some(NOW - 61);
        assert!(!step_up.is_met_at(&claims, || NOW));
    }

    #[test]
    fn challenge_lists_the_acr_values_and_the_max_age() {
        assert_eq!(
            silver_or_phr().challenge(),
            "Bearer error=\"insufficient_user_authentication\", \
             error_description=\"A different authentication level is required\", \
             acr_values=\"urn:mace:incommon:iap:silver phr\""
        );
        assert_eq!(
            StepUp::authenticated_within(Duration::from_millis(5_999)).challenge(),
            "Bearer error=\"insufficient_user_authentication\", \
             error_description=\"More recent authentication is required\", max_age=\"5\""
        );
        assert_eq!(
            StepUp::acr_values(["phr"])
                .unwrap()
                .max_age(Duration::from_secs(300))
                .challenge(),
            "Bearer error=\"insufficient_user_authentication\", \
             error_description=\"A different authentication level and more recent \
             authentication are required\", acr_values=\"phr\", max_age=\"300\""
        );
    }

    #[test]
    fn a_refusal_carries_the_requirement_and_its_challenge() {
        let step_up = silver_or_phr();
        let refusal = step_up.authorize(&json!({ "acr": "pwd" })).unwrap_err();
        assert_eq!(refusal.challenge(), step_up.challenge());
        assert_eq!(
            refusal,
            Rejection::InsufficientUserAuthentication { required: step_up }
        );
    }

    #[test]
    fn acr_values_that_cannot_be_quoted_are_refused_at_build_time() {
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
                matches!(
                    StepUp::acr_values(["phr", bad]),
                    Err(BuildError::InvalidAcrValue(value)) if value == bad
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            StepUp::acr_values(Vec::<String>::new()),
            Err(BuildError::EmptyList("acr value"))
        ));
    }

    #[test]
    fn accessors_give_back_what_was_required() {
        let step_up = silver_or_phr().max_age(Duration::from_secs(90));
        assert_eq!(
            step_up.required_acr_values().collect::<Vec<_>>(),
            ["urn:mace:incommon:iap:silver", "phr"]
        );
        assert_eq!(step_up.required_max_age(), Some(Duration::from_secs(90)));
        let recent = StepUp::authenticated_within(Duration::from_secs(90));
        assert_eq!(recent.required_acr_values().len(), 0);
        assert_eq!(silver_or_phr().required_max_age(), None);
    }
}
