//! Queries on `users`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use gatehouse_types::{Role, User, UserKind, UserState};

use crate::clock;
use crate::db::DbConnection;
use crate::db::schema::{subscriptions, temporary_passwords, users};
use crate::db::subscriptions::SubscriptionRow;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: String,
    pub subscription_id: String,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    #[diesel(deserialize_as = String)]
    pub role: Role,
    /// `locked` is an admin's lock, which stops every credential until lifted; failed
    /// sign-ins set `password_locked_until` instead.
    #[diesel(deserialize_as = String)]
    pub state: UserState,
    pub password_hash: String,
    pub failed_sign_ins: i64,
    pub locked_at: Option<NaiveDateTime>,
    pub last_sign_in_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Set by failed sign-ins: password sign-in is refused until then. Nothing else
    /// stops (sessions, keys and tokens keep working); `state = 'locked'` is the admin's
    /// lock, which stops everything.
    pub password_locked_until: Option<NaiveDateTime>,
    /// `person`, or `service`: a client's service account (client credentials), which
    /// never signs in.
    #[diesel(deserialize_as = String)]
    pub kind: UserKind,
    /// The client a service account belongs to (and goes with).
    pub service_client_id: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub id: &'a str,
    pub subscription_id: &'a str,
    pub username: &'a str,
    pub display_name: &'a str,
    pub email: Option<&'a str>,
    pub role: &'a str,
    pub state: &'a str,
    pub password_hash: &'a str,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Default, Clone, AsChangeset)]
#[diesel(table_name = users)]
pub struct UserChanges {
    pub display_name: Option<String>,
    pub email: Option<Option<String>>,
    pub role: Option<String>,
    pub state: Option<String>,
    pub password_hash: Option<String>,
    pub failed_sign_ins: Option<i64>,
    pub locked_at: Option<Option<NaiveDateTime>>,
    pub last_sign_in_at: Option<Option<NaiveDateTime>>,
    pub updated_at: Option<NaiveDateTime>,
    pub password_locked_until: Option<Option<NaiveDateTime>>,
}

impl UserChanges {
    /// Back to `active`, with no failed sign-ins counted and no lock of either kind.
    pub fn unlock(now: NaiveDateTime) -> UserChanges {
        UserChanges {
            state: Some(UserState::Active.as_str().into()),
            failed_sign_ins: Some(0),
            locked_at: Some(None),
            password_locked_until: Some(None),
            updated_at: Some(now),
            ..Default::default()
        }
    }
}

/// A user by id, whatever the subscription: for the OAuth token endpoint, which finds
/// the user through a grant that is already scoped.
pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<UserRow>> {
    users::table
        .find(id)
        .select(UserRow::as_select())
        .first(conn)
        .optional()
}

/// A user of the given subscription; another subscription's user is `None`.
pub fn find_in_subscription(
    conn: &mut DbConnection,
    subscription_id: &str,
    id: &str,
) -> QueryResult<Option<UserRow>> {
    users::table
        .filter(users::id.eq(id))
        .filter(users::subscription_id.eq(subscription_id))
        .select(UserRow::as_select())
        .first(conn)
        .optional()
}

pub fn find_by_username(
    conn: &mut DbConnection,
    username: &str,
) -> QueryResult<Option<(UserRow, SubscriptionRow)>> {
    users::table
        .inner_join(subscriptions::table)
        .filter(users::username.eq(username))
        .select((UserRow::as_select(), SubscriptionRow::as_select()))
        .first(conn)
        .optional()
}

/// Every user, by subscription and username (the operator's `users list`).
pub fn all(
    conn: &mut DbConnection,
    subscription_id: Option<&str>,
) -> QueryResult<Vec<(UserRow, SubscriptionRow)>> {
    let mut q = users::table
        .inner_join(subscriptions::table)
        .select((UserRow::as_select(), SubscriptionRow::as_select()))
        .order((subscriptions::name.asc(), users::username.asc()))
        .into_boxed();
    if let Some(id) = subscription_id {
        q = q.filter(users::subscription_id.eq(id.to_string()));
    }
    q.load(conn)
}

