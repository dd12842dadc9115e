ALTER TABLE sessions DROP COLUMN password_change_required;
DROP TABLE temporary_passwords;
