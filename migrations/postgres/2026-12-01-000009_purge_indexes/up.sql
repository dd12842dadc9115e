-- The retention job (`retention.rs`) finds what to purge by these times; without an
-- index each of its batches would scan the whole table (on SQLite, on the one writer).
CREATE INDEX oauth_refresh_tokens_expires ON oauth_refresh_tokens (expires_at);
CREATE INDEX oauth_refresh_tokens_revoked ON oauth_refresh_tokens (revoked_at);
CREATE INDEX oauth_codes_expires ON oauth_codes (expires_at);
CREATE INDEX oauth_requests_expires ON oauth_requests (expires_at);
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX audit_events_time ON audit_events (created_at);
