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
    replicas_starting_together_sign_with_the_same_keys,
    a_key_revoked_on_one_replica_stops_on_the_other_within_the_cache_ttl,
    a_callback_removed_on_one_replica_gets_no_redirect_from_the_other,
    a_device_allowed_on_one_replica_gets_its_tokens_from_the_other,
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

/// Started together on an empty database, the replicas take turns to make the first
/// signing keys: both publish the same ones, so either's tokens verify on the other.
async fn replicas_starting_together_sign_with_the_same_keys(b: Backend) {
    let (one, two) = spawn_replicas(b, |_| {}).await;
    let jwks = |app: &crate::helpers::TestApp| {
        let url = app.url("/oauth/jwks");
        async move {
            let keys: serde_json::Value = reqwest::get(url).await.unwrap().json().await.unwrap();
            let mut kids: Vec<String> = keys["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["kid"].as_str().unwrap().to_string())
                .collect();
            kids.sort();
            kids
        }
    };
    let (on_one, on_two) = (jwks(&one).await, jwks(&two).await);
    assert_eq!(on_one.len(), 2, "one Ed25519 and one RSA key: {on_one:?}");
    assert_eq!(on_one, on_two);
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

/// docs/PRODUCT.md §4: a callback URL that is not registered gets an error page, never a
/// redirect — also on a replica whose client cache still holds the old list (the
/// authorization endpoint reads the client from the database).
async fn a_callback_removed_on_one_replica_gets_no_redirect_from_the_other(b: Backend) {
    let (one, two) = spawn_replicas(b, |s| s.credential_cache_seconds = 60).await;
    let admin = one.admin().await;
    let dropped = "https://old.example.com/callback";
    let reg =
        crate::helpers::oauth::register(&admin, false, &[crate::helpers::oauth::CALLBACK, dropped])
            .await;
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
            &json!({"redirect_uris": [crate::helpers::oauth::CALLBACK]}),
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

/// Polls `client`'s `GET path` until it answers 401, and returns how long that took
/// from `since`; panics after `limit`.
async fn refused_after(
    client: &crate::helpers::Client,
    path: &str,
    since: std::time::Instant,
    limit: std::time::Duration,
) -> std::time::Duration {
    loop {
        let status = client.get(path).await.status();
        if status == StatusCode::UNAUTHORIZED {
            return since.elapsed();
        }
        assert_eq!(status, StatusCode::OK, "{path}: only OK until refused");
        assert!(
            since.elapsed() < limit,
            "{path} still accepted after {limit:?}"
        );
        actix_web::rt::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

/// On PostgreSQL a change made on one replica reaches the other as soon as it commits
/// (`LISTEN`/`NOTIFY`), not after the cache TTL, which is a minute here so that it
/// cannot be what ends the credential. Prints the propagation times: the time from the
/// answer to the change on replica one to the first refusal on replica two.
#[actix_web::test]
async fn changes_reach_the_other_replica_as_they_commit() {
    if crate::helpers::postgres_skipped() {
        return;
    }
    let limit = std::time::Duration::from_secs(5);
    // One public address for both, as behind a load balancer: tokens name it as their
    // issuer and audience.
    let (one, two) = spawn_replicas(Backend::Postgres, |s| {
        s.credential_cache_seconds = 60;
        s.public_url = "http://gatehouse.test".into();
    })
    .await;
    let admin = one.admin().await;

    // Keys deleted and reset on one: refused on two.
    let mut times = Vec::new();
    for i in 0..20 {
        let IssuedKey { secret, id } = one.api_key(&admin, "read_only").await;
        let on_two = two.with_key(&secret);
        assert_eq!(on_two.get("/api/v1/session").await.status(), StatusCode::OK);
        let (res, at) = if i % 2 == 0 {
            let res = admin.delete(&format!("/api/v1/api-keys/{id}")).await;
            (res.status(), std::time::Instant::now())
        } else {
            let res = admin
                .post(&format!("/api/v1/api-keys/{id}/reset"), &json!({}))
                .await;
            (res.status(), std::time::Instant::now())
        };
        assert!(res.is_success(), "{res}");
        times.push(refused_after(&on_two, "/api/v1/session", at, limit).await);
    }

    // A user disabled on one: their key and their OAuth access token stop on two.
    let NewUser {
        client: eve,
        id: eve_id,
        ..
    } = one.user(&admin, Role::Editor).await;
    let IssuedKey { secret, .. } = one.api_key(&eve, "read_only").await;
    let reg =
        crate::helpers::oauth::register(&admin, false, &[crate::helpers::oauth::CALLBACK]).await;
    let tokens = crate::helpers::oauth::authorize(&one, &eve, &reg, &["api:read"]).await;
    let token_on_two = two.with_key(oauth2::TokenResponse::access_token(&tokens).secret());
    let key_on_two = two.with_key(&secret);
    assert_eq!(
        token_on_two.get("/api/v1/me").await.status(),
        StatusCode::OK
    );
    assert_eq!(key_on_two.get("/api/v1/me").await.status(), StatusCode::OK);
    let res = admin
        .patch(
            &format!("/api/v1/users/{eve_id}"),
            &json!({"state": "disabled"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let at = std::time::Instant::now();
    times.push(refused_after(&key_on_two, "/api/v1/me", at, limit).await);
    times.push(refused_after(&token_on_two, "/api/v1/me", at, limit).await);

    // A grant revoked on one: its access token stops on two.
    let tokens = crate::helpers::oauth::authorize(&one, &admin, &reg, &["api:read"]).await;
    let token_on_two = two.with_key(oauth2::TokenResponse::access_token(&tokens).secret());
    assert_eq!(
        token_on_two.get("/api/v1/me").await.status(),
        StatusCode::OK
    );
    let apps: serde_json::Value = admin
        .get("/api/v1/authorized-apps")
        .await
        .json()
        .await
        .unwrap();
    let grant = apps["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["state"] == "active")
        .expect("the admin's grant")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let res = admin
        .post(
            &format!("/api/v1/authorized-apps/{grant}/revoke"),
            &json!({}),
        )
        .await;
    assert!(res.status().is_success(), "{}", res.status());
    let at = std::time::Instant::now();
    times.push(refused_after(&token_on_two, "/api/v1/me", at, limit).await);

    times.sort();
    let ms = |d: &std::time::Duration| d.as_secs_f64() * 1000.0;
    println!(
        "replica propagation over {} changes: min {:.1} ms, median {:.1} ms, max {:.1} ms",
        times.len(),
        ms(&times[0]),
        ms(&times[times.len() / 2]),
        ms(times.last().unwrap()),
    );
}

/// A replica whose listening connection is lost may miss messages: when it reconnects
/// it forgets every cached credential. Here the key is deleted behind the servers'
/// backs (no message at all), then the listening connections are cut.
#[actix_web::test]
async fn a_replica_that_lost_its_messages_forgets_on_reconnecting() {
    if crate::helpers::postgres_skipped() {
        return;
    }
    use diesel::RunQueryDsl;
    let (one, two) = spawn_replicas(Backend::Postgres, |s| s.credential_cache_seconds = 60).await;
    let admin = one.admin().await;
    let IssuedKey { secret, id } = one.api_key(&admin, "read_only").await;
    let on_two = two.with_key(&secret);
    assert_eq!(on_two.get("/api/v1/session").await.status(), StatusCode::OK);
    one.with_db(|conn| {
        diesel::sql_query("DELETE FROM api_keys WHERE id = $1")
            .bind::<diesel::sql_types::Text, _>(&id)
            .execute(conn)
            .unwrap()
    });
    // Unknown to both replicas: replica two still serves it from its cache.
    assert_eq!(on_two.get("/api/v1/session").await.status(), StatusCode::OK);
    // Messages that are not Gatehouse's (anyone who can connect may send some) do not
    // empty the caches.
    one.with_db(|conn| {
        diesel::sql_query(
            "SELECT pg_notify('gatehouse_changes', m) FROM unnest(ARRAY['garbage', 'token:x', '']) m",
        )
        .execute(conn)
        .unwrap()
    });
    actix_web::rt::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(on_two.get("/api/v1/session").await.status(), StatusCode::OK);
    let cut = one.with_db(|conn| {
        diesel::sql_query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = 'gatehouse-notify'",
        )
        .execute(conn)
        .unwrap()
    });
    assert_eq!(cut, 2, "one listening connection per replica");
    let at = std::time::Instant::now();
    refused_after(
        &on_two,
        "/api/v1/session",
        at,
        std::time::Duration::from_secs(10),
    )
    .await;
}

/// A waiting device code is remembered by the replica it polls (`auth::device_polls`):
/// a decision made on the other replica reaches it at its next poll on PostgreSQL
/// (`NOTIFY`), and within 15 s on one SQLite file (which sends no messages).
async fn a_device_allowed_on_one_replica_gets_its_tokens_from_the_other(b: Backend) {
    use crate::client_kinds::{cli_client, poll, start_device};
    let (one, two) = spawn_replicas(b, |_| {}).await;
    let admin = one.admin().await;
    let NewUser { client: eve, .. } = one.user(&admin, Role::Editor).await;
    let reg = cli_client(&admin).await;
    let d = start_device(&two, &reg, "api:read").await;
    let device_code = d["device_code"].as_str().unwrap();
    let pending = |v: &serde_json::Value| v["error"] == "authorization_pending";
    let (status, v) = poll(&two, &reg, device_code).await;
    assert!(status == StatusCode::BAD_REQUEST && pending(&v), "{v}");
    let res = eve
        .post(
            "/api/v1/oauth/device/decision",
            &json!({"user_code": d["user_code"], "decision": "allow"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let answer = match b {
        Backend::Postgres => {
            // The message takes milliseconds; a second is plenty. Then one poll after
            // the interval, well within the 15 s the replica would otherwise believe
            // its memory.
            actix_web::rt::time::sleep(std::time::Duration::from_secs(1)).await;
            two.state.clock.advance(chrono::TimeDelta::seconds(6));
            let (status, v) = poll(&two, &reg, device_code).await;
            assert_eq!(status, StatusCode::OK, "told at once: {v}");
            v
        }
        Backend::Sqlite => {
            two.state.clock.advance(chrono::TimeDelta::seconds(6));
            let (_, v) = poll(&two, &reg, device_code).await;
            assert!(pending(&v), "still remembered as waiting: {v}");
            two.state.clock.advance(chrono::TimeDelta::seconds(10));
            let (status, v) = poll(&two, &reg, device_code).await;
            assert_eq!(status, StatusCode::OK, "read again after 15 s: {v}");
            v
        }
    };
    let tokens = answer;
    let access = tokens["access_token"].as_str().unwrap();
    // (On replica two: its clock is the one moved ahead.)
    assert_eq!(
        two.with_key(access).get("/api/v1/session").await.status(),
        StatusCode::OK
    );
}
