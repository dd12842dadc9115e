//! `OAuthError`: the error body of the protocol endpoints (RFC 6749 §5.2), which is not
//! the JSON API's. The token, revocation and introspection endpoints answer with it;
//! the authorization endpoint reports errors by redirect or error page instead.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};

#[derive(Debug, thiserror::Error)]
#[error("{error}: {description}")]
pub struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
    /// For `invalid_client`: send `WWW-Authenticate: Basic`, the scheme clients
    /// authenticate with (RFC 6749 §5.2).
    pub challenge: bool,
    pub retry_after: Option<u64>,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> OAuthError {
        OAuthError {
            status,
            error,
            description: description.into(),
            challenge: false,
            retry_after: None,
        }
    }

    pub fn invalid_request(d: impl Into<String>) -> OAuthError {
        OAuthError::new(StatusCode::BAD_REQUEST, "invalid_request", d)
    }

    pub fn invalid_grant(d: impl Into<String>) -> OAuthError {
        OAuthError::new(StatusCode::BAD_REQUEST, "invalid_grant", d)
    }

    pub fn invalid_scope(d: impl Into<String>) -> OAuthError {
        OAuthError::new(StatusCode::BAD_REQUEST, "invalid_scope", d)
    }

    pub fn unauthorized_client(d: impl Into<String>) -> OAuthError {
        OAuthError::new(StatusCode::BAD_REQUEST, "unauthorized_client", d)
    }

    /// The device grant's answers while it waits (RFC 8628 §3.5): `authorization_pending`,
    /// `slow_down`, `access_denied`, `expired_token`; 400 like every token error.
    pub fn device(error: &'static str, d: impl Into<String>) -> OAuthError {
        OAuthError::new(StatusCode::BAD_REQUEST, error, d)
    }

    /// The same error, answered 429 with `Retry-After`.
    pub fn after(self, retry_after: u64) -> OAuthError {
        OAuthError {
            status: StatusCode::TOO_MANY_REQUESTS,
            retry_after: Some(retry_after),
            ..self
        }
    }

    pub fn unsupported_grant_type(d: impl Into<String>) -> OAuthError {
        OAuthError::new(StatusCode::BAD_REQUEST, "unsupported_grant_type", d)
    }

    /// 401 with `WWW-Authenticate`, as RFC 6749 §5.2 asks.
    pub fn invalid_client(d: impl Into<String>) -> OAuthError {
        OAuthError {
            challenge: true,
            ..OAuthError::new(StatusCode::UNAUTHORIZED, "invalid_client", d)
        }
    }

    pub fn too_many_attempts(retry_after: u64) -> OAuthError {
        OAuthError {
            retry_after: Some(retry_after),
            ..OAuthError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "invalid_client",
                "Too many failed client authentications; try again later.",
            )
        }
    }

    pub fn server_error() -> OAuthError {
        OAuthError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "Something went wrong on our side.",
        )
    }

    pub fn temporarily_unavailable() -> OAuthError {
        OAuthError {
            retry_after: Some(1),
            ..OAuthError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "The database is unavailable; try again shortly.",
            )
        }
    }
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        res.insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"));
        if self.challenge {
            res.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"gatehouse\""));
        }
        if let Some(secs) = self.retry_after {
            res.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        res.json(super::wire::OAuthErrorBody {
            error: self.error,
            error_description: &self.description,
        })
    }
}

/// Database and internal failures inside the protocol endpoints.
impl From<crate::error::ApiError> for OAuthError {
    fn from(e: crate::error::ApiError) -> OAuthError {
        use crate::error::ApiError;
        match e {
            ApiError::Busy | ApiError::Unavailable(_) => OAuthError::temporarily_unavailable(),
            ApiError::RateLimited { retry_after_secs } => {
                OAuthError::too_many_attempts(retry_after_secs)
            }
            other => {
                tracing::error!(error = ?other, "oauth endpoint failed");
                OAuthError::server_error()
            }
        }
    }
}

/// A client that was not authenticated, in RFC 6749 §5.2's terms.
impl From<crate::auth::client::ClientAuthError> for OAuthError {
    fn from(e: crate::auth::client::ClientAuthError) -> OAuthError {
        use crate::auth::client::ClientAuthError;
        match e {
            ClientAuthError::Malformed(why) => OAuthError::invalid_request(why),
            ClientAuthError::Refused(why) => OAuthError::invalid_client(why),
            ClientAuthError::TooMany(wait) => OAuthError::too_many_attempts(wait),
            ClientAuthError::Failed(e) => OAuthError::from(e),
        }
    }
}
