-- tower-jwt-auth: users and refresh-token families (SQLite).
-- Text columns use the default BINARY collation, so comparisons are exact.

CREATE TABLE tja_users (
    username      TEXT    NOT NULL PRIMARY KEY,
    password_hash TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER))
);

CREATE TABLE tja_refresh_families (
    family_id   TEXT    NOT NULL PRIMARY KEY,
    username    TEXT    NOT NULL,
    current_jti TEXT    NOT NULL,
    expires_at  BIGINT  NOT NULL,
    revoked     BOOLEAN NOT NULL DEFAULT false,
    created_at  BIGINT  NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER))
);

CREATE INDEX tja_refresh_families_username_idx ON tja_refresh_families (username);
CREATE INDEX tja_refresh_families_expires_at_idx ON tja_refresh_families (expires_at);
