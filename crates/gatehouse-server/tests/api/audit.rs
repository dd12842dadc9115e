//! The audit log: what is recorded, and who may read it.

use gatehouse_types::{AuditEvent, Page, Role};
use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::helpers::{Backend, IssuedKey, NewUser, error_code, spawn_app, succeeded};

both_backends!(
    changes_and_sign_ins_are_recorded_with_actor_and_credential,
    users_see_their_own_events_and_admins_everything,
    the_log_pages_newest_first,
    the_csv_has_the_columns_its_header_names,
    a_csv_longer_than_one_batch_has_every_event_once,
);

/// The CSV is read and sent batch by batch (1,000 rows each): a download of more
/// events than that has every one of them, once, newest first.
async fn a_csv_longer_than_one_batch_has_every_event_once(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let IssuedKey { id: key_id, .. } = app.api_key(&admin, "read_only").await;
    let renames = 2_345;
    for chunk in (0..renames).collect::<Vec<_>>().chunks(16) {
        let path = format!("/api/v1/api-keys/{key_id}");
        let bodies: Vec<_> = chunk
            .iter()
            .map(|i| json!({"name": format!("name {i}")}))
            .collect();
        let requests = bodies.iter().map(|body| admin.patch(&path, body));
        for res in futures_util::future::join_all(requests).await {
            assert_eq!(res.status(), StatusCode::OK);
        }
    }
    let res = admin
        .request(
            reqwest::Method::GET,
            "/api/v1/audit-events?action=api_key.renamed",
        )
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), renames);
    let ids: std::collections::BTreeSet<&str> = rows.iter().map(|r| &r[0]).collect();
    assert_eq!(ids.len(), renames, "no event twice");
    let times: Vec<chrono::DateTime<chrono::FixedOffset>> = rows
        .iter()
        .map(|r| chrono::DateTime::parse_from_rfc3339(&r[1]).unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    assert!(rows.iter().all(|r| &r[2] == "api_key.renamed"));
}

/// The CSV download, read back with a CSV reader, agrees column for column with its
/// header and with the JSON list of the same events.
async fn the_csv_has_the_columns_its_header_names(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser { id: user_id, .. } = app.user(&admin, Role::Viewer).await;
    // An event that names a subject, an actor, a target and details with a comma.
    let res = admin
        .patch(
            &format!("/api/v1/users/{user_id}"),
            &serde_json::json!({"display_name": "Ada, Countess"}),
        )
        .await;
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    let json: serde_json::Value = admin
        .get("/api/v1/audit-events?limit=200")
        .await
        .json()
        .await
        .unwrap();
    let events = json["items"].as_array().unwrap().clone();
    let csv_text = admin
        .request(reqwest::Method::GET, "/api/v1/audit-events")
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    let rows: Vec<csv::StringRecord> = reader
        .records()
        .map(|r| r.expect("a well-formed row"))
        .collect();
    assert_eq!(rows.len(), events.len());
    for (row, event) in rows.iter().zip(&events) {
        assert_eq!(
            row.len(),
            header.len(),
            "every row has as many fields as the header"
        );
        for (name, value) in header.iter().zip(row.iter()) {
            let expected = match (name.as_str(), &event[name]) {
                ("created_at", v) => {
                    let t = chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
                    let got = chrono::DateTime::parse_from_rfc3339(value).unwrap();
                    assert_eq!(got, t, "created_at");
                    continue;
                }
                ("details", v) => {
                    let got: serde_json::Value = serde_json::from_str(value).unwrap();
                    assert_eq!(&got, v, "details");
                    continue;
                }
                (_, serde_json::Value::Null) => String::new(),
                (_, serde_json::Value::String(s)) => s.clone(),
                (other, v) => panic!("column {other} is not in the JSON event: {v}"),
            };
            assert_eq!(value, expected, "column {name} of {}", event["action"]);
        }
    }
}

async fn changes_and_sign_ins_are_recorded_with_actor_and_credential(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser {
        id: user_id,
        username,
        ..
    } = app.user(&admin, Role::Viewer).await;
    app.anonymous()
        .post(
            "/api/v1/session",
            &json!({"username": username, "password": "wrong wrong wrong"}),
        )
        .await;
    succeeded(
        admin
            .patch(
                &format!("/api/v1/users/{user_id}"),
                &json!({"role": "editor"}),
            )
            .await,
    );
    succeeded(admin.delete(&format!("/api/v1/users/{user_id}")).await);
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
    let NewUser {
        client: viewer,
        id: viewer_id,
        ..
    } = app.user(&admin, Role::Viewer).await;
    succeeded(
        viewer
            .patch("/api/v1/me", &json!({"display_name": "V"}))
            .await,
    );
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
        succeeded(
            admin
                .patch("/api/v1/me", &json!({"display_name": format!("name {i}")}))
                .await,
        );
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
