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
