//! A client's service account (client credentials, RFC 6749 §4.4): a user of kind
//! `service` whose id is the client's record id, whose role is the client's
//! `service_role` (viewer or editor, never admin), and who belongs to the client — it
//! exists exactly while the client has a service role, and is deleted with the client
//! (its grant, and so every token it holds, with it). It cannot sign in: its password
//! hash is no hash, and sign-in refuses service accounts before looking at it.

use chrono::NaiveDateTime;
use gatehouse_types::{Role, UserKind, UserState};

use crate::db::DbConnection;
use crate::db::oauth_clients::ClientRow;
use crate::db::users::{self as users_store, NewServiceUser, UserChanges};
use crate::error::ApiError;

/// What no argon2 PHC string ever is.
const NO_PASSWORD: &str = "!service-account";

/// The service account's username: unique across subscriptions, as usernames are, and
/// with a `:` no person's username may contain (`validate::username`), so nobody can
/// take it first, in this subscription or another.
pub fn username(client: &ClientRow) -> String {
    format!("service:{}", client.client_id)
}

fn display_name(client: &ClientRow) -> String {
    format!("{} (service account)", client.name)
}

/// Makes the service account follow the client as it is now (`before`: as it was, or
/// `None` for a new client): created when a role is given, its role and name kept in
/// step, deleted when the role is taken away. Runs in the client's write transaction.
pub fn follow(
    conn: &mut DbConnection,
    client: &ClientRow,
    before: Option<&ClientRow>,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    let had = before.and_then(ClientRow::service_role);
    match (had, client.service_role()) {
        (None, Some(role)) => create(conn, client, role, now),
        (Some(_), None) => {
            users_store::delete(conn, &client.subscription_id, &client.id)?;
            Ok(())
        }
        (Some(old), Some(role)) => {
            let renamed = before.is_some_and(|b| b.name != client.name);
            if old != role || renamed {
                users_store::update(
                    conn,
                    &client.subscription_id,
                    &client.id,
                    &UserChanges {
                        role: Some(role.as_str().to_string()),
                        display_name: Some(display_name(client)),
                        updated_at: Some(now),
                        ..Default::default()
                    },
                )?;
            }
            Ok(())
        }
        (None, None) => Ok(()),
    }
}

fn create(
    conn: &mut DbConnection,
    client: &ClientRow,
    role: Role,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    users_store::insert_service(
        conn,
        &NewServiceUser {
            id: &client.id,
            subscription_id: &client.subscription_id,
            username: &username(client),
            display_name: &display_name(client),
            role: role.as_str(),
            state: UserState::Active.as_str(),
            password_hash: NO_PASSWORD,
            kind: UserKind::Service.as_str(),
            service_client_id: &client.id,
            created_at: now,
            updated_at: now,
        },
    )?;
    Ok(())
}
