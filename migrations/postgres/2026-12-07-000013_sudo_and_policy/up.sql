-- Sudo mode: when the session's person last proved themselves (signed in, or confirmed
-- their password again). NULL: at the session's creation.
ALTER TABLE sessions ADD COLUMN verified_at TIMESTAMP;

-- Two-step sign-in policy per subscription: 'optional', 'admins' or 'everyone', and
-- the days a person has to enrol, counted from when the policy first applied to them
-- (`two_step_required_since`, their account's creation, or an admin's reset of their
-- second steps in `second_step_resets`, whichever is latest).
ALTER TABLE subscriptions ADD COLUMN two_step_policy TEXT NOT NULL DEFAULT 'optional';
ALTER TABLE subscriptions ADD COLUMN two_step_grace_days BIGINT NOT NULL DEFAULT 7;
ALTER TABLE subscriptions ADD COLUMN two_step_required_since TIMESTAMP;
CREATE TABLE second_step_resets (
    user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    reset_at TIMESTAMP NOT NULL
);
