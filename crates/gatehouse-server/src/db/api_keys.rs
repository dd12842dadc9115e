//! Queries on `api_keys`.

use super::newest_first;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use gatehouse_types::Permission;

use crate::db::DbConnection;
use crate::db::schema::{api_keys, subscriptions, users};
use crate::db::subscriptions::SubscriptionRow;
use crate::db::users::UserRow;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_keys)]
pub struct ApiKeyRow {
    pub id: String,
    pub subscription_id: String,
    pub user_id: String,
    pub name: String,
    #[diesel(deserialize_as = String)]
    pub permission: Permission,
    pub secret_hash: String,
    pub hint: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
    pub last_reset_at: Option<NaiveDateTime>,
    pub expires_at: Option<NaiveDateTime>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = api_keys)]
pub struct NewApiKey<'a> {
    pub id: &'a str,
    pub subscription_id: &'a str,
    pub user_id: &'a str,
    pub name: &'a str,
    pub permission: &'a str,
    pub secret_hash: &'a str,
    pub hint: &'a str,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub expires_at: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut DbConnection, new: &NewApiKey<'_>) -> QueryResult<()> {
    diesel::insert_into(api_keys::table)
        .values(new)
        .execute(conn)
        .map(drop)
}

/// The authentication hot path: the key with this secret hash, its user and their
/// subscription, in one query through the unique index.
pub fn find_for_auth(
    conn: &mut DbConnection,
    secret_hash: &str,
) -> QueryResult<Option<(ApiKeyRow, UserRow, SubscriptionRow)>> {
    crate::on_backend!(conn, |c| {
        api_keys::table
            .inner_join(users::table.inner_join(subscriptions::table))
            .filter(api_keys::secret_hash.eq(secret_hash))
            .select((
                ApiKeyRow::as_select(),
                UserRow::as_select(),
                SubscriptionRow::as_select(),
            ))
            .first(c)
            .optional()
    })
}

/// A key of the subscription; another subscription's key is `None`.
pub fn find_in_subscription(
    conn: &mut DbConnection,
    subscription_id: &str,
    id: &str,
) -> QueryResult<Option<ApiKeyRow>> {
    api_keys::table
        .filter(api_keys::id.eq(id))
        .filter(api_keys::subscription_id.eq(subscription_id))
        .select(ApiKeyRow::as_select())
        .first(conn)
        .optional()
}

/// One page of a user's keys, newest first, one row more than `limit`.
pub fn list_for_user(
    conn: &mut DbConnection,
    user_id: &str,
    before: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> QueryResult<Vec<ApiKeyRow>> {
    let q = api_keys::table
        .filter(api_keys::user_id.eq(user_id))
        .select(ApiKeyRow::as_select())
        .into_boxed();
    newest_first!(q, api_keys::created_at, api_keys::id, before, limit).load(conn)
}

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    CreatedAt,
    LastUsedAt,
    LastResetAt,
}

impl SortBy {
    /// A key's value in this order, as the query sorts it (never used: the epoch).
    pub fn value_of(self, key: &ApiKeyRow) -> NaiveDateTime {
        match self {
            SortBy::CreatedAt => Some(key.created_at),
            SortBy::LastUsedAt => key.last_used_at,
            SortBy::LastResetAt => key.last_reset_at,
        }
        .unwrap_or_else(epoch)
    }
}

/// The filter, order and position of one page of the subscription-wide key list.
#[derive(Debug, Clone)]
pub struct SubscriptionKeyQuery {
    /// Matched, case-insensitively, anywhere in the key's name, hint or owner's username.
    pub q: Option<String>,
    pub sort: SortBy,
    pub descending: bool,
    /// The sort value and id of the last row already served.
    pub after: Option<(NaiveDateTime, String)>,
    pub limit: i64,
}

/// Never-used and never-reset keys sort as if used or reset at this instant.
pub fn epoch() -> NaiveDateTime {
    chrono::DateTime::UNIX_EPOCH.naive_utc()
}

