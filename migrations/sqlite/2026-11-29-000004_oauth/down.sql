DROP TABLE signing_keys;
DROP TABLE oauth_refresh_tokens;
DROP TABLE oauth_codes;
DROP TABLE oauth_requests;
DROP TABLE oauth_grants;
DROP TABLE oauth_clients;
