//! Hostile tokens against the example app (`tutorial`) in process.
//!
//! Every case is sent to the protected route `POST /secret` and must get exactly the
//! status, RFC 6750 challenge and body of the layer's rejection table; the same
//! credentials are then sent to the refresh and logout routes, which must refuse them
//! with a 4xx. No case may reach the handler, answer 5xx, panic, or write to the store.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderValue, Request, StatusCode};
use serde_json::{Value, json};
use support::{APP_SECRET, CountingStore};
use support::{b64, call, now, post_json};
use tower_jwt_auth::{Algorithm, JwtAuthLayer, Key};

/// What the layer's rejection table prescribes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// 401, `Bearer error="invalid_token"`, `{"detail":"Invalid token"}`.
    InvalidToken,
    /// 401, `Bearer error="invalid_token", error_description=…`, `Token expired`.
    Expired,
    /// 400, `Bearer error="invalid_request"`, `{"detail":"Invalid request"}`.
    InvalidRequest,
    /// 401, `Bearer`, `{"detail":"Not authenticated"}`.
    NotAuthenticated,
}

impl Want {
    fn expected(self) -> (StatusCode, &'static str, Value) {
        match self {
            Self::InvalidToken => (
                StatusCode::UNAUTHORIZED,
                "Bearer error=\"invalid_token\"",
                json!({ "detail": "Invalid token" }),
            ),
            Self::Expired => (
                StatusCode::UNAUTHORIZED,
                "Bearer error=\"invalid_token\", error_description=\"The access token expired\"",
                json!({ "detail": "Token expired" }),
            ),
            // `/secret` takes DPoP too: a malformed `Authorization` and missing credentials
            // are answered with the challenges of a layer with DPoP (RFC 9449 §7.1).
            Self::InvalidRequest => (
                StatusCode::BAD_REQUEST,
                "DPoP error=\"invalid_request\", algs=\"ES256 ES384 EdDSA PS256 RS256\"",
                json!({ "detail": "Invalid request" }),
            ),
            Self::NotAuthenticated => (
                StatusCode::UNAUTHORIZED,
                "Bearer, DPoP algs=\"ES256 ES384 EdDSA PS256 RS256\"",
                json!({ "detail": "Not authenticated" }),
            ),
        }
    }
}

/// The example app over a store that counts writes, with one user logged in.
struct Target {
    app: Router,
    store: CountingStore,
    access: String,
    writes_after_login: usize,
}

async fn target() -> Target {
    let config = tutorial::config_from(support::vars(&[
        ("APP_SECRET_STRING", APP_SECRET),
        ("BCRYPT_COST", "4"),
    ]))
    .unwrap();
    let store = CountingStore::default();
    let app = tutorial::app(store.clone(), &config).unwrap();
    let creds = json!({ "username": "alice", "password": "correct horse" });
    assert_eq!(
        call(&app, post_json("/signup", &creds)).await.status,
        StatusCode::CREATED
    );
    let login = call(&app, post_json("/login", &creds)).await;
    assert_eq!(login.status, StatusCode::OK);
    Target {
        app,
        writes_after_login: store.writes(),
        store,
        access: login.body["access_token"].as_str().unwrap().to_owned(),
    }
}

impl Target {
    /// Sends `authorization` (each value a separate header) to `/secret`, checks the
    /// rejection table, then throws the same headers at the refresh and logout routes.
    async fn expect(&self, case: &str, authorization: &[&[u8]], want: Want) {
        let request = |method: &str, uri: &str| {
            let mut request = Request::builder()
                .method(method)
                .uri(uri)
                .body(Body::empty())
                .unwrap();
            for value in authorization {
                request
                    .headers_mut()
                    .append("authorization", HeaderValue::from_bytes(value).unwrap());
            }
            request
        };
        let answer = call(&self.app, request("POST", "/secret")).await;
        let (status, challenge, body) = want.expected();
        assert_eq!(answer.status, status, "{case}: {answer:?}");
        assert_eq!(
            answer
                .headers
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap()),
            Some(challenge),
            "{case}"
        );
        assert_eq!(answer.body, body, "{case}");
        assert_eq!(answer.headers["content-type"], "application/json", "{case}");

