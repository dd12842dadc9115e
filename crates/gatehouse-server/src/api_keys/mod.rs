//! API keys: long-lived credentials that let scripts call the API as their user.
//!
//! A key is `gatk_` + 40 random base62 characters + a 6-character CRC32 checksum; the
//! database keeps only its hash, under a unique index. What a key may do is decided on
//! every request from its permission, its user's current role and state, and the
//! subscription's switch — see [`authenticate`]. Verified keys are cached per process
//! for a couple of seconds (`auth::cache`), so the hot path rarely touches the database.

pub mod handlers;

use crate::db::api_keys as store;

use std::sync::Arc;

use actix_web::web;
use chrono::{NaiveDateTime, TimeDelta};
use gatehouse_types::{ApiKey, Permission, UserState, codes};

use crate::auth::cache::CachedKey;
use crate::auth::{Principal, Via, effective_state, tokens};
use crate::clock;
use crate::error::ApiError;
use crate::routing::resource;
use crate::state::AppState;

pub const SECRET_PREFIX: &str = "gatk_";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/api-keys")
            .get(handlers::list_keys)
            .post(handlers::create_key),
    )
    .service(
        resource("/api-keys/{id}")
            .get(handlers::get_key)
            .patch(handlers::rename_key)
            .delete(handlers::delete_key),
    )
    .service(resource("/api-keys/{id}/reset").post(handlers::reset_key))
    .service(resource("/subscription/api-keys").get(handlers::list_subscription_keys));
}

fn invalid() -> ApiError {
    ApiError::unauthorized(codes::API_KEY_INVALID, "The API key is not valid.")
}

/// Resolves an API key into a principal, or 401 with the reason: `api_key_invalid`
/// (malformed, unknown, deleted or reset), `api_keys_disabled`, `api_key_expired`,
/// `user_inactive`. Nothing in the answer says anything about other keys.
pub async fn authenticate(
    state: &web::Data<AppState>,
    secret: &str,
) -> Result<Principal, ApiError> {
    // Offline first: a typo or a random string never reaches the database.
    if !tokens::has_valid_checksum(SECRET_PREFIX, secret) {
        return Err(invalid());
    }
    let hash = state.tokens.hash(secret);
    let entry = match state.keys.get(&hash) {
        Some(entry) => entry,
        None => {
            let generation = state.keys.generation();
            let lookup = hash.clone();
            let found = state
                .db_read(move |conn| Ok(store::find_for_auth(conn, &lookup)?))
                .await?;
            let (key, user, subscription) = found.ok_or_else(invalid)?;
            // The unique index matched the hash; compare it once more in constant
            // time so that correctness never rests on the database's collation.
            if !tokens::constant_time_eq(&key.secret_hash, &hash) {
                return Err(invalid());
            }
            let entry = Arc::new(CachedKey::new(key, user, subscription));
            state.keys.insert(hash, entry.clone(), generation);
            entry
        }
    };
    let now = clock::now();
    if !entry.subscription.api_keys_enabled {
        return Err(ApiError::unauthorized(
            codes::API_KEYS_DISABLED,
            gatehouse_types::error::API_KEYS_DISABLED_MESSAGE,
        ));
    }
    if entry.key.expires_at.is_some_and(|at| at <= now) {
        return Err(ApiError::unauthorized(
            codes::API_KEY_EXPIRED,
            "The API key has expired.",
        ));
    }
    if effective_state(&entry.user) != UserState::Active {
        return Err(ApiError::unauthorized(
            codes::USER_INACTIVE,
            "The API key's user is disabled or locked.",
        ));
    }
    let id = entry.key.id.clone();
    crate::auth::cache::record_use(state, &entry.last_touch, now, "api key", move |conn| {
        Ok(store::touch(conn, &id, now)?)
    });
    let key_permission = Permission::parse(&entry.key.permission).unwrap_or(Permission::ReadOnly);
    let permission = if key_permission == Permission::FullAccess
        && may_hold_full_access(
            &entry.subscription.api_key_full_access_roles,
            &entry.user.role,
        ) {
        Permission::FullAccess
    } else {
        Permission::ReadOnly
    };
    Ok(Principal {
        user: entry.user.clone(),
        subscription: entry.subscription.clone(),
        via: Via::ApiKey {
            id: entry.key.id.clone(),
            name: entry.key.name.clone(),
            key_permission,
            permission,
        },
    })
}

