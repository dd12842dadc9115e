//! The tenant: its name and the settings of docs/PRODUCT.md §6. Every other record belongs
//! to exactly one subscription, and every query is scoped by the caller's.

pub mod handlers;

use crate::db::subscriptions as store;

use actix_web::web;

pub use crate::db::subscriptions::{format_roles, parse_roles, to_api};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        crate::routing::resource("/subscription")
            .get(handlers::get_subscription)
            .patch(handlers::update_subscription),
    );
}

/// Roles are stored as a comma-separated list.
#[cfg(test)]
mod tests {
    use gatehouse_types::Role;

    use super::*;

    #[test]
    fn roles_round_trip_sorted_and_deduplicated() {
        let s = format_roles(&[Role::Viewer, Role::Admin, Role::Admin]);
        assert_eq!(s, "admin,viewer");
        assert_eq!(parse_roles(&s), vec![Role::Admin, Role::Viewer]);
        assert_eq!(parse_roles(""), Vec::<Role>::new());
    }
}
