//! The JSON error body of every `/api/v1` failure (docs/PRODUCT.md §7) and the stable
//! machine codes clients switch on.

use serde::{Deserialize, Serialize};

/// `{"error": {"code": "…", "message": "…", "details": {…}}}`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Error))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// A stable `snake_case` code; see [`codes`].
    pub code: String,
    /// A sentence for people.
    pub message: String,
    /// More about the error: `field` for `validation_failed`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object, required = false))]
    pub details: Option<serde_json::Value>,
}

/// The sentence docs/PRODUCT.md §6 prescribes when a subscription has switched API keys off.
pub const API_KEYS_DISABLED_MESSAGE: &str = "API Keys are disabled. Please contact your Subscription Administrator to enable this functionality.";

/// Every error code the API answers with. Clients match on these, never on messages.
pub mod codes {
    pub const MALFORMED_JSON: &str = "malformed_json";
    pub const INVALID_BODY: &str = "invalid_body";
    pub const INVALID_PARAMETER: &str = "invalid_parameter";
    pub const UNAUTHENTICATED: &str = "unauthenticated";
    pub const INVALID_CREDENTIALS: &str = "invalid_credentials";
    pub const SESSION_EXPIRED: &str = "session_expired";
    /// A sign-in's second step came too late, or after too many wrong ones.
    pub const SECOND_STEP_EXPIRED: &str = "second_step_expired";
    /// A one-time or recovery code that is not right, or was used already.
    pub const INVALID_SECOND_STEP: &str = "invalid_second_step";
    pub const INVALID_CREDENTIAL: &str = "invalid_credential";
    pub const CSRF_FAILED: &str = "csrf_failed";
    pub const CROSS_ORIGIN_REFUSED: &str = "cross_origin_refused";
    pub const API_KEY_INVALID: &str = "api_key_invalid";
    pub const API_KEY_EXPIRED: &str = "api_key_expired";
    pub const API_KEYS_DISABLED: &str = "api_keys_disabled";
    pub const USER_INACTIVE: &str = "user_inactive";
    pub const INSUFFICIENT_PERMISSION: &str = "insufficient_permission";
    pub const INSUFFICIENT_SCOPE: &str = "insufficient_scope";
    pub const TOKEN_INVALID: &str = "token_invalid";
    pub const TOKEN_REVOKED: &str = "token_revoked";
    pub const FORBIDDEN: &str = "forbidden";
    pub const SESSION_REQUIRED: &str = "session_required";
    /// A sensitive action on a session whose password was last confirmed more than
    /// ten minutes ago: confirm it (`POST /api/v1/session/sudo`) and try again.
    pub const SUDO_REQUIRED: &str = "sudo_required";
    /// The subscription requires two-step sign-in and this person has no second step
    /// yet: only setting one up answers until they do.
    pub const ENROLMENT_REQUIRED: &str = "two_step_enrolment_required";
    /// The session signed in with a temporary password (an administrator's reset): only
    /// choosing a new one (`PUT /api/v1/me/password`) answers until then.
    pub const PASSWORD_CHANGE_REQUIRED: &str = "password_change_required";
    /// The subscription requires two-step sign-in and this person's time to set it up
    /// has passed: an administrator must reset their second steps.
    pub const TWO_STEP_REQUIRED: &str = "two_step_required";
    /// A right temporary password (an administrator's reset) older than three days:
    /// an administrator must reset it again.
    pub const TEMPORARY_PASSWORD_EXPIRED: &str = "temporary_password_expired";
    pub const NOT_FOUND: &str = "not_found";
    pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
    pub const CONFLICT: &str = "conflict";
    pub const USERNAME_TAKEN: &str = "username_taken";
    pub const LAST_ADMIN: &str = "last_admin";
    pub const SERVICE_ACCOUNT: &str = "service_account";
    pub const REQUEST_TIMEOUT: &str = "request_timeout";
    pub const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported_media_type";
    pub const VALIDATION_FAILED: &str = "validation_failed";
    pub const RATE_LIMITED: &str = "rate_limited";
    pub const SERVICE_UNAVAILABLE: &str = "service_unavailable";
    pub const INTERNAL: &str = "internal_error";
}
