//! `GET /api/v1/audit-events`: a user's own events, or the whole subscription's for
//! admins, newest first; filtered by actor, action and time; JSON pages or CSV.

#[allow(unused_imports)] // Named by the `#[utoipa::path]` attributes.
use crate::error::responses::*;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, NaiveDateTime};
use gatehouse_types::codes;
use serde::Deserialize;

use super::store::{self, AuditEventRow, AuditFilter};
use crate::auth::{Action, Authenticated};
use crate::clock;
use crate::csv;
use crate::error::ApiError;
use crate::pagination::{PageParams, id_param, page, text_param, time_key};
use crate::state::AppState;

/// The audit log's filters; its page is [`PageParams`]' (named field by field, since
/// flattening breaks number parsing in query strings).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    #[param(ignore)]
    limit: Option<i64>,
    #[param(ignore)]
    cursor: Option<String>,
    /// `all` (admins only) or `me`; admins default to `all`, others to `me`.
    #[param(value_type = AuditScope, required = false)]
    scope: Option<String>,
    /// A user id: only that actor's events (with scope `all`).
    #[param(value_type = uuid::Uuid, required = false)]
    actor: Option<String>,
    /// Only this action, e.g. `api_key.reset`. At most 100 characters, no control
    /// characters.
    #[param(value_type = String, required = false, max_length = 100, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    action: Option<String>,
    /// RFC 3339; events at or after.
    #[param(value_type = String, required = false, format = DateTime)]
    since: Option<String>,
    /// RFC 3339; events before.
    #[param(value_type = String, required = false, format = DateTime)]
    until: Option<String>,
}

/// Whose events: one's own or (admins) the whole subscription's.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // Describes `AuditQuery::scope` in the API description only.
pub enum AuditScope {
    Me,
    All,
}

fn time_param(name: &'static str, value: Option<&str>) -> Result<Option<NaiveDateTime>, ApiError> {
    value
        .map(|v| {
            DateTime::parse_from_rfc3339(v)
                .map(|t| t.naive_utc())
                .map_err(|_| ApiError::BadRequest {
                    code: codes::INVALID_PARAMETER,
                    message: format!(
                        "`{name}` must be an RFC 3339 time, e.g. 2026-01-31T00:00:00Z."
                    ),
                    details: Some(serde_json::json!({"field": name})),
                })
        })
        .transpose()
}

#[utoipa::path(
    get,
    path = "/api/v1/audit-events",
    operation_id = "list_audit_events",
    tag = "audit",
    summary = "The audit log, newest first: the events one did or that concern one (one's account, one's keys), or the whole subscription's for admins. `Accept: text/csv` downloads the whole filtered log.",
    security(("session" = []), ("bearer" = []), ("oauth2" = ["api:read"]), ("zsessionid" = [])),
    params(PageParams, AuditQuery),
    responses((status = 200, description = "A page of events, or CSV.", content((gatehouse_types::Page<gatehouse_types::AuditEvent> = "application/json"), (String = "text/csv"))), (status = 400, response = E400), (status = 401, response = E401), (status = 403, response = E403))
)]
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    Authenticated(principal): Authenticated,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let all = match query.scope.as_deref() {
        Some("me") => false,
        Some("all") => true,
        None => principal.is_admin(),
        Some(_) => {
            return Err(ApiError::bad_request(
                codes::INVALID_PARAMETER,
                "`scope` must be `me` or `all`.",
            ));
        }
    };
    if all {
        principal.require(Action::ViewSubscriptionAudit)?;
    }
    let filter = AuditFilter {
        involving: (!all).then(|| principal.user.id.to_string()),
        actor_id: id_param("actor", query.actor)?,
        action: text_param("action", query.action, 100)?,
        since: time_param("since", query.since.as_deref())?,
        until: time_param("until", query.until.as_deref())?,
    };
    let params = PageParams {
        limit: query.limit,
        cursor: query.cursor,
    };
    let limit = params.limit()?;
    let before = params.time_cursor()?;
    let subscription_id = principal.subscription.id.clone();
    if csv::wanted(&req) {
        let batches = state.db.read_batches(
            csv::BATCH,
            move |conn, before, batch| store::list(conn, &subscription_id, &filter, before, batch),
            |r: &AuditEventRow| (r.created_at, r.id.clone()),
        );
        return csv::download("audit-events.csv", CSV_HEADER, batches, csv_row).await;
    }
    let rows = state
        .db
        .read(move |conn| {
            Ok(store::list(
                conn,
                &subscription_id,
                &filter,
                before.clone(),
                limit,
            )?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(page(
        rows,
        limit,
        |r| time_key(r.created_at, &r.id),
        super::to_api,
    )))
}

pub const CSV_HEADER: [&str; 13] = [
    "id",
    "created_at",
    "action",
    "actor_id",
    "actor_username",
    "credential_kind",
    "credential_id",
    "target_type",
    "target_id",
    "subject_user_id",
    "ip",
    "user_agent",
    "details",
];

pub fn csv_row(r: AuditEventRow) -> [String; 13] {
    [
        r.id,
        clock::utc(r.created_at).to_rfc3339(),
        r.action,
        r.actor_id.unwrap_or_default(),
        r.actor_username.unwrap_or_default(),
        r.credential_kind.unwrap_or_default(),
        r.credential_id.unwrap_or_default(),
        r.target_type.unwrap_or_default(),
        r.target_id.unwrap_or_default(),
        r.subject_user_id.unwrap_or_default(),
        r.ip.unwrap_or_default(),
        r.user_agent.unwrap_or_default(),
        r.details,
    ]
}
