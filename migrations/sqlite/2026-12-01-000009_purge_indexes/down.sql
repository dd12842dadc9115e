DROP INDEX audit_events_time;
DROP INDEX sessions_expires;
DROP INDEX oauth_requests_expires;
DROP INDEX oauth_codes_expires;
DROP INDEX oauth_refresh_tokens_revoked;
DROP INDEX oauth_refresh_tokens_expires;
