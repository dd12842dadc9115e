//! API keys: the owner's lifecycle, how scripts use them, what they may do, the
//! subscription switch, the admins' view, and that revocation is immediate.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use diesel::prelude::*;
use gatehouse_server::db::schema::api_keys;
use gatehouse_types::error::API_KEYS_DISABLED_MESSAGE;
use gatehouse_types::{ApiKey, Page, Role, SubscriptionApiKey};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{
    Backend, Client, IssuedKey, NewUser, OtherSubscription, error_code, spawn_app, succeeded,
};

both_backends!(
    a_key_is_shown_once_and_listed_by_hint,
    scripts_authenticate_with_bearer_or_zsessionid,
    rename_reset_and_delete,
    the_permission_matrix,
    keys_cannot_mint_keys_or_change_passwords_or_settings,
    a_keys_user_must_be_active,
    a_keys_session_answer_follows_its_user,
    expired_keys_stop,
    malformed_and_unknown_keys_are_rejected_alike,
    switching_keys_off_and_on,
    the_maximum_lifetime_caps_new_and_reset_keys,
    admins_list_filter_sort_and_download_every_key,
    a_filter_finds_keys_far_down_the_list,
    admins_reset_and_delete_other_peoples_keys,
    other_users_and_subscriptions_see_nothing,
    key_changes_are_audited_with_the_credential,
    last_use_is_recorded,
    last_use_is_written_at_most_once_a_minute,
    a_reset_body_is_read_or_refused_never_ignored,
    a_reset_keeps_the_lifetime_within_the_cap,
    control_characters_in_parameters_are_refused,
    keys_are_stored_under_the_pepper_when_one_is_set,
    forward_auth_for_gateways,
    far_future_expiry_is_bounded_and_still_listed,
    no_secret_is_stored,
);

fn is_key_shaped(secret: &str) -> bool {
    secret.len() == 51
        && secret.starts_with("gatk_")
        && secret[5..].bytes().all(|b| b.is_ascii_alphanumeric())
}

async fn status_with(app: &crate::helpers::TestApp, secret: &str) -> StatusCode {
    app.with_key(secret).get("/api/v1/session").await.status()
}