        for (method, uri) in [("GET", "/refresh_token"), ("POST", "/logout")] {
            let answer = call(&self.app, request(method, uri)).await;
            assert!(
                answer.status.is_client_error(),
                "{case} on {uri}: {answer:?}"
            );
            assert!(answer.body["detail"].is_string(), "{case} on {uri}");
        }
        assert_eq!(
            self.store.writes(),
            self.writes_after_login,
            "{case} wrote to the store"
        );
    }

    async fn expect_token(&self, case: &str, token: &str, want: Want) {
        self.expect(case, &[format!("Bearer {token}").as_bytes()], want)
            .await;
    }
}

fn hs(alg: Algorithm, secret: &[u8], header: &str, payload: &str) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let tag = match alg {
        Algorithm::HS256 => mac::<Hmac<sha2::Sha256>>(secret, &input),
        Algorithm::HS384 => mac::<Hmac<sha2::Sha384>>(secret, &input),
        _ => mac::<Hmac<sha2::Sha512>>(secret, &input),
    };
    format!("{input}.{}", b64(&tag))
}

fn mac<M: Mac + KeyInit>(secret: &[u8], input: &str) -> Vec<u8> {
    let mut mac = <M as KeyInit>::new_from_slice(secret).unwrap();
    mac.update(input.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// A token with exactly this header and payload, correctly signed with the app's
/// secret: whatever is wrong with it is wrong under an intact signature.
fn forged(header: &str, payload: &str) -> String {
    hs(Algorithm::HS256, APP_SECRET.as_bytes(), header, payload)
}

const HS256: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

fn claims() -> Value {
    json!({ "sub": "alice", "iat": now(), "exp": now() + 600, "scope": "access_token" })
}

fn with(changes: Value) -> String {
    let mut claims = claims();
    for (name, value) in changes.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(name);
        } else {
            claims[name] = value.clone();
        }
    }
    claims.to_string()
}

fn rsa_signed(alg: jsonwebtoken::Algorithm, claims: &Value) -> String {
    let key =
        jsonwebtoken::EncodingKey::from_rsa_pem(&support::data("keys/rsa_private.pem")).unwrap();
    jsonwebtoken::encode(&jsonwebtoken::Header::new(alg), claims, &key).unwrap()
}