/// One page of a subscription's users by username, one row more than `limit` so the
/// caller knows whether another page follows.
pub fn list(
    conn: &mut DbConnection,
    subscription_id: &str,
    after_username: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<UserRow>> {
    let mut q = users::table
        .filter(users::subscription_id.eq(subscription_id))
        .select(UserRow::as_select())
        .order(users::username.asc())
        .limit(limit + 1)
        .into_boxed();
    if let Some(after) = after_username {
        q = q.filter(users::username.gt(after.to_string()));
    }
    q.load(conn)
}

pub fn insert(conn: &mut DbConnection, new: &NewUser<'_>) -> QueryResult<()> {
    diesel::insert_into(users::table)
        .values(new)
        .execute(conn)
        .map(drop)
}

/// Changes a record of the subscription: the subscription is in the `WHERE` clause,
/// so a record of another one is never touched, whatever the caller checked before.
pub fn update(
    conn: &mut DbConnection,
    subscription_id: &str,
    id: &str,
    changes: &UserChanges,
) -> QueryResult<()> {
    diesel::update(
        users::table
            .find(id)
            .filter(users::subscription_id.eq(subscription_id)),
    )
    .set(changes)
    .execute(conn)
    .map(drop)
}

/// Deletes a record of the subscription (the subscription is in the `WHERE` clause);
/// `false` when there was none to delete.
pub fn delete(conn: &mut DbConnection, subscription_id: &str, id: &str) -> QueryResult<bool> {
    diesel::delete(
        users::table
            .find(id)
            .filter(users::subscription_id.eq(subscription_id)),
    )
    .execute(conn)
    .map(|n| n > 0)
}

/// Active admins of a subscription other than `except_id` (an admin whose password
/// sign-in is locked is active: their sessions still work).
pub fn count_other_active_admins(
    conn: &mut DbConnection,
    subscription_id: &str,
    except_id: &str,
) -> QueryResult<i64> {
    users::table
        .filter(users::subscription_id.eq(subscription_id))
        .filter(users::role.eq(Role::Admin.as_str()))
        .filter(users::state.eq(UserState::Active.as_str()))
        .filter(users::id.ne(except_id))
        .count()
        .get_result(conn)
}

/// Lifts a password lock that has lapsed by `now`, with the failed sign-ins counted
/// towards it; `true` when there was one to lift.
pub fn lift_lapsed_password_lock(
    conn: &mut DbConnection,
    id: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(
        users::table
            .find(id)
            .filter(users::password_locked_until.le(now)),
    )
    .set((
        users::password_locked_until.eq(None::<NaiveDateTime>),
        users::failed_sign_ins.eq(0),
    ))
    .execute(conn)
    .map(|n| n == 1)
}

/// Counts a password attempt before the password is checked, so that attempts in
/// flight at once cannot exceed the lockout threshold. Returns the attempts in a row so
/// far, or `None` when the user is not active or their password sign-in is locked.
pub fn reserve_attempt(conn: &mut DbConnection, id: &str) -> QueryResult<Option<i64>> {
    let updated = diesel::update(
        users::table
            .find(id)
            .filter(users::state.eq(UserState::Active.as_str()))
            .filter(users::password_locked_until.is_null()),
    )
    .set(users::failed_sign_ins.eq(users::failed_sign_ins + 1))
    .execute(conn)?;
    if updated == 0 {
        return Ok(None);
    }
    users::table
        .find(id)
        .select(users::failed_sign_ins)
        .first(conn)
        .map(Some)
}

/// Locks an active user's password sign-in until `until`, if their failed attempts
/// still stand at `threshold` or more; `false` when they were not active, already
/// locked, or their count was reset meanwhile (an admin's unlock, a lapse, a correct
/// password: a reset always wins over a guess that was in flight).
pub fn lock_password(
    conn: &mut DbConnection,
    id: &str,
    threshold: i64,
    until: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(
        users::table
            .find(id)
            .filter(users::state.eq(UserState::Active.as_str()))
            .filter(users::password_locked_until.is_null())
            .filter(users::failed_sign_ins.ge(threshold)),
    )
    .set(users::password_locked_until.eq(Some(until)))
    .execute(conn)
    .map(|n| n == 1)
}

/// Records a successful sign-in, only while the user is still active and still has the
/// password that was just verified: a disable, lock or password change that landed
/// while the hash was being checked wins.
pub fn record_sign_in(
    conn: &mut DbConnection,
    id: &str,
    verified_hash: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(
        users::table
            .find(id)
            .filter(users::state.eq(UserState::Active.as_str()))
            .filter(users::password_locked_until.is_null())
            .filter(users::password_hash.eq(verified_hash)),
    )
    .set((
        users::failed_sign_ins.eq(0),
        users::last_sign_in_at.eq(Some(now)),
    ))
    .execute(conn)
    .map(|n| n == 1)
}

/// A sign-in with a passkey alone: only the user's being active matters (the password
/// lock stops password sign-in, nothing else), and the password's failure count is
/// left as it is. `false` when they are not active.
pub fn record_passkey_sign_in(
    conn: &mut DbConnection,
    id: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(
        users::table
            .find(id)
            .filter(users::state.eq(UserState::Active.as_str())),
    )
    .set(users::last_sign_in_at.eq(Some(now)))
    .execute(conn)
    .map(|n| n == 1)
}

/// A password (and second step) proved right outside a sign-in (sudo mode): the
/// failures in a row start again, as a sign-in's would — unless password sign-in is
/// locked, which only lapses or an admin lifts.
pub fn clear_failures(conn: &mut DbConnection, id: &str) -> QueryResult<()> {
    diesel::update(
        users::table
            .find(id)
            .filter(users::password_locked_until.is_null()),
    )
    .set(users::failed_sign_ins.eq(0))
    .execute(conn)
    .map(drop)
}

/// Gives back one counted password attempt (it proved right), unless password sign-in
/// is locked.
pub fn give_back_attempt(conn: &mut DbConnection, id: &str) -> QueryResult<()> {
    diesel::update(
        users::table
            .find(id)
            .filter(users::password_locked_until.is_null())
            .filter(users::failed_sign_ins.gt(0)),
    )
    .set(users::failed_sign_ins.eq(users::failed_sign_ins - 1))
    .execute(conn)
    .map(drop)
}

/// Replaces the password, only if it is still `old_hash` and the user still active.
pub fn set_password(
    conn: &mut DbConnection,
    id: &str,
    old_hash: &str,
    new_hash: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(
        users::table
            .find(id)
            .filter(users::state.eq(UserState::Active.as_str()))
            .filter(users::password_hash.eq(old_hash)),
    )
    .set((
        users::password_hash.eq(new_hash),
        users::failed_sign_ins.eq(0),
        users::updated_at.eq(now),
    ))
    .execute(conn)
    .map(|n| n == 1)
}

/// An administrator's reset: a new (generated) password for a person of the
/// subscription, marked temporary, with any password lock lifted. False when there is
/// no such person (a service account has no password to reset).
pub fn set_temporary_password(
    conn: &mut DbConnection,
    subscription_id: &str,
    id: &str,
    new_hash: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let updated = diesel::update(
        users::table
            .find(id)
            .filter(users::subscription_id.eq(subscription_id))
            .filter(users::kind.eq(UserKind::Person.as_str())),
    )
    .set((
        users::password_hash.eq(new_hash),
        users::failed_sign_ins.eq(0),
        users::password_locked_until.eq(None::<NaiveDateTime>),
        users::updated_at.eq(now),
    ))
    .execute(conn)?;
    if updated == 1 {
        mark_password_temporary(conn, id, now)?;
    }
    Ok(updated == 1)
}

/// The user's password was generated for them (created or reset by an administrator):
/// they must choose their own at their next sign-in with it.
pub fn mark_password_temporary(
    conn: &mut DbConnection,
    id: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::delete(temporary_passwords::table.find(id)).execute(conn)?;
    diesel::insert_into(temporary_passwords::table)
        .values((
            temporary_passwords::user_id.eq(id),
            temporary_passwords::set_at.eq(now),
        ))
        .execute(conn)
        .map(drop)
}

/// When the user's password was generated for them, if it still is.
pub fn temporary_password_set_at(
    conn: &mut DbConnection,
    id: &str,
) -> QueryResult<Option<NaiveDateTime>> {
    temporary_passwords::table
        .find(id)
        .select(temporary_passwords::set_at)
        .first(conn)
        .optional()
}

pub fn has_temporary_password(conn: &mut DbConnection, id: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(temporary_passwords::table.find(id))).get_result(conn)
}

