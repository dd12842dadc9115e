DROP TABLE oauth_device_codes;
DROP INDEX oauth_refresh_tokens_session;
ALTER TABLE oauth_refresh_tokens DROP COLUMN session_id;
ALTER TABLE oauth_codes DROP COLUMN session_id;
ALTER TABLE oauth_requests DROP COLUMN session_id;
DROP INDEX users_service_client_key;
ALTER TABLE users DROP COLUMN service_client_id;
ALTER TABLE users DROP COLUMN kind;
ALTER TABLE oauth_clients DROP COLUMN metadata;
