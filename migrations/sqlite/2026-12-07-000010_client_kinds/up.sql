-- Every kind of client (issue 21): one JSON object of the client's protocol metadata
-- (`db::oauth_clients::ClientMetadata`): what it may use (RFC 7591 `grant_types`),
-- where it may send people after signing out, where Gatehouse tells it of a logout,
-- the browser origins that may read the protocol endpoints' answers, and the role of
-- its service account (client credentials). `{}` is a client registered before it:
-- the authorization code and refresh token grants, nothing else.
ALTER TABLE oauth_clients ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';

-- A service account belongs to its client and goes with it.
ALTER TABLE users ADD COLUMN kind TEXT NOT NULL DEFAULT 'person' CHECK (kind IN ('person', 'service'));
ALTER TABLE users ADD COLUMN service_client_id TEXT REFERENCES oauth_clients(id) ON DELETE CASCADE;
CREATE UNIQUE INDEX users_service_client_key ON users (service_client_id);

-- The browser session an authorization happened in (OpenID Connect `sid`): codes and
-- refresh tokens carry it, so that signing out reaches the apps of that session.
ALTER TABLE oauth_requests ADD COLUMN session_id TEXT;
ALTER TABLE oauth_codes ADD COLUMN session_id TEXT;
ALTER TABLE oauth_refresh_tokens ADD COLUMN session_id TEXT;
CREATE INDEX oauth_refresh_tokens_session ON oauth_refresh_tokens (session_id);

-- RFC 8628: a device's pending authorization. Both codes are stored only as hashes;
-- the user code is normalized (upper case, no dash) before hashing.
CREATE TABLE oauth_device_codes (
    id TEXT PRIMARY KEY NOT NULL,
    subscription_id TEXT NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL REFERENCES oauth_clients(id) ON DELETE CASCADE,
    device_code_hash TEXT NOT NULL,
    user_code_hash TEXT NOT NULL,
    scopes TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'allowed', 'denied', 'redeemed')),
    user_id TEXT REFERENCES users(id) ON DELETE CASCADE,
    session_id TEXT,
    auth_time TIMESTAMP,
    -- Where the device asked from, shown on the verification page.
    ip TEXT,
    user_agent TEXT,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX oauth_device_codes_device_key ON oauth_device_codes (device_code_hash);
CREATE UNIQUE INDEX oauth_device_codes_user_key ON oauth_device_codes (user_code_hash);
CREATE INDEX oauth_device_codes_expires ON oauth_device_codes (expires_at);