#[tokio::test]
async fn the_forging_helpers_make_tokens_the_app_accepts() {
    // The control: without it, every refusal below could be a broken helper.
    let target = target().await;
    for token in [target.access.clone(), forged(HS256, &claims().to_string())] {
        let answer = call(
            &target.app,
            support::bearer_request("POST", "/secret", &token),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn none_algorithm_and_algorithm_substitution_are_refused() {
    let target = target().await;
    let payload = claims().to_string();
    let unsigned = |alg: &str| {
        format!(
            "{}.{}.",
            b64(format!(r#"{{"alg":"{alg}"}}"#).as_bytes()),
            b64(payload.as_bytes())
        )
    };
    for alg in ["none", "None", "NONE", "nOnE"] {
        target
            .expect_token(
                &format!("alg {alg}, no signature"),
                &unsigned(alg),
                Want::InvalidToken,
            )
            .await;
        let header = format!(r#"{{"alg":"{alg}"}}"#);
        target
            .expect_token(
                &format!("alg {alg} with a valid HS256 signature"),
                &forged(&header, &payload),
                Want::InvalidToken,
            )
            .await;
    }
    // The app's own secret under another HMAC algorithm.
    for alg in [Algorithm::HS384, Algorithm::HS512] {
        let header = format!(r#"{{"alg":"{alg:?}"}}"#);
        target
            .expect_token(
                &format!("{alg:?} with the app secret"),
                &hs(alg, APP_SECRET.as_bytes(), &header, &payload),
                Want::InvalidToken,
            )
            .await;
    }
    // Asymmetric algorithms with the attacker's own keys.
    for alg in [
        jsonwebtoken::Algorithm::RS256,
        jsonwebtoken::Algorithm::PS512,
    ] {
        target
            .expect_token(
                &format!("{alg:?}"),
                &rsa_signed(alg, &claims()),
                Want::InvalidToken,
            )
            .await;
    }
    let es = tower_jwt_auth::SigningKey::ec_pem(
        Algorithm::ES256,
        support::data("keys/ec256_private.pem"),
    )
    .unwrap();
    let ed = tower_jwt_auth::SigningKey::ed_pem(support::data("keys/ed25519_private.pem")).unwrap();
    for (name, signer) in [("ES256", es), ("EdDSA", ed)] {
        target
            .expect_token(name, &signer.sign(&claims()).unwrap(), Want::InvalidToken)
            .await;
    }
    // Names that are almost HS256, or not names at all.
    for header in [
        r#"{"alg":"hs256"}"#,
        r#"{"alg":"HS256 "}"#,
        r#"{"alg":"HS2560"}"#,
        r#"{"alg":""}"#,
        r#"{"alg":null}"#,
        r#"{"alg":256}"#,
        r#"{"alg":["HS256"]}"#,
        r#"{"typ":"JWT"}"#,
        r#"{"alg":"HS256","alg":"none"}"#,
    ] {
        target
            .expect_token(header, &forged(header, &payload), Want::InvalidToken)
            .await;
    }
}

#[tokio::test]
async fn hmac_forged_with_a_published_public_key_is_refused() {
    // An app that signs with RS256 and publishes its JWKS: the classic key confusion
    // signs HS256 with the public key as the HMAC secret.
    for (alg, private, public) in [
        (
            Algorithm::RS256,
            "keys/rsa_private.pem",
            "keys/rsa_public.pem",
        ),
        (
            Algorithm::ES256,
            "keys/ec256_private.pem",
            "keys/ec256_public.pem",
        ),
    ] {
        let signer = match alg {
            Algorithm::RS256 => tower_jwt_auth::SigningKey::rsa_pem(alg, support::data(private)),
            _ => tower_jwt_auth::SigningKey::ec_pem(alg, support::data(private)),
        }
        .unwrap()
        .with_kid("k1");
        let issuer = tower_jwt_auth::TokenIssuer::new(signer);
        let store = tower_jwt_auth::store::MemoryStore::new();
        let auth = tower_jwt_auth::Auth::builder(issuer, store)
            .bcrypt_cost(4)
            .build()
            .unwrap();
        let app = Router::new()
            .route("/secret", axum::routing::post(|| async { "secret" }))
            .route_layer(auth.layer())
            .merge(auth.router());
        let jwks = call(
            &app,
            Request::get("/.well-known/jwks.json")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(jwks.status, StatusCode::OK);
        let jwk = &jwks.body["keys"][0];
        let public_pem = support::data(public);
        let payload = claims().to_string();
        let mut secrets: Vec<(String, Vec<u8>)> = vec![
            ("PEM".into(), public_pem.clone()),
            (
                "PEM without newline".into(),
                public_pem.trim_ascii_end().to_vec(),
            ),
            ("JWKS text".into(), jwks.body.to_string().into_bytes()),
            ("JWK text".into(), jwk.to_string().into_bytes()),
        ];
        for member in ["n", "x"] {
            if let Some(value) = jwk[member].as_str() {
                secrets.push((format!("JWK {member}"), value.as_bytes().to_vec()));
            }
        }
        for (what, secret) in secrets {
            for header in [r#"{"alg":"HS256"}"#, r#"{"alg":"HS256","kid":"k1"}"#] {
                let token = hs(Algorithm::HS256, &secret, header, &payload);
                let answer = call(&app, support::bearer_request("POST", "/secret", &token)).await;
                assert_eq!(
                    answer.status,
                    StatusCode::UNAUTHORIZED,
                    "{alg:?} {what} {header}"
                );
                assert_eq!(
                    answer.headers["www-authenticate"], "Bearer error=\"invalid_token\"",
                    "{alg:?} {what}"
                );
                assert_eq!(answer.body, json!({ "detail": "Invalid token" }));
            }
        }
    }
}

#[tokio::test]
async fn stripped_truncated_and_altered_signatures_are_refused() {
    let target = target().await;
    let good = forged(HS256, &claims().to_string());
    let (input, signature) = good.rsplit_once('.').unwrap();
    let flip = |text: &str, at: usize| {
        let mut bytes = text.as_bytes().to_vec();
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        String::from_utf8(bytes).unwrap()
    };
    let other = forged(HS256, &with(json!({ "sub": "bob" })));
    let cases = [
        ("stripped", format!("{input}.")),
        (
            "truncated by one",
            format!("{input}.{}", &signature[..signature.len() - 1]),
        ),
        (
            "truncated by a byte",
            format!("{input}.{}", &signature[..signature.len() - 2]),
        ),
        ("half a signature", format!("{input}.{}", &signature[..21])),
        (
            "first byte altered",
            format!("{input}.{}", flip(signature, 0)),
        ),
        (
            "last char altered",
            format!("{input}.{}", flip(signature, signature.len() - 1)),
        ),
        ("extended", format!("{input}.{signature}AAAA")),
        (
            "another token's signature",
            format!("{input}.{}", other.rsplit_once('.').unwrap().1),
        ),
        ("zero signature", format!("{input}.{}", b64(&[0u8; 32]))),
        ("padded", format!("{input}.{signature}=")),
    ];
    for (case, token) in cases {
        target.expect_token(case, &token, Want::InvalidToken).await;
    }
}

#[tokio::test]
async fn headers_and_payloads_altered_under_an_intact_signature_are_refused() {
    let target = target().await;
    let good = forged(HS256, &claims().to_string());
    let mut parts = good.split('.');
    let (header, payload, signature) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let swap_header = |json: &str| format!("{}.{payload}.{signature}", b64(json.as_bytes()));
    let swap_payload = |json: &str| format!("{header}.{}.{signature}", b64(json.as_bytes()));
    let cases = [
        (
            "kid added",
            swap_header(r#"{"alg":"HS256","typ":"JWT","kid":"k"}"#),
        ),
        ("typ removed", swap_header(r#"{"alg":"HS256"}"#)),
        (
            "white space",
            swap_header(r#"{"alg": "HS256","typ":"JWT"}"#),
        ),
        (
            "sub changed",
            swap_payload(&with(json!({ "sub": "admin" }))),
        ),
        (
            "exp extended",
            swap_payload(&with(json!({ "exp": now() + 999_999 }))),
        ),
        (
            "scope changed",
            swap_payload(&with(json!({ "scope": "refresh_token" }))),
        ),
        ("claim added", swap_payload(&with(json!({ "admin": true })))),
    ];
    for (case, token) in cases {
        target.expect_token(case, &token, Want::InvalidToken).await;
    }
}

#[tokio::test]
async fn wrong_segment_counts_jwe_json_serialisation_and_bad_encodings_are_refused() {
    let target = target().await;
    let good = forged(HS256, &claims().to_string());
    let (header, rest) = good.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    let jwe_header = b64(br#"{"alg":"dir","enc":"A256GCM"}"#);
    let cases = [
        ("one segment", header.to_owned(), Want::InvalidToken),
        (
            "two segments",
            format!("{header}.{payload}"),
            Want::InvalidToken,
        ),
        (
            "four segments",
            format!("{good}.{signature}"),
            Want::InvalidToken,
        ),
        (
            "JWE, five segments",
            format!("{jwe_header}..{}.{payload}.{}", b64(b"iv"), b64(b"tag")),
            Want::InvalidToken,
        ),
        (
            "JWE with RSA-OAEP",
            format!(
                "{}.{}.{}.{payload}.{}",
                b64(br#"{"alg":"RSA-OAEP","enc":"A128GCM"}"#),
                b64(&[1; 256]),
                b64(b"iv"),
                b64(b"tag")
            ),
            Want::InvalidToken,
        ),
        (
            "empty header",
            format!(".{payload}.{signature}"),
            Want::InvalidToken,
        ),
        (
            "empty payload",
            format!("{header}..{signature}"),
            Want::InvalidToken,
        ),
        (
            "standard base64 alphabet",
            good.replace('-', "+").replace('_', "/") + "+/",
            Want::InvalidToken,
        ),
        (
            "padding inside",
            format!("{header}=.{payload}.{signature}"),
            Want::InvalidRequest,
        ),
        (
            "padding at the end",
            format!("{good}=="),
            Want::InvalidToken,
        ),
        (
            "non-canonical trailing bits in the signature",
            format!("{header}.{payload}.{}", noncanonical(signature)),
            Want::InvalidToken,
        ),
        (
            "non-canonical trailing bits in the header",
            format!(
                "{}.{payload}.{signature}",
                noncanonical(&b64(br#"{"alg":"HS256" }"#))
            ),
            Want::InvalidToken,
        ),
        (
            "tilde",
            format!("{header}.{payload}~.{signature}"),
            Want::InvalidToken,
        ),
        (
            "space inside",
            format!("{header}. {payload}.{signature}"),
            Want::InvalidRequest,
        ),
        ("comma list", format!("{good},{good}"), Want::InvalidRequest),
        ("quoted", format!("\"{good}\""), Want::InvalidRequest),
        (
            "percent-encoded",
            good.replacen('.', "%2E", 1),
            Want::InvalidRequest,
        ),
    ];
    for (case, token, want) in cases {
        target.expect_token(case, &token, want).await;
    }
    // JSON serialisations are not compact tokens and not token68 either.
    let flattened = json!({ "protected": header, "payload": payload, "signature": signature });
    let general = json!({ "payload": payload, "signatures": [{ "protected": header, "signature": signature }] });
    for (case, body) in [("flattened JSON", flattened), ("general JSON", general)] {
        target
            .expect_token(case, &body.to_string(), Want::InvalidRequest)
            .await;
        target
            .expect_token(
                &format!("{case}, base64url"),
                &b64(body.to_string().as_bytes()),
                Want::InvalidToken,
            )
            .await;
    }
}

/// The same bytes encoded with non-zero unused trailing bits: decoders that accept it
/// make a second spelling of one token.
fn noncanonical(segment: &str) -> String {
    assert!(!segment.len().is_multiple_of(4), "needs trailing bits");
    let last = segment.as_bytes()[segment.len() - 1];
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let index = ALPHABET.iter().position(|&c| c == last).unwrap();
    format!(
        "{}{}",
        &segment[..segment.len() - 1],
        ALPHABET[index + 1] as char
    )
}

#[tokio::test]
async fn key_bearing_headers_and_hostile_kids_are_never_followed() {
    let target = target().await;
    // Anything that fetches would connect here.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    let attacker = b"the-attackers-own-secret-of-32-bytes-or-more";
    let attacker_jwk = json!({ "kty": "oct", "alg": "HS256", "k": b64(attacker) });
    let payload = claims().to_string();
    let headers = [
        json!({ "alg": "HS256", "jwk": attacker_jwk }),
        json!({ "alg": "HS256", "jku": url }),
        json!({ "alg": "HS256", "x5u": url }),
        json!({ "alg": "HS256", "x5c": [b64(b"not a certificate")] }),
        json!({ "alg": "HS256", "kid": "../../../../../../dev/null" }),
        json!({ "alg": "HS256", "kid": "' OR '1'='1" }),
        json!({ "alg": "HS256", "kid": "k\u{0}1" }),
        json!({ "alg": "HS256", "kid": "a".repeat(4000) }),
        json!({ "alg": "HS256", "kid": url }),
    ];
    for header in &headers {
        let header = header.to_string();
        for secret in [&attacker[..], b"", b"\0"] {
            let token = hs(Algorithm::HS256, secret, &header, &payload);
            target
                .expect_token(
                    &format!("{header} signed by the attacker"),
                    &token,
                    Want::InvalidToken,
                )
                .await;
        }
    }
    // A kid of the wrong type is a malformed header even under the app's signature.
    for header in [
        json!({ "alg": "HS256", "kid": 1 }),
        json!({ "alg": "HS256", "kid": { "path": "/dev/null" } }),
        json!({ "alg": "HS256", "kid": ["a"] }),
    ] {
        let token = forged(&header.to_string(), &payload);
        target
            .expect_token(&header.to_string(), &token, Want::InvalidToken)
            .await;
    }
    // `crit` is refused even under the app's own signature.
    for header in [
        json!({ "alg": "HS256", "crit": ["exp"], "exp": 1 }),
        json!({ "alg": "HS256", "crit": ["b64"], "b64": false }),
        json!({ "alg": "HS256", "crit": [] }),
        json!({ "alg": "HS256", "crit": null }),
    ] {
        let token = forged(&header.to_string(), &payload);
        target
            .expect_token(&header.to_string(), &token, Want::InvalidToken)
            .await;
    }
    let fetched = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
    assert!(fetched.is_err(), "a key URL was fetched");
}

#[tokio::test]
async fn payloads_that_are_not_valid_claims_are_refused() {
    let target = target().await;
    let raw = |payload: &[u8]| {
        let input = format!("{}.{}", b64(HS256.as_bytes()), b64(payload));
        format!(
            "{input}.{}",
            b64(&mac::<Hmac<sha2::Sha256>>(APP_SECRET.as_bytes(), &input))
        )
    };
    let exp = now() + 600;
    let not_objects: [&[u8]; 10] = [
        b"[]",
        br#"["sub","alice"]"#,
        b"\"alice\"",
        b"42",
        b"null",
        b"true",
        b"",
        b"{",
        b"{}}",
        b"\xff\xfe{\"sub\":\"alice\"}",
    ];
    for payload in not_objects {
        target
            .expect_token(
                &format!("payload {}", String::from_utf8_lossy(payload)),
                &raw(payload),
                Want::InvalidToken,
            )
            .await;
    }
    let not_utf8 = [
        format!("{{\"sub\":\"al\u{0}ice\",\"exp\":{exp},\"scope\":\"access_token\"}}").into_bytes(),
        [
            &b"{\"sub\":\"al"[..],
            b"\xc3\x28",
            format!("ice\",\"exp\":{exp},\"scope\":\"access_token\"}}").as_bytes(),
        ]
        .concat(),
        [
            &b"{\"sub\":\"\xed\xa0\x80\",\"exp\":"[..],
            exp.to_string().as_bytes(),
            b",\"scope\":\"access_token\"}",
        ]
        .concat(),
        format!("{{\"sub\":\"\\ud800\",\"exp\":{exp},\"scope\":\"access_token\"}}").into_bytes(),
    ];
    for (n, payload) in not_utf8.iter().enumerate() {
        // A NUL inside a JSON string is not valid JSON either (control character).
        target
            .expect_token(&format!("bad text {n}"), &raw(payload), Want::InvalidToken)
            .await;
    }
    let wrong_types = [
        json!({ "exp": exp.to_string() }),
        json!({ "exp": -1 }),
        json!({ "exp": null }),
        json!({ "exp": true }),
        json!({ "exp": [exp] }),
        json!({ "exp": 1.0e300 }),
        json!({ "sub": 7 }),
        json!({ "sub": ["alice"] }),
        json!({ "sub": { "name": "alice" } }),
        json!({ "scope": ["access_token"] }),
        json!({ "scope": 1 }),
        json!({ "iat": "now" }),
        json!({ "nbf": {} }),
        json!({ "jti": 1 }),
        json!({ "aud": 1 }),
        json!({ "iss": false }),
    ];
    for changes in wrong_types {
        // Fields set to null are removed by `with`; set explicit nulls by hand.
        let payload = if changes.as_object().unwrap().values().any(Value::is_null) {
            let mut claims = claims();
            claims["exp"] = Value::Null;
            claims.to_string()
        } else {
            with(changes.clone())
        };
        target
            .expect_token(
                &format!("wrong type {changes}"),
                &forged(HS256, &payload),
                Want::InvalidToken,
            )
            .await;
    }
    let missing = [
        ("no exp", with(json!({ "exp": null }))),
        ("no sub", with(json!({ "sub": null }))),
        ("no scope", with(json!({ "scope": null }))),
        (
            "duplicate exp",
            format!(r#"{{"sub":"alice","exp":{exp},"exp":{exp},"scope":"access_token"}}"#),
        ),
        (
            "duplicate sub",
            format!(r#"{{"sub":"alice","sub":"admin","exp":{exp},"scope":"access_token"}}"#),
        ),
        (
            "duplicate scope",
            format!(
                r#"{{"sub":"alice","exp":{exp},"scope":"refresh_token","scope":"access_token"}}"#
            ),
        ),
        ("nbf in the future", with(json!({ "nbf": now() + 3600 }))),
        ("iat in the future", with(json!({ "iat": now() + 3600 }))),
        ("nbf far in the future", with(json!({ "nbf": u64::MAX }))),
    ];
    for (case, payload) in missing {
        target
            .expect_token(case, &forged(HS256, &payload), Want::InvalidToken)
            .await;
    }
    for (case, payload) in [
        ("expired", with(json!({ "exp": now() - 60 }))),
        ("exp zero", with(json!({ "exp": 0 }))),
    ] {
        target
            .expect_token(case, &forged(HS256, &payload), Want::Expired)
            .await;
    }
}

#[tokio::test]
async fn oversized_tokens_dots_and_conflicting_headers_are_refused() {
    let target = target().await;
    let big_claim = with(json!({ "pad": "x".repeat(9000) }));
    let good = forged(HS256, &claims().to_string());
    let other = forged(HS256, &with(json!({ "sub": "bob" })));
    let cases = [
        (
            "oversized claim",
            forged(HS256, &big_claim),
            Want::InvalidToken,
        ),
        (
            "oversized header",
            forged(
                &json!({ "alg": "HS256", "x": "y".repeat(9000) }).to_string(),
                &claims().to_string(),
            ),
            Want::InvalidToken,
        ),
        (
            "1 MiB of base64url",
            "A".repeat(1 << 20),
            Want::InvalidToken,
        ),
        ("only dots", ".".repeat(10_000), Want::InvalidToken),
        (
            "dots after a token",
            format!("{good}{}", ".".repeat(200)),
            Want::InvalidToken,
        ),
        (
            "dots between segments",
            good.replace('.', "...."),
            Want::InvalidToken,
        ),
        ("single dot", ".".to_owned(), Want::InvalidToken),
    ];
    for (case, token, want) in cases {
        target.expect_token(case, &token, want).await;
    }
    let bearer = |token: &str| format!("Bearer {token}").into_bytes();
    let (good_h, other_h) = (bearer(&good), bearer(&other));
    target
        .expect(
            "repeated identical",
            &[&good_h, &good_h],
            Want::InvalidRequest,
        )
        .await;
    target
        .expect(
            "repeated conflicting",
            &[&good_h, &other_h],
            Want::InvalidRequest,
        )
        .await;
    target
        .expect(
            "bearer and basic",
            &[&good_h, b"Basic YWxpY2U6cHc="],
            Want::InvalidRequest,
        )
        .await;
    target
        .expect("empty and bearer", &[b"", &good_h], Want::InvalidRequest)
        .await;
    target
        .expect(
            "two tokens in one header",
            &[format!("Bearer {good} {other}").as_bytes()],
            Want::InvalidRequest,
        )
        .await;
    target
        .expect("scheme only", &[b"Bearer"], Want::InvalidRequest)
        .await;
    target
        .expect("no scheme", &[good.as_bytes()], Want::NotAuthenticated)
        .await;
    target
        .expect(
            "tab separator",
            &[format!("Bearer\t{good}").as_bytes()],
            Want::InvalidRequest,
        )
        .await;
    target
        .expect("obs-text", &[b"Bearer \xff\xfe"], Want::InvalidRequest)
        .await;
    target
        .expect(
            "another scheme",
            &[b"Basic YWxpY2U6cHc="],
            Want::NotAuthenticated,
        )
        .await;
}

#[tokio::test]
async fn a_token_sent_two_ways_at_once_is_a_bad_request() {
    // The example app reads the header only: a token in the query string is ignored.
    let target = target().await;
    let request = Request::post(format!("/secret?access_token={}", target.access))
        .body(Body::empty())
        .unwrap();
    let answer = call(&target.app, request).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    // No credentials: the bearer scheme, and DPoP with the algorithms it takes.
    assert_eq!(
        answer.headers["www-authenticate"],
        "Bearer, DPoP algs=\"ES256 ES384 EdDSA PS256 RS256\""
    );

    // A layer that also reads a cookie and a query parameter refuses any two at once.
    let layer = JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, APP_SECRET).unwrap())
        .cookie("jwt")
        .query_param("access_token")
        .build()
        .unwrap();
    let app = Router::new()
        .route("/secret", axum::routing::post(|| async { "secret" }))
        .route_layer(layer);
    let token = target.access.clone();
    let requests = [
        (
            "header and cookie",
            Request::post("/secret")
                .header("authorization", format!("Bearer {token}"))
                .header("cookie", format!("jwt={token}")),
        ),
        (
            "header and query",
            Request::post(format!("/secret?access_token={token}"))
                .header("authorization", format!("Bearer {token}")),
        ),
        (
            "cookie and query",
            Request::post(format!("/secret?access_token={token}"))
                .header("cookie", format!("jwt={token}")),
        ),
        (
            "cookie twice",
            Request::post("/secret").header("cookie", format!("jwt={token}; jwt={token}")),
        ),
        (
            "query twice",
            Request::post(format!("/secret?access_token={token}&access_token={token}")),
        ),
    ];
    for (case, request) in requests {
        let answer = call(&app, request.body(Body::empty()).unwrap()).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{case}");
        assert_eq!(
            answer.headers["www-authenticate"], "Bearer error=\"invalid_request\"",
            "{case}"
        );
        assert_eq!(
            answer.body,
            json!({ "detail": "Invalid request" }),
            "{case}"
        );
    }
    // Each way alone works: the refusals above are about the combination. (A POST with a
    // cookie token must also come from the page's own origin: the CSRF check.)
    for request in [
        Request::post("/secret")
            .header("cookie", format!("jwt={token}"))
            .header("sec-fetch-site", "same-origin"),
        Request::post(format!("/secret?access_token={token}")),
    ] {
        assert_eq!(
            call(&app, request.body(Body::empty()).unwrap())
                .await
                .status,
            StatusCode::OK
        );
    }
}
