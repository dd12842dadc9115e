//! Tenant isolation, walked route by route: every route that names a record, and every
//! list, called with every kind of credential of a second subscription — its admin's
//! session, a full-access and a read-only key (as `Authorization: Bearer` and as
//! `ZSESSIONID`), and an OAuth access token — finds nothing of the first subscription's
//! (404, or 403 where the credential may not do the thing at all, never 200), and
//! afterwards nothing of the first subscription has changed.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, Client, IssuedKey, NewUser, OtherSubscription, TestApp, spawn_app};
use gatehouse_types::Role;

both_backends!(every_route_keeps_subscriptions_apart);

/// What subscription A looks like to its own admin, without the times that a read
/// moves (`last_used_at`).
async fn snapshot(admin: &Client) -> Vec<Value> {
    let mut out = Vec::new();
    for path in [
        "/api/v1/users?limit=200",
        "/api/v1/subscription/api-keys?limit=200",
        "/api/v1/api-keys?limit=200",
        "/api/v1/oauth-clients?limit=200",
        "/api/v1/authorized-apps?limit=200",
        "/api/v1/subscription",
    ] {
        let mut body: Value = admin.get(path).await.json().await.unwrap();
        strip(&mut body);
        out.push(json!({"path": path, "body": body}));
    }
    out
}

fn strip(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.remove("last_used_at");
            map.values_mut().for_each(strip);
        }
        Value::Array(items) => items.iter_mut().for_each(strip),
        _ => {}
    }
}

/// B's credentials, by name.
async fn credentials(app: &TestApp, other: &OtherSubscription) -> Vec<(&'static str, Client)> {
    let full = app.api_key(&other.admin, "full_access").await.secret;
    let read = app.api_key(&other.admin, "read_only").await.secret;
    let reg =
        crate::helpers::oauth::register(&other.admin, false, &[crate::helpers::oauth::CALLBACK])
            .await;
    let tokens =
        crate::helpers::oauth::authorize(app, &other.admin, &reg, &["api:read", "api:write"]).await;
    let token = oauth2::TokenResponse::access_token(&tokens)
        .secret()
        .clone();
    let admin = app
        .sign_in(&other.username, crate::helpers::ADMIN_PASSWORD)
        .await;
    vec![
        ("session", admin),
        ("full-access key", app.with_key(&full)),
        (
            "full-access key as ZSESSIONID",
            app.with_header("ZSESSIONID", &full),
        ),
        ("read-only key", app.with_key(&read)),
        ("OAuth access token", app.with_key(&token)),
    ]
}

