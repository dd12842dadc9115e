//! The client's address behind a reverse proxy (`GATEHOUSE_TRUSTED_PROXIES`): forwarding
//! headers are believed only from trusted peers, and the address they give is the one
//! every rate limit and the audit log use.

use oauth2::TokenResponse;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{ADMIN_PASSWORD, Backend, Client, TestApp, spawn_app, spawn_app_with};
use crate::oauth::{CALLBACK, authorize, register};

both_backends!(
    behind_a_trusted_proxy_a_guesser_cannot_lock_the_client_out,
    forwarding_headers_from_other_peers_are_ignored,
    behind_a_trusted_proxy_sign_ins_are_throttled_per_client,
);

/// The test server as seen through a proxy on loopback.
async fn behind_proxy(b: Backend) -> TestApp {
    spawn_app_with(b, |s| {
        s.trusted_proxies = "127.0.0.0/8".parse().expect("CIDR list")
    })
    .await
}

/// One token-endpoint refresh call, as the proxy forwards it for `client_address`.
async fn refresh_via(
    app: &TestApp,
    header: (&str, &str),
    client_id: &str,
    secret: &str,
    refresh: &str,
) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url("/oauth/token"))
        .header(header.0, header.1)
        .basic_auth(client_id, Some(secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
        .send()
        .await
        .unwrap()
}

/// The address the audit log recorded for the newest event with this action.
async fn audited_ip(admin: &Client, action: &str) -> Value {
    let events: Value = admin
        .get(&format!("/api/v1/audit-events?action={action}&limit=1"))
        .await
        .json()
        .await
        .unwrap();
    events["items"][0]["ip"].clone()
}

async fn behind_a_trusted_proxy_a_guesser_cannot_lock_the_client_out(b: Backend) {
    let app = behind_proxy(b).await;
    let admin = app.admin().await;
    let reg = register(&admin, false, &[CALLBACK]).await;
    let secret = reg.secret.clone().unwrap();
    let tokens = authorize(&app, &admin, &reg, &["api:read"]).await;
    let refresh = tokens.refresh_token().unwrap().secret().clone();
    // Every request reaches the server from the proxy's address; only the forwarded
    // address tells the guesser and the real client apart.
    let guesser = ("X-Forwarded-For", "198.51.100.66");
    for _ in 0..12 {
        let res = refresh_via(&app, guesser, &reg.client_id, "gats_wrong", &refresh).await;
        assert!(matches!(
            res.status(),
            StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS
        ));
    }
    let res = refresh_via(&app, guesser, &reg.client_id, &secret, &refresh).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
    // The real client, behind the same proxy, refreshes as usual — whichever header
    // the proxy uses.
    let real = ("Forwarded", "for=203.0.113.7;proto=https");
    let res = refresh_via(&app, real, &reg.client_id, &secret, &refresh).await;
    assert_eq!(res.status(), StatusCode::OK);
    // And the audit log names the client's address, not the proxy's.
    app.with_header("X-Forwarded-For", "6.6.6.6, 203.0.113.7")
        .post(
            "/api/v1/session",
            &json!({"username": app.admin_username, "password": ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(audited_ip(&admin, "session.signed_in").await, "203.0.113.7");
}

async fn forwarding_headers_from_other_peers_are_ignored(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let reg = register(&admin, false, &[CALLBACK]).await;
    let secret = reg.secret.clone().unwrap();
    let tokens = authorize(&app, &admin, &reg, &["api:read"]).await;
    let refresh = tokens.refresh_token().unwrap().secret().clone();
    // No trusted proxy: a guesser that writes a new address into each request is
    // still one caller, and is slowed down as one.
    for i in 0..12 {
        let spoof = format!("198.51.100.{i}");
        let res = refresh_via(
            &app,
            ("X-Forwarded-For", &spoof),
            &reg.client_id,
            "gats_wrong",
            &refresh,
        )
        .await;
        assert!(matches!(
            res.status(),
            StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS
        ));
    }
    let res = refresh_via(
        &app,
        ("Forwarded", "for=203.0.113.99"),
        &reg.client_id,
        &secret,
        &refresh,
    )
    .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // The audit log keeps the real peer.
    app.with_header("X-Forwarded-For", "203.0.113.7")
        .post(
            "/api/v1/session",
            &json!({"username": app.admin_username, "password": ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(audited_ip(&admin, "session.signed_in").await, "127.0.0.1");
}

async fn behind_a_trusted_proxy_sign_ins_are_throttled_per_client(b: Backend) {
    let app = behind_proxy(b).await;
    let sprayer = app.with_header("X-Forwarded-For", "198.51.100.66");
    for i in 0..20 {
        let res = sprayer
            .post(
                "/api/v1/session",
                &json!({"username": format!("guess-{i}@example.com"), "password": "spring 2026 spring"}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = sprayer
        .post(
            "/api/v1/session",
            &json!({"username": app.admin_username, "password": ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another client behind the same proxy is not touched.
    let res = app
        .with_header("X-Forwarded-For", "203.0.113.7")
        .post(
            "/api/v1/session",
            &json!({"username": app.admin_username, "password": ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}
