//! `/api/v1/authorized-apps`: a user's authorized applications, and revoking one.

#[allow(unused_imports)] // Named by the `#[utoipa::path]` attributes.
use crate::error::responses::*;
use actix_web::{HttpResponse, web};
use gatehouse_types::{AuthorizedApp, Page};
use serde_json::json;

use super::store::{self, Holder};
use crate::audit::Audit;
use crate::auth::cache::Invalidate;
use crate::auth::{Action, Authenticated, ClientMeta};
use crate::error::ApiError;
use crate::pagination::{PageParams, page, time_key};
use crate::state::AppState;

#[utoipa::path(
    get,
    path = "/api/v1/authorized-apps",
    operation_id = "list_authorized_apps",
    tag = "authorized-apps",
    summary = "One's authorized applications, active and revoked (session or API key).",
    security(("session" = []), ("bearer" = []), ("zsessionid" = [])),
    params(PageParams),
    responses((status = 200, description = "A page of grants.", body = Page<AuthorizedApp>), (status = 400, response = E400), (status = 401, response = E401), (status = 403, response = E403))
)]
pub async fn list_apps(
    state: web::Data<AppState>,
    Authenticated(principal): Authenticated,
    query: web::Query<PageParams>,
) -> Result<web::Json<Page<AuthorizedApp>>, ApiError> {
    principal.require(Action::ManageAuthorizedApps)?;
    let limit = query.limit()?;
    let before = query.time_cursor()?;
    let user_id = principal.user.id.clone();
    let rows = state
        .db
        .read(move |conn| Ok(store::list_for_user(conn, &user_id, before.clone(), limit)?))
        .await?;
    Ok(web::Json(page(
        rows,
        limit,
        |(g, _)| time_key(g.created_at, &g.id),
        |(g, c)| super::to_api(&g, &c),
    )))
}

#[utoipa::path(
    get,
    path = "/api/v1/users/{id}/authorized-apps",
    operation_id = "list_user_authorized_apps",
    tag = "authorized-apps",
    summary = "A person's authorized applications, active and revoked (admin): what acts for them besides their keys.",
    security(("session" = []), ("bearer" = []), ("zsessionid" = [])),
    params(("id" = uuid::Uuid, Path, description = "The person's user id."), PageParams),
    responses((status = 200, description = "A page of grants.", body = Page<AuthorizedApp>), (status = 400, response = E400), (status = 401, response = E401), (status = 403, response = E403), (status = 404, response = E404))
)]
pub async fn list_user_apps(
    state: web::Data<AppState>,
    Authenticated(principal): Authenticated,
    path: web::Path<String>,
    query: web::Query<PageParams>,
) -> Result<web::Json<Page<AuthorizedApp>>, ApiError> {
    principal.require(Action::ViewPeoplesApps)?;
    let user_id = path.into_inner();
    crate::routing::id_or_404(&user_id)?;
    let limit = query.limit()?;
    let before = query.time_cursor()?;
    let sub_id = principal.subscription.id.clone();
    let rows = state
        .db
        .read(move |conn| {
            // Someone of another subscription is 404, as one who does not exist.
            crate::db::users::find_in_subscription(conn, &sub_id, &user_id)?
                .ok_or(ApiError::NotFound)?;
            Ok(store::list_for_user(conn, &user_id, before.clone(), limit)?)
        })
        .await?;
    Ok(web::Json(page(
        rows,
        limit,
        |(g, _)| time_key(g.created_at, &g.id),
        |(g, c)| super::to_api(&g, &c),
    )))
}

#[utoipa::path(
    post,
    path = "/api/v1/authorized-apps/{id}/revoke",
    operation_id = "revoke_authorized_app",
    tag = "authorized-apps",
    summary = "Revoke: every access and refresh token of the grant stops at once. Signing in through the app again re-enables it with new tokens.",
    security(("session" = [], "csrf" = []), ("bearer" = []), ("zsessionid" = [])),
    params(("id" = uuid::Uuid, Path, description = "The record's id.")),
    responses((status = 200, description = "The revoked grant.", body = AuthorizedApp), (status = 401, response = E401), (status = 403, response = E403), (status = 404, response = E404))
)]
pub async fn revoke_app(
    state: web::Data<AppState>,
    meta: ClientMeta,
    Authenticated(principal): Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Action::ManageAuthorizedApps)?;
    let id = path.into_inner();
    crate::routing::id_or_404(&id)?;
    let user_id = principal.user.id.clone();
    let audit = Audit::by(&principal, &meta, "oauth_grant.revoked")
        .target("oauth_grant", &id)
        .subject(&principal.user.id);
    let now = state.clock.now();
    let grant_id = id.clone();
    let app = state
        .db
        .write(move |conn| {
            // Only one's own grants: anyone else's is 404.
            let grant = store::find_by_id(conn, &grant_id)?
                .filter(|g| g.user_id == user_id)
                .ok_or(ApiError::NotFound)?;
            let mut logouts = Vec::new();
            if store::revoke(conn, Holder::User(&user_id), &grant.id, now)? {
                audit
                    .clone()
                    .details(json!({"client": grant.client_id}))
                    .record(conn)?;
                // The app's own sessions for this person end too (Back-Channel Logout).
                logouts = crate::logout::targets(conn, store::LogoutScope::Grant(&grant.id), now)?;
            }
            let (grant, client) =
                store::find_with_client(conn, &grant_id)?.ok_or(ApiError::NotFound)?;
            Ok((super::to_api(&grant, &client), logouts))
        })
        .await?;
    let (app, logouts) = app;
    state.auth.invalidate(Invalidate::Grant(&id));
    crate::logout::send(&state, logouts, "app_revoked");
    Ok(HttpResponse::Ok().json(app))
}
