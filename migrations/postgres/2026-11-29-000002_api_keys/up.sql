-- API keys: a script's credential. Only the secret's hash is kept, under a unique
-- index that the authentication hot path looks it up through.
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY NOT NULL,
    subscription_id TEXT NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    permission TEXT NOT NULL CHECK (permission IN ('read_only', 'full_access')),
    secret_hash TEXT NOT NULL,
    hint TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP,
    last_reset_at TIMESTAMP,
    expires_at TIMESTAMP
);
CREATE UNIQUE INDEX api_keys_secret_hash_key ON api_keys (secret_hash);
CREATE INDEX api_keys_user_created ON api_keys (user_id, created_at, id);
CREATE INDEX api_keys_subscription_created ON api_keys (subscription_id, created_at, id);
