//! `/api/v1/me`, `/api/v1/me/password` and `/api/v1/users`.

#[allow(unused_imports)] // Named by the `#[utoipa::path]` attributes.
use crate::error::responses::*;
use actix_web::{HttpResponse, web};
use gatehouse_types::{
    ChangePassword, CreateUser, CreatedUser, Page, PasswordChanged, PasswordReset,
    RecentCredential, RecentKind, UpdateMe, UpdateUser, User, UserKind, UserState, codes, validate,
};
use serde_json::json;

use super::rules;
use super::store::{self, NewUser, UserChanges, UserRow};
use crate::audit::Audit;
use crate::auth::cache::Invalidate;
use crate::auth::password::generate_password;
use crate::auth::{Action, Authenticated, ClientMeta, Principal};
use crate::db::grants::LogoutScope;
use crate::db::sessions as sessions_store;
use crate::error::ApiError;
use crate::pagination::{PageParams, page};
use crate::secret::SecretString;
use crate::state::AppState;

#[utoipa::path(
    get,
    path = "/api/v1/me",
    operation_id = "get_me",
    tag = "users",
    summary = "One's own profile.",
    security(("session" = []), ("bearer" = []), ("oauth2" = ["api:read"]), ("zsessionid" = [])),
    responses((status = 200, description = "The caller's user.", body = User), (status = 401, response = E401), (status = 403, response = E403))
)]
pub async fn get_me(
    state: web::Data<AppState>,
    Authenticated(principal): Authenticated,
) -> web::Json<User> {
    web::Json(super::to_api(&principal.user, state.clock.now()))
}

fn field<T>(name: &'static str, r: Result<T, &'static str>) -> Result<T, ApiError> {
    r.map_err(|m| ApiError::validation(name, m))
}

#[utoipa::path(
    patch,
    path = "/api/v1/me",
    operation_id = "update_me",
    tag = "users",
    summary = "Change one's display name or e-mail (`null` removes it).",
    security(("session" = [], "csrf" = [])),
    request_body = UpdateMe,
    responses((status = 200, description = "The updated user.", body = User), (status = 400, response = E400), (status = 401, response = E401), (status = 403, response = E403), (status = 408, response = E408), (status = 413, response = E413), (status = 415, response = E415), (status = 422, response = E422))
)]
pub async fn update_me(
    state: web::Data<AppState>,
    meta: ClientMeta,
    Authenticated(principal): Authenticated,
    body: crate::routing::JsonBody<UpdateMe>,
) -> Result<web::Json<User>, ApiError> {
    principal.require(Action::EditProfile)?;
    let body = body.into_inner();
    let now = state.clock.now();
    let changes = UserChanges {
        display_name: body
            .display_name
            .as_deref()
            .map(|d| field("display_name", validate::display_name(d)))
            .transpose()?,
        email: match body.email {
            None => None,
            Some(None) => Some(None),
            Some(Some(e)) => Some(Some(field("email", validate::email(&e))?)),
        },
        updated_at: Some(now),
        ..Default::default()
    };
    let audit = Audit::by(&principal, &meta, "user.profile_updated")
        .target("user", &principal.user.id)
        .details(json!({
            "display_name": changes.display_name.is_some(),
            "email": changes.email.is_some(),
        }));
    let (sub_id, user_id) = (principal.subscription.id.clone(), principal.user.id.clone());
    let row = audit
        .write(&state.db, move |conn| {
            store::update(conn, &sub_id, &user_id, &changes)?;
            store::find_in_subscription(conn, &sub_id, &user_id)?.ok_or(ApiError::NotFound)
        })
        .await?;
    Ok(web::Json(super::to_api(&row, now)))
}

