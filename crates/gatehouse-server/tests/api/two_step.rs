//! Two-step sign-in: an authenticator app enrolled with its QR code and a typed code,
//! asked for after the password; recovery codes; wrong codes and the lockout; what
//! id_tokens say of it (`amr`, `acr`).

use chrono::TimeDelta;
use gatehouse_server::auth::totp;
use gatehouse_types::{
    ConfirmedSecondFactor, Role, SecondFactors, SecondStepRequired, SessionInfo, TotpEnrolment,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, Client, IssuedKey, NewUser, TestApp, error_code, spawn_app};
use crate::reauth::claims_of;

both_backends!(
    an_authenticator_app_is_enrolled_then_asked_for_after_the_password,
    recovery_codes_work_once_and_new_ones_replace_them,
    wrong_codes_count_towards_the_lockout_and_end_the_waiting_sign_in,
    only_the_person_signed_in_manages_second_steps,
    wrong_codes_have_a_budget_no_setting_raises,
    id_tokens_say_how_the_person_signed_in,
);

pub const PASSWORD: &str = "a password of some length";

/// The code the app shows now, by the server's clock.
pub fn code_now(app: &TestApp, secret: &str) -> String {
    let key = totp::from_base32(secret).expect("base32");
    let now = app.state.clock.now().and_utc().timestamp();
    totp::code_at(&key, now / totp::STEP)
}

