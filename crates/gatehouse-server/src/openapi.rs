//! The API description (`api-spec/openapi.json`), generated from the code: every
//! operation from the `#[utoipa::path]` on its handler, every body from its Rust type
//! (`gatehouse-types` under its `openapi` feature, the protocol's in `oauth/wire.rs`),
//! the error answers from `error::responses`. What no single handler states is added
//! here: the security schemes, the paths that serve an operation a second time (Rally's
//! paths, `POST /oauth/userinfo`, OpenID Connect discovery), and the links from an
//! answer to the operations on the record it names.
//!
//! `cargo xtask openapi` writes [`document`] to `api-spec/openapi.json`; the test
//! `openapi::the_checked_in_spec_is_what_the_code_generates` fails when they differ;
//! the server serves it at `/api/v1/openapi.json`.

use std::sync::LazyLock;

use actix_web::HttpResponse;
use serde_json::Value;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::{HttpMethod, Operation, PathItem};
use utoipa::openapi::schema::{Schema, SchemaType, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, AuthorizationCode, Flow, HttpAuthScheme, HttpBuilder, OAuth2, Scopes,
    SecurityScheme,
};
use utoipa::openapi::{Components, OpenApi as Document, Ref, RefOr, Required};
use utoipa::{Modify, OpenApi};

use crate::error::responses::{E400, E401, E403, E404, E408, E409, E413, E415, E422, E429, E503};
use crate::{
    api_keys, audit, auth, grants, health, oauth, oauth_clients, sessions, subscriptions, users,
};

const DESCRIPTION: &str = "API keys, OAuth clients and authorized applications. JSON in, \
    JSON out; errors are `{\"error\": {\"code\", \"message\", \"details\"}}` (see \
    docs/API-DESIGN.md), and the protocol endpoints (`/oauth/…`) answer in RFC 6749's \
    format. Credentials: the browser's session cookie (with `X-CSRF-Token` on unsafe \
    methods), an API key (`Authorization: Bearer gatk_…` or `ZSESSIONID`), or an OAuth \
    access token (`Authorization: Bearer …`). Generated from the server's code: \
    `cargo xtask openapi`.";

#[derive(OpenApi)]
#[openapi(
    info(title = "Gatehouse API", version = "1.0.0", description = DESCRIPTION),
    servers((url = "/")),
    paths(
        health::healthz,
        health::readyz,
        openapi,
        sessions::handlers::sign_in,
        sessions::handlers::whoami,
        sessions::handlers::sign_out,
        sessions::list::list,
        sessions::list::end_one,
        sessions::list::end_others,
        sessions::handlers::second_step,
        sessions::handlers::sudo,
        sessions::handlers::sudo_passkey,
        sessions::passkey::start,
        sessions::passkey::finish,
        crate::second_factors::handlers::list,
        crate::second_factors::handlers::start_totp,
        crate::second_factors::handlers::start_passkey,
        crate::second_factors::handlers::finish_passkey,
        crate::second_factors::handlers::confirm,
        crate::second_factors::handlers::remove,
        crate::second_factors::handlers::new_recovery_codes,
        crate::second_factors::handlers::reset_for_user,
        users::handlers::get_me,
        users::handlers::update_me,
        users::handlers::change_password,
        users::handlers::list_users,
        users::handlers::create_user,
        users::handlers::get_user,
        users::handlers::update_user,
        users::handlers::delete_user,
        users::handlers::reset_password,
        subscriptions::handlers::get_subscription,
        subscriptions::handlers::update_subscription,
        audit::handlers::list,
        api_keys::handlers::list_keys,
        api_keys::handlers::create_key,
        api_keys::handlers::get_key,
        api_keys::handlers::rename_key,
        api_keys::handlers::reset_key,
        api_keys::handlers::delete_key,
        api_keys::handlers::list_subscription_keys,
        auth::verify::verify,
        oauth_clients::handlers::list_clients,
        oauth_clients::handlers::create_client,
        oauth_clients::handlers::get_client,
        oauth_clients::handlers::update_client,
        oauth_clients::handlers::delete_client,
        oauth_clients::handlers::reset_secret,
        grants::handlers::list_apps,
        grants::handlers::revoke_app,
        grants::handlers::list_user_apps,
        oauth::authorize::get_request,
        oauth::authorize::decide_request,
        oauth::device::lookup,
        oauth::device::decide,
        oauth::device::device_authorization,
        oauth::end_session::end_session_get,
        oauth::end_session::end_session_post,
        oauth::authorize::authorize,
        oauth::authorize::authorize_post,
        oauth::token::token,
        oauth::jwks,
        oauth::revoke::revoke,
        oauth::introspect::introspect,
        oauth::userinfo::userinfo,
        oauth::discovery::oauth_metadata,
    ),
    components(
        responses(E400, E401, E403, E404, E408, E409, E413, E415, E422, E429, E503),
        // Named by query parameters, which utoipa does not collect on its own.
        schemas(audit::handlers::AuditScope, api_keys::handlers::KeySort, api_keys::handlers::SortOrder),
    ),
    modifiers(&SecuritySchemes, &DatabaseOutages, &OptionalBodies, &SecondPaths, &Links),
    tags(
        (name = "operations", description = "Probes and this document."),
        (name = "sessions", description = "Signing in and out; who am I."),
        (name = "users", description = "One's profile and password; the subscription's users (admins)."),
        (name = "subscription", description = "The tenant and its policies."),
        (name = "audit", description = "Who did what, with which credential."),
        (name = "api-keys", description = "API keys for scripts, and forward authentication for gateways."),
        (name = "oauth-clients", description = "The OAuth applications developers register."),
        (name = "authorized-apps", description = "The applications a user has allowed, and revoking them."),
        (name = "oauth", description = "The OAuth 2 authorization server and the consent API."),
        (name = "oidc", description = "OpenID Connect."),
    )
)]
pub struct ApiDoc;

