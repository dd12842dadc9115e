-- Subscriptions, users, browser sessions and the audit log.
-- Timestamps are written by the server in UTC (kept identical to the SQLite schema so one diesel schema serves both
-- backends); ids are UUID text.
CREATE TABLE subscriptions (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    api_keys_enabled BOOLEAN NOT NULL DEFAULT TRUE,
    api_key_max_lifetime_days BIGINT,
    api_key_full_access_roles TEXT NOT NULL DEFAULT 'editor,admin',
    oauth_client_roles TEXT NOT NULL DEFAULT 'editor,admin',
    session_idle_minutes BIGINT NOT NULL DEFAULT 60,
    session_max_hours BIGINT NOT NULL DEFAULT 12,
    login_lockout_threshold BIGINT NOT NULL DEFAULT 10,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    subscription_id TEXT NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
    username TEXT NOT NULL,
    display_name TEXT NOT NULL,
    email TEXT,
    role TEXT NOT NULL CHECK (role IN ('admin', 'editor', 'viewer')),
    state TEXT NOT NULL CHECK (state IN ('active', 'disabled', 'locked')),
    password_hash TEXT NOT NULL,
    failed_sign_ins BIGINT NOT NULL DEFAULT 0,
    locked_at TIMESTAMP,
    last_sign_in_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX users_username_key ON users (username);
CREATE INDEX users_subscription_username ON users (subscription_id, username);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY NOT NULL,
    token_hash TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    subscription_id TEXT NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    ip TEXT,
    user_agent TEXT
);
CREATE UNIQUE INDEX sessions_token_hash_key ON sessions (token_hash);
CREATE INDEX sessions_user ON sessions (user_id);

-- Audit events outlive the users and credentials they name, so actor and target are
-- plain values, not foreign keys. Failed sign-ins for unknown usernames have no
-- subscription.
CREATE TABLE audit_events (
    id TEXT PRIMARY KEY NOT NULL,
    subscription_id TEXT REFERENCES subscriptions(id) ON DELETE CASCADE,
    actor_id TEXT,
    actor_username TEXT,
    credential_kind TEXT,
    credential_id TEXT,
    action TEXT NOT NULL,
    target_type TEXT,
    target_id TEXT,
    ip TEXT,
    user_agent TEXT,
    details TEXT NOT NULL DEFAULT '{}',
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX audit_events_subscription_time ON audit_events (subscription_id, created_at, id);
CREATE INDEX audit_events_actor_time ON audit_events (actor_id, created_at, id);
