UPDATE users
   SET state = 'locked',
       locked_at = password_locked_until - INTERVAL '15 minutes'
 WHERE password_locked_until IS NOT NULL AND state = 'active';
ALTER TABLE users DROP COLUMN password_locked_until;
