//! Queries on `oauth_grants` (authorized applications) and what hangs off a grant:
//! `oauth_codes` and `oauth_refresh_tokens`.

use super::newest_first;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::oauth_clients::ClientRow;
use crate::db::schema::{
    oauth_clients, oauth_codes, oauth_device_codes, oauth_grants, oauth_refresh_tokens,
    subscriptions, users,
};
use crate::db::subscriptions::SubscriptionRow;
use crate::db::users::UserRow;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = oauth_grants)]
pub struct GrantRow {
    pub id: String,
    pub subscription_id: String,
    pub user_id: String,
    pub client_id: String,
    /// Space-separated, sorted.
    pub scopes: String,
    pub state: String,
    /// Bumped when a revoked grant is re-enabled: access tokens carry it, so tokens of
    /// an earlier life of the grant stay dead.
    pub generation: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

impl GrantRow {
    pub fn is_active(&self) -> bool {
        self.state == "active"
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = oauth_grants)]
pub struct NewGrant<'a> {
    pub id: &'a str,
    pub subscription_id: &'a str,
    pub user_id: &'a str,
    pub client_id: &'a str,
    pub scopes: &'a str,
    pub state: &'a str,
    pub generation: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = oauth_grants)]
pub struct GrantChanges {
    pub scopes: Option<String>,
    pub state: Option<String>,
    pub generation: Option<i64>,
    pub revoked_at: Option<Option<NaiveDateTime>>,
    pub last_used_at: Option<Option<NaiveDateTime>>,
    pub updated_at: Option<NaiveDateTime>,
}

/// Finds the user's grant for the client *for update*: on PostgreSQL a no-op update
/// takes the row's lock first (a concurrent revocation waits for this transaction, or
/// this one for it), so every later read in the transaction sees the same grant.
/// SQLite has one writer at a time and needs no lock.
pub fn find_for_update(
    conn: &mut DbConnection,
    user_id: &str,
    client_id: &str,
) -> QueryResult<Option<GrantRow>> {
    diesel::update(
        oauth_grants::table
            .filter(oauth_grants::user_id.eq(user_id))
            .filter(oauth_grants::client_id.eq(client_id)),
    )
    .set(oauth_grants::updated_at.eq(oauth_grants::updated_at))
    .execute(conn)?;
    find(conn, user_id, client_id)
}

pub fn find(
    conn: &mut DbConnection,
    user_id: &str,
    client_id: &str,
) -> QueryResult<Option<GrantRow>> {
    oauth_grants::table
        .filter(oauth_grants::user_id.eq(user_id))
        .filter(oauth_grants::client_id.eq(client_id))
        .select(GrantRow::as_select())
        .first(conn)
        .optional()
}

pub fn find_by_id(conn: &mut DbConnection, id: &str) -> QueryResult<Option<GrantRow>> {
    oauth_grants::table
        .find(id)
        .select(GrantRow::as_select())
        .first(conn)
        .optional()
}

/// A grant with its client.
pub fn find_with_client(
    conn: &mut DbConnection,
    id: &str,
) -> QueryResult<Option<(GrantRow, ClientRow)>> {
    oauth_grants::table
        .inner_join(oauth_clients::table)
        .filter(oauth_grants::id.eq(id))
        .select((GrantRow::as_select(), ClientRow::as_select()))
        .first(conn)
        .optional()
}

/// The access-token hot path: a grant with its client, user and subscription.
pub fn find_for_auth(
    conn: &mut DbConnection,
    grant_id: &str,
) -> QueryResult<Option<(GrantRow, ClientRow, UserRow, SubscriptionRow)>> {
    crate::on_backend!(conn, |c| {
        oauth_grants::table
            .inner_join(oauth_clients::table)
            .inner_join(users::table.inner_join(subscriptions::table))
            .filter(oauth_grants::id.eq(grant_id))
            .select((
                GrantRow::as_select(),
                ClientRow::as_select(),
                UserRow::as_select(),
                SubscriptionRow::as_select(),
            ))
            .first(c)
            .optional()
    })
}

