//! Words for people: relative dates, scopes in plain language, roles, and a message
//! for every error code the API answers with.

use chrono::{DateTime, Datelike, Timelike, Utc};
use gatehouse_types::error::API_KEYS_DISABLED_MESSAGE;
use gatehouse_types::{Permission, Role, codes};

use crate::api::ApiError;

/// Milliseconds since the epoch, from the browser's clock.
fn now_millis() -> i64 {
    js_sys::Date::now() as i64
}

/// "3 days ago", "in 2 hours", "just now".
pub fn relative(t: DateTime<Utc>) -> String {
    let diff = (now_millis() - t.timestamp_millis()) / 1000;
    let (secs, future) = if diff < 0 {
        (-diff, true)
    } else {
        (diff, false)
    };
    if secs < 45 {
        return "just now".into();
    }
    let (n, unit) = match secs {
        s if s < 3600 => ((s + 30) / 60, "minute"),
        s if s < 86_400 => ((s + 1800) / 3600, "hour"),
        s if s < 30 * 86_400 => ((s + 43_200) / 86_400, "day"),
        s if s < 365 * 86_400 => ((s + 15 * 86_400) / (30 * 86_400), "month"),
        s => ((s + 182 * 86_400) / (365 * 86_400), "year"),
    };
    let n = n.max(1);
    let plural = if n == 1 { "" } else { "s" };
    if future {
        format!("in {n} {unit}{plural}")
    } else {
        format!("{n} {unit}{plural} ago")
    }
}

/// The exact time, for a tooltip: "2026-11-30 16:40:12 UTC". Written by hand:
/// chrono's strftime machinery would add kilobytes to the bundle.
pub fn exact(t: DateTime<Utc>) -> String {
    format!("{} {} UTC", date(t), clock(t))
}

/// A day as people write it: "12 Mar 2027".
pub fn day(t: DateTime<Utc>) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!("{} {} {}", t.day(), MONTHS[t.month0() as usize], t.year())
}

/// A date input's value (`2026-11-30`) at `hour:minute:second` UTC. Parsed by hand:
/// chrono's format-string parser would add kilobytes to the bundle.
pub fn day_at(value: &str, hour: u32, minute: u32, second: u32) -> Option<DateTime<Utc>> {
    let mut parts = value.splitn(3, '-').map(|p| p.parse::<u32>().ok());
    let (year, month, day) = (parts.next()??, parts.next()??, parts.next()??);
    chrono::NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?
        .and_hms_opt(hour, minute, second)
        .map(|t| t.and_utc())
}

/// `2026-11-30T16:40:12Z`, for `<time datetime>` and the API's filters.
pub fn iso(t: DateTime<Utc>) -> String {
    format!("{}T{}Z", date(t), clock(t))
}

fn date(t: DateTime<Utc>) -> String {
    format!("{:04}-{:02}-{:02}", t.year(), t.month(), t.day())
}

fn clock(t: DateTime<Utc>) -> String {
    format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())
}

/// A browser as people name it, from its user agent: "Firefox on Windows".
pub fn browser(user_agent: &str) -> String {
    let ua = user_agent;
    let name = if ua.contains("Edg/") {
        "Edge"
    } else if ua.contains("Firefox/") {
        "Firefox"
    } else if ua.contains("Chrome/") || ua.contains("Chromium/") {
        "Chrome"
    } else if ua.contains("Safari/") {
        "Safari"
    } else if ua.contains("curl/") {
        "curl"
    } else {
        return ua.chars().take(60).collect();
    };
    let system = [
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| *name);
    match system {
        Some(s) => format!("{name} on {s}"),
        None => name.to_string(),
    }
}

/// The host a link really opens, as the browser parses it.
pub fn host(url: &str) -> Option<String> {
    web_sys::Url::new(url).ok().map(|u| u.host())
}

/// Scopes in the order people read them: who you are first, then what it may do.
pub fn ordered_scopes(scopes: &[String]) -> Vec<String> {
    const ORDER: [&str; 7] = [
        "openid",
        "profile",
        "email",
        "api:read",
        "alm",
        "api:write",
        "offline_access",
    ];
    let rank = |i: usize| {
        ORDER
            .iter()
            .position(|o| *o == scopes[i])
            .unwrap_or(ORDER.len())
    };
    let mut order: Vec<usize> = (0..scopes.len()).collect();
    sort_indices(&mut order, &|a, b| rank(a).cmp(&rank(b)));
    order.into_iter().map(|i| scopes[i].clone()).collect()
}

