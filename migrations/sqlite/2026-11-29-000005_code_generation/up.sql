-- A code remembers the grant generation it was issued under (a code from before a
-- revocation must not work after a re-enable) and whether the client named its
-- redirect URI (RFC 6749 §4.1.3 asks for it again at the token endpoint only then).
ALTER TABLE oauth_codes ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;
ALTER TABLE oauth_codes ADD COLUMN redirect_uri_given BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE oauth_requests ADD COLUMN redirect_uri_given BOOLEAN NOT NULL DEFAULT TRUE;
