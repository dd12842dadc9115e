//! Every kind of client (issue 21): client metadata under RFC 7591's names, services
//! with client credentials and their service accounts, and `offline_access`.

use gatehouse_types::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, Client, NewUser, TestApp, error_code, http_client, spawn_app};
use crate::oauth::{CALLBACK, Registered, authorize, register};

both_backends!(
    clients_register_their_metadata_under_rfc_7591_names,
    bad_client_metadata_is_refused_and_changes_nothing,
    only_administrators_give_a_client_a_service_account,
    a_service_gets_tokens_for_its_service_account,
    a_service_account_stops_with_its_client,
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
    assert_eq!(me["user"]["username"], format!("service-{}", svc.client_id));
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

both_backends!(browser_apps_read_answers_only_from_registered_origins);

const SPA: &str = "http://localhost:5173";
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
    let res = c
        .get(app.url("/api/v1/api-keys"))
        .header("Origin", SPA)
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(acao(&res).as_deref(), Some(SPA));
    let res = c
        .get(app.url("/oauth/userinfo"))
        .header("Origin", SPA)
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(acao(&res).as_deref(), Some(SPA));
    // From another origin, refused; and nothing but an OAuth token crosses origins.
    let res = c
        .get(app.url("/api/v1/api-keys"))
        .header("Origin", EVIL)
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(acao(&res), None);
    assert_eq!(error_code(res).await, "cross_origin_refused");
    let key = app.api_key(&user, "read_only").await;
    let res = c
        .get(app.url("/api/v1/api-keys"))
        .header("Origin", SPA)
        .bearer_auth(&key.secret)
        .send()
        .await
        .unwrap();
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
