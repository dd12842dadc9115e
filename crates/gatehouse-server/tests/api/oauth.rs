//! OAuth 2 end to end: a registered client driven by the `oauth2` crate (as a real app
//! would), a signed-in user's browser (reqwest with a cookie jar, following no
//! redirects), and the API the tokens unlock. Each rule of docs/PRODUCT.md §4 has a test.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::TimeDelta;
use diesel::prelude::*;
use gatehouse_server::db::schema::{oauth_codes, users};
use gatehouse_types::{
    AuthorizationRequestView, AuthorizedApp, GrantState, OAuthClient, Page, Role,
};
use oauth2::basic::{BasicClient, BasicTokenResponse};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse, TokenUrl,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::oauth::*;
use crate::helpers::{
    Backend, Client, IssuedKey, NewUser, OtherSubscription, TestApp, error_code, spawn_app,
    succeeded,
};

fn bearer(app: &TestApp, token: &BasicTokenResponse) -> Client {
    app.with_key(token.access_token().secret())
}

fn jwt_part(token: &str, i: usize) -> Value {
    let part = token.split('.').nth(i).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// A raw token-endpoint call, for the errors the `oauth2` crate would not let us make.
async fn token_raw(
    app: &TestApp,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> reqwest::Response {
    let mut rb = crate::helpers::http_client()
        .post(app.url("/oauth/token"))
        .form(form);
    if let Some((u, p)) = basic {
        rb = rb.basic_auth(u, Some(p));
    }
    rb.send().await.unwrap()
}

both_backends!(
    decisions_recheck_the_callback_url,
    prompt_none_never_shows_a_page_and_prompt_consent_always_asks,
    standard_clients_stay_admin_approved,
    repeated_parameters_are_refused_unless_unknown,
    request_objects_post_and_openid_redirects,
    the_code_flow_with_a_confidential_client_and_refresh,
    the_code_flow_with_a_public_client_and_pkce,
    rally_paths_work_too,
    tokens_reach_only_what_their_scopes_allow,
    rule1_unknown_clients_and_unregistered_redirects_get_an_error_page,
    rule1_loopback_redirects_match_on_any_port,
    rule2_a_reused_code_fails_and_revokes_what_it_issued,
    rule2_codes_expire_and_are_bound_to_client_and_redirect,
    rule3_pkce_is_required_for_public_clients_and_cannot_be_downgraded,
    rule4_refresh_tokens_rotate_and_reuse_revokes_the_grant,
    rule5_revoking_or_deleting_stops_every_token_at_once,
    rule6_failed_client_authentication_is_rate_limited,
    rule7_errors_follow_rfc_6749,
    rule8_access_tokens_are_rfc_9068_jwts_checked_on_every_request,
    rule9_no_implicit_or_password_grant,
    authorized_apps_are_listed_revoked_and_re_enabled,
    an_active_grant_skips_the_consent_page,
    denying_sends_access_denied,
    signing_in_comes_first,
    clients_are_managed_by_their_owners_and_admins,
    oauth_events_are_audited,
    no_oauth_secret_is_stored,
    rule2_a_code_redeemed_twice_at_once_issues_nothing_that_lasts,
    rule2_a_code_from_before_a_revocation_is_dead_after_a_re_enable,
    rule5_deleting_the_user_or_the_clients_owner_stops_tokens,
    rule1_a_host_hidden_behind_a_backslash_is_refused,
    rule6_a_guesser_cannot_lock_the_client_out_for_everyone,
    api_write_is_capped_by_the_role_like_a_key,
    consent_api_answers_carry_frame_ancestors,
    the_redirect_uri_is_repeated_only_if_it_was_sent,
    a_narrowed_refresh_keeps_the_refresh_tokens_scope,
    two_first_time_allows_at_once_both_work,
    the_consent_view_names_who_registered_the_client,
    admins_disable_any_client_and_its_tokens_stop,
    admins_see_a_persons_authorized_apps,
);

async fn the_code_flow_with_a_confidential_client_and_refresh(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser { client: dev, .. } = app.user(&admin, Role::Editor).await;
    let reg = register(&dev, false, &[CALLBACK]).await;
    let secret = reg.secret.clone().unwrap();
    assert!(secret.starts_with("gats_") && secret.len() == 51);
    assert_eq!(reg.client_id.len(), 32);
    let NewUser {
        client: user,
        id: user_id,
        ..
    } = app.user(&admin, Role::Viewer).await;
    let tokens = authorize(&app, &user, &reg, &["api:read"]).await;
    assert_eq!(tokens.expires_in().unwrap().as_secs(), 3600);
    assert!(
        tokens
            .refresh_token()
            .unwrap()
            .secret()
            .starts_with("gatr_")
    );
    let api = bearer(&app, &tokens);
    let who: Value = api.get("/api/v1/session").await.json().await.unwrap();
    assert_eq!(who["credential"]["kind"], "oauth");
    assert_eq!(who["credential"]["client_id"], reg.client_id.as_str());
    assert_eq!(who["user"]["id"], user_id.as_str());
    // ZSESSIONID carries tokens too.
    let z = app.with_header("ZSESSIONID", tokens.access_token().secret());
    assert_eq!(z.get("/api/v1/me").await.status(), StatusCode::OK);
    // Refresh (Basic auth, the crate's default) gives a new pair.
    let client = oauth(&app, &reg, CALLBACK);
    let renewed = client
        .exchange_refresh_token(tokens.refresh_token().unwrap())
        .request_async(&http)
        .await
        .unwrap();
    assert_ne!(
        renewed.access_token().secret(),
        tokens.access_token().secret()
    );
    assert_eq!(
        bearer(&app, &renewed).get("/api/v1/me").await.status(),
        StatusCode::OK
    );
    // And with client_secret_post.
    let post = oauth(&app, &reg, CALLBACK).set_auth_type(AuthType::RequestBody);
    let again = post
        .exchange_refresh_token(renewed.refresh_token().unwrap())
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(
        bearer(&app, &again).get("/api/v1/me").await.status(),
        StatusCode::OK
    );
}

async fn the_code_flow_with_a_public_client_and_pkce(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let reg = register(&admin, true, &[CALLBACK]).await;
    assert!(reg.secret.is_none());
    let tokens = authorize(&app, &admin, &reg, &["api:read"]).await;
    assert_eq!(
        bearer(&app, &tokens).get("/api/v1/me").await.status(),
        StatusCode::OK
    );
    let renewed = oauth(&app, &reg, CALLBACK)
        .exchange_refresh_token(tokens.refresh_token().unwrap())
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(
        bearer(&app, &renewed).get("/api/v1/me").await.status(),
        StatusCode::OK
    );
    // A public client that sends a secret is refused.
    let res = token_raw(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", renewed.refresh_token().unwrap().secret()),
            ("client_id", &reg.client_id),
            ("client_secret", "gats_x"),
        ],
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

async fn rally_paths_work_too(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let reg = register(&admin, false, &[CALLBACK]).await;
    let client = BasicClient::new(ClientId::new(reg.client_id.clone()))
        .set_client_secret(ClientSecret::new(reg.secret.clone().unwrap()))
        .set_auth_uri(AuthUrl::new(app.url("/login/oauth2/auth")).unwrap())
        .set_token_uri(TokenUrl::new(app.url("/login/oauth2/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(CALLBACK.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("alm".into()))
        .set_pkce_challenge(challenge)
        .url();
    let back = browser(&app, &admin, url.as_str(), true).await;
    let tokens = client
        .exchange_code(AuthorizationCode::new(param(&back, "code").unwrap()))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    // `alm` is api:read and api:write.
    let scopes: Vec<String> = tokens
        .scopes()
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(scopes, ["api:read", "api:write"]);
}

async fn tokens_reach_only_what_their_scopes_allow(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let reg = register(&admin, false, &[CALLBACK]).await;
    let IssuedKey { id: victim, .. } = app.api_key(&admin, "read_only").await;
    let read = authorize(&app, &admin, &reg, &["api:read"]).await;
    let api = bearer(&app, &read);
    assert_eq!(api.get("/api/v1/api-keys").await.status(), StatusCode::OK);
    let res = api.delete(&format!("/api/v1/api-keys/{victim}")).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, "insufficient_permission");
    // Asking for more extends the grant (through consent) and writes.
    let write = authorize(&app, &admin, &reg, &["api:write"]).await;
    let api = bearer(&app, &write);
    assert_eq!(
        api.delete(&format!("/api/v1/api-keys/{victim}"))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    // Tokens never mint keys, manage clients or grants, or change settings.
    for res in [
        api.post(
            "/api/v1/api-keys",
            &json!({"name": "x", "permission": "read_only"}),
        )
        .await,
        api.get("/api/v1/oauth-clients").await,
        api.get("/api/v1/authorized-apps").await,
        api.patch("/api/v1/subscription", &json!({"api_keys_enabled": false}))
            .await,
    ] {
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
    }
    // An OpenID-only token reaches nothing of the API.
    let oidc = authorize(&app, &admin, &reg, &["openid"]).await;
    let res = bearer(&app, &oidc).get("/api/v1/me").await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, "insufficient_scope");
}

async fn rule1_unknown_clients_and_unregistered_redirects_get_an_error_page(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let reg = register(&admin, false, &[CALLBACK]).await;
    for query in [
        format!(
            "response_type=code&client_id={}&redirect_uri=https://evil.example/cb",
            reg.client_id
        ),
        format!(
            "response_type=code&client_id={}&redirect_uri={CALLBACK}/x",
            reg.client_id
        ),
        format!(
            "response_type=code&client_id={}&redirect_uri=https://APP.example.com/callback",
            reg.client_id
        ),
        format!(
            "response_type=code&client_id={}&redirect_uri={CALLBACK}",
            "0".repeat(32)
        ),
        format!("response_type=code&redirect_uri={CALLBACK}"),
        format!(
            "response_type=code&client_id={}&client_id={}&redirect_uri={CALLBACK}",
            reg.client_id, reg.client_id
        ),
    ] {
        let res = admin
            .http
            .get(app.url(&format!("/oauth/authorize?{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{query}");
        assert!(
            res.headers().get("location").is_none(),
            "never a redirect: {query}"
        );
        assert_eq!(
            res.headers().get("content-security-policy").unwrap(),
            "frame-ancestors 'none'"
        );
        assert!(res.text().await.unwrap().contains("<h1>"));
    }
    // Registration itself refuses plain http except on loopback.
    let res = admin
        .post(
            "/api/v1/oauth-clients",
            &json!({"name": "x", "redirect_uris": ["http://app.example.com/cb"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

async fn rule1_loopback_redirects_match_on_any_port(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let reg = register(&admin, true, &["http://127.0.0.1/callback"]).await;
    let client = oauth(&app, &reg, "http://127.0.0.1:49152/callback");
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _) = client
        .authorize_url(CsrfToken::new_random)
        .set_pkce_challenge(challenge)
        .url();
    let back = browser(&app, &admin, url.as_str(), true).await;
    assert!(
        back.starts_with("http://127.0.0.1:49152/callback?"),
        "{back}"
    );
    let tokens = client
        .exchange_code(AuthorizationCode::new(param(&back, "code").unwrap()))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(
        bearer(&app, &tokens).get("/api/v1/me").await.status(),
        StatusCode::OK
    );
    // Another path on loopback is still refused.
    let res = admin
        .http
        .get(app.url(&format!(
            "/oauth/authorize?response_type=code&client_id={}&redirect_uri=http://127.0.0.1:49152/other",
            reg.client_id
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

/// Runs the browser part and returns the code, its verifier and the client.
async fn code_for(
    app: &TestApp,
    user: &Client,
    reg: &Registered,
    scopes: &[&str],
) -> (String, PkceCodeVerifier, OAuth) {
    let client = oauth(app, reg, CALLBACK);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _) = client
        .authorize_url(CsrfToken::new_random)
        .add_scopes(scopes.iter().map(|s| Scope::new(s.to_string())))
        .set_pkce_challenge(challenge)
        .url();
    let back = browser(app, user, url.as_str(), true).await;
    (param(&back, "code").unwrap(), verifier, client)
}

async fn rule2_a_reused_code_fails_and_revokes_what_it_issued(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let reg = register(&admin, false, &[CALLBACK]).await;
    let (code, verifier, client) = code_for(&app, &admin, &reg, &["api:read"]).await;
    let verifier_copy = PkceCodeVerifier::new(verifier.secret().clone());
    let verifier_again = verifier.secret().clone();
    let tokens = client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    let api = bearer(&app, &tokens);
    assert_eq!(api.get("/api/v1/me").await.status(), StatusCode::OK);
    let second = client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .set_pkce_verifier(verifier_copy)
        .request_async(&http)
        .await;
    let err = format!("{:?}", second.expect_err("a used code fails"));
    assert!(
        err.contains("invalid_grant") || err.contains("InvalidGrant"),
        "{err}"
    );
    // Replayed again: refused again, and the log says "revoked" once, for the replay
    // that did revoke.
    let third = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier_again))
        .request_async(&http)
        .await;
    assert!(third.is_err());
    let events: Value = admin
        .get_json("/api/v1/audit-events?action=oauth_code.reused")
        .await;
    assert_eq!(events["items"].as_array().unwrap().len(), 1, "{events}");
    // What the first use issued is dead: the access token and the refresh token.
    let res = api.get("/api/v1/me").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(res).await, "token_revoked");
    let refresh = client
        .exchange_refresh_token(tokens.refresh_token().unwrap())
        .request_async(&http)
        .await;
    assert!(refresh.is_err());
}

async fn rule2_codes_expire_and_are_bound_to_client_and_redirect(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let reg = register(&admin, false, &[CALLBACK, "https://app.example.com/other"]).await;
    let other = register(&admin, false, &[CALLBACK]).await;
    // Another client cannot redeem it.
    let (code, verifier, _) = code_for(&app, &admin, &reg, &["api:read"]).await;
    let res = token_raw(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", verifier.secret()),
        ],
        Some((&other.client_id, other.secret.as_deref().unwrap())),
    )
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_grant");
    // Nor the right client with another redirect URI.
    let res = token_raw(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://app.example.com/other"),
            ("code_verifier", verifier.secret()),
        ],
        Some((&reg.client_id, reg.secret.as_deref().unwrap())),
    )
    .await;
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_grant");
    // A code older than 60 seconds is dead.
    let (code, verifier, client) = code_for(&app, &admin, &reg, &["api:read"]).await;
    app.state.clock.advance(TimeDelta::seconds(61));
    let late = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await;
    assert!(late.is_err());
    let lifetimes: Vec<(chrono::NaiveDateTime, chrono::NaiveDateTime)> = app.with_db(|conn| {
        oauth_codes::table
            .select((oauth_codes::created_at, oauth_codes::expires_at))
            .load(conn)
            .unwrap()
    });
    let (_, _) = lifetimes[0];
    let (code2, verifier2, client2) = code_for(&app, &admin, &reg, &["api:read"]).await;
    let fresh: Vec<(chrono::NaiveDateTime, chrono::NaiveDateTime)> = app.with_db(|conn| {
        oauth_codes::table
            .select((oauth_codes::created_at, oauth_codes::expires_at))
            .load(conn)
            .unwrap()
    });
    assert!(fresh.iter().all(|(c, e)| *e - *c <= TimeDelta::seconds(60)));
    assert!(
        client2
            .exchange_code(AuthorizationCode::new(code2))
            .set_pkce_verifier(verifier2)
            .request_async(&http)
            .await
            .is_ok()
    );
}

async fn rule3_pkce_is_required_for_public_clients_and_cannot_be_downgraded(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let public = register(&admin, true, &[CALLBACK]).await;
    // No challenge: refused, by redirect.
    let url = app.url(&format!(
        "/oauth/authorize?response_type=code&client_id={}&redirect_uri={CALLBACK}&state=s1",
        public.client_id
    ));
    let res = admin.http.get(url).send().await.unwrap();
    let location = res
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        param(&location, "error").as_deref(),
        Some("invalid_request")
    );
    assert_eq!(param(&location, "state").as_deref(), Some("s1"));
    // `plain` is refused.
    let url = app.url(&format!(
        "/oauth/authorize?response_type=code&client_id={}&redirect_uri={CALLBACK}&code_challenge={}&code_challenge_method=plain",
        public.client_id,
        "a".repeat(43)
    ));
    let location = admin
        .http
        .get(url)
        .send()
        .await
        .unwrap()
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        param(&location, "error").as_deref(),
        Some("invalid_request")
    );
    // A wrong verifier fails.
    let (code, _, _) = code_for(&app, &admin, &public, &["api:read"]).await;
    let res = token_raw(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("client_id", &public.client_id),
            ("code_verifier", &"b".repeat(43)),
        ],
        None,
    )
    .await;
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_grant");
    // A confidential client that sent no challenge cannot add a verifier later.
    let conf = register(&admin, false, &[CALLBACK]).await;
    let client = oauth(&app, &conf, CALLBACK);
    let (url, _) = client.authorize_url(CsrfToken::new_random).url();
    let back = browser(&app, &admin, url.as_str(), true).await;
    let code = param(&back, "code").unwrap();
    let res = token_raw(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", &"c".repeat(43)),
        ],
        Some((&conf.client_id, conf.secret.as_deref().unwrap())),
    )
    .await;
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_grant");
}

async fn rule4_refresh_tokens_rotate_and_reuse_revokes_the_grant(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let reg = register(&admin, false, &[CALLBACK]).await;
    let tokens = authorize(&app, &admin, &reg, &["api:read"]).await;
    let client = oauth(&app, &reg, CALLBACK);
    let first = tokens.refresh_token().unwrap().clone();
    let renewed = client
        .exchange_refresh_token(&first)
        .request_async(&http)
        .await
        .unwrap();
    assert_ne!(
        renewed.refresh_token().unwrap().secret(),
        first.secret(),
        "rotated"
    );
    let api = bearer(&app, &renewed);
    assert_eq!(api.get("/api/v1/me").await.status(), StatusCode::OK);
    // The spent token comes back: it fails, and the whole grant is revoked.
    let replay = client
        .exchange_refresh_token(&first)
        .request_async(&http)
        .await;
    assert!(replay.is_err());
    assert_eq!(
        api.get("/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let newest = client
        .exchange_refresh_token(renewed.refresh_token().unwrap())
        .request_async(&http)
        .await;
    assert!(newest.is_err(), "the legitimate holder's token died too");
    let apps: Page<AuthorizedApp> = admin
        .get("/api/v1/authorized-apps")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(apps.items[0].state, GrantState::Revoked);
    // Narrowing on refresh works; widening does not.
    let again = authorize(&app, &admin, &reg, &["api:write"]).await;
    let res = token_raw(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", again.refresh_token().unwrap().secret()),
            ("scope", "api:read openid"),
        ],
        Some((&reg.client_id, reg.secret.as_deref().unwrap())),
    )
    .await;
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_scope");
    let narrowed = client
        .exchange_refresh_token(again.refresh_token().unwrap())
        .add_scope(Scope::new("api:read".into()))
        .request_async(&http)
        .await
        .unwrap();
    let scopes: Vec<String> = narrowed
        .scopes()
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(scopes, ["api:read"]);
}

async fn rule5_revoking_or_deleting_stops_every_token_at_once(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser {
        client: user,
        id: user_id,
        ..
    } = app.user(&admin, Role::Editor).await;
    let reg = register(&admin, false, &[CALLBACK]).await;
    // Revoke the grant.
    let tokens = authorize(&app, &user, &reg, &["api:read"]).await;
    let api = bearer(&app, &tokens);
    assert_eq!(api.get("/api/v1/me").await.status(), StatusCode::OK);
    let apps: Page<AuthorizedApp> = user
        .get("/api/v1/authorized-apps")
        .await
        .json()
        .await
        .unwrap();
    let res = user
        .post(
            &format!("/api/v1/authorized-apps/{}/revoke", apps.items[0].id),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        api.get("/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Disable the user.
    let tokens = authorize(&app, &user, &reg, &["api:read"]).await;
    let api = bearer(&app, &tokens);
    assert_eq!(api.get("/api/v1/me").await.status(), StatusCode::OK);
    succeeded(
        admin
            .patch(
                &format!("/api/v1/users/{user_id}"),
                &json!({"state": "disabled"}),
            )
            .await,
    );
    assert_eq!(
        api.get("/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let refused = oauth(&app, &reg, CALLBACK)
        .exchange_refresh_token(tokens.refresh_token().unwrap())
        .request_async(&http)
        .await;
    assert!(refused.is_err());
    succeeded(
        admin
            .patch(
                &format!("/api/v1/users/{user_id}"),
                &json!({"state": "active"}),
            )
            .await,
    );
    let user = app
        .sign_in(
            &user_id_to_name(&app, &admin, &user_id).await,
            "a password of some length",
        )
        .await;
    // Reset the secret without revoking: the old secret fails, tokens live on.
    let tokens = authorize(&app, &user, &reg, &["api:read"]).await;
    let api = bearer(&app, &tokens);
    let reset: Value = admin
        .post(
            &format!("/api/v1/oauth-clients/{}/reset-secret", reg.id),
            &json!({}),
        )
        .await
        .json()
        .await
        .unwrap();
    let new_secret = reset["client_secret"].as_str().unwrap().to_string();
    assert_eq!(api.get("/api/v1/me").await.status(), StatusCode::OK);
    let old = oauth(&app, &reg, CALLBACK)
        .exchange_refresh_token(tokens.refresh_token().unwrap())
        .request_async(&http)
        .await;
    assert!(old.is_err(), "the old secret stops at once");
    let reg2 = Registered {
        id: reg.id.clone(),
        client_id: reg.client_id.clone(),
        secret: Some(new_secret),
    };
    let renewed = oauth(&app, &reg2, CALLBACK)
        .exchange_refresh_token(tokens.refresh_token().unwrap())
        .request_async(&http)
        .await
        .unwrap();
    // Reset with revoke_tokens: every token of the client stops.
    let api = bearer(&app, &renewed);
    assert_eq!(api.get("/api/v1/me").await.status(), StatusCode::OK);
    succeeded(
        admin
            .post(
                &format!("/api/v1/oauth-clients/{}/reset-secret", reg.id),
                &json!({"revoke_tokens": true}),
            )
            .await,
    );
    assert_eq!(
        api.get("/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Delete the client.
    let other = register(&admin, false, &[CALLBACK]).await;
    let tokens = authorize(&app, &user, &other, &["api:read"]).await;
    let api = bearer(&app, &tokens);
    assert_eq!(api.get("/api/v1/me").await.status(), StatusCode::OK);
    assert_eq!(
        admin
            .delete(&format!("/api/v1/oauth-clients/{}", other.id))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.get("/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn user_id_to_name(_app: &TestApp, admin: &Client, id: &str) -> String {
    let u: Value = admin
        .get(&format!("/api/v1/users/{id}"))
        .await
        .json()
        .await
        .unwrap();
    u["username"].as_str().unwrap().to_string()
}

async fn rule6_failed_client_authentication_is_rate_limited(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let reg = register(&admin, false, &[CALLBACK]).await;
    let tokens = authorize(&app, &admin, &reg, &["api:read"]).await;
    let refresh = tokens.refresh_token().unwrap().secret().clone();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
    ];
    for _ in 0..10 {
        let res = token_raw(&app, &form, Some((&reg.client_id, "gats_wrong"))).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    // Now even the right secret waits.
    let res = token_raw(
        &app,
        &form,
        Some((&reg.client_id, reg.secret.as_deref().unwrap())),
    )
    .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().get("retry-after").is_some());
    // Other clients are not affected.
    let other = register(&admin, false, &[CALLBACK]).await;
    let tokens = authorize(&app, &admin, &other, &["api:read"]).await;
    assert!(tokens.refresh_token().is_some());
}

async fn rule7_errors_follow_rfc_6749(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let reg = register(&admin, false, &[CALLBACK]).await;
    let secret = reg.secret.clone().unwrap();
    let res = token_raw(
        &app,
        &[("grant_type", "refresh_token"), ("refresh_token", "x")],
        Some((&reg.client_id, "gats_wrong")),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(
        res.headers()
            .get("www-authenticate")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    assert_eq!(res.headers().get("cache-control").unwrap(), "no-store");
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"], "invalid_client");
    assert!(v["error_description"].is_string());
    let res = token_raw(
        &app,
        &[("grant_type", "password")],
        Some((&reg.client_id, &secret)),
    )
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );
    // A grant type the server has but the client was not registered for.
    let res = token_raw(
        &app,
        &[("grant_type", "client_credentials")],
        Some((&reg.client_id, &secret)),
    )
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "unauthorized_client"
    );
    let res = token_raw(
        &app,
        &[("grant_type", "authorization_code")],
        Some((&reg.client_id, &secret)),
    )
    .await;
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
    let res = token_raw(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "gatr_nope"),
        ],
        Some((&reg.client_id, &secret)),
    )
    .await;
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_grant");
    let res = crate::helpers::http_client()
        .post(app.url("/oauth/token"))
        .basic_auth(&reg.client_id, Some(&secret))
        .json(&json!({"grant_type": "refresh_token"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
    let res = token_raw(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "a"),
            ("refresh_token", "b"),
        ],
        Some((&reg.client_id, &secret)),
    )
    .await;
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
    let res = token_raw(
        &app,
        &[("grant_type", "refresh_token"), ("refresh_token", "a")],
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

async fn rule8_access_tokens_are_rfc_9068_jwts_checked_on_every_request(b: Backend) {
    use gatehouse_server::auth::jwt::AccessClaims;
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let reg = register(&admin, false, &[CALLBACK]).await;
    let tokens = authorize(&app, &admin, &reg, &["api:read"]).await;
    let jwt = tokens.access_token().secret();
    let header = jwt_part(jwt, 0);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "EdDSA");
    assert!(header["kid"].is_string());
    let claims = jwt_part(jwt, 1);
    for claim in [
        "iss",
        "aud",
        "exp",
        "iat",
        "sub",
        "client_id",
        "scope",
        "jti",
    ] {
        assert!(!claims[claim].is_null(), "missing {claim}");
    }
    assert_eq!(claims["iss"], app.state.auth.signing.issuer());
    assert_eq!(claims["sub"], app.admin_id.as_str());
    assert_eq!(claims["client_id"], reg.client_id.as_str());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );
    // Signed with Gatehouse's own key, but wrong in one claim or the type: refused.
    let good: AccessClaims = serde_json::from_value(claims.clone()).unwrap();
    let cases = [
        ("JWT", AccessClaims { ..good.clone() }),
        (
            "at+jwt",
            AccessClaims {
                iss: "https://evil.example".into(),
                ..good.clone()
            },
        ),
        (
            "at+jwt",
            AccessClaims {
                aud: "https://other.example/api".into(),
                ..good.clone()
            },
        ),
        (
            "at+jwt",
            AccessClaims {
                exp: good.iat - 120,
                ..good.clone()
            },
        ),
        (
            "at+jwt",
            AccessClaims {
                generation: good.generation + 1,
                ..good.clone()
            },
        ),
        (
            "at+jwt",
            AccessClaims {
                sub: uuid::Uuid::new_v4().to_string(),
                ..good.clone()
            },
        ),
    ];
    for (typ, claims) in cases {
        let forged = app.state.auth.signing.sign(typ, &claims).unwrap();
        let res = app.with_key(&forged).get("/api/v1/me").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{typ} {claims:?}");
    }
    let resigned = app.state.auth.signing.sign("at+jwt", &good).unwrap();
    assert_eq!(
        app.with_key(&resigned).get("/api/v1/me").await.status(),
        StatusCode::OK,
        "the control case passes"
    );
    // The genuine token has just been verified (and is remembered as verified): a
    // copy with a changed payload, or with a changed signature, is not.
    assert_eq!(
        app.with_key(jwt).get("/api/v1/me").await.status(),
        StatusCode::OK
    );
    let parts: Vec<String> = jwt.split('.').map(str::to_string).collect();
    let mut payload = claims.clone();
    payload["scope"] = json!("api:read api:write");
    let widened = [
        parts[0].as_str(),
        &URL_SAFE_NO_PAD.encode(payload.to_string()),
        &parts[2],
    ]
    .join(".");
    let mut signature = URL_SAFE_NO_PAD.decode(&parts[2]).unwrap();
    signature[10] ^= 1;
    let resigned_badly = [
        parts[0].as_str(),
        &parts[1],
        &URL_SAFE_NO_PAD.encode(signature),
    ]
    .join(".");
    for tampered in [widened, resigned_badly] {
        let res = app.with_key(&tampered).get("/api/v1/me").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(error_code(res).await, "token_invalid");
    }
}

async fn rule9_no_implicit_or_password_grant(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let reg = register(&admin, false, &[CALLBACK]).await;
    let url = app.url(&format!(
        "/oauth/authorize?response_type=token&client_id={}&redirect_uri={CALLBACK}&state=xyz",
        reg.client_id
    ));
    let res = admin.http.get(url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(
        res.headers().get("content-security-policy").unwrap(),
        "frame-ancestors 'none'"
    );
    let location = res
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        param(&location, "error").as_deref(),
        Some("unsupported_response_type")
    );
    assert_eq!(param(&location, "state").as_deref(), Some("xyz"));
    assert!(param(&location, "access_token").is_none());
    let res = token_raw(
        &app,
        &[
            ("grant_type", "password"),
            ("username", &app.admin_username),
            ("password", crate::helpers::ADMIN_PASSWORD),
        ],
        Some((&reg.client_id, reg.secret.as_deref().unwrap())),
    )
    .await;
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );
}

async fn authorized_apps_are_listed_revoked_and_re_enabled(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser { client: user, .. } = app.user(&admin, Role::Viewer).await;
    let reg = register(&admin, false, &[CALLBACK]).await;
    let old = authorize(&app, &user, &reg, &["api:read", "openid"]).await;
    let apps: Page<AuthorizedApp> = user
        .get("/api/v1/authorized-apps")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(apps.items.len(), 1);
    let a = &apps.items[0];
    assert_eq!(a.client_name, "Acme Dashboard");
    assert_eq!(a.homepage_url.as_deref(), Some("https://app.example.com"));
    assert_eq!(a.scopes, ["api:read", "openid"]);
    assert_eq!(a.state, GrantState::Active);
    assert!(a.revoked_at.is_none());
    // An API key of the user may list and (full access) revoke too.
    let IssuedKey { secret: key, .. } = app.api_key(&user, "read_only").await;
    let listed: Page<AuthorizedApp> = app
        .with_key(&key)
        .get("/api/v1/authorized-apps")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    let revoked: AuthorizedApp = user
        .post(
            &format!("/api/v1/authorized-apps/{}/revoke", a.id),
            &json!({}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(revoked.state, GrantState::Revoked);
    assert!(revoked.revoked_at.is_some());
    // Signing in through the app again re-enables it with fresh tokens; the old stay dead.
    let fresh = authorize(&app, &user, &reg, &["api:read"]).await;
    assert_eq!(
        bearer(&app, &fresh).get("/api/v1/me").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        bearer(&app, &old).get("/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let old_refresh = oauth(&app, &reg, CALLBACK)
        .exchange_refresh_token(old.refresh_token().unwrap())
        .request_async(&http)
        .await;
    assert!(old_refresh.is_err());
    let apps: Page<AuthorizedApp> = user
        .get("/api/v1/authorized-apps")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(apps.items[0].state, GrantState::Active);
    assert!(apps.items[0].last_used_at.is_some());
    // Nobody else can revoke it.
    let res = admin
        .post(
            &format!("/api/v1/authorized-apps/{}/revoke", a.id),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

async fn an_active_grant_skips_the_consent_page(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let reg = register(&admin, false, &[CALLBACK]).await;
    authorize(&app, &admin, &reg, &["api:read", "api:write"]).await;
    let client = oauth(&app, &reg, CALLBACK);
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let (url, _) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("api:read".into()))
        .set_pkce_challenge(challenge)
        .url();
    let res = admin.http.get(url.as_str()).send().await.unwrap();
    let location = res.headers().get("location").unwrap().to_str().unwrap();
    assert!(
        location.starts_with(CALLBACK),
        "straight back with a code: {location}"
    );
    assert!(param(location, "code").is_some());
    // A wider request asks again.
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let (url, _) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();
    let res = admin.http.get(url.as_str()).send().await.unwrap();
    assert!(
        res.headers()
            .get("location")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("/authorize?request=")
    );
}

async fn denying_sends_access_denied(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let reg = register(&admin, false, &[CALLBACK]).await;
    let client = oauth(&app, &reg, CALLBACK);
    let (url, csrf) = client.authorize_url(CsrfToken::new_random).url();
    let back = browser(&app, &admin, url.as_str(), false).await;
    assert_eq!(param(&back, "error").as_deref(), Some("access_denied"));
    assert_eq!(
        param(&back, "state").as_deref(),
        Some(csrf.secret().as_str())
    );
    assert!(param(&back, "code").is_none());
    let apps: Page<AuthorizedApp> = admin
        .get("/api/v1/authorized-apps")
        .await
        .json()
        .await
        .unwrap();
    assert!(apps.items.is_empty());
}

async fn signing_in_comes_first(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let reg = register(&admin, false, &[CALLBACK]).await;
    let client = oauth(&app, &reg, CALLBACK);
    let (url, _) = client.authorize_url(CsrfToken::new_random).url();
    let res = app.anonymous().http.get(url.as_str()).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let location = res.headers().get("location").unwrap().to_str().unwrap();
    let next = location
        .strip_prefix("/login?next=")
        .expect("to the sign-in page");
    let next: String = url::form_urlencoded::parse(format!("n={next}").as_bytes())
        .next()
        .unwrap()
        .1
        .into_owned();
    assert!(next.starts_with("/oauth/authorize?") && next.contains(&reg.client_id));
    // A user of another subscription cannot authorize this subscription's client.
    let OtherSubscription { admin: other, .. } = app.second_subscription().await;
    let res = other.http.get(url.as_str()).send().await.unwrap();
    let location = res.headers().get("location").unwrap().to_str().unwrap();
    assert_eq!(param(location, "error").as_deref(), Some("access_denied"));
    // Consent requests are the requester's alone, and need a session.
    let res = admin.http.get(url.as_str()).send().await.unwrap();
    let request = res
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .strip_prefix("/authorize?request=")
        .unwrap()
        .to_string();
    let res = other
        .get(&format!("/api/v1/oauth/requests/{request}"))
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let IssuedKey { secret: key, .. } = app.api_key(&admin, "full_access").await;
    let res = app
        .with_key(&key)
        .post(
            &format!("/api/v1/oauth/requests/{request}"),
            &json!({"decision": "allow"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // A decision is taken once.
    assert_eq!(
        admin
            .post(
                &format!("/api/v1/oauth/requests/{request}"),
                &json!({"decision": "deny"})
            )
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        admin
            .post(
                &format!("/api/v1/oauth/requests/{request}"),
                &json!({"decision": "allow"})
            )
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

async fn clients_are_managed_by_their_owners_and_admins(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser { client: editor, .. } = app.user(&admin, Role::Editor).await;
    let NewUser { client: viewer, .. } = app.user(&admin, Role::Viewer).await;
    let res = viewer
        .post(
            "/api/v1/oauth-clients",
            &json!({"name": "x", "redirect_uris": [CALLBACK]}),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "oauth_client_roles excludes viewers"
    );
    let mine = register(&editor, false, &[CALLBACK]).await;
    let theirs = register(&admin, true, &[CALLBACK]).await;
    let listed: Page<OAuthClient> = editor
        .get("/api/v1/oauth-clients")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    assert!(
        listed.items[0]
            .secret_hint
            .as_deref()
            .unwrap()
            .starts_with("gats_…")
    );
    let text = serde_json::to_string(&listed).unwrap();
    assert!(!text.contains(&mine.secret.as_deref().unwrap()[5..]));
    let all: Page<OAuthClient> = admin
        .get("/api/v1/oauth-clients")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all.items.len(), 2);
    assert_eq!(
        editor
            .get(&format!("/api/v1/oauth-clients/{}", theirs.id))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let edited: OAuthClient = editor
        .patch(&format!("/api/v1/oauth-clients/{}", mine.id), &json!({"name": "Renamed", "redirect_uris": [CALLBACK, "http://127.0.0.1/cb"], "logo_url": null}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(edited.name, "Renamed");
    assert_eq!(edited.redirect_uris.len(), 2);
    let res = editor
        .patch(
            &format!("/api/v1/oauth-clients/{}", mine.id),
            &json!({"standard": true}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // Standard skips consent for everyone: an admin's full-access key cannot set it,
    // nor clear it; only the admin, signed in.
    let IssuedKey { secret, .. } = app.api_key(&admin, "full_access").await;
    for standard in [true, false] {
        let res = app
            .with_key(&secret)
            .patch(
                &format!("/api/v1/oauth-clients/{}", mine.id),
                &json!({"standard": standard}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(error_code(res).await, "session_required");
    }
    let unchanged = admin
        .get_json(&format!("/api/v1/oauth-clients/{}", mine.id))
        .await;
    assert_eq!(unchanged["standard"], false);
    let std: OAuthClient = admin
        .patch(
            &format!("/api/v1/oauth-clients/{}", mine.id),
            &json!({"standard": true}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(std.standard);
    let res = admin
        .post(
            &format!("/api/v1/oauth-clients/{}/reset-secret", theirs.id),
            &json!({}),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "a public client has no secret"
    );
    for bad in [
        json!({"name": "x", "redirect_uris": []}),
        json!({"name": "", "redirect_uris": [CALLBACK]}),
        json!({"name": "x", "redirect_uris": ["javascript:alert(1)"]}),
    ] {
        assert_eq!(
            editor.post("/api/v1/oauth-clients", &bad).await.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}"
        );
    }
    // A key may read and delete, not mint secrets.
    let IssuedKey { secret: key, .. } = app.api_key(&editor, "full_access").await;
    let k = app.with_key(&key);
    assert_eq!(
        k.post(
            "/api/v1/oauth-clients",
            &json!({"name": "x", "redirect_uris": [CALLBACK]})
        )
        .await
        .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        k.post(
            &format!("/api/v1/oauth-clients/{}/reset-secret", mine.id),
            &json!({})
        )
        .await
        .status(),
        StatusCode::FORBIDDEN
    );
    // Another subscription sees nothing.
    let OtherSubscription { admin: other, .. } = app.second_subscription().await;
    for res in [
        other
            .get(&format!("/api/v1/oauth-clients/{}", mine.id))
            .await,
        other
            .patch(
                &format!("/api/v1/oauth-clients/{}", mine.id),
                &json!({"name": "x"}),
            )
            .await,
        other
            .post(
                &format!("/api/v1/oauth-clients/{}/reset-secret", mine.id),
                &json!({}),
            )
            .await,
        other
            .delete(&format!("/api/v1/oauth-clients/{}", mine.id))
            .await,
    ] {
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }
    assert_eq!(
        k.delete(&format!("/api/v1/oauth-clients/{}", mine.id))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    // A standard integration needs no consent.
    let std = register(&admin, false, &[CALLBACK]).await;
    succeeded(
        admin
            .patch(
                &format!("/api/v1/oauth-clients/{}", std.id),
                &json!({"standard": true}),
            )
            .await,
    );
    let client = oauth(&app, &std, CALLBACK);
    let (url, _) = client.authorize_url(CsrfToken::new_random).url();
    let res = viewer.http.get(url.as_str()).send().await.unwrap();
    assert!(
        res.headers()
            .get("location")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with(CALLBACK)
    );
}

async fn oauth_events_are_audited(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser {
        client: user,
        id: user_id,
        ..
    } = app.user(&admin, Role::Viewer).await;
    let reg = register(&admin, false, &[CALLBACK]).await;
    succeeded(
        admin
            .patch(
                &format!("/api/v1/oauth-clients/{}", reg.id),
                &json!({"name": "Acme Dashboard"}),
            )
            .await,
    );
    let tokens = authorize(&app, &user, &reg, &["api:read"]).await;
    let client = oauth(&app, &reg, CALLBACK);
    let first = tokens.refresh_token().unwrap().clone();
    client
        .exchange_refresh_token(&first)
        .request_async(&http)
        .await
        .unwrap();
    let _ = client
        .exchange_refresh_token(&first)
        .request_async(&http)
        .await;
    authorize(&app, &user, &reg, &["api:read"]).await;
    let apps: Page<AuthorizedApp> = user
        .get("/api/v1/authorized-apps")
        .await
        .json()
        .await
        .unwrap();
    succeeded(
        user.post(
            &format!("/api/v1/authorized-apps/{}/revoke", apps.items[0].id),
            &json!({}),
        )
        .await,
    );
    succeeded(
        admin
            .post(
                &format!("/api/v1/oauth-clients/{}/reset-secret", reg.id),
                &json!({}),
            )
            .await,
    );
    succeeded(
        admin
            .delete(&format!("/api/v1/oauth-clients/{}", reg.id))
            .await,
    );
    let log: Page<gatehouse_types::AuditEvent> = admin
        .get("/api/v1/audit-events?limit=200")
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = log.items.iter().map(|e| e.action.as_str()).collect();
    for a in [
        "oauth_client.created",
        "oauth_client.updated",
        "oauth_grant.authorized",
        "oauth_refresh_token.reused",
        "oauth_grant.re_enabled",
        "oauth_grant.revoked",
        "oauth_client.secret_reset",
        "oauth_client.deleted",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    // The user sees what concerns them.
    let own: Page<gatehouse_types::AuditEvent> =
        user.get("/api/v1/audit-events").await.json().await.unwrap();
    assert!(
        own.items
            .iter()
            .any(|e| e.action == "oauth_refresh_token.reused"
                && e.subject_user_id.as_deref() == Some(user_id.as_str()))
    );
    let text = serde_json::to_string(&log.items).unwrap();
    assert!(!text.contains(&first.secret()[5..]));
    assert!(!text.contains(tokens.access_token().secret()));
}

async fn no_oauth_secret_is_stored(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let reg = register(&admin, false, &[CALLBACK]).await;
    let (code, verifier, client) = code_for(&app, &admin, &reg, &["api:read"]).await;
    let tokens = client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    let renewed = client
        .exchange_refresh_token(tokens.refresh_token().unwrap())
        .request_async(&http)
        .await
        .unwrap();
    let dump = crate::helpers::database_dump(&app);
    assert!(dump.contains(&reg.client_id), "the dump is readable");
    for secret in [
        &reg.secret.clone().unwrap()[5..],
        code.as_str(),
        &tokens.refresh_token().unwrap().secret()[5..],
        &renewed.refresh_token().unwrap().secret()[5..],
    ] {
        assert!(!dump.contains(secret), "a secret is stored in the database");
    }
}

async fn rule2_a_code_redeemed_twice_at_once_issues_nothing_that_lasts(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let reg = register(&admin, false, &[CALLBACK]).await;
    let (code, verifier, _) = code_for(&app, &admin, &reg, &["api:read"]).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CALLBACK),
        ("code_verifier", verifier.secret().as_str()),
    ];
    let secret = reg.secret.clone().unwrap();
    let (a, b) = tokio::join!(
        token_raw(&app, &form, Some((&reg.client_id, &secret))),
        token_raw(&app, &form, Some((&reg.client_id, &secret))),
    );
    let mut issued = Vec::new();
    let mut refused = 0;
    for res in [a, b] {
        match res.status() {
            StatusCode::OK => issued.push(res.json::<Value>().await.unwrap()),
            status => {
                assert_eq!(status, StatusCode::BAD_REQUEST);
                let body: Value = res.json().await.unwrap();
                assert_eq!(body["error"], "invalid_grant", "{body}");
                refused += 1;
            }
        }
    }
    assert!(issued.len() <= 1, "a code is redeemed once at most");
    assert!(
        refused >= 1,
        "the other redemption is refused with invalid_grant"
    );
    // The loser's replay revoked the grant: whatever the winner got is dead.
    for t in &issued {
        let api = app.with_key(t["access_token"].as_str().unwrap());
        assert_eq!(
            api.get("/api/v1/me").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
}

async fn rule2_a_code_from_before_a_revocation_is_dead_after_a_re_enable(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let reg = register(&admin, false, &[CALLBACK]).await;
    authorize(&app, &admin, &reg, &["api:read"]).await;
    // A code is issued (the grant covers the scopes: no consent), then the grant is
    // revoked and re-enabled before the code is redeemed.
    let (stale_code, stale_verifier, client) = code_for(&app, &admin, &reg, &["api:read"]).await;
    let apps: Page<AuthorizedApp> = admin
        .get("/api/v1/authorized-apps")
        .await
        .json()
        .await
        .unwrap();
    succeeded(
        admin
            .post(
                &format!("/api/v1/authorized-apps/{}/revoke", apps.items[0].id),
                &json!({}),
            )
            .await,
    );
    let fresh = authorize(&app, &admin, &reg, &["api:read"]).await;
    let stale = client
        .exchange_code(AuthorizationCode::new(stale_code))
        .set_pkce_verifier(stale_verifier)
        .request_async(&http)
        .await;
    assert!(stale.is_err(), "the old code does not work");
    // ...and trying it did not revoke the re-enabled grant.
    assert_eq!(
        bearer(&app, &fresh).get("/api/v1/me").await.status(),
        StatusCode::OK
    );
}

async fn rule5_deleting_the_user_or_the_clients_owner_stops_tokens(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser {
        client: dev,
        id: dev_id,
        ..
    } = app.user(&admin, Role::Editor).await;
    let NewUser {
        client: user,
        id: user_id,
        ..
    } = app.user(&admin, Role::Viewer).await;
    let reg = register(&dev, false, &[CALLBACK]).await;
    // The user's own tokens stop when the user is deleted.
    let NewUser {
        client: other_user,
        id: other_id,
        ..
    } = app.user(&admin, Role::Viewer).await;
    let tokens = authorize(&app, &other_user, &reg, &["api:read"]).await;
    let api = bearer(&app, &tokens);
    assert_eq!(api.get("/api/v1/me").await.status(), StatusCode::OK);
    assert_eq!(
        admin
            .delete(&format!("/api/v1/users/{other_id}"))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.get("/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Another user's tokens stop when the client's owner is deleted (the client goes
    // with its owner), even though that user's grant was cached a moment ago.
    let tokens = authorize(&app, &user, &reg, &["api:read"]).await;
    let api = bearer(&app, &tokens);
    assert_eq!(api.get("/api/v1/me").await.status(), StatusCode::OK);
    assert_eq!(
        admin
            .delete(&format!("/api/v1/users/{dev_id}"))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.get("/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let _ = (dev, user_id);
}

async fn rule1_a_host_hidden_behind_a_backslash_is_refused(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    for uri in [
        "http://evil.example\\@localhost/cb",
        "http://user@127.0.0.1/cb",
        "https:///cb",
    ] {
        let res = admin
            .post(
                "/api/v1/oauth-clients",
                &json!({"name": "x", "redirect_uris": [uri]}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{uri}");
    }
}

async fn rule6_a_guesser_cannot_lock_the_client_out_for_everyone(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let reg = register(&admin, false, &[CALLBACK]).await;
    let tokens = authorize(&app, &admin, &reg, &["api:read"]).await;
    let refresh = tokens.refresh_token().unwrap().secret().clone();
    // The guesser calls from another address on this machine.
    let guesser = reqwest::Client::builder()
        .local_address(Some("127.0.0.2".parse().unwrap()))
        .build()
        .unwrap();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
    ];
    for _ in 0..12 {
        let res = guesser
            .post(app.url("/oauth/token"))
            .basic_auth(&reg.client_id, Some("gats_wrong"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert!(matches!(
            res.status(),
            StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS
        ));
    }
    let res = guesser
        .post(app.url("/oauth/token"))
        .basic_auth(&reg.client_id, reg.secret.as_deref())
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the guesser is slowed down"
    );
    // The real client, elsewhere, carries on.
    let res = token_raw(
        &app,
        &form,
        Some((&reg.client_id, reg.secret.as_deref().unwrap())),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    // Unknown client ids are not tracked at all.
    for _ in 0..12 {
        let res = token_raw(&app, &form, Some((&"f".repeat(32), "gats_x"))).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
}

async fn api_write_is_capped_by_the_role_like_a_key(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    succeeded(
        admin
            .patch(
                "/api/v1/subscription",
                &json!({"api_key_full_access_roles": ["admin"]}),
            )
            .await,
    );
    let NewUser { client: editor, .. } = app.user(&admin, Role::Editor).await;
    let reg = register(&admin, false, &[CALLBACK]).await;
    let IssuedKey { id: victim, .. } = app.api_key(&editor, "read_only").await;
    let tokens = authorize(&app, &editor, &reg, &["api:write"]).await;
    let api = bearer(&app, &tokens);
    let who: Value = api.get("/api/v1/session").await.json().await.unwrap();
    assert_eq!(who["credential"]["permission"], "read_only");
    let res = api.delete(&format!("/api/v1/api-keys/{victim}")).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, "insufficient_permission");
    // Widen the roles again: the same token writes.
    succeeded(
        admin
            .patch(
                "/api/v1/subscription",
                &json!({"api_key_full_access_roles": ["admin", "editor"]}),
            )
            .await,
    );
    assert_eq!(
        api.delete(&format!("/api/v1/api-keys/{victim}"))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
}

async fn consent_api_answers_carry_frame_ancestors(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let reg = register(&admin, false, &[CALLBACK]).await;
    let (url, _) = oauth(&app, &reg, CALLBACK)
        .authorize_url(CsrfToken::new_random)
        .url();
    let res = admin.http.get(url.as_str()).send().await.unwrap();
    let request = res
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .strip_prefix("/authorize?request=")
        .unwrap()
        .to_string();
    let res = admin
        .get(&format!("/api/v1/oauth/requests/{request}"))
        .await;
    assert_eq!(
        res.headers().get("content-security-policy").unwrap(),
        "frame-ancestors 'none'"
    );
    let res = admin
        .post(
            &format!("/api/v1/oauth/requests/{request}"),
            &json!({"decision": "allow"}),
        )
        .await;
    assert_eq!(
        res.headers().get("content-security-policy").unwrap(),
        "frame-ancestors 'none'"
    );
}

async fn the_redirect_uri_is_repeated_only_if_it_was_sent(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let reg = register(&admin, false, &[CALLBACK]).await;
    let secret = reg.secret.clone().unwrap();
    // Not sent at /authorize (one callback registered): not needed at /token.
    let url = app.url(&format!(
        "/oauth/authorize?response_type=code&client_id={}&scope=api:read",
        reg.client_id
    ));
    let back = browser(&app, &admin, &url, true).await;
    assert!(back.starts_with(CALLBACK));
    let code = param(&back, "code").unwrap();
    let res = token_raw(
        &app,
        &[("grant_type", "authorization_code"), ("code", &code)],
        Some((&reg.client_id, &secret)),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    // Sent at /authorize: required, and equal, at /token.
    let url = app.url(&format!(
        "/oauth/authorize?response_type=code&client_id={}&scope=api:write&redirect_uri={CALLBACK}",
        reg.client_id
    ));
    let back = browser(&app, &admin, &url, true).await;
    let code = param(&back, "code").unwrap();
    let res = token_raw(
        &app,
        &[("grant_type", "authorization_code"), ("code", &code)],
        Some((&reg.client_id, &secret)),
    )
    .await;
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_grant");
}

async fn a_narrowed_refresh_keeps_the_refresh_tokens_scope(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let reg = register(&admin, false, &[CALLBACK]).await;
    let tokens = authorize(&app, &admin, &reg, &["api:write"]).await;
    let client = oauth(&app, &reg, CALLBACK);
    let narrow = client
        .exchange_refresh_token(tokens.refresh_token().unwrap())
        .add_scope(Scope::new("api:read".into()))
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(narrow.scopes().unwrap().len(), 1);
    let wide = client
        .exchange_refresh_token(narrow.refresh_token().unwrap())
        .request_async(&http)
        .await
        .unwrap();
    let scopes: Vec<String> = wide
        .scopes()
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        scopes,
        ["api:read", "api:write"],
        "RFC 6749 §6: the refresh token's scope is unchanged"
    );
}

async fn two_first_time_allows_at_once_both_work(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let reg = register(&admin, false, &[CALLBACK]).await;
    let client = oauth(&app, &reg, CALLBACK);
    let mut requests = Vec::new();
    for _ in 0..2 {
        let (url, _) = client.authorize_url(CsrfToken::new_random).url();
        let res = admin.http.get(url.as_str()).send().await.unwrap();
        let loc = res
            .headers()
            .get("location")
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        requests.push(loc.strip_prefix("/authorize?request=").unwrap().to_string());
    }
    let allow = json!({"decision": "allow"});
    let (p0, p1) = (
        format!("/api/v1/oauth/requests/{}", requests[0]),
        format!("/api/v1/oauth/requests/{}", requests[1]),
    );
    let (a, b) = tokio::join!(admin.post(&p0, &allow), admin.post(&p1, &allow));
    assert_eq!(a.status(), StatusCode::OK);
    assert_eq!(b.status(), StatusCode::OK);
    let apps: Page<AuthorizedApp> = admin
        .get("/api/v1/authorized-apps")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(apps.items.len(), 1);
}

/// The consent page says who registered the app: their display name, or their
/// username when the display name is empty.
async fn the_consent_view_names_who_registered_the_client(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser {
        client: dev,
        id: dev_id,
        username: dev_username,
    } = app.user(&admin, Role::Editor).await;
    let res = dev
        .patch("/api/v1/me", &json!({"display_name": "Dana Developer"}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let reg = register(&dev, false, &[CALLBACK]).await;
    let NewUser { client: user, .. } = app.user(&admin, Role::Viewer).await;
    let (url, _) = oauth(&app, &reg, CALLBACK)
        .authorize_url(CsrfToken::new_random)
        .url();
    let res = user.http.get(url.as_str()).send().await.unwrap();
    let request = res
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .strip_prefix("/authorize?request=")
        .unwrap()
        .to_string();
    let view = || async {
        let res = user.get(&format!("/api/v1/oauth/requests/{request}")).await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json::<AuthorizationRequestView>().await.unwrap()
    };
    let v = view().await;
    assert_eq!(v.registered_by, "Dana Developer");
    assert_eq!(v.client_name, "Acme Dashboard");
    assert_eq!(v.redirect_host, "app.example.com");
    // The API never stores an empty display name, but a row with one falls back.
    app.with_db(|conn| {
        diesel::update(users::table.find(&dev_id))
            .set(users::display_name.eq(""))
            .execute(conn)
            .unwrap()
    });
    assert_eq!(view().await.registered_by, dev_username);
}

/// RFC 6749 §3.1: a parameter the server reads may not appear twice; parameters it
/// does not read are ignored, even repeated.
async fn repeated_parameters_are_refused_unless_unknown(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let reg = register(&admin, false, &[CALLBACK]).await;
    let c = crate::helpers::http_client();
    let base = format!(
        "/oauth/authorize?response_type=code&client_id={}&redirect_uri={CALLBACK}&scope=api:read&state=s",
        reg.client_id
    );
    let res = c
        .get(app.url(&format!("{base}&client_id={}", reg.client_id)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "client_id twice");
    assert!(res.text().await.unwrap().contains("more than once"));
    // Unknown and repeated: ignored, the flow goes on to sign-in.
    let res = c
        .get(app.url(&format!("{base}&utm_source=a&utm_source=b")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let to = res.headers()["location"].to_str().unwrap();
    assert!(to.starts_with("/login?next="), "{to}");

    let secret = reg.secret.clone().unwrap();
    let token = |body: &'static str| {
        c.post(app.url("/oauth/token"))
            .basic_auth(&reg.client_id, Some(&secret))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let res = token("grant_type=refresh_token&grant_type=refresh_token&refresh_token=gatr_x")
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
    let res = token("grant_type=refresh_token&refresh_token=gatr_x&foo=1&foo=2")
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "invalid_grant",
        "the unknown, repeated foo is ignored; the refresh token is judged"
    );
}

/// OpenID Connect Core §3.1.2: request objects are refused by redirect before any
/// sign-in; POST works as GET; an OpenID request must name its redirect URI.
async fn request_objects_post_and_openid_redirects(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let reg = register(&admin, false, &[CALLBACK]).await;
    let c = crate::helpers::http_client();
    let base = format!(
        "response_type=code&client_id={}&redirect_uri={CALLBACK}&scope=openid&state=st",
        reg.client_id
    );
    for (extra, error) in [
        ("request=eyJhbGciOiJub25lIn0.e30.", "request_not_supported"),
        (
            "request_uri=https%3A%2F%2Fapp.example.com%2Fr",
            "request_uri_not_supported",
        ),
    ] {
        let res = c
            .get(app.url(&format!("/oauth/authorize?{base}&{extra}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FOUND, "{extra}");
        let to = url::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
        assert!(
            to.as_str().starts_with(CALLBACK),
            "back to the client, not to sign-in: {to}"
        );
        let q: std::collections::HashMap<_, _> = to.query_pairs().into_owned().collect();
        assert_eq!(q["error"], error);
        assert_eq!(q["state"], "st");
        assert_eq!(q["iss"], app.address);
    }
    // POST, form-encoded, behaves like GET: signed out, to sign-in and back as a GET.
    let res = c
        .post(app.url("/oauth/authorize"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(base.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let to = res.headers()["location"].to_str().unwrap().to_string();
    assert!(
        to.starts_with("/login?next=%2Foauth%2Fauthorize%3F"),
        "{to}"
    );
    assert!(to.contains(&reg.client_id), "{to}");
    // And an unknown client is the same error page by POST as by GET.
    let res = c
        .post(app.url("/oauth/authorize"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("response_type=code&client_id=00000000000000000000000000000000")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // An OpenID request without redirect_uri gets the error page, never a redirect.
    let res = c
        .get(app.url(&format!(
            "/oauth/authorize?response_type=code&client_id={}&scope=openid%20profile&state=st",
            reg.client_id
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.headers().get("location").is_none());
    // Without openid the single registered URI may still be implied.
    let res = c
        .get(app.url(&format!(
            "/oauth/authorize?response_type=code&client_id={}&scope=api:read&state=st",
            reg.client_id
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let m: Value = c
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(m["request_parameter_supported"], false);
    assert_eq!(m["request_uri_parameter_supported"], false);
}

/// A standard client's pre-approved consent holds for the callbacks an administrator
/// approved: when its non-admin owner sends codes elsewhere it stops being standard
/// (audited). Callback changes, like secrets, need a signed-in session.
async fn standard_clients_stay_admin_approved(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser { client: editor, .. } = app.user(&admin, gatehouse_types::Role::Editor).await;
    let reg = register(&editor, false, &[CALLBACK]).await;
    let res = admin
        .patch(
            &format!("/api/v1/oauth-clients/{}", reg.id),
            &json!({"standard": true}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // An admin may move the callbacks of a standard client and it stays standard.
    let res = admin
        .patch(
            &format!("/api/v1/oauth-clients/{}", reg.id),
            &json!({"redirect_uris": [CALLBACK, "https://app.example.com/cb2"]}),
        )
        .await;
    assert_eq!(res.json::<Value>().await.unwrap()["standard"], true);
    // A key (even full access) may rename, but not redirect.
    let IssuedKey { secret: key, .. } = app.api_key(&editor, "full_access").await;
    let with_key = app.with_key(&key);
    let res = with_key
        .patch(
            &format!("/api/v1/oauth-clients/{}", reg.id),
            &json!({"redirect_uris": ["https://evil.example.com/cb"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, "session_required");
    let res = with_key
        .patch(
            &format!("/api/v1/oauth-clients/{}", reg.id),
            &json!({"name": "Renamed"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<Value>().await.unwrap()["standard"],
        true,
        "a rename keeps it"
    );
    // The owner, signed in, changes the callbacks: no longer standard.
    let res = editor
        .patch(
            &format!("/api/v1/oauth-clients/{}", reg.id),
            &json!({"redirect_uris": ["https://other.example.com/cb"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["standard"], false);
    assert_eq!(v["redirect_uris"], json!(["https://other.example.com/cb"]));
    let log: Value = admin
        .get("/api/v1/audit-events?action=oauth_client.standard_removed")
        .await
        .json()
        .await
        .unwrap();
    let items = log["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{log}");
    assert_eq!(items[0]["target_id"], reg.id.as_str());
}

/// OpenID Connect Core §3.1.2.1 `prompt`: `none` is answered by redirect, never a page
/// (`login_required`, `consent_required`, or a code when nothing needs asking);
/// `consent` shows the consent page even when an active grant covers the scopes.
async fn prompt_none_never_shows_a_page_and_prompt_consent_always_asks(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser { client: user, .. } = app.user(&admin, gatehouse_types::Role::Editor).await;
    let reg = register(&admin, false, &[CALLBACK]).await;
    let url = |prompt: &str| {
        app.url(&format!(
            "/oauth/authorize?response_type=code&client_id={}&redirect_uri={CALLBACK}&scope=openid%20api:read&state=st&prompt={prompt}",
            reg.client_id
        ))
    };
    let location = |res: reqwest::Response| {
        assert_eq!(res.status(), StatusCode::FOUND);
        res.headers()["location"].to_str().unwrap().to_string()
    };
    // Signed out: login_required, back to the client with state and iss.
    let to = location(
        crate::helpers::http_client()
            .get(url("none"))
            .send()
            .await
            .unwrap(),
    );
    assert!(to.starts_with(CALLBACK), "{to}");
    assert_eq!(param(&to, "error").as_deref(), Some("login_required"));
    assert_eq!(param(&to, "state").as_deref(), Some("st"));
    assert_eq!(
        param(&to, "iss").as_deref(),
        Some(app.state.auth.signing.issuer())
    );
    // Signed in, never allowed: consent_required.
    let to = location(user.http.get(url("none")).send().await.unwrap());
    assert!(to.starts_with(CALLBACK), "{to}");
    assert_eq!(param(&to, "error").as_deref(), Some("consent_required"));
    // Allowed once: then prompt=none gets a code without a page.
    authorize(&app, &user, &reg, &["openid", "api:read"]).await;
    let to = location(user.http.get(url("none")).send().await.unwrap());
    assert!(to.starts_with(CALLBACK), "{to}");
    assert!(param(&to, "code").is_some(), "{to}");
    // prompt=consent asks again although the grant covers the scopes.
    let to = location(user.http.get(url("consent")).send().await.unwrap());
    assert!(to.starts_with("/authorize?request="), "{to}");
    // none with anything else is a malformed request.
    let to = location(user.http.get(url("none%20consent")).send().await.unwrap());
    assert_eq!(param(&to, "error").as_deref(), Some("invalid_request"));
}

/// At consent and at code exchange the callback URL must still be registered: a client
/// that dropped it gets neither a decision sent there nor its code redeemed.
async fn decisions_recheck_the_callback_url(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser { client: user, .. } = app.user(&admin, gatehouse_types::Role::Editor).await;
    let other = "https://app.example.com/other";
    let reg = register(&admin, false, &[CALLBACK, other]).await;
    let drop_callback = || async {
        let res = admin
            .patch(
                &format!("/api/v1/oauth-clients/{}", reg.id),
                &json!({"redirect_uris": [other]}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    };
    let restore = || async {
        let res = admin
            .patch(
                &format!("/api/v1/oauth-clients/{}", reg.id),
                &json!({"redirect_uris": [CALLBACK, other]}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    };
    let client = oauth(&app, &reg, CALLBACK);
    // 1. A pending consent whose callback is dropped meanwhile: gone.
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let (url, _) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("api:read".into()))
        .set_pkce_challenge(challenge)
        .url();
    let res = user.http.get(url.as_str()).send().await.unwrap();
    let location = res.headers()["location"].to_str().unwrap().to_string();
    let request = location
        .strip_prefix("/authorize?request=")
        .expect("the consent page")
        .to_string();
    drop_callback().await;
    let res = user.get(&format!("/api/v1/oauth/requests/{request}")).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = user
        .post(
            &format!("/api/v1/oauth/requests/{request}"),
            &json!({"decision": "allow"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    restore().await;
    // 2. A code whose callback is dropped before the exchange: not redeemed.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("api:read".into()))
        .set_pkce_challenge(challenge)
        .url();
    let back = browser(&app, &user, url.as_str(), true).await;
    let code = param(&back, "code").expect("a code");
    drop_callback().await;
    let err = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect_err("a code for a dropped callback");
    assert!(format!("{err:?}").contains("invalid_grant"), "{err:?}");
}

/// An administrator disables a client someone else registered: its tokens stop at once,
/// it gets no new authorizations or tokens, and enabling it again brings back nothing
/// revoked. Only administrators may, signed in.
async fn admins_disable_any_client_and_its_tokens_stop(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser { client: owner, .. } = app.user(&admin, Role::Editor).await;
    let NewUser { client: user, .. } = app.user(&admin, Role::Viewer).await;
    let reg = register(&owner, false, &[CALLBACK]).await;
    let tokens = authorize(&app, &user, &reg, &["api:read"]).await;
    let api = bearer(&app, &tokens);
    assert_eq!(api.get("/api/v1/me").await.status(), StatusCode::OK);
    let path = format!("/api/v1/oauth-clients/{}", reg.id);

    // The owner may not disable their own client, nor a full-access key of an admin.
    let res = owner.patch(&path, &json!({"disabled": true})).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let IssuedKey { secret, .. } = app.api_key(&admin, "full_access").await;
    let res = app
        .with_key(&secret)
        .patch(&path, &json!({"disabled": true}))
        .await;
    assert_eq!(error_code(res).await, "session_required");
    assert_eq!(api.get("/api/v1/me").await.status(), StatusCode::OK);

    let disabled: OAuthClient = admin
        .patch(&path, &json!({"disabled": true}))
        .await
        .json()
        .await
        .unwrap();
    assert!(disabled.disabled_at.is_some());
    // The access token and the refresh token stop at once.
    assert_eq!(
        api.get("/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let refused = token_raw(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens.refresh_token().unwrap().secret()),
        ],
        Some((&reg.client_id, reg.secret.as_deref().unwrap())),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        refused.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );
    // No new authorization: the client is unknown to the authorization endpoint.
    let res = user
        .http
        .get(app.url(&format!(
            "/oauth/authorize?response_type=code&client_id={}&redirect_uri={CALLBACK}",
            reg.client_id
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // The person's app shows as revoked; the owner sees the client disabled.
    let apps: Page<AuthorizedApp> = user
        .get("/api/v1/authorized-apps")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(apps.items[0].state, GrantState::Revoked);
    let seen: OAuthClient = owner.get(&path).await.json().await.unwrap();
    assert_eq!(seen.disabled_at, disabled.disabled_at);
    // Disabling again changes nothing, not even the time.
    let again: OAuthClient = admin
        .patch(&path, &json!({"disabled": true}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again.disabled_at, disabled.disabled_at);

    // Enabled again: new authorizations work, the old tokens stay dead.
    let enabled: OAuthClient = admin
        .patch(&path, &json!({"disabled": false}))
        .await
        .json()
        .await
        .unwrap();
    assert!(enabled.disabled_at.is_none());
    let fresh = authorize(&app, &user, &reg, &["api:read"]).await;
    assert_eq!(
        bearer(&app, &fresh).get("/api/v1/me").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        api.get("/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Both changes are in the audit log, named, with what disabling revoked.
    let events = admin
        .get_json("/api/v1/audit-events?action=oauth_client.disabled")
        .await;
    let items = events["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{events}");
    assert_eq!(items[0]["details"]["grants_revoked"], 1);
    assert_eq!(items[0]["details"]["target_name"], "Acme Dashboard");
    let events = admin
        .get_json("/api/v1/audit-events?action=oauth_client.enabled")
        .await;
    assert_eq!(events["items"].as_array().unwrap().len(), 1);
}

/// An administrator opens a person and sees what acts for them: their authorized
/// applications, active and revoked; nobody else may, nor for another subscription.
async fn admins_see_a_persons_authorized_apps(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser {
        client: user,
        id: user_id,
        ..
    } = app.user(&admin, Role::Editor).await;
    let reg = register(&admin, false, &[CALLBACK]).await;
    authorize(&app, &user, &reg, &["api:read"]).await;
    let path = format!("/api/v1/users/{user_id}/authorized-apps");
    let apps: Page<AuthorizedApp> = admin.get(&path).await.json().await.unwrap();
    assert_eq!(apps.items.len(), 1);
    assert_eq!(apps.items[0].client_name, "Acme Dashboard");
    assert_eq!(apps.items[0].state, GrantState::Active);
    // The person revokes it: the admin sees it revoked.
    user.post(
        &format!("/api/v1/authorized-apps/{}/revoke", apps.items[0].id),
        &json!({}),
    )
    .await;
    let apps: Page<AuthorizedApp> = admin.get(&path).await.json().await.unwrap();
    assert_eq!(apps.items[0].state, GrantState::Revoked);
    // Not for the person themselves (they have their own list), nor by an OAuth token.
    assert_eq!(user.get(&path).await.status(), StatusCode::FORBIDDEN);
    let tokens = authorize(&app, &admin, &reg, &["api:read"]).await;
    assert_eq!(
        bearer(&app, &tokens).get(&path).await.status(),
        StatusCode::FORBIDDEN
    );
    // Another subscription's admin, an unknown id and a malformed one: 404.
    let other = app.second_subscription().await;
    assert_eq!(other.admin.get(&path).await.status(), StatusCode::NOT_FOUND);
    let unknown = format!("/api/v1/users/{}/authorized-apps", uuid::Uuid::new_v4());
    assert_eq!(admin.get(&unknown).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        admin
            .get("/api/v1/users/nope/authorized-apps")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}
