//! `/api/v1/me/second-factors` and `/api/v1/me/recovery-codes`: a person's own second
//! steps of sign-in. A signed-in session only: a key or token never adds or removes
//! one.

#[allow(unused_imports)] // Named by the `#[utoipa::path]` attributes.
use crate::error::responses::*;
use actix_web::{HttpResponse, web};
use gatehouse_types::{
    ConfirmSecondFactor, ConfirmedSecondFactor, FinishPasskey, PasskeyChallenge, RecoveryCodes,
    SecondFactor, SecondFactorKind, SecondFactors, TotpEnrolment, codes, validate,
};
use serde_json::json;
use webauthn_rs::prelude::{Passkey, PasskeyRegistration, RegisterPublicKeyCredential};

use super::store::{self, CeremonyRow, NewFactor};
use crate::audit::Audit;
use crate::auth::{Action, Authenticated, ClientMeta, Principal, passkeys, recovery, totp};
use crate::clock;
use crate::error::ApiError;
use crate::state::AppState;

/// The issuer an authenticator app shows beside the account.
const ISSUER: &str = "Gatehouse";

#[utoipa::path(
    get,
    path = "/api/v1/me/second-factors",
    operation_id = "list_second_factors",
    tag = "users",
    summary = "One's second steps of sign-in, and how many recovery codes are left (session only).",
    security(("session" = [])),
    responses((status = 200, description = "The confirmed second steps.", body = SecondFactors), (status = 401, response = E401), (status = 403, response = E403))
)]
pub async fn list(
    state: web::Data<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<web::Json<SecondFactors>, ApiError> {
    principal.require(Action::ViewSecondFactors)?;
    let user_id = principal.user.id.clone();
    let (rows, left) = state
        .db
        .read(move |conn| {
            Ok((
                store::list(conn, &user_id)?,
                store::recovery_codes_left(conn, &user_id)?,
            ))
        })
        .await?;
    Ok(web::Json(SecondFactors {
        items: rows
            .iter()
            .filter(|r| r.confirmed)
            .map(super::to_api)
            .collect(),
        recovery_codes_left: u32::try_from(left).unwrap_or(0),
    }))
}

#[utoipa::path(
    post,
    path = "/api/v1/me/second-factors/totp",
    operation_id = "create_totp_enrolment",
    tag = "users",
    summary = "Start enrolling an authenticator app: its secret, as a QR code too. Not used until confirmed with a code from the app.",
    security(("session" = [], "csrf" = [])),
    responses((status = 201, description = "Scan, then confirm.", body = TotpEnrolment), (status = 401, response = E401), (status = 403, response = E403))
)]
pub async fn start_totp(
    state: web::Data<AppState>,
    meta: ClientMeta,
    Authenticated(principal): Authenticated,
) -> Result<HttpResponse, ApiError> {
    principal.require(Action::ManageSecondFactors)?;
    let secret = totp::new_secret();
    let uri = totp::otpauth_uri(ISSUER, &principal.user.username, &secret);
    let qr_svg = qrcode::QrCode::new(uri.as_bytes())
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("QR code: {e}")))?
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    let id = uuid::Uuid::now_v7().to_string();
    let (user_id, sub_id, row_id, row_secret) = (
        principal.user.id.clone(),
        principal.subscription.id.clone(),
        id.clone(),
        secret.clone(),
    );
    let now = state.clock.now();
    let started = Audit::by(&principal, &meta, "second_factor.started")
        .target("second_factor", &id)
        .subject(&principal.user.id);
    started
        .write(&state.db, move |conn| {
            // One enrolment at a time: an earlier unfinished one is dropped.
            for old in store::list(conn, &user_id)?
                .into_iter()
                .filter(|f| !f.confirmed)
            {
                store::delete(conn, &user_id, &old.id)?;
            }
            store::insert(
                conn,
                &NewFactor {
                    id: &row_id,
                    subscription_id: &sub_id,
                    user_id: &user_id,
                    kind: "totp",
                    name: "Authenticator app",
                    secret: &row_secret,
                    confirmed: false,
                    created_at: now,
                    credential_id: None,
                },
            )?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(TotpEnrolment {
            id,
            secret,
            otpauth_uri: uri,
            qr_svg,
        }))
}

