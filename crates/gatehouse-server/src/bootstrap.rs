//! Creating a subscription and its first admin: by `gatehouse bootstrap`, and by
//! `gatehouse serve` on an empty database.

use gatehouse_types::{Role, UserState, codes, validate};
use serde_json::json;

use crate::audit::Audit;
use crate::auth::ClientMeta;
use crate::clock;
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::subscriptions::store as subscriptions_store;
use crate::users::store as users_store;

pub struct Bootstrapped {
    pub subscription_id: String,
    pub user_id: String,
}

/// Creates the subscription and its admin in one transaction; the password arrives
/// already hashed.
pub fn create_subscription(
    conn: &mut DbConnection,
    subscription_name: &str,
    username: &str,
    password_hash: &str,
) -> Result<Bootstrapped, ApiError> {
    let name = validate::subscription_name(subscription_name)
        .map_err(|m| ApiError::validation("subscription", m))?;
    let username = validate::username(username).map_err(|m| ApiError::validation("username", m))?;
    let subscription_id = uuid::Uuid::now_v7().to_string();
    let user_id = uuid::Uuid::now_v7().to_string();
    let now = clock::now();
    let audit = Audit::unauthenticated(&ClientMeta::default(), "subscription.created")
        .actor(&subscription_id, &user_id, &username)
        .credential("cli", None)
        .target("subscription", &subscription_id)
        .details(json!({"name": name, "admin": username}));
    crate::db::transaction(conn, |conn| {
        subscriptions_store::insert(
            conn,
            &subscriptions_store::NewSubscription {
                id: &subscription_id,
                name: &name,
                created_at: now,
                updated_at: now,
            },
        )?;
        users_store::insert(
            conn,
            &users_store::NewUser {
                id: &user_id,
                subscription_id: &subscription_id,
                username: &username,
                display_name: &username,
                email: validate::email(&username).ok().as_deref(),
                role: Role::Admin.as_str(),
                state: UserState::Active.as_str(),
                password_hash,
                created_at: now,
                updated_at: now,
            },
        )?;
        audit.record(conn)?;
        Ok::<_, ApiError>(())
    })
    .map_err(|e| e.on_unique_violation(codes::USERNAME_TAKEN, "That username is already taken."))?;
    Ok(Bootstrapped {
        subscription_id,
        user_id,
    })
}

pub fn is_empty(conn: &mut DbConnection) -> Result<bool, ApiError> {
    Ok(subscriptions_store::count(conn)? == 0)
}
