//! Every kind of client (issue 21): client metadata under RFC 7591's names, services
//! with client credentials and their service accounts, and `offline_access`.

use gatehouse_types::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::oauth::{CALLBACK, Registered, authorize, register};
use crate::helpers::{Backend, Client, NewUser, TestApp, error_code, http_client, spawn_app};

both_backends!(
    clients_register_their_metadata_under_rfc_7591_names,
    bad_client_metadata_is_refused_and_changes_nothing,
    only_administrators_give_a_client_a_service_account,
    a_service_gets_tokens_for_its_service_account,
    a_service_account_stops_with_its_client,
    a_disabled_client_gets_nothing_by_any_path,
    client_credentials_errors_follow_rfc_6749,
    grant_types_limit_what_a_client_may_use,
    offline_access_is_a_known_scope,
);

async fn create(admin: &Client, body: Value) -> (StatusCode, Value) {
    let res = admin.post("/api/v1/oauth-clients", &body).await;
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// A confidential client with client credentials and an editor service account.
async fn service(admin: &Client, role: &str) -> Registered {
    let (status, v) = create(
        admin,
        json!({
            "name": "Nightly Sync",
            "redirect_uris": [CALLBACK],
            "grant_types": ["client_credentials"],
            "service_role": role,
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    Registered {
        id: v["id"].as_str().unwrap().into(),
        client_id: v["client_id"].as_str().unwrap().into(),
        secret: v["client_secret"].as_str().map(str::to_string),
    }
}

async fn token(app: &TestApp, reg: &Registered, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let res = http_client()
        .post(app.url("/oauth/token"))
        .basic_auth(&reg.client_id, reg.secret.as_deref())
        .form(form)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap())
}

async fn clients_register_their_metadata_under_rfc_7591_names(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    // Left out: the defaults, and the callback URLs' origins.
    let (status, v) = create(
        &admin,
        json!({"name": "Plain", "redirect_uris": ["https://app.example.com/cb", "http://127.0.0.1/cb"]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        v["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(v["post_logout_redirect_uris"], json!([]));
    assert_eq!(v["backchannel_logout_uri"], Value::Null);
    assert_eq!(
        v["allowed_origins"],
        json!(["https://app.example.com", "http://127.0.0.1"])
    );
    assert_eq!(v["service_role"], Value::Null);
    assert_eq!(v["service_user_id"], Value::Null);
    // Named: normalized and kept.
    let (status, v) = create(
        &admin,
        json!({
            "name": "Browser app",
            "client_type": "public",
            "redirect_uris": ["https://spa.example.com/callback"],
            "grant_types": ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"],
            "post_logout_redirect_uris": ["https://spa.example.com/bye"],
            "backchannel_logout_uri": "https://spa.example.com/backchannel",
            "allowed_origins": ["https://SPA.example.com:443", "http://localhost:5173"],
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(
        v["allowed_origins"],
        json!(["https://spa.example.com", "http://localhost:5173"])
    );
    assert_eq!(
        v["post_logout_redirect_uris"],
        json!(["https://spa.example.com/bye"])
    );
    assert_eq!(
        v["backchannel_logout_uri"],
        "https://spa.example.com/backchannel"
    );
    let id = v["id"].as_str().unwrap().to_string();
    // Read back and edited: `null` goes back to the default origins.
    let got = admin.get_json(&format!("/api/v1/oauth-clients/{id}")).await;
    assert_eq!(got["grant_types"].as_array().unwrap().len(), 3);
    let res = admin
        .patch(
            &format!("/api/v1/oauth-clients/{id}"),
            &json!({"allowed_origins": null, "backchannel_logout_uri": null}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["allowed_origins"], json!(["https://spa.example.com"]));
    assert_eq!(v["backchannel_logout_uri"], Value::Null);
    assert_eq!(
        v["post_logout_redirect_uris"],
        json!(["https://spa.example.com/bye"])
    );
}

async fn bad_client_metadata_is_refused_and_changes_nothing(b: Backend) {
    let app = spawn_app_refusing_private(b).await;
    let admin = app.admin().await;
    let base = json!({"name": "X", "redirect_uris": [CALLBACK]});
    let with = |k: &str, v: Value| {
        let mut body = base.clone();
        body[k] = v;
        body
    };
    for (body, field) in [
        (with("grant_types", json!(["password"])), "grant_types"),
        (with("grant_types", json!(["implicit"])), "grant_types"),
        (with("grant_types", json!([])), "grant_types"),
        (with("grant_types", json!(["refresh_token"])), "grant_types"),
        (
            with("allowed_origins", json!(["https://a.example/path"])),
            "allowed_origins",
        ),
        (
            with("allowed_origins", json!(["http://evil.example"])),
            "allowed_origins",
        ),
        (with("allowed_origins", json!(["*"])), "allowed_origins"),
        (with("allowed_origins", json!(["null"])), "allowed_origins"),
        (
            with("post_logout_redirect_uris", json!(["javascript:alert(1)"])),
            "post_logout_redirect_uris",
        ),
        (
            with("backchannel_logout_uri", json!("http://evil.example/bc")),
            "backchannel_logout_uri",
        ),
        // Gatehouse would call these itself: never loopback, private or link-local.
        (
            with("backchannel_logout_uri", json!("https://127.0.0.1/bc")),
            "backchannel_logout_uri",
        ),
        (
            with(
                "backchannel_logout_uri",
                json!("https://169.254.169.254/latest"),
            ),
            "backchannel_logout_uri",
        ),
        (
            with("backchannel_logout_uri", json!("https://[::1]/bc")),
            "backchannel_logout_uri",
        ),
        (with("service_role", json!("viewer")), "service_role"),
    ] {
        let res = admin.post("/api/v1/oauth-clients", &body).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["error"]["code"], "validation_failed", "{v}");
        assert_eq!(v["error"]["details"]["field"], field, "{v}");
    }
    // Client credentials: confidential clients only, never an admin service account.
    let mut public = with("grant_types", json!(["client_credentials"]));
    public["service_role"] = json!("viewer");
    public["client_type"] = json!("public");
    let mut admin_role = with("grant_types", json!(["client_credentials"]));
    admin_role["service_role"] = json!("admin");
    for body in [
        public,
        admin_role,
        with("grant_types", json!(["client_credentials"])),
    ] {
        let res = admin.post("/api/v1/oauth-clients", &body).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
    let list = admin.get_json("/api/v1/oauth-clients").await;
    assert_eq!(list["items"], json!([]), "nothing was registered");
    let users = admin.get_json("/api/v1/users").await;
    assert_eq!(
        users["items"].as_array().unwrap().len(),
        1,
        "no service account"
    );
}

/// A server that refuses private addresses for its own outbound calls, as in production.
async fn spawn_app_refusing_private(b: Backend) -> TestApp {
    crate::helpers::spawn_app_with(b, |s| s.outbound_allow_private = false).await
}

async fn only_administrators_give_a_client_a_service_account(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser { client: editor, .. } = app.user(&admin, Role::Editor).await;
    let (status, v) = create(
        &editor,
        json!({"name": "Mine", "redirect_uris": [CALLBACK], "grant_types": ["client_credentials"], "service_role": "viewer"}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    // An editor's own client: the device grant is theirs to choose, a service account is not.
    let (status, v) = create(
        &editor,
        json!({"name": "Mine", "redirect_uris": [CALLBACK], "grant_types": ["authorization_code", "urn:ietf:params:oauth:grant-type:device_code"]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().unwrap();
    let res = editor
        .patch(
            &format!("/api/v1/oauth-clients/{id}"),
            &json!({"grant_types": ["client_credentials"], "service_role": "editor"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // An API key, even an admin's, cannot either: it needs a signed-in session.
    let key = app.api_key(&admin, "full_access").await;
    let res = app
        .with_key(&key.secret)
        .patch(
            &format!("/api/v1/oauth-clients/{id}"),
            &json!({"grant_types": ["client_credentials"], "service_role": "editor"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // The admin, signed in, may.
    let res = admin
        .patch(
            &format!("/api/v1/oauth-clients/{id}"),
            &json!({"grant_types": ["client_credentials"], "service_role": "editor"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["service_role"], "editor");
    assert_eq!(v["service_user_id"], v["id"]);
}

async fn a_service_gets_tokens_for_its_service_account(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let svc = service(&admin, "editor").await;
    let (status, t) = token(&app, &svc, &[("grant_type", "client_credentials")]).await;
    assert_eq!(status, StatusCode::OK, "{t}");
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["scope"], "api:read api:write");
    assert!(t.get("refresh_token").is_none(), "no refresh token: {t}");
    assert!(t.get("id_token").is_none());
    let access = t["access_token"].as_str().unwrap();
    // The token acts as the service account, with its role's rights.
    let bearer = app.with_key(access);
    let me = bearer.get_json("/api/v1/session").await;
    assert_eq!(me["user"]["kind"], "service");
    assert_eq!(me["user"]["role"], "editor");
    assert_eq!(me["user"]["username"], format!("service:{}", svc.client_id));
    assert_eq!(me["credential"]["kind"], "oauth");
    // Listed under Users as a service account of the client.
    let users = admin.get_json("/api/v1/users").await;
    let account = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["kind"] == "service")
        .expect("the service account is listed");
    assert_eq!(account["service_client_id"], svc.id.as_str());
    // It cannot sign in, whatever is tried.
    let res = app
        .anonymous()
        .try_sign_in(account["username"].as_str().unwrap(), "!service-account")
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // Its role and existence are the client's: /users refuses to change them.
    let uid = account["id"].as_str().unwrap();
    let res = admin
        .patch(&format!("/api/v1/users/{uid}"), &json!({"role": "admin"}))
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(res).await, "service_account");
    let res = admin.delete(&format!("/api/v1/users/{uid}")).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    // Narrower scopes on request; a viewer's account cannot write.
    let (status, t) = token(
        &app,
        &svc,
        &[("grant_type", "client_credentials"), ("scope", "api:read")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(t["scope"], "api:read");
    let viewer = service(&admin, "viewer").await;
    let (status, t) = token(&app, &viewer, &[("grant_type", "client_credentials")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(t["scope"], "api:read");
    let (status, t) = token(
        &app,
        &viewer,
        &[("grant_type", "client_credentials"), ("scope", "api:write")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(t["error"], "invalid_scope");
    // The audit log names the service account as the actor of what its token did.
    let res = bearer
        .delete(&format!(
            "/api/v1/api-keys/{}",
            app.api_key(&admin, "read_only").await.id
        ))
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "not its key to delete");
}

async fn a_service_account_stops_with_its_client(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let svc = service(&admin, "viewer").await;
    let (_, t) = token(&app, &svc, &[("grant_type", "client_credentials")]).await;
    let bearer = app.with_key(t["access_token"].as_str().unwrap());
    assert_eq!(bearer.get("/api/v1/session").await.status(), StatusCode::OK);
    // Disabled under Users: its tokens stop, and no new ones are issued.
    let uid = svc.id.clone();
    let res = admin
        .patch(
            &format!("/api/v1/users/{uid}"),
            &json!({"state": "disabled"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        bearer.get("/api/v1/session").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let (status, v) = token(&app, &svc, &[("grant_type", "client_credentials")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"], "unauthorized_client");
    admin
        .patch(&format!("/api/v1/users/{uid}"), &json!({"state": "active"}))
        .await;
    let (_, t) = token(&app, &svc, &[("grant_type", "client_credentials")]).await;
    let bearer = app.with_key(t["access_token"].as_str().unwrap());
    assert_eq!(bearer.get("/api/v1/session").await.status(), StatusCode::OK);
    // Client credentials taken away: the account goes, its tokens stop.
    let res = admin
        .patch(
            &format!("/api/v1/oauth-clients/{}", svc.id),
            &json!({"grant_types": ["authorization_code"], "service_role": null}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        bearer.get("/api/v1/session").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let (status, v) = token(&app, &svc, &[("grant_type", "client_credentials")]).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unauthorized_client"))
    );
    // Given back, then the client deleted: the account is deleted with it.
    let res = admin
        .patch(
            &format!("/api/v1/oauth-clients/{}", svc.id),
            &json!({"grant_types": ["client_credentials"], "service_role": "viewer"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let (_, t) = token(&app, &svc, &[("grant_type", "client_credentials")]).await;
    let bearer = app.with_key(t["access_token"].as_str().unwrap());
    assert_eq!(bearer.get("/api/v1/session").await.status(), StatusCode::OK);
    let res = admin
        .delete(&format!("/api/v1/oauth-clients/{}", svc.id))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        bearer.get("/api/v1/session").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let users = admin.get_json("/api/v1/users").await;
    assert!(
        users["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["kind"] == "person"),
        "{users}"
    );
}

async fn client_credentials_errors_follow_rfc_6749(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let svc = service(&admin, "viewer").await;
    // A wrong secret: invalid_client, 401, WWW-Authenticate.
    let res = http_client()
        .post(app.url("/oauth/token"))
        .basic_auth(&svc.client_id, Some("gats_wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().get("www-authenticate").is_some());
    // A client without client credentials: unauthorized_client.
    let plain = register(&admin, false, &[CALLBACK]).await;
    let (status, v) = token(&app, &plain, &[("grant_type", "client_credentials")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"], "unauthorized_client");
    // A public client: it cannot authenticate, so it never gets that far.
    let public = register(&admin, true, &[CALLBACK]).await;
    let res = http_client()
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &public.client_id),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"], "unauthorized_client");
    // Unknown scopes and unknown grant types.
    let (status, v) = token(
        &app,
        &svc,
        &[("grant_type", "client_credentials"), ("scope", "admin")],
    )
    .await;
    assert_eq!(
        (status, v["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope"))
    );
    let (status, v) = token(&app, &svc, &[("grant_type", "password")]).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unsupported_grant_type"))
    );
}

async fn grant_types_limit_what_a_client_may_use(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser { client: user, .. } = app.user(&admin, Role::Editor).await;
    let svc = service(&admin, "viewer").await;
    // A service-only client may not run the code flow nor refresh.
    let (status, v) = token(
        &app,
        &svc,
        &[("grant_type", "refresh_token"), ("refresh_token", "gatr_x")],
    )
    .await;
    assert_eq!(
        (status, v["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unauthorized_client"))
    );
    let res = app
        .anonymous()
        .get(&format!(
            "/oauth/authorize?response_type=code&client_id={}&redirect_uri={CALLBACK}&scope=api:read&state=s",
            svc.client_id
        ))
        .await;
    assert_eq!(res.status(), StatusCode::FOUND);
    let location = res.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with(CALLBACK) && location.contains("error=unauthorized_client"),
        "{location}"
    );
    // A code-flow client without refresh_token gets no refresh from its old token.
    let reg = register(&admin, false, &[CALLBACK]).await;
    let tokens = authorize(&app, &user, &reg, &["api:read"]).await;
    let refresh = oauth2::TokenResponse::refresh_token(&tokens)
        .unwrap()
        .secret()
        .to_string();
    let res = admin
        .patch(
            &format!("/api/v1/oauth-clients/{}", reg.id),
            &json!({"grant_types": ["authorization_code"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let (status, v) = token(
        &app,
        &reg,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(
        (status, v["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unauthorized_client"))
    );
}

async fn offline_access_is_a_known_scope(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser { client: user, .. } = app.user(&admin, Role::Editor).await;
    let meta: Value = http_client()
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let scopes = meta["scopes_supported"].as_array().unwrap();
    assert!(scopes.contains(&json!("offline_access")), "{meta}");
    let grants = meta["grant_types_supported"].as_array().unwrap();
    assert!(grants.contains(&json!("client_credentials")), "{meta}");
    // `openid offline_access` is what many relying parties send by default.
    let reg = register(&admin, false, &[CALLBACK]).await;
    let tokens = authorize(&app, &user, &reg, &["openid", "offline_access"]).await;
    assert!(oauth2::TokenResponse::refresh_token(&tokens).is_some());
    let scope: Vec<String> = oauth2::TokenResponse::scopes(&tokens)
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert!(scope.contains(&"offline_access".to_string()), "{scope:?}");
    // The authorized app lists it.
    let apps = user.get_json("/api/v1/authorized-apps").await;
    assert!(
        apps["items"][0]["scopes"]
            .as_array()
            .unwrap()
            .contains(&json!("offline_access")),
        "{apps}"
    );
}

both_backends!(
    browser_apps_read_answers_only_from_registered_origins,
    a_service_account_never_does_more_than_its_clients_owner,
    a_device_allowed_then_revoked_redeems_nothing,
);

async fn a_service_account_never_does_more_than_its_clients_owner(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser {
        client: owner,
        id: owner_id,
        ..
    } = app.user(&admin, Role::Admin).await;
    let svc = service(&owner, "editor").await;
    let (status, t) = token(&app, &svc, &[("grant_type", "client_credentials")]).await;
    assert_eq!(
        (status, t["scope"].as_str()),
        (StatusCode::OK, Some("api:read api:write"))
    );
    // The owner demoted to viewer: the service account only reads, and may not ask to write.
    let res = admin
        .patch(
            &format!("/api/v1/users/{owner_id}"),
            &json!({"role": "viewer"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let (status, t) = token(&app, &svc, &[("grant_type", "client_credentials")]).await;
    assert_eq!(
        (status, t["scope"].as_str()),
        (StatusCode::OK, Some("api:read"))
    );
    let (status, t) = token(
        &app,
        &svc,
        &[("grant_type", "client_credentials"), ("scope", "api:write")],
    )
    .await;
    assert_eq!(
        (status, t["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope"))
    );
    // …and as a viewer they may no longer mint the client a new secret.
    let owner = app
        .sign_in(
            owner.get_json("/api/v1/me").await["username"]
                .as_str()
                .unwrap(),
            "a password of some length",
        )
        .await;
    let res = owner
        .post(
            &format!("/api/v1/oauth-clients/{}/reset-secret", svc.id),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // The owner disabled: no tokens at all.
    let res = admin
        .patch(
            &format!("/api/v1/users/{owner_id}"),
            &json!({"state": "disabled"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let (status, t) = token(&app, &svc, &[("grant_type", "client_credentials")]).await;
    assert_eq!(
        (status, t["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unauthorized_client"))
    );
}

async fn a_device_allowed_then_revoked_redeems_nothing(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser { client: user, .. } = app.user(&admin, Role::Editor).await;
    let reg = cli_client(&admin).await;
    let d = start_device(&app, &reg, "api:read").await;
    let res = user
        .post(
            "/api/v1/oauth/device/decision",
            &json!({"user_code": d["user_code"], "decision": "allow"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // Revoked before the device polled, then authorized again by another sign-in.
    let apps = user.get_json("/api/v1/authorized-apps").await;
    let gid = apps["items"][0]["id"].as_str().unwrap().to_string();
    let res = user
        .post(&format!("/api/v1/authorized-apps/{gid}/revoke"), &json!({}))
        .await;
    assert!(res.status().is_success());
    let again = start_device(&app, &reg, "api:read").await;
    let res = user
        .post(
            "/api/v1/oauth/device/decision",
            &json!({"user_code": again["user_code"], "decision": "allow"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // The first device hears it was denied; the second gets its tokens.
    let (status, v) = poll(&app, &reg, d["device_code"].as_str().unwrap()).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("access_denied"))
    );
    let (status, _) = poll(&app, &reg, again["device_code"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
}

const SPA: &str = "http://localhost:5173";

/// `GET path` as a browser on `origin` sends it, with `token` as the Bearer credential.
async fn get_from(app: &TestApp, path: &str, origin: &str, token: &str) -> reqwest::Response {
    http_client()
        .get(app.url(path))
        .header("Origin", origin)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}
const EVIL: &str = "https://evil.example";

async fn browser_apps_read_answers_only_from_registered_origins(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser { client: user, .. } = app.user(&admin, Role::Editor).await;
    let (status, v) = create(
        &admin,
        json!({
            "name": "Acme Dashboard", "client_type": "public",
            "redirect_uris": [CALLBACK], "allowed_origins": [SPA],
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let reg = Registered {
        id: v["id"].as_str().unwrap().into(),
        client_id: v["client_id"].as_str().unwrap().into(),
        secret: None,
    };
    let c = http_client();
    let acao = |res: &reqwest::Response| {
        res.headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_string())
    };
    // Discovery and the JWKS: readable from anywhere.
    for path in ["/.well-known/openid-configuration", "/oauth/jwks"] {
        let res = c
            .get(app.url(path))
            .header("Origin", EVIL)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(acao(&res).as_deref(), Some("*"), "{path}");
    }
    // Preflights of the token endpoint, userinfo and the API; never credentials.
    for (path, method) in [
        ("/oauth/token", "POST"),
        ("/oauth/revoke", "POST"),
        ("/oauth/userinfo", "GET"),
        ("/api/v1/api-keys", "GET"),
    ] {
        let res = c
            .request(reqwest::Method::OPTIONS, app.url(path))
            .header("Origin", SPA)
            .header("Access-Control-Request-Method", method)
            .header("Access-Control-Request-Headers", "authorization")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NO_CONTENT, "{path}");
        assert_eq!(acao(&res).as_deref(), Some(SPA));
        assert!(
            res.headers()
                .get("access-control-allow-credentials")
                .is_none()
        );
        let allowed = res.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap();
        assert!(allowed.contains(method), "{allowed}");
    }
    // Tokens from the code flow; then a refresh from the registered origin is readable…
    let tokens = authorize(&app, &user, &reg, &["openid", "api:read"]).await;
    let refresh = oauth2::TokenResponse::refresh_token(&tokens)
        .unwrap()
        .secret()
        .to_string();
    let res = c
        .post(app.url("/oauth/token"))
        .header("Origin", SPA)
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &reg.client_id),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(acao(&res).as_deref(), Some(SPA));
    assert!(
        res.headers()
            .get("access-control-allow-credentials")
            .is_none()
    );
    let t: Value = res.json().await.unwrap();
    let refresh = t["refresh_token"].as_str().unwrap().to_string();
    let access = t["access_token"].as_str().unwrap().to_string();
    // …and one from any other origin is refused before the token is spent.
    let res = c
        .post(app.url("/oauth/token"))
        .header("Origin", EVIL)
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &reg.client_id),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(acao(&res), None);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"], "unauthorized_client");
    let res = c
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &reg.client_id),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "the refused request spent nothing"
    );
    // The API with the token: from the registered origin, readable.
    let res = get_from(&app, "/api/v1/api-keys", SPA, &access).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(acao(&res).as_deref(), Some(SPA));
    let res = get_from(&app, "/oauth/userinfo", SPA, &access).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(acao(&res).as_deref(), Some(SPA));
    // From another origin, refused; and nothing but an OAuth token crosses origins.
    let res = get_from(&app, "/api/v1/api-keys", EVIL, &access).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(acao(&res), None);
    assert_eq!(error_code(res).await, "cross_origin_refused");
    let key = app.api_key(&user, "read_only").await;
    let res = get_from(&app, "/api/v1/api-keys", SPA, &key.secret).await;
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "API keys never cross origins"
    );
    assert_eq!(acao(&res), None);
    let res = user
        .request(reqwest::Method::GET, "/api/v1/api-keys")
        .header("Origin", SPA)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "nor does the session cookie"
    );
    assert_eq!(acao(&res), None);
    // Nor does a sign-in: a page elsewhere cannot make browsers guess passwords, and a
    // preflight that will not send a token is not answered.
    let res = c
        .post(app.url("/api/v1/session"))
        .header("Origin", EVIL)
        .json(&json!({"username": "a@example.com", "password": "guess"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = c
        .request(reqwest::Method::OPTIONS, app.url("/api/v1/session"))
        .header("Origin", EVIL)
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(acao(&res), None);
    // Gatehouse's own pages (same origin) are unaffected.
    let res = user
        .request(reqwest::Method::GET, "/api/v1/api-keys")
        .header("Origin", app.address.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(acao(&res), None);
}

both_backends!(
    a_device_signs_a_person_in_with_a_user_code,
    device_polling_follows_rfc_8628,
    wrong_user_codes_are_throttled_and_other_subscriptions_codes_unknown,
);

pub const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A public command-line client registered for the device grant.
pub async fn cli_client(admin: &Client) -> Registered {
    let (status, v) = create(
        admin,
        json!({
            "name": "Acme CLI", "client_type": "public", "redirect_uris": [CALLBACK],
            "grant_types": ["authorization_code", "refresh_token", DEVICE_GRANT],
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    Registered {
        id: v["id"].as_str().unwrap().into(),
        client_id: v["client_id"].as_str().unwrap().into(),
        secret: None,
    }
}

pub async fn start_device(app: &TestApp, reg: &Registered, scope: &str) -> Value {
    let res = http_client()
        .post(app.url("/oauth/device_authorization"))
        .header("User-Agent", "acme-cli/1.2")
        .form(&[("client_id", reg.client_id.as_str()), ("scope", scope)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    res.json().await.unwrap()
}

pub async fn poll(app: &TestApp, reg: &Registered, device_code: &str) -> (StatusCode, Value) {
    // A public client: its id in the form is all it sends.
    let res = http_client()
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", DEVICE_GRANT),
            ("device_code", device_code),
            ("client_id", reg.client_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap())
}

async fn a_device_signs_a_person_in_with_a_user_code(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser { client: user, .. } = app.user(&admin, Role::Editor).await;
    let reg = cli_client(&admin).await;
    let d = start_device(&app, &reg, "openid profile api:read").await;
    let user_code = d["user_code"].as_str().unwrap();
    assert!(
        regex_like_user_code(user_code),
        "XXXX-XXXX from the unambiguous alphabet: {user_code}"
    );
    assert_eq!(d["verification_uri"], format!("{}/device", app.address));
    assert_eq!(
        d["verification_uri_complete"],
        format!("{}/device?user_code={user_code}", app.address)
    );
    assert_eq!(d["interval"], 5);
    assert_eq!(d["expires_in"], 600);
    let device_code = d["device_code"].as_str().unwrap();
    // Discovery names the endpoint and the grant.
    let meta = app
        .anonymous()
        .get_json("/.well-known/openid-configuration")
        .await;
    assert_eq!(
        meta["device_authorization_endpoint"],
        format!("{}/oauth/device_authorization", app.address)
    );
    assert!(
        meta["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!(DEVICE_GRANT))
    );
    // The person types it as they read it: lower case, without the dash.
    let typed = user_code.replace('-', " ").to_lowercase();
    let res = user
        .post("/api/v1/oauth/device", &json!({"user_code": typed}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let view: Value = res.json().await.unwrap();
    assert_eq!(view["client_name"], "Acme CLI");
    assert_eq!(view["user_code"], user_code);
    assert_eq!(view["scopes"], json!(["api:read", "openid", "profile"]));
    assert_eq!(view["device_user_agent"], "acme-cli/1.2");
    assert_eq!(view["device_ip"], "127.0.0.1");
    // Not decided yet: the device waits.
    let (status, v) = poll(&app, &reg, device_code).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("authorization_pending"))
    );
    let res = user
        .post(
            "/api/v1/oauth/device/decision",
            &json!({"user_code": user_code, "decision": "allow"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // The device's next poll (after its interval) gets the tokens, once.
    app.state.clock.advance(chrono::TimeDelta::seconds(6));
    let (status, t) = poll(&app, &reg, device_code).await;
    assert_eq!(status, StatusCode::OK, "{t}");
    assert!(t["refresh_token"].as_str().unwrap().starts_with("gatr_"));
    assert!(t["id_token"].is_string());
    let access = t["access_token"].as_str().unwrap();
    let me = app.with_key(access).get_json("/api/v1/session").await;
    assert_eq!(me["credential"]["kind"], "oauth");
    assert_eq!(me["user"]["id"], user.get_json("/api/v1/me").await["id"]);
    let (status, v) = poll(&app, &reg, device_code).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    // It is an authorized application like any other, and revoking it stops it.
    let apps = user.get_json("/api/v1/authorized-apps").await;
    assert_eq!(apps["items"][0]["client_name"], "Acme CLI");
    let gid = apps["items"][0]["id"].as_str().unwrap();
    let res = user
        .post(&format!("/api/v1/authorized-apps/{gid}/revoke"), &json!({}))
        .await;
    assert!(res.status().is_success());
    assert_eq!(
        app.with_key(access).get("/api/v1/session").await.status(),
        StatusCode::UNAUTHORIZED
    );
    // The decision is in the audit log.
    let events = user
        .get_json("/api/v1/audit-events?action=oauth_device.allowed")
        .await;
    assert_eq!(events["items"].as_array().unwrap().len(), 1, "{events}");
}

fn regex_like_user_code(code: &str) -> bool {
    let alphabet = "BCDFGHJKLMNPQRSTVWXZ";
    code.len() == 9
        && code.as_bytes()[4] == b'-'
        && code
            .chars()
            .filter(|c| *c != '-')
            .all(|c| alphabet.contains(c))
}

async fn device_polling_follows_rfc_8628(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser { client: user, .. } = app.user(&admin, Role::Editor).await;
    let reg = cli_client(&admin).await;
    // A client without the device grant may not start one.
    let plain = register(&admin, true, &[CALLBACK]).await;
    let res = http_client()
        .post(app.url("/oauth/device_authorization"))
        .form(&[("client_id", plain.client_id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"], "unauthorized_client");
    let res = http_client()
        .post(app.url("/oauth/device_authorization"))
        .form(&[("client_id", reg.client_id.as_str()), ("scope", "admin")])
        .send()
        .await
        .unwrap();
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"], "invalid_scope");
    // Polling too soon: slow_down, and the interval grows by 5 s for good.
    let d = start_device(&app, &reg, "api:read").await;
    let device_code = d["device_code"].as_str().unwrap();
    let (_, v) = poll(&app, &reg, device_code).await;
    assert_eq!(v["error"], "authorization_pending");
    let (_, v) = poll(&app, &reg, device_code).await;
    assert_eq!(v["error"], "slow_down");
    app.state.clock.advance(chrono::TimeDelta::seconds(6));
    let (_, v) = poll(&app, &reg, device_code).await;
    assert_eq!(
        v["error"], "slow_down",
        "the interval was 10 s; it is 15 s now"
    );
    app.state.clock.advance(chrono::TimeDelta::seconds(16));
    let (_, v) = poll(&app, &reg, device_code).await;
    assert_eq!(v["error"], "authorization_pending");
    // Another client's poll with this device code learns nothing.
    let other = cli_client(&admin).await;
    let (_, v) = poll(&app, &other, device_code).await;
    assert_eq!(v["error"], "invalid_grant");
    // Denied: access_denied; then the code is dead.
    let res = user
        .post(
            "/api/v1/oauth/device/decision",
            &json!({"user_code": d["user_code"], "decision": "deny"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    app.state.clock.advance(chrono::TimeDelta::seconds(11));
    let (status, v) = poll(&app, &reg, device_code).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("access_denied"))
    );
    let res = user
        .post(
            "/api/v1/oauth/device/decision",
            &json!({"user_code": d["user_code"], "decision": "allow"}),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::NOT_FOUND,
        "decided already: nothing waits"
    );
    // Expired: expired_token, and the page no longer finds it.
    let d = start_device(&app, &reg, "api:read").await;
    app.state.clock.advance(chrono::TimeDelta::minutes(11));
    let (status, v) = poll(&app, &reg, d["device_code"].as_str().unwrap()).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("expired_token"))
    );
    let res = user
        .post(
            "/api/v1/oauth/device",
            &json!({"user_code": d["user_code"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // A device code that never was.
    let (_, v) = poll(&app, &reg, "no-such-code").await;
    assert_eq!(v["error"], "invalid_grant");
}

async fn wrong_user_codes_are_throttled_and_other_subscriptions_codes_unknown(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser { client: user, .. } = app.user(&admin, Role::Editor).await;
    let reg = cli_client(&admin).await;
    let d = start_device(&app, &reg, "api:read").await;
    // A person of another subscription cannot see or decide it.
    let other = app.second_subscription().await;
    let res = other
        .admin
        .post(
            "/api/v1/oauth/device",
            &json!({"user_code": d["user_code"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // Only a signed-in session may look codes up; a key may not.
    let key = app.api_key(&user, "full_access").await;
    let res = app
        .with_key(&key.secret)
        .post(
            "/api/v1/oauth/device",
            &json!({"user_code": d["user_code"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // Guessing: ten wrong codes, then 429 even for the right one.
    for i in 0..10 {
        let res = user
            .post("/api/v1/oauth/device", &json!({"user_code": format!("BCDF-GHJ{}", ["K", "L", "M", "N", "P", "Q", "R", "S", "T", "V"][i])}))
            .await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }
    let res = user
        .post(
            "/api/v1/oauth/device",
            &json!({"user_code": d["user_code"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().get("retry-after").is_some());
    // Garbage is a wrong code, never a 500.
    let res = admin
        .post(
            "/api/v1/oauth/device",
            &json!({"user_code": "'; DROP TABLE users; --"}),
        )
        .await;
    assert!(res.status().is_client_error());
}

/// A disabled client gets nothing by any path: its service account's tokens stop and it
/// gets no new ones, a consent page opened before is gone, its owner's edits keep it
/// disabled, and people may still sign out through it.
async fn a_disabled_client_gets_nothing_by_any_path(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let service = service(&admin, "viewer").await;
    let (status, v) = token(&app, &service, &[("grant_type", "client_credentials")]).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let old = app.with_key(v["access_token"].as_str().unwrap());
    assert_eq!(old.get("/api/v1/me").await.status(), StatusCode::OK);
    // A person has the consent page of another client open.
    let NewUser { client: user, .. } = app.user(&admin, Role::Editor).await;
    let reg = register(&admin, false, &[CALLBACK]).await;
    let res = user
        .http
        .get(app.url(&format!(
            "/oauth/authorize?response_type=code&client_id={}&redirect_uri={CALLBACK}&scope=api%3Aread",
            reg.client_id
        )))
        .send()
        .await
        .unwrap();
    let location = res.headers()["location"].to_str().unwrap().to_string();
    let request = location
        .strip_prefix("/authorize?request=")
        .unwrap()
        .to_string();
    let consent = format!("/api/v1/oauth/requests/{request}");
    assert_eq!(user.get(&consent).await.status(), StatusCode::OK);

    for r in [&service, &reg] {
        let res = admin
            .patch(
                &format!("/api/v1/oauth-clients/{}", r.id),
                &json!({"disabled": true}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    // The service's token stops, and it gets no new one.
    assert_eq!(
        old.get("/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let (status, v) = token(&app, &service, &[("grant_type", "client_credentials")]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(v["error"], "invalid_client");
    // The consent page opened before is gone, and cannot be allowed.
    assert_eq!(user.get(&consent).await.status(), StatusCode::NOT_FOUND);
    let res = user.post(&consent, &json!({"decision": "allow"})).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // Its owner's edits of its metadata keep it disabled.
    let res = admin
        .patch(
            &format!("/api/v1/oauth-clients/{}", reg.id),
            &json!({"name": "Renamed", "allowed_origins": ["https://other.example.com"]}),
        )
        .await;
    let v: Value = res.json().await.unwrap();
    assert!(v["disabled_at"].is_string(), "{v}");
    assert_eq!(v["allowed_origins"], json!(["https://other.example.com"]));
    // A person may still sign out through it: a question, not an error.
    let res = user
        .get(&format!("/oauth/logout?client_id={}", reg.client_id))
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    // Enabled again: the service gets new tokens; the old one stays dead, and the
    // person is asked again.
    let res = admin
        .patch(
            &format!("/api/v1/oauth-clients/{}", service.id),
            &json!({"disabled": false}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let (status, v) = token(&app, &service, &[("grant_type", "client_credentials")]).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        app.with_key(v["access_token"].as_str().unwrap())
            .get("/api/v1/me")
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        old.get("/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
}
