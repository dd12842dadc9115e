//! `GET` and `PATCH /api/v1/subscription`.

use gatehouse_types::{Role, Subscription};
use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::helpers::{Backend, NewUser, OtherSubscription, error_code, spawn_app};

both_backends!(
    everyone_reads_the_settings_with_their_defaults,
    admins_change_the_settings,
    bad_settings_are_rejected_and_change_nothing,
    only_admins_change_settings,
);

async fn everyone_reads_the_settings_with_their_defaults(b: Backend) {
    let app = spawn_app(b).await;
    let NewUser { client: viewer, .. } = app.user(&app.admin().await, Role::Viewer).await;
    let res = viewer.get("/api/v1/subscription").await;
    assert_eq!(res.status(), StatusCode::OK);
    let s: Subscription = res.json().await.unwrap();
    assert_eq!(s.id, app.subscription_id);
    assert_eq!(s.name, "Acme");
    assert!(s.settings.api_keys_enabled);
    assert_eq!(s.settings.api_key_max_lifetime_days, None);
    assert_eq!(
        s.settings.api_key_full_access_roles,
        vec![Role::Admin, Role::Editor]
    );
    assert_eq!(
        s.settings.oauth_client_roles,
        vec![Role::Admin, Role::Editor]
    );
    assert_eq!(s.settings.session_idle_minutes, 60);
    assert_eq!(s.settings.session_max_hours, 12);
    assert_eq!(s.settings.login_lockout_threshold, 10);
}

async fn admins_change_the_settings(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let res = admin
        .patch(
            "/api/v1/subscription",
            &json!({
                "name": "Acme Corp",
                "api_keys_enabled": false,
                "api_key_max_lifetime_days": 90,
                "api_key_full_access_roles": ["admin"],
                "oauth_client_roles": ["admin", "editor", "viewer"],
                "session_idle_minutes": 15,
                "session_max_hours": 8,
                "login_lockout_threshold": 5
            }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let s: Subscription = admin
        .get("/api/v1/subscription")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(s.name, "Acme Corp");
    assert!(!s.settings.api_keys_enabled);
    assert_eq!(s.settings.api_key_max_lifetime_days, Some(90));
    assert_eq!(s.settings.api_key_full_access_roles, vec![Role::Admin]);
    assert_eq!(
        s.settings.oauth_client_roles,
        vec![Role::Admin, Role::Editor, Role::Viewer]
    );
    assert_eq!(
        (
            s.settings.session_idle_minutes,
            s.settings.session_max_hours
        ),
        (15, 8)
    );
    assert_eq!(s.settings.login_lockout_threshold, 5);
    // null lifts the key lifetime limit; other settings stay.
    let s: Subscription = admin
        .patch(
            "/api/v1/subscription",
            &json!({"api_key_max_lifetime_days": null}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(s.settings.api_key_max_lifetime_days, None);
    assert_eq!(s.settings.login_lockout_threshold, 5);
    let audit: serde_json::Value = admin
        .get("/api/v1/audit-events")
        .await
        .json()
        .await
        .unwrap();
    let changes: Vec<_> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "subscription.updated")
        .collect();
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[1]["details"]["changes"]["session_idle_minutes"], 15);
}

async fn bad_settings_are_rejected_and_change_nothing(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    for (body, field) in [
        (json!({"session_idle_minutes": 0}), "session_idle_minutes"),
        (json!({"session_max_hours": 100000}), "session_max_hours"),
        (
            json!({"login_lockout_threshold": 0}),
            "login_lockout_threshold",
        ),
        (
            json!({"api_key_max_lifetime_days": 0}),
            "api_key_max_lifetime_days",
        ),
        (json!({"name": " "}), "name"),
    ] {
        let res = admin.patch("/api/v1/subscription", &body).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let v: serde_json::Value = res.json().await.unwrap();
        assert_eq!(v["error"]["details"]["field"], field);
    }
    for body in [
        json!({"session_idle_minutes": -5}),
        json!({"api_key_full_access_roles": ["owner"]}),
        json!({"colour": 1}),
    ] {
        let res = admin.patch("/api/v1/subscription", &body).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{body}");
    }
    let s: Subscription = admin
        .get("/api/v1/subscription")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(s.name, "Acme");
    assert_eq!(s.settings.session_idle_minutes, 60);
}

async fn only_admins_change_settings(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser { client: editor, .. } = app.user(&admin, Role::Editor).await;
    let res = editor
        .patch("/api/v1/subscription", &json!({"api_keys_enabled": false}))
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, "forbidden");
    let s: Subscription = admin
        .get("/api/v1/subscription")
        .await
        .json()
        .await
        .unwrap();
    assert!(s.settings.api_keys_enabled);
    // The other subscription's admin changes only their own.
    let OtherSubscription {
        admin: other,
        id: other_id,
        ..
    } = app.second_subscription().await;
    let s: Subscription = other
        .patch("/api/v1/subscription", &json!({"name": "Globex Inc"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(s.id, other_id);
    let mine: Subscription = admin
        .get("/api/v1/subscription")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine.name, "Acme");
}
