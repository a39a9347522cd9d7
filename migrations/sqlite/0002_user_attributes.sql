-- tower-jwt-auth: per-user attributes (SQLite), a JSON object kept as text.
-- Existing users get an empty object.

ALTER TABLE tja_users ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';