async fn a_key_is_shown_once_and_listed_by_hint(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let res = admin
        .post(
            "/api/v1/api-keys",
            &json!({"name": "deploy bot", "permission": "read_only"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers().get("cache-control").unwrap(), "no-store");
    let created: Value = res.json().await.unwrap();
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(is_key_shaped(&secret), "{secret}");
    assert_eq!(created["name"], "deploy bot");
    assert_eq!(created["permission"], "read_only");
    assert_eq!(
        created["hint"],
        format!("gatk_…{}", &secret[secret.len() - 4..])
    );
    assert!(created["created_at"].is_string());
    assert!(created["last_used_at"].is_null());
    let id = created["id"].as_str().unwrap();
    let list = admin.get("/api/v1/api-keys").await.text().await.unwrap();
    let one = admin
        .get(&format!("/api/v1/api-keys/{id}"))
        .await
        .text()
        .await
        .unwrap();
    for body in [&list, &one] {
        assert!(body.contains("deploy bot"));
        assert!(
            !body.contains(&secret[5..]),
            "the secret is never shown again"
        );
        assert!(!body.contains("secret"));
    }
    let page: Page<ApiKey> = serde_json::from_str(&list).unwrap();
    assert_eq!(page.items.len(), 1);
    // Bad input creates nothing.
    for (body, status) in [
        (
            json!({"name": "", "permission": "read_only"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"name": "x", "permission": "root"}),
            StatusCode::BAD_REQUEST,
        ),
        (json!({"name": "x"}), StatusCode::BAD_REQUEST),
        (
            json!({"name": "x", "permission": "read_only", "expires_at": "2001-01-01T00:00:00Z"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        assert_eq!(
            admin.post("/api/v1/api-keys", &body).await.status(),
            status,
            "{body}"
        );
    }
    let page: Page<ApiKey> = admin.get("/api/v1/api-keys").await.json().await.unwrap();
    assert_eq!(page.items.len(), 1);
}

async fn scripts_authenticate_with_bearer_or_zsessionid(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let IssuedKey { secret, id } = app.api_key(&admin, "full_access").await;
    for client in [
        app.with_key(&secret),
        app.with_header("authorization", &format!("bearer {secret}")),
        app.with_header("ZSESSIONID", &secret),
        app.with_header("zsessionid", &secret),
    ] {
        let res = client.get("/api/v1/session").await;
        assert_eq!(res.status(), StatusCode::OK);
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["credential"]["kind"], "api_key");
        assert_eq!(v["credential"]["id"], id.as_str());
        assert_eq!(v["credential"]["permission"], "full_access");
        assert!(v["csrf_token"].is_null());
        assert_eq!(v["user"]["id"], app.admin_id.as_str());
        // Keys need no CSRF token: they are not ambient like cookies.
        let res = client.get("/api/v1/users").await;
        assert_eq!(res.status(), StatusCode::OK);
    }
}

async fn rename_reset_and_delete(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let IssuedKey { secret: old, id } = app.api_key(&admin, "read_only").await;
    assert_eq!(status_with(&app, &old).await, StatusCode::OK);
    let path = format!("/api/v1/api-keys/{id}");
    let renamed: ApiKey = admin
        .patch(&path, &json!({"name": "nightly export"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(renamed.name, "nightly export");
    assert_eq!(
        status_with(&app, &old).await,
        StatusCode::OK,
        "renaming keeps the secret"
    );

    let res = admin.post(&format!("{path}/reset"), &json!({})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let reset: Value = res.json().await.unwrap();
    let new = reset["secret"].as_str().unwrap().to_string();
    assert!(is_key_shaped(&new));
    assert_ne!(new, old);
    assert_eq!(reset["id"], id.as_str());
    assert_eq!(reset["name"], "nightly export");
    assert!(reset["last_reset_at"].is_string());
    // The old secret stops at once (it was cached a moment ago), the new one works.
    let res = app.with_key(&old).get("/api/v1/session").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().get("www-authenticate").is_some());
    assert_eq!(error_code(res).await, "api_key_invalid");
    assert_eq!(status_with(&app, &new).await, StatusCode::OK);
    // A body-less reset works too.
    let res = admin
        .request(Method::POST, &format!("{path}/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let newer = res.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(status_with(&app, &new).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status_with(&app, &newer).await, StatusCode::OK);

    assert_eq!(admin.delete(&path).await.status(), StatusCode::NO_CONTENT);
    let res = app.with_key(&newer).get("/api/v1/session").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(res).await, "api_key_invalid");
    assert_eq!(admin.get(&path).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(admin.delete(&path).await.status(), StatusCode::NOT_FOUND);
}

async fn the_permission_matrix(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser {
        client: editor,
        id: editor_id,
        ..
    } = app.user(&admin, Role::Editor).await;
    let NewUser { client: viewer, .. } = app.user(&admin, Role::Viewer).await;
    // A viewer may hold only read-only keys.
    let res = viewer
        .post(
            "/api/v1/api-keys",
            &json!({"name": "x", "permission": "full_access"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, "insufficient_permission");

    // (owner, key permission, what the key may do now)
    let mut cases = Vec::new();
    for (who, client, perms) in [
        ("admin", &admin, vec!["read_only", "full_access"]),
        ("editor", &editor, vec!["read_only", "full_access"]),
        ("viewer", &viewer, vec!["read_only"]),
    ] {
        for perm in perms {
            let IssuedKey { secret, .. } = app.api_key(client, perm).await;
            let IssuedKey { id: victim, .. } = app.api_key(client, "read_only").await;
            cases.push((who, perm, secret, victim));
        }
    }
    for (who, perm, secret, victim) in &cases {
        let key = app.with_key(secret);
        let writes = *perm == "full_access";
        // Safe methods: always.
        assert_eq!(
            key.get("/api/v1/api-keys").await.status(),
            StatusCode::OK,
            "{who} {perm} GET"
        );
        assert_eq!(key.get("/api/v1/me").await.status(), StatusCode::OK);
        // Unsafe methods: only full access.
        let res = key.delete(&format!("/api/v1/api-keys/{victim}")).await;
        if writes {
            assert_eq!(res.status(), StatusCode::NO_CONTENT, "{who} {perm} DELETE");
        } else {
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{who} {perm} DELETE");
            assert_eq!(error_code(res).await, "insufficient_permission");
        }
        // A key never exceeds its user's role; and managing users needs a session,
        // so that a leaked admin key cannot mint an admin it can sign in as.
        let res = key
            .post(
                "/api/v1/users",
                &json!({"username": format!("{who}-{perm}@example.com"), "role": "admin"}),
            )
            .await;
        assert_eq!(
            res.status(),
            StatusCode::FORBIDDEN,
            "{who} {perm} POST /users"
        );
        let expected = match (writes, *who) {
            (false, _) => "insufficient_permission",
            (true, "admin") => "session_required",
            (true, _) => "forbidden",
        };
        assert_eq!(error_code(res).await, expected);
        // Reading users follows the role.
        let expected = if *who == "admin" {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(
            key.get("/api/v1/users").await.status(),
            expected,
            "{who} {perm} GET /users"
        );
    }
    // Demote the editor: their full-access key acts read-only at its next request, and
    // says so; promote them back and it writes again.
    let IssuedKey { secret: full, .. } = app.api_key(&editor, "full_access").await;
    app.api_key(&editor, "read_only").await;
    let key = app.with_key(&full);
    assert_eq!(
        key.get("/api/v1/session")
            .await
            .json::<Value>()
            .await
            .unwrap()["credential"]["permission"],
        "full_access"
    );
    succeeded(
        admin
            .patch(
                &format!("/api/v1/users/{editor_id}"),
                &json!({"role": "viewer"}),
            )
            .await,
    );
    let who: Value = key.get("/api/v1/session").await.json().await.unwrap();
    assert_eq!(who["credential"]["permission"], "read_only");
    assert_eq!(who["credential"]["key_permission"], "full_access");
    let mine: Page<ApiKey> = key.get("/api/v1/api-keys").await.json().await.unwrap();
    let victim = &mine
        .items
        .iter()
        .find(|k| k.permission == gatehouse_types::Permission::ReadOnly)
        .unwrap()
        .id;
    let res = key.delete(&format!("/api/v1/api-keys/{victim}")).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    succeeded(
        admin
            .patch(
                &format!("/api/v1/users/{editor_id}"),
                &json!({"role": "editor"}),
            )
            .await,
    );
    assert_eq!(
        key.delete(&format!("/api/v1/api-keys/{victim}"))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    // Narrowing api_key_full_access_roles narrows existing keys too.
    succeeded(
        admin
            .patch(
                "/api/v1/subscription",
                &json!({"api_key_full_access_roles": ["admin"]}),
            )
            .await,
    );
    let who: Value = key.get("/api/v1/session").await.json().await.unwrap();
    assert_eq!(who["credential"]["permission"], "read_only");
    let res = editor
        .post(
            "/api/v1/api-keys",
            &json!({"name": "x", "permission": "full_access"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

async fn keys_cannot_mint_keys_or_change_passwords_or_settings(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let IssuedKey { secret, id } = app.api_key(&admin, "full_access").await;
    let key = app.with_key(&secret);
    for res in [
        key.post("/api/v1/api-keys", &json!({"name": "minted", "permission": "full_access"})).await,
        key.post(&format!("/api/v1/api-keys/{id}/reset"), &json!({})).await,
        key.patch(&format!("/api/v1/api-keys/{id}"), &json!({"name": "renamed"})).await,
        key.put("/api/v1/me/password", &json!({"current_password": crate::helpers::ADMIN_PASSWORD, "new_password": "a new password here"})).await,
        key.patch("/api/v1/subscription", &json!({"api_keys_enabled": false})).await,
        key.patch("/api/v1/me", &json!({"display_name": "Key"})).await,
        key.delete("/api/v1/session").await,
    ] {
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(error_code(res).await, "session_required");
    }
    let page: Page<ApiKey> = admin.get("/api/v1/api-keys").await.json().await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].name, "full_access key");
    assert_eq!(
        status_with(&app, &secret).await,
        StatusCode::OK,
        "the key was not reset"
    );
}

async fn a_keys_user_must_be_active(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser {
        client: editor,
        id: editor_id,
        ..
    } = app.user(&admin, Role::Editor).await;
    let IssuedKey { secret, .. } = app.api_key(&editor, "full_access").await;
    assert_eq!(status_with(&app, &secret).await, StatusCode::OK);
    succeeded(
        admin
            .patch(
                &format!("/api/v1/users/{editor_id}"),
                &json!({"state": "disabled"}),
            )
            .await,
    );
    let res = app.with_key(&secret).get("/api/v1/session").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(res).await, "user_inactive");
    succeeded(
        admin
            .patch(
                &format!("/api/v1/users/{editor_id}"),
                &json!({"state": "active"}),
            )
            .await,
    );
    assert_eq!(status_with(&app, &secret).await, StatusCode::OK);
    // Locked by an admin: the key stops too, until the lock is lifted.
    succeeded(
        admin
            .patch(
                &format!("/api/v1/users/{editor_id}"),
                &json!({"state": "locked"}),
            )
            .await,
    );
    let res = app.with_key(&secret).get("/api/v1/session").await;
    assert_eq!(error_code(res).await, "user_inactive");
    succeeded(
        admin
            .patch(
                &format!("/api/v1/users/{editor_id}"),
                &json!({"state": "active"}),
            )
            .await,
    );
    assert_eq!(status_with(&app, &secret).await, StatusCode::OK);
    // Password sign-in locked by failed sign-ins: the key keeps working (a guesser
    // must not be able to stop a user's scripts).
    succeeded(
        admin
            .patch(
                "/api/v1/subscription",
                &json!({"login_lockout_threshold": 1}),
            )
            .await,
    );
    let username: Value = app
        .with_key(&secret)
        .get("/api/v1/me")
        .await
        .json()
        .await
        .unwrap();
    let res = app
        .anonymous()
        .post(
            "/api/v1/session",
            &json!({"username": username["username"], "password": "wrong wrong wrong"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(status_with(&app, &secret).await, StatusCode::OK);
    // Deleted: the key goes with the user.
    succeeded(admin.delete(&format!("/api/v1/users/{editor_id}")).await);
    let res = app.with_key(&secret).get("/api/v1/session").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(res).await, "api_key_invalid");
}

async fn whoami(key: &Client) -> Value {
    let res = key.get("/api/v1/session").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    res.json().await.unwrap()
}

/// `GET /api/v1/session` with a key is answered from its cache entry: the answer
/// changes with the user at once, and shows a password lock while it runs.
async fn a_keys_session_answer_follows_its_user(b: Backend) {
    let app = crate::helpers::spawn_app_with(b, |s| s.credential_cache_seconds = 60).await;
    let admin = app.admin().await;
    succeeded(
        admin
            .patch(
                "/api/v1/subscription",
                &json!({"login_lockout_threshold": 1}),
            )
            .await,
    );
    let NewUser {
        client: editor,
        id: editor_id,
        username,
    } = app.user(&admin, Role::Editor).await;
    let IssuedKey { secret, .. } = app.api_key(&editor, "full_access").await;
    let key = app.with_key(&secret);
    let first = whoami(&key).await;
    assert_eq!(first["user"]["id"], editor_id.as_str());
    assert!(first["user"]["password_locked_until"].is_null());
    assert_eq!(first["credential"]["kind"], "api_key");
    assert!(first["csrf_token"].is_null());
    assert_eq!(whoami(&key).await, first);
    // A failed sign-in locks the password; an admin's edit of the user reaches the key
    // at once, and so does the lock.
    let res = app
        .anonymous()
        .try_sign_in(&username, "wrong wrong wrong")
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    succeeded(
        admin
            .patch(
                &format!("/api/v1/users/{editor_id}"),
                &json!({"display_name": "Renamed"}),
            )
            .await,
    );
    for _ in 0..2 {
        let locked = whoami(&key).await;
        assert_eq!(locked["user"]["display_name"], "Renamed");
        assert!(
            locked["user"]["password_locked_until"].is_string(),
            "{locked}"
        );
    }
    // Once the lock lapses, the answer says so.
    app.state
        .clock
        .advance(TimeDelta::minutes(15) + TimeDelta::seconds(1));
    for _ in 0..2 {
        let lapsed = whoami(&key).await;
        assert_eq!(lapsed["user"]["display_name"], "Renamed");
        assert!(
            lapsed["user"]["password_locked_until"].is_null(),
            "{lapsed}"
        );
    }
}

async fn expired_keys_stop(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let soon = (Utc::now() + TimeDelta::days(1)).to_rfc3339();
    let res = admin
        .post(
            "/api/v1/api-keys",
            &json!({"name": "temp", "permission": "read_only", "expires_at": soon}),
        )
        .await;
    let created: Value = res.json().await.unwrap();
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(created["expires_at"].is_string());
    assert_eq!(status_with(&app, &secret).await, StatusCode::OK);
    // A day passes: the key stops at once, cached or not (expiry is checked on every
    // use).
    app.state
        .clock
        .advance(TimeDelta::days(1) + TimeDelta::seconds(1));
    let res = app.with_key(&secret).get("/api/v1/session").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(res).await, "api_key_expired");
}

async fn malformed_and_unknown_keys_are_rejected_alike(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let IssuedKey { secret, .. } = app.api_key(&admin, "read_only").await;
    let mut typo = secret.clone().into_bytes();
    typo[20] = if typo[20] == b'A' { b'B' } else { b'A' };
    let typo = String::from_utf8(typo).unwrap();
    let mut bodies = Vec::new();
    for bad in [
        typo.as_str(),
        "gatk_",
        "gatk_tooshort",
        &format!("{secret}x"),
    ] {
        let res = app.with_key(bad).get("/api/v1/session").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{bad}");
        bodies.push(res.text().await.unwrap());
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");
    assert!(bodies[0].contains("api_key_invalid"));
    let res = app
        .with_header("Authorization", &format!("Basic {secret}"))
        .get("/api/v1/session")
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

async fn switching_keys_off_and_on(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let IssuedKey {
        secret: kept,
        id: kept_id,
    } = app.api_key(&admin, "full_access").await;
    let IssuedKey {
        secret: doomed,
        id: doomed_id,
    } = app.api_key(&admin, "read_only").await;
    assert_eq!(status_with(&app, &kept).await, StatusCode::OK);
    assert_eq!(status_with(&app, &doomed).await, StatusCode::OK);
    let res = admin
        .patch("/api/v1/subscription", &json!({"api_keys_enabled": false}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    let res = admin
        .post(
            "/api/v1/api-keys",
            &json!({"name": "new", "permission": "read_only"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "api_keys_disabled");
    assert_eq!(body["error"]["message"], API_KEYS_DISABLED_MESSAGE);
    for res in [
        admin
            .patch(
                &format!("/api/v1/api-keys/{kept_id}"),
                &json!({"name": "renamed"}),
            )
            .await,
        admin
            .post(&format!("/api/v1/api-keys/{kept_id}/reset"), &json!({}))
            .await,
    ] {
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(error_code(res).await, "api_keys_disabled");
    }
    for secret in [&kept, &doomed] {
        let res = app.with_key(secret).get("/api/v1/session").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "api_keys_disabled");
        assert_eq!(body["error"]["message"], API_KEYS_DISABLED_MESSAGE);
    }
    // Deleting still works, and listing shows what exists.
    assert_eq!(
        admin
            .delete(&format!("/api/v1/api-keys/{doomed_id}"))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let page: Page<ApiKey> = admin.get("/api/v1/api-keys").await.json().await.unwrap();
    assert_eq!(page.items.len(), 1);

    succeeded(
        admin
            .patch("/api/v1/subscription", &json!({"api_keys_enabled": true}))
            .await,
    );
    assert_eq!(
        status_with(&app, &kept).await,
        StatusCode::OK,
        "switching back on revives the key"
    );
    assert_eq!(status_with(&app, &doomed).await, StatusCode::UNAUTHORIZED);
    let page: Page<ApiKey> = admin.get("/api/v1/api-keys").await.json().await.unwrap();
    assert_eq!(
        page.items[0].name, "full_access key",
        "nothing was renamed while off"
    );
}

async fn the_maximum_lifetime_caps_new_and_reset_keys(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let IssuedKey { id: before_id, .. } = app.api_key(&admin, "read_only").await;
    succeeded(
        admin
            .patch(
                "/api/v1/subscription",
                &json!({"api_key_max_lifetime_days": 30}),
            )
            .await,
    );
    let res = admin
        .post(
            "/api/v1/api-keys",
            &json!({"name": "capped", "permission": "read_only"}),
        )
        .await;
    let key: Value = res.json().await.unwrap();
    let expires: chrono::DateTime<Utc> = key["expires_at"].as_str().unwrap().parse().unwrap();
    let expected = Utc::now() + TimeDelta::days(30);
    assert!(
        (expires - expected).num_seconds().abs() < 60,
        "{expires} vs {expected}"
    );
    let too_late = (Utc::now() + TimeDelta::days(31)).to_rfc3339();
    let res = admin
        .post(
            "/api/v1/api-keys",
            &json!({"name": "long", "permission": "read_only", "expires_at": too_late}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"]["details"]["field"], "expires_at");
    // A key made before the cap gets one when it is reset.
    let reset: Value = admin
        .post(&format!("/api/v1/api-keys/{before_id}/reset"), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let expires: chrono::DateTime<Utc> = reset["expires_at"].as_str().unwrap().parse().unwrap();
    assert!((expires - expected).num_seconds().abs() < 60);
}

async fn admins_list_filter_sort_and_download_every_key(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser {
        client: editor,
        username: editor_name,
        id: editor_id,
    } = app.user(&admin, Role::Editor).await;
    let NewUser {
        client: viewer,
        username: viewer_name,
        ..
    } = app.user(&admin, Role::Viewer).await;
    let mut made = Vec::new();
    for (client, name) in [
        (&admin, "Admin Backup"),
        (&editor, "CI deploy"),
        (&viewer, "reporting"),
        (&editor, "=cmd|' /C calc'!A0"),
    ] {
        let res = client
            .post(
                "/api/v1/api-keys",
                &json!({"name": name, "permission": "read_only"}),
            )
            .await;
        let v: Value = res.json().await.unwrap();
        made.push((
            v["id"].as_str().unwrap().to_string(),
            v["secret"].as_str().unwrap().to_string(),
            v["hint"].as_str().unwrap().to_string(),
        ));
    }
    // Another subscription's keys never show.
    let OtherSubscription {
        admin: other_admin, ..
    } = app.second_subscription().await;
    app.api_key(&other_admin, "read_only").await;
    let list = |q: &str| {
        let admin = &admin;
        let q = q.to_string();
        async move {
            let res = admin
                .get(&format!("/api/v1/subscription/api-keys{q}"))
                .await;
            assert_eq!(res.status(), StatusCode::OK, "{q}");
            res.json::<Page<SubscriptionApiKey>>().await.unwrap()
        }
    };
    let all = list("").await;
    assert_eq!(all.items.len(), 4);
    assert!(
        all.items
            .windows(2)
            .all(|w| w[0].key.created_at >= w[1].key.created_at),
        "newest first by default"
    );
    let asc = list("?sort=created_at&order=asc").await;
    assert_eq!(asc.items.first().unwrap().key.name, "Admin Backup");
    // Filter by name (any case), by username, by hint.
    assert_eq!(list("?q=ci%20DEPLOY").await.items.len(), 1);
    let by_user = list(&format!("?q={}", &editor_name[..12])).await;
    assert_eq!(by_user.items.len(), 2);
    assert!(by_user.items.iter().all(|k| k.username == editor_name));
    // One person's keys exactly (the admin's page of that person), alone or with text.
    let of_editor = list(&format!("?user={editor_id}")).await;
    assert_eq!(of_editor.items.len(), 2);
    assert!(of_editor.items.iter().all(|k| k.username == editor_name));
    assert_eq!(
        list(&format!("?user={editor_id}&q=ci%20deploy"))
            .await
            .items
            .len(),
        1
    );
    let other_sub_user = app.second_subscription().await;
    let stranger: gatehouse_types::User = other_sub_user
        .admin
        .get("/api/v1/me")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list(&format!("?user={}", stranger.id)).await.items.len(), 0);
    assert_eq!(
        admin
            .get("/api/v1/subscription/api-keys?user=not-an-id")
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    let hint_tail = &made[2].2[made[2].2.len() - 4..];
    assert!(
        list(&format!("?q={hint_tail}"))
            .await
            .items
            .iter()
            .any(|k| k.username == viewer_name)
    );
    assert_eq!(
        list("?q=%25").await.items.len(),
        0,
        "% is matched literally"
    );
    // Sort by last use: the used key comes first in descending order.
    assert_eq!(status_with(&app, &made[2].1).await, StatusCode::OK);
    let mut used_first = None;
    for _ in 0..20 {
        let page = list("?sort=last_used_at&order=desc").await;
        if page.items[0].key.last_used_at.is_some() {
            used_first = Some(page.items[0].key.id.clone());
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(used_first.as_deref(), Some(made[2].0.as_str()));
    // Pages of one, in both directions of the cursor, cover everything once.
    for sort in ["created_at", "last_used_at", "last_reset_at"] {
        for order in ["asc", "desc"] {
            let mut seen = Vec::new();
            let mut q = format!("?limit=1&sort={sort}&order={order}");
            loop {
                let page = list(&q).await;
                seen.extend(page.items.iter().map(|k| k.key.id.clone()));
                match page.next_cursor {
                    Some(c) => q = format!("?limit=1&sort={sort}&order={order}&cursor={c}"),
                    None => break,
                }
            }
            seen.sort();
            seen.dedup();
            assert_eq!(seen.len(), 4, "{sort} {order}");
        }
    }
    assert_eq!(
        admin
            .get("/api/v1/subscription/api-keys?sort=name")
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    // CSV: a header and one line per key, formulas defused, no secrets.
    let res = admin
        .request(Method::GET, "/api/v1/subscription/api-keys?q=ci%20deploy")
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = res.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("id,name,hint,permission,username"));
    assert_eq!(lines.len(), 2);
    assert!(lines[1].contains("CI deploy") && lines[1].contains(&editor_name));
    let full = admin
        .request(Method::GET, "/api/v1/subscription/api-keys")
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(full.lines().count(), 5);
    assert!(full.contains("\"'=cmd|' /C calc'!A0\""), "{full}");
    for (_, secret, _) in &made {
        assert!(!full.contains(&secret[5..]));
    }
    // Only admins.
    let res = editor.get("/api/v1/subscription/api-keys").await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

/// A filter first checks the next `SEARCH_WINDOW` keys in order and, when they hold
/// less than a page, asks the search index (FTS5 on SQLite, pg_trgm on PostgreSQL),
/// which triggers or the indexes themselves keep current. Here the key sought is older
/// than a window of other keys: it is found by name, by its owner's username, in every
/// order; a rename and a delete are seen at once; another subscription's key with the
/// same name never shows; a term that many keys carry pages normally.
async fn a_filter_finds_keys_far_down_the_list(b: Backend) {
    use gatehouse_server::db::api_keys::{NewApiKey, SEARCH_WINDOW, insert};
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser {
        client: editor,
        username: editor_name,
        ..
    } = app.user(&admin, Role::Editor).await;
    let needle: ApiKey = editor
        .post(
            "/api/v1/api-keys",
            &json!({"name": "Quarterly Needle Export", "permission": "read_only"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let OtherSubscription {
        admin: other_admin,
        id: other_id,
        ..
    } = app.second_subscription().await;
    succeeded(
        other_admin
            .post(
                "/api/v1/api-keys",
                &json!({"name": "Needle", "permission": "read_only"}),
            )
            .await,
    );
    // A window and more of newer keys, written straight to the database.
    let subscription_id: String = app.with_db(|conn| {
        api_keys::table
            .find(&needle.id)
            .select(api_keys::subscription_id)
            .first(conn)
            .unwrap()
    });
    let admin_id = app.admin_id.clone();
    let start = app.state.clock.now() + TimeDelta::seconds(1);
    let bulk = |subscription: &str, owner: &str, count: i64, name: &str, hint: &str| {
        app.with_db(|conn| {
            conn.transaction::<_, diesel::result::Error, _>(|conn| {
                for i in 0..count {
                    let at = start + TimeDelta::milliseconds(i);
                    insert(
                        conn,
                        &NewApiKey {
                            id: &uuid::Uuid::new_v4().to_string(),
                            subscription_id: subscription,
                            user_id: owner,
                            name: &format!("{name} {i}"),
                            permission: "read_only",
                            secret_hash: &format!("{:064x}", uuid::Uuid::new_v4().as_u128()),
                            hint,
                            created_at: at,
                            updated_at: at,
                            expires_at: None,
                        },
                    )?;
                }
                Ok(())
            })
        })
        .unwrap()
    };
    bulk(
        &subscription_id,
        &admin_id,
        SEARCH_WINDOW + 120,
        "bulk key",
        "bulk",
    );
    let names = |q: &str| {
        let admin = &admin;
        let q = q.to_string();
        async move {
            let res = admin
                .get(&format!("/api/v1/subscription/api-keys?{q}"))
                .await;
            assert_eq!(res.status(), StatusCode::OK, "{q}");
            let page: Page<SubscriptionApiKey> = res.json().await.unwrap();
            page.items
                .into_iter()
                .map(|k| k.key.name)
                .collect::<Vec<_>>()
        }
    };
    let only_needle = vec!["Quarterly Needle Export".to_string()];
    assert_eq!(names("q=needle%20EXPORT").await, only_needle);
    for sort in ["created_at", "last_used_at", "last_reset_at"] {
        for order in ["asc", "desc"] {
            assert_eq!(
                names(&format!("q=needle&sort={sort}&order={order}")).await,
                only_needle,
                "{sort} {order}"
            );
        }
    }
    assert_eq!(
        names(&format!("q={}", &editor_name[..12])).await,
        only_needle
    );
    assert_eq!(
        names("q=Qu").await,
        only_needle,
        "two characters: no trigram"
    );
    // Search syntax in the term is only text: nothing is refused, nothing widens.
    for q in [
        "%22",
        "needle%22%20OR%20%22bulk",
        "NEAR(needle",
        "needl*",
        "name:needle",
    ] {
        assert!(names(&format!("q={q}")).await.is_empty(), "{q}");
    }
    // Another subscription with more keys carrying the term than the search index is
    // read for: this subscription's search goes key by key through its own keys, and
    // finds the same.
    use gatehouse_server::db::api_keys::SEARCH_CANDIDATES;
    use gatehouse_server::db::schema::users;
    let owner: String = app.with_db(|conn| {
        users::table
            .filter(users::subscription_id.eq(&other_id))
            .select(users::id)
            .first(conn)
            .unwrap()
    });
    bulk(&other_id, &owner, SEARCH_CANDIDATES + 1, "needle", "other");
    assert_eq!(names("q=needle").await, only_needle);
    assert_eq!(names("q=needle&sort=last_used_at").await, only_needle);
    // A common term fills its pages from the window; the pages do not overlap.
    let first: Page<SubscriptionApiKey> = admin
        .get("/api/v1/subscription/api-keys?q=bulk%20key&limit=50")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first.items.len(), 50);
    let cursor = first.next_cursor.clone().expect("another page");
    let second: Page<SubscriptionApiKey> = admin
        .get(&format!(
            "/api/v1/subscription/api-keys?q=bulk%20key&limit=50&cursor={cursor}"
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second.items.len(), 50);
    assert!(
        second
            .items
            .iter()
            .all(|k| first.items.iter().all(|f| f.key.id != k.key.id))
    );
    // The index follows a rename and a delete at once.
    succeeded(
        editor
            .patch(
                &format!("/api/v1/api-keys/{}", needle.id),
                &json!({"name": "Quarterly Haystack Export"}),
            )
            .await,
    );
    assert!(names("q=needle").await.is_empty());
    assert_eq!(
        names("q=haystack").await,
        vec!["Quarterly Haystack Export".to_string()]
    );
    succeeded(
        editor
            .delete(&format!("/api/v1/api-keys/{}", needle.id))
            .await,
    );
    assert!(names("q=haystack").await.is_empty());
    assert!(names(&format!("q={}", &editor_name[..12])).await.is_empty());
}

async fn admins_reset_and_delete_other_peoples_keys(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser { client: editor, .. } = app.user(&admin, Role::Editor).await;
    let IssuedKey { secret, id } = app.api_key(&editor, "full_access").await;
    assert_eq!(status_with(&app, &secret).await, StatusCode::OK);
    let k: ApiKey = admin
        .get(&format!("/api/v1/api-keys/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(k.name, "full_access key");
    // Admins may reset and delete, not rename.
    let res = admin
        .patch(
            &format!("/api/v1/api-keys/{id}"),
            &json!({"name": "mine now"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = admin
        .post(&format!("/api/v1/api-keys/{id}/reset"), &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(status_with(&app, &secret).await, StatusCode::UNAUTHORIZED);
    // An admin's key may delete, not reset.
    let IssuedKey {
        secret: admin_key, ..
    } = app.api_key(&admin, "full_access").await;
    let res = app
        .with_key(&admin_key)
        .post(&format!("/api/v1/api-keys/{id}/reset"), &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = app
        .with_key(&admin_key)
        .delete(&format!("/api/v1/api-keys/{id}"))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let mine: Page<ApiKey> = editor.get("/api/v1/api-keys").await.json().await.unwrap();
    assert!(mine.items.is_empty());
    let audit: Page<gatehouse_types::AuditEvent> = admin
        .get("/api/v1/audit-events")
        .await
        .json()
        .await
        .unwrap();
    let reset = audit
        .items
        .iter()
        .find(|e| e.action == "api_key.reset")
        .unwrap();
    assert_eq!(reset.details["by_admin"], true);
    assert_eq!(reset.credential_kind.as_deref(), Some("session"));
    let deleted = audit
        .items
        .iter()
        .find(|e| e.action == "api_key.deleted")
        .unwrap();
    assert_eq!(deleted.credential_kind.as_deref(), Some("api_key"));
    assert_eq!(deleted.target_id.as_deref(), Some(id.as_str()));
}

async fn other_users_and_subscriptions_see_nothing(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let IssuedKey { secret, id } = app.api_key(&admin, "full_access").await;
    let NewUser { client: editor, .. } = app.user(&admin, Role::Editor).await;
    let OtherSubscription {
        admin: other_admin, ..
    } = app.second_subscription().await;
    let IssuedKey {
        secret: other_key, ..
    } = app.api_key(&other_admin, "full_access").await;
    let other_by_key = app.with_key(&other_key);
    for c in [&editor, &other_admin, &other_by_key] {
        let path = format!("/api/v1/api-keys/{id}");
        for res in [
            c.get(&path).await,
            c.patch(&path, &json!({"name": "x"})).await,
            c.post(&format!("{path}/reset"), &json!({})).await,
            c.delete(&path).await,
        ] {
            assert_eq!(res.status(), StatusCode::NOT_FOUND);
            assert_eq!(error_code(res).await, "not_found");
        }
        let mine: Page<ApiKey> = c.get("/api/v1/api-keys").await.json().await.unwrap();
        assert!(mine.items.iter().all(|k| k.id != id));
    }
    let theirs: Page<SubscriptionApiKey> = other_admin
        .get("/api/v1/subscription/api-keys")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs.items.len(), 1);
    assert!(theirs.items.iter().all(|k| k.key.id != id));
    assert_eq!(
        status_with(&app, &secret).await,
        StatusCode::OK,
        "untouched"
    );
    // A key of one subscription reads only its own subscription.
    let s: Value = other_by_key
        .get("/api/v1/subscription")
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(s["id"], app.subscription_id.as_str());
}

async fn key_changes_are_audited_with_the_credential(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let since = Utc::now().to_rfc3339();
    let IssuedKey { secret, id } = app.api_key(&admin, "full_access").await;
    succeeded(
        admin
            .patch(
                &format!("/api/v1/api-keys/{id}"),
                &json!({"name": "renamed"}),
            )
            .await,
    );
    succeeded(
        admin
            .post(&format!("/api/v1/api-keys/{id}/reset"), &json!({}))
            .await,
    );
    let IssuedKey { id: other, .. } = app.api_key(&admin, "read_only").await;
    succeeded(admin.delete(&format!("/api/v1/api-keys/{other}")).await);
    let q = |s: &str| format!("/api/v1/audit-events?since={}{s}", urlencode(&since));
    let page: Page<gatehouse_types::AuditEvent> = admin.get(&q("")).await.json().await.unwrap();
    let actions: Vec<&str> = page.items.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "api_key.deleted",
            "api_key.created",
            "api_key.reset",
            "api_key.renamed",
            "api_key.created"
        ]
    );
    assert!(
        page.items
            .iter()
            .all(|e| e.credential_kind.as_deref() == Some("session"))
    );
    let text = serde_json::to_string(&page.items).unwrap();
    assert!(!text.contains(&secret[5..]), "no secret in the audit log");
    let only: Page<gatehouse_types::AuditEvent> = admin
        .get(&q("&action=api_key.reset"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(only.items.len(), 1);
    assert_eq!(only.items[0].target_id.as_deref(), Some(id.as_str()));
    let by_actor: Page<gatehouse_types::AuditEvent> = admin
        .get(&format!("{}&actor={}", q(""), app.admin_id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_actor.items.len(), 5);
    let future = urlencode(&(Utc::now() + TimeDelta::hours(1)).to_rfc3339());
    let none: Page<gatehouse_types::AuditEvent> = admin
        .get(&format!("/api/v1/audit-events?since={future}"))
        .await
        .json()
        .await
        .unwrap();
    assert!(none.items.is_empty());
    let until: Page<gatehouse_types::AuditEvent> = admin
        .get(&format!("/api/v1/audit-events?until={}", urlencode(&since)))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        until
            .items
            .iter()
            .all(|e| !e.action.starts_with("api_key."))
    );
    let res = admin.get("/api/v1/audit-events?since=yesterday").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let csv = admin
        .request(Method::GET, &q("&action=api_key.created"))
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(csv.lines().count(), 3);
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .starts_with("id,created_at,action,actor_id")
    );
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

async fn last_use_is_recorded(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let IssuedKey { secret, id } = app.api_key(&admin, "read_only").await;
    let before: ApiKey = admin
        .get(&format!("/api/v1/api-keys/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert!(before.last_used_at.is_none());
    for _ in 0..5 {
        assert_eq!(status_with(&app, &secret).await, StatusCode::OK);
    }
    let mut after = None;
    for _ in 0..30 {
        let k: ApiKey = admin
            .get(&format!("/api/v1/api-keys/{id}"))
            .await
            .json()
            .await
            .unwrap();
        if k.last_used_at.is_some() {
            after = k.last_used_at;
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    let after = after.expect("last_used_at is recorded");
    assert!((Utc::now() - after).num_seconds() < 60);
}

async fn forward_auth_for_gateways(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let IssuedKey { secret: ro, .. } = app.api_key(&admin, "read_only").await;
    let IssuedKey { secret: full, .. } = app.api_key(&admin, "full_access").await;
    let verify = |c: Client, method: Option<&'static str>| async move {
        let mut rb = c.request(Method::GET, "/api/v1/auth/verify");
        if let Some(m) = method {
            rb = rb.header("X-Forwarded-Method", m);
        }
        rb.send().await.unwrap()
    };
    let res = verify(app.with_key(&full), Some("POST")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let h = res.headers();
    assert_eq!(
        h.get("x-gatehouse-user").unwrap(),
        app.admin_username.as_str()
    );
    assert_eq!(
        h.get("x-gatehouse-subscription").unwrap(),
        app.subscription_id.as_str()
    );
    assert_eq!(h.get("x-gatehouse-permission").unwrap(), "full_access");
    let res = verify(app.with_key(&ro), Some("GET")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers().get("x-gatehouse-permission").unwrap(),
        "read_only"
    );
    for m in ["POST", "delete", "PATCH"] {
        let res = verify(app.with_key(&ro), Some(m)).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{m}");
        assert_eq!(error_code(res).await, "insufficient_permission");
    }
    let res = verify(app.anonymous(), None).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().get("www-authenticate").is_some());
    let res = verify(app.with_key("gatk_nope"), None).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // Without X-Forwarded-Method the request is judged unsafe (fail closed): a
    // read-only key is refused, a full-access key passes.
    let res = verify(app.with_key(&ro), None).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, "insufficient_permission");
    let res = verify(app.with_key(&full), None).await;
    assert_eq!(res.status(), StatusCode::OK);
    // A signed-in browser: reads pass; an unsafe method — or none named — needs the
    // session's CSRF token, forwarded by the gateway like any other header.
    let csrf = admin.csrf.clone().unwrap();
    let res = admin
        .http
        .get(app.url("/api/v1/auth/verify"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "no method named, no CSRF token"
    );
    assert_eq!(error_code(res).await, "csrf_failed");
    let res = admin
        .request(Method::GET, "/api/v1/auth/verify")
        .header("X-Forwarded-Method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers().get("x-gatehouse-permission").unwrap(),
        "full_access"
    );
    let res = admin
        .http
        .get(app.url("/api/v1/auth/verify"))
        .header("X-Forwarded-Method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, "csrf_failed");
    let res = admin
        .http
        .get(app.url("/api/v1/auth/verify"))
        .header("X-Forwarded-Method", "POST")
        .header("X-CSRF-Token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // A viewer's session is read-only at the gateway.
    let NewUser { client: viewer, .. } = app.user(&admin, Role::Viewer).await;
    let res = viewer
        .request(Method::GET, "/api/v1/auth/verify")
        .header("X-Forwarded-Method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers().get("x-gatehouse-permission").unwrap(),
        "read_only"
    );
}

async fn no_secret_is_stored(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser { client: editor, .. } = app.user(&admin, Role::Editor).await;
    let mut secrets = vec![
        admin.session_token.clone().unwrap(),
        editor.session_token.clone().unwrap(),
    ];
    for (c, p) in [
        (&admin, "full_access"),
        (&editor, "read_only"),
        (&editor, "full_access"),
    ] {
        let IssuedKey { secret, id } = app.api_key(c, p).await;
        app.with_key(&secret).get("/api/v1/session").await;
        secrets.push(secret);
        let reset: Value = c
            .post(&format!("/api/v1/api-keys/{id}/reset"), &json!({}))
            .await
            .json()
            .await
            .unwrap();
        secrets.push(reset["secret"].as_str().unwrap().to_string());
    }
    secrets.push(crate::helpers::ADMIN_PASSWORD.to_string());
    secrets.push("a password of some length".to_string());
    let dump = crate::helpers::database_dump(&app);
    assert!(dump.len() > 1000, "the dump has content");
    assert!(dump.contains(&app.admin_username), "the dump is readable");
    for s in &secrets {
        // The random part alone must not appear either.
        let needle = s.strip_prefix("gatk_").unwrap_or(s);
        assert!(!dump.contains(needle), "a secret is stored in the database");
    }
}

async fn last_use_is_written_at_most_once_a_minute(b: Backend) {
    // No cache: every request reads the key, so only the coalescing stands between a
    // request and a write.
    let app = crate::helpers::spawn_app_with(b, |s| s.credential_cache_seconds = 0).await;
    let admin = app.admin().await;
    let IssuedKey { secret, id } = app.api_key(&admin, "read_only").await;
    let stored = || -> Option<chrono::NaiveDateTime> {
        app.with_db(|conn| {
            api_keys::table
                .find(&id)
                .select(api_keys::last_used_at)
                .first(conn)
                .unwrap()
        })
    };
    // The write runs off the request path: wait for it.
    let written_after = |before: Option<chrono::NaiveDateTime>| async move {
        for _ in 0..30 {
            if stored() != before {
                return stored();
            }
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no use was written");
    };
    assert_eq!(status_with(&app, &secret).await, StatusCode::OK);
    let first = written_after(None).await.expect("the first use is written");
    app.state.clock.advance(TimeDelta::seconds(30));
    for _ in 0..5 {
        assert_eq!(status_with(&app, &secret).await, StatusCode::OK);
    }
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        stored(),
        Some(first),
        "used again within the minute: no write"
    );
    app.state.clock.advance(TimeDelta::seconds(90));
    assert_eq!(status_with(&app, &secret).await, StatusCode::OK);
    let updated = written_after(Some(first)).await.expect("a later use");
    assert!(
        updated - first >= TimeDelta::seconds(120),
        "{first} → {updated}"
    );
    assert!(updated <= app.state.clock.now());
}

async fn a_reset_body_is_read_or_refused_never_ignored(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let IssuedKey { secret, id } = app.api_key(&admin, "read_only").await;
    let path = format!("/api/v1/api-keys/{id}/reset");
    for (content_type, body, status) in [
        (
            "application/json",
            "{\"expires_at\": \"2027-01-01\"}",
            StatusCode::BAD_REQUEST,
        ),
        (
            "application/json",
            "{\"expires_at\": ",
            StatusCode::BAD_REQUEST,
        ),
        (
            "application/json",
            "{\"lifetime\": 3}",
            StatusCode::BAD_REQUEST,
        ),
        ("text/plain", "{}", StatusCode::UNSUPPORTED_MEDIA_TYPE),
    ] {
        let res = admin
            .request(Method::POST, &path)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), status, "{body}");
    }
    assert_eq!(
        status_with(&app, &secret).await,
        StatusCode::OK,
        "no reset happened"
    );
    let soon = (Utc::now() + TimeDelta::days(3)).to_rfc3339();
    let reset: Value = admin
        .post(&path, &json!({"expires_at": soon}))
        .await
        .json()
        .await
        .unwrap();
    let expires: chrono::DateTime<Utc> = reset["expires_at"].as_str().unwrap().parse().unwrap();
    assert!(
        (expires - (Utc::now() + TimeDelta::days(3)))
            .num_seconds()
            .abs()
            < 60
    );
    assert_eq!(status_with(&app, &secret).await, StatusCode::UNAUTHORIZED);
}

async fn a_reset_keeps_the_lifetime_within_the_cap(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let in_90_days = (Utc::now() + TimeDelta::days(90)).to_rfc3339();
    let created: Value = admin
        .post(
            "/api/v1/api-keys",
            &json!({"name": "long", "permission": "read_only", "expires_at": in_90_days}),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    // Without a cap, a reset keeps the 90 days, counted from now.
    let reset: Value = admin
        .post(&format!("/api/v1/api-keys/{id}/reset"), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let expires: chrono::DateTime<Utc> = reset["expires_at"].as_str().unwrap().parse().unwrap();
    assert!(
        (expires - (Utc::now() + TimeDelta::days(90)))
            .num_seconds()
            .abs()
            < 60
    );
    // With a 30-day cap, a reset gets 30 days, not an error.
    succeeded(
        admin
            .patch(
                "/api/v1/subscription",
                &json!({"api_key_max_lifetime_days": 30}),
            )
            .await,
    );
    let res = admin
        .post(&format!("/api/v1/api-keys/{id}/reset"), &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let reset: Value = res.json().await.unwrap();
    let expires: chrono::DateTime<Utc> = reset["expires_at"].as_str().unwrap().parse().unwrap();
    assert!(
        (expires - (Utc::now() + TimeDelta::days(30)))
            .num_seconds()
            .abs()
            < 60
    );
}

async fn control_characters_in_parameters_are_refused(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    for path in [
        "/api/v1/subscription/api-keys?q=%00",
        "/api/v1/audit-events?action=%00",
        "/api/v1/audit-events?actor=%00",
        "/api/v1/audit-events?actor=not-an-id",
        "/api/v1/users?cursor=AA",
        "/api/v1/api-keys?cursor=AA",
        "/api/v1/audit-events?cursor=MjAyNi0wMS0wMVQwMDowMDowMFp8AA",
    ] {
        let res = admin.get(path).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(error_code(res).await, "invalid_parameter");
    }
    let res = admin
        .post(
            "/api/v1/api-keys",
            &json!({"name": "nul \u{0} inside", "permission": "read_only"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

async fn keys_are_stored_under_the_pepper_when_one_is_set(b: Backend) {
    use hmac::{Hmac, Mac};
    use sha2::{Digest, Sha256};
    let pepper = "a server-side pepper";
    let app = crate::helpers::spawn_app_with(b, |s| {
        s.secret_pepper = Some(gatehouse_server::secret::SecretString::new(pepper))
    })
    .await;
    let admin = app.admin().await;
    let IssuedKey { secret, id } = app.api_key(&admin, "read_only").await;
    assert_eq!(status_with(&app, &secret).await, StatusCode::OK);
    let stored: String = app.with_db(|conn| {
        api_keys::table
            .find(&id)
            .select(api_keys::secret_hash)
            .first(conn)
            .unwrap()
    });
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    assert_ne!(
        stored,
        hex(&Sha256::digest(secret.as_bytes())),
        "not plain SHA-256"
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(pepper.as_bytes()).unwrap();
    mac.update(secret.as_bytes());
    assert_eq!(
        stored,
        hex(&mac.finalize().into_bytes()),
        "HMAC-SHA-256 with the pepper"
    );
}

/// Expiry is bounded at the end of 9999 (later is 422, never a panic), and a key that
/// far in the future compares as an instant on both backends: it is listed, in the
/// admin's JSON and CSV, and survives a reset.
async fn far_future_expiry_is_bounded_and_still_listed(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let res = admin
        .post(
            "/api/v1/api-keys",
            &json!({"name": "forever-ish", "permission": "read_only", "expires_at": "9999-12-31T00:00:00Z"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let key: serde_json::Value = res.json().await.unwrap();
    let (id, secret) = (
        key["id"].as_str().unwrap().to_string(),
        key["secret"].as_str().unwrap().to_string(),
    );
    assert_eq!(
        app.with_key(&secret).get("/api/v1/session").await.status(),
        StatusCode::OK
    );
    for late in ["9999-12-31T23:59:59.500Z", "9999-12-31T23:59:60Z"] {
        let res = admin
            .post(
                "/api/v1/api-keys",
                &json!({"name": "too late", "permission": "read_only", "expires_at": late}),
            )
            .await;
        assert!(
            res.status() == StatusCode::UNPROCESSABLE_ENTITY
                || res.status() == StatusCode::BAD_REQUEST,
            "{late}: {}",
            res.status()
        );
    }
    let list: serde_json::Value = admin
        .get("/api/v1/subscription/api-keys")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["id"] == id.as_str()),
        "the far-future key is in the admin's list: {list}"
    );
    let csv = admin
        .request(Method::GET, "/api/v1/subscription/api-keys")
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.contains(&id), "and in the CSV");
    // A reset keeps the lifetime, within the bound.
    let res = admin
        .post(&format!("/api/v1/api-keys/{id}/reset"), &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let reset: serde_json::Value = res.json().await.unwrap();
    let expires =
        chrono::DateTime::parse_from_rfc3339(reset["expires_at"].as_str().unwrap()).unwrap();
    assert!(expires.format("%Y").to_string() == "9999", "{expires}");
    // Under a lifetime cap, asking for 9999 is 422 with the field.
    let res = admin
        .patch(
            "/api/v1/subscription",
            &json!({"api_key_max_lifetime_days": 3650}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = admin
        .post(
            "/api/v1/api-keys",
            &json!({"name": "capped", "permission": "read_only", "expires_at": "9999-12-31T00:00:00Z"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = admin
        .post(&format!("/api/v1/api-keys/{id}/reset"), &json!({}))
        .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "a reset under the cap shortens, never fails"
    );
}
