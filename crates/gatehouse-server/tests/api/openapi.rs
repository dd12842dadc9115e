//! `api-spec/openapi.json` stays true: the server serves it, every operation in it
//! exists, and every route the server mounts is in it.

use std::collections::BTreeSet;
use std::path::Path;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::both_backends;
use crate::helpers::{Backend, spawn_app};

fn spec() -> Value {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../api-spec/openapi.json"),
    )
    .expect("api-spec/openapi.json");
    serde_json::from_str(&text).expect("the spec is JSON")
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

both_backends!(every_documented_operation_exists);

async fn every_documented_operation_exists(b: Backend) {
    let app = spawn_app(b).await;
    let c = app.anonymous();
    let served: Value = c.get("/api/v1/openapi.json").await.json().await.unwrap();
    assert_eq!(served, spec(), "the server serves the checked-in spec");
    for (path, item) in spec()["paths"].as_object().unwrap() {
        let concrete = path.replace("{id}", &uuid::Uuid::new_v4().to_string());
        for method in METHODS.iter().filter(|m| item.get(**m).is_some()) {
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let res = c
                .request(m, &concrete)
                .json(&serde_json::json!({}))
                .send()
                .await
                .unwrap();
            assert!(
                ![StatusCode::NOT_FOUND, StatusCode::METHOD_NOT_ALLOWED].contains(&res.status()),
                "{method} {path} is documented but answers {}",
                res.status()
            );
        }
    }
}

/// Every `resource("…")` mounted in the server's source appears in the spec (except the
/// web app's, which serve files and pages, not API), and every operation has a
/// `<verb>_<resource>` id used once.
#[test]
fn every_mounted_route_is_documented() {
    let spec = spec();
    let documented: BTreeSet<String> = spec["paths"].as_object().unwrap().keys().cloned().collect();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    // The web app's files and pages are not part of the API.
    let web_app = src.join("web");
    let mut mounted = BTreeSet::new();
    let mut stack = vec![src];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path == web_app {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for (i, _) in text.match_indices("resource(\"") {
                let rest = &text[i + "resource(\"".len()..];
                let route = &rest[..rest.find('"').unwrap()];
                // `metrics_listen`'s own server, not the API's address.
                if route == "/metrics" {
                    continue;
                }
                // Protocol endpoints live outside the JSON API's prefix.
                let top_level = ["/healthz", "/readyz"].contains(&route)
                    || [
                        "/oauth/authorize",
                        "/oauth/token",
                        "/oauth/jwks",
                        "/oauth/revoke",
                        "/oauth/introspect",
                        "/oauth/userinfo",
                        "/oauth/device_authorization",
                        "/oauth/logout",
                        "/login/",
                        "/.well-known/",
                    ]
                    .iter()
                    .any(|p| route.starts_with(p));
                let full = if top_level {
                    route.to_string()
                } else {
                    format!("/api/v1{route}")
                };
                mounted.insert(full);
            }
        }
    }
    let missing: Vec<_> = mounted.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "mounted but not in api-spec/openapi.json: {missing:?}"
    );
    let stale: Vec<_> = documented.difference(&mounted).collect();
    assert!(
        stale.is_empty(),
        "in api-spec/openapi.json but not mounted: {stale:?}"
    );

    let mut ids = BTreeSet::new();
    for item in spec["paths"].as_object().unwrap().values() {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                let id = op["operationId"].as_str().expect("operationId").to_string();
                let verb = id.split('_').next().unwrap();
                assert!(
                    [
                        "get", "list", "create", "update", "delete", "reset", "revoke", "decide"
                    ]
                    .contains(&verb),
                    "operationId {id} is not <verb>_<resource>"
                );
                assert!(ids.insert(id.clone()), "operationId {id} is used twice");
            }
        }
    }
}

/// The checked-in description is the one the code generates (`cargo xtask openapi`
/// rewrites it): every operation from its handler's `#[utoipa::path]`, every body from
/// its Rust type. A handler, a type or a rule changed without the file fails here.
#[test]
fn the_checked_in_spec_is_what_the_code_generates() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../api-spec/openapi.json");
    let checked_in = std::fs::read_to_string(&path).expect("api-spec/openapi.json");
    let generated = gatehouse_server::openapi::document();
    if checked_in != generated {
        let first = checked_in
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| checked_in.lines().count().min(generated.lines().count()));
        panic!(
            "api-spec/openapi.json differs from what the code generates from line {}: \
             run `cargo xtask openapi`\n  file:      {:?}\n  generated: {:?}",
            first + 1,
            checked_in.lines().nth(first),
            generated.lines().nth(first)
        );
    }
}

/// The description is OpenAPI 3.1, every `$ref` in it resolves, and every operation
/// says what it answers.
#[test]
fn the_spec_is_whole() {
    let spec = spec();
    assert_eq!(spec["openapi"], "3.1.0");
    let text = spec.to_string();
    for (i, _) in text.match_indices("\"$ref\":\"") {
        let rest = &text[i + "\"$ref\":\"".len()..];
        let target = &rest[..rest.find('"').unwrap()];
        let pointer = target.strip_prefix('#').expect("a local $ref");
        assert!(
            spec.pointer(pointer).is_some(),
            "$ref {target} resolves to nothing"
        );
    }
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            assert!(op["summary"].is_string(), "{method} {path} has no summary");
            assert!(
                !op["responses"].as_object().unwrap().is_empty(),
                "{method} {path} answers nothing"
            );
        }
    }
    // Links name operations that exist.
    let ids: BTreeSet<&str> = spec["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter_map(|op| op["operationId"].as_str())
        .collect();
    let mut links = 0;
    for (i, _) in text.match_indices("\"operationId\":\"") {
        let rest = &text[i + "\"operationId\":\"".len()..];
        let id = &rest[..rest.find('"').unwrap()];
        assert!(ids.contains(id), "a link names {id}, which is no operation");
        links += 1;
    }
    assert!(
        links > ids.len(),
        "the creates link to their records' operations"
    );
}