/// The description as `api-spec/openapi.json` holds it: pretty-printed, ending in a
/// newline.
pub fn document() -> &'static str {
    static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
        let mut value = serde_json::to_value(ApiDoc::openapi()).unwrap_or(Value::Null);
        camel_case_links(&mut value);
        let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
        text.push('\n');
        text
    });
    &DOCUMENT
}

#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    operation_id = "get_openapi",
    tag = "operations",
    summary = "This document.",
    responses((status = 200, description = "The OpenAPI document.", body = Object))
)]
/// `GET /api/v1/openapi.json`.
pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json; charset=utf-8")
        .body(document())
}

/// utoipa 5.5 writes a Link Object's fields in snake case (`operation_id`), which no
/// OpenAPI tool reads; OpenAPI spells them `operationId`, `operationRef`, `requestBody`.
fn camel_case_links(document: &mut Value) {
    let Some(paths) = document["paths"].as_object_mut() else {
        return;
    };
    let links = paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .filter_map(|op| op["responses"].as_object_mut())
        .flat_map(|responses| responses.values_mut())
        .filter_map(|response| response.get_mut("links").and_then(Value::as_object_mut))
        .flat_map(|links| links.values_mut())
        .filter_map(Value::as_object_mut);
    for link in links {
        for (snake, camel) in [
            ("operation_id", "operationId"),
            ("operation_ref", "operationRef"),
            ("request_body", "requestBody"),
        ] {
            if let Some(v) = link.remove(snake) {
                link.insert(camel.to_string(), v);
            }
        }
    }
}

/// The credentials operations name in their `security`.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Components::new);
        let http = |scheme, description: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(scheme)
                    .description(Some(description))
                    .build(),
            )
        };
        let schemes = [
            (
                "session",
                SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                    crate::auth::SESSION_COOKIE,
                    "Browser session (behind an https public URL the cookie is named `__Host-gatehouse_session`; a name sent twice is no session). Unsafe methods must also send `X-CSRF-Token`.",
                ))),
            ),
            (
                "csrf",
                SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                    "X-CSRF-Token",
                    "With the session cookie, on every unsafe method (POST, PUT, PATCH, \
                     DELETE): the `csrf_token` of `POST /api/v1/session` or \
                     `GET /api/v1/session`.",
                ))),
            ),
            (
                "bearer",
                http(
                    HttpAuthScheme::Bearer,
                    "An API key or an OAuth access token.",
                ),
            ),
            (
                "zsessionid",
                SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                    "ZSESSIONID",
                    "Rally-compatible header for API keys.",
                ))),
            ),
            (
                "client_basic",
                http(
                    HttpAuthScheme::Basic,
                    "OAuth client authentication: client_id and client_secret.",
                ),
            ),
            (
                "oauth2",
                SecurityScheme::OAuth2(OAuth2::with_description(
                    [Flow::AuthorizationCode(
                        AuthorizationCode::with_refresh_url(
                            "/oauth/authorize",
                            "/oauth/token",
                            Scopes::from_iter(crate::auth::scopes::DESCRIBED),
                            "/oauth/token",
                        ),
                    )],
                    "An OAuth 2 access token (a JWT), sent as a bearer token: `api:read` \
                     reads as a read-only key would, `api:write` writes as a full-access key.",
                )),
            ),
        ];
        for (name, scheme) in schemes {
            components.add_security_scheme(name, scheme);
        }
    }
}

