-- Passkeys are second factors of kind 'passkey': `secret` holds webauthn-rs's record
-- of the credential (its public key and counter, nothing secret), and `credential_id`
-- (base64url) finds it when a passkey signs in on its own.
ALTER TABLE second_factors ADD COLUMN credential_id TEXT;
CREATE UNIQUE INDEX second_factors_credential_id ON second_factors (credential_id);

-- The first half of a WebAuthn ceremony, kept on the server until its second half
-- (any replica may answer it): registering a passkey, a passkey as the second step of
-- a waiting sign-in (`id` = the waiting sign-in's), signing in with a passkey alone
-- (no user yet), or confirming sudo mode. Used once, within five minutes.
CREATE TABLE webauthn_ceremonies (
    id TEXT PRIMARY KEY,
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
