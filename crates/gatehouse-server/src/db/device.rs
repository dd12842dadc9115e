//! Queries on `oauth_device_codes` (RFC 8628): a device's pending authorization, found
//! by the hash of its device code (the device polling) or of its user code (the person
//! on the `/device` page). Every state change is a conditional `UPDATE`, so two polls
//! or two decisions racing each other change it once.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::oauth_clients::ClientRow;
use crate::db::schema::{oauth_clients, oauth_device_codes};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = oauth_device_codes)]
pub struct DeviceRow {
    pub id: String,
    pub subscription_id: String,
    pub client_id: String,
    pub device_code_hash: String,
    pub user_code_hash: String,
    pub scopes: String,
    /// `pending`, `allowed`, `denied` or `redeemed`.
    pub status: String,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub auth_time: Option<NaiveDateTime>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = oauth_device_codes)]
pub struct NewDevice<'a> {
    pub id: &'a str,
    pub subscription_id: &'a str,
    pub client_id: &'a str,
    pub device_code_hash: &'a str,
    pub user_code_hash: &'a str,
    pub scopes: &'a str,
    pub status: &'a str,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConnection, new: &NewDevice<'_>) -> QueryResult<()> {
    diesel::insert_into(oauth_device_codes::table)
        .values(new)
        .execute(conn)
        .map(drop)
}

/// By the device code's hash (the device polling).
pub fn find_by_device_code(conn: &mut DbConnection, hash: &str) -> QueryResult<Option<DeviceRow>> {
    oauth_device_codes::table
        .filter(oauth_device_codes::device_code_hash.eq(hash))
        .select(DeviceRow::as_select())
        .first(conn)
        .optional()
}

/// By the user code's hash, with its client, in the person's subscription only.
pub fn find_by_user_code(
    conn: &mut DbConnection,
    subscription_id: &str,
    hash: &str,
) -> QueryResult<Option<(DeviceRow, ClientRow)>> {
    oauth_device_codes::table
        .inner_join(oauth_clients::table)
        .filter(oauth_device_codes::user_code_hash.eq(hash))
        .filter(oauth_device_codes::subscription_id.eq(subscription_id))
        .select((DeviceRow::as_select(), ClientRow::as_select()))
        .first::<(DeviceRow, ClientRow)>(conn)
        .optional()
        // A device code of a client disabled since is no request to decide.
        .map(|found| found.filter(|(_, c)| c.metadata.disabled_at.is_none()))
}

/// The person's decision on a pending, unexpired request; `false` when it was decided
/// already or has expired.
pub struct Decision<'a> {
    pub id: &'a str,
    pub status: &'a str,
    pub user_id: &'a str,
    pub session_id: Option<&'a str>,
    pub auth_time: NaiveDateTime,
    pub now: NaiveDateTime,
}

pub fn decide(conn: &mut DbConnection, d: &Decision<'_>) -> QueryResult<bool> {
    diesel::update(
        oauth_device_codes::table
            .find(d.id)
            .filter(oauth_device_codes::status.eq("pending"))
            .filter(oauth_device_codes::expires_at.gt(d.now)),
    )
    .set((
        oauth_device_codes::status.eq(d.status),
        oauth_device_codes::user_id.eq(Some(d.user_id)),
        oauth_device_codes::session_id.eq(d.session_id),
        oauth_device_codes::auth_time.eq(Some(d.auth_time)),
    ))
    .execute(conn)
    .map(|n| n == 1)
}

/// Spends an allowed request: `false` when another poll spent it first.
pub fn redeem(conn: &mut DbConnection, id: &str) -> QueryResult<bool> {
    diesel::update(
        oauth_device_codes::table
            .find(id)
            .filter(oauth_device_codes::status.eq("allowed")),
    )
    .set(oauth_device_codes::status.eq("redeemed"))
    .execute(conn)
    .map(|n| n == 1)
}
