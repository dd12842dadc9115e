//! Two server processes' worth of `Application` on one database, as
//! docker-compose runs them: they start together, and a session made on one is
//! honoured, and ended, on the other.

use gatehouse_types::{Role, User, UserState};
use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::helpers::{Backend, IssuedKey, NewUser, spawn_replicas};

both_backends!(
    two_replicas_share_one_database,
    a_key_revoked_on_one_replica_stops_on_the_other_within_the_cache_ttl,
);

async fn two_replicas_share_one_database(b: Backend) {
    // Both migrate at once; neither may fail (`spawn_replicas` builds them together).
    let (one, two) = spawn_replicas(b, |_| {}).await;
    let admin = one.admin().await;
    let NewUser {
        client: eve,
        id: eve_id,
        username,
    } = one.user(&admin, Role::Editor).await;
    // Eve's session, made on replica one, works on replica two as well, and so does one
    // made on replica two.
    let token = eve.session_token.clone().expect("a session cookie");
    let on_two = two
        .anonymous()
        .http
        .get(two.url("/api/v1/me"))
        .header("Cookie", format!("gatehouse_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(on_two.status(), StatusCode::OK);
    let me: User = on_two.json().await.unwrap();
    assert_eq!(me.id, eve_id);
    let eve_on_two = two.sign_in(&username, "a password of some length").await;
    assert_eq!(eve_on_two.get("/api/v1/me").await.status(), StatusCode::OK);
    // The admin disables Eve on replica one: replica two refuses her at once (sessions
    // are read from the database on every request).
    let res = admin
        .patch(
            &format!("/api/v1/users/{eve_id}"),
            &json!({"state": UserState::Disabled}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        eve_on_two.get("/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        eve.get("/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

/// ARCHITECTURE.md's bound: a revocation is immediate on the replica that made it, and
/// reaches the others within `credential_cache_seconds`.
async fn a_key_revoked_on_one_replica_stops_on_the_other_within_the_cache_ttl(b: Backend) {
    let (one, two) = spawn_replicas(b, |s| s.credential_cache_seconds = 1).await;
    let admin = one.admin().await;
    let IssuedKey { secret, id } = one.api_key(&admin, "read_only").await;
    // Both replicas now hold the key in their caches.
    let (key_on_one, key_on_two) = (one.with_key(&secret), two.with_key(&secret));
    assert_eq!(
        key_on_one.get("/api/v1/session").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        key_on_two.get("/api/v1/session").await.status(),
        StatusCode::OK
    );
    let res = admin.delete(&format!("/api/v1/api-keys/{id}")).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // At once on the replica that deleted it.
    assert_eq!(
        key_on_one.get("/api/v1/session").await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Within the TTL (1 s here) on the other.
    actix_web::rt::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        key_on_two.get("/api/v1/session").await.status(),
        StatusCode::UNAUTHORIZED
    );
}
