//! Creating a subscription and its first admin: by `gatehouse bootstrap`, and by
//! `gatehouse serve` on an empty database, which hands the generated password over
//! through a terminal or through an owner-only file, never through its log.

use std::io::Write;
use std::path::{Path, PathBuf};

use gatehouse_types::{Role, UserState, codes, validate};
use serde_json::json;

use crate::audit::Audit;
use crate::auth::ClientMeta;
use crate::clock;
use crate::db::DbConnection;
use crate::db::subscriptions as subscriptions_store;
use crate::db::users as users_store;
use crate::error::ApiError;

#[derive(Debug, Clone)]
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
    let now = clock::system_now();
    let audit = Audit::unauthenticated(&ClientMeta::cli(), "subscription.created")
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

/// The subscription and user a bootstrap asks for, when both exist already: the
/// username belongs to a user of a subscription of that name. Running the same
/// bootstrap again (a deployment does, on every start) then changes nothing.
pub fn existing(
    conn: &mut DbConnection,
    subscription_name: &str,
    username: &str,
) -> Result<Option<Bootstrapped>, ApiError> {
    let name = validate::subscription_name(subscription_name)
        .map_err(|m| ApiError::validation("subscription", m))?;
    let username = validate::username(username).map_err(|m| ApiError::validation("username", m))?;
    Ok(users_store::find_by_username(conn, &username)?
        .filter(|(_, subscription)| subscription.name == name)
        .map(|(user, subscription)| Bootstrapped {
            subscription_id: subscription.id,
            user_id: user.id,
        }))
}

/// The file, in the data directory, that `serve` leaves the first admin's password in
/// when its standard output is not a terminal.
pub const FIRST_ADMIN_FILE: &str = "first-admin-password";

/// Creates `dir/first-admin-password` holding the username and password, readable and
/// writable by its owner only (on Unix). The file must not exist yet: whatever is
/// there, a stale file or a planted symlink, is neither followed nor overwritten.
pub fn write_first_admin_file(
    dir: &Path,
    url: &str,
    username: &str,
    password: &str,
) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(FIRST_ADMIN_FILE);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path)?;
    let written = writeln!(
        file,
        "# Gatehouse's first admin, written once by `gatehouse serve` on an empty database.\n\
         # Sign in at {url}, change the password, then delete this file.\n\
         username: {username}\n\
         password: {password}"
    )
    .and_then(|()| file.sync_all());
    if let Err(e) = written {
        drop(file);
        let _ = std::fs::remove_file(&path);
        return Err(e);
    }
    Ok(path)
}

pub fn is_empty(conn: &mut DbConnection) -> Result<bool, ApiError> {
    Ok(subscriptions_store::count(conn)? == 0)
}