/// Enrols an authenticator app for the signed-in `user`: its secret and recovery codes.
pub async fn enrol(app: &TestApp, user: &Client) -> (String, Vec<String>) {
    let res = user
        .post("/api/v1/me/second-factors/totp", &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let started: TotpEnrolment = res.json().await.unwrap();
    let res = user
        .post(
            &format!("/api/v1/me/second-factors/{}/confirm", started.id),
            &json!({"code": code_now(app, &started.secret), "name": "Phone"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let confirmed: ConfirmedSecondFactor = res.json().await.unwrap();
    (
        started.secret,
        confirmed.recovery_codes.expect("the first brings codes"),
    )
}

/// Signs in with the password and answers the second step with `proof`; the answer.
pub async fn two_steps(app: &TestApp, username: &str, proof: Value) -> (Client, reqwest::Response) {
    let c = app.anonymous();
    let res = c.try_sign_in(username, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let owed: SecondStepRequired = res.json().await.unwrap();
    let mut body = proof;
    body["second_step_token"] = json!(owed.second_step_token);
    let res = c.post("/api/v1/session/second-step", &body).await;
    (c, res)
}

async fn an_authenticator_app_is_enrolled_then_asked_for_after_the_password(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser {
        client: ada,
        username,
        ..
    } = app.user(&admin, Role::Editor).await;
    let other = app.sign_in(&username, PASSWORD).await;
    // Started: the secret, the URI an app scans, and that URI as a QR code.
    let res = ada.post("/api/v1/me/second-factors/totp", &json!({})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let started: TotpEnrolment = res.json().await.unwrap();
    assert!(
        started.otpauth_uri.starts_with(&format!(
            "otpauth://totp/Gatehouse:{}?secret={}",
            username.replace('@', "%40"),
            started.secret
        )),
        "{}",
        started.otpauth_uri
    );
    assert!(started.qr_svg.contains("<svg"), "an SVG document");
    // Not used until confirmed: not listed, and sign-in is still the password alone.
    let listed: SecondFactors = ada.get_json("/api/v1/me/second-factors").await.pipe();
    assert!(listed.items.is_empty());
    assert_eq!(
        app.anonymous()
            .try_sign_in(&username, PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
    // A wrong code does not confirm it.
    let confirm = format!("/api/v1/me/second-factors/{}/confirm", started.id);
    let res = ada
        .post(&confirm, &json!({"code": "000000", "name": "Phone"}))
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["details"]["field"], "code");
    let code = code_now(&app, &started.secret);
    let res = ada
        .post(&confirm, &json!({"code": code, "name": "Phone"}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let confirmed: ConfirmedSecondFactor = res.json().await.unwrap();
    assert_eq!(confirmed.factor.name, "Phone");
    let codes = confirmed.recovery_codes.expect("ten recovery codes");
    assert_eq!(codes.len(), 10);
    assert!(
        codes
            .iter()
            .all(|c| c.len() == 19 && c.split('-').all(|part| part.len() == 4)),
        "{codes:?}"
    );
    let listed: SecondFactors = ada.get_json("/api/v1/me/second-factors").await.pipe();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.recovery_codes_left, 10);
    // Turning it on signed out every other session (signed in with the password
    // alone); this one stays.
    assert_eq!(
        other.get("/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(ada.get("/api/v1/me").await.status(), StatusCode::OK);

    // The password alone now answers 202: no cookie, no session, a waiting sign-in.
    let c = app.anonymous();
    let res = c.try_sign_in(&username, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert!(res.headers().get("set-cookie").is_none());
    let owed: SecondStepRequired = res.json().await.unwrap();
    assert_eq!(owed.methods, ["totp", "recovery_code"]);
    assert_eq!(c.get("/api/v1/me").await.status(), StatusCode::UNAUTHORIZED);
    // The code used to confirm is spent; a wrong one is refused.
    for spent in [code.as_str(), "123456"] {
        let res = c
            .post(
                "/api/v1/session/second-step",
                &json!({"second_step_token": owed.second_step_token, "code": spent}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(error_code(res).await, "invalid_second_step");
    }
    // Thirty seconds on, the app shows a new code: signed in, as the session says.
    app.state.clock.advance(TimeDelta::seconds(30));
    let fresh = code_now(&app, &started.secret);
    let res = c
        .post(
            "/api/v1/session/second-step",
            &json!({"second_step_token": owed.second_step_token, "code": fresh}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .starts_with("gatehouse_session=")
    );
    let info: SessionInfo = res.json().await.unwrap();
    assert_eq!(info.user.username, username);
    assert_eq!(c.get("/api/v1/me").await.status(), StatusCode::OK);
    // The waiting sign-in is spent, and so is that code.
    let res = c
        .post(
            "/api/v1/session/second-step",
            &json!({"second_step_token": owed.second_step_token, "code": fresh}),
        )
        .await;
    assert_eq!(error_code(res).await, "second_step_expired");
    let (_, res) = two_steps(&app, &username, json!({"code": fresh})).await;
    assert_eq!(
        error_code(res).await,
        "invalid_second_step",
        "a code works once"
    );
    // Everything is in the audit log.
    let events: Value = admin
        .get_json("/api/v1/audit-events?scope=all&limit=100")
        .await;
    let actions: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for action in [
        "second_factor.added",
        "session.second_step_required",
        "session.second_step_failed",
        "second_factor.used",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    // Removing the app (the last one) takes the recovery codes with it: the password
    // alone signs in again.
    let id = listed.items[0].id.clone();
    let res = ada.delete(&format!("/api/v1/me/second-factors/{id}")).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let listed: SecondFactors = ada.get_json("/api/v1/me/second-factors").await.pipe();
    assert_eq!((listed.items.len(), listed.recovery_codes_left), (0, 0));
    assert_eq!(
        app.anonymous()
            .try_sign_in(&username, PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
}

async fn recovery_codes_work_once_and_new_ones_replace_them(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser {
        client: ada,
        username,
        ..
    } = app.user(&admin, Role::Viewer).await;
    let (_, codes) = enrol(&app, &ada).await;
    // Typed as people type them: upper case, without the dash.
    let typed = codes[0].replace('-', "").to_uppercase();
    let (c, res) = two_steps(&app, &username, json!({"recovery_code": typed})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(c.get("/api/v1/me").await.status(), StatusCode::OK);
    let (_, res) = two_steps(&app, &username, json!({"recovery_code": codes[0]})).await;
    assert_eq!(error_code(res).await, "invalid_second_step", "used once");
    let listed: SecondFactors = ada.get_json("/api/v1/me/second-factors").await.pipe();
    assert_eq!(listed.recovery_codes_left, 9);
    // New codes: the old ones stop.
    let res = ada.post("/api/v1/me/recovery-codes", &json!({})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let fresh: Value = res.json().await.unwrap();
    let (_, res) = two_steps(&app, &username, json!({"recovery_code": codes[1]})).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let (_, res) = two_steps(&app, &username, json!({"recovery_code": fresh["codes"][0]})).await;
    assert_eq!(res.status(), StatusCode::OK);
    // Neither a code nor a recovery code, or both: a clear 422.
    let (_, res) = two_steps(&app, &username, json!({})).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Without a second step, recovery codes mean nothing: 409.
    let NewUser { client: bob, .. } = app.user(&admin, Role::Viewer).await;
    let res = bob.post("/api/v1/me/recovery-codes", &json!({})).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
}

async fn wrong_codes_count_towards_the_lockout_and_end_the_waiting_sign_in(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser {
        client: ada,
        id,
        username,
    } = app.user(&admin, Role::Viewer).await;
    let (secret, _) = enrol(&app, &ada).await;
    // Five wrong codes end a waiting sign-in (the sixth try finds it gone).
    let c = app.anonymous();
    let owed: SecondStepRequired = c
        .try_sign_in(&username, PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let step = |code: &str| {
        let body = json!({"second_step_token": owed.second_step_token, "code": code});
        let c = &c;
        async move { c.post("/api/v1/session/second-step", &body).await }
    };
    for _ in 0..5 {
        assert_eq!(
            error_code(step("999999").await).await,
            "invalid_second_step"
        );
    }
    app.state.clock.advance(TimeDelta::seconds(30));
    let right = code_now(&app, &secret);
    assert_eq!(error_code(step(&right).await).await, "second_step_expired");
    // Each wrong code counted like a wrong password (six in a row now, with the
    // password's own attempt): with the threshold lowered to 3, the next attempt locks
    // password sign-in. (Uncounted, it would have been the second.)
    let res = admin
        .patch(
            "/api/v1/subscription",
            &json!({"login_lockout_threshold": 3}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        app.anonymous()
            .try_sign_in(&username, PASSWORD)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let user: Value = admin.get_json(&format!("/api/v1/users/{id}")).await;
    assert!(user["password_locked_until"].is_string(), "{user}");
    // A waiting sign-in lives five minutes.
    let res = admin
        .patch(&format!("/api/v1/users/{id}"), &json!({"state": "active"}))
        .await;
    assert!(res.status().is_success(), "{}", res.status());
    let c = app.anonymous();
    let owed: SecondStepRequired = c
        .try_sign_in(&username, PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    app.state.clock.advance(TimeDelta::minutes(6));
    let res = c
        .post(
            "/api/v1/session/second-step",
            &json!({"second_step_token": owed.second_step_token, "code": code_now(&app, &secret)}),
        )
        .await;
    assert_eq!(error_code(res).await, "second_step_expired");
}

/// Ten wrong codes an hour per person, however high the lockout threshold is set: a
/// thief with the password cannot start waiting sign-in after waiting sign-in to guess.
async fn wrong_codes_have_a_budget_no_setting_raises(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let res = admin
        .patch(
            "/api/v1/subscription",
            &json!({"login_lockout_threshold": 1000}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let NewUser {
        client: ada,
        username,
        ..
    } = app.user(&admin, Role::Viewer).await;
    let (secret, _) = enrol(&app, &ada).await;
    for _ in 0..10 {
        let (_, res) = two_steps(&app, &username, json!({"code": "999999"})).await;
        assert_eq!(error_code(res).await, "invalid_second_step");
    }
    // The eleventh waits, even with the right code.
    app.state.clock.advance(TimeDelta::seconds(30));
    let (_, res) = two_steps(&app, &username, json!({"code": code_now(&app, &secret)})).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
}

async fn only_the_person_signed_in_manages_second_steps(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let IssuedKey { secret, .. } = app.api_key(&admin, "full_access").await;
    let key = app.with_key(&secret);
    for res in [
        key.get("/api/v1/me/second-factors").await,
        key.post("/api/v1/me/second-factors/totp", &json!({})).await,
        key.post("/api/v1/me/recovery-codes", &json!({})).await,
    ] {
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(error_code(res).await, "session_required");
    }
    // Someone else's enrolment is not there for anyone else.
    let NewUser { client: ada, .. } = app.user(&admin, Role::Viewer).await;
    let started: TotpEnrolment = ada
        .post("/api/v1/me/second-factors/totp", &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let res = admin
        .post(
            &format!("/api/v1/me/second-factors/{}/confirm", started.id),
            &json!({"code": code_now(&app, &started.secret), "name": "Mine now"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = admin
        .delete(&format!("/api/v1/me/second-factors/{}", started.id))
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

/// Signs `user` in to the test client through the authorization endpoint with `openid`;
/// the token endpoint's answer.
async fn openid_tokens(
    app: &TestApp,
    user: &Client,
    reg: &crate::helpers::oauth::Registered,
) -> Value {
    let client = crate::helpers::oauth::oauth(app, reg, crate::helpers::oauth::CALLBACK);
    let (challenge, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
    let (url, _) = client
        .authorize_url(oauth2::CsrfToken::new_random)
        .add_scope(oauth2::Scope::new("openid".into()))
        .set_pkce_challenge(challenge)
        .url();
    let back = crate::helpers::oauth::browser(app, user, url.as_str(), true).await;
    reqwest::Client::new()
        .post(app.url("/oauth/token"))
        .basic_auth(&reg.client_id, reg.secret.as_deref())
        .form(&[
            ("grant_type", "authorization_code"),
            (
                "code",
                &crate::helpers::oauth::param(&back, "code").unwrap(),
            ),
            ("redirect_uri", crate::helpers::oauth::CALLBACK),
            ("code_verifier", verifier.secret()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn id_tokens_say_how_the_person_signed_in(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let meta = app
        .anonymous()
        .get_json("/.well-known/openid-configuration")
        .await;
    for claim in ["amr", "acr"] {
        assert!(
            meta["claims_supported"]
                .as_array()
                .unwrap()
                .contains(&json!(claim))
        );
    }
    let reg =
        crate::helpers::oauth::register(&admin, false, &[crate::helpers::oauth::CALLBACK]).await;
    // A password alone: `pwd`.
    let NewUser { client: bob, .. } = app.user(&admin, Role::Viewer).await;
    let tokens = openid_tokens(&app, &bob, &reg).await;
    let c = claims_of(&tokens);
    assert_eq!(c["amr"], json!(["pwd"]));
    assert_eq!(c["acr"], "urn:gatehouse:acr:password");
    // Password and code: `pwd otp mfa`, kept when the token is refreshed.
    let NewUser {
        client: ada,
        username,
        ..
    } = app.user(&admin, Role::Viewer).await;
    let (secret, _) = enrol(&app, &ada).await;
    app.state.clock.advance(TimeDelta::seconds(30));
    let (mut signed_in, res) =
        two_steps(&app, &username, json!({"code": code_now(&app, &secret)})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let info: SessionInfo = res.json().await.unwrap();
    signed_in.csrf = info.csrf_token;
    let tokens = openid_tokens(&app, &signed_in, &reg).await;
    let c = claims_of(&tokens);
    assert_eq!(c["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(c["acr"], "urn:gatehouse:acr:two-step");
    let refreshed: Value = reqwest::Client::new()
        .post(app.url("/oauth/token"))
        .basic_auth(&reg.client_id, reg.secret.as_deref())
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let c = claims_of(&refreshed);
    assert_eq!(c["amr"], json!(["pwd", "otp", "mfa"]));
}

/// `get_json` into a type.
trait Pipe {
    fn pipe<T: serde::de::DeserializeOwned>(self) -> T;
}

impl Pipe for Value {
    fn pipe<T: serde::de::DeserializeOwned>(self) -> T {
        serde_json::from_value(self).expect("the API's own type")
    }
}
