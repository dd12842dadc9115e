//! `/me`, `/me/password` and the admin's `/users`.

use gatehouse_types::{CreatedUser, Page, Role, User};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{ADMIN_PASSWORD, Backend, NewUser, OtherSubscription, error_code, spawn_app};

both_backends!(
    profile_can_be_read_and_edited,
    password_change_ends_other_sessions,
    password_change_checks_the_current_password_and_the_policy,
    admins_create_users_with_a_generated_password_shown_once,
    usernames_are_unique_regardless_of_case,
    only_admins_manage_users,
    roles_and_names_can_be_changed,
    the_last_active_admin_is_protected,
    two_admins_demoting_each_other_at_once_leave_one_admin,
    deleting_a_user_ends_their_sessions,
    users_are_listed_by_page,
    another_subscriptions_users_are_invisible,
    admins_reset_a_forgotten_password_to_a_temporary_one,
    a_temporary_password_holds_the_session_until_the_person_chooses_their_own,
    password_resets_are_for_admins_and_other_people_of_the_subscription,
    a_temporary_password_cannot_be_dodged_or_kept,
);

async fn profile_can_be_read_and_edited(b: Backend) {
    let app = spawn_app(b).await;
    let NewUser {
        client: viewer,
        username,
        ..
    } = app.user(&app.admin().await, Role::Viewer).await;
    let res = viewer
        .patch(
            "/api/v1/me",
            &json!({"display_name": "  Grace Hopper ", "email": "grace@example.com"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let me: User = res.json().await.unwrap();
    assert_eq!(me.display_name, "Grace Hopper");
    assert_eq!(me.email.as_deref(), Some("grace@example.com"));
    assert_eq!(me.username, username);

    let res = viewer
        .patch("/api/v1/me", &json!({"email": "not-an-address"}))
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = viewer
        .patch("/api/v1/me", &json!({"display_name": ""}))
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // A rejected change changed nothing.
    let me: User = viewer.get("/api/v1/me").await.json().await.unwrap();
    assert_eq!(me.email.as_deref(), Some("grace@example.com"));

    let me: User = viewer
        .patch("/api/v1/me", &json!({"email": null}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me.email, None);
    assert_eq!(me.display_name, "Grace Hopper");
    // Nobody can change their own role through /me.
    let res = viewer.patch("/api/v1/me", &json!({"role": "admin"})).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let me: User = viewer.get("/api/v1/me").await.json().await.unwrap();
    assert_eq!(me.role, Role::Viewer);
}

/// A password change ends every other session and lists what was created in the last
/// day (keys, allowed apps), in case someone else knew the old password.
async fn password_change_ends_other_sessions(b: Backend) {
    let app = spawn_app(b).await;
    // Two days ago a key (from a session since signed out); today another, and an app
    // allowed.
    let before = app.admin().await;
    let old = app.api_key(&before, "read_only").await;
    assert_eq!(
        before.delete("/api/v1/session").await.status(),
        StatusCode::NO_CONTENT
    );
    app.state.clock.advance(chrono::TimeDelta::days(2));
    let here = app.admin().await;
    let elsewhere = app.admin().await;
    let also = app.admin().await;
    let fresh = app.api_key(&here, "full_access").await;
    let reg =
        crate::helpers::oauth::register(&here, false, &[crate::helpers::oauth::CALLBACK]).await;
    crate::helpers::oauth::authorize(&app, &here, &reg, &["api:read"]).await;
    let res = here
        .put(
            "/api/v1/me/password",
            &json!({"current_password": ADMIN_PASSWORD, "new_password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let changed: gatehouse_types::PasswordChanged = res.json().await.unwrap();
    assert_eq!(changed.sessions_ended, 2, "elsewhere and also");
    let listed: Vec<(gatehouse_types::RecentKind, &str)> = changed
        .recent
        .iter()
        .map(|r| (r.kind, r.id.as_str()))
        .collect();
    assert!(listed.contains(&(gatehouse_types::RecentKind::ApiKey, fresh.id.as_str())));
    assert!(!listed.iter().any(|(_, id)| *id == old.id), "two days old");
    let app_row = changed
        .recent
        .iter()
        .find(|r| r.kind == gatehouse_types::RecentKind::AuthorizedApp)
        .expect("the app allowed today");
    assert_eq!(app_row.name, "Acme Dashboard");
    assert_eq!(changed.recent.len(), 2);
    assert_eq!(
        also.get("/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(here.get("/api/v1/me").await.status(), StatusCode::OK);
    assert_eq!(
        elsewhere.get("/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let res = app
        .anonymous()
        .post(
            "/api/v1/session",
            &json!({"username": app.admin_username, "password": ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    app.sign_in(&app.admin_username, "a brand new passphrase")
        .await;
    let audit: Value = here.get("/api/v1/audit-events").await.json().await.unwrap();
    assert!(
        audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "user.password_changed")
    );
}

async fn password_change_checks_the_current_password_and_the_policy(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let res = admin
        .put("/api/v1/me/password", &json!({"current_password": "wrong wrong wrong", "new_password": "a brand new passphrase"}))
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["details"]["field"], "current_password");
    let res = admin
        .put(
            "/api/v1/me/password",
            &json!({"current_password": ADMIN_PASSWORD, "new_password": "short"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["details"]["field"], "new_password");
    // The old password still works.
    app.sign_in(&app.admin_username, ADMIN_PASSWORD).await;
}

async fn admins_create_users_with_a_generated_password_shown_once(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let res = admin
        .post(
            "/api/v1/users",
            &json!({"username": "Linus@Example.com", "role": "editor", "display_name": "Linus"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: CreatedUser = res.json().await.unwrap();
    assert_eq!(created.user.username, "linus@example.com");
    assert_eq!(created.user.role, Role::Editor);
    let password = created.initial_password.expect("a generated password");
    assert!(password.len() >= 16);
    let fetched: Value = admin
        .get(&format!("/api/v1/users/{}", created.user.id))
        .await
        .json()
        .await
        .unwrap();
    assert!(!fetched.to_string().contains(&password));
    assert_eq!(fetched["display_name"], "Linus");
    let linus = app.sign_in("linus@example.com", &password).await;
    let me: User = linus.get("/api/v1/me").await.json().await.unwrap();
    assert_eq!(me.id, created.user.id);

    // A chosen password is not echoed back.
    let res = admin
        .post("/api/v1/users", &json!({"username": "ken@example.com", "role": "viewer", "password": "chosen by the admin"}))
        .await;
    let body: Value = res.json().await.unwrap();
    assert!(body["initial_password"].is_null());
    app.sign_in("ken@example.com", "chosen by the admin").await;
    let res = admin
        .post(
            "/api/v1/users",
            &json!({"username": "dmr@example.com", "role": "viewer", "password": "short"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

async fn usernames_are_unique_regardless_of_case(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let res = admin
        .post(
            "/api/v1/users",
            &json!({"username": "Sam@Example.com", "role": "viewer"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = admin
        .post(
            "/api/v1/users",
            &json!({"username": "sam@example.COM", "role": "admin"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(res).await, "username_taken");
    // Usernames are unique across subscriptions too.
    let OtherSubscription { admin: other, .. } = app.second_subscription().await;
    let res = other
        .post(
            "/api/v1/users",
            &json!({"username": "sam@example.com", "role": "viewer"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
}

async fn only_admins_manage_users(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser {
        client: editor,
        id: editor_id,
        ..
    } = app.user(&admin, Role::Editor).await;
    let NewUser { client: viewer, .. } = app.user(&admin, Role::Viewer).await;
    for c in [&editor, &viewer] {
        let res = c.get("/api/v1/users").await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(error_code(res).await, "forbidden");
        let res = c
            .post(
                "/api/v1/users",
                &json!({"username": "x@example.com", "role": "admin"}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let res = c
            .patch(
                &format!("/api/v1/users/{editor_id}"),
                &json!({"role": "admin"}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let res = c.delete(&format!("/api/v1/users/{editor_id}")).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
    }
    let me: User = editor.get("/api/v1/me").await.json().await.unwrap();
    assert_eq!(me.role, Role::Editor);
    let res = app
        .anonymous()
        .post(
            "/api/v1/users",
            &json!({"username": "y@example.com", "role": "admin"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

async fn roles_and_names_can_be_changed(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser {
        client: editor,
        id: editor_id,
        ..
    } = app.user(&admin, Role::Editor).await;
    let res = admin
        .patch(
            &format!("/api/v1/users/{editor_id}"),
            &json!({"role": "admin", "display_name": "Promoted"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let u: User = res.json().await.unwrap();
    assert_eq!((u.role, u.display_name.as_str()), (Role::Admin, "Promoted"));
    // The new role applies at the next request of the existing session.
    assert_eq!(editor.get("/api/v1/users").await.status(), StatusCode::OK);
    let res = admin
        .patch(
            &format!("/api/v1/users/{editor_id}"),
            &json!({"role": "viewer"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        editor.get("/api/v1/users").await.status(),
        StatusCode::FORBIDDEN
    );
    let res = admin
        .patch(
            &format!("/api/v1/users/{editor_id}"),
            &json!({"state": "frozen"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let audit: Value = admin
        .get("/api/v1/audit-events")
        .await
        .json()
        .await
        .unwrap();
    let updates = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "user.updated")
        .count();
    assert_eq!(updates, 2);
}

async fn the_last_active_admin_is_protected(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let me = format!("/api/v1/users/{}", app.admin_id);
    for change in [
        json!({"role": "editor"}),
        json!({"state": "disabled"}),
        json!({"state": "locked"}),
    ] {
        let res = admin.patch(&me, &change).await;
        assert_eq!(res.status(), StatusCode::CONFLICT, "{change}");
        assert_eq!(error_code(res).await, "last_admin");
    }
    let res = admin.delete(&me).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(res).await, "last_admin");
    let u: User = admin.get("/api/v1/me").await.json().await.unwrap();
    assert_eq!(u.role, Role::Admin);

    // With a second admin, the first may step down.
    let NewUser { id: second_id, .. } = app.user(&admin, Role::Admin).await;
    let res = admin.patch(&me, &json!({"role": "editor"})).await;
    assert_eq!(res.status(), StatusCode::OK);
    // Now the second is the last one; the demoted first cannot act as admin.
    let res = admin.delete(&format!("/api/v1/users/{second_id}")).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

async fn deleting_a_user_ends_their_sessions(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser {
        client: user,
        id: user_id,
        username,
    } = app.user(&admin, Role::Editor).await;
    let res = admin.delete(&format!("/api/v1/users/{user_id}")).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        user.get("/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        admin
            .get(&format!("/api/v1/users/{user_id}"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        admin
            .delete(&format!("/api/v1/users/{user_id}"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let res = app
        .anonymous()
        .post(
            "/api/v1/session",
            &json!({"username": username, "password": "a password of some length"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

async fn users_are_listed_by_page(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    for i in 0..4 {
        let res = admin
            .post("/api/v1/users", &json!({"username": format!("user{i}@example.com"), "role": "viewer", "password": "a password of some length"}))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let mut seen = Vec::new();
    let mut path = "/api/v1/users?limit=2".to_string();
    loop {
        let page: Page<User> = admin.get(&path).await.json().await.unwrap();
        assert!(page.items.len() <= 2);
        seen.extend(page.items.into_iter().map(|u| u.username));
        match page.next_cursor {
            Some(c) => path = format!("/api/v1/users?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5, "{seen:?}");
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, seen);
    // An empty cursor is no cursor: the first page.
    let first: Page<User> = admin
        .get("/api/v1/users?limit=2&cursor=")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        first.items.iter().map(|u| &u.username).collect::<Vec<_>>(),
        seen[..2].iter().collect::<Vec<_>>()
    );
    for bad in ["limit=0", "limit=201", "cursor=%%%"] {
        let res = admin.get(&format!("/api/v1/users?{bad}")).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(error_code(res).await, "invalid_parameter");
    }
}

async fn another_subscriptions_users_are_invisible(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser { id: user_id, .. } = app.user(&admin, Role::Editor).await;
    let OtherSubscription { admin: other, .. } = app.second_subscription().await;
    let path = format!("/api/v1/users/{user_id}");
    let not_found = [
        other.get(&path).await,
        other.patch(&path, &json!({"role": "viewer"})).await,
        other.delete(&path).await,
        other.get("/api/v1/users/not-a-uuid").await,
        other
            .get(&format!("/api/v1/users/{}", uuid::Uuid::new_v4()))
            .await,
    ];
    for res in not_found {
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert_eq!(error_code(res).await, "not_found");
    }
    let list: Page<User> = other.get("/api/v1/users").await.json().await.unwrap();
    assert_eq!(list.items.len(), 1);
    assert!(
        list.items
            .iter()
            .all(|u| u.id != user_id && u.id != app.admin_id)
    );
    // The user is untouched.
    let u: User = admin.get(&path).await.json().await.unwrap();
    assert_eq!(u.role, Role::Editor);
    let audit: Value = other
        .get("/api/v1/audit-events")
        .await
        .json()
        .await
        .unwrap();
    assert!(!audit.to_string().contains(&app.admin_username));
}

async fn two_admins_demoting_each_other_at_once_leave_one_admin(b: Backend) {
    use diesel::prelude::*;
    use gatehouse_server::db::schema::users;
    let app = spawn_app(b).await;
    let first = app.admin().await;
    let NewUser {
        client: second,
        id: second_id,
        ..
    } = app.user(&first, Role::Admin).await;
    let (path_second, path_first) = (
        format!("/api/v1/users/{second_id}"),
        format!("/api/v1/users/{}", app.admin_id),
    );
    let demote = json!({"role": "viewer"});
    let (a, b) = tokio::join!(
        first.patch(&path_second, &demote),
        second.patch(&path_first, &demote),
    );
    let mut statuses = [a.status(), b.status()];
    statuses.sort();
    // One wins. The loser is refused as the last admin or, when the winner's change
    // landed before its request was authorized, as no longer an admin at all.
    assert_eq!(statuses[0], StatusCode::OK, "{statuses:?}");
    assert!(
        matches!(statuses[1], StatusCode::CONFLICT | StatusCode::FORBIDDEN),
        "{statuses:?}"
    );
    let admins: i64 = app.with_db(|conn| {
        users::table
            .filter(users::role.eq("admin"))
            .count()
            .get_result(conn)
            .unwrap()
    });
    assert_eq!(admins, 1);
}

/// A person who forgot their password gets a generated one from an admin, shown once:
/// the old one stops, their sessions end, a password lock lifts; their keys keep working.
async fn admins_reset_a_forgotten_password_to_a_temporary_one(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser {
        client: ada,
        id,
        username,
    } = app.user(&admin, Role::Editor).await;
    let key = app.api_key(&ada, "read_only").await;
    // Locked out by wrong guesses.
    for _ in 0..5 {
        app.anonymous()
            .post(
                "/api/v1/session",
                &json!({"username": username, "password": "not the password"}),
            )
            .await;
    }
    let res = admin
        .post(&format!("/api/v1/users/{id}/password"), &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let reset: gatehouse_types::PasswordReset = res.json().await.unwrap();
    assert!(reset.temporary_password.len() >= 16);
    assert_eq!(reset.sessions_ended, 1);
    assert_eq!(reset.user.password_locked_until, None);
    // Her session is over; her key still works.
    assert_eq!(
        ada.get("/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.with_key(&key.secret).get("/api/v1/me").await.status(),
        StatusCode::OK
    );
    // The old password is refused, the new one works (the lock is lifted).
    let res = app
        .anonymous()
        .post(
            "/api/v1/session",
            &json!({"username": username, "password": "a password of some length"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    app.sign_in(&username, &reset.temporary_password).await;
    // Audited, and never with the password.
    let events = admin
        .get_json("/api/v1/audit-events?action=user.password_reset")
        .await;
    let items = events["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["target_id"], id.as_str());
    // Named as it was, for people reading the log.
    assert_eq!(items[0]["details"]["target_name"], username.as_str());
    assert!(!events.to_string().contains(&reset.temporary_password));
    // Shown once: reading the user again does not show it.
    let fetched = admin.get_json(&format!("/api/v1/users/{id}")).await;
    assert!(!fetched.to_string().contains(&reset.temporary_password));
}

/// Signed in with a temporary password (a reset's, or a new user's generated one), the
/// session may only choose a new one; then it is free, and the next sign-in is too.
async fn a_temporary_password_holds_the_session_until_the_person_chooses_their_own(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let created: CreatedUser = admin
        .post(
            "/api/v1/users",
            &json!({"username": "linus@example.com", "role": "editor"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let temporary = created.initial_password.unwrap();
    let linus = app.sign_in("linus@example.com", &temporary).await;
    let session = linus.get_json("/api/v1/session").await;
    assert_eq!(session["credential"]["password_change_required"], true);
    // Reading one's profile is fine; anything else waits.
    assert_eq!(linus.get("/api/v1/me").await.status(), StatusCode::OK);
    for res in [
        linus.get("/api/v1/api-keys").await,
        linus
            .post(
                "/api/v1/api-keys",
                &json!({"name": "sneaky", "permission": "read_only"}),
            )
            .await,
        linus
            .patch("/api/v1/me", &json!({"display_name": "L"}))
            .await,
    ] {
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(error_code(res).await, "password_change_required");
    }
    // An app asking for a sign-in sends the person back to choose a password first.
    let reg =
        crate::helpers::oauth::register(&admin, false, &[crate::helpers::oauth::CALLBACK]).await;
    let res = linus
        .get(&format!(
            "/oauth/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid&state=s&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&prompt=none",
            reg.client_id,
            crate::helpers::oauth::CALLBACK
        ))
        .await;
    let location = res.headers()["location"].to_str().unwrap().to_string();
    assert!(location.contains("error=login_required"), "{location}");
    // Not the same password again.
    let res = linus
        .put(
            "/api/v1/me/password",
            &json!({"current_password": temporary, "new_password": temporary}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"]["details"]["field"],
        "new_password"
    );
    let res = linus
        .put(
            "/api/v1/me/password",
            &json!({"current_password": temporary, "new_password": "linus own passphrase"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // Free at once, in this session and the next.
    assert_eq!(linus.get("/api/v1/api-keys").await.status(), StatusCode::OK);
    let session = linus.get_json("/api/v1/session").await;
    assert_eq!(session["credential"]["password_change_required"], false);
    let again = app
        .sign_in("linus@example.com", "linus own passphrase")
        .await;
    assert_eq!(again.get("/api/v1/api-keys").await.status(), StatusCode::OK);
    // A password the admin chose is the person's from the start.
    admin
        .post("/api/v1/users", &json!({"username": "ken@example.com", "role": "viewer", "password": "chosen by the admin"}))
        .await;
    let ken = app.sign_in("ken@example.com", "chosen by the admin").await;
    assert_eq!(ken.get("/api/v1/api-keys").await.status(), StatusCode::OK);
}

async fn password_resets_are_for_admins_and_other_people_of_the_subscription(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser {
        client: editor,
        id: editor_id,
        ..
    } = app.user(&admin, Role::Editor).await;
    let NewUser { id: viewer_id, .. } = app.user(&admin, Role::Viewer).await;
    let reset = |who: &str| format!("/api/v1/users/{who}/password");
    let res = editor.post(&reset(&viewer_id), &json!({})).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // One's own password is changed with the current one, in one's profile.
    let me: User = admin.get("/api/v1/me").await.json().await.unwrap();
    let res = admin.post(&reset(&me.id), &json!({})).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    // Another subscription's person does not exist here.
    let OtherSubscription { admin: other, .. } = app.second_subscription().await;
    let res = other.post(&reset(&editor_id), &json!({})).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = admin.post(&reset("not-a-uuid"), &json!({})).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // The editor still signs in with their own password: nothing changed.
    assert_eq!(editor.get("/api/v1/me").await.status(), StatusCode::OK);
    // Sudo mode: eleven minutes after signing in, the admin confirms first.
    app.state.clock.advance(chrono::TimeDelta::minutes(11));
    let res = admin.post(&reset(&viewer_id), &json!({})).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, "sudo_required");
}

/// What an attacker who learned a temporary password would try: free the session by
/// adding a passkey or recovery codes first, keep the password by "changing" it to
/// itself, or use it days later.
async fn a_temporary_password_cannot_be_dodged_or_kept(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let created: CreatedUser = admin
        .post(
            "/api/v1/users",
            &json!({"username": "mallory@example.com", "role": "editor"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let temporary = created.initial_password.unwrap();
    let held = app.sign_in("mallory@example.com", &temporary).await;
    for res in [
        held.post(
            "/api/v1/me/second-factors/passkey",
            &json!({"name": "mine"}),
        )
        .await,
        held.post("/api/v1/me/second-factors/totp", &json!({}))
            .await,
        held.post("/api/v1/me/recovery-codes", &json!({})).await,
    ] {
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(error_code(res).await, "password_change_required");
    }
    // Three days on, the unused temporary password no longer signs in, and says why
    // (only after it proved right: a wrong one is just wrong).
    app.state
        .clock
        .advance(chrono::TimeDelta::days(3) + chrono::TimeDelta::minutes(1));
    let res = app
        .anonymous()
        .post(
            "/api/v1/session",
            &json!({"username": "mallory@example.com", "password": temporary}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(res).await, "temporary_password_expired");
    let res = app
        .anonymous()
        .post(
            "/api/v1/session",
            &json!({"username": "mallory@example.com", "password": "not the password at all"}),
        )
        .await;
    assert_eq!(error_code(res).await, "invalid_credentials");
    // A fresh reset works again; the admin confirms their password first (sudo).
    let admin = app.admin().await;
    let reset: gatehouse_types::PasswordReset = admin
        .post(
            &format!("/api/v1/users/{}/password", created.user.id),
            &json!({}),
        )
        .await
        .json()
        .await
        .unwrap();
    let held = app
        .sign_in("mallory@example.com", &reset.temporary_password)
        .await;
    let res = held
        .put(
            "/api/v1/me/password",
            &json!({"current_password": reset.temporary_password, "new_password": reset.temporary_password}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Debug output never holds it.
    assert!(!format!("{reset:?}").contains(&reset.temporary_password));
}