#[utoipa::path(
    post,
    path = "/api/v1/me/second-factors/{id}/confirm",
    operation_id = "update_second_factor_confirmation",
    tag = "users",
    summary = "Confirm an authenticator app with a code it shows now; the first second step also brings ten recovery codes, shown this once.",
    security(("session" = [], "csrf" = [])),
    params(("id" = uuid::Uuid, Path, description = "The record's id.")),
    request_body = ConfirmSecondFactor,
    responses((status = 200, description = "Confirmed.", body = ConfirmedSecondFactor), (status = 400, response = E400), (status = 401, response = E401), (status = 403, response = E403), (status = 404, response = E404), (status = 422, response = E422))
)]
pub async fn confirm(
    state: web::Data<AppState>,
    meta: ClientMeta,
    Authenticated(principal): Authenticated,
    path: web::Path<String>,
    body: crate::routing::JsonBody<ConfirmSecondFactor>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Action::ManageSecondFactors)?;
    let id = path.into_inner();
    crate::routing::id_or_404(&id)?;
    let ConfirmSecondFactor { code, name } = body.into_inner();
    let user_id = principal.user.id.clone();
    let factor_id = id.clone();
    let factor = state
        .db
        .read(move |conn| Ok(store::find(conn, &user_id, &factor_id)?))
        .await?
        .filter(|f| !f.confirmed)
        .ok_or(ApiError::NotFound)?;
    let name = validate::key_name(&name).map_err(|m| ApiError::validation("name", m))?;
    let now = state.clock.now();
    let step = totp::verify(&factor.secret, &code, now.and_utc().timestamp(), None)
        .ok_or_else(|| ApiError::validation("code", "is not the code the app shows now"))?;
    let (codes, hashes) = recovery_codes(&state);
    let audit = Audit::by(&principal, &meta, "second_factor.added")
        .target("second_factor", &id)
        .subject(&principal.user.id)
        .details(json!({"kind": "totp", "name": name}));
    let (user_id, factor_id, factor_name) = (principal.user.id.clone(), id.clone(), name.clone());
    let added = Added::new(&principal, hashes);
    let (first, logouts) = audit
        .write(&state.db, move |conn| {
            added.record(conn, now, |conn| {
                if !store::confirm(conn, &user_id, &factor_id, &factor_name, step, now)? {
                    return Err(ApiError::NotFound);
                }
                Ok(())
            })
        })
        .await?;
    crate::logout::send(&state, logouts, "second_step_added");
    let mut confirmed = factor;
    confirmed.confirmed = true;
    confirmed.name = name;
    confirmed.last_used_at = Some(now);
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(ConfirmedSecondFactor {
            factor: super::to_api(&confirmed),
            recovery_codes: first.then_some(codes),
        }))
}

