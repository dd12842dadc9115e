//! `/api/v1/oauth-clients`: register, list, edit, reset the secret of and delete OAuth
//! clients.

#[allow(unused_imports)] // Named by the `#[utoipa::path]` attributes.
use crate::error::responses::*;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use gatehouse_types::{
    ClientType, CreateOAuthClient, OAuthClient, OAuthClientWithSecret, Page, ResetClientSecret,
    Role, UpdateOAuthClient, codes, validate,
};
use serde_json::json;

use super::store::{
    self, ClientChanges, ClientMetadata, ClientRow, DEFAULT_GRANT_TYPES, NewClient,
};
use super::{SECRET_PREFIX, new_client_id, redirect_uris, to_api};
use crate::audit::Audit;
use crate::auth::cache::Invalidate;
use crate::auth::role_listed;
use crate::auth::{Action, Authenticated, ClientMeta, Principal, tokens};
use crate::db::grants::{self as grants_store, Holder};
use crate::error::ApiError;
use crate::pagination::{PageParams, page, time_key};
use crate::routing::optional_json;
use crate::state::AppState;

/// The protocol metadata a create or update asks for (`None`: not named).
struct MetadataChange<'a> {
    client_type: ClientType,
    grant_types: Option<&'a [String]>,
    service_role: Option<Option<Role>>,
    post_logout_redirect_uris: Option<&'a [String]>,
    backchannel_logout_uri: Option<Option<String>>,
    allowed_origins: Option<Option<Vec<String>>>,
}

/// Checks a change of the client's protocol metadata against the client as it is
/// (`None` for a new one) and the caller, and answers the metadata it leaves: where
/// people are sent after signing out, where logouts are told, and which browser origins
/// may read tokens are changed only in a signed-in session; a service account (client
/// credentials) only by an administrator.
fn checked_metadata(
    state: &AppState,
    principal: &Principal,
    change: MetadataChange<'_>,
    current: Option<&ClientRow>,
) -> Result<ClientMetadata, ApiError> {
    let mut out = current.map(|r| r.metadata.clone()).unwrap_or_default();
    let redirects = change.post_logout_redirect_uris.is_some()
        || change.backchannel_logout_uri.is_some()
        || change.allowed_origins.is_some();
    if redirects && current.is_some() {
        principal.require(Action::RedirectOAuthClient)?;
    }
    if let Some(list) = change.post_logout_redirect_uris {
        out.post_logout_redirect_uris = super::post_logout_redirect_uris(list)?;
    }
    if let Some(uri) = change.backchannel_logout_uri {
        let allow_private = state.settings.outbound_allow_private;
        out.backchannel_logout_uri = uri
            .map(|u| super::backchannel_logout_uri(&u, allow_private))
            .transpose()?;
    }
    if let Some(origins) = change.allowed_origins {
        out.allowed_origins = origins.map(|o| super::allowed_origins(&o)).transpose()?;
    }
    if change.grant_types.is_none() && change.service_role.is_none() {
        return Ok(out);
    }
    let grant_types: Vec<String> = match (change.grant_types, current) {
        (Some(g), _) => g.to_vec(),
        (None, Some(row)) => row.grant_type_list(),
        (None, None) => DEFAULT_GRANT_TYPES.iter().map(|g| g.to_string()).collect(),
    };
    let service_role = change.service_role.unwrap_or(out.service_role);
    if service_role != out.service_role {
        principal.require(Action::IssueClientSecret)?;
        if !principal.is_admin() {
            return Err(ApiError::forbidden(
                codes::FORBIDDEN,
                "Only subscription administrators may give a client a service account (client credentials).",
            ));
        }
    }
    let grant_types = super::GrantPolicy {
        grant_types: &grant_types,
        client_type: change.client_type,
        service_role,
    }
    .check()?;
    out.grant_types = Some(grant_types);
    out.service_role = service_role;
    Ok(out)
}

/// Registering, editing and minting secrets for clients is for the roles in
/// `oauth_client_roles`, decided now: someone demoted since they registered a client
/// may still delete it, not change it or take a new secret.
fn may_register(principal: &Principal) -> Result<(), ApiError> {
    if role_listed(
        &principal.subscription.oauth_client_roles,
        principal.user.role,
    ) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            codes::FORBIDDEN,
            "Your role may not register or change OAuth clients in this subscription.",
        ))
    }
}

fn url_field(field: &'static str, v: Option<&str>) -> Result<Option<String>, ApiError> {
    v.map(|u| validate::web_url(u).map_err(|m| ApiError::validation(field, m)))
        .transpose()
}

