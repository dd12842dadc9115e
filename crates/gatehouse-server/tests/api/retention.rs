//! Data that does not grow forever: what the purge (`gatehouse_server::retention`)
//! deletes, what it keeps, and that what it keeps still works.

use chrono::TimeDelta;
use gatehouse_server::db::retention::{self, Kind};
use gatehouse_server::retention::purge;
use oauth2::TokenResponse;
use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::helpers::oauth::{CALLBACK, authorize, http, oauth, register};
use crate::helpers::{Backend, TestApp, spawn_app, spawn_app_with, spawn_replicas, succeeded};

both_backends!(
    a_client_refreshing_in_a_loop_does_not_grow_the_table,
    expired_records_and_old_audit_events_are_purged,
    replicas_purge_one_at_a_time,
);

fn rows(app: &TestApp, kind: Kind) -> i64 {
    app.with_db(|conn| retention::count(conn, kind).unwrap())
}

/// Before: every refresh left its spent token behind for good. Now a spent token is
/// kept until it would have expired (30 days) and a day after, and then purged: a
/// client refreshing every six hours for forty days holds about a month of rows, not
/// its whole history. Reuse detection holds for as long as the token could have been
/// used — the rightful client coming back weeks after a thief refreshed still revokes
/// the grant.
async fn a_client_refreshing_in_a_loop_does_not_grow_the_table(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let reg = register(&admin, false, &[CALLBACK]).await;
    let client = oauth(&app, &reg, CALLBACK);
    let mut tokens = authorize(&app, &admin, &reg, &["api:read"]).await;
    let mut spent = Vec::new();
    let mut most = 0;
    let steps = 40 * 4;
    for _ in 0..steps {
        app.state.clock.advance(TimeDelta::hours(6));
        let next = client
            .exchange_refresh_token(tokens.refresh_token().unwrap())
            .request_async(&http)
            .await
            .expect("refresh");
        spent.push(tokens.refresh_token().unwrap().clone());
        tokens = next;
        purge(&app.state).await.expect("purge");
        most = most.max(rows(&app, Kind::RefreshTokens));
    }
    // 30 days of spent tokens (120), the day after their expiry (4), the live one.
    assert!(most <= 126, "the table held {most} refresh tokens");
    assert!(
        rows(&app, Kind::RefreshTokens) >= 120,
        "spent tokens that could still be replayed are kept"
    );
    let api = app.with_key(tokens.access_token().secret());
    assert_eq!(api.get("/api/v1/me").await.status(), StatusCode::OK);

    // A token spent 39 days ago expired long since: purged, refused, revoking nothing.
    let stale = client
        .exchange_refresh_token(&spent[4])
        .request_async(&http)
        .await;
    assert!(stale.is_err(), "a purged token is refused");
    assert_eq!(api.get("/api/v1/me").await.status(), StatusCode::OK);

    // One spent 20 days ago could still have been used: it is kept, and its replay
    // revokes the whole grant.
    let replay = client
        .exchange_refresh_token(&spent[steps - 80])
        .request_async(&http)
        .await;
    assert!(replay.is_err());
    assert_eq!(
        api.get("/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED,
        "reuse weeks later still revokes the grant"
    );
}

/// Ended sessions, unanswered consent requests, unredeemed codes past the window and
/// audit events past `audit_retention_days` go; what is live stays and works.
async fn expired_records_and_old_audit_events_are_purged(b: Backend) {
    let app = spawn_app_with(b, |s| s.audit_retention_days = Some(30)).await;
    let admin = app.admin().await;
    let reg = register(&admin, false, &[CALLBACK]).await;
    // A consent request nobody answers, and a code nobody redeems.
    let client = oauth(&app, &reg, CALLBACK);
    let (url, _) = client
        .authorize_url(oauth2::CsrfToken::new_random)
        .add_scope(oauth2::Scope::new("api:read".into()))
        .url();
    let res = admin.http.get(url.as_str()).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let tokens = authorize(&app, &admin, &reg, &["api:read"]).await;
    let (url, _) = client
        .authorize_url(oauth2::CsrfToken::new_random)
        .add_scope(oauth2::Scope::new("api:read".into()))
        .url();
    // Already allowed: this one goes straight back with a code, which stays unused.
    let res = admin.http.get(url.as_str()).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let key = app.api_key(&admin, "read_only").await;
    for kind in [
        Kind::Codes,
        Kind::ConsentRequests,
        Kind::Sessions,
        Kind::AuditEvents,
    ] {
        assert!(rows(&app, kind) > 0, "{kind:?} has rows to begin with");
    }

    // A year later, nothing above is live except the key and the grant.
    app.state.clock.advance(TimeDelta::days(365));
    let purged = purge(&app.state).await.expect("purge");
    for kind in [
        Kind::Codes,
        Kind::ConsentRequests,
        Kind::Sessions,
        Kind::AuditEvents,
    ] {
        assert!(purged.of(kind) > 0, "{kind:?} purged");
        assert_eq!(rows(&app, kind), 0, "{kind:?} left");
    }
    // The refresh token is a month past its expiry: gone too.
    assert_eq!(rows(&app, Kind::RefreshTokens), 0);
    assert!(
        client
            .exchange_refresh_token(tokens.refresh_token().unwrap())
            .request_async(&http)
            .await
            .is_err()
    );

    // What is live still works, and new events are recorded and kept.
    let scripted = app.with_key(&key.secret);
    assert_eq!(scripted.get("/api/v1/me").await.status(), StatusCode::OK);
    let admin = app.admin().await;
    succeeded(
        admin
            .post(
                "/api/v1/api-keys",
                &json!({"name": "after", "permission": "read_only"}),
            )
            .await,
    );
    purge(&app.state).await.expect("purge");
    let events = admin.get_json("/api/v1/audit-events").await;
    assert!(
        events["items"].as_array().unwrap().len() >= 2,
        "recent events are kept: {events}"
    );
}

/// Two replicas purging at once delete each row once, and neither fails.
async fn replicas_purge_one_at_a_time(b: Backend) {
    let (one, two) = spawn_replicas(b, |_| {}).await;
    let admin = one.admin().await;
    for _ in 0..5 {
        one.admin().await;
    }
    let sessions = rows(&one, Kind::Sessions);
    assert!(sessions >= 6);
    one.state.clock.advance(TimeDelta::days(400));
    two.state.clock.advance(TimeDelta::days(400));
    let (a, b) = tokio::join!(purge(&one.state), purge(&two.state));
    let (a, b) = (
        a.expect("replica one purges"),
        b.expect("replica two purges"),
    );
    assert_eq!(
        (a.of(Kind::Sessions) + b.of(Kind::Sessions)) as i64,
        sessions,
        "each session deleted once"
    );
    assert_eq!(rows(&one, Kind::Sessions), 0);
    drop(admin);
}
