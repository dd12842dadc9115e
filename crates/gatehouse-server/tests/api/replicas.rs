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
    a_callback_removed_on_one_replica_gets_no_redirect_from_the_other,
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

/// PRODUCT.md §4: a callback URL that is not registered gets an error page, never a
/// redirect — also on a replica whose client cache still holds the old list (the
/// authorization endpoint reads the client from the database).
async fn a_callback_removed_on_one_replica_gets_no_redirect_from_the_other(b: Backend) {
    let (one, two) = spawn_replicas(b, |s| s.credential_cache_seconds = 60).await;
    let admin = one.admin().await;
    let dropped = "https://old.example.com/callback";
    let reg = crate::oauth::register(&admin, false, &[crate::oauth::CALLBACK, dropped]).await;
    // Replica two caches the client: it authenticates it at the token endpoint.
    let res = two
        .anonymous()
        .http
        .post(two.url("/oauth/token"))
        .basic_auth(&reg.client_id, reg.secret.as_deref())
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::BAD_REQUEST,
        "authenticated, then refused"
    );
    let res = admin
        .patch(
            &format!("/api/v1/oauth-clients/{}", reg.id),
            &json!({"redirect_uris": [crate::oauth::CALLBACK]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // On replica two, a request naming the dropped callback (and a response type that
    // would be answered by redirect) gets a page.
    let query = format!(
        "/oauth/authorize?client_id={}&redirect_uri={}&response_type=token&state=s",
        reg.client_id,
        url::form_urlencoded::byte_serialize(dropped.as_bytes()).collect::<String>()
    );
    let res = two.anonymous().get(&query).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.headers().get("location").is_none());
}