async fn every_route_keeps_subscriptions_apart(b: Backend) {
    let app = spawn_app(b).await;
    // Subscription A: a user with a key, an OAuth client with a grant and tokens, and
    // a consent request left open.
    let admin = app.admin().await;
    let NewUser {
        client: eve,
        id: eve_id,
        ..
    } = app.user(&admin, Role::Editor).await;
    let IssuedKey {
        secret: eve_key,
        id: key_id,
    } = app.api_key(&eve, "full_access").await;
    let reg =
        crate::helpers::oauth::register(&admin, false, &[crate::helpers::oauth::CALLBACK]).await;
    let tokens = crate::helpers::oauth::authorize(&app, &eve, &reg, &["api:read"]).await;
    let refresh = oauth2::TokenResponse::refresh_token(&tokens)
        .unwrap()
        .secret()
        .clone();
    let access = oauth2::TokenResponse::access_token(&tokens)
        .secret()
        .clone();
    let apps: Value = eve
        .get("/api/v1/authorized-apps")
        .await
        .json()
        .await
        .unwrap();
    let grant_id = apps["items"][0]["id"].as_str().unwrap().to_string();
    let open = eve
        .http
        .get(app.url(&format!(
            "/oauth/authorize?response_type=code&client_id={}&redirect_uri={}&scope=api:write&prompt=consent",
            reg.client_id,
            crate::helpers::oauth::CALLBACK
        )))
        .send()
        .await
        .unwrap();
    let request_id = open.headers()["location"]
        .to_str()
        .unwrap()
        .strip_prefix("/authorize?request=")
        .expect("a consent request")
        .to_string();
    let before = snapshot(&admin).await;

    let other = app.second_subscription().await;
    let walk: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/api/v1/users/{eve_id}"), None),
        (
            Method::PATCH,
            format!("/api/v1/users/{eve_id}"),
            Some(json!({"state": "disabled"})),
        ),
        (Method::DELETE, format!("/api/v1/users/{eve_id}"), None),
        (Method::GET, format!("/api/v1/api-keys/{key_id}"), None),
        (
            Method::PATCH,
            format!("/api/v1/api-keys/{key_id}"),
            Some(json!({"name": "mine now"})),
        ),
        (
            Method::POST,
            format!("/api/v1/api-keys/{key_id}/reset"),
            Some(json!({})),
        ),
        (Method::DELETE, format!("/api/v1/api-keys/{key_id}"), None),
        (
            Method::GET,
            format!("/api/v1/oauth-clients/{}", reg.id),
            None,
        ),
        (
            Method::PATCH,
            format!("/api/v1/oauth-clients/{}", reg.id),
            Some(json!({"name": "mine now"})),
        ),
        (
            Method::POST,
            format!("/api/v1/oauth-clients/{}/reset-secret", reg.id),
            Some(json!({})),
        ),
        (
            Method::DELETE,
            format!("/api/v1/oauth-clients/{}", reg.id),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/authorized-apps/{grant_id}/revoke"),
            Some(json!({})),
        ),
        (
            Method::GET,
            format!("/api/v1/oauth/requests/{request_id}"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/oauth/requests/{request_id}"),
            Some(json!({"decision": "allow"})),
        ),
    ];
    // The walk names real records: their own subscription reads each of them.
    for (method, path, _) in walk.iter().filter(|(m, _, _)| m == Method::GET) {
        let own = if path.contains("/oauth/requests/") {
            &eve
        } else {
            &admin
        };
        let status = own
            .request(method.clone(), path)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::OK, "{path} for its own subscription");
    }
    let lists = [
        "/api/v1/users?limit=200",
        "/api/v1/api-keys?limit=200",
        "/api/v1/subscription/api-keys?limit=200",
        "/api/v1/oauth-clients?limit=200",
        "/api/v1/authorized-apps?limit=200",
        "/api/v1/audit-events?limit=200",
    ];
    let secrets_of_a = [
        eve_id.as_str(),
        key_id.as_str(),
        reg.id.as_str(),
        reg.client_id.as_str(),
        grant_id.as_str(),
        app.subscription_id.as_str(),
    ];
    for (kind, client) in credentials(&app, &other).await {
        for (method, path, body) in &walk {
            let mut rb = client.request(method.clone(), path);
            if let Some(body) = body {
                rb = rb.json(body);
            }
            let status = rb.send().await.unwrap().status();
            assert!(
                status == StatusCode::NOT_FOUND || status == StatusCode::FORBIDDEN,
                "{kind}: {method} {path} answered {status}"
            );
            if kind == "session" {
                assert_eq!(status, StatusCode::NOT_FOUND, "{kind}: {method} {path}");
            }
        }
        for path in lists {
            let res = client.get(path).await;
            let status = res.status();
            let text = res.text().await.unwrap();
            assert!(
                status == StatusCode::OK || status == StatusCode::FORBIDDEN,
                "{kind}: GET {path} answered {status}"
            );
            for id in secrets_of_a {
                assert!(
                    !text.contains(id),
                    "{kind}: GET {path} shows {id} of subscription A"
                );
            }
        }
        let mine: Value = client
            .get("/api/v1/subscription")
            .await
            .json()
            .await
            .unwrap_or_default();
        assert_ne!(
            mine["id"].as_str(),
            Some(app.subscription_id.as_str()),
            "{kind}"
        );
    }

    // The protocol: B's client cannot use, inspect or revoke A's tokens.
    let b_reg =
        crate::helpers::oauth::register(&other.admin, false, &[crate::helpers::oauth::CALLBACK])
            .await;
    let form = |pairs: &[(&str, &str)]| {
        crate::helpers::http_client()
            .post(app.url(pairs[0].1))
            .basic_auth(&b_reg.client_id, b_reg.secret.as_deref())
            .form(&pairs[1..])
    };
    let res = form(&[
        ("", "/oauth/token"),
        ("grant_type", "refresh_token"),
        ("refresh_token", &refresh),
    ])
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = form(&[("", "/oauth/introspect"), ("token", &access)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["active"], false);
    let res = form(&[("", "/oauth/introspect"), ("token", &refresh)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["active"], false);
    let res = form(&[("", "/oauth/revoke"), ("token", &refresh)])
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "RFC 7009: answered alike, revoking nothing"
    );

    // Nothing of A changed, and A's credentials all still work.
    assert_eq!(snapshot(&admin).await, before);
    assert_eq!(
        app.with_key(&eve_key).get("/api/v1/me").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.with_key(&access).get("/api/v1/me").await.status(),
        StatusCode::OK
    );
    let res = crate::helpers::http_client()
        .post(app.url("/oauth/token"))
        .basic_auth(&reg.client_id, reg.secret.as_deref())
        .form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "A's refresh token still works"
    );
    let view = eve
        .get(&format!("/api/v1/oauth/requests/{request_id}"))
        .await;
    assert_eq!(
        view.status(),
        StatusCode::OK,
        "A's consent request is still open"
    );
}
