//! API keys: long-lived credentials that let scripts call the API as their user.
//!
//! A key is `gatk_` + 40 random base62 characters + a 6-character CRC32 checksum; the
//! database keeps only its hash, under a unique index. What a key may do is decided on
//! every request from its permission, its user's current role and state, and the
//! subscription's switch — see [`authenticate`]. Verified keys are cached per process
//! for a couple of seconds (`auth::cache`), so the hot path rarely touches the database.

pub mod handlers;

use crate::db::api_keys as store;

use actix_web::web;
use chrono::{NaiveDateTime, TimeDelta};
use gatehouse_types::ApiKey;

use crate::clock;
use crate::error::ApiError;
use crate::routing::resource;

pub use crate::auth::api_key::SECRET_PREFIX;

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
        permission: row.permission,
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
        let now = clock::system_now();
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
        assert!(crate::auth::role_listed(
            "admin,editor",
            gatehouse_types::Role::Editor
        ));
        assert!(!crate::auth::role_listed(
            "admin,editor",
            gatehouse_types::Role::Viewer
        ));
        assert!(!crate::auth::role_listed("", gatehouse_types::Role::Admin));
    }
}
