-- A password an administrator generated (a new user's, or a reset's) is temporary:
-- its holder must choose their own at their next sign-in with it. The row goes when
-- they do (or when the admin resets it again, with a new time).
CREATE TABLE temporary_passwords (
    user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    set_at TIMESTAMP NOT NULL
);
-- A session signed in with a temporary password may only change it (and sign out).
ALTER TABLE sessions ADD COLUMN password_change_required BOOLEAN NOT NULL DEFAULT FALSE;