/// A user's grants with their clients, newest first, one more than `limit`.
pub fn list_for_user(
    conn: &mut DbConnection,
    user_id: &str,
    before: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> QueryResult<Vec<(GrantRow, ClientRow)>> {
    let q = oauth_grants::table
        .inner_join(oauth_clients::table)
        .filter(oauth_grants::user_id.eq(user_id))
        .select((GrantRow::as_select(), ClientRow::as_select()))
        .into_boxed();
    newest_first!(q, oauth_grants::created_at, oauth_grants::id, before, limit).load(conn)
}

/// Inserts a grant unless the user already has one for the client (two first-time
/// "Allow"s at once); the caller reads the grant back either way.
pub fn insert(conn: &mut DbConnection, new: &NewGrant<'_>) -> QueryResult<()> {
    // Upserts are not part of the query language both backends share: one per backend.
    match conn {
        DbConnection::Postgresql(pg) => diesel::insert_into(oauth_grants::table)
            .values(new)
            .on_conflict((oauth_grants::user_id, oauth_grants::client_id))
            .do_nothing()
            .execute(pg)
            .map(drop),
        DbConnection::Sqlite(lite) => diesel::insert_or_ignore_into(oauth_grants::table)
            .values(new)
            .execute(lite)
            .map(drop),
    }
}

/// The user's active grant for the client with exactly `new.scopes`: found as it is,
/// re-activated (a new generation: tokens of its earlier life stay dead) or given its
/// new scopes, or inserted. The grant, and whether it changed. For grants that need no
/// consent (a client's service account).
pub fn ensure_active(conn: &mut DbConnection, new: &NewGrant<'_>) -> QueryResult<(GrantRow, bool)> {
    let changes = match find_for_update(conn, new.user_id, new.client_id)? {
        None => {
            insert(conn, new)?;
            None
        }
        Some(g) if g.is_active() && g.scopes == new.scopes => return Ok((g, false)),
        Some(g) => Some((
            g.id.clone(),
            GrantChanges {
                scopes: Some(new.scopes.to_string()),
                state: Some("active".into()),
                generation: (!g.is_active()).then_some(g.generation + 1),
                revoked_at: Some(None),
                updated_at: Some(new.updated_at),
                ..Default::default()
            },
        )),
    };
    if let Some((id, changes)) = changes {
        update(conn, Holder::User(new.user_id), &id, &changes)?;
    }
    let grant = find(conn, new.user_id, new.client_id)?.ok_or(diesel::result::Error::NotFound)?;
    Ok((grant, true))
}

/// Whose grant a change is for: the user it belongs to, or the client it was given to.
/// The holder is in the `WHERE` clause of every change, so a grant of someone else is
/// never touched, whatever the caller checked before.
#[derive(Debug, Clone, Copy)]
pub enum Holder<'a> {
    User(&'a str),
    Client(&'a str),
}

pub fn update(
    conn: &mut DbConnection,
    holder: Holder<'_>,
    id: &str,
    changes: &GrantChanges,
) -> QueryResult<()> {
    let grant = oauth_grants::table.find(id);
    match holder {
        Holder::User(user) => diesel::update(grant.filter(oauth_grants::user_id.eq(user)))
            .set(changes)
            .execute(conn),
        Holder::Client(client) => diesel::update(grant.filter(oauth_grants::client_id.eq(client)))
            .set(changes)
            .execute(conn),
    }
    .map(drop)
}

/// Revokes the holder's grant and every refresh token hanging off it; its access
/// tokens fail from the next check of the grant. Returns whether the grant was active.
pub fn revoke(
    conn: &mut DbConnection,
    holder: Holder<'_>,
    id: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let grant = oauth_grants::table.find(id);
    let revoked = (
        oauth_grants::state.eq("revoked"),
        oauth_grants::revoked_at.eq(Some(now)),
        oauth_grants::updated_at.eq(now),
    );
    // The holder decides only which grant this is; the changes below go by its id.
    let columns = (
        oauth_grants::id,
        oauth_grants::user_id,
        oauth_grants::client_id,
    );
    let mine: Option<(String, String, String)> = match holder {
        Holder::User(user) => grant
            .filter(oauth_grants::user_id.eq(user))
            .select(columns)
            .first(conn)
            .optional()?,
        Holder::Client(client) => grant
            .filter(oauth_grants::client_id.eq(client))
            .select(columns)
            .first(conn)
            .optional()?,
    };
    let Some((grant_id, user_id, client_id)) = mine else {
        return Ok(false);
    };
    // A device request allowed before the revocation and not yet redeemed would
    // otherwise redeem under a grant re-enabled later: it is denied with it.
    diesel::update(
        oauth_device_codes::table
            .filter(oauth_device_codes::user_id.eq(&user_id))
            .filter(oauth_device_codes::client_id.eq(&client_id))
            .filter(oauth_device_codes::status.eq("allowed")),
    )
    .set(oauth_device_codes::status.eq("denied"))
    .execute(conn)?;
    let changed = diesel::update(
        oauth_grants::table
            .find(&grant_id)
            .filter(oauth_grants::state.eq("active")),
    )
    .set(revoked)
    .execute(conn)?;
    diesel::update(
        oauth_refresh_tokens::table
            .filter(oauth_refresh_tokens::grant_id.eq(&grant_id))
            .filter(oauth_refresh_tokens::revoked_at.is_null()),
    )
    .set(oauth_refresh_tokens::revoked_at.eq(Some(now)))
    .execute(conn)?;
    Ok(changed > 0)
}

/// The ids of a client's active grants.
pub fn active_ids_for_client(conn: &mut DbConnection, client_id: &str) -> QueryResult<Vec<String>> {
    oauth_grants::table
        .filter(oauth_grants::client_id.eq(client_id))
        .filter(oauth_grants::state.eq("active"))
        .select(oauth_grants::id)
        .load(conn)
}

pub fn touch(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> QueryResult<()> {
    crate::on_backend!(conn, |c| {
        diesel::update(oauth_grants::table.find(id))
            .set(oauth_grants::last_used_at.eq(Some(now)))
            .execute(c)
            .map(drop)
    })
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = oauth_codes)]
pub struct CodeRow {
    pub id: String,
    pub code_hash: String,
    pub grant_id: String,
    pub redirect_uri: String,
    pub scopes: String,
    pub code_challenge: Option<String>,
    pub nonce: Option<String>,
    pub auth_time: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
    pub generation: i64,
    pub redirect_uri_given: bool,
    /// The browser session the person allowed the app in (OpenID Connect `sid`).
    pub session_id: Option<String>,
    /// How that session's person signed in (`amr`).
    pub amr: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = oauth_codes)]
pub struct NewCode<'a> {
    pub id: &'a str,
    pub code_hash: &'a str,
    pub grant_id: &'a str,
    pub redirect_uri: &'a str,
    pub scopes: &'a str,
    pub code_challenge: Option<&'a str>,
    pub nonce: Option<&'a str>,
    pub auth_time: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub generation: i64,
    pub redirect_uri_given: bool,
    pub session_id: Option<&'a str>,
    pub amr: Option<&'a str>,
}

