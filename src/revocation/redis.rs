//! [`RedisRevocations`]: revocations shared through Redis, a sorted set and
//! pub/sub.

use std::time::Duration;

use futures_util::StreamExt;
use redis::AsyncConnectionConfig;
use redis::aio::{MultiplexedConnection, PubSub};
use tokio::sync::Mutex;

use super::{RevocationBackend, RevocationError, RevocationFeed, Revoked, RevokedId, check_id};

/// How long connecting and each command may take.
const TIMEOUT: Duration = Duration::from_secs(3);

/// Revocations in Redis under a key prefix: the sorted set `{prefix}revoked`
/// (member `token:<jti>` or `family:<sid>`, score the time the revocation
/// lasts until) and the pub/sub channel `{prefix}revocations`.
///
/// A sorted set scored by expiry, rather than one key per revocation with
/// its own TTL, makes "every revocation still in force" one command
/// (`ZRANGEBYSCORE`), a consistent snapshot where a `SCAN` over keys is
/// not, and expiry one command too (`ZREMRANGEBYSCORE`, which every
/// replica's heartbeat sends, so the set holds only what is in force plus
/// a heartbeat's worth). A revocation is
/// one `MULTI`/`EXEC`: the member is added (its score only raised) and the
/// message published together.
#[derive(Debug)]
pub struct RedisRevocations {
    client: redis::Client,
    prefix: String,
    set: String,
    channel: String,
    connection: Mutex<Option<MultiplexedConnection>>,
}

impl RedisRevocations {
    /// Revocations at `url` (`redis://host:port/db`) under `prefix` (for
    /// example `"myapp:"`).
    ///
    /// # Errors
    ///
    /// [`RevocationError::Backend`] for a URL that is not a Redis URL. No
    /// connection is made yet.
    pub fn new(url: &str, prefix: &str) -> Result<Self, RevocationError> {
        let client = redis::Client::open(url).map_err(RevocationError::backend)?;
        Ok(Self {
            client,
            prefix: prefix.to_owned(),
            set: format!("{prefix}revoked"),
            channel: format!("{prefix}revocations"),
            connection: Mutex::new(None),
        })
    }

    /// `name` under this backend's prefix.
    pub(crate) fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// The shared connection, opened on first use and again after a
    /// failure.
    pub(crate) async fn connection(&self) -> Result<MultiplexedConnection, RevocationError> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = &*slot {
            return Ok(connection.clone());
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT));
        let connection = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(RevocationError::backend)?;
        *slot = Some(connection.clone());
        Ok(connection)
    }

    /// Runs `command`; on failure forgets the connection, so the next
    /// command opens a new one.
    pub(crate) async fn run<T: redis::FromRedisValue>(
        &self,
        command: &redis::Pipeline,
    ) -> Result<T, RevocationError> {
        let mut connection = self.connection().await?;
        match command.query_async(&mut connection).await {
            Ok(value) => Ok(value),
            Err(error) => {
                *self.connection.lock().await = None;
                Err(RevocationError::backend(error))
            }
        }
    }
}

fn member(id: &RevokedId) -> String {
    format!("{}:{}", id.kind(), id.as_str())
}

/// A subscription on its own connection.
pub struct RedisFeed(PubSub);

impl std::fmt::Debug for RedisFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedisFeed")
    }
}

impl RevocationFeed for RedisFeed {
    async fn next(&mut self) -> Result<Revoked, RevocationError> {
        loop {
            // The stream ends when the connection does.
            let Some(message) = self.0.on_message().next().await else {
                return Err(RevocationError::Closed);
            };
            match message
                .get_payload::<String>()
                .ok()
                .and_then(|payload| Revoked::from_message(&payload))
            {
                Some(revoked) => return Ok(revoked),
                None => tracing::warn!("ignored a malformed revocation message"),
            }
        }
    }
}

impl RevocationBackend for RedisRevocations {
    type Feed = RedisFeed;

    async fn revoke(&self, revoked: &Revoked) -> Result<(), RevocationError> {
        check_id(revoked)?;
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("ZADD")
            .arg(&self.set)
            .arg("GT")
            .arg(revoked.until)
            .arg(member(&revoked.id))
            .ignore()
            .cmd("PUBLISH")
            .arg(&self.channel)
            .arg(revoked.to_message())
            .ignore();
        self.run::<()>(&pipe).await
    }

    async fn listen(&self) -> Result<RedisFeed, RevocationError> {
        let connect = async {
            let mut pubsub = self
                .client
                .get_async_pubsub()
                .await
                .map_err(RevocationError::backend)?;
            pubsub
                .subscribe(&self.channel)
                .await
                .map_err(RevocationError::backend)?;
            Ok(RedisFeed(pubsub))
        };
        tokio::time::timeout(TIMEOUT, connect)
            .await
            .unwrap_or_else(|elapsed| Err(RevocationError::backend(elapsed)))
    }

    async fn load(&self, now: u64) -> Result<Vec<Revoked>, RevocationError> {
        let mut pipe = redis::pipe();
        pipe.cmd("ZRANGE")
            .arg(&self.set)
            .arg(format!("({now}"))
            .arg("+inf")
            .arg("BYSCORE")
            .arg("WITHSCORES");
        let (entries,): (Vec<(String, f64)>,) = self.run(&pipe).await?;
        Ok(entries
            .into_iter()
            .filter_map(|(member, until)| {
                let (kind, id) = member.split_once(':')?;
                Some(Revoked {
                    id: RevokedId::from_parts(kind, id.to_owned())?,
                    // Scores are whole seconds, exact in an f64.
                    until: until as u64,
                })
            })
            .collect())
    }

    async fn purge(&self, now: u64) -> Result<(), RevocationError> {
        let mut pipe = redis::pipe();
        pipe.cmd("ZREMRANGEBYSCORE")
            .arg(&self.set)
            .arg("-inf")
            .arg(now)
            .ignore();
        self.run::<()>(&pipe).await
    }
}
