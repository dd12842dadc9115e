//! Sudo mode (sensitive actions need a password confirmed in the last ten minutes), the
//! subscription's two-step policy with its grace period, an administrator's reset of
//! someone's second steps, and `acr_values` asking applications' sign-ins for two steps.

use chrono::TimeDelta;
use gatehouse_types::{Credential, Role, SessionInfo};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::oauth::{CALLBACK, param, register};
use crate::helpers::{Backend, Client, NewUser, TestApp, error_code, spawn_app};
use crate::reauth::{next_of, start};
use crate::two_step::{PASSWORD, code_now, enrol, two_steps};

both_backends!(
    sensitive_actions_need_a_recent_password,
    sudo_asks_a_person_with_a_second_step_for_it_too,
    the_policy_takes_people_to_set_up_a_second_step,
    an_admin_resets_someone_elses_second_steps_never_their_own,
    acr_values_ask_an_application_s_sign_in_for_two_steps,
    lasting_access_for_apps_needs_a_recent_password,
    confirming_the_password_never_counts_towards_the_lock,
);

/// The session's `credential` as the server describes it now.
async fn credential(c: &Client) -> (chrono::DateTime<chrono::Utc>, bool) {
    let info: SessionInfo = serde_json::from_value(c.get_json("/api/v1/session").await).unwrap();
    match info.credential {
        Credential::Session {
            sudo_until,
            enrolment_required,
            ..
        } => (sudo_until, enrolment_required),
        other => panic!("not a session: {other:?}"),
    }
}

/// How many audit events of `action` the admin sees.
async fn audited(admin: &Client, action: &str) -> usize {
    admin
        .get_json(&format!("/api/v1/audit-events?action={action}"))
        .await["items"]
        .as_array()
        .unwrap()
        .len()
}