pub fn insert_code(conn: &mut DbConnection, new: &NewCode<'_>) -> QueryResult<()> {
    diesel::insert_into(oauth_codes::table)
        .values(new)
        .execute(conn)
        .map(drop)
}

/// A code by its hash, with the grant it was issued under.
pub fn find_code_with_grant(
    conn: &mut DbConnection,
    code_hash: &str,
) -> QueryResult<Option<(CodeRow, GrantRow)>> {
    oauth_codes::table
        .inner_join(oauth_grants::table)
        .filter(oauth_codes::code_hash.eq(code_hash))
        .select((CodeRow::as_select(), GrantRow::as_select()))
        .first(conn)
        .optional()
}

/// Marks a code used; `false` when another request used it first.
pub fn use_code(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> QueryResult<bool> {
    diesel::update(
        oauth_codes::table
            .find(id)
            .filter(oauth_codes::used_at.is_null()),
    )
    .set(oauth_codes::used_at.eq(Some(now)))
    .execute(conn)
    .map(|n| n == 1)
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = oauth_refresh_tokens)]
pub struct RefreshRow {
    pub id: String,
    pub token_hash: String,
    pub grant_id: String,
    pub generation: i64,
    pub scopes: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
    /// The browser session the chain of tokens began in (`sid`), kept across rotation.
    pub session_id: Option<String>,
    /// When the person signed in for it, kept across rotation (`None` before 2026-12-07).
    pub auth_time: Option<NaiveDateTime>,
    /// How (`amr`), kept likewise.
    pub amr: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = oauth_refresh_tokens)]
pub struct NewRefresh<'a> {
    pub id: &'a str,
    pub token_hash: &'a str,
    pub grant_id: &'a str,
    pub generation: i64,
    pub scopes: &'a str,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub session_id: Option<&'a str>,
    pub auth_time: Option<NaiveDateTime>,
    pub amr: Option<&'a str>,
}

pub fn insert_refresh(conn: &mut DbConnection, new: &NewRefresh<'_>) -> QueryResult<()> {
    crate::on_backend!(conn, |c| diesel::insert_into(oauth_refresh_tokens::table)
        .values(new)
        .execute(c)
        .map(drop))
}

pub fn find_refresh(conn: &mut DbConnection, token_hash: &str) -> QueryResult<Option<RefreshRow>> {
    crate::on_backend!(conn, |c| oauth_refresh_tokens::table
        .filter(oauth_refresh_tokens::token_hash.eq(token_hash))
        .select(RefreshRow::as_select())
        .first(c)
        .optional())
}

