ALTER TABLE oauth_requests DROP COLUMN redirect_uri_given;
ALTER TABLE oauth_codes DROP COLUMN redirect_uri_given;
ALTER TABLE oauth_codes DROP COLUMN generation;
