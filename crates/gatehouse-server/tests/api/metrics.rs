//! `GET /metrics` on `metrics_listen`: what an operator's Prometheus sees after real
//! traffic. The recorder is the process's, shared by the tests running beside this
//! one, so counts are compared before and after, never taken as they stand.

use oauth2::TokenResponse;
use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::helpers::oauth::{CALLBACK, authorize, http, oauth, register};
use crate::helpers::{Backend, Client, spawn_app, spawn_app_with, succeeded};

both_backends!(
    metrics_count_what_operators_watch,
    metrics_listen_keeps_metrics_off_the_public_address,
);

/// The value of the series `name` whose labels include every `labels` pair (summed
/// over the series that match), 0 when there is none.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, v) = l.rsplit_once(' ')?;
            let (n, rest) = series.split_once('{').unwrap_or((series, "}"));
            (n == name).then_some((rest, v))
        })
        .filter(|(rest, _)| {
            labels
                .iter()
                .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|(_, v)| v.parse::<f64>().ok())
        .sum()
}

async fn scrape(c: &Client) -> String {
    let res = c.get("/metrics").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    res.text().await.unwrap()
}

fn metrics_client(app: &crate::helpers::TestApp) -> Client {
    let port = app.metrics_port.expect("a metrics port");
    Client::anonymous_at(&format!("http://127.0.0.1:{port}"))
}

async fn metrics_count_what_operators_watch(b: Backend) {
    let app = spawn_app_with(b, |s| s.metrics_listen = Some("127.0.0.1:0".into())).await;
    let anonymous = metrics_client(&app);
    let before = scrape(&anonymous).await;

    let admin = app.admin().await;
    assert_eq!(
        app.anonymous()
            .try_sign_in(&app.admin_username, "not the password")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let key = app.api_key(&admin, "read_only").await;
    let scripted = app.with_key(&key.secret);
    for _ in 0..3 {
        assert_eq!(
            scripted
                .get(&format!("/api/v1/api-keys/{}", key.id))
                .await
                .status(),
            StatusCode::OK
        );
    }
    let bogus = app.with_key("gatk_not-a-key");
    assert_eq!(
        bogus.get("/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let reg = register(&admin, false, &[CALLBACK]).await;
    let tokens = authorize(&app, &admin, &reg, &["api:read"]).await;
    let client = oauth(&app, &reg, CALLBACK);
    let first = tokens.refresh_token().unwrap().clone();
    let renewed = client
        .exchange_refresh_token(&first)
        .request_async(&http)
        .await
        .unwrap();
    assert!(
        client
            .exchange_refresh_token(&first)
            .request_async(&http)
            .await
            .is_err(),
        "reuse"
    );
    drop(renewed);
    succeeded(
        admin
            .post(
                "/api/v1/api-keys",
                &json!({"name": "k", "permission": "read_only"}),
            )
            .await,
    );

    let after = scrape(&anonymous).await;
    let grew = |name: &str, labels: &[(&str, &str)]| {
        value(&after, name, labels) - value(&before, name, labels)
    };
    // Requests by route template, never by raw path.
    assert!(
        grew(
            "gatehouse_http_requests_total",
            &[
                ("method", "GET"),
                ("route", "/api/v1/api-keys/{id}"),
                ("status", "200")
            ]
        ) >= 3.0,
        "{after}"
    );
    assert!(!after.contains(&key.id), "a raw path leaked into a label");
    // A made-up method is counted as `other`, not as a series of its own.
    let odd = crate::helpers::http_client()
        .request(
            reqwest::Method::from_bytes(b"BREW").unwrap(),
            app.url("/api/v1/me"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(odd.status(), StatusCode::METHOD_NOT_ALLOWED);
    let after = scrape(&anonymous).await;
    assert!(!after.contains("BREW"), "a client's method became a label");
    assert!(after.contains("method=\"other\""), "{after}");
    assert!(
        grew(
            "gatehouse_http_request_duration_seconds_count",
            &[("route", "/api/v1/api-keys/{id}")]
        ) >= 3.0
    );
    assert!(grew("gatehouse_sign_ins_total", &[("outcome", "ok")]) >= 1.0);
    assert!(
        grew(
            "gatehouse_sign_ins_total",
            &[("outcome", "invalid_credentials")]
        ) >= 1.0
    );
    assert!(
        grew(
            "gatehouse_credentials_total",
            &[("kind", "api_key"), ("outcome", "ok")]
        ) >= 3.0
    );
    assert!(
        grew(
            "gatehouse_credentials_total",
            &[("kind", "api_key"), ("outcome", "api_key_invalid")]
        ) >= 1.0,
        "{after}"
    );
    assert!(grew("gatehouse_tokens_total", &[("event", "issued")]) >= 1.0);
    assert!(grew("gatehouse_tokens_total", &[("event", "refreshed")]) >= 1.0);
    assert!(grew("gatehouse_tokens_total", &[("event", "reuse_detected")]) >= 1.0);
    assert!(
        grew(
            "gatehouse_cache_lookups_total",
            &[("cache", "keys"), ("result", "hit")]
        ) >= 1.0
    );
    assert!(
        grew(
            "gatehouse_cache_lookups_total",
            &[("cache", "keys"), ("result", "miss")]
        ) >= 1.0
    );
    assert!(after.contains("gatehouse_db_pool_connections{state=\"idle\"}"));
    assert!(after.contains("# HELP gatehouse_sign_ins_total"));
    if b == Backend::Sqlite {
        assert!(grew("gatehouse_sqlite_writer_batch_size_count", &[]) >= 1.0);
    }
}

/// Never on the public address: not by default (no metrics at all), not with
/// `metrics_listen` (only there).
async fn metrics_listen_keeps_metrics_off_the_public_address(b: Backend) {
    let plain = spawn_app(b).await;
    assert_eq!(
        plain.anonymous().get("/metrics").await.status(),
        StatusCode::NOT_FOUND
    );
    assert!(plain.metrics_port.is_none());
    let app = spawn_app_with(b, |s| s.metrics_listen = Some("127.0.0.1:0".into())).await;
    let public = app.anonymous().get("/metrics").await;
    assert_eq!(public.status(), StatusCode::NOT_FOUND);
    let private = metrics_client(&app);
    let text = scrape(&private).await;
    assert!(text.contains("gatehouse_http_requests_total"), "{text}");
    // Only metrics there: the API is not.
    assert_eq!(
        private.get("/api/v1/session").await.status(),
        StatusCode::NOT_FOUND
    );
}