/// The refresh-grant hot path: a refresh token with its grant and the grant's user.
/// On PostgreSQL one join, one round trip. On SQLite two lookups by unique key (a trip
/// costs nothing there): with many tokens under one grant, SQLite's planner (without
/// statistics) would rather walk the grant's tokens than use the token's hash.
pub fn find_refresh_for_use(
    conn: &mut DbConnection,
    token_hash: &str,
) -> QueryResult<Option<(RefreshRow, GrantRow, UserRow)>> {
    let c = match conn {
        DbConnection::Postgresql(c) => {
            return oauth_refresh_tokens::table
                .inner_join(oauth_grants::table.inner_join(users::table))
                .filter(oauth_refresh_tokens::token_hash.eq(token_hash))
                .select((
                    RefreshRow::as_select(),
                    GrantRow::as_select(),
                    UserRow::as_select(),
                ))
                .first(c)
                .optional();
        }
        DbConnection::Sqlite(c) => c,
    };
    let Some(refresh) = oauth_refresh_tokens::table
        .filter(oauth_refresh_tokens::token_hash.eq(token_hash))
        .select(RefreshRow::as_select())
        .first(c)
        .optional()?
    else {
        return Ok(None);
    };
    let found = oauth_grants::table
        .inner_join(users::table)
        .filter(oauth_grants::id.eq(&refresh.grant_id))
        .select((GrantRow::as_select(), UserRow::as_select()))
        .first(c)
        .optional()?;
    Ok(found.map(|(grant, user)| (refresh, grant, user)))
}

/// Spends a refresh token; `false` when it was already spent (a reuse).
pub fn spend_refresh(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> QueryResult<bool> {
    crate::on_backend!(conn, |c| diesel::update(
        oauth_refresh_tokens::table
            .find(id)
            .filter(oauth_refresh_tokens::used_at.is_null()),
    )
    .set(oauth_refresh_tokens::used_at.eq(Some(now)))
    .execute(c)
    .map(|n| n == 1))
}

/// Revokes one refresh token (RFC 7009).
pub fn revoke_refresh(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> QueryResult<()> {
    diesel::update(oauth_refresh_tokens::table.find(id))
        .set(oauth_refresh_tokens::revoked_at.eq(Some(now)))
        .execute(conn)
        .map(drop)
}

/// Whose apps to tell of a logout: those a browser session signed in to, all of a
/// user's, or one grant's.
#[derive(Debug, Clone, Copy)]
pub enum LogoutScope<'a> {
    Session(&'a str),
    User(&'a str),
    Grant(&'a str),
    /// Every browser session of the user but one (`(user, kept session)`).
    OtherSessions(&'a str, &'a str),
    /// Every browser session of the user (their grants stay).
    Sessions(&'a str),
}

/// The clients to tell of a logout, with the user and the session (`sid`) each was
/// signed in with, once per (client, session), found through the refresh tokens that
/// carry the session. Spent and revoked tokens count (an app that signed someone in
/// keeps its own session after its tokens rotate), expired ones do not.
pub fn logout_targets(
    conn: &mut DbConnection,
    scope: LogoutScope<'_>,
    now: NaiveDateTime,
) -> QueryResult<Vec<(ClientRow, String, Option<String>)>> {
    let q = oauth_refresh_tokens::table
        .inner_join(oauth_grants::table.inner_join(oauth_clients::table))
        // A sign-in whose last refresh token has expired is over at the app too.
        .filter(oauth_refresh_tokens::expires_at.gt(now))
        .select((
            ClientRow::as_select(),
            oauth_grants::user_id,
            oauth_refresh_tokens::session_id,
        ))
        .distinct()
        .into_boxed();
    match scope {
        LogoutScope::Session(s) => q.filter(oauth_refresh_tokens::session_id.eq(s)),
        LogoutScope::User(u) => q.filter(oauth_grants::user_id.eq(u)),
        LogoutScope::Grant(g) => q.filter(oauth_grants::id.eq(g)),
        LogoutScope::OtherSessions(u, keep) => q
            .filter(oauth_grants::user_id.eq(u))
            .filter(oauth_refresh_tokens::session_id.ne(keep)),
        LogoutScope::Sessions(u) => q
            .filter(oauth_grants::user_id.eq(u))
            .filter(oauth_refresh_tokens::session_id.is_not_null()),
    }
    .load(conn)
}

/// OpenID Connect Core §11: a refresh token issued for sign-in (`openid`) without
/// `offline_access` is good only while the person's session lasts; when the session
/// ends, those issued in it are revoked. Their grants stay (the app is still
/// authorized; signing in again needs no consent). The number revoked.
pub fn revoke_session_refresh(
    conn: &mut DbConnection,
    session_id: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        oauth_refresh_tokens::table
            .filter(oauth_refresh_tokens::session_id.eq(session_id))
            .filter(oauth_refresh_tokens::revoked_at.is_null())
            .filter(oauth_refresh_tokens::scopes.like("%openid%"))
            .filter(oauth_refresh_tokens::scopes.not_like("%offline_access%")),
    )
    .set(oauth_refresh_tokens::revoked_at.eq(Some(now)))
    .execute(conn)
}
