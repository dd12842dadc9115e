DROP INDEX audit_events_subject_time;
ALTER TABLE audit_events DROP COLUMN subject_user_id;
