//! Revocation, login limits and the DPoP replay cache shared between several server
//! processes: through Redis when `REDIS_URL` is set, else through PostgreSQL when
//! `DATABASE_URL` names one, else none (the revocations of a logout, the login limits and the
//! proofs seen stay in the process, as with SQLite one process is expected). So a proof
//! accepted by one process is refused by every other, and N processes allow the login
//! attempts of one.
//!
//! Configuration, from the environment:
//! - `REDIS_URL`: `redis://host:port/db`; `REDIS_PREFIX` (`tower-jwt-auth:`) prefixes its keys.
//! - `REVOCATION_MAX_STALENESS` (30): seconds the server goes on answering from its replica
//!   after losing its revocation backend; then protected routes answer 503 with
//!   `Retry-After`, unless `REVOCATION_SERVE_STALE=on` (default `off`) keeps them serving,
//!   with a warning.

use std::sync::Arc;
use std::time::Duration;

use tower_jwt_auth::dpop::Dpop;
use tower_jwt_auth::revocation::{PgRevocations, RedisRevocations, Replica, ReplicaTask};
use tower_jwt_auth::router::{AuthBuilder, LoginThrottle};
use tower_jwt_auth::store::{RefreshTokenStore, UserStore};

/// How long the server waits at start for its first load of the revocations; past it, it
/// serves all the same and protected routes answer 503 until the load happens.
const FIRST_LOAD: Duration = Duration::from_secs(5);

/// The revocation settings of [`Config`](crate::Config).
#[derive(Debug, Clone)]
pub struct RevocationConfig {
    /// Redis for revocation, if set.
    pub redis_url: Option<String>,
    /// The prefix of the Redis keys and channel.
    pub redis_prefix: String,
    /// See [`Replica::max_staleness`].
    pub max_staleness: Duration,
    /// See [`Replica::serve_stale`].
    pub serve_stale: bool,
}

/// Reads the settings through `var` (which treats empty values as unset).
pub(crate) fn config_from(
    var: impl Fn(&str) -> Option<String>,
) -> Result<RevocationConfig, String> {
    let max_staleness = match var("REVOCATION_MAX_STALENESS") {
        None => 30.0,
        Some(value) => value
            .parse::<f64>()
            .ok()
            .filter(|seconds| seconds.is_finite() && (0.0..=86_400.0).contains(seconds))
            .ok_or("REVOCATION_MAX_STALENESS must be a number of seconds within 0..=86400")?,
    };
    let serve_stale = match var("REVOCATION_SERVE_STALE").as_deref() {
        None | Some("off") => false,
        Some("on") => true,
        Some(other) => {
            return Err(format!(
                "REVOCATION_SERVE_STALE must be on or off, not {other:?}"
            ));
        }
    };
    let redis_url = var("REDIS_URL");
    if let Some(url) = &redis_url
        && !(url.starts_with("redis://") || url.starts_with("rediss://"))
    {
        return Err("REDIS_URL must be a redis:// or rediss:// URL".to_owned());
    }
    Ok(RevocationConfig {
        redis_url,
        redis_prefix: var("REDIS_PREFIX").unwrap_or_else(|| "tower-jwt-auth:".to_owned()),
        max_staleness: Duration::from_secs_f64(max_staleness),
        serve_stale,
    })
}

/// A shared backend and this process's replica of it.
pub struct SharedRevocation {
    replica: Arc<Replica>,
    backend: Backend,
    task: ReplicaTask,
}

enum Backend {
    Postgres(Arc<PgRevocations>),
    Redis(Arc<RedisRevocations>),
}

impl std::fmt::Debug for SharedRevocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let backend = match self.backend {
            Backend::Postgres(_) => "postgres",
            Backend::Redis(_) => "redis",
        };
        f.debug_struct("SharedRevocation")
            .field("backend", &backend)
            .finish_non_exhaustive()
    }
}

impl SharedRevocation {
    /// Redis, if configured; else PostgreSQL over `pool`, if given; else `None`. Starts the
    /// replica's task and waits (a bounded time) for its first load.
    ///
    /// # Errors
    ///
    /// A malformed Redis URL, or a PostgreSQL database that refuses the revocation table.
    pub async fn start(
        config: &RevocationConfig,
        pool: Option<sqlx::PgPool>,
    ) -> Result<Option<Self>, Box<dyn std::error::Error>> {
        let replica = Arc::new(
            Replica::new()
                .max_staleness(config.max_staleness)
                .serve_stale(config.serve_stale),
        );
        let (backend, task) = if let Some(url) = &config.redis_url {
            let backend = Arc::new(RedisRevocations::new(url, &config.redis_prefix)?);
            let task = replica.sync(Arc::clone(&backend));
            tracing::info!("revocations shared through Redis");
            (Backend::Redis(backend), task)
        } else if let Some(pool) = pool {
            let backend = Arc::new(PgRevocations::new(pool));
            backend.install().await?;
            let task = replica.sync(Arc::clone(&backend));
            tracing::info!("revocations shared through PostgreSQL");
            (Backend::Postgres(backend), task)
        } else {
            return Ok(None);
        };
        if !replica.loaded(FIRST_LOAD).await {
            tracing::warn!(
                "revocations not loaded yet; protected routes answer 503 until they are"
            );
        }
        Ok(Some(Self {
            replica,
            backend,
            task,
        }))
    }

    /// `throttle` with its buckets in the shared backend, so that every instance counts
    /// the attempts of all.
    pub(crate) fn share_limits(&self, throttle: LoginThrottle) -> LoginThrottle {
        match &self.backend {
            Backend::Postgres(backend) => throttle.shared(Arc::clone(backend)),
            Backend::Redis(backend) => throttle.shared(Arc::clone(backend)),
        }
    }

    /// `dpop` with its replay cache shared through the backend.
    pub(crate) fn share_replay(&self, dpop: Dpop) -> Dpop {
        match &self.backend {
            Backend::Postgres(backend) => dpop.shared_replay(Arc::clone(backend)),
            Backend::Redis(backend) => dpop.shared_replay(Arc::clone(backend)),
        }
    }

    /// Hands the backend and replica to the auth builder; the task to keep alive as long
    /// as the router.
    pub(crate) fn apply<S: UserStore + RefreshTokenStore>(
        self,
        builder: AuthBuilder<S>,
    ) -> (AuthBuilder<S>, ReplicaTask) {
        let builder = match self.backend {
            Backend::Postgres(backend) => builder.shared_revocation(self.replica, backend),
            Backend::Redis(backend) => builder.shared_revocation(self.replica, backend),
        };
        (builder, self.task)
    }
}