/// One page of the subscription's active (unexpired) keys with their owners.
pub fn list_for_subscription(
    conn: &mut DbConnection,
    subscription_id: &str,
    now: NaiveDateTime,
    query: &SubscriptionKeyQuery,
) -> QueryResult<Vec<(ApiKeyRow, UserRow)>> {
    let mut q = api_keys::table
        .inner_join(users::table)
        .filter(api_keys::subscription_id.eq(subscription_id))
        .filter(
            api_keys::expires_at
                .is_null()
                .or(api_keys::expires_at.gt(now)),
        )
        .select((ApiKeyRow::as_select(), UserRow::as_select()))
        .limit(query.limit + 1)
        .into_boxed();
    if let Some(text) = &query.q {
        let pattern = format!(
            "%{}%",
            text.to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        q = q.filter(
            lower(api_keys::name)
                .like(pattern.clone())
                .escape('\\')
                .or(lower(api_keys::hint).like(pattern.clone()).escape('\\'))
                .or(users::username.like(pattern).escape('\\')),
        );
    }
    // A fixed SQL fragment per sort column (never user text), valid on both backends:
    // the epoch literal reads as a TIMESTAMP on PostgreSQL and sorts first as text on
    // SQLite, matching `epoch()`.
    let key = diesel::dsl::sql::<diesel::sql_types::Timestamp>(match query.sort {
        SortBy::CreatedAt => "api_keys.created_at",
        SortBy::LastUsedAt => "COALESCE(api_keys.last_used_at, '1970-01-01 00:00:00')",
        SortBy::LastResetAt => "COALESCE(api_keys.last_reset_at, '1970-01-01 00:00:00')",
    });
    if let Some((at, id)) = &query.after {
        q = if query.descending {
            q.filter(
                key.clone()
                    .lt(*at)
                    .or(key.clone().eq(*at).and(api_keys::id.lt(id.clone()))),
            )
        } else {
            q.filter(
                key.clone()
                    .gt(*at)
                    .or(key.clone().eq(*at).and(api_keys::id.gt(id.clone()))),
            )
        };
    }
    q = if query.descending {
        q.order((key.desc(), api_keys::id.desc()))
    } else {
        q.order((key.asc(), api_keys::id.asc()))
    };
    q.load(conn)
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = api_keys)]
pub struct ApiKeyChanges {
    pub name: Option<String>,
    pub secret_hash: Option<String>,
    pub hint: Option<String>,
    pub last_reset_at: Option<Option<NaiveDateTime>>,
    pub expires_at: Option<Option<NaiveDateTime>>,
    pub updated_at: Option<NaiveDateTime>,
}

/// Changes a record of the subscription: the subscription is in the `WHERE` clause,
/// so a record of another one is never touched, whatever the caller checked before.
pub fn update(
    conn: &mut DbConnection,
    subscription_id: &str,
    id: &str,
    changes: &ApiKeyChanges,
) -> QueryResult<()> {
    diesel::update(
        api_keys::table
            .find(id)
            .filter(api_keys::subscription_id.eq(subscription_id)),
    )
    .set(changes)
    .execute(conn)
    .map(drop)
}

/// Deletes a record of the subscription (the subscription is in the `WHERE` clause);
/// `false` when there was none to delete.
pub fn delete(conn: &mut DbConnection, subscription_id: &str, id: &str) -> QueryResult<bool> {
    diesel::delete(
        api_keys::table
            .find(id)
            .filter(api_keys::subscription_id.eq(subscription_id)),
    )
    .execute(conn)
    .map(|n| n > 0)
}

/// Records a use; called at most once a minute per key and process.
pub fn touch(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> QueryResult<()> {
    crate::on_backend!(conn, |c| {
        diesel::update(api_keys::table.find(id))
            .set(api_keys::last_used_at.eq(now))
            .execute(c)
            .map(drop)
    })
}
