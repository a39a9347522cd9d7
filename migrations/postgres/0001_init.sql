-- tower-jwt-auth: users and refresh-token families (PostgreSQL).
-- TEXT equality is exact (byte for byte) under deterministic collations.

CREATE TABLE tja_users (
    username      TEXT    NOT NULL PRIMARY KEY,
    password_hash TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL DEFAULT (EXTRACT(EPOCH FROM now())::BIGINT)
);

CREATE TABLE tja_refresh_families (
    family_id   TEXT    NOT NULL PRIMARY KEY,
    username    TEXT    NOT NULL,
    current_jti TEXT    NOT NULL,
    expires_at  BIGINT  NOT NULL,
    revoked     BOOLEAN NOT NULL DEFAULT false,
    created_at  BIGINT  NOT NULL DEFAULT (EXTRACT(EPOCH FROM now())::BIGINT)
);

CREATE INDEX tja_refresh_families_username_idx ON tja_refresh_families (username);
CREATE INDEX tja_refresh_families_expires_at_idx ON tja_refresh_families (expires_at);
