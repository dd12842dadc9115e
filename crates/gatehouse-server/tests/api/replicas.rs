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

both_backends!(two_replicas_share_one_database);

async fn two_replicas_share_one_database(b: Backend) {
    let (url, _dir) = fresh_database(b);
    // Both migrate at once; neither may fail.
    let (u1, u2) = (url.clone(), url.clone());
    let t1 = std::thread::spawn(move || Application::build(Settings::for_database(&u1)));
    let t2 = std::thread::spawn(move || Application::build(Settings::for_database(&u2)));
    let (one, two) = (t1.join().unwrap().unwrap(), t2.join().unwrap().unwrap());
    let (port1, port2) = (one.port(), two.port());
    {
        let mut conn = one.state().pool.get().unwrap();
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
