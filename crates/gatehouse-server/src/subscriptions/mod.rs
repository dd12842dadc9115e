//! The tenant: its name and the settings of PRODUCT.md §6. Every other record belongs
//! to exactly one subscription, and every query is scoped by the caller's.

pub mod handlers;

use crate::db::subscriptions as store;

use actix_web::web;
use gatehouse_types::{Role, Subscription, SubscriptionSettings};

use crate::clock;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        crate::routing::resource("/subscription")
            .get(handlers::get_subscription)
            .patch(handlers::update_subscription),
    );
}

/// Roles are stored as a comma-separated list.
pub fn parse_roles(s: &str) -> Vec<Role> {
    let mut roles: Vec<Role> = s.split(',').filter_map(|r| Role::parse(r.trim())).collect();
    roles.sort();
    roles.dedup();
    roles.reverse();
    roles
}

pub fn format_roles(roles: &[Role]) -> String {
    let mut roles = roles.to_vec();
    roles.sort();
    roles.dedup();
    roles.reverse();
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

pub fn to_api(row: &store::SubscriptionRow) -> Subscription {
    Subscription {
        id: row.id.clone(),
        name: row.name.clone(),
        settings: SubscriptionSettings {
            api_keys_enabled: row.api_keys_enabled,
            api_key_max_lifetime_days: row.api_key_max_lifetime_days.map(|d| d as u32),
            api_key_full_access_roles: parse_roles(&row.api_key_full_access_roles),
            oauth_client_roles: parse_roles(&row.oauth_client_roles),
            session_idle_minutes: row.session_idle_minutes as u32,
            session_max_hours: row.session_max_hours as u32,
            login_lockout_threshold: row.login_lockout_threshold as u32,
        },
        created_at: clock::utc(row.created_at),
        updated_at: clock::utc(row.updated_at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_sorted_and_deduplicated() {
        let s = format_roles(&[Role::Viewer, Role::Admin, Role::Admin]);
        assert_eq!(s, "admin,viewer");
        assert_eq!(parse_roles(&s), vec![Role::Admin, Role::Viewer]);
        assert_eq!(parse_roles(""), Vec::<Role>::new());
    }
}
