//! The JSON error body of docs/PRODUCT.md §7 for every kind of bad input, and the headers
//! every answer carries.

use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::helpers::{Backend, IssuedKey, error_code, spawn_app};

both_backends!(
    unknown_routes_answer_json_404,
    wrong_method_answers_json_405,
    malformed_json_is_400_and_wrong_shape_is_400,
    wrong_content_type_is_415,
    oversized_body_is_413,
    validation_failure_is_422_with_the_field,
    health_probes_answer,
    responses_carry_request_id_and_security_headers,
    head_works_wherever_get_does,
    answers_that_carry_secrets_are_never_stored,
    refused_tokens_get_fixed_descriptions,
);

/// RFC 6750 errors on userinfo and the API: fixed sentences, nothing of the presented
/// token echoed in a header or body, and no input breaks a header.
async fn refused_tokens_get_fixed_descriptions(b: Backend) {
    let app = spawn_app(b).await;
    let hostile = [
        "eyJhbGciOiJFZERTQSIsInR5cCI6ImF0K2p3dCJ9.e30\"quoted\".sig",
        "not-a-jwt-at-all-ECHO-ME",
        "eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJFQ0hPLU1FIn0.ECHO-ME",
        "a.b.c",
    ];
    for token in hostile {
        for path in ["/oauth/userinfo", "/api/v1/session"] {
            let res = app
                .anonymous()
                .request(reqwest::Method::GET, path)
                .header("Authorization", format!("Bearer {token}"))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{path} {token}");
            let www = res.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .to_string();
            assert!(www.starts_with("Bearer realm=\"gatehouse\""), "{www}");
            let body = res.text().await.unwrap();
            for part in token.split('.').filter(|p| p.len() > 5) {
                assert!(
                    !www.contains(part),
                    "{path}: header echoes the token: {www}"
                );
                assert!(
                    !body.contains(part),
                    "{path}: body echoes the token: {body}"
                );
            }
            assert!(
                !www.contains("ECHO") && !body.contains("ECHO"),
                "{path}: {www} {body}"
            );
        }
    }
    // The two descriptions userinfo gives are fixed sentences.
    let res = app
        .anonymous()
        .request(reqwest::Method::GET, "/oauth/userinfo")
        .header("Authorization", "Bearer a.b.c")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["www-authenticate"],
        "Bearer realm=\"gatehouse\", error=\"invalid_token\", error_description=\"The access token is not valid.\""
    );
}

async fn unknown_routes_answer_json_404(b: Backend) {
    let app = spawn_app(b).await;
    let c = app.anonymous();
    // Other unknown paths are the web app's (its own not-found page): see `web`.
    for path in [
        "/api/v1/nothing-here",
        "/api/v2/session",
        "/oauth/nothing-here",
        "/.well-known/nothing-here",
    ] {
        let res = c.get(path).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(error_code(res).await, "not_found");
    }
}

async fn wrong_method_answers_json_405(b: Backend) {
    let app = spawn_app(b).await;
    let c = app.anonymous();
    // Every 405 names what the path does accept (RFC 9110 §15.5.6).
    for (method, path, allow) in [
        (
            reqwest::Method::PUT,
            "/api/v1/session",
            "GET, HEAD, POST, DELETE",
        ),
        (reqwest::Method::DELETE, "/healthz", "GET, HEAD"),
        (reqwest::Method::PUT, "/api/v1/api-keys", "GET, HEAD, POST"),
        (reqwest::Method::GET, "/oauth/token", "POST"),
        (
            reqwest::Method::DELETE,
            "/oauth/userinfo",
            "GET, HEAD, POST",
        ),
        (reqwest::Method::POST, "/keys", "GET, HEAD"),
    ] {
        let res = c.request(method.clone(), path).send().await.unwrap();
        assert_eq!(
            res.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        let got = res
            .headers()
            .get("allow")
            .map(|v| v.to_str().unwrap().to_string());
        assert_eq!(got.as_deref(), Some(allow), "{method} {path}");
        assert_eq!(error_code(res).await, "method_not_allowed");
    }
}

async fn head_works_wherever_get_does(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let IssuedKey { secret: key, .. } = app.api_key(&admin, "read_only").await;
    let with_key = app.with_key(&key);
    for path in [
        "/api/v1/session",
        "/api/v1/api-keys",
        "/api/v1/subscription",
    ] {
        let get = with_key.get(path).await;
        assert_eq!(get.status(), StatusCode::OK, "GET {path}");
        let head = with_key
            .request(reqwest::Method::HEAD, path)
            .send()
            .await
            .unwrap();
        assert_eq!(head.status(), StatusCode::OK, "HEAD {path}");
        assert!(
            head.bytes().await.unwrap().is_empty(),
            "HEAD {path} has no body"
        );
    }
    let anon = app.anonymous();
    for path in [
        "/healthz",
        "/oauth/jwks",
        "/.well-known/openid-configuration",
    ] {
        let head = anon
            .request(reqwest::Method::HEAD, path)
            .send()
            .await
            .unwrap();
        assert_eq!(head.status(), StatusCode::OK, "HEAD {path}");
    }
    // HEAD is judged like GET: no credential, no answer.
    let head = anon
        .request(reqwest::Method::HEAD, "/api/v1/api-keys")
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::UNAUTHORIZED);
}