/// What a scope lets an application do, in plain words.
pub fn scope_text(scope: &str) -> String {
    match scope {
        "openid" => "Know who you are (sign you in)".into(),
        "profile" => "See your name and username".into(),
        "email" => "See your e-mail address".into(),
        "api:read" => "Read your data through the API, as a read-only key would".into(),
        "api:write" => "Change your data through the API, as a full-access key would".into(),
        "alm" => "Read and change your data through the API".into(),
        "offline_access" => {
            "Keep this access after you sign out of Gatehouse, until you revoke it".into()
        }
        other => format!("Use the permission “{other}”"),
    }
}

pub fn role_label(role: Role) -> &'static str {
    match role {
        Role::Admin => "Admin",
        Role::Editor => "Editor",
        Role::Viewer => "Viewer",
    }
}

pub fn roles_text(roles: &[Role]) -> String {
    let names: Vec<&str> = roles.iter().map(|r| role_label(*r)).collect();
    match names.len() {
        0 => "nobody".into(),
        1 => format!("{}s", names[0]),
        _ => format!(
            "{} and {}s",
            names[..names.len() - 1]
                .iter()
                .map(|n| format!("{n}s"))
                .collect::<Vec<_>>()
                .join(", "),
            names[names.len() - 1]
        ),
    }
}

pub fn permission_label(p: Permission) -> &'static str {
    match p {
        Permission::ReadOnly => "Read-only",
        Permission::FullAccess => "Full access",
    }
}

/// What a form calls the field the API names, to begin a sentence with.
pub fn field_label(field: &str) -> &str {
    match field {
        "name" => "The name",
        "redirect_uris" => "Callback URLs",
        "homepage_url" => "The homepage",
        "allowed_origins" => "Allowed origins",
        "post_logout_redirect_uris" => "Sign-out return URLs",
        "backchannel_logout_uri" => "The back-channel logout URL",
        "username" => "The username",
        "display_name" => "The display name",
        "email" => "The e-mail address",
        "password" => "The password",
        "current_password" => "The current password",
        "new_password" => "The new password",
        "expires_at" => "The expiry date",
        other => other,
    }
}

/// A sentence for people for every error the API can answer. The server's own
/// message is already written for people; the codes below get wording that says what
/// to do next in this app.
pub fn error_text(e: &ApiError) -> String {
    match e.code.as_str() {
        codes::INVALID_CREDENTIALS => "Wrong username or password. If you are sure they are right, your account may be locked after too many attempts or disabled: wait 15 minutes or ask your administrator.".into(),
        codes::RATE_LIMITED => match e.retry_after {
            Some(s) => format!("Too many attempts. Wait {s} second{} and try again.", if s == 1 { "" } else { "s" }),
            None => "Too many attempts. Wait a moment and try again.".into(),
        },
        codes::API_KEYS_DISABLED => API_KEYS_DISABLED_MESSAGE.into(),
        codes::SESSION_EXPIRED | codes::UNAUTHENTICATED => "Your session has ended. Sign in again to continue.".into(),
        codes::CSRF_FAILED => "This page is out of date. Reload it and try again.".into(),
        codes::SESSION_REQUIRED => "This needs a signed-in browser session.".into(),
        codes::SUDO_REQUIRED => "This needs your password again: try once more and confirm it when asked.".into(),
        codes::ENROLMENT_REQUIRED => "Your subscription requires two-step sign-in: set it up first.".into(),
        codes::TEMPORARY_PASSWORD_EXPIRED => "This temporary password has expired. Ask your administrator for a new one.".into(),
        codes::PASSWORD_CHANGE_REQUIRED => "You signed in with a temporary password: choose your own first.".into(),
        codes::FORBIDDEN | codes::INSUFFICIENT_PERMISSION => format!("You are not allowed to do this. {}", e.message),
        codes::NOT_FOUND => "It no longer exists: someone may have deleted it. Reload the page.".into(),
        codes::LAST_ADMIN => "The subscription needs at least one active admin: make someone else an admin first.".into(),
        codes::USERNAME_TAKEN => "That username is taken. Choose another.".into(),
        codes::SERVICE_UNAVAILABLE => "Gatehouse cannot reach its database right now. Try again in a moment.".into(),
        codes::INTERNAL => "Something went wrong on the server. Try again; if it keeps happening, tell your administrator.".into(),
        codes::PAYLOAD_TOO_LARGE => "That is too much text. Shorten it and try again.".into(),
        _ => e.message.clone(),
    }
}

/// Sorts indices (stably) by `order`: the one sort the bundle carries (the lists'
/// search and sort, the scopes' order).
pub fn sort_indices(indices: &mut [usize], order: &dyn Fn(usize, usize) -> std::cmp::Ordering) {
    indices.sort_by(|a, b| order(*a, *b));
}
