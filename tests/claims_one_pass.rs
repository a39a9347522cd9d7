//! The crate's own `Claims` are read in the same pass as the registered claims; any other
//! claims type is read in a second pass. Both ways must give the same verdict (the same
//! error, in the same order of checks), the same claims, and the same registered claims to
//! the revocation hook, for any payload under a valid signature and under every kind of
//! token-type rule. `TwoPass` is `Claims` behind `#[serde(transparent)]`: another type, so
//! it takes the two passes, with exactly `Claims`' rules.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use serde::Deserialize;
use support::{SECRET, raw_hs256};
use tower_jwt_auth::revocation::Revocation;
use tower_jwt_auth::validator::{RegisteredClaims, TokenError, Validation, Validator};
use tower_jwt_auth::{Algorithm, Claims, Key};

const NOW: u64 = 1_700_000_000;
const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(transparent)]
struct TwoPass(Claims);

/// Records what the hook was asked, and revokes the `jti` "revoked".
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl Revocation for Recorder {
    fn is_revoked(&self, claims: &RegisteredClaims<'_>) -> bool {
        self.0.lock().unwrap().push(format!("{claims:?}"));
        claims.jti.as_deref() == Some("revoked")
    }
}

fn rules() -> Vec<Validation> {
    let base = Validation::new().leeway(Duration::from_secs(5));
    vec![
        base.clone(),
        base.clone().any_token_type(),
        base.clone().token_type("typ", "at+jwt"),
        // A `Claims` member as the type claim: `Claims` then takes two passes too.
        base.clone().token_type("sub", "alice"),
        base.clone()
            .issuers(["https://issuer.example"])
            .audiences(["api"]),
    ]
}

type Answer = (Result<Claims, TokenError>, Vec<String>);

fn run<C: serde::de::DeserializeOwned + 'static>(
    rules: &Validation,
    token: &str,
    claims: impl FnOnce(C) -> Claims,
) -> Answer {
    let recorder = Arc::new(Recorder::default());
    let validator = Validator::new(Key::hmac(Algorithm::HS256, SECRET).unwrap(), rules.clone())
        .unwrap()
        .with_revocation(recorder.clone());
    let verdict = validator
        .validate_at::<C>(token, NOW)
        .map(|verified| claims(verified.claims));
    let asked = recorder.0.lock().unwrap().clone();
    (verdict, asked)
}

fn assert_same(payload: &str) -> Result<(), TestCaseError> {
    let token = raw_hs256(HEADER, payload, SECRET);
    for rules in rules() {
        let one = run::<Claims>(&rules, &token, |claims| claims);
        let two = run::<TwoPass>(&rules, &token, |TwoPass(claims)| claims);
        prop_assert_eq!(&one, &two, "{} under {:?}", payload, rules);
    }
    Ok(())
}

/// A member name: the registered ones, the type claims, an escaped spelling, others.
fn name() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "sub",
        "exp",
        "iat",
        "nbf",
        "iss",
        "aud",
        "jti",
        "scope",
        "typ",
        "\\u0073ub",
        "exp ",
        "role",
    ])
}

