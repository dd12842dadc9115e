//! `/api/v1/api-keys` and the admins' `/api/v1/subscription/api-keys`.

#[allow(unused_imports)] // Named by the `#[utoipa::path]` attributes.
use crate::error::responses::*;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::NaiveDateTime;
use gatehouse_types::{
    ApiKey, ApiKeyWithSecret, CreateApiKey, Page, Permission, ResetApiKey, SubscriptionApiKey,
    UpdateApiKey, codes, validate,
};
use serde::Deserialize;
use serde_json::json;

use super::store::{self, ApiKeyChanges, ApiKeyRow, NewApiKey, SortBy, SubscriptionKeyQuery};
use super::{SECRET_PREFIX, expiry, to_api};
use crate::audit::Audit;
use crate::auth::cache::Invalidate;
use crate::auth::role_listed;
use crate::auth::{Action, Authenticated, ClientMeta, Principal, tokens};
use crate::clock;
use crate::csv;
use crate::db::users::UserRow;
use crate::error::ApiError;
use crate::pagination::{PageParams, id_param, page, text_param, time_key};
use crate::routing::optional_json;
use crate::state::AppState;

fn keys_disabled() -> ApiError {
    ApiError::forbidden(
        codes::API_KEYS_DISABLED,
        gatehouse_types::error::API_KEYS_DISABLED_MESSAGE,
    )
}

fn require_keys_enabled(principal: &Principal) -> Result<(), ApiError> {
    if principal.subscription.api_keys_enabled {
        Ok(())
    } else {
        Err(keys_disabled())
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/api-keys",
    operation_id = "list_api_keys",
    tag = "api-keys",
    summary = "One's own API keys, newest first (never the secret).",
    security(("session" = []), ("bearer" = []), ("oauth2" = ["api:read"]), ("zsessionid" = [])),
    params(PageParams),
    responses((status = 200, description = "A page of keys.", body = Page<ApiKey>), (status = 400, response = E400), (status = 401, response = E401), (status = 403, response = E403))
)]
pub async fn list_keys(
    state: web::Data<AppState>,
    Authenticated(principal): Authenticated,
    query: web::Query<PageParams>,
) -> Result<web::Json<Page<ApiKey>>, ApiError> {
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
        |r| time_key(r.created_at, &r.id),
        |r| to_api(&r),
    )))
}

#[utoipa::path(
    post,
    path = "/api/v1/api-keys",
    operation_id = "create_api_key",
    tag = "api-keys",
    summary = "Create a key (signed-in session). The secret is in this answer only.",
    security(("session" = [], "csrf" = [])),
    request_body = CreateApiKey,
    responses((status = 201, description = "Created; `secret` is shown this once.", body = ApiKeyWithSecret), (status = 400, response = E400), (status = 401, response = E401), (status = 408, response = E408), (status = 413, response = E413), (status = 415, response = E415), (status = 422, response = E422), (status = 403, description = r#"`api_keys_disabled`: "API Keys are disabled. Please contact your Subscription Administrator to enable this functionality." — or `session_required`, `insufficient_permission`, `forbidden`."#, body = gatehouse_types::ErrorBody))
)]
pub async fn create_key(
    state: web::Data<AppState>,
    meta: ClientMeta,
    Authenticated(principal): Authenticated,
    body: crate::routing::JsonBody<CreateApiKey>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Action::ManageOwnApiKeys)?;
    require_keys_enabled(&principal)?;
    let body = body.into_inner();
    let name = validate::key_name(&body.name).map_err(|m| ApiError::validation("name", m))?;
    if body.permission == Permission::FullAccess
        && !role_listed(
            &principal.subscription.api_key_full_access_roles,
            principal.user.role,
        )
    {
        return Err(ApiError::forbidden(
            codes::INSUFFICIENT_PERMISSION,
            "Your role may only create read-only API keys.",
        ));
    }
    if body.permission == Permission::FullAccess {
        principal.require(Action::MintFullAccessKey)?;
    }
    let now = state.clock.now();
    let expires_at = expiry(
        body.expires_at.map(|t| t.naive_utc()),
        principal.subscription.api_key_max_lifetime_days,
        now,
    )?;
    let secret = tokens::checksummed_secret(SECRET_PREFIX);
    let secret_hash = state.auth.tokens.hash(&secret);
    let hint = tokens::hint(SECRET_PREFIX, &secret);
    let id = uuid::Uuid::now_v7().to_string();
    let audit = Audit::by(&principal, &meta, "api_key.created")
        .target("api_key", &id)
        .subject(&principal.user.id)
        .details(json!({
            "name": name,
            "permission": body.permission.as_str(),
            "expires_at": expires_at.map(clock::utc),
        }));
    let (sub_id, user_id) = (principal.subscription.id.clone(), principal.user.id.clone());
    let permission = body.permission;
    let row = audit
        .write(&state.db, move |conn| {
            store::insert(
                conn,
                &NewApiKey {
                    id: &id,
                    subscription_id: &sub_id,
                    user_id: &user_id,
                    name: &name,
                    permission: permission.as_str(),
                    secret_hash: &secret_hash,
                    hint: &hint,
                    created_at: now,
                    updated_at: now,
                    expires_at,
                },
            )?;
            store::find_in_subscription(conn, &sub_id, &id)?.ok_or(ApiError::NotFound)
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(ApiKeyWithSecret {
            key: to_api(&row),
            secret,
        }))
}

