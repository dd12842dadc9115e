//! Two server processes' worth of `Application` on one database, as
//! docker-compose runs them: they start together, and a session made on one is
//! honoured, and ended, on the other.

use gatehouse_server::config::Settings;
use gatehouse_server::startup::Application;
use gatehouse_types::Role;
use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::helpers::{Backend, Client, fresh_database, http_client};

both_backends!(
    two_replicas_share_one_database,
    a_key_revoked_on_one_replica_stops_on_the_other_within_the_cache_ttl,
);

async fn two_replicas_share_one_database(b: Backend) {
    let (url, _dir) = fresh_database(b);
    // Both migrate at once; neither may fail.
    let (u1, u2) = (url.clone(), url.clone());
    let t1 = std::thread::spawn(move || Application::build(Settings::for_database(&u1)));
    let t2 = std::thread::spawn(move || Application::build(Settings::for_database(&u2)));
    let (one, two) = (t1.join().unwrap().unwrap(), t2.join().unwrap().unwrap());
    let (port1, port2) = (one.port(), two.port());
    {
        let mut conn = one.state().db.pool().get().unwrap();
        let hash = gatehouse_server::auth::password::hash_sync("replica admin password").unwrap();
        gatehouse_server::bootstrap::create_subscription(
            &mut conn,
            "Acme",
            "root@example.com",
            &hash,
        )
        .unwrap();
    }
    actix_web::rt::spawn(one.run_until_stopped());
    actix_web::rt::spawn(two.run_until_stopped());
    let on = |port: u16| Client {
        http: http_client(),
        base: format!("http://127.0.0.1:{port}"),
        csrf: None,
        session_token: None,
    };
    // Sign in on replica one.
    let mut admin = on(port1);
    let res = admin
        .post(
            "/api/v1/session",
            &json!({"username": "root@example.com", "password": "replica admin password"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    admin.csrf = res.json::<serde_json::Value>().await.unwrap()["csrf_token"]
        .as_str()
        .map(str::to_string);
    let res = admin
        .post("/api/v1/users", &json!({"username": "eve@example.com", "role": Role::Editor, "password": "a password of some length"}))
        .await;
    let eve_id = res.json::<serde_json::Value>().await.unwrap()["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Eve signs in on replica two; her session cookie works on replica one as well.
    let mut eve = on(port2);
    let res = eve
        .post(
            "/api/v1/session",
            &json!({"username": "eve@example.com", "password": "a password of some length"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let token = res
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    eve.csrf = None;
    let on_one = http_client()
        .get(format!("http://127.0.0.1:{port1}/api/v1/me"))
        .header("Cookie", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(on_one.status(), StatusCode::OK);
    // The admin disables Eve on replica one: replica two refuses her at once.
    let res = admin
        .patch(
            &format!("/api/v1/users/{eve_id}"),
            &json!({"state": "disabled"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        eve.get("/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

/// ARCHITECTURE.md's bound: a revocation is immediate on the replica that made it, and
/// reaches the others within `credential_cache_seconds`.
async fn a_key_revoked_on_one_replica_stops_on_the_other_within_the_cache_ttl(b: Backend) {
    let (url, _dir) = fresh_database(b);
    let one = Application::build(Settings::for_database(&url)).unwrap();
    let two = Application::build(Settings {
        credential_cache_seconds: 1,
        ..Settings::for_database(&url)
    })
    .unwrap();
    let (port1, port2) = (one.port(), two.port());
    {
        let mut conn = one.state().db.pool().get().unwrap();
        let hash = gatehouse_server::auth::password::hash_sync("replica admin password").unwrap();
        gatehouse_server::bootstrap::create_subscription(
            &mut conn,
            "Acme",
            "root@example.com",
            &hash,
        )
        .unwrap();
    }
    actix_web::rt::spawn(one.run_until_stopped());
    actix_web::rt::spawn(two.run_until_stopped());
    let c = http_client();
    let res = c
        .post(format!("http://127.0.0.1:{port1}/api/v1/session"))
        .json(&json!({"username": "root@example.com", "password": "replica admin password"}))
        .send()
        .await
        .unwrap();
    let csrf = res.json::<serde_json::Value>().await.unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_string();
    let created: serde_json::Value = c
        .post(format!("http://127.0.0.1:{port1}/api/v1/api-keys"))
        .header("X-CSRF-Token", &csrf)
        .json(&json!({"name": "k", "permission": "read_only"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = created["secret"].as_str().unwrap().to_string();
    let id = created["id"].as_str().unwrap().to_string();
    let with_key = |port: u16| {
        http_client()
            .get(format!("http://127.0.0.1:{port}/api/v1/session"))
            .header("Authorization", format!("Bearer {secret}"))
            .send()
    };
    // Both replicas now hold the key in their caches.
    assert_eq!(with_key(port1).await.unwrap().status(), StatusCode::OK);
    assert_eq!(with_key(port2).await.unwrap().status(), StatusCode::OK);
    let res = c
        .delete(format!("http://127.0.0.1:{port1}/api/v1/api-keys/{id}"))
        .header("X-CSRF-Token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // At once on the replica that deleted it.
    assert_eq!(
        with_key(port1).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    // Within the TTL (1 s here) on the other.
    actix_web::rt::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        with_key(port2).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
}
