//! `GET /api/v1/audit-events`: a user's own events, or the whole subscription's for
//! admins, newest first.

use actix_web::web;
use chrono::{DateTime, NaiveDateTime};
use gatehouse_types::{AuditEvent, Page, codes};
use serde::Deserialize;

use super::store;
use crate::auth::{Action, Authenticated};
use crate::error::ApiError;
use crate::pagination::{PageParams, page};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    // Not `#[serde(flatten)] PageParams`: flattening breaks number parsing in query
    // strings.
    limit: Option<i64>,
    cursor: Option<String>,
    /// `all` (admins only) or `me`; admins default to `all`.
    scope: Option<String>,
}

pub async fn list(
    state: web::Data<AppState>,
    Authenticated(principal): Authenticated,
    query: web::Query<AuditQuery>,
) -> Result<web::Json<Page<AuditEvent>>, ApiError> {
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
    let query = query.into_inner();
    let page_params = PageParams {
        limit: query.limit,
        cursor: query.cursor,
    };
    let limit = page_params.limit()?;
    let before = match page_params.cursor()? {
        None => None,
        Some(c) => Some(decode_cursor(&c).ok_or_else(|| {
            ApiError::bad_request(codes::INVALID_PARAMETER, "`cursor` is not valid.")
        })?),
    };
    let subscription_id = principal.subscription.id.clone();
    let actor = (!all).then(|| principal.user.id.clone());
    let rows = state
        .db(move |conn| {
            Ok(store::list(
                conn,
                &subscription_id,
                actor.as_deref(),
                before.clone(),
                limit,
            )?)
        })
        .await?;
    Ok(web::Json(page(
        rows,
        limit,
        |r| format!("{}|{}", r.created_at.and_utc().to_rfc3339(), r.id),
        super::to_api,
    )))
}

fn decode_cursor(c: &str) -> Option<(NaiveDateTime, String)> {
    let (at, id) = c.split_once('|')?;
    let at = DateTime::parse_from_rfc3339(at).ok()?.naive_utc();
    Some((at, id.to_string()))
}
