-- Second steps of sign-in: one-time codes from an authenticator app (kind 'totp', its
-- base32 secret in `secret`, confirmed once the person typed a code from it, the last
-- step used so no code works twice) and, later, passkeys.
CREATE TABLE second_factors (
    id TEXT PRIMARY KEY,
    subscription_id TEXT NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    secret TEXT NOT NULL,
    confirmed BOOLEAN NOT NULL,
    last_step BIGINT,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP
);
CREATE INDEX second_factors_user ON second_factors (user_id);

-- Ten recovery codes per person, shown once, stored hashed, each usable once.
CREATE TABLE recovery_codes (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL UNIQUE,
    used_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX recovery_codes_user ON recovery_codes (user_id);

-- A password checked, a second step owed: the browser holds the token (hashed here)
-- for five minutes and a few tries.
CREATE TABLE sign_in_steps (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    failures BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);

-- How the session's person signed in (OpenID Connect `amr`, space-separated), and
-- carried into codes and refresh tokens for the id_tokens they lead to.
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
ALTER TABLE oauth_codes ADD COLUMN amr TEXT;
ALTER TABLE oauth_refresh_tokens ADD COLUMN amr TEXT;
