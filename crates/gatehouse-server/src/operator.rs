//! The operator's commands (`gatehouse users …`, `keys revoke`, `grants revoke`, `audit
//! export`, `doctor`): what an administrator does in the web app, done at the command
//! line on the database directly, for when nobody can sign in. Every change is one
//! transaction with its audit event (`credential_kind: cli`, the operating-system user
//! in `details.operator`), and tells running replicas at its commit (PostgreSQL
//! `NOTIFY`; on SQLite their caches let go within `credential_cache_seconds`).

use std::io::Write;

use chrono::NaiveDateTime;
use gatehouse_types::{Role, UserState};
use serde_json::json;

use crate::audit::Audit;
use crate::auth::ClientMeta;
use crate::auth::cache::Invalidate;
use crate::clock;
use crate::config::ExportFormat;
use crate::db::DbConnection;
use crate::db::api_keys::{self as keys_store, ApiKeyRow};
use crate::db::audit::{self as audit_store, AuditEventRow, AuditFilter};
use crate::db::grants::{self as grants_store, Holder};
use crate::db::subscriptions::{self as subscriptions_store, SubscriptionRow};
use crate::db::users::{self as users_store, UserChanges, UserRow};
use crate::db::{notify, sessions as sessions_store};
use crate::error::ApiError;

/// Who runs the command, as the audit log records it.
fn operator() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

fn event(action: &'static str, subscription_id: &str) -> Audit {
    Audit::unauthenticated(&ClientMeta::cli(), action)
        .in_subscription(subscription_id)
        .credential("cli", None)
}

fn tell(conn: &mut DbConnection, change: Invalidate<'_>) -> Result<(), ApiError> {
    Ok(notify::tell(conn, &change.message())?)
}

/// A user named by id or by username (usernames are unique across subscriptions), in
/// the given subscription (id or name) if one is given.
pub fn find_user(
    conn: &mut DbConnection,
    who: &str,
    subscription: Option<&str>,
) -> anyhow::Result<(UserRow, SubscriptionRow)> {
    let wanted = match subscription {
        Some(s) => Some(find_subscription(conn, s)?.id),
        None => None,
    };
    let found = match users_store::find(conn, who)? {
        Some(user) => {
            let sub = subscriptions_store::find(conn, &user.subscription_id)?;
            Some((user, sub))
        }
        None => users_store::find_by_username(conn, &who.trim().to_lowercase())?,
    };
    found
        .filter(|(_, sub)| wanted.as_ref().is_none_or(|w| *w == sub.id))
        .ok_or_else(|| anyhow::anyhow!("no user {who:?}{}", in_subscription(subscription)))
}

fn in_subscription(subscription: Option<&str>) -> String {
    subscription.map_or(String::new(), |s| format!(" in subscription {s:?}"))
}

/// Every user, optionally of one subscription (by id or name).
pub fn list_users(
    conn: &mut DbConnection,
    subscription: Option<&str>,
) -> anyhow::Result<Vec<(UserRow, SubscriptionRow)>> {
    let id = match subscription {
        None => None,
        Some(s) => Some(find_subscription(conn, s)?.id),
    };
    Ok(users_store::all(conn, id.as_deref())?)
}

