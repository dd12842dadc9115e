//! How a request reaches a handler. [`resource`] registers the methods a path answers,
//! answers `HEAD` wherever it answers `GET`, and answers any other method with 405 and
//! an `Allow` header naming the ones it does (RFC 9110 §15.5.6). Bodies and query
//! strings: the JSON size limit, extractor failures as [`ApiError`]s, and optional JSON
//! bodies. A leaf module: it knows actix and the error type, nothing of the domains.

use actix_web::dev::{AppService, HttpServiceFactory};
use actix_web::http::header::{self, HeaderValue};
use actix_web::{FromRequest, Handler, HttpResponse, Responder, ResponseError, web};
use gatehouse_types::codes;
use serde_json::json;

use crate::error::ApiError;

/// An id from a path: a UUID, or 404 — a malformed id names nothing, exactly as an
/// unknown one, and never reaches the database.
pub fn id_or_404(id: &str) -> Result<&str, ApiError> {
    match uuid::Uuid::parse_str(id) {
        Ok(_) => Ok(id),
        Err(_) => Err(ApiError::NotFound),
    }
}

/// Largest JSON body accepted; every body of this API is far smaller.
pub const JSON_LIMIT: usize = 64 * 1024;

/// A path and the methods it answers; mount it with `cfg.service(…)`.
pub struct Resource {
    inner: actix_web::Resource,
    allow: Vec<&'static str>,
}

/// The resource at `path`. Its methods are added with [`Resource::get`] and friends.
pub fn resource(path: &str) -> Resource {
    Resource {
        inner: web::resource(path),
        allow: Vec::new(),
    }
}

impl Resource {
    /// `GET`, and `HEAD` by the same handler (actix sends no body for `HEAD`).
    pub fn get<F, Args>(mut self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.allow.extend(["GET", "HEAD"]);
        self.inner = self
            .inner
            .route(web::get().to(handler.clone()))
            .route(web::head().to(handler));
        self
    }

    pub fn post<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.method("POST", web::post().to(handler))
    }

    pub fn put<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.method("PUT", web::put().to(handler))
    }

    pub fn patch<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.method("PATCH", web::patch().to(handler))
    }

    pub fn delete<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.method("DELETE", web::delete().to(handler))
    }

    fn method(mut self, name: &'static str, route: actix_web::Route) -> Self {
        self.allow.push(name);
        self.inner = self.inner.route(route);
        self
    }
}

impl HttpServiceFactory for Resource {
    fn register(mut self, config: &mut AppService) {
        // One order whatever the order of mounting.
        const ORDER: [&str; 6] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];
        self.allow
            .sort_by_key(|m| ORDER.iter().position(|o| o == m).unwrap_or(ORDER.len()));
        let allow = self.allow.join(", ");
        self.inner
            .default_service(web::to(move || {
                let allow = allow.clone();
                async move { method_not_allowed(&allow) }
            }))
            .register(config)
    }
}

/// 405 with the JSON error body and `Allow`.
pub fn method_not_allowed(allow: &str) -> HttpResponse {
    let mut res = ApiError::MethodNotAllowed.error_response();
    if let Ok(v) = HeaderValue::from_str(allow) {
        res.headers_mut().insert(header::ALLOW, v);
    }
    res
}

/// Maps actix's JSON extractor failures onto the error body.
pub fn json_error(err: actix_web::error::JsonPayloadError) -> ApiError {
    use actix_web::error::JsonPayloadError as E;
    match err {
        E::ContentType => ApiError::UnsupportedMediaType,
        E::Overflow { .. } | E::OverflowKnownLength { .. } => ApiError::PayloadTooLarge,
        E::Deserialize(e) if e.is_data() => ApiError::BadRequest {
            code: codes::INVALID_BODY,
            message: format!("The request body does not have the expected shape: {e}."),
            details: Some(json!({"line": e.line(), "column": e.column()})),
        },
        E::Deserialize(e) => ApiError::BadRequest {
            code: codes::MALFORMED_JSON,
            message: format!("The request body is not valid JSON: {e}."),
            details: Some(json!({"line": e.line(), "column": e.column()})),
        },
        other => ApiError::BadRequest {
            code: codes::MALFORMED_JSON,
            message: format!("The request body could not be read: {other}."),
            details: None,
        },
    }
}

/// Maps query-string failures onto the error body.
pub fn query_error(err: actix_web::error::QueryPayloadError) -> ApiError {
    ApiError::BadRequest {
        code: codes::INVALID_PARAMETER,
        message: format!("A query parameter is not valid: {err}."),
        details: None,
    }
}

/// Reads an optional JSON body: none at all means `T::default()`; anything else must be
/// a JSON object sent as `application/json` within the size limit and parse, or the
/// client hears why — a malformed body is never silently taken for an empty one.
pub async fn optional_json<T>(
    req: &actix_web::HttpRequest,
    payload: actix_web::web::Payload,
) -> Result<T, ApiError>
where
    T: serde::de::DeserializeOwned + Default,
{
    Ok(read_json(req, payload).await?.unwrap_or_default())
}

/// A required JSON body, as [`optional_json`] reads it: an object, `application/json`,
/// at most `JSON_LIMIT`. Unlike `web::Json`, an array is refused even where serde would
/// read a struct from one (`[null, null]` as a patch of two fields).
pub struct JsonBody<T>(pub T);

impl<T> JsonBody<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for JsonBody<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: serde::de::DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, ApiError>>>>;

    fn from_request(
        req: &actix_web::HttpRequest,
        payload: &mut actix_web::dev::Payload,
    ) -> Self::Future {
        let req = req.clone();
        let payload = payload.take();
        Box::pin(async move {
            read_json(&req, payload)
                .await?
                .map(JsonBody)
                .ok_or_else(|| {
                    ApiError::bad_request(codes::MALFORMED_JSON, "The request body is empty.")
                })
        })
    }
}

/// A JSON object body, or `None` when there is no body at all.
async fn read_json<T, S>(
    req: &actix_web::HttpRequest,
    mut payload: S,
) -> Result<Option<T>, ApiError>
where
    T: serde::de::DeserializeOwned,
    S: futures_util::Stream<Item = Result<actix_web::web::Bytes, actix_web::error::PayloadError>>
        + Unpin,
{
    use futures_util::StreamExt;
    let headers = req.headers();
    // Bodies are read as sent: a compressed one would be taken for malformed JSON.
    if headers
        .get(actix_web::http::header::CONTENT_ENCODING)
        .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"))
    {
        return Err(ApiError::UnsupportedMediaType);
    }
    let declared = headers
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > JSON_LIMIT) {
        return Err(ApiError::PayloadTooLarge);
    }
    let mut body = actix_web::web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::bad_request(
                codes::MALFORMED_JSON,
                format!("The request body could not be read: {e}."),
            )
        })?;
        if body.len() + chunk.len() > JSON_LIMIT {
            return Err(ApiError::PayloadTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_none() {
        return Ok(None);
    }
    let json = headers
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            let m = m.trim();
            m.eq_ignore_ascii_case("application/json") || m.to_ascii_lowercase().ends_with("+json")
        });
    if !json {
        return Err(ApiError::UnsupportedMediaType);
    }
    let parsed: T = serde_json::from_slice(&body)
        .map_err(|e| json_error(actix_web::error::JsonPayloadError::Deserialize(e)))?;
    // Checked after parsing, so that malformed JSON is still called malformed.
    if first != Some(&b'{') {
        return Err(ApiError::BadRequest {
            code: codes::INVALID_BODY,
            message: "The request body must be a JSON object.".into(),
            details: None,
        });
    }
    Ok(Some(parsed))
}
