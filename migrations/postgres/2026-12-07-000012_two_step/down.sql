ALTER TABLE oauth_refresh_tokens DROP COLUMN amr;
ALTER TABLE oauth_codes DROP COLUMN amr;
ALTER TABLE sessions DROP COLUMN amr;
DROP TABLE sign_in_steps;
DROP TABLE recovery_codes;
DROP TABLE second_factors;