#[utoipa::path(
    put,
    path = "/api/v1/me/password",
    operation_id = "update_password",
    tag = "users",
    summary = "Change one's password; ends every other session, and lists the API keys created and applications allowed in the last day.",
    security(("session" = [], "csrf" = [])),
    request_body = ChangePassword,
    responses((status = 200, description = "Changed.", body = PasswordChanged), (status = 400, response = E400), (status = 401, response = E401), (status = 403, response = E403), (status = 408, response = E408), (status = 413, response = E413), (status = 415, response = E415), (status = 422, response = E422), (status = 429, response = E429))
)]
pub async fn change_password(
    state: web::Data<AppState>,
    meta: ClientMeta,
    Authenticated(principal): Authenticated,
    body: crate::routing::JsonBody<ChangePassword>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Action::ChangePassword)?;
    let ChangePassword {
        current_password,
        new_password,
    } = body.into_inner();
    let current = SecretString::new(current_password);
    let new = SecretString::new(new_password);
    // The new password's rules first: breaking them is no guess at the current one.
    field("new_password", validate::password(new.expose()))?;
    // A wrong current password counts towards the lockout, so a stolen session
    // cannot be used to guess the password.
    let threshold = principal.subscription.login_lockout_threshold;
    let lock_event =
        |action| Audit::by(&principal, &meta, action).target("user", &principal.user.id);
    let events = super::LockEvents {
        locked: lock_event("user.locked").recorder(),
        lapsed: lock_event("user.unlocked").recorder(),
    };
    let attempt =
        super::begin_password_attempt(&state.auth, &principal.user.id, threshold, events).await?;
    let old_hash = principal.user.password_hash.clone();
    let ok = state
        .auth
        .passwords
        .verify(&current, Some(old_hash.clone()))
        .await?;
    let not_correct = || ApiError::validation("current_password", "is not correct");
    let Some(count) = attempt else {
        return Err(not_correct());
    };
    if !ok {
        let failure = Audit::by(&principal, &meta, "user.password_change_failed")
            .target("user", &principal.user.id);
        super::password_failed(
            &state.auth,
            &principal.user.id,
            count,
            threshold,
            failure.recorder(),
            lock_event("user.locked").recorder(),
        )
        .await?;
        return Err(not_correct());
    }
    // A temporary password is replaced by one of the person's own: not by itself
    // (however the session signed in).
    let user_id = principal.user.id.clone();
    let temporary = state
        .db
        .read(move |conn| Ok(store::has_temporary_password(conn, &user_id)?))
        .await?;
    if temporary && current.expose() == new.expose() {
        return Err(ApiError::validation(
            "new_password",
            "must differ from the temporary password",
        ));
    }
    let hash = state.auth.passwords.hash(&new).await?;
    let audit =
        Audit::by(&principal, &meta, "user.password_changed").target("user", &principal.user.id);
    let keep = principal.via.id().to_string();
    let user_id = principal.user.id.clone();
    let now = state.clock.now();
    let (changed, logouts) = audit
        .write(&state.db, move |conn| {
            if !store::set_password(conn, &user_id, &old_hash, &hash, now)? {
                // The password changed (or the user was disabled) while this one was
                // checked: nothing changes, nothing is recorded.
                return Err(not_correct());
            }
            // The apps signed in through the other sessions are told (back-channel
            // logout), as when each is signed out: at most a few per app.
            let scope = LogoutScope::OtherSessions(&user_id, &keep);
            let logouts = crate::logout::targets(conn, scope, now)?;
            let ended = sessions_store::delete_for_user(conn, &user_id, Some(&keep), now)?;
            // Their own now: no longer temporary, and this session is free.
            store::clear_temporary_password(conn, &user_id)?;
            sessions_store::password_changed(conn, &keep)?;
            let changed = PasswordChanged {
                sessions_ended: ended.len() as u64,
                recent: recent_credentials(conn, &user_id, now)?,
            };
            Ok((changed, logouts))
        })
        .await?;
    crate::logout::send(&state, logouts, "password_changed");
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(changed))
}

/// The API keys the user created and the applications they allowed in the last day,
/// newest first (at most 50 of each).
fn recent_credentials(
    conn: &mut crate::db::DbConnection,
    user_id: &str,
    now: chrono::NaiveDateTime,
) -> Result<Vec<RecentCredential>, ApiError> {
    let since = now - chrono::TimeDelta::days(1);
    let keys = crate::db::api_keys::list_for_user(conn, user_id, None, 50)?
        .into_iter()
        .filter(|k| k.created_at >= since)
        .map(|k| RecentCredential {
            kind: RecentKind::ApiKey,
            id: k.id,
            name: k.name,
            created_at: crate::clock::utc(k.created_at),
        });
    let apps = crate::db::grants::list_for_user(conn, user_id, None, 50)?
        .into_iter()
        .filter(|(g, _)| g.created_at >= since && g.is_active())
        .map(|(g, c)| RecentCredential {
            kind: RecentKind::AuthorizedApp,
            id: g.id,
            name: c.name,
            created_at: crate::clock::utc(g.created_at),
        });
    let mut recent: Vec<RecentCredential> = keys.chain(apps).collect();
    recent.sort_by_key(|r| std::cmp::Reverse(r.created_at));
    Ok(recent)
}