async fn sensitive_actions_need_a_recent_password(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser {
        client: ada,
        id: ada_id,
        ..
    } = app.user(&admin, Role::Admin).await;
    let NewUser { id: bob_id, .. } = app.user(&admin, Role::Editor).await;
    let reg = register(&ada, false, &[CALLBACK]).await;
    // Just signed in: sensitive actions go ahead, and the session says until when.
    let (until, enrol_first) = credential(&ada).await;
    assert!(!enrol_first);
    let now = app.state.clock.now().and_utc();
    assert!(until > now + TimeDelta::minutes(9) && until <= now + TimeDelta::minutes(10));
    let res = ada
        .post(
            "/api/v1/api-keys",
            &json!({"name": "deploy", "permission": "full_access"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);

    // Eleven minutes on, the session still works, but nothing sensitive goes ahead.
    app.state.clock.advance(TimeDelta::minutes(11));
    assert_eq!(ada.get("/api/v1/me").await.status(), StatusCode::OK);
    let sudo = |res: reqwest::Response| async move {
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(error_code(res).await, "sudo_required");
    };
    sudo(
        ada.post(
            "/api/v1/api-keys",
            &json!({"name": "deploy 2", "permission": "full_access"}),
        )
        .await,
    )
    .await;
    sudo(
        ada.post(
            &format!("/api/v1/oauth-clients/{}/reset-secret", reg.id),
            &json!({}),
        )
        .await,
    )
    .await;
    sudo(
        ada.put(
            "/api/v1/me/password",
            &json!({"current_password": PASSWORD, "new_password": "another long password"}),
        )
        .await,
    )
    .await;
    sudo(ada.post("/api/v1/me/second-factors/totp", &json!({})).await).await;
    sudo(
        ada.patch(
            &format!("/api/v1/users/{bob_id}"),
            &json!({"state": "disabled"}),
        )
        .await,
    )
    .await;
    sudo(
        ada.patch("/api/v1/subscription", &json!({"session_max_hours": 10}))
            .await,
    )
    .await;
    sudo(
        ada.patch(
            &format!("/api/v1/oauth-clients/{}", reg.id),
            &json!({"standard": true}),
        )
        .await,
    )
    .await;
    // Sending a client's codes elsewhere, or registering a new one (a way to
    // credentials that outlive the session).
    sudo(
        ada.patch(
            &format!("/api/v1/oauth-clients/{}", reg.id),
            &json!({"redirect_uris": ["https://evil.example.com/cb"]}),
        )
        .await,
    )
    .await;
    sudo(
        ada.post(
            "/api/v1/oauth-clients",
            &json!({"name": "Mine", "redirect_uris": [CALLBACK], "client_type": "confidential"}),
        )
        .await,
    )
    .await;
    let client = admin
        .get_json(&format!("/api/v1/oauth-clients/{}", reg.id))
        .await;
    assert_eq!(client["redirect_uris"], json!([CALLBACK]));
    // What is not sensitive goes on: a read-only key, reading one's second steps.
    let res = ada
        .post(
            "/api/v1/api-keys",
            &json!({"name": "reader", "permission": "read_only"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(
        ada.get("/api/v1/me/second-factors").await.status(),
        StatusCode::OK
    );
    // Nothing changed: bob is still active.
    let bob = admin.get_json(&format!("/api/v1/users/{bob_id}")).await;
    assert_eq!(bob["state"], "active");

    // A wrong password is refused and counted like a failed sign-in.
    let res = ada
        .post(
            "/api/v1/session/sudo",
            &json!({"password": "not the password"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(res).await, "invalid_credentials");
    let failed = admin
        .get_json(&format!(
            "/api/v1/audit-events?action=session.sign_in_failed&actor={ada_id}"
        ))
        .await;
    assert_eq!(failed["items"].as_array().unwrap().len(), 1, "{failed}");
    // Only a session can confirm: never a key.
    let key = app.api_key(&ada, "read_only").await;
    let res = app
        .with_key(&key.secret)
        .post("/api/v1/session/sudo", &json!({"password": PASSWORD}))
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // The right one: ten more minutes, recorded, and the action goes ahead.
    let res = ada
        .post("/api/v1/session/sudo", &json!({"password": PASSWORD}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let (until, _) = credential(&ada).await;
    assert!(until > app.state.clock.now().and_utc() + TimeDelta::minutes(9));
    assert_eq!(audited(&admin, "session.sudo").await, 1);
    let res = ada
        .patch(
            &format!("/api/v1/users/{bob_id}"),
            &json!({"state": "disabled"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = ada
        .post(
            &format!("/api/v1/oauth-clients/{}/reset-secret", reg.id),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

async fn sudo_asks_a_person_with_a_second_step_for_it_too(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser { client: ada, .. } = app.user(&admin, Role::Editor).await;
    let (secret, recovery) = enrol(&app, &ada).await;
    app.state.clock.advance(TimeDelta::minutes(11));
    let full = json!({"name": "deploy", "permission": "full_access"});
    assert_eq!(
        error_code(ada.post("/api/v1/api-keys", &full).await).await,
        "sudo_required"
    );
    // The password alone is not enough: the answer names the missing field.
    let res = ada
        .post("/api/v1/session/sudo", &json!({"password": PASSWORD}))
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["details"]["field"], "code");
    // A wrong code is refused; still no sudo.
    let res = ada
        .post(
            "/api/v1/session/sudo",
            &json!({"password": PASSWORD, "code": "000000"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(res).await, "invalid_second_step");
    assert_eq!(
        error_code(ada.post("/api/v1/api-keys", &full).await).await,
        "sudo_required"
    );
    // A right code with a wrong password is refused too.
    let res = ada
        .post(
            "/api/v1/session/sudo",
            &json!({"password": "not the password", "code": code_now(&app, &secret)}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // Both right: the key is created.
    let res = ada
        .post(
            "/api/v1/session/sudo",
            &json!({"password": PASSWORD, "code": code_now(&app, &secret)}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        ada.post("/api/v1/api-keys", &full).await.status(),
        StatusCode::CREATED
    );
    // Later, a recovery code stands in for the app, once.
    app.state.clock.advance(TimeDelta::minutes(11));
    let with_recovery = json!({"password": PASSWORD, "recovery_code": recovery[0]});
    let res = ada.post("/api/v1/session/sudo", &with_recovery).await;
    assert_eq!(res.status(), StatusCode::OK);
    app.state.clock.advance(TimeDelta::minutes(11));
    let res = ada.post("/api/v1/session/sudo", &with_recovery).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

async fn the_policy_takes_people_to_set_up_a_second_step(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser {
        client: ada,
        username: ada_name,
        ..
    } = app.user(&admin, Role::Editor).await;
    let ada_key = app.api_key(&ada, "read_only").await;
    // Refused while the admin setting it has no second step: they would be shut out.
    let everyone = json!({"two_step_policy": "everyone", "two_step_grace_days": 3});
    let res = admin.patch("/api/v1/subscription", &everyone).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["details"]["field"], "two_step_policy");
    let sub = admin.get_json("/api/v1/subscription").await;
    assert_eq!(sub["settings"]["two_step_policy"], "optional");
    for days in [0, 91] {
        let res = admin
            .patch(
                "/api/v1/subscription",
                &json!({"two_step_grace_days": days}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{days}");
    }
    enrol(&app, &admin).await;
    let res = admin.patch("/api/v1/subscription", &everyone).await;
    assert_eq!(res.status(), StatusCode::OK);
    let sub: Value = res.json().await.unwrap();
    assert_eq!(sub["settings"]["two_step_policy"], "everyone");
    assert_eq!(sub["settings"]["two_step_grace_days"], 3);

    // Ada, signed in with a password alone, can now only set up a second step (and
    // read her own profile).
    assert_eq!(ada.get("/api/v1/me").await.status(), StatusCode::OK);
    let res = ada.get("/api/v1/api-keys").await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, "two_step_enrolment_required");
    let res = ada
        .post(
            "/api/v1/api-keys",
            &json!({"name": "k", "permission": "read_only"}),
        )
        .await;
    assert_eq!(error_code(res).await, "two_step_enrolment_required");
    let (_, must) = credential(&ada).await;
    assert!(must, "the session says so");
    assert_eq!(
        ada.get("/api/v1/me/second-factors").await.status(),
        StatusCode::OK
    );
    // Her key is not a sign-in: it keeps working.
    assert_eq!(
        app.with_key(&ada_key.secret)
            .get("/api/v1/me")
            .await
            .status(),
        StatusCode::OK
    );
    // An application's sign-in sends her to set it up first (through the sign-in page).
    let reg = register(&admin, false, &[CALLBACK]).await;
    let (to, _) = start(&app, &ada, &reg, "").await;
    let (_, reauth) = next_of(&app, &to);
    assert!(!reauth, "{to}");
    let (to, _) = start(&app, &ada, &reg, "&prompt=none").await;
    assert!(to.starts_with(CALLBACK), "{to}");
    assert_eq!(param(&to, "error").as_deref(), Some("login_required"));
    // Her second step frees this session.
    enrol(&app, &ada).await;
    assert_eq!(ada.get("/api/v1/me").await.status(), StatusCode::OK);
    let (_, must) = credential(&ada).await;
    assert!(!must);
    // And she cannot remove her last one while the policy stands.
    let factors = ada.get_json("/api/v1/me/second-factors").await;
    let id = factors["items"][0]["id"].as_str().unwrap().to_string();
    let res = ada.delete(&format!("/api/v1/me/second-factors/{id}")).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    // Someone created now has the grace period from their creation…
    let NewUser {
        client: bob,
        username: bob_name,
        ..
    } = app.user(&admin, Role::Viewer).await;
    let (_, must) = credential(&bob).await;
    assert!(must);
    // …and once it has passed without a second step, no session at all.
    app.state.clock.advance(TimeDelta::days(4));
    let res = app.anonymous().try_sign_in(&bob_name, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, "two_step_required");
    let res = app
        .anonymous()
        .try_sign_in(&bob_name, "a wrong password!")
        .await;
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "no hint without the password"
    );
    // Ada, with her second step, signs in with both.
    let res = app.anonymous().try_sign_in(&ada_name, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    // Back to optional: bob signs in with his password alone, unrestricted.
    let admin = {
        let (admin2, res) = two_steps_admin(&app).await;
        assert_eq!(res, StatusCode::OK);
        admin2
    };
    let res = admin
        .patch(
            "/api/v1/subscription",
            &json!({"two_step_policy": "optional"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let bob = app.sign_in(&bob_name, PASSWORD).await;
    assert_eq!(bob.get("/api/v1/me").await.status(), StatusCode::OK);
}

/// The first admin, signed in with both steps (their app's secret is read from the
/// database: the test enrolled it earlier).
async fn two_steps_admin(app: &TestApp) -> (Client, StatusCode) {
    use diesel::prelude::*;
    use gatehouse_server::db::schema::{second_factors, users};
    let name = app.admin_username.clone();
    let secret: String = app.with_db(|conn| {
        second_factors::table
            .inner_join(users::table.on(users::id.eq(second_factors::user_id)))
            .filter(users::username.eq(&name))
            .select(second_factors::secret)
            .first(conn)
            .unwrap()
    });
    app.state.clock.advance(TimeDelta::seconds(30));
    let (mut c, res) = two_steps_as(app, &name, crate::helpers::ADMIN_PASSWORD, &secret).await;
    let status = res.status();
    let info: SessionInfo = res.json().await.unwrap();
    c.csrf = info.csrf_token;
    (c, status)
}

async fn two_steps_as(
    app: &TestApp,
    username: &str,
    password: &str,
    secret: &str,
) -> (Client, reqwest::Response) {
    let c = app.anonymous();
    let res = c.try_sign_in(username, password).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let owed: Value = res.json().await.unwrap();
    let res = c
        .post(
            "/api/v1/session/second-step",
            &json!({"second_step_token": owed["second_step_token"], "code": code_now(app, secret)}),
        )
        .await;
    (c, res)
}

async fn an_admin_resets_someone_elses_second_steps_never_their_own(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser {
        client: ada,
        id: ada_id,
        username: ada_name,
    } = app.user(&admin, Role::Editor).await;
    let (secret, _) = enrol(&app, &ada).await;
    enrol(&app, &admin).await;
    let admin_id = admin.get_json("/api/v1/me").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Never one's own, alone.
    let res = admin
        .delete(&format!("/api/v1/users/{admin_id}/second-factors"))
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // Not by a key, not by someone who is not an admin.
    let key = app.api_key(&admin, "full_access").await;
    let path = format!("/api/v1/users/{ada_id}/second-factors");
    assert_eq!(
        app.with_key(&key.secret).delete(&path).await.status(),
        StatusCode::FORBIDDEN
    );
    let NewUser { client: eve, .. } = app.user(&admin, Role::Editor).await;
    assert_eq!(eve.delete(&path).await.status(), StatusCode::FORBIDDEN);
    // Another subscription's admin does not find her.
    let other = app.second_subscription().await;
    assert_eq!(
        other.admin.delete(&path).await.status(),
        StatusCode::NOT_FOUND
    );
    // Only after a recent password.
    app.state.clock.advance(TimeDelta::minutes(11));
    assert_eq!(error_code(admin.delete(&path).await).await, "sudo_required");
    // An old code of hers still works until the reset.
    let _ = secret;
    let res = admin
        .post(
            "/api/v1/session/sudo",
            &json!({"password": crate::helpers::ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "the admin's code too"
    );
    let (admin, _) = two_steps_admin(&app).await;
    let res = admin.delete(&path).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // Her sessions ended; she signs in with her password alone and has no second step.
    assert_eq!(
        ada.get("/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let ada = app.sign_in(&ada_name, PASSWORD).await;
    let factors = ada.get_json("/api/v1/me/second-factors").await;
    assert_eq!(factors["items"], json!([]));
    assert_eq!(factors["recovery_codes_left"], 0);
    let events = admin
        .get_json("/api/v1/audit-events?action=second_factors.reset")
        .await;
    assert_eq!(events["items"][0]["target_id"], ada_id.as_str(), "{events}");
}

async fn acr_values_ask_an_application_s_sign_in_for_two_steps(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let meta = app
        .anonymous()
        .get_json("/.well-known/openid-configuration")
        .await;
    assert_eq!(
        meta["acr_values_supported"],
        json!(["urn:gatehouse:acr:password", "urn:gatehouse:acr:two-step"])
    );
    let reg = register(&admin, false, &[CALLBACK]).await;
    let two = "&acr_values=urn:gatehouse:acr:two-step";
    // A person without a second step cannot meet it: the application is told so.
    let NewUser { client: bob, .. } = app.user(&admin, Role::Viewer).await;
    let (to, _) = start(&app, &bob, &reg, two).await;
    assert!(to.starts_with(CALLBACK), "{to}");
    assert_eq!(
        param(&to, "error").as_deref(),
        Some("unmet_authentication_requirements")
    );
    // Asking for a password only is met by any sign-in: on to consent.
    let (to, _) = start(&app, &bob, &reg, "&acr_values=urn:gatehouse:acr:password").await;
    assert!(to.starts_with("/authorize?request="), "{to}");
    // A person signed in with both steps goes on.
    let NewUser {
        client: ada,
        id: ada_id,
        username,
    } = app.user(&admin, Role::Viewer).await;
    let (secret, _) = enrol(&app, &ada).await;
    app.state.clock.advance(TimeDelta::seconds(30));
    let (ada, res) = two_steps(&app, &username, json!({"code": code_now(&app, &secret)})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let (to, _) = start(&app, &ada, &reg, two).await;
    assert!(to.starts_with("/authorize?request="), "{to}");
    // A session of hers with the password alone (say, from before she set it up) is
    // sent to sign in again, with both steps.
    {
        use diesel::prelude::*;
        use gatehouse_server::db::schema::sessions;
        app.with_db(|conn| {
            diesel::update(sessions::table.filter(sessions::user_id.eq(&ada_id)))
                .set(sessions::amr.eq("pwd"))
                .execute(conn)
                .unwrap()
        });
    }
    let (to, _) = start(&app, &ada, &reg, two).await;
    let (_, reauth) = next_of(&app, &to);
    assert!(reauth, "{to}");
    let (to, _) = start(&app, &ada, &reg, &format!("{two}&prompt=none")).await;
    assert_eq!(param(&to, "error").as_deref(), Some("login_required"));
    // `prompt=login` asks again, and her sign-in asks both steps.
    let (to, _) = start(&app, &ada, &reg, "&prompt=login").await;
    assert!(next_of(&app, &to).1);
    let res = app.anonymous().try_sign_in(&username, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);

    // Someone who signed in with the password alone and then added an app (a thief with
    // the password could) has not signed in with two steps: asked again.
    let NewUser {
        client: cy,
        id: cy_id,
        ..
    } = app.user(&admin, Role::Viewer).await;
    enrol(&app, &cy).await;
    let (to, _) = start(&app, &cy, &reg, two).await;
    let (_, reauth) = next_of(&app, &to);
    assert!(reauth, "{to}");
    let amr: String = {
        use diesel::prelude::*;
        use gatehouse_server::db::schema::sessions;
        app.with_db(|conn| {
            sessions::table
                .filter(sessions::user_id.eq(&cy_id))
                .select(sessions::amr)
                .first(conn)
                .unwrap()
        })
    };
    assert_eq!(amr, "pwd");
}

/// Allowing an app to write or to stay signed in past the session is lasting access: it
/// needs a recent password, on the consent page and for a device alike.
async fn lasting_access_for_apps_needs_a_recent_password(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let reg = register(&admin, false, &[CALLBACK]).await;
    let NewUser { client: ada, .. } = app.user(&admin, Role::Editor).await;
    let spa = register(&admin, true, &[CALLBACK]).await;
    app.state.clock.advance(TimeDelta::minutes(11));
    let consent = |extra: &'static str| {
        let (app, ada, reg) = (&app, &ada, &reg);
        async move {
            let to = start_with_scope(app, ada, reg, extra).await;
            let request = to
                .strip_prefix("/authorize?request=")
                .unwrap_or_else(|| panic!("{to}"))
                .to_string();
            format!("/api/v1/oauth/requests/{request}")
        }
    };
    // Reading only: allowed as it is.
    let path = consent("openid%20api:read").await;
    let res = ada.post(&path, &json!({"decision": "allow"})).await;
    assert_eq!(res.status(), StatusCode::OK);
    // Writing: the password first; the same request goes on after it.
    let path = consent("openid%20api:write").await;
    let res = ada.post(&path, &json!({"decision": "allow"})).await;
    assert_eq!(error_code(res).await, "sudo_required");
    let res = ada
        .post("/api/v1/session/sudo", &json!({"password": PASSWORD}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = ada.post(&path, &json!({"decision": "allow"})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let back: Value = res.json().await.unwrap();
    assert!(param(back["redirect_to"].as_str().unwrap(), "code").is_some());
    // Denying never needs it.
    app.state.clock.advance(TimeDelta::minutes(11));
    let path = consent("openid%20offline_access").await;
    let res = ada.post(&path, &json!({"decision": "allow"})).await;
    assert_eq!(error_code(res).await, "sudo_required");
    let res = ada.post(&path, &json!({"decision": "deny"})).await;
    assert_eq!(res.status(), StatusCode::OK);

    // An app with no secret, allowed offline access once: later, without a recent
    // password, it is not handed refresh tokens silently (whoever holds the cookie could
    // redeem the code) — the consent page asks, and it asks for the password.
    app.state.clock.advance(TimeDelta::minutes(11));
    let res = ada
        .post("/api/v1/session/sudo", &json!({"password": PASSWORD}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let to = start_with_scope(&app, &ada, &spa, "openid%20offline_access").await;
    let request = to.strip_prefix("/authorize?request=").expect("consent");
    let res = ada
        .post(
            &format!("/api/v1/oauth/requests/{request}"),
            &json!({"decision": "allow"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // Within the ten minutes, the allowed app goes straight through…
    let to = start_with_scope(&app, &ada, &spa, "openid%20offline_access").await;
    assert!(to.starts_with(CALLBACK), "{to}");
    // …after them, through the consent page; a confidential client still goes straight.
    app.state.clock.advance(TimeDelta::minutes(11));
    let to = start_with_scope(&app, &ada, &spa, "openid%20offline_access").await;
    assert!(to.starts_with("/authorize?request="), "{to}");
    let to = start_with_scope(&app, &ada, &spa, "openid").await;
    assert!(to.starts_with(CALLBACK), "{to}");
}

/// An authorization request for `scope`, started in the user's browser: where it
/// sends the browser.
async fn start_with_scope(
    app: &TestApp,
    user: &Client,
    reg: &crate::helpers::oauth::Registered,
    scope: &str,
) -> String {
    let (challenge, _) = oauth2::PkceCodeChallenge::new_random_sha256();
    let url = app.url(&format!(
        "/oauth/authorize?response_type=code&client_id={}&redirect_uri={CALLBACK}&scope={scope}&state=st&nonce=n&code_challenge={}&code_challenge_method=S256",
        reg.client_id,
        challenge.as_str()
    ));
    let res = user.http.get(&url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    res.headers()["location"].to_str().unwrap().to_string()
}

/// A right password (and code) confirmed again and again is never a failure: the
/// lockout counts only wrong ones.
async fn confirming_the_password_never_counts_towards_the_lock(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let res = admin
        .patch(
            "/api/v1/subscription",
            &json!({"login_lockout_threshold": 3}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let NewUser {
        client: ada,
        username,
        ..
    } = app.user(&admin, Role::Editor).await;
    let (secret, _) = enrol(&app, &ada).await;
    for _ in 0..5 {
        app.state.clock.advance(TimeDelta::minutes(11));
        let res = ada
            .post(
                "/api/v1/session/sudo",
                &json!({"password": PASSWORD, "code": code_now(&app, &secret)}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let res = app.anonymous().try_sign_in(&username, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED, "not locked");
    // With the unfinished sign-in above, two attempts stand, one short of the lock: a
    // right password and code still do not lock.
    for _ in 0..1 {
        let res = app
            .anonymous()
            .try_sign_in(&username, "not the password!")
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    app.state.clock.advance(TimeDelta::minutes(11));
    let res = ada
        .post(
            "/api/v1/session/sudo",
            &json!({"password": PASSWORD, "code": code_now(&app, &secret)}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.anonymous().try_sign_in(&username, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED, "not locked");
}