#[utoipa::path(
    delete,
    path = "/api/v1/me/second-factors/{id}",
    operation_id = "delete_second_factor",
    tag = "users",
    summary = "Remove a second step; with the last one, the recovery codes go too.",
    security(("session" = [], "csrf" = [])),
    params(("id" = uuid::Uuid, Path, description = "The record's id.")),
    responses((status = 204, description = "Removed."), (status = 401, response = E401), (status = 403, response = E403), (status = 404, response = E404))
)]
pub async fn remove(
    state: web::Data<AppState>,
    meta: ClientMeta,
    Authenticated(principal): Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Action::ManageSecondFactors)?;
    let id = path.into_inner();
    crate::routing::id_or_404(&id)?;
    let audit = Audit::by(&principal, &meta, "second_factor.removed")
        .target("second_factor", &id)
        .subject(&principal.user.id);
    let (user_id, factor_id) = (principal.user.id.clone(), id.clone());
    let keep = principal.via.id().to_string();
    let now = state.clock.now();
    let required = principal
        .subscription
        .two_step_policy
        .requires(principal.user.role);
    let logouts = audit
        .write(&state.db, move |conn| {
            store::lock_person(conn, &user_id)?;
            if !store::delete(conn, &user_id, &factor_id)? {
                return Err(ApiError::NotFound);
            }
            if !store::has_confirmed(conn, &user_id)? {
                if required {
                    // Rolled back: the subscription requires a second step.
                    return Err(ApiError::conflict(
                        codes::CONFLICT,
                        "Your subscription requires two-step sign-in: add another second step before removing your last one.",
                    ));
                }
                store::delete_recovery_codes(conn, &user_id)?;
            }
            end_other_sessions(conn, &user_id, &keep, now)
        })
        .await?;
    crate::logout::send(&state, logouts, "second_step_removed");
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    delete,
    path = "/api/v1/users/{id}/second-factors",
    operation_id = "reset_user_second_factors",
    tag = "users",
    summary = "An administrator resets another person's second steps (a lost phone): their apps and recovery codes go, their sessions end, and a new grace period to set one up begins. Never one's own (admin, signed in recently).",
    security(("session" = [], "csrf" = [])),
    params(("id" = uuid::Uuid, Path, description = "The record's id.")),
    responses((status = 204, description = "Reset."), (status = 401, response = E401), (status = 403, response = E403), (status = 404, response = E404))
)]
pub async fn reset_for_user(
    state: web::Data<AppState>,
    meta: ClientMeta,
    Authenticated(principal): Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Action::ManageUsers)?;
    let id = path.into_inner();
    crate::routing::id_or_404(&id)?;
    if id == principal.user.id {
        // One administrator alone never turns off their own second step this way:
        // a stolen admin session could otherwise.
        return Err(ApiError::forbidden(
            codes::FORBIDDEN,
            "You cannot reset your own second steps; remove them on your profile, or ask another administrator.",
        ));
    }
    let (sub_id, target_id) = (principal.subscription.id.clone(), id.clone());
    let target = state
        .db
        .read(move |conn| {
            Ok(crate::db::users::find_in_subscription(
                conn, &sub_id, &target_id,
            )?)
        })
        .await?
        .ok_or(ApiError::NotFound)?;
    let audit = Audit::by(&principal, &meta, "second_factors.reset")
        .target("user", &target.id)
        .subject(&target.id)
        .details(json!({"username": target.username}));
    let user_id = target.id.clone();
    let now = state.clock.now();
    let logouts = audit
        .write(&state.db, move |conn| {
            store::lock_person(conn, &user_id)?;
            let scope = crate::db::grants::LogoutScope::User(&user_id);
            let logouts = crate::logout::targets(conn, scope, now)?;
            let removed = store::reset(conn, &user_id, now)?;
            crate::db::sessions::delete_for_user(conn, &user_id, None, now)?;
            Ok::<_, ApiError>((logouts, removed))
        })
        .await
        .map(|(logouts, _)| logouts)?;
    crate::logout::send(&state, logouts, "second_steps_reset");
    Ok(HttpResponse::NoContent().finish())
}

/// What follows a second step added, in its transaction: the first brings recovery
/// codes and signs out every other session (signed in with the password alone). This
/// session keeps the `amr` it signed in with: whoever added the step proved only what
/// they signed in with (a thief with the password could add their own app), so an
/// application that asks for two steps gets a new sign-in with both. (It is no longer
/// held to setting one up: `auth::session` sees the step.)
#[derive(Clone)]
struct Added {
    user_id: String,
    session: String,
    hashes: Vec<String>,
}

impl Added {
    fn new(principal: &Principal, hashes: Vec<String>) -> Added {
        Added {
            user_id: principal.user.id.clone(),
            session: principal.via.id().to_string(),
            hashes,
        }
    }

    /// Runs `add`, then the rest; whether it was the first, and whom to tell of the
    /// sessions ended.
    fn record(
        &self,
        conn: &mut crate::db::DbConnection,
        now: chrono::NaiveDateTime,
        add: impl FnOnce(&mut crate::db::DbConnection) -> Result<(), ApiError>,
    ) -> Result<(bool, Vec<crate::logout::Target>), ApiError> {
        store::lock_person(conn, &self.user_id)?;
        // Ended meanwhile (an administrator's reset, a sign-out elsewhere): nothing added.
        if !crate::db::sessions::exists(conn, &self.session)? {
            return Err(ApiError::unauthorized(
                codes::SESSION_EXPIRED,
                "Your session has ended. Sign in again.",
            ));
        }
        let first = !store::has_confirmed(conn, &self.user_id)?;
        add(conn)?;
        let mut logouts = Vec::new();
        if first {
            store::replace_recovery_codes(conn, &self.user_id, &self.hashes, now)?;
            logouts = end_other_sessions(conn, &self.user_id, &self.session, now)?;
        }
        Ok((first, logouts))
    }
}

/// Ten new recovery codes and their hashes.
fn recovery_codes(state: &AppState) -> (Vec<String>, Vec<String>) {
    let codes = recovery::new_codes();
    let hashes = codes
        .iter()
        .map(|c| state.auth.tokens.hash(&recovery::normalize(c)))
        .collect();
    (codes, hashes)
}

