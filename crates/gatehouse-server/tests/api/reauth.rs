//! The authorization endpoint against a changing world: `prompt=login` and `max_age`
//! send the user to sign in again before a code is issued (OpenID Connect Core
//! §3.1.2.1), and decisions read the grant, the client and the user as they are at the
//! moment the code is issued.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::TimeDelta;
use gatehouse_types::{AuthorizedApp, GrantState, Page, Role};
use oauth2::{PkceCodeChallenge, PkceCodeVerifier};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::oauth::{CALLBACK, Registered, authorize, param, register};
use crate::helpers::{Backend, Client, NewUser, TestApp, spawn_app};

both_backends!(
    prompt_login_and_max_age_ask_for_a_new_sign_in,
    a_revocation_racing_a_silent_authorization_is_never_undone,
    a_consent_decision_rechecks_the_client_and_the_user,
);

const PASSWORD: &str = "a password of some length";

/// Starts an OpenID authorization in the user's browser with `extra` query parameters;
/// returns where the browser is sent and the PKCE verifier.
pub async fn start(
    app: &TestApp,
    user: &Client,
    reg: &Registered,
    extra: &str,
) -> (String, PkceCodeVerifier) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let url = app.url(&format!(
        "/oauth/authorize?response_type=code&client_id={}&redirect_uri={CALLBACK}&scope=openid%20api:read&state=st&nonce=n1&code_challenge={}&code_challenge_method=S256{extra}",
        reg.client_id,
        challenge.as_str()
    ));
    (follow(user, &url).await, verifier)
}

/// One step of the browser: the `Location` of a 302.
async fn follow(user: &Client, url: &str) -> String {
    let res = user.http.get(url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND, "{url}");
    res.headers()["location"].to_str().unwrap().to_string()
}

/// The sign-in page's `next`, as a URL of the server, and whether it asks for a new
/// sign-in even though a session exists.
pub fn next_of(app: &TestApp, login: &str) -> (String, bool) {
    let url = url::Url::parse(&app.url(login)).unwrap();
    assert_eq!(url.path(), "/login", "{login}");
    let next = url
        .query_pairs()
        .find(|(k, _)| k == "next")
        .map(|(_, v)| v.into_owned())
        .expect("next");
    assert!(next.starts_with("/oauth/authorize?"), "{next}");
    let reauth = url.query_pairs().any(|(k, v)| k == "reauth" && v == "1");
    (app.url(&next), reauth)
}

/// The token endpoint's answer to redeeming a code.
async fn redeem(
    app: &TestApp,
    reg: &Registered,
    code: &str,
    verifier: &PkceCodeVerifier,
) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url("/oauth/token"))
        .basic_auth(&reg.client_id, reg.secret.as_deref())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", verifier.secret()),
        ])
        .send()
        .await
        .unwrap()
}

/// Redeems a code and returns the id_token's claims.
async fn id_token_claims(
    app: &TestApp,
    reg: &Registered,
    code: &str,
    verifier: PkceCodeVerifier,
) -> Value {
    let res = redeem(app, reg, code, &verifier).await;
    assert_eq!(res.status(), StatusCode::OK);
    claims_of(&res.json().await.unwrap())
}

