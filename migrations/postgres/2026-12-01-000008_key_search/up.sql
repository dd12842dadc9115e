-- The subscription-wide key list's `q` matches anywhere in a key's name, hint or
-- owner's username. Checked row by row that is a scan of every key of the
-- subscription; these trigram indexes (pg_trgm, a trusted extension shipped with
-- PostgreSQL) answer `LIKE '%…%'` on the same expressions the list query filters by.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX api_keys_name_trgm ON api_keys USING gin (lower(name) gin_trgm_ops);
CREATE INDEX api_keys_hint_trgm ON api_keys USING gin (lower(hint) gin_trgm_ops);
CREATE INDEX users_username_trgm ON users USING gin (username gin_trgm_ops);
