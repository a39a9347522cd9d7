-- tower-jwt-auth: per-user attributes (PostgreSQL), a JSON object kept as text.
-- TEXT rather than JSONB: the store reads and writes it as serde_json text, the
-- same in every dialect, and JSONB would refuse strings holding U+0000 that
-- the other stores keep. Existing users get an empty object.

ALTER TABLE tja_users ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';