#[utoipa::path(
    get,
    path = "/api/v1/oauth-clients",
    operation_id = "list_oauth_clients",
    tag = "oauth-clients",
    summary = "One's own OAuth clients (admins: every client of the subscription), newest first. OAuth access tokens are refused (403), as on every client and authorized-app operation.",
    security(("session" = []), ("bearer" = []), ("zsessionid" = [])),
    params(PageParams),
    responses((status = 200, description = "A page of clients.", body = Page<OAuthClient>), (status = 400, response = E400), (status = 401, response = E401), (status = 403, response = E403))
)]
pub async fn list_clients(
    state: web::Data<AppState>,
    Authenticated(principal): Authenticated,
    query: web::Query<PageParams>,
) -> Result<web::Json<Page<OAuthClient>>, ApiError> {
    principal.require(Action::ViewOAuthClients)?;
    let limit = query.limit()?;
    let before = query.time_cursor()?;
    let sub_id = principal.subscription.id.clone();
    // Admins see every client of the subscription; others their own.
    let owner = (!principal.is_admin()).then(|| principal.user.id.to_string());
    let rows = state
        .db
        .read(move |conn| {
            Ok(store::list(
                conn,
                &sub_id,
                owner.as_deref(),
                before.clone(),
                limit,
            )?)
        })
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
    path = "/api/v1/oauth-clients",
    operation_id = "create_oauth_client",
    tag = "oauth-clients",
    summary = "Register a client (roles in `oauth_client_roles`, signed-in session). A confidential client's `client_secret` is in this answer only.",
    security(("session" = [], "csrf" = [])),
    request_body = CreateOAuthClient,
    responses((status = 201, description = "Registered.", body = OAuthClientWithSecret), (status = 400, response = E400), (status = 401, response = E401), (status = 403, response = E403), (status = 408, response = E408), (status = 413, response = E413), (status = 415, response = E415), (status = 422, response = E422))
)]
pub async fn create_client(
    state: web::Data<AppState>,
    meta: ClientMeta,
    Authenticated(principal): Authenticated,
    body: crate::routing::JsonBody<CreateOAuthClient>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Action::IssueClientSecret)?;
    may_register(&principal)?;
    let body = body.into_inner();
    let name = validate::display_name(&body.name).map_err(|m| ApiError::validation("name", m))?;
    let uris = redirect_uris(&body.redirect_uris)?;
    let homepage = url_field("homepage_url", body.homepage_url.as_deref())?;
    let logo = url_field("logo_url", body.logo_url.as_deref())?;
    let metadata = checked_metadata(
        &state,
        &principal,
        MetadataChange {
            client_type: body.client_type,
            grant_types: body.grant_types.as_deref(),
            service_role: body.service_role.map(Some),
            post_logout_redirect_uris: body.post_logout_redirect_uris.as_deref(),
            backchannel_logout_uri: body.backchannel_logout_uri.clone().map(Some),
            allowed_origins: body.allowed_origins.clone().map(Some),
        },
        None,
    )?;
    let secret = (body.client_type == ClientType::Confidential)
        .then(|| tokens::checksummed_secret(SECRET_PREFIX));
    let secret_hash = secret.as_deref().map(|s| state.auth.tokens.hash(s));
    let hint = secret.as_deref().map(|s| tokens::hint(SECRET_PREFIX, s));
    let id = uuid::Uuid::now_v7().to_string();
    let client_id = new_client_id();
    let now = state.clock.now();
    let audit = Audit::by(&principal, &meta, "oauth_client.created")
        .target("oauth_client", &id)
        .subject(&principal.user.id)
        .details(json!({
            "name": name, "client_id": client_id, "client_type": body.client_type.as_str(),
            "redirect_uris": body.redirect_uris, "grant_types": body.grant_types,
            "service_role": body.service_role,
        }));
    let (sub_id, owner) = (principal.subscription.id.clone(), principal.user.id.clone());
    let client_type = body.client_type;
    let row = audit
        .write(&state.db, move |conn| {
            store::insert(
                conn,
                &NewClient {
                    id: &id,
                    subscription_id: &sub_id,
                    owner_id: &owner,
                    client_id: &client_id,
                    name: &name,
                    client_type: client_type.as_str(),
                    secret_hash: secret_hash.as_deref(),
                    secret_hint: hint.as_deref(),
                    redirect_uris: &uris,
                    homepage_url: homepage.as_deref(),
                    logo_url: logo.as_deref(),
                    created_at: now,
                    updated_at: now,
                    metadata: &metadata.to_json(),
                },
            )?;
            let row = store::find_in_subscription(conn, &sub_id, &id)?.ok_or(ApiError::NotFound)?;
            super::service_account::follow(conn, &row, None, now)?;
            Ok(row)
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(OAuthClientWithSecret {
            client: to_api(&row),
            client_secret: secret,
        }))
}