/// A subscription by id, or by name when exactly one has it: names are chosen by each
/// subscription's admins, who could copy another's, so a name that is not unique is
/// refused rather than guessed.
fn find_subscription(conn: &mut DbConnection, which: &str) -> anyhow::Result<SubscriptionRow> {
    let all = subscriptions_store::all(conn)?;
    if let Some(by_id) = all.iter().find(|s| s.id == which) {
        return Ok(by_id.clone());
    }
    let mut named: Vec<SubscriptionRow> = all.into_iter().filter(|s| s.name == which).collect();
    match named.len() {
        0 => anyhow::bail!("no subscription {which:?}"),
        1 => Ok(named.remove(0)),
        n => anyhow::bail!(
            "{n} subscriptions are named {which:?} ({}): give the id",
            named
                .iter()
                .map(|s| s.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// What `users disable` and `users unlock` do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserCommand {
    /// Ends the user's sessions and stops their keys and tokens; refused for the last
    /// active administrator, as in the web app.
    Disable,
    /// Back to `active` with both locks lifted (an admin's lock, a password lock) and
    /// no failed sign-ins counted: what an administrator's `state: active` does.
    Unlock,
}

/// Disables or unlocks a user; returns the user as now stored.
pub fn change_user(
    conn: &mut DbConnection,
    user: &UserRow,
    command: UserCommand,
) -> Result<UserRow, ApiError> {
    let now = clock::system_now();
    let (sub_id, user_id) = (user.subscription_id.clone(), user.id.clone());
    retrying(|| {
        crate::db::transaction(&mut *conn, |conn| {
            subscriptions_store::lock(conn, &sub_id)?;
            let current = users_store::find_in_subscription(conn, &sub_id, &user_id)?
                .ok_or(ApiError::NotFound)?;
            let (changes, to) = match command {
                UserCommand::Disable => {
                    let is_active_admin =
                        current.role == Role::Admin && current.state == UserState::Active;
                    if is_active_admin
                        && users_store::count_other_active_admins(conn, &sub_id, &user_id)? == 0
                    {
                        return Err(ApiError::conflict(
                            gatehouse_types::codes::LAST_ADMIN,
                            "this is the subscription's last active administrator; make someone \
                         else an administrator first",
                        ));
                    }
                    let changes = UserChanges {
                        state: Some(UserState::Disabled.as_str().into()),
                        updated_at: Some(now),
                        ..Default::default()
                    };
                    (changes, UserState::Disabled)
                }
                UserCommand::Unlock => (UserChanges::unlock(now), UserState::Active),
            };
            users_store::update(conn, &sub_id, &user_id, &changes)?;
            if command == UserCommand::Disable {
                sessions_store::delete_for_user(conn, &user_id, None, now)?;
            }
            event("user.updated", &sub_id)
                .target("user", &user_id)
                .details(json!({
                    "state": {"from": current.state.as_str(), "to": to.as_str()},
                    "operator": operator(),
                }))
                .record(conn)?;
            let locked = current.state == UserState::Locked
                || current.password_locked_until.is_some_and(|u| u > now);
            if command == UserCommand::Unlock && locked {
                event("user.unlocked", &sub_id)
                    .target("user", &user_id)
                    .details(json!({"reason": "operator", "operator": operator()}))
                    .record(conn)?;
            }
            tell(conn, Invalidate::User(&user_id))?;
            users_store::find_in_subscription(conn, &sub_id, &user_id)?.ok_or(ApiError::NotFound)
        })
    })
}

/// Deletes an API key: it stops at once on this database's replicas.
pub fn revoke_key(conn: &mut DbConnection, id: &str) -> Result<ApiKeyRow, ApiError> {
    retrying(|| {
        crate::db::transaction(&mut *conn, |conn| {
            let key = keys_store::find(conn, id)?.ok_or(ApiError::NotFound)?;
            keys_store::delete(conn, &key.subscription_id, &key.id)?;
            event("api_key.deleted", &key.subscription_id)
                .target("api_key", &key.id)
                .subject(&key.user_id)
                .details(json!({"name": key.name, "operator": operator()}))
                .record(conn)?;
            tell(conn, Invalidate::Key(&key.id))?;
            Ok(key)
        })
    })
}

/// Revokes an authorized application (a grant) and its refresh tokens; its access
/// tokens fail at their next check. Returns whether it was active.
pub fn revoke_grant(conn: &mut DbConnection, id: &str) -> Result<bool, ApiError> {
    let now = clock::system_now();
    retrying(|| {
        crate::db::transaction(&mut *conn, |conn| {
            let grant = grants_store::find_by_id(conn, id)?.ok_or(ApiError::NotFound)?;
            let was_active =
                grants_store::revoke(conn, Holder::User(&grant.user_id), &grant.id, now)?;
            if was_active {
                event("oauth_grant.revoked", &grant.subscription_id)
                    .target("oauth_grant", &grant.id)
                    .subject(&grant.user_id)
                    .details(json!({"client_id": grant.client_id, "operator": operator()}))
                    .record(conn)?;
            }
            tell(conn, Invalidate::Grant(&grant.id))?;
            Ok(was_active)
        })
    })
}

/// Runs a change again while SQLite answers "busy": a server's writer took the write
/// lock between this transaction's read and its write (the transaction rolled back
/// whole, so running it again is safe). At most for about five seconds.
fn retrying<T>(mut change: impl FnMut() -> Result<T, ApiError>) -> Result<T, ApiError> {
    let mut attempt = 0;
    loop {
        match change() {
            Err(ApiError::Busy) if attempt < 100 => {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

/// Writes a subscription's audit log (`None`: the events no subscription owns), newest
/// first, in batches of `csv::BATCH`; returns how many events it wrote.
pub fn export_audit(
    conn: &mut DbConnection,
    subscription: Option<&str>,
    format: ExportFormat,
    since: Option<NaiveDateTime>,
    until: Option<NaiveDateTime>,
    out: &mut impl Write,
) -> anyhow::Result<usize> {
    let sub = subscription
        .map(|s| find_subscription(conn, s))
        .transpose()?;
    let filter = AuditFilter {
        since,
        until,
        ..Default::default()
    };
    if format == ExportFormat::Csv {
        let mut line = String::new();
        crate::csv::line(&crate::audit::handlers::CSV_HEADER, &mut line);
        out.write_all(line.as_bytes())?;
    }
    let mut before = None;
    let mut written = 0;
    loop {
        let rows = match &sub {
            Some(sub) => {
                audit_store::list(conn, &sub.id, &filter, before.clone(), crate::csv::BATCH)?
            }
            None => {
                audit_store::list_unattributed(conn, &filter, before.clone(), crate::csv::BATCH)?
            }
        };
        let more = rows.len() as i64 > crate::csv::BATCH;
        for row in rows.into_iter().take(crate::csv::BATCH as usize) {
            before = Some((row.created_at, row.id.clone()));
            write_event(row, format, out)?;
            written += 1;
        }
        if !more {
            break;
        }
    }
    out.flush()?;
    Ok(written)
}

fn write_event(
    row: AuditEventRow,
    format: ExportFormat,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    match format {
        ExportFormat::Jsonl => {
            serde_json::to_writer(&mut *out, &crate::audit::to_api(row))?;
            out.write_all(b"\n")?;
        }
        ExportFormat::Csv => {
            let mut line = String::new();
            crate::csv::line(&crate::audit::handlers::csv_row(row), &mut line);
            out.write_all(line.as_bytes())?;
        }
    }
    Ok(())
}
