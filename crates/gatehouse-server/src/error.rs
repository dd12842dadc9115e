//! The one error type of the JSON API, mapped to HTTP in one place.
//!
//! Handlers and extractors return `Result<_, ApiError>`. Pick the variant by what the
//! client did wrong: `BadRequest` for a body or parameter that cannot be read,
//! `Validation` for a well-formed value that breaks a rule, `Unauthorized` when the
//! credential is missing or bad, `Forbidden` when it is good but not enough, `NotFound`
//! for anything the caller may not see (so existence never leaks), `Conflict` for a
//! clash with existing state. `Internal` wraps everything unexpected: it is logged with
//! its cause chain and shown to the client only as a generic sentence.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use gatehouse_types::{ErrorBody, ErrorDetail, codes};
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest {
        code: &'static str,
        message: String,
        details: Option<Value>,
    },
    #[error("{message}")]
    Unauthorized { code: &'static str, message: String },
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("payload too large")]
    PayloadTooLarge,
    /// The body did not arrive within `limits::BODY_TIMEOUT`.
    #[error("request body timed out")]
    RequestTimeout,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("{field}: {message}")]
    Validation {
        field: &'static str,
        message: String,
    },
    #[error("rate limited")]
    RateLimited { retry_after_secs: u64 },
    /// SQLite asked a writer to retry; `Database` retries, and only a persistent
    /// failure reaches the client, as 503.
    #[error("database busy")]
    Busy,
    #[error("database unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Unauthorized {
            code,
            message: message.into(),
        }
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Forbidden {
            code,
            message: message.into(),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Conflict {
            code,
            message: message.into(),
        }
    }

    pub fn validation(field: &'static str, message: impl Into<String>) -> Self {
        ApiError::Validation {
            field,
            message: message.into(),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
            details: None,
        }
    }

    /// Turns a unique-constraint violation into `Conflict`, leaving other errors alone.
    pub fn on_unique_violation(self, code: &'static str, message: &str) -> Self {
        match self {
            ApiError::Internal(e) if is_unique_violation(&e) => ApiError::conflict(code, message),
            other => other,
        }
    }

    /// The machine-readable code of the error body (`unauthenticated`, `not_found`, …).
    pub fn code(&self) -> &'static str {
        self.code_and_message().0
    }

    fn code_and_message(&self) -> (&'static str, String) {
        match self {
            ApiError::BadRequest { code, message, .. }
            | ApiError::Unauthorized { code, message }
            | ApiError::Forbidden { code, message }
            | ApiError::Conflict { code, message } => (code, message.clone()),
            ApiError::NotFound => (
                codes::NOT_FOUND,
                "Nothing was found at this address.".into(),
            ),
            ApiError::MethodNotAllowed => (
                codes::METHOD_NOT_ALLOWED,
                "This address does not accept that method.".into(),
            ),
            ApiError::RequestTimeout => (
                codes::REQUEST_TIMEOUT,
                "The request body did not arrive in time.".into(),
            ),
            ApiError::PayloadTooLarge => (
                codes::PAYLOAD_TOO_LARGE,
                "The request body is too large.".into(),
            ),
            ApiError::UnsupportedMediaType => (
                codes::UNSUPPORTED_MEDIA_TYPE,
                "The request body must be JSON with Content-Type: application/json.".into(),
            ),
            ApiError::Validation { field, message } => (
                codes::VALIDATION_FAILED,
                format!("The field `{field}` {message}."),
            ),
            ApiError::RateLimited { .. } => (
                codes::RATE_LIMITED,
                "Too many requests; try again shortly.".into(),
            ),
            ApiError::Busy | ApiError::Unavailable(_) => (
                codes::SERVICE_UNAVAILABLE,
                "The database is unavailable; try again shortly.".into(),
            ),
            ApiError::Internal(_) => (
                codes::INTERNAL,
                "Something went wrong on our side. It has been logged.".into(),
            ),
        }
    }

    fn details(&self) -> Option<Value> {
        match self {
            ApiError::BadRequest { details, .. } => details.clone(),
            ApiError::Validation { field, message } => {
                Some(json!({"field": field, "reason": message}))
            }
            _ => None,
        }
    }
}

