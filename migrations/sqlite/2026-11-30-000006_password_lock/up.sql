-- Failed sign-ins lock password sign-in only, for a while: that lock is its own column,
-- and `state = 'locked'` is left to admins (it stops every credential). Locks made by
-- failed sign-ins before this migration become password locks that lapse as before.
ALTER TABLE users ADD COLUMN password_locked_until TIMESTAMP;
UPDATE users
   SET password_locked_until = strftime('%Y-%m-%d %H:%M:%f', locked_at, '+15 minutes'),
       state = 'active',
       locked_at = NULL
 WHERE state = 'locked';
