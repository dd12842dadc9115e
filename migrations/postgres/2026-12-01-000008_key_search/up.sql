-- The subscription-wide key list's `q` matches anywhere in a key's name, hint or
-- owner's username. Checked row by row that is a scan of every key of the
-- subscription; these trigram indexes (pg_trgm, with btree_gin for the leading
-- subscription column; both trusted extensions shipped with PostgreSQL) answer
-- `subscription_id = … AND LIKE '%…%'` on the same expressions the list query filters
-- by. The subscription leads, so that one subscription's search never reads the
-- entries of another's keys.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS btree_gin;
CREATE INDEX api_keys_name_trgm ON api_keys USING gin (subscription_id, lower(name) gin_trgm_ops);
CREATE INDEX api_keys_hint_trgm ON api_keys USING gin (subscription_id, lower(hint) gin_trgm_ops);
CREATE INDEX users_username_trgm ON users USING gin (subscription_id, username gin_trgm_ops);