async fn visible_key(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<ApiKeyRow, ApiError> {
    crate::auth::owned_or_administered(
        &state.db,
        principal,
        id,
        store::find_in_subscription,
        |k: &ApiKeyRow| &k.user_id,
    )
    .await
}

#[utoipa::path(
    get,
    path = "/api/v1/api-keys/{id}",
    operation_id = "get_api_key",
    tag = "api-keys",
    summary = "One key (owner or admin).",
    security(("session" = []), ("bearer" = []), ("oauth2" = ["api:read"]), ("zsessionid" = [])),
    params(("id" = uuid::Uuid, Path, description = "The record's id.")),
    responses((status = 200, description = "The key.", body = ApiKey), (status = 401, response = E401), (status = 403, response = E403), (status = 404, response = E404))
)]
pub async fn get_key(
    state: web::Data<AppState>,
    Authenticated(principal): Authenticated,
    path: web::Path<String>,
) -> Result<web::Json<ApiKey>, ApiError> {
    let row = visible_key(&state, &principal, &path).await?;
    Ok(web::Json(to_api(&row)))
}

#[utoipa::path(
    patch,
    path = "/api/v1/api-keys/{id}",
    operation_id = "update_api_key",
    tag = "api-keys",
    summary = "Rename (owner, signed-in session).",
    security(("session" = [], "csrf" = [])),
    params(("id" = uuid::Uuid, Path, description = "The record's id.")),
    request_body = UpdateApiKey,
    responses((status = 200, description = "The renamed key.", body = ApiKey), (status = 400, response = E400), (status = 401, response = E401), (status = 404, response = E404), (status = 408, response = E408), (status = 413, response = E413), (status = 415, response = E415), (status = 422, response = E422), (status = 403, description = r#"`api_keys_disabled`: "API Keys are disabled. Please contact your Subscription Administrator to enable this functionality." — or `session_required`, `insufficient_permission`, `forbidden`."#, body = gatehouse_types::ErrorBody))
)]
pub async fn rename_key(
    state: web::Data<AppState>,
    meta: ClientMeta,
    Authenticated(principal): Authenticated,
    path: web::Path<String>,
    body: crate::routing::JsonBody<UpdateApiKey>,
) -> Result<web::Json<ApiKey>, ApiError> {
    let row = visible_key(&state, &principal, &path).await?;
    principal.require(Action::ManageOwnApiKeys)?;
    if row.user_id != principal.user.id {
        return Err(ApiError::forbidden(
            codes::FORBIDDEN,
            "Only the key's owner may rename it.",
        ));
    }
    require_keys_enabled(&principal)?;
    let name = validate::key_name(&body.name).map_err(|m| ApiError::validation("name", m))?;
    let now = state.clock.now();
    let audit = Audit::by(&principal, &meta, "api_key.renamed")
        .target("api_key", &row.id)
        .named(&name)
        .subject(&row.user_id)
        .details(json!({"from": row.name, "to": name}));
    let (sub_id, id) = (principal.subscription.id.clone(), row.id.clone());
    let row = audit
        .write(&state.db, move |conn| {
            store::update(
                conn,
                &sub_id,
                &id,
                &ApiKeyChanges {
                    name: Some(name.clone()),
                    updated_at: Some(now),
                    ..Default::default()
                },
            )?;
            store::find_in_subscription(conn, &sub_id, &id)?.ok_or(ApiError::NotFound)
        })
        .await?;
    state.auth.invalidate(Invalidate::Key(&row.id));
    Ok(web::Json(to_api(&row)))
}

