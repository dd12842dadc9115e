ALTER TABLE oauth_refresh_tokens DROP COLUMN auth_time;