async fn visible_client(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<ClientRow, ApiError> {
    crate::auth::owned_or_administered(
        &state.db,
        principal,
        id,
        store::find_in_subscription,
        |c: &ClientRow| &c.owner_id,
    )
    .await
}

#[utoipa::path(
    get,
    path = "/api/v1/oauth-clients/{id}",
    operation_id = "get_oauth_client",
    tag = "oauth-clients",
    summary = "One client (owner or admin).",
    security(("session" = []), ("bearer" = []), ("zsessionid" = [])),
    params(("id" = uuid::Uuid, Path, description = "The record's id.")),
    responses((status = 200, description = "The client.", body = OAuthClient), (status = 401, response = E401), (status = 403, response = E403), (status = 404, response = E404))
)]
pub async fn get_client(
    state: web::Data<AppState>,
    Authenticated(principal): Authenticated,
    path: web::Path<String>,
) -> Result<web::Json<OAuthClient>, ApiError> {
    principal.require(Action::ViewOAuthClients)?;
    Ok(web::Json(to_api(
        &visible_client(&state, &principal, &path).await?,
    )))
}

/// The changes an update asks for, checked; `unmark_standard` drops the standard mark
/// (callback URLs changed by someone who is not an administrator).
fn client_changes(
    body: &UpdateOAuthClient,
    new_uris: Option<String>,
    unmark_standard: bool,
    now: chrono::NaiveDateTime,
) -> Result<ClientChanges, ApiError> {
    Ok(ClientChanges {
        name: body
            .name
            .as_deref()
            .map(|n| validate::display_name(n).map_err(|m| ApiError::validation("name", m)))
            .transpose()?,
        redirect_uris: new_uris,
        homepage_url: match &body.homepage_url {
            None => None,
            Some(v) => Some(url_field("homepage_url", v.as_deref())?),
        },
        logo_url: match &body.logo_url {
            None => None,
            Some(v) => Some(url_field("logo_url", v.as_deref())?),
        },
        standard: if unmark_standard {
            Some(false)
        } else {
            body.standard
        },
        updated_at: Some(now),
        ..Default::default()
    })
}

