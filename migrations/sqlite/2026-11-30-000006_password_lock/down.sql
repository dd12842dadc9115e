UPDATE users
   SET state = 'locked',
       locked_at = strftime('%Y-%m-%d %H:%M:%f', password_locked_until, '-15 minutes')
 WHERE password_locked_until IS NOT NULL AND state = 'active';
ALTER TABLE users DROP COLUMN password_locked_until;