fn is_unique_violation(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<diesel::result::Error>(),
        Some(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _
        ))
    )
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Busy | ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Internal(e) => tracing::error!(error = ?e, "internal error"),
            ApiError::Unavailable(e) => tracing::warn!(error = %e, "database unavailable"),
            _ => {}
        }
        let (code, message) = self.code_and_message();
        let body = ErrorBody {
            error: ErrorDetail {
                code: code.to_string(),
                message,
                details: self.details(),
            },
        };
        let mut res = HttpResponse::build(self.status_code());
        match self {
            ApiError::Unauthorized { code, .. } => {
                res.insert_header((
                    header::WWW_AUTHENTICATE,
                    format!("Bearer realm=\"gatehouse\", error=\"invalid_token\", error_description=\"{code}\""),
                ));
            }
            ApiError::RateLimited { retry_after_secs } => {
                res.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            ApiError::Busy | ApiError::Unavailable(_) => {
                res.insert_header((header::RETRY_AFTER, "1"));
            }
            _ => {}
        }
        res.insert_header((header::CACHE_CONTROL, "no-store"));
        res.json(body)
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        if matches!(e, diesel::result::Error::NotFound) {
            ApiError::NotFound
        } else if is_busy(&e) {
            ApiError::Busy
        } else if is_connection_lost(&e) {
            ApiError::Unavailable(e.into())
        } else {
            ApiError::Internal(e.into())
        }
    }
}

impl From<diesel::r2d2::PoolError> for ApiError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        ApiError::Unavailable(e.into())
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        ApiError::Internal(anyhow::anyhow!("blocking task failed: {e}"))
    }
}

/// Whether a query failed because the connection to the server was lost (the server
/// restarted or is down): the request is answered 503, never 500.
pub fn is_connection_lost(err: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match err {
        Error::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _,
        ) => true,
        Error::DatabaseError(_, info) => {
            let m = info.message();
            m.contains("server closed the connection")
                || m.contains("terminating connection")
                || m.contains("connection to server")
                || m.contains("no connection to the server")
        }
        _ => false,
    }
}

/// Whether an error is SQLite telling a writer to come back later. A deferred
/// transaction that read before another connection committed cannot upgrade to a write
/// lock and fails at once, whatever the busy timeout; the caller retries the whole
/// transaction.
pub fn is_busy(err: &diesel::result::Error) -> bool {
    match err {
        diesel::result::Error::DatabaseError(_, info) => {
            let m = info.message();
            m.contains("database is locked") || m.contains("database table is locked")
        }
        _ => false,
    }
}

/// The JSON API's error answers as the API description names them
/// (`#/components/responses/E400` …): the operations list the ones they give, with
/// `(status = 400, response = E400)` in their `#[utoipa::path]`.
pub mod responses {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};

    fn error_response(description: &str) -> Response {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Error")))
                    .build(),
            )
            .build()
    }

    macro_rules! error_responses {
        ($($name:ident: $description:literal,)*) => {
            $(
                #[doc = $description]
                pub struct $name;

                impl<'s> utoipa::ToResponse<'s> for $name {
                    fn response() -> (&'s str, RefOr<Response>) {
                        (stringify!($name), error_response($description).into())
                    }
                }
            )*
        };
    }

    error_responses! {
        E400: "Malformed body or parameter (`malformed_json`, `invalid_body`, `invalid_parameter`).",
        E401: "No credential, or a bad one (`unauthenticated`, `session_expired`, `invalid_credential`, `api_key_invalid`, `api_key_expired`, `api_keys_disabled`, `user_inactive`, `token_invalid`, `token_revoked`), with `WWW-Authenticate`.",
        E403: "Valid credential, not allowed (`forbidden`, `session_required`, `csrf_failed`, `insufficient_permission`, `insufficient_scope`).",
        E404: "Not found, or not visible to the caller (`not_found`).",
        E408: "The request body did not arrive within 10 s of the request's start (`request_timeout`); the connection is closed.",
        E409: "Conflict with existing state.",
        E413: "Body over 64 KiB (`payload_too_large`).",
        E415: "Body is not `application/json`, or is content-encoded (`unsupported_media_type`).",
        E422: "A value breaks a rule (`validation_failed`, with `details.field`).",
        E429: "Too many requests (`rate_limited`, with `Retry-After`).",
        E503: "Database unavailable (`service_unavailable`, with `Retry-After`).",
    }
}