#[utoipa::path(
    get,
    path = "/api/v1/users",
    operation_id = "list_users",
    tag = "users",
    summary = "The subscription's users, by username (admin).",
    security(("session" = []), ("bearer" = []), ("oauth2" = ["api:read"]), ("zsessionid" = [])),
    params(PageParams),
    responses((status = 200, description = "A page of users.", body = Page<User>), (status = 400, response = E400), (status = 401, response = E401), (status = 403, response = E403))
)]
pub async fn list_users(
    state: web::Data<AppState>,
    Authenticated(principal): Authenticated,
    query: web::Query<PageParams>,
) -> Result<web::Json<Page<User>>, ApiError> {
    principal.require(Action::ViewUsers)?;
    let limit = query.limit()?;
    let after = query.cursor()?;
    let sub_id = principal.subscription.id.clone();
    let rows = state
        .db
        .read(move |conn| Ok(store::list(conn, &sub_id, after.as_deref(), limit)?))
        .await?;
    let now = state.clock.now();
    Ok(web::Json(page(
        rows,
        limit,
        |r| r.username.clone(),
        |r| super::to_api(&r, now),
    )))
}

#[utoipa::path(
    post,
    path = "/api/v1/users",
    operation_id = "create_user",
    tag = "users",
    summary = "Create a user (admin, signed-in session). Without `password`, one is generated and returned once.",
    security(("session" = [], "csrf" = [])),
    request_body = CreateUser,
    responses((status = 201, description = "Created.", body = CreatedUser), (status = 400, response = E400), (status = 401, response = E401), (status = 403, response = E403), (status = 408, response = E408), (status = 413, response = E413), (status = 415, response = E415), (status = 422, response = E422), (status = 429, response = E429), (status = 409, description = "`username_taken`.", body = gatehouse_types::ErrorBody))
)]
pub async fn create_user(
    state: web::Data<AppState>,
    meta: ClientMeta,
    Authenticated(principal): Authenticated,
    body: crate::routing::JsonBody<CreateUser>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Action::ManageUsers)?;
    let body = body.into_inner();
    let username = field("username", validate::username(&body.username))?;
    let display_name = match body.display_name.as_deref() {
        Some(d) => field("display_name", validate::display_name(d))?,
        None => username.clone(),
    };
    let email = body
        .email
        .as_deref()
        .map(|e| field("email", validate::email(e)))
        .transpose()?;
    let (password, generated) = match body.password {
        Some(p) => {
            field("password", validate::password(&p))?;
            (SecretString::new(p), false)
        }
        None => (SecretString::new(generate_password()), true),
    };
    let hash = state.auth.passwords.hash(&password).await?;
    let id = uuid::Uuid::now_v7().to_string();
    let now = state.clock.now();
    let audit = Audit::by(&principal, &meta, "user.created")
        .target("user", &id)
        .details(json!({"username": username, "role": body.role.as_str()}));
    let sub_id = principal.subscription.id.clone();
    let role = body.role;
    let row = audit
        .write(&state.db, move |conn| {
            store::insert(
                conn,
                &NewUser {
                    id: &id,
                    subscription_id: &sub_id,
                    username: &username,
                    display_name: &display_name,
                    email: email.as_deref(),
                    role: role.as_str(),
                    state: UserState::Active.as_str(),
                    password_hash: &hash,
                    created_at: now,
                    updated_at: now,
                },
            )?;
            if generated {
                store::mark_password_temporary(conn, &id, now)?;
            }
            store::find_in_subscription(conn, &sub_id, &id)?.ok_or(ApiError::NotFound)
        })
        .await
        .map_err(|e| {
            e.on_unique_violation(codes::USERNAME_TAKEN, "That username is already taken.")
        })?;
    Ok(HttpResponse::Created().json(CreatedUser {
        user: super::to_api(&row, now),
        initial_password: generated.then(|| password.expose().to_string()),
    }))
}