/// Every JSON API operation reaches the database (the credential check does, if
/// nothing else), so every one may answer 503 `service_unavailable` while it is
/// unreachable; only the description itself does not.
struct DatabaseOutages;

impl Modify for DatabaseOutages {
    fn modify(&self, doc: &mut Document) {
        for (path, item) in doc.paths.paths.iter_mut() {
            if !path.starts_with("/api/v1/") || path == "/api/v1/openapi.json" {
                continue;
            }
            for method in [
                HttpMethod::Get,
                HttpMethod::Post,
                HttpMethod::Put,
                HttpMethod::Patch,
                HttpMethod::Delete,
            ] {
                if let Some(op) = operation(item, method).as_mut() {
                    op.responses
                        .responses
                        .entry("503".to_string())
                        .or_insert_with(|| RefOr::Ref(Ref::from_response_name("E503")));
                }
            }
        }
    }
}

/// A body whose Rust type is `Option<T>` may be left out: utoipa writes it as
/// `oneOf: [null, T]` (a JSON `null`), which is not what such a handler means;
/// the description says `T`, not required.
struct OptionalBodies;

impl Modify for OptionalBodies {
    fn modify(&self, doc: &mut Document) {
        for item in doc.paths.paths.values_mut() {
            for method in [HttpMethod::Post, HttpMethod::Put, HttpMethod::Patch] {
                let Some(body) = operation(item, method)
                    .as_mut()
                    .and_then(|op| op.request_body.as_mut())
                else {
                    continue;
                };
                if body.required == Some(Required::True) {
                    continue;
                }
                for content in body.content.values_mut() {
                    let Some(RefOr::T(Schema::OneOf(one_of))) = &content.schema else {
                        continue;
                    };
                    let not_null: Vec<_> = one_of
                        .items
                        .iter()
                        .filter(|s| !matches!(s, RefOr::T(Schema::Object(o)) if o.schema_type == SchemaType::Type(Type::Null)))
                        .cloned()
                        .collect();
                    if let [only] = not_null.as_slice() {
                        content.schema = Some(only.clone());
                    }
                }
                body.required = Some(Required::False);
            }
        }
    }
}

/// Paths that serve an operation of another path: (its path, its method, the second
/// path, the method there, the second operation's id, its summary).
const SECOND_PATHS: &[(&str, HttpMethod, &str, HttpMethod, &str, &str)] = &[
    (
        "/oauth/authorize",
        HttpMethod::Get,
        "/login/oauth2/auth",
        HttpMethod::Get,
        "get_rally_oauth_authorize",
        "Rally's path for the authorization endpoint.",
    ),
    (
        "/oauth/authorize",
        HttpMethod::Post,
        "/login/oauth2/auth",
        HttpMethod::Post,
        "create_rally_oauth_authorize",
        "Rally's path for the authorization endpoint, its parameters form-encoded in the body.",
    ),
    (
        "/oauth/token",
        HttpMethod::Post,
        "/login/oauth2/token",
        HttpMethod::Post,
        "create_rally_oauth_token",
        "Rally's path for the token endpoint.",
    ),
    (
        "/oauth/userinfo",
        HttpMethod::Get,
        "/oauth/userinfo",
        HttpMethod::Post,
        "create_oauth_userinfo",
        "OpenID Connect UserInfo by POST (Core §5.3.1), the same answers.",
    ),
    (
        "/.well-known/oauth-authorization-server",
        HttpMethod::Get,
        "/.well-known/openid-configuration",
        HttpMethod::Get,
        "get_openid_configuration",
        "OpenID Connect Discovery 1.0: the same document, for OpenID Connect clients.",
    ),
];

