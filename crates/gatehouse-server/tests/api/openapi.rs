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
                // Protocol endpoints live outside the JSON API's prefix.
                let top_level = ["/healthz", "/readyz"].contains(&route)
                    || [
                        "/oauth/authorize",
                        "/oauth/token",
                        "/oauth/jwks",
                        "/oauth/revoke",
                        "/oauth/introspect",
                        "/oauth/userinfo",
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
