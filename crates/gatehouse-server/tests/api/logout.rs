//! Signing out (issue 21): OpenID Connect RP-Initiated Logout (the end-session
//! endpoint, its confirmation page against logout CSRF, exact post-logout redirects)
//! and Back-Channel Logout (logout tokens to the apps a person signed in to, when they
//! sign out, are disabled or revoke the app; never to internal addresses unless
//! allowed), and the refresh-token policy of OpenID Connect Core §11.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_types::Role;
use oauth2::{CsrfToken, PkceCodeChallenge, Scope};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::oauth::{CALLBACK, Registered, browser, oauth, param};
use crate::helpers::{Backend, Client, NewUser, TestApp, http_client, spawn_app, spawn_app_with};

both_backends!(
    a_hint_signs_the_person_out_and_goes_back_to_the_app,
    without_a_hint_gatehouse_asks_first,
    bad_logout_requests_get_an_error_page_and_change_nothing,
    offline_access_outlives_signing_out,
    revoking_the_app_or_disabling_the_person_tells_the_app,
    logout_tokens_never_go_to_internal_addresses_unless_allowed,
);

const BYE: &str = "https://app.example.com/signed-out";

/// A server that records what apps would receive at their back-channel URL.
struct Receiver {
    url: String,
    tokens: Arc<Mutex<Vec<String>>>,
}

