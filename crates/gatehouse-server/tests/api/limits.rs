//! What a client may send, and how slowly: a head or a body that trickles in is cut off
//! (408), oversized headers and bodies and deeply nested JSON are refused with a clear
//! answer and change nothing, and every answer carries the security headers. Raw TCP
//! where an HTTP client library would not misbehave on purpose.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use gatehouse_server::limits::{BODY_TIMEOUT, HEAD_TIMEOUT};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Backend, TestApp, error_code, spawn_app};

/// Sends `head`, then `trickle` one byte per second (stopping when the server closes
/// the connection), and returns everything the server answered and when it was done.
async fn trickle(app: &TestApp, head: String, trickle: &'static [u8]) -> (String, Duration) {
    let address = app.address.trim_start_matches("http://").to_string();
    actix_web::rt::task::spawn_blocking(move || {
        let started = Instant::now();
        let mut stream = TcpStream::connect(&address).unwrap();
        stream.write_all(head.as_bytes()).unwrap();
        let mut writer = stream.try_clone().unwrap();
        std::thread::spawn(move || {
            for byte in trickle {
                std::thread::sleep(Duration::from_secs(1));
                if writer.write_all(&[*byte]).is_err() {
                    return;
                }
            }
        });
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        (
            String::from_utf8_lossy(&answer).into_owned(),
            started.elapsed(),
        )
    })
    .await
    .unwrap()
}

