//! `?limit=` and `?cursor=` for every list: limit 1 to 200 (default 50); the cursor is
//! opaque to clients (base64url of the sort key of the last item served).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDateTime};
use serde::Deserialize;

use crate::error::ApiError;
use gatehouse_types::codes;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// How many items: 1 to 200, 50 when left out.
    #[param(value_type = i64, required = false, minimum = 1, maximum = 200, default = 50)]
    pub limit: Option<i64>,
    /// Opaque: the `next_cursor` of the previous page (base64url). Empty: the first page.
    /// One this server did not issue: 400 `invalid_parameter`.
    #[param(value_type = String, required = false, pattern = r"^[A-Za-z0-9_-]*$")]
    pub cursor: Option<String>,
}

impl PageParams {
    pub fn limit(&self) -> Result<i64, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(_) => Err(ApiError::BadRequest {
                code: codes::INVALID_PARAMETER,
                message: format!("`limit` must be between 1 and {MAX_LIMIT}."),
                details: Some(serde_json::json!({"field": "limit"})),
            }),
        }
    }

    /// The decoded cursor, if any (an empty `cursor=` is none: the first page); a
    /// cursor we did not issue is a 400.
    pub fn cursor(&self) -> Result<Option<String>, ApiError> {
        let Some(raw) = self.cursor.as_ref().filter(|c| !c.is_empty()) else {
            return Ok(None);
        };
        URL_SAFE_NO_PAD
            .decode(raw)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            // Never hand the database a control character (PostgreSQL refuses NUL).
            .filter(|s| !s.chars().any(char::is_control))
            .map(Some)
            .ok_or_else(|| ApiError::BadRequest {
                code: codes::INVALID_PARAMETER,
                message: "`cursor` is not a cursor this server issued.".into(),
                details: Some(serde_json::json!({"field": "cursor"})),
            })
    }
}

/// The sort key of lists ordered by a time and then the id.
pub fn time_key(at: NaiveDateTime, id: &str) -> String {
    format!("{}|{id}", at.and_utc().to_rfc3339())
}

impl PageParams {
    /// The decoded cursor of a list ordered by a time and then the id.
    pub fn time_cursor(&self) -> Result<Option<(NaiveDateTime, String)>, ApiError> {
        let Some(raw) = self.cursor()? else {
            return Ok(None);
        };
        raw.split_once('|')
            .and_then(|(at, id)| {
                uuid::Uuid::parse_str(id).ok()?;
                Some((
                    DateTime::parse_from_rfc3339(at).ok()?.naive_utc(),
                    id.to_string(),
                ))
            })
            .map(Some)
            .ok_or_else(|| {
                ApiError::bad_request(codes::INVALID_PARAMETER, "`cursor` is not valid.")
            })
    }
}

/// A free-text query parameter: trimmed, at most `max` characters, no control
/// characters; empty counts as absent.
pub fn text_param(
    name: &'static str,
    value: Option<String>,
    max: usize,
) -> Result<Option<String>, ApiError> {
    let Some(raw) = value else {
        return Ok(None);
    };
    // Counted as sent, as the published `maxLength` counts; then trimmed.
    let too_long = raw.chars().count() > max;
    let v = raw.trim().to_string();
    if v.is_empty() && !too_long {
        return Ok(None);
    }
    if too_long || v.chars().any(char::is_control) {
        return Err(ApiError::BadRequest {
            code: codes::INVALID_PARAMETER,
            message: format!(
                "`{name}` must be at most {max} characters, without control characters."
            ),
            details: Some(serde_json::json!({"field": name})),
        });
    }
    Ok(Some(v))
}

/// A query parameter naming a record by id: a UUID, or a 400.
pub fn id_param(name: &'static str, value: Option<String>) -> Result<Option<String>, ApiError> {
    match value {
        None => Ok(None),
        Some(v) if uuid::Uuid::parse_str(&v).is_ok() => Ok(Some(v)),
        Some(_) => Err(ApiError::BadRequest {
            code: codes::INVALID_PARAMETER,
            message: format!("`{name}` must be an id (a UUID)."),
            details: Some(serde_json::json!({"field": name})),
        }),
    }
}

pub fn encode_cursor(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key)
}

/// Given one row more than the limit was fetched, trims it and says where to go on.
pub fn page<R, T>(
    mut rows: Vec<R>,
    limit: i64,
    key: impl Fn(&R) -> String,
    to_api: impl Fn(R) -> T,
) -> gatehouse_types::Page<T> {
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit.max(0) as usize);
    let next_cursor = if has_more {
        rows.last().map(|r| encode_cursor(&key(r)))
    } else {
        None
    };
    gatehouse_types::Page {
        items: rows.into_iter().map(to_api).collect(),
        next_cursor,
    }
}
