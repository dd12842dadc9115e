//! Queries on `oauth_requests` (pending consent) and `signing_keys`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::oauth_clients::ClientRow;
use crate::db::schema::{oauth_clients, oauth_requests, signing_keys};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = oauth_requests)]
pub struct RequestRow {
    pub id: String,
    pub subscription_id: String,
    pub user_id: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scopes: String,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
    pub nonce: Option<String>,
    pub auth_time: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub redirect_uri_given: bool,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = oauth_requests)]
pub struct NewRequest<'a> {
    pub id: &'a str,
    pub subscription_id: &'a str,
    pub user_id: &'a str,
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub scopes: &'a str,
    pub state: Option<&'a str>,
    pub code_challenge: Option<&'a str>,
    pub nonce: Option<&'a str>,
    pub auth_time: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub redirect_uri_given: bool,
}

pub fn insert_request(conn: &mut DbConnection, new: &NewRequest<'_>) -> QueryResult<()> {
    diesel::insert_into(oauth_requests::table)
        .values(new)
        .execute(conn)
        .map(drop)
}

/// A pending request of this user, with its client; someone else's is `None`.
pub fn find_request(
    conn: &mut DbConnection,
    user_id: &str,
    id: &str,
) -> QueryResult<Option<(RequestRow, ClientRow)>> {
    oauth_requests::table
        .inner_join(oauth_clients::table)
        .filter(oauth_requests::id.eq(id))
        .filter(oauth_requests::user_id.eq(user_id))
        .select((RequestRow::as_select(), ClientRow::as_select()))
        .first::<(RequestRow, ClientRow)>(conn)
        .optional()
        // A request of a client disabled since is no request: nobody may allow it.
        .map(|found| found.filter(|(_, c)| c.metadata.disabled_at.is_none()))
}

/// Deletes a request; `false` when another decision already took it.
pub fn take_request(conn: &mut DbConnection, id: &str) -> QueryResult<bool> {
    diesel::delete(oauth_requests::table.find(id))
        .execute(conn)
        .map(|n| n == 1)
}

/// `Debug` is written by hand: the private key never prints.
#[derive(Clone, Queryable, Selectable)]
#[diesel(table_name = signing_keys)]
pub struct SigningKeyRow {
    pub id: String,
    pub algorithm: String,
    /// Base64 of the PKCS#8 document.
    pub private_key: String,
    /// Base64url of the raw public key.
    pub public_key: String,
    pub created_at: NaiveDateTime,
    pub retired_at: Option<NaiveDateTime>,
}

/// `Debug` is written by hand: the private key never prints.
#[derive(Insertable)]
#[diesel(table_name = signing_keys)]
pub struct NewSigningKey<'a> {
    pub id: &'a str,
    pub algorithm: &'a str,
    pub private_key: &'a str,
    pub public_key: &'a str,
    pub created_at: NaiveDateTime,
}

impl std::fmt::Debug for SigningKeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRow")
            .field("id", &self.id)
            .field("algorithm", &self.algorithm)
            .field("private_key", &"<redacted>")
            .field("public_key", &self.public_key)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish()
    }
}

impl std::fmt::Debug for NewSigningKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSigningKey")
            .field("id", &self.id)
            .field("algorithm", &self.algorithm)
            .field("private_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Keys still published: the current one and those retired less than `keep` ago.
pub fn signing_keys(
    conn: &mut DbConnection,
    retired_after: NaiveDateTime,
) -> QueryResult<Vec<SigningKeyRow>> {
    signing_keys::table
        .filter(
            signing_keys::retired_at
                .is_null()
                .or(signing_keys::retired_at.gt(retired_after)),
        )
        .order(signing_keys::created_at.desc())
        .select(SigningKeyRow::as_select())
        .load(conn)
}

pub fn insert_signing_key(conn: &mut DbConnection, new: &NewSigningKey<'_>) -> QueryResult<()> {
    diesel::insert_into(signing_keys::table)
        .values(new)
        .execute(conn)
        .map(drop)
}

/// Retires every current key but those in `keep`.
/// Retires the current keys of one algorithm but `keep` (a new key that replaces
/// keys this process could not use).
pub fn retire_other_signing_keys(
    conn: &mut DbConnection,
    algorithm: &str,
    keep: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(
        signing_keys::table
            .filter(signing_keys::algorithm.eq(algorithm))
            .filter(signing_keys::id.ne(keep))
            .filter(signing_keys::retired_at.is_null()),
    )
    .set(signing_keys::retired_at.eq(Some(now)))
    .execute(conn)
    .map(drop)
}

pub fn retire_signing_keys(
    conn: &mut DbConnection,
    keep: &[String],
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(
        signing_keys::table
            .filter(signing_keys::id.ne_all(keep))
            .filter(signing_keys::retired_at.is_null()),
    )
    .set(signing_keys::retired_at.eq(Some(now)))
    .execute(conn)
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_keys_do_not_print_their_private_half() {
        let now = chrono::Utc::now().naive_utc();
        let row = SigningKeyRow {
            id: "kid".into(),
            algorithm: "EdDSA".into(),
            private_key: "PRIVATE-KEY-MATERIAL".into(),
            public_key: "public".into(),
            created_at: now,
            retired_at: None,
        };
        assert!(!format!("{row:?}").contains("PRIVATE-KEY-MATERIAL"));
        let new = NewSigningKey {
            id: "kid",
            algorithm: "EdDSA",
            private_key: "PRIVATE-KEY-MATERIAL",
            public_key: "public",
            created_at: now,
        };
        assert!(!format!("{new:?}").contains("PRIVATE-KEY-MATERIAL"));
    }
}
