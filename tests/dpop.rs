//! DPoP (RFC 9449) on the resource-server side: the vectors, the happy path, and the attack
//! table, every row refused with the right challenge and nothing entered into the
//! verified-token cache.

// Every test here needs asymmetric keys, and so a crypto backend.
#![cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};
use support::*;
use tower_jwt_auth::dpop::{
    Dpop, DpopError, ProofError, ReplayCache, ReplayError, access_token_hash, jwk_thumbprint,
};
use tower_jwt_auth::rejection::{JsonRejection, OnRejection, Rejection};
use tower_jwt_auth::{Algorithm, BuildError, Claims, JwtAuthLayer, Key, SigningKey};

const BASE: &str = "https://api.example.com";
const URL: &str = "https://api.example.com/secret";
const ALGS: &str = "ES256 ES384 EdDSA PS256 RS256";

/// Renders rejections as the default does, and keeps them, so that a test can tell which
/// check refused a request.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Rejection>>>);

impl OnRejection<Full<Bytes>> for Recorder {
    fn on_rejection(&self, rejection: Rejection) -> Response<Full<Bytes>> {
        self.0.lock().unwrap().push(rejection.clone());
        JsonRejection.on_rejection(rejection)
    }
}

impl Recorder {
    fn last_dpop_error(&self) -> Option<DpopError> {
        match self.0.lock().unwrap().last() {
            Some(Rejection::Dpop(dpop)) => Some(dpop.error()),
            _ => None,
        }
    }
}

struct Api {
    layer: JwtAuthLayer<Claims, Recorder>,
    rejections: Recorder,
}

impl Api {
    fn new(dpop: Dpop) -> Self {
        Self::with_cache(dpop, true)
    }

    fn with_cache(dpop: Dpop, cache: bool) -> Self {
        let rejections = Recorder::default();
        let builder = JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, SECRET).unwrap())
            .dpop(dpop)
            .on_rejection(rejections.clone());
        let builder = if cache { builder } else { builder.no_cache() };
        let layer = builder.build().unwrap();
        Self { layer, rejections }
    }

    fn default() -> Self {
        Self::new(Dpop::new(BASE))
    }

    async fn send(&self, request: Request<Full<Bytes>>) -> Answer {
        send(&self.layer, request).await
    }

    /// Sends `request`, expects it refused with `error` and the matching challenge, and
    /// nothing new in the verified-token cache.
    async fn refuses(&self, request: Request<Full<Bytes>>, error: DpopError) -> Answer {
        let cached = self.layer.cached_tokens();
        let outcome = self.send(request).await;
        let (code, detail) = match error {
            DpopError::InvalidProof(_) => ("invalid_dpop_proof", "Invalid DPoP proof"),
            DpopError::UseNonce => ("use_dpop_nonce", "DPoP nonce required"),
            DpopError::InvalidToken(tower_jwt_auth::validator::TokenError::Expired) => {
                ("invalid_token", "Token expired")
            }
            _ => ("invalid_token", "Invalid token"),
        };
        assert_eq!(outcome.status, 401, "{outcome:?}");
        assert_eq!(
            outcome.challenge(),
            Some(format!("DPoP error=\"{code}\", algs=\"{ALGS}\"").as_str()),
            "{outcome:?}"
        );
        assert_eq!(outcome.body, json!({ "detail": detail }), "{outcome:?}");
        assert_eq!(self.rejections.last_dpop_error(), Some(error));
        assert_eq!(
            self.layer.cached_tokens(),
            cached,
            "a refusal entered the cache"
        );
        outcome
    }
}

/// A client with its own key pair, making proofs with jsonwebtoken (not the crate).
struct Client {
    alg: Algorithm,
    encoding: EncodingKey,
    jwk: Jwk,
}

impl Client {
    fn es256() -> Self {
        let pem = data("keys/ec256_private.pem");
        Self::new(
            Algorithm::ES256,
            EncodingKey::from_ec_pem(&pem).unwrap(),
            SigningKey::ec_pem(Algorithm::ES256, &pem).unwrap(),
        )
    }