/// Details that mark an admin acting on someone else's key.
fn on_behalf(principal: &Principal, row: &ApiKeyRow) -> serde_json::Value {
    if row.user_id == principal.user.id {
        json!({"name": row.name})
    } else {
        json!({"name": row.name, "owner_id": row.user_id, "by_admin": true})
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/api-keys/{id}/reset",
    operation_id = "reset_api_key",
    tag = "api-keys",
    summary = "New secret, same id and name; the old secret stops at once (owner or admin, signed-in session). Without `expires_at` the key keeps its lifetime, counted from now.",
    security(("session" = [], "csrf" = [])),
    params(("id" = uuid::Uuid, Path, description = "The record's id.")),
    request_body(content = Option<ResetApiKey>, description = "Optional."),
    responses((status = 200, description = "Reset; `secret` is shown this once.", body = ApiKeyWithSecret), (status = 400, response = E400), (status = 401, response = E401), (status = 404, response = E404), (status = 408, response = E408), (status = 413, response = E413), (status = 415, response = E415), (status = 422, response = E422), (status = 403, description = r#"`api_keys_disabled`: "API Keys are disabled. Please contact your Subscription Administrator to enable this functionality." — or `session_required`, `insufficient_permission`, `forbidden`."#, body = gatehouse_types::ErrorBody))
)]
pub async fn reset_key(
    state: web::Data<AppState>,
    meta: ClientMeta,
    Authenticated(principal): Authenticated,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body: ResetApiKey = optional_json(&req, payload).await?;
    let row = visible_key(&state, &principal, &path).await?;
    if row.user_id == principal.user.id {
        principal.require(Action::ManageOwnApiKeys)?;
    } else {
        principal.require(Action::ResetAnyApiKey)?;
    }
    if row.permission == Permission::FullAccess {
        principal.require(Action::MintFullAccessKey)?;
    }
    require_keys_enabled(&principal)?;
    let now = state.clock.now();
    let max_days = principal.subscription.api_key_max_lifetime_days;
    let asked = match body.expires_at {
        Some(at) => Some(at.naive_utc()),
        // Keep the lifetime the key had, counted from now, within today's cap.
        // Checked, and never past the latest expiry; the cap is applied by `expiry`.
        None => row.expires_at.map(|old| {
            let since = row.last_reset_at.unwrap_or(row.created_at);
            let latest = super::latest_expiry();
            let inherited = now
                .checked_add_signed(old - since)
                .map_or(latest, |t| t.min(latest));
            match max_days
                .and_then(chrono::TimeDelta::try_days)
                .and_then(|d| now.checked_add_signed(d))
            {
                Some(cap) => inherited.min(cap),
                None => inherited,
            }
        }),
    };
    let expires_at = expiry(asked, max_days, now)?;
    let secret = tokens::checksummed_secret(SECRET_PREFIX);
    let changes = ApiKeyChanges {
        secret_hash: Some(state.auth.tokens.hash(&secret)),
        hint: Some(tokens::hint(SECRET_PREFIX, &secret)),
        last_reset_at: Some(Some(now)),
        expires_at: Some(expires_at),
        updated_at: Some(now),
        ..Default::default()
    };
    let audit = Audit::by(&principal, &meta, "api_key.reset")
        .target("api_key", &row.id)
        .named(&row.name)
        .subject(&row.user_id)
        .details(on_behalf(&principal, &row));
    let (sub_id, id) = (principal.subscription.id.clone(), row.id.clone());
    let row = audit
        .write(&state.db, move |conn| {
            store::update(conn, &sub_id, &id, &changes)?;
            store::find_in_subscription(conn, &sub_id, &id)?.ok_or(ApiError::NotFound)
        })
        .await?;
    // The old secret stops here, before the new one is handed out.
    state.auth.invalidate(Invalidate::Key(&row.id));
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(ApiKeyWithSecret {
            key: to_api(&row),
            secret,
        }))
}

#[utoipa::path(
    delete,
    path = "/api/v1/api-keys/{id}",
    operation_id = "delete_api_key",
    tag = "api-keys",
    summary = "Delete (owner or admin); allowed also while keys are switched off.",
    security(("session" = [], "csrf" = []), ("bearer" = []), ("oauth2" = ["api:write"]), ("zsessionid" = [])),
    params(("id" = uuid::Uuid, Path, description = "The record's id.")),
    responses((status = 204, description = "Deleted; the key stops at once."), (status = 401, response = E401), (status = 403, response = E403), (status = 404, response = E404))
)]
pub async fn delete_key(
    state: web::Data<AppState>,
    meta: ClientMeta,
    Authenticated(principal): Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    // Deleting is always allowed, also while keys are switched off: removing a
    // credential can only make things safer.
    let row = visible_key(&state, &principal, &path).await?;
    let audit = Audit::by(&principal, &meta, "api_key.deleted")
        .target("api_key", &row.id)
        .named(&row.name)
        .subject(&row.user_id)
        .details(on_behalf(&principal, &row));
    let (sub_id, id) = (principal.subscription.id.clone(), row.id.clone());
    audit
        .write(&state.db, move |conn| {
            if !store::delete(conn, &sub_id, &id)? {
                // Deleted meanwhile: nothing happened here, and nothing is recorded.
                return Err(ApiError::NotFound);
            }
            Ok(())
        })
        .await?;
    state.auth.invalidate(Invalidate::Key(&row.id));
    Ok(HttpResponse::NoContent().finish())
}