/// The claims of the id_token in a token response.
pub fn claims_of(body: &Value) -> Value {
    let id_token = body["id_token"].as_str().expect("an id_token");
    let payload = id_token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

async fn sign_in_again(user: &Client, username: &str) {
    let res = user
        .post(
            "/api/v1/session",
            &json!({"username": username, "password": PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

async fn prompt_login_and_max_age_ask_for_a_new_sign_in(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser {
        client: user,
        username,
        ..
    } = app.user(&admin, Role::Editor).await;
    let reg = register(&admin, false, &[CALLBACK]).await;
    // Allowed once, so that nothing but the sign-in stands between the user and a code.
    authorize(&app, &user, &reg, &["openid", "api:read"]).await;
    let session_start = chrono::Utc::now().timestamp();

    // prompt=login: to the sign-in page although signed in, and back with the mark of
    // this session (not with prompt=login, which would ask forever).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (to, verifier) = start(&app, &user, &reg, "&prompt=login").await;
    let (next, reauth) = next_of(&app, &to);
    assert!(reauth, "{to}");
    assert!(!next.contains("prompt=login"), "{next}");
    assert!(param(&next, "gatehouse_reauth").is_some(), "{next}");
    // Coming back without signing in: asked again, never a code.
    let again = follow(&user, &next).await;
    assert!(again.starts_with("/login?"), "{again}");
    // prompt=none cannot be answered while a new sign-in is owed.
    let silent = next.replace("&state=st", "&state=st&prompt=none");
    let to_client = follow(&user, &silent).await;
    assert!(to_client.starts_with(CALLBACK), "{to_client}");
    assert_eq!(
        param(&to_client, "error").as_deref(),
        Some("login_required")
    );
    // After a new sign-in: the code, and auth_time is that sign-in.
    let before = chrono::Utc::now().timestamp();
    sign_in_again(&user, &username).await;
    let back = follow(&user, &next).await;
    assert!(back.starts_with(CALLBACK), "{back}");
    let claims = id_token_claims(&app, &reg, &param(&back, "code").unwrap(), verifier).await;
    let auth_time = claims["auth_time"].as_i64().unwrap();
    assert!(auth_time >= before, "{auth_time} < {before}");
    assert!(auth_time > session_start);
    assert_eq!(claims["nonce"], "n1");

    // max_age: a sign-in older than it sends the user to sign in first...
    let session_created = app.state.clock.now().and_utc().timestamp();
    app.state.clock.advance(TimeDelta::minutes(10));
    let (to, _) = start(&app, &user, &reg, "&max_age=60").await;
    let (next, reauth) = next_of(&app, &to);
    assert!(reauth, "{to}");
    assert!(!next.contains("max_age"), "{next}");
    // ...and one within it goes straight on, with the old sign-in as auth_time.
    let (to, verifier) = start(&app, &user, &reg, "&max_age=3600").await;
    assert!(to.starts_with(CALLBACK), "{to}");
    let res = redeem(&app, &reg, &param(&to, "code").unwrap(), &verifier).await;
    assert_eq!(res.status(), StatusCode::OK);
    let tokens: Value = res.json().await.unwrap();
    let claims = claims_of(&tokens);
    let auth_time = claims["auth_time"].as_i64().unwrap();
    assert!(
        (session_created - 60..=session_created).contains(&auth_time),
        "{auth_time} vs {session_created}"
    );
    // Issued ten minutes after that sign-in, by the server's clock.
    let issued_at = claims["iat"].as_i64().unwrap();
    assert!(issued_at - auth_time >= 600, "{issued_at} - {auth_time}");
    // A refreshed id_token names the same sign-in: auth_time is required whenever
    // max_age was asked (OpenID Connect Core §2), and refreshing is no new sign-in.
    app.state.clock.advance(TimeDelta::minutes(5));
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
    let again = claims_of(&refreshed);
    assert_eq!(again["auth_time"].as_i64(), Some(auth_time), "{again}");
    assert!(again["iat"].as_i64().unwrap() >= issued_at + 300);
    // A max_age that is not a number is a malformed request, said to the client.
    let (to, _) = start(&app, &user, &reg, "&max_age=soon").await;
    assert_eq!(param(&to, "error").as_deref(), Some("invalid_request"));

    // Signed out with prompt=login: the ordinary sign-in, and a way back that does not
    // ask again.
    let anonymous = app.anonymous();
    let (to, _) = start(&app, &anonymous, &reg, "&prompt=login%20consent").await;
    let (next, reauth) = next_of(&app, &to);
    assert!(!reauth);
    assert!(!next.contains("login"), "{next}");
    assert_eq!(param(&next, "prompt").as_deref(), Some("consent"));
}

/// A user revokes an app while the app silently signs them in (an active grant skips
/// the consent page). Whatever the order, the revocation stands: the grant ends
/// revoked, and a code issued just before it redeems nothing.
async fn a_revocation_racing_a_silent_authorization_is_never_undone(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser { client: user, .. } = app.user(&admin, Role::Editor).await;
    let reg = register(&admin, false, &[CALLBACK]).await;
    for round in 0..20 {
        authorize(&app, &user, &reg, &["openid", "api:read"]).await;
        let apps: Page<AuthorizedApp> = user
            .get("/api/v1/authorized-apps")
            .await
            .json()
            .await
            .unwrap();
        let grant = apps.items[0].id.clone();
        let (path, empty) = (format!("/api/v1/authorized-apps/{grant}/revoke"), json!({}));
        let revoke = user.post(&path, &empty);
        let silent = start(&app, &user, &reg, "");
        let (revoked, (to, verifier)) = futures_util::future::join(revoke, silent).await;
        assert_eq!(revoked.status(), StatusCode::OK);
        let apps: Page<AuthorizedApp> = user
            .get("/api/v1/authorized-apps")
            .await
            .json()
            .await
            .unwrap();
        if apps.items[0].state != GrantState::Revoked {
            let events: Value = admin
                .get("/api/v1/audit-events?limit=12")
                .await
                .json()
                .await
                .unwrap();
            for e in events["items"].as_array().unwrap() {
                eprintln!("{} {} {}", e["created_at"], e["action"], e["details"]);
            }
        }
        assert_eq!(
            apps.items[0].state,
            GrantState::Revoked,
            "round {round}: the revocation was undone ({to})"
        );
        if let Some(code) = param(&to, "code") {
            let res = redeem(&app, &reg, &code, &verifier).await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "round {round}");
        } else {
            assert!(to.starts_with("/authorize?request="), "round {round}: {to}");
        }
    }
}

async fn a_consent_decision_rechecks_the_client_and_the_user(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser {
        client: user,
        id: user_id,
        ..
    } = app.user(&admin, Role::Editor).await;
    // The client is deleted while the consent page is open: the decision finds nothing.
    let reg = register(&admin, false, &[CALLBACK]).await;
    let (to, _) = start(&app, &user, &reg, "").await;
    let request = to
        .strip_prefix("/authorize?request=")
        .expect("the consent page")
        .to_string();
    let res = admin
        .delete(&format!("/api/v1/oauth-clients/{}", reg.id))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = user
        .post(
            &format!("/api/v1/oauth/requests/{request}"),
            &json!({"decision": "allow"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // The user is disabled while the consent page is open: no decision, no code.
    let reg = register(&admin, false, &[CALLBACK]).await;
    let (to, _) = start(&app, &user, &reg, "").await;
    let request = to.strip_prefix("/authorize?request=").unwrap().to_string();
    let res = admin
        .patch(
            &format!("/api/v1/users/{user_id}"),
            &json!({"state": "disabled"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = user
        .post(
            &format!("/api/v1/oauth/requests/{request}"),
            &json!({"decision": "allow"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let apps: Value = admin
        .get("/api/v1/audit-events?action=oauth_grant.authorized")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        apps["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["subject_user_id"] != user_id.as_str()),
        "no grant was made for the disabled user"
    );
}
