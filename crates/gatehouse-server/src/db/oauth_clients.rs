//! Queries on `oauth_clients`.

use super::newest_first;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use gatehouse_types::ClientType;

use crate::db::DbConnection;
use crate::db::schema::oauth_clients;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = oauth_clients)]
pub struct ClientRow {
    pub id: String,
    pub subscription_id: String,
    pub owner_id: String,
    pub client_id: String,
    pub name: String,
    #[diesel(deserialize_as = String)]
    pub client_type: ClientType,
    pub secret_hash: Option<String>,
    pub secret_hint: Option<String>,
    /// A JSON array of strings.
    pub redirect_uris: String,
    pub homepage_url: Option<String>,
    pub logo_url: Option<String>,
    pub standard: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub secret_reset_at: Option<NaiveDateTime>,
}

impl ClientRow {
    pub fn redirect_uri_list(&self) -> Vec<String> {
        serde_json::from_str(&self.redirect_uris).unwrap_or_default()
    }

    pub fn is_public(&self) -> bool {
        self.client_type == ClientType::Public
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = oauth_clients)]
pub struct NewClient<'a> {
    pub id: &'a str,
    pub subscription_id: &'a str,
    pub owner_id: &'a str,
    pub client_id: &'a str,
    pub name: &'a str,
    pub client_type: &'a str,
    pub secret_hash: Option<&'a str>,
    pub secret_hint: Option<&'a str>,
    pub redirect_uris: &'a str,
    pub homepage_url: Option<&'a str>,
    pub logo_url: Option<&'a str>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Default, Clone, AsChangeset)]
#[diesel(table_name = oauth_clients)]
pub struct ClientChanges {
    pub name: Option<String>,
    pub redirect_uris: Option<String>,
    pub homepage_url: Option<Option<String>>,
    pub logo_url: Option<Option<String>>,
    pub secret_hash: Option<Option<String>>,
    pub secret_hint: Option<Option<String>>,
    pub secret_reset_at: Option<Option<NaiveDateTime>>,
    pub standard: Option<bool>,
    pub updated_at: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut DbConnection, new: &NewClient<'_>) -> QueryResult<()> {
    diesel::insert_into(oauth_clients::table)
        .values(new)
        .execute(conn)
        .map(drop)
}

/// By the public `client_id`, across subscriptions: the protocol endpoints find the
/// client first and take its subscription from it.
pub fn find_by_client_id(
    conn: &mut DbConnection,
    client_id: &str,
) -> QueryResult<Option<ClientRow>> {
    crate::on_backend!(conn, |c| {
        oauth_clients::table
            .filter(oauth_clients::client_id.eq(client_id))
            .select(ClientRow::as_select())
            .first(c)
            .optional()
    })
}

pub fn find_in_subscription(
    conn: &mut DbConnection,
    subscription_id: &str,
    id: &str,
) -> QueryResult<Option<ClientRow>> {
    oauth_clients::table
        .filter(oauth_clients::id.eq(id))
        .filter(oauth_clients::subscription_id.eq(subscription_id))
        .select(ClientRow::as_select())
        .first(conn)
        .optional()
}

/// One page of clients, newest first, one more than `limit`; all of the subscription's,
/// or one owner's.
pub fn list(
    conn: &mut DbConnection,
    subscription_id: &str,
    owner_id: Option<&str>,
    before: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> QueryResult<Vec<ClientRow>> {
    let mut q = oauth_clients::table
        .filter(oauth_clients::subscription_id.eq(subscription_id))
        .select(ClientRow::as_select())
        .into_boxed();
    if let Some(owner) = owner_id {
        q = q.filter(oauth_clients::owner_id.eq(owner.to_string()));
    }
    newest_first!(
        q,
        oauth_clients::created_at,
        oauth_clients::id,
        before,
        limit
    )
    .load(conn)
}

/// Changes a record of the subscription: the subscription is in the `WHERE` clause,
/// so a record of another one is never touched, whatever the caller checked before.
pub fn update(
    conn: &mut DbConnection,
    subscription_id: &str,
    id: &str,
    changes: &ClientChanges,
) -> QueryResult<()> {
    diesel::update(
        oauth_clients::table
            .find(id)
            .filter(oauth_clients::subscription_id.eq(subscription_id)),
    )
    .set(changes)
    .execute(conn)
    .map(drop)
}

/// Deletes the client; its grants, codes and refresh tokens go by cascade.
/// Deletes a record of the subscription (the subscription is in the `WHERE` clause);
/// `false` when there was none to delete.
pub fn delete(conn: &mut DbConnection, subscription_id: &str, id: &str) -> QueryResult<bool> {
    diesel::delete(
        oauth_clients::table
            .find(id)
            .filter(oauth_clients::subscription_id.eq(subscription_id)),
    )
    .execute(conn)
    .map(|n| n > 0)
}