/// A member value: good and bad dates, strings (escaped too), null, lists, objects.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        (NOW - 100_000..NOW + 100_000).prop_map(|date| date.to_string()),
        Just((NOW + 600).to_string()),
        Just(format!("{}.5", NOW + 600)),
        Just(format!("{}e0", NOW + 600)),
        Just("-1".to_owned()),
        Just("18446744073709551616".to_owned()),
        Just("0".to_owned()),
        Just("null".to_owned()),
        Just("true".to_owned()),
        prop::sample::select(vec![
            "alice",
            "access_token",
            "refresh_token",
            "at+jwt",
            "revoked",
            "api",
            "https://issuer.example",
        ])
        .prop_map(|text| format!("\"{text}\"")),
        Just(r#""\u0061ccess_token""#.to_owned()),
        Just(r#""al\"ice""#.to_owned()),
        Just(r#"["api","other"]"#.to_owned()),
        Just(r#"[]"#.to_owned()),
        Just(r#"["api",1]"#.to_owned()),
        Just(r#"{"nested":[1,{"a":null}]}"#.to_owned()),
    ]
}

/// A value of the right type for `name`, most of the time.
fn member(name: &'static str) -> impl Strategy<Value = String> {
    let typed = match name {
        "exp" | "iat" | "nbf" => (NOW - 1_000..NOW + 1_000)
            .prop_map(|date| date.to_string())
            .boxed(),
        "aud" => prop::sample::select(vec![r#""api""#, r#"["api","other"]"#, r#"["other"]"#])
            .prop_map(str::to_owned)
            .boxed(),
        "scope" | "typ" => prop::sample::select(vec![r#""access_token""#, r#""at+jwt""#])
            .prop_map(str::to_owned)
            .boxed(),
        _ => prop::sample::select(vec![r#""alice""#, r#""https://issuer.example""#, r#""j1""#])
            .prop_map(str::to_owned)
            .boxed(),
    };
    prop_oneof![3 => typed, 1 => value()].prop_map(move |value| format!("\"{name}\":{value}"))
}

/// A claims object: mostly distinct members of mostly the right types, sometimes a
/// member twice or trailing text.
fn payload() -> impl Strategy<Value = String> {
    (
        prop::sample::subsequence(
            vec![
                "sub", "exp", "iat", "nbf", "iss", "aud", "jti", "scope", "typ", "role",
            ],
            0..=10,
        )
        .prop_shuffle(),
        prop::collection::vec((name(), value()), 0..2),
        prop::sample::select(vec!["", "", "", " ", "\n", "x", "}", ",1"]),
    )
        .prop_flat_map(|(names, extra, tail)| {
            let members: Vec<_> = names.into_iter().map(member).collect();
            (members, Just(extra), Just(tail))
        })
        .prop_map(|(mut members, extra, tail)| {
            for (at, (name, value)) in extra.into_iter().enumerate() {
                let at = at.min(members.len());
                members.insert(at, format!("\"{name}\":{value}"));
            }
            format!("{{{}}}{tail}", members.join(","))
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn one_pass_and_two_passes_agree_on_generated_claims(payload in payload()) {
        assert_same(&payload)?;
    }

    #[test]
    fn one_pass_and_two_passes_agree_on_any_text(payload in "\\PC{0,60}") {
        assert_same(&payload)?;
    }
}

#[test]
fn one_pass_and_two_passes_agree_on_chosen_payloads() {
    let exp = NOW + 600;
    let cases = [
        format!(r#"{{"sub":"alice","exp":{exp},"scope":"access_token"}}"#),
        format!(r#"{{"sub":"alice","exp":{exp},"scope":"access_token","jti":"revoked"}}"#),
        format!(r#"{{"sub":"alice","exp":{exp},"scope":null}}"#),
        format!(r#"{{"sub":"alice","exp":{exp}.0,"scope":"access_token"}}"#),
        format!(r#"{{"sub":"alice","exp":{exp},"nbf":null,"scope":"access_token"}}"#),
        format!(r#"{{"sub":"alice","exp":{exp},"aud":"api","iss":"https://issuer.example"}}"#),
        format!(r#"{{"sub":"alice","exp":{exp},"aud":["api"],"iss":"https://issuer.example"}}"#),
        format!(r#"{{"sub":"alice","exp":{exp},"sub":"bob"}}"#),
        format!(r#"{{"sub":"alice","exp":{exp},"typ":"at+jwt","typ":"at+jwt"}}"#),
        format!(r#"{{"sub":"alice","exp":{exp},"scope":"access_token","scope":"access_token"}}"#),
        format!(r#"{{"sub":1,"exp":{exp}}}"#),
        format!(r#"{{"exp":{exp}}}"#),
        format!(r#"{{"sub":"alice","exp":{}}}"#, NOW - 3_600),
        format!(
            r#"{{"sub":"alice","exp":{}.5,"scope":"access_token"}}"#,
            NOW - 3_600
        ),
        format!(r#"{{"sub":"alice","exp":{exp},"iat":{}}}"#, NOW + 3_600),
        format!(r#"{{"\u0073ub":"al\u0069ce","exp":{exp},"scope":"\u0061ccess_token"}}"#),
        format!(r#"[{{"sub":"alice","exp":{exp}}}]"#),
    ];
    for payload in cases {
        assert_same(&payload).unwrap();
    }
}

#[test]
fn the_tutorial_access_token_reads_the_same_both_ways() {
    // The generators could agree by refusing everything; this one must be accepted.
    let payload = format!(
        r#"{{"sub":"alice","iat":{NOW},"exp":{},"scope":"access_token","jti":"j1"}}"#,
        NOW + 600
    );
    let token = raw_hs256(HEADER, &payload, SECRET);
    let (verdict, asked) = run::<Claims>(&Validation::new(), &token, |claims| claims);
    let claims = verdict.unwrap();
    assert_eq!(claims.sub, "alice");
    assert_eq!(claims.scope.as_deref(), Some("access_token"));
    assert_eq!(asked.len(), 1);
    assert_eq!(
        run::<TwoPass>(&Validation::new(), &token, |TwoPass(claims)| claims),
        (Ok(claims), asked)
    );
}