/// The admins' key list's filter and order; its page is [`PageParams`]' (named field by
/// field, since flattening breaks number parsing in query strings).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SubscriptionKeysQuery {
    /// Case-insensitive text matched in the key's name, hint or owner's username. At
    /// most 200 characters, no control characters.
    #[param(value_type = String, required = false, max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    q: Option<String>,
    /// A user id: only that person's keys.
    #[param(value_type = uuid::Uuid, required = false)]
    user: Option<String>,
    #[param(value_type = KeySort, required = false)]
    sort: Option<String>,
    #[param(value_type = SortOrder, required = false)]
    order: Option<String>,
    #[param(ignore)]
    limit: Option<i64>,
    #[param(ignore)]
    cursor: Option<String>,
}

/// The order of the admins' key list (`created_at` when left out).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // Describes `SubscriptionKeysQuery::sort` in the API description only.
pub enum KeySort {
    CreatedAt,
    LastUsedAt,
    LastResetAt,
}

/// Ascending or descending (`desc` when left out).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // Describes `SubscriptionKeysQuery::order` in the API description only.
pub enum SortOrder {
    Asc,
    Desc,
}

impl SubscriptionKeysQuery {
    /// The query as the database takes it; an unknown sort or order is a 400.
    fn checked(self) -> Result<SubscriptionKeyQuery, ApiError> {
        let sort = match self.sort.as_deref() {
            None | Some("created_at") => SortBy::CreatedAt,
            Some("last_used_at") => SortBy::LastUsedAt,
            Some("last_reset_at") => SortBy::LastResetAt,
            Some(_) => {
                return Err(ApiError::bad_request(
                    codes::INVALID_PARAMETER,
                    "`sort` must be `created_at`, `last_used_at` or `last_reset_at`.",
                ));
            }
        };
        let descending = match self.order.as_deref() {
            None | Some("desc") => true,
            Some("asc") => false,
            Some(_) => {
                return Err(ApiError::bad_request(
                    codes::INVALID_PARAMETER,
                    "`order` must be `asc` or `desc`.",
                ));
            }
        };
        let params = PageParams {
            limit: self.limit,
            cursor: self.cursor,
        };
        Ok(SubscriptionKeyQuery {
            q: text_param("q", self.q, 200)?,
            user: id_param("user", self.user)?,
            sort,
            descending,
            after: params.time_cursor()?,
            limit: params.limit()?,
        })
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/subscription/api-keys",
    operation_id = "list_subscription_api_keys",
    tag = "api-keys",
    summary = "Every active key of the subscription with its owner (admin). `Accept: text/csv` downloads the whole filtered list.",
    security(("session" = []), ("bearer" = []), ("oauth2" = ["api:read"]), ("zsessionid" = [])),
    params(PageParams, SubscriptionKeysQuery),
    responses((status = 200, description = "A page of keys, or CSV.", content((Page<SubscriptionApiKey> = "application/json"), (String = "text/csv"))), (status = 400, response = E400), (status = 401, response = E401), (status = 403, response = E403))
)]
pub async fn list_subscription_keys(
    state: web::Data<AppState>,
    req: HttpRequest,
    Authenticated(principal): Authenticated,
    query: web::Query<SubscriptionKeysQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Action::ViewSubscriptionApiKeys)?;
    let mut db_query = query.into_inner().checked()?;
    let sort = db_query.sort;
    let sort_value = move |r: &ApiKeyRow| sort.value_of(r);
    let now = state.clock.now();
    let wants_csv = csv::wanted(&req);
    let sub_id = principal.subscription.id.clone();
    if wants_csv {
        db_query.after = None;
        let batches = state.db.read_batches(
            csv::BATCH,
            move |conn, after, batch| {
                let q = SubscriptionKeyQuery {
                    after,
                    limit: batch,
                    ..db_query.clone()
                };
                store::list_for_subscription(conn, &sub_id, now, &q)
            },
            move |(k, _): &(ApiKeyRow, UserRow)| (sort_value(k), k.id.clone()),
        );
        return csv::download("api-keys.csv", CSV_HEADER, batches, csv_row).await;
    }
    let limit = db_query.limit;
    let rows = state
        .db
        .read(move |conn| Ok(store::list_for_subscription(conn, &sub_id, now, &db_query)?))
        .await?;
    let page = page(
        rows,
        limit,
        |(k, _)| time_key(sort_value(k), &k.id),
        |(k, u)| SubscriptionApiKey {
            key: to_api(&k),
            username: u.username,
            user_display_name: u.display_name,
        },
    );
    Ok(HttpResponse::Ok().json(page))
}

const CSV_HEADER: [&str; 10] = [
    "id",
    "name",
    "hint",
    "permission",
    "username",
    "user_id",
    "created_at",
    "last_used_at",
    "last_reset_at",
    "expires_at",
];

fn csv_row((k, u): (ApiKeyRow, UserRow)) -> [String; 10] {
    let time = |t: Option<NaiveDateTime>| t.map(|t| clock::utc(t).to_rfc3339()).unwrap_or_default();
    [
        k.id,
        k.name,
        k.hint,
        k.permission.as_str().to_string(),
        u.username,
        u.id,
        time(Some(k.created_at)),
        time(k.last_used_at),
        time(k.last_reset_at),
        time(k.expires_at),
    ]
}