fn operation(item: &mut PathItem, method: HttpMethod) -> &mut Option<Operation> {
    match method {
        HttpMethod::Get => &mut item.get,
        HttpMethod::Post => &mut item.post,
        HttpMethod::Put => &mut item.put,
        HttpMethod::Patch => &mut item.patch,
        HttpMethod::Delete => &mut item.delete,
        HttpMethod::Head => &mut item.head,
        HttpMethod::Options => &mut item.options,
        HttpMethod::Trace => &mut item.trace,
    }
}

struct SecondPaths;

impl Modify for SecondPaths {
    fn modify(&self, doc: &mut Document) {
        let paths = &mut doc.paths.paths;
        for (path, method, second, second_method, id, summary) in SECOND_PATHS {
            let Some(mut op) = paths
                .get_mut(*path)
                .and_then(|item| operation(item, method.clone()).clone())
            else {
                continue;
            };
            op.operation_id = Some((*id).to_string());
            op.summary = Some((*summary).to_string());
            let item = paths.entry((*second).to_string()).or_default();
            *operation(item, second_method.clone()) = Some(op);
        }
    }
}

/// Links from an answer to the operations on the record it names, so that clients
/// (and schemathesis' stateful phase) can follow them: from a `201` to every operation
/// of `{path}/{id}…`, with the `id` of the created record; from the first page of a list
/// that has no create (authorized apps) to its records' operations.
struct Links;

impl Modify for Links {
    fn modify(&self, doc: &mut Document) {
        // Read as JSON (schemas are easier to walk there), written into the typed document.
        let Ok(value) = serde_json::to_value(&*doc) else {
            return;
        };
        let components = &value["components"]["schemas"];
        let Some(paths) = value["paths"].as_object() else {
            return;
        };
        for (path, item) in paths {
            let children: Vec<&str> = paths
                .iter()
                .filter(|(child, _)| child.starts_with(&format!("{path}/{{id}}")))
                .flat_map(|(_, child)| child.as_object().into_iter().flatten())
                .filter_map(|(_, op)| op["operationId"].as_str())
                .collect();
            if children.is_empty() {
                continue;
            }
            let created =
                &item["post"]["responses"]["201"]["content"]["application/json"]["schema"];
            let (method, status, pointer) = if !created.is_null() {
                (HttpMethod::Post, "201", id_pointer(created, components, 2))
            } else if !item["get"].is_null() {
                (HttpMethod::Get, "200", Some("/items/0/id".to_string()))
            } else {
                continue;
            };
            let Some(pointer) = pointer else {
                continue;
            };
            let Some(RefOr::T(response)) = doc
                .paths
                .paths
                .get_mut(path)
                .and_then(|item| operation(item, method).as_mut())
                .and_then(|op| op.responses.responses.get_mut(status))
            else {
                continue;
            };
            for id in &children {
                let link = LinkBuilder::new()
                    .operation_id(*id)
                    .parameter("id", format!("$response.body#{pointer}"))
                    .description(format!("`{id}` of what this answer names."))
                    .build();
                response.links.insert(pascal_case(id), RefOr::T(link));
            }
        }
    }
}

/// Where a schema keeps the id of the record it names: `/id`, or `/user/id` when the
/// record is a field of it (`CreatedUser`). Follows `$ref` and `allOf`.
fn id_pointer(schema: &Value, components: &Value, depth: usize) -> Option<String> {
    if let Some(name) = schema["$ref"].as_str().and_then(|r| r.rsplit('/').next()) {
        return id_pointer(&components[name], components, depth);
    }
    if let Some(parts) = schema["allOf"].as_array() {
        return parts
            .iter()
            .find_map(|part| id_pointer(part, components, depth));
    }
    let properties = schema["properties"].as_object()?;
    if properties.contains_key("id") {
        return Some("/id".to_string());
    }
    if depth == 0 {
        return None;
    }
    properties.iter().find_map(|(name, property)| {
        id_pointer(property, components, depth - 1).map(|inner| format!("/{name}{inner}"))
    })
}

fn pascal_case(snake: &str) -> String {
    snake
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}
