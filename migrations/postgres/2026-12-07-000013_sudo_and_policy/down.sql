DROP TABLE second_step_resets;
ALTER TABLE subscriptions DROP COLUMN two_step_required_since;
ALTER TABLE subscriptions DROP COLUMN two_step_grace_days;
ALTER TABLE subscriptions DROP COLUMN two_step_policy;
ALTER TABLE sessions DROP COLUMN verified_at;