async fn receiver() -> Receiver {
    let tokens = Arc::new(Mutex::new(Vec::new()));
    let seen = tokens.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        let seen = seen.clone();
        App::new().route(
            "/backchannel",
            web::post().to(move |form: web::Form<Vec<(String, String)>>| {
                let seen = seen.clone();
                async move {
                    for (k, v) in form.into_inner() {
                        if k == "logout_token" {
                            seen.lock().unwrap().push(v);
                        }
                    }
                    HttpResponse::Ok().finish()
                }
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    Receiver {
        url: format!("http://127.0.0.1:{port}/backchannel"),
        tokens,
    }
}

impl Receiver {
    /// The logout tokens received so far, once at least `n` arrived (5 s at most).
    async fn wait_for(&self, n: usize) -> Vec<Value> {
        for _ in 0..100 {
            if self.tokens.lock().unwrap().len() >= n {
                break;
            }
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
        self.tokens
            .lock()
            .unwrap()
            .iter()
            .map(|t| decoded(t))
            .collect()
    }
}

/// A JWT's header and claims, as `{"header": …, "claims": …}`.
fn decoded(jwt: &str) -> Value {
    let part = |i: usize| -> Value {
        serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(jwt.split('.').nth(i).unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    json!({"header": part(0), "claims": part(1)})
}

async fn client_with_logout(admin: &Client, backchannel: Option<&str>) -> Registered {
    let res = admin
        .post(
            "/api/v1/oauth-clients",
            &json!({
                "name": "Acme Dashboard",
                "redirect_uris": [CALLBACK],
                "post_logout_redirect_uris": [BYE],
                "backchannel_logout_uri": backchannel,
            }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    Registered {
        id: v["id"].as_str().unwrap().into(),
        client_id: v["client_id"].as_str().unwrap().into(),
        secret: v["client_secret"].as_str().map(str::to_string),
    }
}

/// The code flow, with the token answer as JSON (the id_token included).
async fn sign_in_to_app(app: &TestApp, user: &Client, reg: &Registered, scopes: &[&str]) -> Value {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _) = oauth(app, reg, CALLBACK)
        .authorize_url(CsrfToken::new_random)
        .add_scopes(scopes.iter().map(|s| Scope::new(s.to_string())))
        .set_pkce_challenge(challenge)
        .url();
    let back = browser(app, user, url.as_str(), true).await;
    let code = param(&back, "code").expect("a code");
    let res = http_client()
        .post(app.url("/oauth/token"))
        .basic_auth(&reg.client_id, reg.secret.as_deref())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", verifier.secret()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

async fn refresh(app: &TestApp, reg: &Registered, token: &str) -> StatusCode {
    http_client()
        .post(app.url("/oauth/token"))
        .basic_auth(&reg.client_id, reg.secret.as_deref())
        .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
        .send()
        .await
        .unwrap()
        .status()
}

async fn signed_in(user: &Client) -> bool {
    user.get("/api/v1/session").await.status() == StatusCode::OK
}

async fn a_hint_signs_the_person_out_and_goes_back_to_the_app(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser { client: user, .. } = app.user(&admin, Role::Editor).await;
    let rx = receiver().await;
    let reg = client_with_logout(&admin, Some(&rx.url)).await;
    let t = sign_in_to_app(&app, &user, &reg, &["openid", "profile"]).await;
    let id_token = t["id_token"].as_str().unwrap();
    let sid = decoded(id_token)["claims"]["sid"]
        .as_str()
        .unwrap()
        .to_string();
    let me = user.get_json("/api/v1/session").await;
    // Discovery says where, and what is supported.
    let meta = app
        .anonymous()
        .get_json("/.well-known/openid-configuration")
        .await;
    assert_eq!(
        meta["end_session_endpoint"],
        format!("{}/oauth/logout", app.address)
    );
    assert_eq!(meta["backchannel_logout_supported"], true);
    assert_eq!(meta["backchannel_logout_session_supported"], true);
    let res = user
        .get(&format!(
            "/oauth/logout?id_token_hint={id_token}&post_logout_redirect_uri={BYE}&state=s-123"
        ))
        .await;
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(res.headers()["location"], format!("{BYE}?state=s-123"));
    assert!(!signed_in(&user).await, "the Gatehouse session ended");
    // The app's refresh token was for this sign-in only (no offline_access).
    assert_eq!(
        refresh(&app, &reg, t["refresh_token"].as_str().unwrap()).await,
        StatusCode::BAD_REQUEST
    );
    // The app heard of it, with the session's sid and the person's sub.
    let got = rx.wait_for(1).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let (h, c) = (&got[0]["header"], &got[0]["claims"]);
    assert_eq!(h["typ"], "logout+jwt");
    assert_eq!(h["alg"], "RS256");
    let jwks = app.anonymous().get_json("/oauth/jwks").await;
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == h["kid"])
    );
    assert_eq!(c["iss"], app.state.auth.signing.issuer());
    assert_eq!(c["aud"], reg.client_id.as_str());
    assert_eq!(c["sub"], me["user"]["id"]);
    assert_eq!(c["sid"], sid.as_str());
    assert!(c["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object());
    assert!(c["jti"].is_string() && c["iat"].is_i64());
    assert!(c.get("nonce").is_none());
    // Recorded in the audit log, as delivered, for the subscription's admins.
    let events = wait_for_event(&admin, "oauth_logout.delivered").await;
    assert_eq!(events[0]["details"]["reason"], "signed_out");
    // A logout token is no id_token: as a hint it is refused.
    let user = app
        .sign_in(
            me["user"]["username"].as_str().unwrap(),
            "a password of some length",
        )
        .await;
    let token = rx.tokens.lock().unwrap()[0].clone();
    let res = user
        .get(&format!("/oauth/logout?id_token_hint={token}"))
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(signed_in(&user).await);
}

async fn wait_for_event(admin: &Client, action: &str) -> Vec<Value> {
    for _ in 0..100 {
        let v = admin
            .get_json(&format!("/api/v1/audit-events?action={action}&scope=all"))
            .await;
        let items = v["items"].as_array().cloned().unwrap_or_default();
        if !items.is_empty() {
            return items;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no {action} event");
}

async fn without_a_hint_gatehouse_asks_first(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser { client: user, .. } = app.user(&admin, Role::Editor).await;
    let reg = client_with_logout(&admin, None).await;
    // A bare link (a page elsewhere could plant it): a question, not a logout.
    let path = format!(
        "/oauth/logout?client_id={}&post_logout_redirect_uri={BYE}&state=abc",
        reg.client_id
    );
    let res = user.get(&path).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["content-security-policy"],
        "frame-ancestors 'none'"
    );
    let page = res.text().await.unwrap();
    assert!(page.contains("Sign out of Gatehouse?"), "{page}");
    assert!(page.contains("Acme Dashboard"));
    assert!(signed_in(&user).await, "nothing happened yet");
    // A forged confirmation (another site cannot read the real one) changes nothing.
    let forged = user
        .http
        .post(app.url("/oauth/logout"))
        .form(&[
            ("gatehouse_confirm", "guess"),
            ("client_id", &reg.client_id),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::OK);
    assert!(
        forged
            .text()
            .await
            .unwrap()
            .contains("Sign out of Gatehouse?")
    );
    assert!(signed_in(&user).await);
    // The person's own click: signed out, back to the app with its state.
    let confirm = page
        .split("name=\"gatehouse_confirm\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    let res = user
        .http
        .post(app.url("/oauth/logout"))
        .form(&[
            ("gatehouse_confirm", confirm.as_str()),
            ("client_id", &reg.client_id),
            ("post_logout_redirect_uri", BYE),
            ("state", "abc"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(res.headers()["location"], format!("{BYE}?state=abc"));
    assert!(!signed_in(&user).await);
    // Not signed in: nothing to ask; a page says so.
    let res = user.get("/oauth/logout").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("not signed in"));
    // A cross-site POST arrives without the (SameSite=Lax) cookie: its answer must not
    // clear the cookie either, or any page could sign its visitors out.
    let res = http_client()
        .post(app.url("/oauth/logout"))
        .header("Origin", "https://evil.example")
        .form(&[
            ("client_id", reg.client_id.as_str()),
            ("post_logout_redirect_uri", BYE),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert!(
        res.headers().get("set-cookie").is_none(),
        "{:?}",
        res.headers()
    );
}

async fn bad_logout_requests_get_an_error_page_and_change_nothing(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser { client: user, .. } = app.user(&admin, Role::Editor).await;
    let reg = client_with_logout(&admin, None).await;
    let other = client_with_logout(&admin, None).await;
    let t = sign_in_to_app(&app, &user, &reg, &["openid"]).await;
    let id_token = t["id_token"].as_str().unwrap();
    // A forged hint: a made-up signature.
    let mut parts: Vec<&str> = id_token.split('.').collect();
    parts[2] = "AAAA";
    let forged = parts.join(".");
    for path in [
        // Not registered for this client (an open redirector otherwise).
        format!(
            "/oauth/logout?id_token_hint={id_token}&post_logout_redirect_uri=https://evil.example/"
        ),
        format!(
            "/oauth/logout?client_id={}&post_logout_redirect_uri={BYE}/x",
            reg.client_id
        ),
        // A redirect without any client to hold it against.
        format!("/oauth/logout?post_logout_redirect_uri={BYE}"),
        format!("/oauth/logout?id_token_hint={forged}"),
        "/oauth/logout?id_token_hint=not-a-jwt".to_string(),
        // The hint is another client's.
        format!(
            "/oauth/logout?id_token_hint={id_token}&client_id={}",
            other.client_id
        ),
        "/oauth/logout?client_id=ffffffffffffffffffffffffffffffff".to_string(),
    ] {
        let res = user.get(&path).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{path}");
        assert!(res.headers().get("location").is_none());
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert!(signed_in(&user).await, "{path} signed the person out");
    }
    // A hint for someone else: asked, never signed out silently.
    let NewUser {
        client: other_user, ..
    } = app.user(&admin, Role::Viewer).await;
    let res = other_user
        .get(&format!("/oauth/logout?id_token_hint={id_token}"))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("Sign out of Gatehouse?"));
    assert!(signed_in(&other_user).await);
}

async fn offline_access_outlives_signing_out(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser {
        client: user,
        username,
        ..
    } = app.user(&admin, Role::Editor).await;
    let reg = client_with_logout(&admin, None).await;
    let online = sign_in_to_app(&app, &user, &reg, &["openid", "api:read"]).await;
    let offline =
        sign_in_to_app(&app, &user, &reg, &["openid", "offline_access", "api:read"]).await;
    let plain = sign_in_to_app(&app, &user, &reg, &["api:read"]).await;
    let res = user.delete("/api/v1/session").await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // A sign-in's refresh token ends with the sign-in; offline_access and plain API
    // access (no sign-in asked for) go on until revoked.
    let r = |t: &Value| t["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(
        refresh(&app, &reg, &r(&online)).await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(refresh(&app, &reg, &r(&offline)).await, StatusCode::OK);
    assert_eq!(refresh(&app, &reg, &r(&plain)).await, StatusCode::OK);
    // The app stays authorized: signing in again asks nothing.
    let user = app.sign_in(&username, "a password of some length").await;
    let again = sign_in_to_app(&app, &user, &reg, &["openid", "api:read"]).await;
    assert!(again["access_token"].is_string());
}

async fn revoking_the_app_or_disabling_the_person_tells_the_app(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser {
        client: user,
        id: user_id,
        ..
    } = app.user(&admin, Role::Editor).await;
    let rx = receiver().await;
    let reg = client_with_logout(&admin, Some(&rx.url)).await;
    let t = sign_in_to_app(&app, &user, &reg, &["openid", "offline_access"]).await;
    let sid = decoded(t["id_token"].as_str().unwrap())["claims"]["sid"].clone();
    let apps = user.get_json("/api/v1/authorized-apps").await;
    let gid = apps["items"][0]["id"].as_str().unwrap().to_string();
    let res = user
        .post(&format!("/api/v1/authorized-apps/{gid}/revoke"), &json!({}))
        .await;
    assert!(res.status().is_success());
    let got = rx.wait_for(1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["claims"]["sub"], user_id.as_str());
    assert_eq!(got[0]["claims"]["sid"], sid);
    // Signed in to the app again, then disabled by an admin: told again.
    let _ = sign_in_to_app(&app, &user, &reg, &["openid"]).await;
    let res = admin
        .patch(
            &format!("/api/v1/users/{user_id}"),
            &json!({"state": "disabled"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let got = rx.wait_for(2).await;
    assert!(got.len() >= 2, "{got:?}");
    assert!(
        got[1..]
            .iter()
            .all(|t| t["claims"]["sub"] == user_id.as_str())
    );
    let events = wait_for_event(&admin, "oauth_logout.delivered").await;
    let reasons: Vec<&str> = events
        .iter()
        .filter_map(|e| e["details"]["reason"].as_str())
        .collect();
    assert!(reasons.contains(&"app_revoked"), "{reasons:?}");
}

async fn logout_tokens_never_go_to_internal_addresses_unless_allowed(b: Backend) {
    let app = spawn_app_with(b, |s| s.outbound_allow_private = false).await;
    let admin = app.admin().await;
    let NewUser { client: user, .. } = app.user(&admin, Role::Editor).await;
    let rx = receiver().await;
    // Registration refuses it outright…
    let res = admin
        .post(
            "/api/v1/oauth-clients",
            &json!({"name": "X", "redirect_uris": [CALLBACK], "backchannel_logout_uri": rx.url}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // …and one that got in anyway (registered while the deployment allowed it) is
    // refused at delivery: nothing reaches the address, and the log says why.
    let reg = client_with_logout(&admin, None).await;
    let metadata =
        json!({"post_logout_redirect_uris": [BYE], "backchannel_logout_uri": rx.url}).to_string();
    let id = reg.id.clone();
    app.with_db(move |conn| {
        use diesel::prelude::*;
        use gatehouse_server::db::schema::oauth_clients;
        diesel::update(oauth_clients::table.find(&id))
            .set(oauth_clients::metadata.eq(&metadata))
            .execute(conn)
            .unwrap();
    });
    app.state
        .auth
        .invalidate(gatehouse_server::auth::cache::Invalidate::Client(&reg.id));
    let _ = sign_in_to_app(&app, &user, &reg, &["openid"]).await;
    assert_eq!(
        user.delete("/api/v1/session").await.status(),
        StatusCode::NO_CONTENT
    );
    let events = wait_for_event(&admin, "oauth_logout.failed").await;
    let error = events[0]["details"]["result"]["error"].as_str().unwrap();
    assert!(error.starts_with("refused"), "{error}");
    assert_eq!(
        events[0]["details"]["attempts"], 1,
        "a refusal is not retried"
    );
    assert!(
        rx.tokens.lock().unwrap().is_empty(),
        "nothing reached the address"
    );
}
