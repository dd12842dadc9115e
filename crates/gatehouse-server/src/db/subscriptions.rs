//! Queries on `subscriptions`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::subscriptions;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = subscriptions)]
pub struct SubscriptionRow {
    pub id: String,
    pub name: String,
    pub api_keys_enabled: bool,
    pub api_key_max_lifetime_days: Option<i64>,
    pub api_key_full_access_roles: String,
    pub oauth_client_roles: String,
    pub session_idle_minutes: i64,
    pub session_max_hours: i64,
    pub login_lockout_threshold: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = subscriptions)]
pub struct NewSubscription<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = subscriptions)]
pub struct SubscriptionChanges {
    pub name: Option<String>,
    pub api_keys_enabled: Option<bool>,
    pub api_key_max_lifetime_days: Option<Option<i64>>,
    pub api_key_full_access_roles: Option<String>,
    pub oauth_client_roles: Option<String>,
    pub session_idle_minutes: Option<i64>,
    pub session_max_hours: Option<i64>,
    pub login_lockout_threshold: Option<i64>,
    pub updated_at: Option<NaiveDateTime>,
}

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<SubscriptionRow> {
    subscriptions::table
        .find(id)
        .select(SubscriptionRow::as_select())
        .first(conn)
}

pub fn insert(conn: &mut DbConnection, new: &NewSubscription<'_>) -> QueryResult<()> {
    diesel::insert_into(subscriptions::table)
        .values(new)
        .execute(conn)
        .map(drop)
}

pub fn update(conn: &mut DbConnection, id: &str, changes: &SubscriptionChanges) -> QueryResult<()> {
    diesel::update(subscriptions::table.find(id))
        .set(changes)
        .execute(conn)
        .map(drop)
}

pub fn count(conn: &mut DbConnection) -> QueryResult<i64> {
    subscriptions::table.count().get_result(conn)
}

/// Takes the subscription's write lock for the rest of the transaction (a row lock on
/// PostgreSQL, the database write lock on SQLite), so that checks such as "is this the
/// last admin?" cannot race with a concurrent change in the same subscription.
pub fn lock(conn: &mut DbConnection, id: &str) -> QueryResult<()> {
    diesel::update(subscriptions::table.find(id))
        .set(subscriptions::id.eq(subscriptions::id))
        .execute(conn)
        .map(drop)
}