/// Sends `request` whole and returns the answer, read until the server closes or
/// stops sending for a second.
async fn raw(app: &TestApp, request: Vec<u8>) -> String {
    let address = app.address.trim_start_matches("http://").to_string();
    actix_web::rt::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(&address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        let _ = stream.write_all(&request);
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .unwrap()
}

/// The connection was cut when `limit` ran out: not before it, and not long after.
fn cut_off_at(took: Duration, limit: Duration) {
    assert!(
        took >= limit - Duration::from_secs(1) && took < limit + Duration::from_secs(5),
        "cut off after {took:?}"
    );
}

fn status_of(answer: &str) -> &str {
    answer.split(' ').nth(1).unwrap_or("(no answer)")
}

#[actix_web::test]
async fn a_body_that_trickles_in_is_cut_off() {
    let app = spawn_app(Backend::Sqlite).await;
    let head = "POST /api/v1/session HTTP/1.1\r\nHost: gatehouse\r\n\
                Content-Type: application/json\r\nContent-Length: 40\r\n\r\n{"
        .to_string();
    let (answer, took) = trickle(
        &app,
        head,
        b"\"username\": \"someone\", \"password\": \"xx\"}",
    )
    .await;
    assert_eq!(status_of(&answer), "408", "{answer}");
    assert!(answer.contains("\"request_timeout\""), "{answer}");
    cut_off_at(took, BODY_TIMEOUT);
    // The server goes on serving everyone else.
    assert_eq!(
        app.anonymous().get("/healthz").await.status(),
        StatusCode::OK
    );
    // The token endpoint says it in OAuth's words.
    let head = "POST /oauth/token HTTP/1.1\r\nHost: gatehouse\r\n\
                Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 40\r\n\r\ngrant_type=re"
        .to_string();
    let (answer, _) = trickle(&app, head, b"fresh_token&refresh_token=gatr_xxxxxx").await;
    assert_eq!(status_of(&answer), "408", "{answer}");
    assert!(answer.contains("\"error\":\"invalid_request\""), "{answer}");
}

/// Chunked, the body has no length to wait for: a handler that never reads it (a probe,
/// a refusal before the body) still answers at once and the connection closes, and one
/// that reads it gets 408 after the deadline — never a connection held open for as long
/// as the client trickles.
#[actix_web::test]
async fn a_chunked_body_that_trickles_in_is_cut_off() {
    let app = spawn_app(Backend::Sqlite).await;
    let chunks: &'static [u8] = b"1\r\na\r\n1\r\nb\r\n1\r\nc\r\n1\r\nd\r\n1\r\ne\r\n1\r\nf\r\n";
    let head =
        "GET /healthz HTTP/1.1\r\nHost: gatehouse\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{\r\n"
            .to_string();
    let (answer, took) = trickle(&app, head, chunks).await;
    assert_eq!(status_of(&answer), "200", "{answer}");
    assert!(took < Duration::from_secs(4), "held open for {took:?}");
    let head =
        "POST /api/v1/session HTTP/1.1\r\nHost: gatehouse\r\nContent-Type: application/json\r\n\
                Transfer-Encoding: chunked\r\n\r\n1\r\n{\r\n"
            .to_string();
    let (answer, took) = trickle(&app, head, chunks).await;
    assert_eq!(status_of(&answer), "408", "{answer}");
    cut_off_at(took, BODY_TIMEOUT);
}

#[actix_web::test]
async fn a_head_that_trickles_in_is_cut_off() {
    let app = spawn_app(Backend::Sqlite).await;
    let head = "GET /healthz HTTP/1.1\r\nHost: gatehouse\r\n".to_string();
    let (answer, took) = trickle(&app, head, b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa").await;
    assert_eq!(status_of(&answer), "408", "{answer}");
    cut_off_at(took, HEAD_TIMEOUT);
}

#[actix_web::test]
async fn oversized_and_too_many_headers_are_refused() {
    let app = spawn_app(Backend::Sqlite).await;
    let big = format!(
        "GET /healthz HTTP/1.1\r\nHost: gatehouse\r\nX-Big: {}\r\n\r\n",
        "a".repeat(200 * 1024)
    );
    let answer = raw(&app, big.into_bytes()).await;
    assert_eq!(
        status_of(&answer),
        "431",
        "{}",
        &answer[..answer.len().min(200)]
    );
    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    let answer = raw(
        &app,
        format!("GET /healthz HTTP/1.1\r\nHost: gatehouse\r\n{many}\r\n").into_bytes(),
    )
    .await;
    assert_eq!(
        status_of(&answer),
        "431",
        "{}",
        &answer[..answer.len().min(200)]
    );
    assert_eq!(
        app.anonymous().get("/healthz").await.status(),
        StatusCode::OK
    );
}

crate::both_backends!(deeply_nested_json_is_400_and_changes_nothing);

async fn deeply_nested_json_is_400_and_changes_nothing(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let keys = || async {
        admin
            .get("/api/v1/api-keys")
            .await
            .json::<Value>()
            .await
            .unwrap()["items"]
            .as_array()
            .unwrap()
            .len()
    };
    let before = keys().await;
    // 60,000 bytes, under the size limit: only the nesting is wrong. Refused (by the
    // shape, or by serde_json's depth limit of 128), never a stack overflow.
    let body = format!("{}{}", "[".repeat(30_000), "]".repeat(30_000));
    let res = admin
        .request(reqwest::Method::POST, "/api/v1/api-keys")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let code = error_code(res).await;
    assert!(code == "malformed_json" || code == "invalid_body", "{code}");
    let body = format!(
        "{{\"name\": {}1{}, \"permission\": \"read_only\"}}",
        "{\"a\":".repeat(10_000),
        "}".repeat(10_000)
    );
    let res = admin
        .request(reqwest::Method::POST, "/api/v1/api-keys")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let code = error_code(res).await;
    assert!(code == "malformed_json" || code == "invalid_body", "{code}");
    assert_eq!(keys().await, before);
}

#[actix_web::test]
async fn an_oversized_form_is_refused_by_the_token_endpoint() {
    let app = spawn_app(Backend::Sqlite).await;
    let res = app
        .anonymous()
        .http
        .post(app.url("/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=client_credentials&x={}",
            "a".repeat(300 * 1024)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}

/// Every kind of answer — API, protocol, pages, assets, errors of each status — says
/// `nosniff` and a referrer policy, cannot be framed, and is never stored by a cache
/// when it is someone's data.
#[actix_web::test]
async fn every_answer_carries_the_security_headers() {
    let app = spawn_app(Backend::Sqlite).await;
    let admin = app.admin().await;
    let anonymous = app.anonymous();
    let mut answers = vec![
        ("GET /healthz", anonymous.get("/healthz").await),
        ("GET /readyz", anonymous.get("/readyz").await),
        (
            "GET /api/v1/session (401)",
            anonymous.get("/api/v1/session").await,
        ),
        (
            "GET /api/v1/nothing (404)",
            anonymous.get("/api/v1/nothing").await,
        ),
        (
            "PUT /api/v1/session (405)",
            anonymous
                .request(reqwest::Method::PUT, "/api/v1/session")
                .send()
                .await
                .unwrap(),
        ),
        ("GET /api/v1/users", admin.get("/api/v1/users").await),
        (
            "POST /api/v1/api-keys (a secret)",
            admin
                .post(
                    "/api/v1/api-keys",
                    &serde_json::json!({"name": "headers", "permission": "read_only"}),
                )
                .await,
        ),
        (
            "POST /api/v1/api-keys (422)",
            admin
                .post("/api/v1/api-keys", &serde_json::json!({"name": ""}))
                .await,
        ),
        (
            "GET /oauth/authorize (error page)",
            anonymous.get("/oauth/authorize").await,
        ),
        (
            "POST /oauth/token (400)",
            anonymous
                .http
                .post(app.url("/oauth/token"))
                .form(&[("grant_type", "password")])
                .send()
                .await
                .unwrap(),
        ),
        ("GET /oauth/jwks", anonymous.get("/oauth/jwks").await),
        (
            "GET /.well-known/openid-configuration",
            anonymous.get("/.well-known/openid-configuration").await,
        ),
        ("GET / (a page)", anonymous.get("/").await),
        ("GET /keys (a page)", anonymous.get("/keys").await),
    ];
    answers.push((
        "GET /api/v1/openapi.json",
        anonymous.get("/api/v1/openapi.json").await,
    ));
    for (what, res) in &answers {
        let h = res.headers();
        assert_eq!(
            h.get("x-content-type-options").map(|v| v.to_str().unwrap()),
            Some("nosniff"),
            "{what}"
        );
        assert!(
            h.get("referrer-policy").is_some(),
            "{what}: Referrer-Policy"
        );
        let framing = h.get("x-frame-options").is_some_and(|v| v == "DENY")
            && h.get("content-security-policy")
                .is_none_or(|v| v.to_str().unwrap().contains("frame-ancestors 'none'"));
        assert!(framing, "{what}: may be framed");
        let path = what.split(' ').nth(1).unwrap();
        let public = path == "/oauth/jwks" || path.starts_with("/.well-known/");
        if (path.starts_with("/api/") || path.starts_with("/oauth/")) && !public {
            assert_eq!(
                h.get("cache-control").map(|v| v.to_str().unwrap()),
                Some("no-store"),
                "{what}"
            );
        }
    }
    // Where a decision is taken: the authorization endpoint's answers and the pages of
    // the web app (consent is one of them) forbid framing in their CSP as well.
    for (what, res) in &answers {
        if what.contains("a page") || what.contains("/oauth/authorize") {
            let csp = res
                .headers()
                .get("content-security-policy")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
        }
    }
}