#[utoipa::path(
    post,
    path = "/api/v1/me/second-factors/passkey",
    operation_id = "create_passkey_registration",
    tag = "users",
    summary = "Start registering a passkey: the options for `navigator.credentials.create()`. Finish with the browser's answer within five minutes.",
    security(("session" = [], "csrf" = [])),
    responses((status = 201, description = "Create the credential, then finish.", body = PasskeyChallenge), (status = 401, response = E401), (status = 403, response = E403), (status = 409, response = E409))
)]
pub async fn start_passkey(
    state: web::Data<AppState>,
    meta: ClientMeta,
    Authenticated(principal): Authenticated,
) -> Result<HttpResponse, ApiError> {
    principal.require(Action::ManageSecondFactors)?;
    let webauthn = state.auth.passkeys.get()?;
    let user_id = principal.user.id.clone();
    let factors = state
        .db
        .read(move |conn| Ok(store::list(conn, &user_id)?))
        .await?;
    // A device that holds one of the person's passkeys already is not asked twice.
    let exclude = factors
        .iter()
        .filter(|f| f.kind == "passkey")
        .filter_map(|f| passkeys::from_state::<Passkey>(&f.secret).ok())
        .map(|p| p.cred_id().clone())
        .collect();
    let handle = uuid::Uuid::parse_str(&principal.user.id).map_err(anyhow::Error::from)?;
    let user = &principal.user;
    let shown = if user.display_name.is_empty() {
        &user.username
    } else {
        &user.display_name
    };
    let (challenge, registration) = webauthn
        .start_passkey_registration(handle, &user.username, shown, Some(exclude))
        .map_err(|e| anyhow::anyhow!("passkey registration: {e}"))?;
    let options = passkeys::creation_options(&challenge)?;
    let now = state.clock.now();
    let row = CeremonyRow {
        id: uuid::Uuid::now_v7().to_string(),
        user_id: Some(principal.user.id.clone()),
        kind: "register".into(),
        state: passkeys::state_json(&registration)?,
        created_at: now,
        expires_at: now + passkeys::CEREMONY_TTL,
    };
    let id = row.id.clone();
    Audit::by(&principal, &meta, "second_factor.started")
        .target("second_factor", &id)
        .subject(&principal.user.id)
        .details(json!({"kind": "passkey"}))
        .write(&state.db, move |conn| {
            Ok(store::insert_ceremony(conn, &row)?)
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(PasskeyChallenge {
            id,
            options,
            expires_in: passkeys::CEREMONY_TTL.num_seconds(),
        }))
}

#[utoipa::path(
    post,
    path = "/api/v1/me/second-factors/passkey/{id}",
    operation_id = "create_passkey",
    tag = "users",
    summary = "Finish registering a passkey with the browser's answer; the first second step also brings ten recovery codes, shown this once.",
    security(("session" = [], "csrf" = [])),
    params(("id" = uuid::Uuid, Path, description = "The registration's id.")),
    request_body = FinishPasskey,
    responses((status = 200, description = "Registered.", body = ConfirmedSecondFactor), (status = 400, response = E400), (status = 401, response = E401), (status = 403, response = E403), (status = 404, response = E404), (status = 409, response = E409), (status = 422, response = E422))
)]
pub async fn finish_passkey(
    state: web::Data<AppState>,
    meta: ClientMeta,
    Authenticated(principal): Authenticated,
    path: web::Path<String>,
    body: crate::routing::JsonBody<FinishPasskey>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Action::ManageSecondFactors)?;
    let ceremony_id = path.into_inner();
    crate::routing::id_or_404(&ceremony_id)?;
    let webauthn = state.auth.passkeys.get()?;
    let FinishPasskey { credential, name } = body.into_inner();
    let now = state.clock.now();
    let (id, user_id) = (ceremony_id.clone(), principal.user.id.clone());
    let ceremony = state
        .db
        .read(move |conn| Ok(store::find_ceremony(conn, &id, "register", now)?))
        .await?
        .filter(|c| c.user_id.as_deref() == Some(user_id.as_str()))
        .ok_or(ApiError::NotFound)?;
    let name = validate::key_name(&name).map_err(|m| ApiError::validation("name", m))?;
    let credential: RegisterPublicKeyCredential = passkeys::parse("credential", credential)?;
    let registration: PasskeyRegistration = passkeys::from_state(&ceremony.state)?;
    let passkey = webauthn
        .finish_passkey_registration(&credential, &registration)
        .map_err(|_| {
            ApiError::validation(
                "credential",
                "could not be verified as an answer to this registration",
            )
        })?;
    let record = passkeys::state_json(&passkey)?;
    let key = passkeys::credential_key(passkey.cred_id());
    let (codes, hashes) = recovery_codes(&state);
    let factor_id = uuid::Uuid::now_v7().to_string();
    let audit = Audit::by(&principal, &meta, "second_factor.added")
        .target("second_factor", &factor_id)
        .subject(&principal.user.id)
        .details(json!({"kind": "passkey", "name": name}));
    let added = Added::new(&principal, hashes);
    let (user_id, sub_id, row_name) = (
        principal.user.id.clone(),
        principal.subscription.id.clone(),
        name.clone(),
    );
    let fid = factor_id.clone();
    let (first, logouts) = audit
        .write(&state.db, move |conn| {
            added.record(conn, now, |conn| {
                if !store::spend_ceremony(conn, &ceremony_id)? {
                    return Err(ApiError::NotFound);
                }
                if store::find_passkey(conn, &key)?.is_some() {
                    return Err(ApiError::conflict(
                        codes::CONFLICT,
                        "This passkey is registered already.",
                    ));
                }
                store::insert(
                    conn,
                    &NewFactor {
                        id: &fid,
                        subscription_id: &sub_id,
                        user_id: &user_id,
                        kind: "passkey",
                        name: &row_name,
                        secret: &record,
                        confirmed: true,
                        created_at: now,
                        credential_id: Some(&key),
                    },
                )?;
                Ok(())
            })
        })
        .await?;
    crate::logout::send(&state, logouts, "second_step_added");
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(ConfirmedSecondFactor {
            factor: SecondFactor {
                id: factor_id,
                kind: SecondFactorKind::Passkey,
                name,
                created_at: clock::utc(now),
                last_used_at: None,
            },
            recovery_codes: first.then_some(codes),
        }))
}

