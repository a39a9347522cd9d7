//! DPoP interop against a real authorization server: oidc-provider (its DPoP feature on)
//! issues DPoP-bound JWT access tokens (`cnf.jkt`) to a client that sends proofs, and the
//! layer, with the provider's keys found by discovery, accepts them with fresh proofs and
//! refuses them without; and DPoP-bound opaque tokens, whose key the layer learns by
//! introspection (RFC 9449 §6.2). The proofs, keys and thumbprints are made by npm `jose` (from
//! oidc-provider's `node_modules`), not by this crate or its test helpers. Skips without
//! `TOWER_JWT_AUTH_TEST_OIDC_PROVIDER` (never in CI).

mod idp;

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use idp::{Provider, Proxy};
use serde_json::{Value, json};
use support::{Answer, send};
use tower_jwt_auth::dpop::{Dpop, jwk_thumbprint};
use tower_jwt_auth::introspection::{ClientAuth, Introspection};
use tower_jwt_auth::remote::RemoteKeys;
use tower_jwt_auth::{Algorithm, JwtAuthLayer, Key, TrustedIssuer};

/// Where the resource server is reached; the proofs for it name URLs under it.
const RESOURCE: &str = "https://api.example.com";
const ALGS: &str = "ES256 ES384 EdDSA PS256 RS256";

/// A client key pair made by `jose`, and proofs signed with it by `jose`.
struct JoseClient {
    modules: PathBuf,
    alg: &'static str,
    /// The private JWK, as jose exported it.
    jwk: Value,
    /// The thumbprint jose computed.
    jkt: String,
}

