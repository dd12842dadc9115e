//! The operator's commands (`gatehouse users …`, `keys revoke`, `grants revoke`, `audit
//! export`, `doctor`): what an administrator does in the web app, done at the command
//! line on the database directly, for when nobody can sign in. Every change is one
//! transaction with its audit event (`credential_kind: cli`, the operating-system user
//! in `details.operator`), and tells running replicas at its commit (PostgreSQL
//! `NOTIFY`; on SQLite their caches let go within `credential_cache_seconds`).

use std::io::Write;

use chrono::NaiveDateTime;
use gatehouse_types::UserState;
use serde_json::json;

use crate::audit::Audit;
use crate::auth::ClientMeta;
use crate::auth::cache::Invalidate;
use crate::clock;
use crate::config::ExportFormat;
use crate::db::api_keys::{self as keys_store, ApiKeyRow};
use crate::db::audit::{self as audit_store, AuditEventRow, AuditFilter};
use crate::db::grants::{self as grants_store, Holder};
use crate::db::notify;
use crate::db::subscriptions::{self as subscriptions_store, SubscriptionRow};
use crate::db::users::{self as users_store, UserRow};
use crate::db::{self, DbConnection};
use crate::error::ApiError;
use crate::users::rules;

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

/// Disables or unlocks a user by the rules an administrator's change follows
/// ([`rules::apply`]); returns the user as now stored. The applications a disabled
/// person used are not told by Back-Channel Logout from here (the command has no
/// outbound client): their tokens fail at their next check.
pub fn change_user(
    conn: &mut DbConnection,
    user: &UserRow,
    command: UserCommand,
) -> Result<UserRow, ApiError> {
    let now = clock::system_now();
    let (sub_id, user_id) = (user.subscription_id.clone(), user.id.clone());
    let to = match command {
        UserCommand::Disable => UserState::Disabled,
        UserCommand::Unlock => UserState::Active,
    };
    let change = rules::Change::new(None, Some(to), now);
    let lock_event = |action| {
        event(action, &sub_id)
            .target("user", &user_id)
            .details(json!({"reason": "operator", "operator": operator()}))
    };
    db::write_now(conn, |conn| {
        let applied = rules::apply(conn, &sub_id, &user_id, &change, now, lock_event)?;
        event("user.updated", &sub_id)
            .target("user", &user_id)
            .details(json!({
                "state": {"from": applied.before.state.as_str(), "to": to.as_str()},
                "operator": operator(),
            }))
            .record(conn)?;
        tell(conn, Invalidate::User(&user_id))?;
        Ok(applied.after)
    })
}

/// Deletes an API key: it stops at once on this database's replicas.
pub fn revoke_key(conn: &mut DbConnection, id: &str) -> Result<ApiKeyRow, ApiError> {
    db::write_now(conn, |conn| {
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
}

/// Revokes an authorized application (a grant) and its refresh tokens; its access
/// tokens fail at their next check. Returns whether it was active.
pub fn revoke_grant(conn: &mut DbConnection, id: &str) -> Result<bool, ApiError> {
    let now = clock::system_now();
    db::write_now(conn, |conn| {
        let grant = grants_store::find_by_id(conn, id)?.ok_or(ApiError::NotFound)?;
        let was_active = grants_store::revoke(conn, Holder::User(&grant.user_id), &grant.id, now)?;
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
