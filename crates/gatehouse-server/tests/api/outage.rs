//! The database goes away under a running server and comes back: requests meanwhile
//! answer 503 with `Retry-After` (never 500), `/readyz` says so, and within seconds of
//! the database's return everything works again without a restart.
//!
//! It stops and starts the shared throwaway PostgreSQL, so `cargo xtask test` runs it
//! alone, after the rest of the suite (`--ignored`), and gives it the commands.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::{Backend, IssuedKey, error_code, spawn_app};

fn shell(command: &str) {
    let ok = std::process::Command::new("sh")
        .args(["-c", command])
        .status()
        .expect("running a shell")
        .success();
    assert!(ok, "`{command}` failed");
}

#[actix_web::test]
#[ignore = "restarts PostgreSQL: cargo xtask test runs it alone, after the suite"]
async fn the_server_recovers_from_a_postgres_restart() {
    let (Ok(stop), Ok(start)) = (
        std::env::var("GATEHOUSE_TEST_POSTGRES_STOP"),
        std::env::var("GATEHOUSE_TEST_POSTGRES_START"),
    ) else {
        panic!("GATEHOUSE_TEST_POSTGRES_STOP and _START are set by `cargo xtask test`");
    };
    let app = spawn_app(Backend::Postgres).await;
    let admin = app.admin().await;
    let IssuedKey { secret: key, .. } = app.api_key(&admin, "read_only").await;
    let with_key = app.with_key(&key);
    assert_eq!(admin.get("/api/v1/users").await.status(), StatusCode::OK);
    // Every pooled connection is used once, so all of them die with the server.
    for _ in 0..4 {
        assert_eq!(
            with_key.get("/api/v1/api-keys").await.status(),
            StatusCode::OK
        );
    }

    let reg = crate::oauth::register(&admin, false, &[crate::oauth::CALLBACK]).await;
    let authorize = app.url(&format!(
        "/oauth/authorize?response_type=code&client_id={}&redirect_uri={}&scope=api:read",
        reg.client_id,
        crate::oauth::CALLBACK
    ));

    shell(&stop);
    // The authorization endpoint cannot check the client or the session: 503, never a
    // redirect to the sign-in page.
    let res = admin.http.get(&authorize).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().get("location").is_none());
    assert!(res.headers().get("retry-after").is_some());
    let res = admin.get("/api/v1/users").await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().get("retry-after").is_some());
    assert_eq!(error_code(res).await, "service_unavailable");
    let res = app.anonymous().get("/readyz").await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);

    shell(&start);
    // Back within seconds, without a restart: sessions, keys and the probe.
    let deadline = Instant::now() + Duration::from_secs(20);
    // A keep-alive connection that sat idle while PostgreSQL started may be closed by
    // the server just as the client reuses it: that send error is the client's, not an
    // answer, and the loop asks again.
    let status = |rb: reqwest::RequestBuilder| async move {
        rb.send()
            .await
            .map_or(StatusCode::SERVICE_UNAVAILABLE, |r| r.status())
    };
    loop {
        let users = status(admin.request(reqwest::Method::GET, "/api/v1/users")).await;
        let ready = status(app.anonymous().request(reqwest::Method::GET, "/readyz")).await;
        if users == StatusCode::OK && ready == StatusCode::OK {
            break;
        }
        assert!(
            users == StatusCode::SERVICE_UNAVAILABLE || users == StatusCode::OK,
            "never a 500 while recovering: {users}"
        );
        assert!(
            Instant::now() < deadline,
            "not recovered: users {users}, readyz {ready}"
        );
        actix_web::rt::time::sleep(Duration::from_millis(250)).await;
    }
    for _ in 0..8 {
        assert_eq!(
            with_key.get("/api/v1/api-keys").await.status(),
            StatusCode::OK
        );
    }
}