impl JoseClient {
    fn script() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/idp/dpop_client.mjs")
    }

    async fn run(modules: &Path, args: &[&str]) -> String {
        let output = tokio::time::timeout(
            Duration::from_secs(30),
            tokio::process::Command::new("node")
                .arg(Self::script())
                .args(args)
                .current_dir(modules)
                .kill_on_drop(true)
                .output(),
        )
        .await
        .expect("dpop_client.mjs answers within 30 s")
        .expect("node runs");
        assert!(
            output.status.success(),
            "dpop_client.mjs {:?}: {}",
            args.first(),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    async fn new(modules: &Path, alg: &'static str) -> Self {
        let made: Value =
            serde_json::from_str(&Self::run(modules, &["keygen", alg]).await).unwrap();
        Self {
            modules: modules.to_owned(),
            alg,
            jwk: made["jwk"].clone(),
            jkt: made["jkt"].as_str().unwrap().to_owned(),
        }
    }

    /// A fresh proof for `method` on `url`, with `ath` when a token comes along.
    async fn proof(&self, method: &str, url: &str, token: Option<&str>) -> String {
        let jwk = self.jwk.to_string();
        let mut args = vec!["proof", self.alg, &jwk, method, url];
        if let Some(token) = token {
            args.push(token);
        }
        Self::run(&self.modules, &args).await
    }
}

/// A provider behind the proxy, and a DPoP layer trusting it through discovery.
async fn start(modules: &Path) -> (Proxy, Provider, JwtAuthLayer) {
    let proxy = Proxy::start().await;
    let provider = Provider::start(modules, &proxy.url(), "dpop").await;
    proxy.set_upstream(provider.addr());
    let keys = RemoteKeys::discover(proxy.url())
        .timeout(Duration::from_secs(5))
        .build()
        .await
        .unwrap();
    let layer = JwtAuthLayer::builder_for(
        TrustedIssuer::remote(keys)
            .audiences([idp::AUDIENCE])
            .access_token_jwt(),
    )
    .dpop(Dpop::new(RESOURCE))
    .build()
    .unwrap();
    (proxy, provider, layer)
}

/// A DPoP-bound token for `resource`, asked with a proof by `client`.
async fn bound_token(provider: &Provider, resource: &str, client: &JoseClient) -> String {
    let endpoint = provider.token_endpoint().await;
    let proof = client.proof("POST", &endpoint, None).await;
    let response = provider.token_response(resource, Some(&proof)).await;
    assert_eq!(response["token_type"], "DPoP", "{response}");
    let token = response["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims_of(&token)["cnf"], json!({ "jkt": client.jkt }));
    token
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn get(authorization: &str, proofs: &[&str]) -> Request<Full<Bytes>> {
    let mut request = Request::get("/secret").header("authorization", authorization);
    for proof in proofs {
        request = request.header("dpop", *proof);
    }
    request.body(Full::default()).unwrap()
}

/// `token` passes with a fresh proof by `client`, the key it is bound to, and only so: the
/// same proof again (a replay), no proof, the `Bearer` scheme and a proof by `other` are
/// refused.
async fn assert_bound_to(
    layer: &JwtAuthLayer,
    token: &str,
    client: &JoseClient,
    other: &JoseClient,
) {
    let url = format!("{RESOURCE}/secret");
    let authorization = format!("DPoP {token}");
    let proof = client.proof("GET", &url, Some(token)).await;
    send(layer, get(&authorization, &[&proof]))
        .await
        .assert_ok(idp::CLIENT_ID);
    assert_refused(
        &send(layer, get(&authorization, &[&proof])).await,
        "invalid_dpop_proof",
    );
    assert_refused(
        &send(layer, get(&authorization, &[])).await,
        "invalid_dpop_proof",
    );
    assert_refused(
        &send(layer, get(&format!("Bearer {token}"), &[])).await,
        "invalid_token",
    );
    let strangers = other.proof("GET", &url, Some(token)).await;
    assert_refused(
        &send(layer, get(&authorization, &[&strangers])).await,
        "invalid_dpop_proof",
    );
}

fn assert_refused(answer: &Answer, code: &str) {
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{answer:?}");
    assert_eq!(
        answer.challenge(),
        Some(format!("DPoP error=\"{code}\", algs=\"{ALGS}\"").as_str()),
        "{answer:?}"
    );
}

#[tokio::test]
async fn bound_tokens_from_oidc_provider_pass_with_jose_proofs_and_fail_without() {
    let Some(modules) = idp::node_modules() else {
        return;
    };
    let (_proxy, provider, layer) = start(&modules).await;
    let url = format!("{RESOURCE}/secret");
    for (resource, alg) in [(idp::ES256, "ES256"), (idp::RS256, "EdDSA")] {
        let client = JoseClient::new(&modules, alg).await;
        // jose's thumbprint and the crate's agree on the same public key.
        let mut public = client.jwk.clone();
        public.as_object_mut().unwrap().remove("d");
        let public: tower_jwt_auth::key::jwk::Jwk = serde_json::from_value(public).unwrap();
        assert_eq!(jwk_thumbprint(&public).unwrap(), client.jkt);

        let token = bound_token(&provider, resource, &client).await;
        let authorization = format!("DPoP {token}");

        let other = JoseClient::new(&modules, "ES256").await;
        assert_bound_to(&layer, &token, &client, &other).await;
        // A proof for another URL.
        let elsewhere = client
            .proof("GET", &format!("{RESOURCE}/other"), Some(&token))
            .await;
        assert_refused(
            &send(&layer, get(&authorization, &[&elsewhere])).await,
            "invalid_dpop_proof",
        );
        // A proof made for another token (its `ath`).
        let unbound = provider.token(resource).await;
        let wrong_ath = client.proof("GET", &url, Some(&unbound)).await;
        assert_refused(
            &send(&layer, get(&authorization, &[&wrong_ath])).await,
            "invalid_dpop_proof",
        );
    }
    provider.stop().await;
}

#[tokio::test]
async fn unbound_tokens_from_oidc_provider_stay_bearer_tokens_on_a_dpop_layer() {
    let Some(modules) = idp::node_modules() else {
        return;
    };
    let (_proxy, provider, layer) = start(&modules).await;
    let response = provider.token_response(idp::ES256, None).await;
    assert_eq!(response["token_type"], "Bearer", "{response}");
    let token = response["access_token"].as_str().unwrap();
    assert_eq!(claims_of(token).get("cnf"), None);
    send(&layer, get(&format!("Bearer {token}"), &[]))
        .await
        .assert_ok(idp::CLIENT_ID);
    // With the DPoP scheme, an unbound token is refused, proof or not.
    let client = JoseClient::new(&modules, "ES256").await;
    let proof = client
        .proof("GET", &format!("{RESOURCE}/secret"), Some(token))
        .await;
    assert_refused(
        &send(&layer, get(&format!("DPoP {token}"), &[&proof])).await,
        "invalid_token",
    );
    provider.stop().await;
}

/// RFC 9449 §6.2: an opaque access token bound to a DPoP key, which only introspection can
/// read. oidc-provider binds the opaque token to the proof's key at the token endpoint and
/// names the key in its introspection answer (`cnf.jkt`); the layer checks the request's
/// proof as for a JWT, then compares its key with the answer's, whether the answer was just
/// fetched or kept.
#[tokio::test]
async fn bound_opaque_tokens_pass_through_introspection_with_jose_proofs_and_fail_without() {
    let Some(modules) = idp::node_modules() else {
        return;
    };
    let proxy = Proxy::start().await;
    let provider = Provider::start(&modules, &proxy.url(), "dpop-opaque").await;
    proxy.set_upstream(provider.addr());
    let introspector = Introspection::new(
        format!("{}{}", proxy.url(), idp::INTROSPECTION_PATH),
        ClientAuth::client_secret_basic(idp::RS_BASIC, idp::RS_SECRET),
    )
    .build()
    .await
    .unwrap();
    let layer = JwtAuthLayer::builder(Key::hmac(Algorithm::HS256, support::SECRET).unwrap())
        .dpop(Dpop::new(RESOURCE))
        .introspection(introspector)
        .build()
        .unwrap();
    let url = format!("{RESOURCE}/secret");
    let client = JoseClient::new(&modules, "ES256").await;
    let endpoint = provider.token_endpoint().await;
    let token_proof = client.proof("POST", &endpoint, None).await;
    let response = provider
        .token_response(idp::OPAQUE, Some(&token_proof))
        .await;
    assert_eq!(response["token_type"], "DPoP", "{response}");
    let token = response["access_token"].as_str().unwrap().to_owned();
    assert!(!token.contains('.'), "an opaque token: {token}");
    let authorization = format!("DPoP {token}");

    // The first request waits for the answer, the second finds it kept: both in, each with
    // a fresh proof by the bound key, and one introspection between them.
    for _ in 0..2 {
        let proof = client.proof("GET", &url, Some(&token)).await;
        send(&layer, get(&authorization, &[&proof]))
            .await
            .assert_ok(idp::CLIENT_ID);
    }
    let asked = proxy.introspection_requests();
    assert_eq!(asked, 2, "the probe at build, then one call");
    // A replayed proof, none, another key's, and the token as a bearer token: refused from
    // the kept answer, without another call.
    let stranger = JoseClient::new(&modules, "ES256").await;
    assert_bound_to(&layer, &token, &client, &stranger).await;
    assert_eq!(proxy.introspection_requests(), asked);

    // Another key's proof on the first request of a token: refused once the answer names
    // the bound key.
    let fresh = provider
        .token_response(
            idp::OPAQUE,
            Some(&client.proof("POST", &endpoint, None).await),
        )
        .await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let strangers_proof = stranger.proof("GET", &url, Some(&fresh)).await;
    assert_refused(
        &send(&layer, get(&format!("DPoP {fresh}"), &[&strangers_proof])).await,
        "invalid_dpop_proof",
    );

    // An unbound opaque token stays a bearer token, and is refused with the DPoP scheme.
    let unbound = provider.opaque_token(idp::OPAQUE).await;
    send(&layer, get(&format!("Bearer {unbound}"), &[]))
        .await
        .assert_ok(idp::CLIENT_ID);
    let proof = client.proof("GET", &url, Some(&unbound)).await;
    assert_refused(
        &send(&layer, get(&format!("DPoP {unbound}"), &[&proof])).await,
        "invalid_token",
    );
    provider.stop().await;
}
