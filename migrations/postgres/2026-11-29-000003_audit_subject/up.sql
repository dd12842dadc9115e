-- The user an audit event concerns (whose key, whose account), so that people see
-- what admins did to their things, not only what they did themselves.
ALTER TABLE audit_events ADD COLUMN subject_user_id TEXT;
CREATE INDEX audit_events_subject_time ON audit_events (subject_user_id, created_at, id);