#[utoipa::path(
    patch,
    path = "/api/v1/oauth-clients/{id}",
    operation_id = "update_oauth_client",
    tag = "oauth-clients",
    summary = "Edit name, callback URLs, homepage, logo; admins may set `standard` and `disabled`. Changing the callback URLs, `standard` or `disabled` needs a signed-in session.",
    security(("session" = [], "csrf" = []), ("bearer" = []), ("zsessionid" = [])),
    params(("id" = uuid::Uuid, Path, description = "The record's id.")),
    request_body = UpdateOAuthClient,
    responses((status = 200, description = "The client.", body = OAuthClient), (status = 400, response = E400), (status = 401, response = E401), (status = 403, response = E403), (status = 404, response = E404), (status = 408, response = E408), (status = 413, response = E413), (status = 415, response = E415), (status = 422, response = E422))
)]
pub async fn update_client(
    state: web::Data<AppState>,
    meta: ClientMeta,
    Authenticated(principal): Authenticated,
    path: web::Path<String>,
    body: crate::routing::JsonBody<UpdateOAuthClient>,
) -> Result<web::Json<OAuthClient>, ApiError> {
    principal.require(Action::ManageOAuthClients)?;
    if !principal.is_admin() {
        may_register(&principal)?;
    }
    let row = visible_client(&state, &principal, &path).await?;
    let body = body.into_inner();
    if body.standard.is_some() {
        principal.require(Action::MarkStandard)?;
    }
    if body.disabled.is_some() {
        principal.require(Action::DisableOAuthClient)?;
    }
    let new_uris = body
        .redirect_uris
        .as_deref()
        .map(redirect_uris)
        .transpose()?;
    let callbacks_change = new_uris
        .as_deref()
        .is_some_and(|uris| uris != row.redirect_uris.as_str());
    if body.redirect_uris.is_some() {
        principal.require(Action::RedirectOAuthClient)?;
    }
    // A standard client's consent is pre-approved by an administrator for the
    // callbacks it had: when anyone else sends its codes elsewhere, it is no longer
    // standard, and people are asked again.
    let unmark_standard =
        row.standard && callbacks_change && !principal.is_admin() && body.standard.is_none();
    let metadata = checked_metadata(
        &state,
        &principal,
        MetadataChange {
            client_type: row.client_type,
            grant_types: body.grant_types.as_deref(),
            service_role: body.service_role,
            post_logout_redirect_uris: body.post_logout_redirect_uris.as_deref(),
            backchannel_logout_uri: body.backchannel_logout_uri.clone(),
            allowed_origins: body.allowed_origins.clone(),
        },
        Some(&row),
    )?;
    let now = state.clock.now();
    let changes = client_changes(&body, new_uris, unmark_standard, now)?;
    let (requested, read) = (metadata, row.metadata.clone());
    let toggle_event = |action| {
        Audit::by(&principal, &meta, action)
            .target("oauth_client", &row.id)
            .named(&row.name)
            .subject(&row.owner_id)
    };
    let (disabled_event, enabled_event) = (
        toggle_event("oauth_client.disabled"),
        toggle_event("oauth_client.enabled"),
    );
    let audit = Audit::by(&principal, &meta, "oauth_client.updated")
        .target("oauth_client", &row.id)
        .named(&row.name)
        .subject(&row.owner_id)
        .details(json!({ "changes": body }));
    let unmarked = unmark_standard.then(|| {
        Audit::by(&principal, &meta, "oauth_client.standard_removed")
            .target("oauth_client", &row.id)
            .named(&row.name)
            .subject(&row.owner_id)
            .details(json!({"reason": "callback URLs changed by a non-administrator"}))
    });
    let (sub_id, id, disable) = (
        principal.subscription.id.clone(),
        row.id.clone(),
        body.disabled,
    );
    let (row, logouts) = audit
        .write(&state.db, move |conn| {
            // The row as it is now, locked (the first write takes PostgreSQL's row
            // lock; SQLite has one writer): this request's changes are applied to it,
            // not to what was read before, so that a change made meanwhile — an
            // administrator disabling the client, its owner editing it — is neither
            // undone by this one nor undoes it.
            let touch = ClientChanges {
                updated_at: Some(now),
                ..Default::default()
            };
            store::update(conn, &sub_id, &id, &touch)?;
            let current =
                store::find_in_subscription(conn, &sub_id, &id)?.ok_or(ApiError::NotFound)?;
            let mut metadata = requested.rebased(&read, &current.metadata);
            // Only a change of state is one: disabling a disabled client keeps its
            // first time, and records nothing.
            let toggle = disable.filter(|d| *d != current.metadata.disabled_at.is_some());
            metadata.disabled_at = match toggle {
                Some(d) => d.then_some(now),
                None => current.metadata.disabled_at,
            };
            let mut changes = changes.clone();
            changes.metadata = (metadata != current.metadata).then(|| metadata.to_json());
            store::update(conn, &sub_id, &id, &changes)?;
            if let Some(unmarked) = &unmarked {
                unmarked.record(conn)?;
            }
            let mut logouts = Vec::new();
            match toggle {
                Some(true) => {
                    // Every token the client holds stops now, and the app's sessions
                    // for those people end (Back-Channel Logout); enabling it again
                    // brings none of them back.
                    let mut revoked = 0;
                    for grant in grants_store::active_ids_for_client(conn, &id)? {
                        if grants_store::revoke(conn, Holder::Client(&id), &grant, now)? {
                            revoked += 1;
                            logouts.extend(crate::logout::targets(
                                conn,
                                grants_store::LogoutScope::Grant(&grant),
                                now,
                            )?);
                        }
                    }
                    disabled_event
                        .clone()
                        .details(json!({"grants_revoked": revoked}))
                        .record(conn)?;
                }
                Some(false) => enabled_event.record(conn)?,
                None => {}
            }
            let row = store::find_in_subscription(conn, &sub_id, &id)?.ok_or(ApiError::NotFound)?;
            super::service_account::follow(conn, &row, Some(&current), now)?;
            Ok((row, logouts))
        })
        .await?;
    crate::logout::send(&state, logouts, "client_disabled");
    state.auth.invalidate(Invalidate::Client(&row.id));
    // The service account (its record id is the client's) may have changed role or gone.
    state.auth.invalidate(Invalidate::User(&row.id));
    Ok(web::Json(to_api(&row)))
}