/// Whether a role may hold (and use) full-access keys under the subscription's
/// `api_key_full_access_roles` (stored comma-separated).
pub fn may_hold_full_access(roles: &str, role: &str) -> bool {
    roles.split(',').any(|r| r.trim() == role)
}

/// The latest expiry a key may have: the end of the year 9999, the last instant RFC 3339
/// writes with four digits and both backends store and compare alike.
pub fn latest_expiry() -> NaiveDateTime {
    chrono::NaiveDate::from_ymd_opt(9999, 12, 31)
        .and_then(|d| d.and_hms_opt(23, 59, 59))
        .unwrap_or(NaiveDateTime::MAX)
}

/// The expiry a new or reset key gets: the one asked for, which must be in the future,
/// within the subscription's maximum lifetime and no later than [`latest_expiry`]; or,
/// with none asked for, that maximum (if any). Date arithmetic is checked: what would
/// overflow is a 422, never a panic.
pub fn expiry(
    asked: Option<NaiveDateTime>,
    max_lifetime_days: Option<i64>,
    now: NaiveDateTime,
) -> Result<Option<NaiveDateTime>, ApiError> {
    let too_late =
        || ApiError::validation("expires_at", "must be no later than 9999-12-31T23:59:59Z");
    let cap = match max_lifetime_days {
        Some(d) => Some(
            TimeDelta::try_days(d)
                .and_then(|delta| now.checked_add_signed(delta))
                .ok_or_else(too_late)?
                .min(latest_expiry()),
        ),
        None => None,
    };
    match (asked, cap) {
        (Some(at), _) if at <= now => {
            Err(ApiError::validation("expires_at", "must be in the future"))
        }
        (Some(at), _) if at > latest_expiry() => Err(too_late()),
        (Some(at), Some(cap)) if at > cap => Err(ApiError::validation(
            "expires_at",
            format!(
                "must be within the subscription's maximum key lifetime of {} days",
                max_lifetime_days.unwrap_or_default()
            ),
        )),
        (Some(at), _) => Ok(Some(at)),
        (None, cap) => Ok(cap),
    }
}

pub fn to_api(row: &store::ApiKeyRow) -> ApiKey {
    ApiKey {
        id: row.id.clone(),
        name: row.name.clone(),
        permission: Permission::parse(&row.permission).unwrap_or(Permission::ReadOnly),
        hint: row.hint.clone(),
        user_id: row.user_id.clone(),
        created_at: clock::utc(row.created_at),
        updated_at: clock::utc(row.updated_at),
        last_used_at: row.last_used_at.map(clock::utc),
        last_reset_at: row.last_reset_at.map(clock::utc),
        expires_at: row.expires_at.map(clock::utc),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_respects_the_cap() {
        let now = clock::now();
        assert_eq!(expiry(None, None, now).unwrap(), None);
        assert_eq!(
            expiry(None, Some(30), now).unwrap(),
            Some(now + TimeDelta::days(30))
        );
        let soon = now + TimeDelta::days(10);
        assert_eq!(expiry(Some(soon), Some(30), now).unwrap(), Some(soon));
        assert!(expiry(Some(now + TimeDelta::days(31)), Some(30), now).is_err());
        assert!(expiry(Some(now - TimeDelta::seconds(1)), None, now).is_err());
    }

    #[test]
    fn full_access_follows_the_role_list() {
        assert!(may_hold_full_access("admin,editor", "editor"));
        assert!(!may_hold_full_access("admin,editor", "viewer"));
        assert!(!may_hold_full_access("", "admin"));
    }
}
