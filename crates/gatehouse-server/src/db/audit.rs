//! Queries on `audit_events`.

use super::newest_first;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::audit_events;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_events)]
pub struct AuditEventRow {
    pub id: String,
    pub subscription_id: Option<String>,
    pub actor_id: Option<String>,
    pub actor_username: Option<String>,
    pub credential_kind: Option<String>,
    pub credential_id: Option<String>,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: String,
    pub created_at: NaiveDateTime,
    pub subject_user_id: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = audit_events)]
pub struct NewAuditEvent<'a> {
    pub id: &'a str,
    pub subscription_id: Option<&'a str>,
    pub actor_id: Option<&'a str>,
    pub actor_username: Option<&'a str>,
    pub credential_kind: Option<&'a str>,
    pub credential_id: Option<&'a str>,
    pub action: &'a str,
    pub target_type: Option<&'a str>,
    pub target_id: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub details: &'a str,
    pub created_at: NaiveDateTime,
    pub subject_user_id: Option<&'a str>,
}

pub fn insert(conn: &mut DbConnection, new: &NewAuditEvent<'_>) -> QueryResult<()> {
    diesel::insert_into(audit_events::table)
        .values(new)
        .execute(conn)
        .map(drop)
}

/// Which events to list: all of a subscription, narrowed by actor, action and time.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Events this user did or that concern them (their account, their keys).
    pub involving: Option<String>,
    pub actor_id: Option<String>,
    pub action: Option<String>,
    /// Inclusive lower bound.
    pub since: Option<NaiveDateTime>,
    /// Exclusive upper bound.
    pub until: Option<NaiveDateTime>,
}

/// One page of events, newest first, one row more than `limit`; `before` is the
/// (created_at, id) of the last event already seen.
pub fn list(
    conn: &mut DbConnection,
    subscription_id: &str,
    filter: &AuditFilter,
    before: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> QueryResult<Vec<AuditEventRow>> {
    list_of(conn, Some(subscription_id), filter, before, limit)
}

/// The events no subscription owns (failed sign-ins with a username nobody has): for
/// the operator alone (`gatehouse audit export --unattributed`).
pub fn list_unattributed(
    conn: &mut DbConnection,
    filter: &AuditFilter,
    before: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> QueryResult<Vec<AuditEventRow>> {
    list_of(conn, None, filter, before, limit)
}

fn list_of(
    conn: &mut DbConnection,
    subscription_id: Option<&str>,
    filter: &AuditFilter,
    before: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> QueryResult<Vec<AuditEventRow>> {
    let mut q = audit_events::table
        .select(AuditEventRow::as_select())
        .into_boxed();
    q = match subscription_id {
        Some(id) => q.filter(audit_events::subscription_id.eq(id.to_string())),
        None => q.filter(audit_events::subscription_id.is_null()),
    };
    if let Some(user) = &filter.involving {
        q = q.filter(
            audit_events::actor_id
                .eq(user.clone())
                .or(audit_events::subject_user_id.eq(user.clone())),
        );
    }
    if let Some(actor) = &filter.actor_id {
        q = q.filter(audit_events::actor_id.eq(actor.clone()));
    }
    if let Some(action) = &filter.action {
        q = q.filter(audit_events::action.eq(action.clone()));
    }
    if let Some(since) = filter.since {
        q = q.filter(audit_events::created_at.ge(since));
    }
    if let Some(until) = filter.until {
        q = q.filter(audit_events::created_at.lt(until));
    }
    newest_first!(q, audit_events::created_at, audit_events::id, before, limit).load(conn)
}
