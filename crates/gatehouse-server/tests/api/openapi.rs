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

/// The wire types of `gatehouse-types`, as utoipa derives their schemas from the Rust
/// definitions (`openapi` feature, tests only).
#[derive(utoipa::OpenApi)]
#[openapi(components(schemas(
    gatehouse_types::Role,
    gatehouse_types::UserState,
    gatehouse_types::User,
    gatehouse_types::SubscriptionSettings,
    gatehouse_types::Subscription,
    gatehouse_types::UpdateSubscription,
    gatehouse_types::SignInRequest,
    gatehouse_types::Credential,
    gatehouse_types::SessionInfo,
    gatehouse_types::UpdateMe,
    gatehouse_types::ChangePassword,
    gatehouse_types::CreateUser,
    gatehouse_types::CreatedUser,
    gatehouse_types::UpdateUser,
    gatehouse_types::AuditEvent,
    gatehouse_types::Permission,
    gatehouse_types::ApiKey,
    gatehouse_types::ApiKeyWithSecret,
    gatehouse_types::CreateApiKey,
    gatehouse_types::UpdateApiKey,
    gatehouse_types::ResetApiKey,
    gatehouse_types::SubscriptionApiKey,
    gatehouse_types::VerifyResponse,
    gatehouse_types::ClientType,
    gatehouse_types::OAuthClient,
    gatehouse_types::OAuthClientWithSecret,
    gatehouse_types::CreateOAuthClient,
    gatehouse_types::UpdateOAuthClient,
    gatehouse_types::ResetClientSecret,
    gatehouse_types::AuthorizedApp,
    gatehouse_types::AuthorizationRequestView,
    gatehouse_types::ConsentDecision,
    gatehouse_types::ConsentResult,
    gatehouse_types::Health,
)))]
struct Types;

/// The property names of an object schema (following `allOf`, as flattened structs
/// come out) and which of them are required.
fn shape(schema: &Value, components: &Value) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut props = BTreeSet::new();
    let mut required = BTreeSet::new();
    let mut parts = vec![schema.clone()];
    while let Some(part) = parts.pop() {
        if let Some(r) = part.get("$ref").and_then(Value::as_str) {
            let name = r.rsplit('/').next().unwrap();
            parts.push(components[name].clone());
            continue;
        }
        if let Some(all) = part.get("allOf").and_then(Value::as_array) {
            parts.extend(all.iter().cloned());
        }
        if let Some(p) = part.get("properties").and_then(Value::as_object) {
            props.extend(p.keys().cloned());
        }
        if let Some(r) = part.get("required").and_then(Value::as_array) {
            required.extend(r.iter().filter_map(Value::as_str).map(str::to_string));
        }
    }
    (props, required)
}

/// The schema of one property of an object schema (following `$ref` and `allOf`).
fn property(schema: &Value, components: &Value, field: &str) -> Value {
    let mut parts = vec![schema.clone()];
    while let Some(part) = parts.pop() {
        if let Some(r) = part.get("$ref").and_then(Value::as_str) {
            parts.push(components[r.rsplit('/').next().unwrap()].clone());
            continue;
        }
        if let Some(all) = part.get("allOf").and_then(Value::as_array) {
            parts.extend(all.iter().cloned());
        }
        if let Some(p) = part.get("properties").and_then(|p| p.get(field)) {
            return p.clone();
        }
    }
    Value::Null
}

/// Every body schema of the spec that is a `gatehouse-types` type has the type's fields,
/// no more and no fewer, required where the type requires them: the hand-written spec
/// cannot drift from the Rust types the server and the web app compile.
#[test]
fn the_specs_schemas_have_the_types_fields() {
    let generated = serde_json::to_value(<Types as utoipa::OpenApi>::openapi()).unwrap();
    let ours = &generated["components"]["schemas"];
    let spec = spec();
    let theirs = &spec["components"]["schemas"];
    let mut drift = Vec::new();
    for (name, schema) in ours.as_object().unwrap() {
        // Enums that other types name (`GrantState`, `Decision`) are written inline in
        // the spec; the types listed above all have a schema of their own there.
        let Some(documented) = theirs.get(name) else {
            assert!(schema.get("enum").is_some(), "{name}: not in the spec");
            continue;
        };
        let (props, required) = shape(schema, ours);
        let (doc_props, doc_required) = shape(documented, theirs);
        if props != doc_props {
            drift.push(format!(
                "{name}: fields {:?} in the type, {:?} in the spec",
                props.difference(&doc_props).collect::<Vec<_>>(),
                doc_props.difference(&props).collect::<Vec<_>>()
            ));
        }
        // What the type requires, the spec requires. The spec may also require an
        // `Option` field (always sent, as `null` when empty), which utoipa leaves out
        // of `required`; never a field the type can go without otherwise.
        let missing: Vec<_> = required.difference(&doc_required).collect();
        if !missing.is_empty() {
            drift.push(format!(
                "{name}: {missing:?} required by the type, not the spec"
            ));
        }
        for field in doc_required.difference(&required) {
            let property = property(schema, ours, field);
            if !property.to_string().contains("\"null\"") {
                drift.push(format!(
                    "{name}: `{field}` required by the spec, optional in the type"
                ));
            }
        }
    }
    assert!(
        drift.is_empty(),
        "the spec drifted from the types:\n{}",
        drift.join("\n")
    );
}