/// A user of the caller's subscription, or 404: another subscription's user looks
/// exactly like a user that does not exist.
async fn find_user(state: &AppState, principal: &Principal, id: &str) -> Result<UserRow, ApiError> {
    crate::routing::id_or_404(id)?;
    let (sub_id, id) = (principal.subscription.id.clone(), id.to_string());
    state
        .db
        .read(move |conn| {
            store::find_in_subscription(conn, &sub_id, &id)?.ok_or(ApiError::NotFound)
        })
        .await
}

#[utoipa::path(
    get,
    path = "/api/v1/users/{id}",
    operation_id = "get_user",
    tag = "users",
    summary = "One user (admin).",
    security(("session" = []), ("bearer" = []), ("oauth2" = ["api:read"]), ("zsessionid" = [])),
    params(("id" = uuid::Uuid, Path, description = "The record's id.")),
    responses((status = 200, description = "The user.", body = User), (status = 401, response = E401), (status = 403, response = E403), (status = 404, response = E404))
)]
pub async fn get_user(
    state: web::Data<AppState>,
    Authenticated(principal): Authenticated,
    path: web::Path<String>,
) -> Result<web::Json<User>, ApiError> {
    principal.require(Action::ViewUsers)?;
    let row = find_user(&state, &principal, &path).await?;
    Ok(web::Json(super::to_api(&row, state.clock.now())))
}

/// A client's service account follows its client: its role and name are the client's
/// to set, and it goes with the client's service role (it may be disabled here).
fn service_account() -> ApiError {
    ApiError::conflict(
        codes::SERVICE_ACCOUNT,
        "This is an OAuth client's service account: change its role or remove it through the client (its service_role); it may be disabled here.",
    )
}

/// What an administrator's update changes: role and state by the rules of
/// [`rules::Change`], display name and e-mail checked here.
fn admin_change(body: &UpdateUser, now: chrono::NaiveDateTime) -> Result<rules::Change, ApiError> {
    let mut change = rules::Change::new(body.role, body.state, now);
    change.changes.display_name = body
        .display_name
        .as_deref()
        .map(|d| field("display_name", validate::display_name(d)))
        .transpose()?;
    change.changes.email = match &body.email {
        None => None,
        Some(None) => Some(None),
        Some(Some(e)) => Some(Some(field("email", validate::email(e))?)),
    };
    Ok(change)
}

#[utoipa::path(
    patch,
    path = "/api/v1/users/{id}",
    operation_id = "update_user",
    tag = "users",
    summary = "Change role, state (`active` also unlocks, `disabled` ends sessions), display name, e-mail (admin, signed-in session).",
    security(("session" = [], "csrf" = [])),
    params(("id" = uuid::Uuid, Path, description = "The record's id.")),
    request_body = UpdateUser,
    responses((status = 200, description = "The updated user.", body = User), (status = 400, response = E400), (status = 401, response = E401), (status = 403, response = E403), (status = 404, response = E404), (status = 408, response = E408), (status = 413, response = E413), (status = 415, response = E415), (status = 422, response = E422), (status = 409, description = "`last_admin`: the change would leave no active admin.", body = gatehouse_types::ErrorBody))
)]
pub async fn update_user(
    state: web::Data<AppState>,
    meta: ClientMeta,
    Authenticated(principal): Authenticated,
    path: web::Path<String>,
    body: crate::routing::JsonBody<UpdateUser>,
) -> Result<web::Json<User>, ApiError> {
    principal.require(Action::ManageUsers)?;
    let body = body.into_inner();
    let target = find_user(&state, &principal, &path).await?;
    if target.kind == UserKind::Service && (body.role.is_some() || body.display_name.is_some()) {
        return Err(service_account());
    }
    let now = state.clock.now();
    let change = admin_change(&body, now)?;
    let was = target.state;
    // Locks and unlocks are audited as such, besides `user.updated`, judged by the
    // user as read under the subscription's lock.
    let lock_event = {
        let (principal, meta, target) = (principal.clone(), meta.clone(), target.clone());
        move |action| {
            Audit::by(&principal, &meta, action)
                .target("user", &target.id)
                .named(&target.username)
                .details(json!({"reason": "admin"}))
        }
    };
    let audit = Audit::by(&principal, &meta, "user.updated")
        .target("user", &target.id)
        .named(&target.username)
        .details(json!({
            "role": body.role.map(|r| json!({"from": target.role, "to": r.as_str()})),
            "state": body.state.map(|s| json!({"from": was.as_str(), "to": s.as_str()})),
            "display_name": body.display_name.is_some(),
            "email": body.email.is_some(),
        }));
    let (sub_id, user_id) = (principal.subscription.id.clone(), target.id.clone());
    let applied = audit
        .write(&state.db, move |conn| {
            rules::apply(conn, &sub_id, &user_id, &change, now, &lock_event)
        })
        .await?;
    state.auth.invalidate(Invalidate::User(&applied.after.id));
    crate::logout::send(&state, applied.logouts, "user_stopped");
    Ok(web::Json(super::to_api(&applied.after, now)))
}

