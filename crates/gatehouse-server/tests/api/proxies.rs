//! The client's address behind a reverse proxy (`GATEHOUSE_TRUSTED_PROXIES`): forwarding
//! headers are believed only from trusted peers, and the address they give is the one
//! every rate limit and the audit log use.

use oauth2::TokenResponse;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::oauth::{CALLBACK, authorize, register};
use crate::helpers::{ADMIN_PASSWORD, Backend, Client, TestApp, spawn_app, spawn_app_with};

both_backends!(
    behind_a_trusted_proxy_a_guesser_cannot_lock_the_client_out,
    forwarding_headers_from_other_peers_are_ignored,
    behind_a_trusted_proxy_sign_ins_are_throttled_per_client,
    only_the_configured_header_is_believed,
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
        .get_json(&format!("/api/v1/audit-events?action={action}&limit=1"))
        .await;
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
    // The real client, behind the same proxy, refreshes as usual.
    let real = ("X-Forwarded-For", "203.0.113.7");
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
        .try_sign_in(&app.admin_username, ADMIN_PASSWORD)
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

/// A proxy appends to the header it knows and passes the other through, so a client
/// could write its victim's address into the other one: only the configured header is
/// read.
async fn only_the_configured_header_is_believed(b: Backend) {
    let app = behind_proxy(b).await;
    // The proxy writes X-Forwarded-For (the default); the sprayer adds a Forwarded
    // naming its victim's address.
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-forwarded-for", "198.51.100.66".parse().unwrap());
    headers.insert("forwarded", "for=203.0.113.7".parse().unwrap());
    let sprayer = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap();
    for i in 0..21 {
        let res = sprayer
            .post(app.url("/api/v1/session"))
            .json(&json!({"username": format!("guess-{i}@example.com"), "password": "spring 2026 spring"}))
            .send()
            .await
            .unwrap();
        assert!(matches!(
            res.status(),
            StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS
        ));
    }
    // The victim at 203.0.113.7 signs in as usual; the sprayer's own address waits.
    let res = app
        .with_header("X-Forwarded-For", "203.0.113.7")
        .post(
            "/api/v1/session",
            &json!({"username": app.admin_username, "password": ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .with_header("X-Forwarded-For", "198.51.100.66")
        .post(
            "/api/v1/session",
            &json!({"username": app.admin_username, "password": ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);

    // Behind a proxy that writes RFC 7239 Forwarded instead, that is the header read.
    let app = spawn_app_with(b, |s| {
        s.trusted_proxies = "127.0.0.0/8".parse().expect("CIDR list");
        s.forwarded_header = gatehouse_server::client_address::ForwardedHeader::Forwarded;
    })
    .await;
    app.with_header("Forwarded", "for=\"[2001:db8::7]:4711\";proto=https")
        .post(
            "/api/v1/session",
            &json!({"username": app.admin_username, "password": ADMIN_PASSWORD}),
        )
        .await;
    let admin = app.admin().await;
    assert_eq!(
        audited_ip(&admin, "session.signed_in").await,
        "127.0.0.1",
        "the newest sign-in (the admin's, without a header) is the proxy's own"
    );
    let events: Value = admin
        .get_json("/api/v1/audit-events?action=session.signed_in&limit=2")
        .await;
    assert_eq!(events["items"][1]["ip"], "2001:db8::7");
}
