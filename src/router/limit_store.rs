//! The login limiter shared by every instance: [`LimitStore`], and its
//! implementations over the revocation backends (Redis, PostgreSQL).
//!
//! A bucket is one number, the GCRA "theoretical arrival time": the moment
//! (milliseconds since the epoch, on the store's clock) at which the bucket
//! is full again. An attempt at `now` is allowed when that moment lies at
//! most `refill_every × (burst − 1)` ahead, and then moves it
//! `refill_every` further. Reading and moving it is one atomic step on the
//! store (a Lua script in Redis, one `INSERT … ON CONFLICT` in PostgreSQL),
//! so two instances can never both take the last attempt. The store's
//! clock is the only clock, so the instances' clocks need not agree.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::throttle::RateLimit;
use crate::revocation::RevocationError;

/// Where the buckets of [`LoginThrottle::shared`](super::LoginThrottle::shared)
/// live: a store every instance reaches.
///
/// Implemented for [`RedisRevocations`](crate::revocation::RedisRevocations)
/// (feature `redis`) and [`PgRevocations`](crate::revocation::PgRevocations)
/// (feature `postgres`), so the backend that shares revocations shares the
/// limits too.
pub trait LimitStore: Send + Sync + 'static {
    /// Takes one attempt from `bucket` under `limit`, atomically: `None`
    /// when it is allowed, or how long until the bucket has room again.
    /// `bucket` is at most 80 bytes of ASCII.
    fn take(
        &self,
        bucket: &str,
        limit: RateLimit,
    ) -> impl Future<Output = Result<Option<Duration>, RevocationError>> + Send;
}

type Taking<'a> =
    Pin<Box<dyn Future<Output = Result<Option<Duration>, RevocationError>> + Send + 'a>>;

/// A [`LimitStore`] behind `dyn`, for the throttle's state.
pub(crate) trait DynLimitStore: Send + Sync {
    fn take_boxed<'a>(&'a self, bucket: &'a str, limit: RateLimit) -> Taking<'a>;
}

impl<L: LimitStore> DynLimitStore for L {
    fn take_boxed<'a>(&'a self, bucket: &'a str, limit: RateLimit) -> Taking<'a> {
        Box::pin(self.take(bucket, limit))
    }
}

/// The limit as whole milliseconds: the period (at least 1) and how far
/// ahead of now the bucket's time may be for an attempt to pass.
#[cfg(any(feature = "postgres", feature = "redis"))]
fn millis(limit: RateLimit) -> (i64, i64) {
    let period = i64::try_from(limit.refill_every().as_millis())
        .unwrap_or(i64::MAX)
        .max(1);
    let ahead = period.saturating_mul(i64::from(limit.burst()) - 1);
    (period, ahead)
}

/// The wait a store answered, in milliseconds: positive is refused.
#[cfg(any(feature = "postgres", feature = "redis"))]
fn refused_for(wait_ms: i64) -> Option<Duration> {
    u64::try_from(wait_ms)
        .ok()
        .filter(|wait| *wait > 0)
        .map(Duration::from_millis)
}

#[cfg(feature = "redis")]
mod redis_store {
    use std::time::Duration;

    use super::{LimitStore, RateLimit, millis, refused_for};
    use crate::revocation::{RedisRevocations, RevocationError};

    /// KEYS[1] the bucket; ARGV[1] the period and ARGV[2] the allowance
    /// ahead, in ms. Returns 0 (allowed) or the wait in ms. `TIME` is
    /// Redis's own clock; scripts replicate by effect, so this is allowed.
    const TAKE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local period = tonumber(ARGV[1])
local ahead = tonumber(ARGV[2])
local full_at = tonumber(redis.call('GET', KEYS[1]) or now)
if full_at < now then full_at = now end
if full_at - now > ahead then return full_at - now - ahead end
full_at = full_at + period
redis.call('SET', KEYS[1], full_at, 'PX', full_at - now)
return 0
";

    impl LimitStore for RedisRevocations {
        /// The bucket is the key `{prefix}limit:{bucket}`, which expires
        /// when the bucket is full again.
        async fn take(
            &self,
            bucket: &str,
            limit: RateLimit,
        ) -> Result<Option<Duration>, RevocationError> {
            let (period, ahead) = millis(limit);
            let mut pipe = redis::pipe();
            pipe.cmd("EVAL")
                .arg(TAKE)
                .arg(1)
                .arg(self.key(&format!("limit:{bucket}")))
                .arg(period)
                .arg(ahead);
            let (wait,): (i64,) = self.run(&pipe).await?;
            Ok(refused_for(wait))
        }
    }
}

#[cfg(feature = "postgres")]
mod postgres_store {
    use std::time::Duration;

    use super::{LimitStore, RateLimit, millis, refused_for};
    use crate::revocation::{PgRevocations, RevocationError};

    /// One statement: the bucket is created or moved on when the attempt
    /// passes (the `WHERE` of `DO UPDATE` runs on the locked, latest row; the
    /// inserted row's time less the period is the statement's `now`),
    /// and the answer is 0, or the wait read from the row that refused.
    /// `$1` bucket, `$2` period, `$3` allowance ahead (ms).
    const TAKE: &str = "\
        WITH clock AS ( \
            SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now \
        ), taken AS ( \
            INSERT INTO tower_jwt_auth_limits AS l (bucket, full_at_ms, expires_at) \
            SELECT $1, now + $2, (now + $2) / 1000 + 1 FROM clock \
            ON CONFLICT (bucket) DO UPDATE SET \
                full_at_ms = GREATEST(l.full_at_ms, EXCLUDED.full_at_ms - $2) + $2, \
                expires_at = (GREATEST(l.full_at_ms, EXCLUDED.full_at_ms - $2) + $2) / 1000 + 1 \
            WHERE GREATEST(l.full_at_ms, EXCLUDED.full_at_ms - $2) - (EXCLUDED.full_at_ms - $2) <= $3 \
            RETURNING 0::bigint AS wait \
        ) \
        SELECT COALESCE( \
            (SELECT wait FROM taken), \
            (SELECT GREATEST(l.full_at_ms - clock.now - $3, 1) \
               FROM tower_jwt_auth_limits l, clock WHERE l.bucket = $1), \
            $2 \
        )";

    impl LimitStore for PgRevocations {
        /// The bucket is a row of `tower_jwt_auth_limits`
        /// ([`PgRevocations::install`] creates it), deleted by the
        /// replica's heartbeat once the bucket is full again.
        async fn take(
            &self,
            bucket: &str,
            limit: RateLimit,
        ) -> Result<Option<Duration>, RevocationError> {
            let (period, ahead) = millis(limit);
            let (wait,): (i64,) = sqlx::query_as(TAKE)
                .bind(bucket)
                .bind(period)
                .bind(ahead)
                .fetch_one(&self.pool)
                .await
                .map_err(RevocationError::backend)?;
            Ok(refused_for(wait))
        }
    }
}
