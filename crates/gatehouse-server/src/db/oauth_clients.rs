//! Queries on `oauth_clients`.

use super::newest_first;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use gatehouse_types::{ClientType, Role};
use serde::{Deserialize, Serialize};

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
    /// The protocol metadata (one JSON column), parsed once where the row is read.
    #[diesel(deserialize_as = String)]
    pub metadata: ClientMetadata,
}

/// What a client registered beyond its callbacks (RFC 7591 and OpenID Connect
/// registration names), and whether an administrator disabled it. Stored as one JSON
/// object; a field left out is its default, so `{}` is a client of before: the
/// authorization code and refresh token grants, enabled.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_types: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_uri: Option<String>,
    /// `None`: the origins of the redirect URIs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_origins: Option<Vec<String>>,
    /// `viewer` or `editor`: the role of the service account (client credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_role: Option<Role>,
    /// Set while an administrator has the client disabled: to the protocol it does not
    /// exist (kept here rather than in a column of its own: the table is at diesel's
    /// 16 columns, and more would cost every build the 32-column feature).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<NaiveDateTime>,
}

impl TryFrom<String> for ClientMetadata {
    type Error = serde_json::Error;
    fn try_from(s: String) -> Result<ClientMetadata, serde_json::Error> {
        serde_json::from_str(&s)
    }
}

impl ClientMetadata {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    /// `self` is `read` with a request's changes; answers those changes applied to
    /// `current` (the metadata as it is when written), keeping whatever someone else
    /// changed meanwhile in the fields this request left alone.
    pub fn rebased(&self, read: &ClientMetadata, current: &ClientMetadata) -> ClientMetadata {
        fn pick<T: Clone + PartialEq>(mine: &T, read: &T, current: &T) -> T {
            if mine != read { mine } else { current }.clone()
        }
        ClientMetadata {
            grant_types: pick(&self.grant_types, &read.grant_types, &current.grant_types),
            post_logout_redirect_uris: pick(
                &self.post_logout_redirect_uris,
                &read.post_logout_redirect_uris,
                &current.post_logout_redirect_uris,
            ),
            backchannel_logout_uri: pick(
                &self.backchannel_logout_uri,
                &read.backchannel_logout_uri,
                &current.backchannel_logout_uri,
            ),
            allowed_origins: pick(
                &self.allowed_origins,
                &read.allowed_origins,
                &current.allowed_origins,
            ),
            service_role: pick(
                &self.service_role,
                &read.service_role,
                &current.service_role,
            ),
            disabled_at: pick(&self.disabled_at, &read.disabled_at, &current.disabled_at),
        }
    }
}

/// The grant types of a client registered without naming any.
pub const DEFAULT_GRANT_TYPES: [&str; 2] = ["authorization_code", "refresh_token"];

impl ClientRow {
    pub fn redirect_uri_list(&self) -> Vec<String> {
        serde_json::from_str(&self.redirect_uris).unwrap_or_default()
    }

    pub fn service_role(&self) -> Option<Role> {
        self.metadata.service_role
    }

    pub fn grant_type_list(&self) -> Vec<String> {
        match &self.metadata.grant_types {
            Some(g) => g.clone(),
            None => DEFAULT_GRANT_TYPES.iter().map(|g| g.to_string()).collect(),
        }
    }

    pub fn allows_grant(&self, grant_type: &str) -> bool {
        match &self.metadata.grant_types {
            Some(g) => g.iter().any(|g| g == grant_type),
            None => DEFAULT_GRANT_TYPES.contains(&grant_type),
        }
    }

    /// The origins that may read this client's answers: the registered ones, or by
    /// default the origins of its redirect URIs (those of `http(s)` callbacks only).
    pub fn origin_list(&self) -> Vec<String> {
        match &self.metadata.allowed_origins {
            Some(list) => list.clone(),
            None => {
                let mut out: Vec<String> = Vec::new();
                for uri in self.redirect_uri_list() {
                    if let Some(o) = origin_of(&uri)
                        && !out.contains(&o)
                    {
                        out.push(o);
                    }
                }
                out
            }
        }
    }

    /// Whether a browser on `origin` (as sent in `Origin`) may read this client's answers.
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.origin_list().iter().any(|o| o == origin)
    }

    pub fn is_public(&self) -> bool {
        self.client_type == ClientType::Public
    }
}

/// The origin of an `http(s)` URL, as browsers write it in `Origin`.
pub fn origin_of(uri: &str) -> Option<String> {
    let u = url::Url::parse(uri).ok()?;
    if !matches!(u.scheme(), "http" | "https") {
        return None;
    }
    let origin = u.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
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
    pub metadata: &'a str,
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
    pub metadata: Option<String>,
}

pub fn insert(conn: &mut DbConnection, new: &NewClient<'_>) -> QueryResult<()> {
    diesel::insert_into(oauth_clients::table)
        .values(new)
        .execute(conn)
        .map(drop)
}

/// By the public `client_id`, across subscriptions: the protocol endpoints find the
/// client first and take its subscription from it. A disabled client is not found:
/// to the protocol it does not exist until an administrator enables it again.
pub fn find_by_client_id(
    conn: &mut DbConnection,
    client_id: &str,
) -> QueryResult<Option<ClientRow>> {
    Ok(find_even_disabled(conn, client_id)?.filter(|c| c.metadata.disabled_at.is_none()))
}

/// By the public `client_id`, disabled or not: only for signing a person out, which a
/// disabled client must not prevent.
pub fn find_even_disabled(
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A request applies only what it changed: what someone else changed meanwhile in
    /// other fields stays, an administrator's disabling included.
    #[test]
    fn a_change_is_applied_to_the_metadata_as_it_is_now() {
        let read = ClientMetadata::default();
        let mine = ClientMetadata {
            allowed_origins: Some(vec!["https://mine.example.com".into()]),
            ..read.clone()
        };
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0)
            .unwrap()
            .naive_utc();
        let current = ClientMetadata {
            disabled_at: Some(now),
            service_role: Some(Role::Viewer),
            ..read.clone()
        };
        let written = mine.rebased(&read, &current);
        assert_eq!(written.disabled_at, Some(now));
        assert_eq!(written.service_role, Some(Role::Viewer));
        assert_eq!(
            written.allowed_origins,
            Some(vec!["https://mine.example.com".to_string()])
        );
        // A field this request set back to what it read is left as it is now.
        assert_eq!(read.rebased(&read, &current), current);
    }
}