#[utoipa::path(
    delete,
    path = "/api/v1/users/{id}",
    operation_id = "delete_user",
    tag = "users",
    summary = "Delete a user with their sessions and credentials (admin, signed-in session).",
    security(("session" = [], "csrf" = [])),
    params(("id" = uuid::Uuid, Path, description = "The record's id.")),
    responses((status = 204, description = "Deleted."), (status = 401, response = E401), (status = 403, response = E403), (status = 404, response = E404), (status = 409, description = "`last_admin`.", body = gatehouse_types::ErrorBody))
)]
pub async fn delete_user(
    state: web::Data<AppState>,
    meta: ClientMeta,
    Authenticated(principal): Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Action::ManageUsers)?;
    let target = find_user(&state, &principal, &path).await?;
    if target.kind == UserKind::Service {
        return Err(service_account());
    }
    let audit = Audit::by(&principal, &meta, "user.deleted")
        .target("user", &target.id)
        .details(json!({"username": target.username}));
    let (sub_id, user_id) = (principal.subscription.id.clone(), target.id.clone());
    let now = state.clock.now();
    let logouts = audit
        .write(&state.db, move |conn| {
            rules::delete(conn, &sub_id, &user_id, now)
        })
        .await?;
    state.auth.invalidate(Invalidate::User(&target.id));
    crate::logout::send(&state, logouts, "user_deleted");
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    post,
    path = "/api/v1/users/{id}/password",
    operation_id = "reset_user_password",
    tag = "users",
    summary = "Give a person a new, generated password, shown once; it is temporary: they choose their own at their next sign-in. Ends their sessions and lifts a password lock (admin, signed-in session). Keys and authorized applications keep working.",
    security(("session" = [], "csrf" = [])),
    params(("id" = uuid::Uuid, Path, description = "The record's id.")),
    responses((status = 200, description = "The new password, this once.", body = PasswordReset), (status = 401, response = E401), (status = 403, response = E403), (status = 404, response = E404), (status = 409, description = "`service_account`: it has no password; `conflict`: one's own password is changed in one's profile.", body = gatehouse_types::ErrorBody))
)]
pub async fn reset_password(
    state: web::Data<AppState>,
    meta: ClientMeta,
    Authenticated(principal): Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Action::ManageUsers)?;
    let target = find_user(&state, &principal, &path).await?;
    if target.kind == UserKind::Service {
        return Err(service_account());
    }
    if target.id == principal.user.id {
        // Knowing one's own password is the point: a reset here would skip it.
        return Err(ApiError::conflict(
            codes::CONFLICT,
            "Change your own password in your profile, with your current one.",
        ));
    }
    let password = SecretString::new(generate_password());
    let hash = state.auth.passwords.hash(&password).await?;
    let now = state.clock.now();
    let audit = Audit::by(&principal, &meta, "user.password_reset")
        .target("user", &target.id)
        .named(&target.username);
    let (sub_id, user_id) = (principal.subscription.id.clone(), target.id.clone());
    let (row, ended, logouts) = audit
        .write(&state.db, move |conn| {
            let logouts = crate::logout::targets(conn, LogoutScope::Sessions(&user_id), now)?;
            if !store::set_temporary_password(conn, &sub_id, &user_id, &hash, now)? {
                return Err(ApiError::NotFound);
            }
            let ended = sessions_store::delete_for_user(conn, &user_id, None, now)?;
            let row =
                store::find_in_subscription(conn, &sub_id, &user_id)?.ok_or(ApiError::NotFound)?;
            Ok((row, ended.len() as u64, logouts))
        })
        .await?;
    state.auth.invalidate(Invalidate::User(&row.id));
    crate::logout::send(&state, logouts, "password_reset");
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(PasswordReset {
            user: super::to_api(&row, now),
            temporary_password: password.expose().to_string(),
            sessions_ended: ended,
        }))
}