#[utoipa::path(
    post,
    path = "/api/v1/oauth-clients/{id}/reset-secret",
    operation_id = "reset_oauth_client_secret",
    tag = "oauth-clients",
    summary = "A new secret, shown once; the old one stops at once. With `revoke_tokens: true` every grant of the client is revoked too (owner or admin, signed-in session).",
    security(("session" = [], "csrf" = [])),
    params(("id" = uuid::Uuid, Path, description = "The record's id.")),
    request_body(content = Option<ResetClientSecret>, description = "Optional."),
    responses((status = 200, description = "The new secret.", body = OAuthClientWithSecret), (status = 400, response = E400), (status = 401, response = E401), (status = 403, response = E403), (status = 404, response = E404), (status = 408, response = E408), (status = 413, response = E413), (status = 415, response = E415), (status = 422, response = E422))
)]
pub async fn reset_secret(
    state: web::Data<AppState>,
    meta: ClientMeta,
    Authenticated(principal): Authenticated,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body: ResetClientSecret = optional_json(&req, payload).await?;
    principal.require(Action::ResetClientSecret)?;
    if !principal.is_admin() {
        may_register(&principal)?;
    }
    let row = visible_client(&state, &principal, &path).await?;
    if row.is_public() {
        return Err(ApiError::validation(
            "client_type",
            "is public: a public client has no secret to reset",
        ));
    }
    let secret = tokens::checksummed_secret(SECRET_PREFIX);
    let now = state.clock.now();
    let changes = ClientChanges {
        secret_hash: Some(Some(state.auth.tokens.hash(&secret))),
        secret_hint: Some(Some(tokens::hint(SECRET_PREFIX, &secret))),
        secret_reset_at: Some(Some(now)),
        updated_at: Some(now),
        ..Default::default()
    };
    let audit = Audit::by(&principal, &meta, "oauth_client.secret_reset")
        .target("oauth_client", &row.id)
        .named(&row.name)
        .subject(&row.owner_id)
        .details(json!({"revoke_tokens": body.revoke_tokens}));
    let (sub_id, id) = (principal.subscription.id.clone(), row.id.clone());
    let revoke = body.revoke_tokens;
    let row = audit
        .write(&state.db, move |conn| {
            store::update(conn, &sub_id, &id, &changes)?;
            if revoke {
                for grant in grants_store::active_ids_for_client(conn, &id)? {
                    grants_store::revoke(conn, Holder::Client(&id), &grant, now)?;
                }
            }
            store::find_in_subscription(conn, &sub_id, &id)?.ok_or(ApiError::NotFound)
        })
        .await?;
    state.auth.invalidate(Invalidate::Client(&row.id));
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(OAuthClientWithSecret {
            client: to_api(&row),
            client_secret: Some(secret),
        }))
}

#[utoipa::path(
    delete,
    path = "/api/v1/oauth-clients/{id}",
    operation_id = "delete_oauth_client",
    tag = "oauth-clients",
    summary = "Delete the client: every grant, code and token of it stops at once.",
    security(("session" = [], "csrf" = []), ("bearer" = []), ("zsessionid" = [])),
    params(("id" = uuid::Uuid, Path, description = "The record's id.")),
    responses((status = 204, description = "Deleted."), (status = 401, response = E401), (status = 403, response = E403), (status = 404, response = E404))
)]
pub async fn delete_client(
    state: web::Data<AppState>,
    meta: ClientMeta,
    Authenticated(principal): Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Action::ManageOAuthClients)?;
    let row = visible_client(&state, &principal, &path).await?;
    let audit = Audit::by(&principal, &meta, "oauth_client.deleted")
        .target("oauth_client", &row.id)
        .named(&row.name)
        .subject(&row.owner_id)
        .details(json!({"name": row.name, "client_id": row.client_id}));
    let (sub_id, id) = (principal.subscription.id.clone(), row.id.clone());
    audit
        .write(&state.db, move |conn| {
            // Grants, codes and refresh tokens go by cascade; access tokens fail
            // their next grant check.
            // The service account goes with its client (and its grant with it).
            if !store::delete(conn, &sub_id, &id)? {
                // Deleted meanwhile: nothing happened here, and nothing is recorded.
                return Err(ApiError::NotFound);
            }
            Ok(())
        })
        .await?;
    state.auth.invalidate(Invalidate::Client(&row.id));
    state.auth.invalidate(Invalidate::User(&row.id));
    Ok(HttpResponse::NoContent().finish())
}