/// The person chose their own password.
pub fn clear_temporary_password(conn: &mut DbConnection, id: &str) -> QueryResult<()> {
    diesel::delete(temporary_passwords::table.find(id))
        .execute(conn)
        .map(drop)
}

/// The user as the API shows it; a password lock that has lapsed by `now` is not shown.
pub fn to_api(row: &UserRow, now: NaiveDateTime) -> User {
    User {
        id: row.id.clone(),
        subscription_id: row.subscription_id.clone(),
        username: row.username.clone(),
        display_name: row.display_name.clone(),
        email: row.email.clone(),
        role: row.role,
        state: row.state,
        password_locked_until: row
            .password_locked_until
            .filter(|until| *until > now)
            .map(clock::utc),
        created_at: clock::utc(row.created_at),
        updated_at: clock::utc(row.updated_at),
        last_sign_in_at: row.last_sign_in_at.map(clock::utc),
        kind: row.kind,
        service_client_id: row.service_client_id.clone(),
    }
}

/// A client's service account: a user of kind `service` that belongs to the client
/// (and is deleted with it), with a password hash no password matches.
#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewServiceUser<'a> {
    pub id: &'a str,
    pub subscription_id: &'a str,
    pub username: &'a str,
    pub display_name: &'a str,
    pub role: &'a str,
    pub state: &'a str,
    pub password_hash: &'a str,
    pub kind: &'a str,
    pub service_client_id: &'a str,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

pub fn insert_service(conn: &mut DbConnection, new: &NewServiceUser<'_>) -> QueryResult<()> {
    diesel::insert_into(users::table)
        .values(new)
        .execute(conn)
        .map(drop)
}

/// The service account of a client (its record id), if it has one.
pub fn find_service_account(
    conn: &mut DbConnection,
    client_row_id: &str,
) -> QueryResult<Option<UserRow>> {
    users::table
        .filter(users::service_client_id.eq(client_row_id))
        .select(UserRow::as_select())
        .first(conn)
        .optional()
}
