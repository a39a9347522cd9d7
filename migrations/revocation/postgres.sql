-- The shared revocations of tower-jwt-auth (PgRevocations::install): one row per revoked
-- token (`jti`) or family (`sid`), kept until `expires_at` (seconds since the epoch).
-- Idempotent; run under an advisory lock so that instances starting together agree.
CREATE TABLE IF NOT EXISTS tower_jwt_auth_revocations (
    kind TEXT NOT NULL CHECK (kind IN ('token', 'family')),
    id TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX IF NOT EXISTS tower_jwt_auth_revocations_expires_at
    ON tower_jwt_auth_revocations (expires_at);

-- The login limiter shared by every instance (router::throttle): one GCRA bucket per client
-- address or username, holding the time (milliseconds since the epoch) at which the bucket is
-- full again. A row is useless once that time has passed; `expires_at` (seconds) lets the
-- replica's heartbeat delete it. UNLOGGED: no write-ahead log, so a take costs no disk flush
-- (about 2.5 ms on the test machine); a database crash empties the table, which only gives
-- every bucket its full burst again.
CREATE UNLOGGED TABLE IF NOT EXISTS tower_jwt_auth_limits (
    bucket TEXT PRIMARY KEY,
    full_at_ms BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS tower_jwt_auth_limits_expires_at
    ON tower_jwt_auth_limits (expires_at);

-- DPoP proofs seen by any instance (RFC 9449 §11.1): a keyed hash of each accepted proof's
-- `jti`, kept until no proof with its `iat` could be accepted any more.
CREATE TABLE IF NOT EXISTS tower_jwt_auth_dpop_proofs (
    jti TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS tower_jwt_auth_dpop_proofs_expires_at
    ON tower_jwt_auth_dpop_proofs (expires_at);
