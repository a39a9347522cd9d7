//! DPoP interop against a real authorization server: oidc-provider (its DPoP feature on)
//! issues DPoP-bound JWT access tokens (`cnf.jkt`) to a client that sends proofs, and the
//! layer, with the provider's keys found by discovery, accepts them with fresh proofs and
//! refuses them without. The proofs, keys and thumbprints are made by npm `jose` (from
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
use tower_jwt_auth::remote::RemoteKeys;
use tower_jwt_auth::{JwtAuthLayer, TrustedIssuer};

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

        // A fresh proof by the bound key: in, with the provider's claims.
        let proof = client.proof("GET", &url, Some(&token)).await;
        let answer = send(&layer, get(&authorization, &[&proof])).await;
        answer.assert_ok(idp::CLIENT_ID);
        // The same proof again: a replay.
        assert_refused(
            &send(&layer, get(&authorization, &[&proof])).await,
            "invalid_dpop_proof",
        );
        // Without a proof, as Bearer, with another key's proof, for another URL.
        assert_refused(
            &send(&layer, get(&authorization, &[])).await,
            "invalid_dpop_proof",
        );
        assert_refused(
            &send(&layer, get(&format!("Bearer {token}"), &[])).await,
            "invalid_token",
        );
        let other = JoseClient::new(&modules, "ES256").await;
        let stranger = other.proof("GET", &url, Some(&token)).await;
        assert_refused(
            &send(&layer, get(&authorization, &[&stranger])).await,
            "invalid_dpop_proof",
        );
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
