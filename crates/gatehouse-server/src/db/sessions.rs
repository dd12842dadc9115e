//! Queries on `sessions`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::{sessions, subscriptions, users};
use crate::db::subscriptions::SubscriptionRow;
use crate::db::users::UserRow;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sessions)]
pub struct SessionRow {
    pub id: String,
    pub token_hash: String,
    pub user_id: String,
    pub subscription_id: String,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// How the person signed in (`pwd`, `pwd otp`).
    pub amr: String,
    /// When the person last proved themselves (sudo mode); `None`: at `created_at`.
    pub verified_at: Option<NaiveDateTime>,
    /// Signed in with a temporary password: only choosing a new one is allowed.
    pub password_change_required: bool,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = sessions)]
pub struct NewSession<'a> {
    pub id: &'a str,
    pub token_hash: &'a str,
    pub user_id: &'a str,
    pub subscription_id: &'a str,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub amr: &'a str,
    pub password_change_required: bool,
}

pub fn insert(conn: &mut DbConnection, new: &NewSession<'_>) -> QueryResult<()> {
    diesel::insert_into(sessions::table)
        .values(new)
        .execute(conn)
        .map(drop)
}

/// The session with this token hash, with its user and subscription, in one query.
pub fn find_by_hash(
    conn: &mut DbConnection,
    token_hash: &str,
) -> QueryResult<Option<(SessionRow, UserRow, SubscriptionRow)>> {
    crate::on_backend!(conn, |c| {
        sessions::table
            .inner_join(users::table.inner_join(subscriptions::table))
            .filter(sessions::token_hash.eq(token_hash))
            .select((
                SessionRow::as_select(),
                UserRow::as_select(),
                SubscriptionRow::as_select(),
            ))
            .first(c)
            .optional()
    })
}

pub fn touch(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> QueryResult<()> {
    diesel::update(sessions::table.find(id))
        .set(sessions::last_seen_at.eq(now))
        .execute(conn)
        .map(drop)
}

/// Session `id`'s person chose their own password: the session is free.
pub fn password_changed(conn: &mut DbConnection, id: &str) -> QueryResult<()> {
    diesel::update(sessions::table.find(id))
        .set(sessions::password_change_required.eq(false))
        .execute(conn)
        .map(drop)
}

/// The person of session `id` proved themselves again (sudo mode).
pub fn verified(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> QueryResult<()> {
    diesel::update(sessions::table.find(id))
        .set(sessions::verified_at.eq(now))
        .execute(conn)
        .map(drop)
}

/// Whether session `id` still exists.
pub fn exists(conn: &mut DbConnection, id: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(sessions::table.find(id))).get_result(conn)
}

/// Ends one of the user's sessions (the user is in the `WHERE` clause).
pub fn delete(conn: &mut DbConnection, user_id: &str, id: &str) -> QueryResult<()> {
    diesel::delete(
        sessions::table
            .find(id)
            .filter(sessions::user_id.eq(user_id)),
    )
    .execute(conn)
    .map(drop)
}

/// Whether session `id` is the user's.
pub fn is_users(conn: &mut DbConnection, user_id: &str, id: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        sessions::table
            .find(id)
            .filter(sessions::user_id.eq(user_id)),
    ))
    .get_result(conn)
}

/// The user's sessions, most recently used first (at most `limit`).
pub fn list_for_user(
    conn: &mut DbConnection,
    user_id: &str,
    limit: i64,
) -> QueryResult<Vec<SessionRow>> {
    sessions::table
        .filter(sessions::user_id.eq(user_id))
        .order((sessions::last_seen_at.desc(), sessions::id.desc()))
        .limit(limit)
        .select(SessionRow::as_select())
        .load(conn)
}

/// Ends every session of a user except `keep` (the one that asked, if any), and with
/// them the sign-in refresh tokens they issued (no `offline_access`; OpenID Connect
/// Core §11, as `grants::revoke_session_refresh` for one session). The ids of the
/// sessions ended.
pub fn delete_for_user(
    conn: &mut DbConnection,
    user_id: &str,
    keep: Option<&str>,
    now: chrono::NaiveDateTime,
) -> QueryResult<Vec<String>> {
    let ended: Vec<String> = match keep {
        Some(keep) => sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::id.ne(keep))
            .select(sessions::id)
            .load(conn)?,
        None => sessions::table
            .filter(sessions::user_id.eq(user_id))
            .select(sessions::id)
            .load(conn)?,
    };
    for id in &ended {
        crate::db::grants::revoke_session_refresh(conn, id, now)?;
    }
    diesel::delete(sessions::table.filter(sessions::id.eq_any(&ended))).execute(conn)?;
    Ok(ended)
}
