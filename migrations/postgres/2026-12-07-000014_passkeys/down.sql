DROP TABLE webauthn_ceremonies;
DROP INDEX second_factors_credential_id;
ALTER TABLE second_factors DROP COLUMN credential_id;
