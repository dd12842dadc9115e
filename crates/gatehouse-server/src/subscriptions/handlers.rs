//! `GET` and `PATCH /api/v1/subscription`.

#[allow(unused_imports)] // Named by the `#[utoipa::path]` attributes.
use crate::error::responses::*;
use actix_web::web;
use gatehouse_types::{Role, Subscription, TwoStepPolicy, UpdateSubscription, validate};
use serde_json::json;

use super::store::{self, SubscriptionChanges};
use crate::audit::Audit;
use crate::auth::cache::Invalidate;
use crate::auth::{Action, Authenticated, ClientMeta};
use crate::error::ApiError;
use crate::state::AppState;

#[utoipa::path(
    get,
    path = "/api/v1/subscription",
    operation_id = "get_subscription",
    tag = "subscription",
    summary = "The caller's subscription and its settings.",
    security(("session" = []), ("bearer" = []), ("oauth2" = ["api:read"]), ("zsessionid" = [])),
    responses((status = 200, description = "The subscription.", body = Subscription), (status = 401, response = E401), (status = 403, response = E403))
)]
pub async fn get_subscription(Authenticated(principal): Authenticated) -> web::Json<Subscription> {
    web::Json(super::to_api(&principal.subscription))
}

fn in_range(
    field: &'static str,
    value: Option<u32>,
    min: u32,
    max: u32,
) -> Result<Option<i64>, ApiError> {
    match value {
        Some(v) if !(min..=max).contains(&v) => Err(ApiError::validation(
            field,
            format!("must be between {min} and {max}"),
        )),
        other => Ok(other.map(i64::from)),
    }
}

#[utoipa::path(
    patch,
    path = "/api/v1/subscription",
    operation_id = "update_subscription",
    tag = "subscription",
    summary = "Change the name or settings (admin, signed-in session).",
    security(("session" = [], "csrf" = [])),
    request_body = UpdateSubscription,
    responses((status = 200, description = "The updated subscription.", body = Subscription), (status = 400, response = E400), (status = 401, response = E401), (status = 403, response = E403), (status = 408, response = E408), (status = 413, response = E413), (status = 415, response = E415), (status = 422, response = E422))
)]
pub async fn update_subscription(
    state: web::Data<AppState>,
    meta: ClientMeta,
    Authenticated(principal): Authenticated,
    body: crate::routing::JsonBody<UpdateSubscription>,
) -> Result<web::Json<Subscription>, ApiError> {
    principal.require(Action::ChangeSettings)?;
    let body = body.into_inner();
    let now = state.clock.now();
    let current = principal.subscription.two_step_policy;
    let stricter = |p: TwoStepPolicy| {
        Role::ALL
            .into_iter()
            .any(|r| p.requires(r) && !current.requires(r))
    };
    if let Some(policy) = body.two_step_policy
        && policy.requires(principal.user.role)
    {
        // Never a policy that would shut out the administrator setting it.
        let user_id = principal.user.id.clone();
        let has_one = state
            .db
            .read(move |conn| Ok(crate::db::second_factors::has_confirmed(conn, &user_id)?))
            .await?;
        if !has_one {
            return Err(ApiError::validation(
                "two_step_policy",
                "set up a second step of sign-in for yourself first (Profile → Two-step sign-in)",
            ));
        }
    }
    let changes = SubscriptionChanges {
        two_step_policy: body.two_step_policy.map(|p| p.as_str().to_string()),
        // Counted from when the policy began to ask more people: the grace period.
        two_step_required_since: match body.two_step_policy {
            Some(TwoStepPolicy::Optional) => Some(None),
            Some(p) if stricter(p) => Some(Some(now)),
            _ => None,
        },
        two_step_grace_days: in_range("two_step_grace_days", body.two_step_grace_days, 1, 90)?,
        name: body
            .name
            .as_deref()
            .map(|n| validate::subscription_name(n).map_err(|m| ApiError::validation("name", m)))
            .transpose()?,
        api_keys_enabled: body.api_keys_enabled,
        api_key_max_lifetime_days: match body.api_key_max_lifetime_days {
            None => None,
            Some(None) => Some(None),
            Some(days) => Some(in_range("api_key_max_lifetime_days", days, 1, 3650)?),
        },
        api_key_full_access_roles: body
            .api_key_full_access_roles
            .as_deref()
            .map(super::format_roles),
        oauth_client_roles: body.oauth_client_roles.as_deref().map(super::format_roles),
        session_idle_minutes: in_range(
            "session_idle_minutes",
            body.session_idle_minutes,
            1,
            43_200,
        )?,
        session_max_hours: in_range("session_max_hours", body.session_max_hours, 1, 8_760)?,
        login_lockout_threshold: in_range(
            "login_lockout_threshold",
            body.login_lockout_threshold,
            1,
            1_000,
        )?,
        updated_at: Some(now),
    };
    // The body holds no secrets; the changed settings are the audit's details.
    let audit = Audit::by(&principal, &meta, "subscription.updated")
        .target("subscription", &principal.subscription.id)
        .details(json!({ "changes": body }));
    let id = principal.subscription.id.clone();
    let row = audit
        .write(&state.db, move |conn| {
            store::update(conn, &id, &changes)?;
            Ok(store::find(conn, &id)?)
        })
        .await?;
    state.auth.invalidate(Invalidate::Subscription(&row.id));
    Ok(web::Json(super::to_api(&row)))
}
