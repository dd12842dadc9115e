//! Queries on `subscriptions`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use gatehouse_types::{Role, Subscription, SubscriptionSettings, TwoStepPolicy};

use crate::clock;
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
    #[diesel(deserialize_as = String)]
    pub two_step_policy: TwoStepPolicy,
    pub two_step_grace_days: i64,
    /// When the policy last began to require two steps of more people.
    pub two_step_required_since: Option<NaiveDateTime>,
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
    pub two_step_policy: Option<String>,
    pub two_step_grace_days: Option<i64>,
    pub two_step_required_since: Option<Option<NaiveDateTime>>,
    pub updated_at: Option<NaiveDateTime>,
}

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<SubscriptionRow> {
    subscriptions::table
        .find(id)
        .select(SubscriptionRow::as_select())
        .first(conn)
}

/// Every subscription, by name (the operator's commands).
pub fn all(conn: &mut DbConnection) -> QueryResult<Vec<SubscriptionRow>> {
    subscriptions::table
        .select(SubscriptionRow::as_select())
        .order(subscriptions::name.asc())
        .load(conn)
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

/// The roles of a setting stored comma-separated, highest first, each once.
pub fn parse_roles(s: &str) -> Vec<Role> {
    let mut roles: Vec<Role> = s.split(',').filter_map(|r| Role::parse(r.trim())).collect();
    roles.sort();
    roles.dedup();
    roles.reverse();
    roles
}

pub fn format_roles(roles: &[Role]) -> String {
    let mut roles = roles.to_vec();
    roles.sort();
    roles.dedup();
    roles.reverse();
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

pub fn to_api(row: &SubscriptionRow) -> Subscription {
    Subscription {
        id: row.id.clone(),
        name: row.name.clone(),
        settings: SubscriptionSettings {
            api_keys_enabled: row.api_keys_enabled,
            api_key_max_lifetime_days: row.api_key_max_lifetime_days.map(|d| d as u32),
            api_key_full_access_roles: parse_roles(&row.api_key_full_access_roles),
            oauth_client_roles: parse_roles(&row.oauth_client_roles),
            session_idle_minutes: row.session_idle_minutes as u32,
            session_max_hours: row.session_max_hours as u32,
            login_lockout_threshold: row.login_lockout_threshold as u32,
            two_step_policy: row.two_step_policy,
            two_step_grace_days: row.two_step_grace_days as u32,
        },
        created_at: clock::utc(row.created_at),
        updated_at: clock::utc(row.updated_at),
    }
}
