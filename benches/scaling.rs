//! How the layer scales across threads: the same calls from 1, 2 and 4 threads at once, in
//! interleaved rounds (every variant and thread count once per round, so that the machine's
//! drift hits all alike), with the median and the spread over the rounds.
//!
//! Variants, each a `JwtAuthLayer` over a no-op service, HS256:
//! - `noop`: the no-op service alone (what perfect scaling looks like on this machine);
//! - `cached/one_token`: the default layer, every thread sending the same cached token;
//! - `cached/two_tokens`: the same, each thread its own token (threads alternate two);
//! - `uncached`: the layer without its cache (every call a full verification);
//! - `cached/revocations`: as `cached/one_token`, with a `RevocationList` of 1,000 revoked
//!   tokens, which every hit consults; the token has a `jti` (not among them).
//!
//! For each, the CPU time per call of each thread (`CLOCK_THREAD_CPUTIME_ID`) and the
//! scaling: `threads × (CPU per call with 1 thread) / (CPU per call with n threads)`, which is
//! `threads` when the threads cost each other nothing. A round with n threads counts only if
//! they really ran at once: each thread's calls overlapped the others' for at least 90 % of
//! its time; other rounds are reported as dropped. With more threads than cores, the threads
//! take turns and CPU time still counts each one's own work.
//!
//! ```sh
//! cargo bench --bench scaling -- [rounds] [calls per thread]   # default 15 and 200000
//! ```

use std::hint::black_box;
use std::sync::Arc;

use http::HeaderValue;
use serde_json::json;
use support::bench::{SECRET, call, noop};
use support::scaling::{Run, on_threads};
use tower::ServiceBuilder;
use tower_jwt_auth::revocation::RevocationList;
use tower_jwt_auth::{Algorithm, JwtAuthLayer, Key, SigningKey};

fn token(sub: &str, jti: Option<&str>) -> HeaderValue {
    let now = jsonwebtoken::get_current_timestamp();
    let mut claims = json!({ "sub": sub, "iat": now, "exp": now + 3600, "scope": "access_token" });
    if let Some(jti) = jti {
        claims["jti"] = jti.into();
    }
    let token = SigningKey::hmac(Algorithm::HS256, SECRET)
        .unwrap()
        .sign(&claims)
        .unwrap();
    HeaderValue::from_str(&format!("Bearer {token}")).unwrap()
}

#[derive(Clone, Copy, PartialEq)]
enum Variant {
    Noop,
    CachedOneToken,
    CachedTwoTokens,
    Uncached,
    CachedRevocations,
}

impl Variant {
    const ALL: [Self; 5] = [
        Self::Noop,
        Self::CachedOneToken,
        Self::CachedTwoTokens,
        Self::Uncached,
        Self::CachedRevocations,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Noop => "noop",
            Self::CachedOneToken => "cached/one_token",
            Self::CachedTwoTokens => "cached/two_tokens",
            Self::Uncached => "uncached",
            Self::CachedRevocations => "cached/revocations",
        }
    }
}

/// `threads` threads each making `calls` calls of `variant` on one shared layer.
fn round(variant: Variant, threads: usize, calls: usize, tokens: &[HeaderValue; 3]) -> Vec<Run> {
    let key = Key::hmac(Algorithm::HS256, SECRET).unwrap();
    let layer = match variant {
        Variant::Uncached => JwtAuthLayer::builder(key).no_cache().build().unwrap(),
        Variant::CachedRevocations => {
            let list = RevocationList::new();
            let exp = jsonwebtoken::get_current_timestamp() + 3600;
            for n in 0..1000 {
                list.revoke(&format!("revoked-{n}"), exp);
            }
            JwtAuthLayer::builder(key)
                .revocation(Arc::new(list))
                .build()
                .unwrap()
        }
        _ => JwtAuthLayer::builder(key).build().unwrap(),
    };
    on_threads(threads, calls, |thread| {
        let token = match variant {
            Variant::CachedTwoTokens => &tokens[thread % 2],
            Variant::CachedRevocations => &tokens[2],
            _ => &tokens[0],
        };
        // A copy of its own: cloning one shared header value per request would make the
        // threads write one reference count, as no server does (each request's headers come
        // from its own connection's buffer).
        let token = HeaderValue::from_bytes(token.as_bytes()).unwrap();
        let mut service = ServiceBuilder::new()
            .layer(layer.clone())
            .service_fn(noop as fn(_) -> _);
        let mut bare = tower::service_fn(noop as fn(_) -> _);
        move || {
            let status = if variant == Variant::Noop {
                call(&mut bare, black_box(&token))
            } else {
                call(&mut service, black_box(&token))
            };
            status == 200
        }
    })
}

fn main() {
    let (rounds, calls) = support::scaling::args();
    let tokens = [
        token("alice", None),
        token("bob", None),
        token("carol", Some("carol-1")),
    ];
    let names = Variant::ALL.map(Variant::name);
    support::scaling::compare(rounds, calls, &names, |v, threads, calls| {
        round(Variant::ALL[v], threads, calls, &tokens)
    });
}