    fn eddsa() -> Self {
        let pem = data("keys/ed25519_private.pem");
        Self::new(
            Algorithm::EdDSA,
            EncodingKey::from_ed_pem(&pem).unwrap(),
            SigningKey::ed_pem(&pem).unwrap(),
        )
    }

    fn new(alg: Algorithm, encoding: EncodingKey, signing: SigningKey) -> Self {
        let mut jwk = signing.public_jwk().unwrap().clone();
        // As a client sends it: the public members alone.
        jwk.common = Default::default();
        Self { alg, encoding, jwk }
    }

    fn jkt(&self) -> String {
        jwk_thumbprint(&self.jwk).unwrap()
    }

    fn jwk_json(&self) -> Value {
        serde_json::to_value(&self.jwk).unwrap()
    }

    /// An access token bound to this client's key.
    fn token(&self) -> String {
        bound_token(&self.jkt())
    }

    /// The claims of a good proof for `GET /secret` with `token`.
    fn claims(&self, token: &str) -> Value {
        json!({
            "jti": unique("jti"),
            "htm": "GET",
            "htu": URL,
            "iat": now(),
            "ath": access_token_hash(token),
        })
    }

    /// A proof with the usual header.
    fn proof(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(self.jwk.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }

    /// A proof with exactly this header JSON, signed with this client's key.
    fn proof_with_header(&self, header: &str, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64(header.as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let signature =
            jsonwebtoken::crypto::sign(input.as_bytes(), &self.encoding, self.alg).unwrap();
        format!("{input}.{signature}")
    }

    /// The usual header as JSON, to alter.
    fn header_json(&self) -> Value {
        json!({ "typ": "dpop+jwt", "alg": format!("{:?}", self.alg), "jwk": self.jwk_json() })
    }
}

fn bound_token(jkt: &str) -> String {
    let mut claims = access_claims("alice");
    claims["cnf"] = json!({ "jkt": jkt });
    hs256().sign(&claims).unwrap()
}

fn request(method: &str, path: &str, authorization: &str, proofs: &[&str]) -> Request<Full<Bytes>> {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", authorization);
    for proof in proofs {
        builder = builder.header("dpop", *proof);
    }
    builder.body(Full::default()).unwrap()
}

fn dpop_get(token: &str, proofs: &[&str]) -> Request<Full<Bytes>> {
    request("GET", "/secret", &format!("DPoP {token}"), proofs)
}

fn vectors() -> Value {
    serde_json::from_slice(&data("vectors/dpop_vectors.json")).unwrap()
}

// The vectors.

#[test]
fn rfc7638_thumbprint_example() {
    let vectors = vectors();
    let vector = &vectors["rfc7638_thumbprint"];
    let jwk: Jwk = serde_json::from_value(vector["jwk"].clone()).unwrap();
    assert_eq!(jwk_thumbprint(&jwk).unwrap(), vector["thumbprint_sha256"]);
}

#[test]
fn rfc9449_example_proof_key_has_the_figure_9_thumbprint_and_its_signature_verifies() {
    let vectors = vectors();
    let vector = &vectors["rfc9449_proof"];
    let proof = vector["proof"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(proof).unwrap();
    assert_eq!(header.typ.as_deref(), Some("dpop+jwt"));
    let jwk = header.jwk.unwrap();
    assert_eq!(jwk_thumbprint(&jwk).unwrap(), vector["jkt"]);
    // The signature, with the crate's key checks, through a validator as of the proof's
    // own `iat`: a proof has no `exp`, and that is only found once the signature verified.
    let validator = tower_jwt_auth::validator::Validator::new(
        Key::from_jwk(&jwk).unwrap(),
        tower_jwt_auth::validator::Validation::new().any_token_type(),
    )
    .unwrap();
    let iat = vector["iat"].as_u64().unwrap();
    let error = validator.validate_at::<Value>(proof, iat).unwrap_err();
    assert_eq!(
        error,
        tower_jwt_auth::validator::TokenError::MissingClaim("exp")
    );
    let tampered = proof.replacen(
        "eyJqdGkiOiItQndDM0VTYzZhY2MybFRj",
        "eyJqdGkiOiItQndDM0VTYzZhY2MybFRk",
        1,
    );
    assert_eq!(
        validator.validate_at::<Value>(&tampered, iat).unwrap_err(),
        tower_jwt_auth::validator::TokenError::InvalidSignature
    );
}

#[test]
fn rfc9449_ath_example() {
    let vectors = vectors();
    let vector = &vectors["rfc9449_ath"];
    assert_eq!(
        access_token_hash(vector["access_token"].as_str().unwrap()),
        vector["ath"]
    );
}

/// An API with the default DPoP configuration, an ES256 client and a token bound to its key.
struct Scene {
    api: Api,
    client: Client,
    token: String,
}

impl Scene {
    fn new() -> Self {
        Self::with(Dpop::new(BASE))
    }

    fn with(dpop: Dpop) -> Self {
        let client = Client::es256();
        let token = client.token();
        Self {
            api: Api::new(dpop),
            client,
            token,
        }
    }

    /// `GET /secret` with the token and a proof whose claims `edit` changed.
    fn with_claims(&self, edit: impl FnOnce(&mut Value)) -> Request<Full<Bytes>> {
        let mut claims = self.client.claims(&self.token);
        edit(&mut claims);
        dpop_get(&self.token, &[&self.client.proof(&claims)])
    }

    /// `GET /secret` with the token and a proof, signed by the client, whose header JSON
    /// `edit` changed.
    fn with_header(&self, edit: impl FnOnce(&mut Value)) -> Request<Full<Bytes>> {
        let mut header = self.client.header_json();
        edit(&mut header);
        let claims = self.client.claims(&self.token);
        let proof = self.client.proof_with_header(&header.to_string(), &claims);
        dpop_get(&self.token, &[&proof])
    }

    async fn refuses(&self, request: Request<Full<Bytes>>, error: ProofError) -> Answer {
        self.api
            .refuses(request, DpopError::InvalidProof(error))
            .await
    }
}

// The happy path.

#[tokio::test]
async fn es256_and_eddsa_proofs_with_bound_tokens_are_accepted() {
    for client in [Client::es256(), Client::eddsa()] {
        let api = Api::default();
        let token = client.token();
        let proof = client.proof(&client.claims(&token));
        api.send(dpop_get(&token, &[&proof]))
            .await
            .assert_ok("alice");
        assert_eq!(api.layer.cached_tokens(), 1);
        // A new proof for the next request: the token comes from the cache.
        let proof = client.proof(&client.claims(&token));
        api.send(dpop_get(&token, &[&proof]))
            .await
            .assert_ok("alice");
    }
}

#[tokio::test]
async fn the_url_is_compared_in_normal_form_and_without_query() {
    let client = Client::es256();
    let api = Api::new(Dpop::new("HTTPS://API.example.com:443/"));
    let token = client.token();
    for htu in [
        "https://api.example.com/secret",
        "https://API.EXAMPLE.COM:443/secret?page=2",
        "https://api.example.com/%73ecret#top",
    ] {
        let mut claims = client.claims(&token);
        claims["htu"] = htu.into();
        let proof = client.proof(&claims);
        let request = request("GET", "/secret?page=2", &format!("DPoP {token}"), &[&proof]);
        api.send(request).await.assert_ok("alice");
    }
}

#[tokio::test]
async fn a_base_url_with_a_path_prefix_stands_for_what_the_proxy_strips() {
    let scene = Scene::with(Dpop::new("https://example.com/api"));
    let request =
        scene.with_claims(|claims| claims["htu"] = "https://example.com/api/secret".into());
    scene.api.send(request).await.assert_ok("alice");
}

#[tokio::test]
async fn optional_jwk_members_do_not_change_the_thumbprint() {
    let scene = Scene::new();
    let request = scene.with_header(|header| {
        header["jwk"]["kid"] = "device-1".into();
        header["jwk"]["alg"] = "ES256".into();
        header["jwk"]["use"] = "sig".into();
    });
    scene.api.send(request).await.assert_ok("alice");
}

#[tokio::test]
async fn a_cached_token_still_needs_a_good_proof_on_every_request() {
    let scene = Scene::new();
    scene
        .api
        .send(scene.with_claims(|_| {}))
        .await
        .assert_ok("alice");
    assert_eq!(scene.api.layer.cached_tokens(), 1);
    scene
        .refuses(dpop_get(&scene.token, &[]), ProofError::Missing)
        .await;
    let request = scene.with_claims(|claims| claims["htm"] = "POST".into());
    scene.refuses(request, ProofError::WrongMethod).await;
}

// The attack table: each row a test, refused with `invalid_dpop_proof` (or `invalid_token`
// for the downgrade) and nothing entered into the verified-token cache (see `Api::refuses`).

#[tokio::test]
async fn a_replayed_proof_is_refused() {
    let scene = Scene::new();
    let proof = scene.client.proof(&scene.client.claims(&scene.token));
    let request = || dpop_get(&scene.token, &[&proof]);
    scene.api.send(request()).await.assert_ok("alice");
    scene.refuses(request(), ProofError::Replayed).await;
}

#[tokio::test]
async fn a_proof_for_another_method_is_refused() {
    let scene = Scene::new();
    for htm in ["POST", "get", "HEAD"] {
        let request = scene.with_claims(|claims| claims["htm"] = htm.into());
        scene.refuses(request, ProofError::WrongMethod).await;
    }
}

#[tokio::test]
async fn a_proof_for_another_url_is_refused() {
    let scene = Scene::new();
    for htu in [
        "https://api.example.com/other",
        "https://api.example.com/secret/",
        "https://evil.example.com/secret",
        "http://api.example.com/secret",
        "https://api.example.com:8443/secret",
        "/secret",
        "not a url",
    ] {
        let request = scene.with_claims(|claims| claims["htu"] = htu.into());
        scene.refuses(request, ProofError::WrongUrl).await;
    }
}

#[tokio::test]
async fn a_stale_proof_is_refused() {
    let scene = Scene::new();
    let request = scene.with_claims(|claims| claims["iat"] = (now() - 120).into());
    scene.refuses(request, ProofError::Stale).await;
}

#[tokio::test]
async fn a_proof_from_the_future_is_refused() {
    let scene = Scene::new();
    let request = scene.with_claims(|claims| claims["iat"] = (now() + 60).into());
    scene.refuses(request, ProofError::IssuedInFuture).await;
}

#[tokio::test]
async fn a_proof_signed_by_another_key_than_cnf_jkt_is_refused() {
    let scene = Scene::new();
    let thief = Client::eddsa();
    // A perfectly good proof, by the thief's own key.
    let proof = thief.proof(&thief.claims(&scene.token));
    scene
        .refuses(dpop_get(&scene.token, &[&proof]), ProofError::KeyMismatch)
        .await;
    // The thief's key with the owner's thumbprint as its `kid` is still the thief's key.
    let mut header = thief.header_json();
    header["jwk"]["kid"] = scene.client.jkt().into();
    let proof = thief.proof_with_header(&header.to_string(), &thief.claims(&scene.token));
    scene
        .refuses(dpop_get(&scene.token, &[&proof]), ProofError::KeyMismatch)
        .await;
}

#[tokio::test]
async fn a_proof_without_ath_is_refused() {
    let scene = Scene::new();
    let request = scene.with_claims(|claims| {
        claims.as_object_mut().unwrap().remove("ath");
    });
    scene
        .refuses(request, ProofError::MissingAccessTokenHash)
        .await;
}

#[tokio::test]
async fn a_proof_with_the_ath_of_another_token_is_refused() {
    let scene = Scene::new();
    // Another token bound to the same key.
    let mut claims = access_claims("mallory");
    claims["cnf"] = json!({ "jkt": scene.client.jkt() });
    let other = hs256().sign(&claims).unwrap();
    assert_ne!(other, scene.token);
    let request = scene.with_claims(|claims| claims["ath"] = access_token_hash(other).into());
    scene
        .refuses(request, ProofError::WrongAccessTokenHash)
        .await;
}

#[tokio::test]
async fn alg_none_in_a_proof_is_refused() {
    let scene = Scene::new();
    // Signed anyway, so that only `alg` is wrong; and unsigned, as `none` means.
    let request = scene.with_header(|header| header["alg"] = "none".into());
    scene
        .refuses(request, ProofError::UnsupportedAlgorithm)
        .await;
    let mut header = scene.client.header_json();
    header["alg"] = "none".into();
    let claims = scene.client.claims(&scene.token);
    let unsigned = format!(
        "{}.{}.",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    scene
        .refuses(dpop_get(&scene.token, &[&unsigned]), ProofError::Malformed)
        .await;
}

#[tokio::test]
async fn hs256_in_a_proof_is_refused() {
    let scene = Scene::new();
    let claims = scene.client.claims(&scene.token);
    let secret = [7u8; 32];
    // An HMAC "key" in the header, and an HMAC over the public key's bytes (key
    // confusion): neither is an algorithm a proof may use.
    let oct =
        json!({ "typ": "dpop+jwt", "alg": "HS256", "jwk": { "kty": "oct", "k": b64(&secret) } });
    let mut confused = scene.client.header_json();
    confused["alg"] = "HS256".into();
    let public_bytes = scene.client.jwk_json().to_string().into_bytes();
    for (header, secret) in [(oct, secret.to_vec()), (confused, public_bytes)] {
        let proof = raw_hs256(&header.to_string(), &claims.to_string(), &secret);
        scene
            .refuses(
                dpop_get(&scene.token, &[&proof]),
                ProofError::UnsupportedAlgorithm,
            )
            .await;
    }
}

#[tokio::test]
async fn a_private_key_in_the_proof_jwk_is_refused() {
    let scene = Scene::new();
    for member in ["d", "p", "q", "dp", "dq", "qi", "k"] {
        let request = scene.with_header(|header| header["jwk"][member] = "AAAA".into());
        scene.refuses(request, ProofError::PrivateKey).await;
    }
}

#[tokio::test]
async fn a_jwk_with_members_that_would_change_the_thumbprint_is_refused() {
    let scene = Scene::new();
    // Members of another key type: a thumbprint over "whatever is there" would differ.
    for member in ["n", "e"] {
        let request = scene.with_header(|header| header["jwk"][member] = "AQAB".into());
        scene.refuses(request, ProofError::AmbiguousKey).await;
    }
    // A thumbprint member twice: the first for one reader, the last for another.
    let jwk = scene.client.jwk_json();
    let header = format!(
        r#"{{"typ":"dpop+jwt","alg":"ES256","jwk":{{"kty":"EC","crv":"P-256","x":"{}","x":"{}","y":"{}"}}}}"#,
        Client::eddsa().jwk_json()["x"].as_str().unwrap(),
        jwk["x"].as_str().unwrap(),
        jwk["y"].as_str().unwrap(),
    );
    let proof = scene
        .client
        .proof_with_header(&header, &scene.client.claims(&scene.token));
    scene
        .refuses(dpop_get(&scene.token, &[&proof]), ProofError::Malformed)
        .await;
}

#[tokio::test]
async fn two_dpop_headers_are_refused() {
    let scene = Scene::new();
    let proof = || scene.client.proof(&scene.client.claims(&scene.token));
    let (first, second) = (proof(), proof());
    scene
        .refuses(
            dpop_get(&scene.token, &[&first, &second]),
            ProofError::Repeated,
        )
        .await;
    // Neither was used up.
    let outcome = scene.api.send(dpop_get(&scene.token, &[&first])).await;
    outcome.assert_ok("alice");
}

#[tokio::test]
async fn a_10_kb_proof_is_refused() {
    let scene = Scene::new();
    let request = scene.with_claims(|claims| claims["pad"] = "x".repeat(10 * 1024).into());
    let proof = request.headers()["dpop"].len();
    assert!(proof > 10 * 1024, "{proof}");
    scene.refuses(request, ProofError::TooLarge).await;
}

#[tokio::test]
async fn a_bound_token_used_as_bearer_is_refused() {
    let scene = Scene::new();
    let (api, token) = (&scene.api, &scene.token);
    let proof = scene.client.proof(&scene.client.claims(token));
    for proofs in [&[][..], &[proof.as_str()][..]] {
        let request = request("GET", "/secret", &format!("Bearer {token}"), proofs);
        api.refuses(request, DpopError::BoundTokenAsBearer).await;
    }
    // Bound by another confirmation method: not a bearer token either.
    let mut claims = access_claims("alice");
    claims["cnf"] = json!({ "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2" });
    let token = hs256().sign(&claims).unwrap();
    api.refuses(with_bearer(&token), DpopError::BoundTokenAsBearer)
        .await;
}

#[tokio::test]
async fn a_bound_token_is_refused_as_bearer_from_the_cache_and_when_otherwise_invalid() {
    // Whether a bearer token is bound comes with its validation, a cache hit's
    // included; an invalid token's payload is read for it.
    for cache in [true, false] {
        let client = Client::es256();
        let api = Api::with_cache(Dpop::new(BASE), cache);
        let token = client.token();
        let proof = client.proof(&client.claims(&token));
        api.send(dpop_get(&token, &[&proof]))
            .await
            .assert_ok("alice");
        assert_eq!(api.layer.cached_tokens(), usize::from(cache));
        api.refuses(with_bearer(&token), DpopError::BoundTokenAsBearer)
            .await;
        let bound = |edit: &dyn Fn(&mut Value)| {
            let mut claims = access_claims("alice");
            claims["cnf"] = json!({ "jkt": client.jkt() });
            edit(&mut claims);
            claims
        };
        let expired = hs256()
            .sign(&bound(&|claims| claims["exp"] = (now() - 3600).into()))
            .unwrap();
        let other_key = SigningKey::hmac(Algorithm::HS256, b"another secret, of 32 bytes or more")
            .unwrap()
            .sign(&bound(&|_| ()))
            .unwrap();
        let null_cnf = hs256()
            .sign(&bound(&|claims| claims["cnf"] = Value::Null))
            .unwrap();
        for token in [expired, other_key, null_cnf] {
            api.refuses(with_bearer(&token), DpopError::BoundTokenAsBearer)
                .await;
        }
        // An unbound bearer token is still served, the second time from the cache.
        let bearer = hs256().sign(&access_claims("bob")).unwrap();
        for _ in 0..2 {
            api.send(with_bearer(&bearer)).await.assert_ok("bob");
        }
        assert_eq!(api.layer.cached_tokens(), 2 * usize::from(cache));
    }
}

// Around the table.

#[tokio::test]
async fn an_unbound_token_sent_with_the_dpop_scheme_is_refused() {
    let client = Client::es256();
    let api = Api::default();
    let token = hs256().sign(&access_claims("alice")).unwrap();
    let proof = client.proof(&client.claims(&token));
    api.refuses(dpop_get(&token, &[&proof]), DpopError::UnboundToken)
        .await;
}

#[tokio::test]
async fn a_dpop_scheme_without_a_proof_is_refused() {
    let client = Client::es256();
    let api = Api::default();
    api.refuses(
        dpop_get(&client.token(), &[]),
        DpopError::InvalidProof(ProofError::Missing),
    )
    .await;
}

#[tokio::test]
async fn a_good_proof_does_not_save_a_bad_token() {
    let client = Client::es256();
    let api = Api::default();
    let mut claims = access_claims("alice");
    claims["cnf"] = json!({ "jkt": client.jkt() });
    claims["exp"] = (now() - 60).into();
    let expired = hs256().sign(&claims).unwrap();
    let proof = client.proof(&client.claims(&expired));
    api.refuses(
        dpop_get(&expired, &[&proof]),
        DpopError::InvalidToken(tower_jwt_auth::validator::TokenError::Expired),
    )
    .await;

    let forged = format!("{}x", client.token());
    let proof = client.proof(&client.claims(&forged));
    let outcome = api.send(dpop_get(&forged, &[&proof])).await;
    assert_eq!(outcome.status, 401, "{outcome:?}");
    assert!(matches!(
        api.rejections.last_dpop_error(),
        Some(DpopError::InvalidToken(_))
    ));
    assert_eq!(api.layer.cached_tokens(), 0);
}

#[tokio::test]
async fn malformed_dpop_credentials_are_answered_with_4xx_and_a_dpop_challenge() {
    let client = Client::es256();
    let api = Api::default();
    let token = client.token();
    let proof = client.proof(&client.claims(&token));
    for authorization in ["DPoP", "DPoP a b", "DPoP a,b"] {
        let outcome = api
            .send(request("GET", "/secret", authorization, &[&proof]))
            .await;
        assert_eq!(outcome.status, 400, "{authorization:?}: {outcome:?}");
        assert_eq!(
            outcome.challenge(),
            Some(format!("DPoP error=\"invalid_request\", algs=\"{ALGS}\"").as_str())
        );
    }
    for garbage in ["", "a", "a.b.c", "...", "é", "eyJ.eyJ.eyJ"] {
        let outcome = api.send(dpop_get(&token, &[garbage])).await;
        assert_eq!(outcome.status, 401, "{garbage:?}: {outcome:?}");
    }
    assert_eq!(api.layer.cached_tokens(), 0);
}

#[tokio::test]
async fn a_layer_with_dpop_still_takes_unbound_bearer_tokens_and_offers_both_schemes() {
    let api = Api::default();
    let token = hs256().sign(&access_claims("alice")).unwrap();
    api.send(with_bearer(&token)).await.assert_ok("alice");
    let outcome = api.send(Request::new(Full::default())).await;
    assert_eq!(outcome.status, 401);
    assert_eq!(
        outcome.challenge(),
        Some(format!("Bearer, DPoP algs=\"{ALGS}\"").as_str())
    );
    // A bad bearer token keeps its bearer challenge.
    send(&api.layer, with_bearer(&format!("{token}x")))
        .await
        .assert_invalid_token();
}

#[tokio::test]
async fn a_layer_requiring_dpop_refuses_bearer_tokens() {
    let api = Api::new(Dpop::new(BASE).required());
    let token = hs256().sign(&access_claims("alice")).unwrap();
    api.refuses(with_bearer(&token), DpopError::BearerNotAccepted)
        .await;
    let outcome = api.send(Request::new(Full::default())).await;
    assert_eq!(
        outcome.challenge(),
        Some(format!("DPoP algs=\"{ALGS}\"").as_str())
    );
    let client = Client::es256();
    let token = client.token();
    let proof = client.proof(&client.claims(&token));
    api.send(dpop_get(&token, &[&proof]))
        .await
        .assert_ok("alice");
}

#[tokio::test]
async fn a_layer_without_dpop_is_unchanged() {
    let layer = hs256_layer();
    let client = Client::es256();
    let token = client.token();
    let proof = client.proof(&client.claims(&token));
    // The DPoP scheme is just another scheme: no bearer credentials.
    send(&layer, dpop_get(&token, &[&proof]))
        .await
        .assert_not_authenticated();
    // A layer that knows nothing of DPoP takes a bound token as a bearer token.
    send_token(&layer, &token).await.assert_ok("alice");
    send_token(&layer, &hs256().sign(&access_claims("bob")).unwrap())
        .await
        .assert_ok("bob");
}

#[tokio::test]
async fn server_nonces_are_demanded_handed_out_and_then_accepted() {
    let client = Client::es256();
    let api = Api::new(Dpop::new(BASE).nonces(Duration::from_secs(300)));
    let token = client.token();
    let outcome = api
        .refuses(
            dpop_get(&token, &[&client.proof(&client.claims(&token))]),
            DpopError::UseNonce,
        )
        .await;
    let nonce = outcome
        .dpop_nonce()
        .expect("a DPoP-Nonce header")
        .to_owned();
    let mut claims = client.claims(&token);
    claims["nonce"] = nonce.clone().into();
    api.send(dpop_get(&token, &[&client.proof(&claims)]))
        .await
        .assert_ok("alice");
    // A nonce the server did not make.
    let mut claims = client.claims(&token);
    claims["nonce"] = "AAAAAAAAAAAAAAAAAAAAAA".into();
    let outcome = api
        .refuses(
            dpop_get(&token, &[&client.proof(&claims)]),
            DpopError::UseNonce,
        )
        .await;
    assert_eq!(outcome.dpop_nonce(), Some(nonce.as_str()));
}

#[tokio::test]
async fn instances_sharing_a_nonce_secret_accept_each_others_nonces() {
    let secret = [9u8; 32];
    let dpop = || {
        Dpop::new(BASE)
            .nonces(Duration::from_secs(300))
            .nonce_secret(secret)
    };
    let (one, two) = (Api::new(dpop()), Api::new(dpop()));
    let client = Client::es256();
    let token = client.token();
    let nonce = one
        .send(dpop_get(&token, &[&client.proof(&client.claims(&token))]))
        .await
        .dpop_nonce()
        .unwrap()
        .to_owned();
    let mut claims = client.claims(&token);
    claims["nonce"] = nonce.into();
    two.send(dpop_get(&token, &[&client.proof(&claims)]))
        .await
        .assert_ok("alice");
}

#[test]
fn configurations_that_cannot_work_are_refused_when_the_layer_is_built() {
    let build = |dpop: Dpop| {
        JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, SECRET).unwrap())
            .dpop(dpop)
            .build()
            .map(|_| ())
    };
    for dpop in [
        Dpop::new("api.example.com"),
        Dpop::new("ftp://api.example.com"),
        Dpop::new("https://api.example.com/?x=1"),
        Dpop::new(BASE).algorithms([Algorithm::ES256, Algorithm::HS256]),
        Dpop::new(BASE).max_age(Duration::ZERO),
        Dpop::new(BASE).replay_capacity(0),
        Dpop::new(BASE).nonces(Duration::ZERO),
        Dpop::new(BASE)
            .nonces(Duration::from_secs(60))
            .nonce_secret(b"short"),
    ] {
        assert!(
            matches!(build(dpop.clone()), Err(BuildError::Dpop(_))),
            "{dpop:?}"
        );
    }
    assert!(matches!(
        build(Dpop::new(BASE).algorithms([])),
        Err(BuildError::EmptyList(_))
    ));
    assert!(build(Dpop::new(BASE)).is_ok());
}

#[test]
fn the_replay_cache_stays_within_its_bound_under_a_flood() {
    let cache = ReplayCache::new(1024, Duration::from_secs(65)).unwrap();
    let now = now();
    let mut full = 0;
    for n in 0..100_000 {
        match cache.insert(&format!("flood-{n}"), now) {
            Ok(()) => {}
            Err(ReplayError::Full) => full += 1,
            Err(error) => panic!("{error:?}"),
        }
    }
    assert_eq!(cache.len(), cache.capacity());
    assert_eq!(full, 100_000 - cache.capacity());
    assert_eq!(cache.insert("flood-0", now), Err(ReplayError::Replayed));
}
