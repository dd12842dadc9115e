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

/// The shell commands that stop and start the test cluster, from `cargo xtask test`.
fn restart_commands() -> (String, String) {
    let (Ok(stop), Ok(start)) = (
        std::env::var("GATEHOUSE_TEST_POSTGRES_STOP"),
        std::env::var("GATEHOUSE_TEST_POSTGRES_START"),
    ) else {
        panic!("GATEHOUSE_TEST_POSTGRES_STOP and _START are set by `cargo xtask test`");
    };
    (stop, start)
}

#[actix_web::test]
#[ignore = "restarts PostgreSQL: cargo xtask test runs it alone, after the suite"]
async fn the_server_recovers_from_a_postgres_restart() {
    let (stop, start) = restart_commands();
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

    let reg =
        crate::helpers::oauth::register(&admin, false, &[crate::helpers::oauth::CALLBACK]).await;
    let authorize = app.url(&format!(
        "/oauth/authorize?response_type=code&client_id={}&redirect_uri={}&scope=api:read",
        reg.client_id,
        crate::helpers::oauth::CALLBACK
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

/// The same under load: eight clients keep reading with a key and creating keys while
/// PostgreSQL stops for seven seconds and starts again. Every answer is a success or a
/// 503 with `Retry-After` — never a 500, and never later than the pool's five-second
/// wait for a connection — the outage is seen, and the server serves everyone again by
/// itself.
#[actix_web::test]
#[ignore = "restarts PostgreSQL: cargo xtask test runs it alone, after the suite"]
async fn under_load_the_server_answers_503_and_recovers() {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    let (stop, start) = restart_commands();
    let app = spawn_app(Backend::Postgres).await;
    let admin = Arc::new(app.admin().await);
    let IssuedKey { secret: key, .. } = app.api_key(&admin, "full_access").await;
    let with_key = Arc::new(app.with_key(&key));
    let done = Arc::new(AtomicBool::new(false));
    // Status → count; 0 stands for a request that got no answer at all.
    let seen: Arc<Mutex<BTreeMap<u16, usize>>> = Arc::default();
    let mut workers = Vec::new();
    for w in 0..8 {
        let (admin, with_key, done, seen) =
            (admin.clone(), with_key.clone(), done.clone(), seen.clone());
        workers.push(actix_web::rt::spawn(async move {
            let mut n = 0;
            while !done.load(Ordering::Relaxed) {
                n += 1;
                let asked = Instant::now();
                let sent = if w % 2 == 0 {
                    with_key
                        .request(reqwest::Method::GET, "/api/v1/api-keys")
                        .send()
                        .await
                } else {
                    admin
                        .request(reqwest::Method::POST, "/api/v1/api-keys")
                        .json(&serde_json::json!({"name": format!("load {w} {n}"), "permission": "read_only"}))
                        .send()
                        .await
                };
                assert!(
                    asked.elapsed() < Duration::from_secs(7),
                    "a request hung for {:?}",
                    asked.elapsed()
                );
                let status = match sent {
                    Ok(res) => {
                        let status = res.status();
                        if status == StatusCode::SERVICE_UNAVAILABLE {
                            assert!(res.headers().get("retry-after").is_some());
                        }
                        status.as_u16()
                    }
                    Err(_) => 0,
                };
                *seen.lock().unwrap().entry(status).or_default() += 1;
                if status == 503 || status == 0 {
                    actix_web::rt::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }));
    }
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    shell(&stop);
    actix_web::rt::time::sleep(Duration::from_secs(7)).await;
    shell(&start);
    // Back within seconds, while the load goes on.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let res = admin
            .request(reqwest::Method::POST, "/api/v1/api-keys")
            .json(&serde_json::json!({"name": "after", "permission": "read_only"}))
            .send()
            .await;
        if res.is_ok_and(|r| r.status() == StatusCode::CREATED) {
            break;
        }
        assert!(Instant::now() < deadline, "not recovered under load");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    done.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    let seen = seen.lock().unwrap().clone();
    println!("answers during a PostgreSQL restart under load: {seen:?}");
    assert!(
        seen.keys().all(|s| [200, 201, 503].contains(s)),
        "only successes and 503s: {seen:?}"
    );
    assert!(
        seen.get(&503).is_some_and(|&n| n >= 8),
        "the outage was not seen: {seen:?}"
    );
    for _ in 0..8 {
        assert_eq!(
            with_key.get("/api/v1/api-keys").await.status(),
            StatusCode::OK
        );
    }
    let _ = error_code;
}
