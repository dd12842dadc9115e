-- When the person signed in, kept across rotation: a refreshed id_token carries
-- auth_time (OpenID Connect Core §2; required whenever max_age was used). NULL for
-- tokens issued before this migration.
ALTER TABLE oauth_refresh_tokens ADD COLUMN auth_time TIMESTAMP;
