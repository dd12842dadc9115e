//! The audit log: what is recorded, and who may read it.

use gatehouse_types::{AuditEvent, Page, Role};
use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::helpers::{Backend, error_code, spawn_app};

both_backends!(
    changes_and_sign_ins_are_recorded_with_actor_and_credential,
    users_see_their_own_events_and_admins_everything,
    the_log_pages_newest_first,
);

async fn changes_and_sign_ins_are_recorded_with_actor_and_credential(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let (_, user_id, username) = app.user(&admin, Role::Viewer).await;
    app.anonymous()
        .post(
            "/api/v1/session",
            &json!({"username": username, "password": "wrong wrong wrong"}),
        )
        .await;
    admin
        .patch(
            &format!("/api/v1/users/{user_id}"),
            &json!({"role": "editor"}),
        )
        .await;
    admin.delete(&format!("/api/v1/users/{user_id}")).await;
    let page: Page<AuditEvent> = admin
        .request(reqwest::Method::GET, "/api/v1/audit-events")
        .header("User-Agent", "audit-test/1.0")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let find = |action: &str| {
        page.items
            .iter()
            .find(|e| e.action == action)
            .unwrap_or_else(|| panic!("no {action} in {:?}", page.items))
    };
    let created = find("user.created");
    assert_eq!(created.actor_id.as_deref(), Some(app.admin_id.as_str()));
    assert_eq!(created.credential_kind.as_deref(), Some("session"));
    assert!(created.credential_id.is_some());
    assert_eq!(created.target_id.as_deref(), Some(user_id.as_str()));
    assert_eq!(created.ip.as_deref(), Some("127.0.0.1"));
    let failed = find("session.sign_in_failed");
    assert_eq!(failed.actor_id.as_deref(), Some(user_id.as_str()));
    assert_eq!(failed.details["reason"], "wrong_password");
    assert_eq!(find("user.updated").details["role"]["to"], "editor");
    assert_eq!(
        find("user.deleted").target_id.as_deref(),
        Some(user_id.as_str())
    );
    let signed_in = find("session.signed_in");
    assert_eq!(signed_in.credential_kind.as_deref(), Some("session"));
    // No secret of any kind in the log.
    let text = serde_json::to_string(&page.items).unwrap();
    assert!(!text.contains("wrong wrong wrong"));
    assert!(!text.contains("a password of some length"));
    assert!(!text.contains(admin.session_token.as_deref().unwrap()));
}

async fn users_see_their_own_events_and_admins_everything(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let (viewer, viewer_id, _) = app.user(&admin, Role::Viewer).await;
    viewer
        .patch("/api/v1/me", &json!({"display_name": "V"}))
        .await;
    let own: Page<AuditEvent> = viewer
        .get("/api/v1/audit-events")
        .await
        .json()
        .await
        .unwrap();
    assert!(!own.items.is_empty());
    let me = Some(viewer_id.as_str());
    assert!(
        own.items
            .iter()
            .all(|e| e.actor_id.as_deref() == me || e.subject_user_id.as_deref() == me)
    );
    // What the admin did to the viewer's account shows in the viewer's own log.
    let created = own
        .items
        .iter()
        .find(|e| e.action == "user.created")
        .expect("user.created");
    assert_eq!(created.actor_id.as_deref(), Some(app.admin_id.as_str()));
    let res = viewer.get("/api/v1/audit-events?scope=all").await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, "forbidden");
    let all: Page<AuditEvent> = admin
        .get("/api/v1/audit-events")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        all.items
            .iter()
            .any(|e| e.actor_id.as_deref() == Some(viewer_id.as_str()))
    );
    assert!(
        all.items
            .iter()
            .any(|e| e.actor_id.as_deref() == Some(app.admin_id.as_str()))
    );
    let mine: Page<AuditEvent> = admin
        .get("/api/v1/audit-events?scope=me")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        mine.items
            .iter()
            .all(|e| e.actor_id.as_deref() == Some(app.admin_id.as_str()))
    );
}

async fn the_log_pages_newest_first(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    for i in 0..5 {
        admin
            .patch("/api/v1/me", &json!({"display_name": format!("name {i}")}))
            .await;
    }
    let mut seen: Vec<AuditEvent> = Vec::new();
    let mut path = "/api/v1/audit-events?limit=2".to_string();
    loop {
        let page: Page<AuditEvent> = admin.get(&path).await.json().await.unwrap();
        seen.extend(page.items);
        match page.next_cursor {
            Some(c) => path = format!("/api/v1/audit-events?limit=2&cursor={c}"),
            None => break,
        }
    }
    // 1 bootstrap + 1 sign-in + 5 profile updates.
    assert_eq!(seen.len(), 7);
    assert!(seen.windows(2).all(|w| w[0].created_at >= w[1].created_at));
    assert_eq!(seen.last().unwrap().action, "subscription.created");
    let mut ids: Vec<_> = seen.iter().map(|e| e.id.clone()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 7);
}