async fn answers_that_carry_secrets_are_never_stored(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let no_store = |res: &reqwest::Response, what: &str| {
        let cc = res
            .headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap().to_string());
        assert_eq!(cc.as_deref(), Some("no-store"), "{what}");
    };
    let res = admin.get("/api/v1/session").await;
    no_store(&res, "the session with its CSRF token");
    let res = admin
        .post(
            "/api/v1/users",
            &json!({"username": "gen@example.com", "role": "viewer"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    no_store(&res, "a generated password");
    let res = admin
        .post(
            "/api/v1/api-keys",
            &json!({"name": "k", "permission": "read_only"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    no_store(&res, "a key's secret");
    let id = res.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let res = admin
        .post(&format!("/api/v1/api-keys/{id}/reset"), &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    no_store(&res, "a reset key's secret");
    let res = admin
        .post(
            "/api/v1/oauth-clients",
            &json!({"name": "c", "redirect_uris": ["https://c.example.com/cb"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    no_store(&res, "a client secret");
    let res = admin.get("/api/v1/users").await;
    no_store(&res, "any API answer");
}

async fn malformed_json_is_400_and_wrong_shape_is_400(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let res = admin
        .request(reqwest::Method::POST, "/api/v1/users")
        .header("content-type", "application/json")
        .body("{\"username\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(res).await, "malformed_json");

    let res = admin
        .post(
            "/api/v1/users",
            &json!({"username": "bob@example.com", "role": "emperor"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_body");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("emperor")
    );

    let res = admin
        .post(
            "/api/v1/users",
            &json!({"username": "bob@example.com", "role": "viewer", "colour": "red"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(res).await, "invalid_body");

    let res = admin.get("/api/v1/users?limit=lots").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(res).await, "invalid_parameter");

    // An array is not an object, even where serde would read the fields from it in
    // order: a patch of `[null, null]`, or a whole user as a list.
    let before: serde_json::Value = admin
        .get("/api/v1/subscription")
        .await
        .json()
        .await
        .unwrap();
    for (path, body) in [
        ("/api/v1/subscription", json!([null, null])),
        ("/api/v1/subscription", json!(["Renamed"])),
        (
            "/api/v1/users",
            json!(["bob@example.com", null, null, "viewer"]),
        ),
    ] {
        let method = if path.ends_with("subscription") {
            reqwest::Method::PATCH
        } else {
            reqwest::Method::POST
        };
        let res = admin
            .request(method, path)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{path} {body}");
        assert_eq!(error_code(res).await, "invalid_body", "{path} {body}");
    }
    let after: serde_json::Value = admin
        .get("/api/v1/subscription")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(before, after);

    // Nothing was created by any of it.
    let list: serde_json::Value = admin.get("/api/v1/users").await.json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

async fn wrong_content_type_is_415(b: Backend) {
    let app = spawn_app(b).await;
    let res = app
        .anonymous()
        .request(reqwest::Method::POST, "/api/v1/session")
        .header("content-type", "text/plain")
        .body(format!(
            "{{\"username\":\"{}\",\"password\":\"{}\"}}",
            app.admin_username,
            crate::helpers::ADMIN_PASSWORD
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(res.headers().get("set-cookie").is_none());
    assert_eq!(error_code(res).await, "unsupported_media_type");
}

async fn oversized_body_is_413(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let res = admin
        .patch("/api/v1/me", &json!({"display_name": "x".repeat(100_000)}))
        .await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(res).await, "payload_too_large");
}

async fn validation_failure_is_422_with_the_field(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let res = admin
        .post(
            "/api/v1/users",
            &json!({"username": "no spaces allowed", "role": "viewer"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "validation_failed");
    assert_eq!(body["error"]["details"]["field"], "username");
}

async fn health_probes_answer(b: Backend) {
    let app = spawn_app(b).await;
    let c = app.anonymous();
    let res = c.get("/healthz").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["status"],
        "ok"
    );
    let res = c.get("/readyz").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["status"],
        "ready"
    );
}

async fn responses_carry_request_id_and_security_headers(b: Backend) {
    let app = spawn_app(b).await;
    let res = app.anonymous().get("/api/v1/session").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let h = res.headers();
    let id = h.get("x-request-id").unwrap().to_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok());
    assert_eq!(h.get("x-content-type-options").unwrap(), "nosniff");
    assert_eq!(
        h.get("content-type").unwrap(),
        "application/json; charset=utf-8"
    );
    assert!(
        h.get("www-authenticate")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    assert_eq!(error_code(res).await, "unauthenticated");
}