/// Ends the person's other sessions, in the caller's transaction: a second step turned
/// on applies to everyone signed in with the password alone, and one removed (perhaps
/// by someone with a stolen session) signs everyone else out. Whom to tell.
fn end_other_sessions(
    conn: &mut crate::db::DbConnection,
    user_id: &str,
    keep: &str,
    now: chrono::NaiveDateTime,
) -> Result<Vec<crate::logout::Target>, ApiError> {
    let scope = crate::db::grants::LogoutScope::OtherSessions(user_id, keep);
    let logouts = crate::logout::targets(conn, scope, now)?;
    crate::db::sessions::delete_for_user(conn, user_id, Some(keep), now)?;
    Ok(logouts)
}

#[utoipa::path(
    post,
    path = "/api/v1/me/recovery-codes",
    operation_id = "reset_recovery_codes",
    tag = "users",
    summary = "Ten new recovery codes, shown this once; the earlier ones stop working. Needs a second step.",
    security(("session" = [], "csrf" = [])),
    responses((status = 200, description = "The codes.", body = RecoveryCodes), (status = 401, response = E401), (status = 403, response = E403), (status = 409, response = E409))
)]
pub async fn new_recovery_codes(
    state: web::Data<AppState>,
    meta: ClientMeta,
    Authenticated(principal): Authenticated,
) -> Result<HttpResponse, ApiError> {
    principal.require(Action::ManageSecondFactors)?;
    let (fresh, hashes) = recovery_codes(&state);
    let audit = recovery_event(&principal, &meta);
    let user_id = principal.user.id.clone();
    let now = state.clock.now();
    audit
        .write(&state.db, move |conn| {
            if !store::has_confirmed(conn, &user_id)? {
                return Err(ApiError::conflict(
                    codes::CONFLICT,
                    "Recovery codes stand in for a second step: add an authenticator app first.",
                ));
            }
            store::replace_recovery_codes(conn, &user_id, &hashes, now)?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(RecoveryCodes { codes: fresh }))
}

fn recovery_event(principal: &Principal, meta: &ClientMeta) -> Audit {
    Audit::by(principal, meta, "recovery_codes.generated")
        .target("user", &principal.user.id)
        .subject(&principal.user.id)
}
