//! The HTML pages, rendered on the server. Every value from outside goes through `esc`.

use std::fmt::Write;

use chrono::{DateTime, Utc};

use crate::gatehouse::{ApiFailure, KeyPage, UserInfo};
use crate::session::Notice;

const STYLE: &str = "
:root { color-scheme: light dark; --accent: #1d5fbf; --bad: #b3261e; --good: #1e6b34; }
@media (prefers-color-scheme: dark) { :root { --accent: #8ab4f8; --bad: #f2b8b5; --good: #9bd7a8; } }
* { box-sizing: border-box; }
body { margin: 0; font: 1rem/1.5 system-ui, -apple-system, 'Segoe UI', sans-serif; }
header { border-bottom: 1px solid #8884; }
header p { margin: 0 auto; max-width: 44rem; padding: .75rem 1rem; font-weight: 600; }
main { max-width: 44rem; margin: 0 auto; padding: 1rem 1rem 3rem; }
h1 { font-size: 1.6rem; margin: 1rem 0 .5rem; }
h2 { font-size: 1.2rem; margin: 2rem 0 .5rem; }
a { color: var(--accent); }
a:focus-visible, button:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.button, button { display: inline-block; font: inherit; font-weight: 600; padding: .5rem 1rem;
  border-radius: .4rem; border: 1px solid var(--accent); cursor: pointer; text-decoration: none; }
.button.primary, button.primary { background: var(--accent); color: Canvas; }
button.secondary { background: transparent; color: var(--accent); }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; margin: 0; }
dt { font-weight: 600; }
dd { margin: 0; overflow-wrap: anywhere; }
ul { padding-left: 1.25rem; }
li { margin: .25rem 0; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .9em; }
.muted { opacity: .75; }
.notice { padding: .6rem .8rem; border-radius: .4rem; border: 1px solid; }
.good { color: var(--good); }
.bad { color: var(--bad); }
.actions { display: flex; flex-wrap: wrap; gap: .75rem; margin-top: 2rem; }
.actions form { margin: 0; }
";

/// Escapes text for HTML element content and double-quoted attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn layout(title: &str, main: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title} · Gatehouse sample app</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <header><p>Gatehouse sample app</p></header>\n<main>\n{main}</main>\n</body>\n</html>\n",
        title = esc(title),
    )
}

fn when(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

pub fn signed_out() -> String {
    layout(
        "Sign in",
        "<h1>Welcome</h1>\n\
         <p>This app shows how a web app signs its users in with Gatehouse: the OAuth 2 \
         authorization-code flow with PKCE, then your profile and your API keys, read \
         with the access token Gatehouse gives the app.</p>\n\
         <p><a id=\"sign-in\" class=\"button primary\" href=\"/login\">Sign in with Gatehouse</a></p>\n",
    )
}

/// What the signed-in page shows.
pub struct Home<'a> {
    pub profile: &'a Result<UserInfo, ApiFailure>,
    pub keys: &'a Result<KeyPage, ApiFailure>,
    pub notice: Option<&'a Notice>,
    pub expires_at: Option<DateTime<Utc>>,
    pub scope: Option<&'a str>,
    pub public_client: bool,
}

pub fn home(v: &Home<'_>) -> String {
    let mut h = String::new();
    let name = v
        .profile
        .as_ref()
        .ok()
        .and_then(|p| p.name.as_deref().or(p.preferred_username.as_deref()));
    let _ = match name {
        Some(n) => writeln!(h, "<h1>Hello, {}</h1>", esc(n)),
        None => writeln!(h, "<h1>You are signed in</h1>"),
    };

    if let Some(notice) = v.notice {
        let _ = match notice {
            Notice::Refreshed { expires_at } => writeln!(
                h,
                "<p id=\"refresh-result\" class=\"notice good\" role=\"status\">Token refreshed. \
                 The new access token expires {}.</p>",
                expires_at.map_or("— Gatehouse did not say when".into(), |t| format!(
                    "at {}",
                    when(&t)
                )),
            ),
            Notice::RefreshFailed { code, description } => writeln!(
                h,
                "<p id=\"refresh-result\" class=\"notice bad\" role=\"alert\">Refreshing the \
                 token failed: <code>{}</code>{}</p>",
                esc(code),
                description
                    .as_deref()
                    .map_or(String::new(), |d| format!(" — {}", esc(d))),
            ),
        };
    }

    let failures: Vec<&ApiFailure> = [v.profile.as_ref().err(), v.keys.as_ref().err()]
        .into_iter()
        .flatten()
        .collect();
    if !failures.is_empty() {
        h.push_str("<div id=\"api-error\" class=\"notice bad\" role=\"alert\">\n");
        for f in &failures {
            let status = f
                .status
                .map_or("no answer".to_string(), |s| format!("HTTP {s}"));
            let _ = writeln!(
                h,
                "<p><code>{}</code> failed: {status}{}{}</p>",
                esc(f.call),
                f.code
                    .as_deref()
                    .map_or(String::new(), |c| format!(" <code>{}</code>", esc(c))),
                f.message
                    .as_deref()
                    .map_or(String::new(), |m| format!(" — {}", esc(m))),
            );
        }
        if failures.iter().any(|f| f.status == Some(401)) {
            h.push_str(
                "<p>Gatehouse no longer accepts this app's access token: it expired, or \
                 you revoked the app. Refresh the token, or sign out and sign in again.</p>\n",
            );
        }
        h.push_str("</div>\n");
    }

    if let Ok(p) = v.profile {
        h.push_str("<h2>Your profile</h2>\n<dl>\n");
        let _ = writeln!(
            h,
            "<dt>Name</dt><dd id=\"profile-name\">{}</dd>",
            match (&p.name, &p.preferred_username) {
                (Some(n), Some(u)) if n != u => format!("{} ({})", esc(n), esc(u)),
                (Some(n), _) | (None, Some(n)) => esc(n),
                (None, None) =>
                    "<span class=\"muted\">not shared (ask for the profile scope)</span>".into(),
            }
        );
        let _ = writeln!(
            h,
            "<dt>Email</dt><dd id=\"profile-email\">{}</dd>",
            p.email.as_deref().map_or_else(
                || "<span class=\"muted\">none shared</span>".to_string(),
                esc
            )
        );
        let _ = writeln!(
            h,
            "<dt>Subject</dt><dd id=\"profile-sub\"><code>{}</code></dd>",
            esc(&p.sub)
        );
        h.push_str("</dl>\n<p class=\"muted\">From <code>GET /oauth/userinfo</code>.</p>\n");
    }

    if let Ok(page) = v.keys {
        h.push_str("<h2>Your API keys</h2>\n");
        if page.items.is_empty() {
            h.push_str(
                "<p id=\"no-keys\">You have no API keys. Create one in Gatehouse and it \
                 shows up here.</p>\n",
            );
        } else {
            h.push_str("<ul id=\"api-keys\">\n");
            for k in &page.items {
                let permission = match k.permission.as_str() {
                    "read_only" => "read-only",
                    "full_access" => "full access",
                    other => other,
                };
                let _ = writeln!(
                    h,
                    "<li><strong>{}</strong> <code>{}</code> <span class=\"muted\">{}{}</span></li>",
                    esc(&k.name),
                    esc(&k.hint),
                    esc(permission),
                    k.expires_at
                        .as_deref()
                        .map_or(String::new(), |e| format!(", expires {}", esc(e))),
                );
            }
            h.push_str("</ul>\n");
            if page.next_cursor.is_some() {
                h.push_str("<p class=\"muted\">…and more; this page shows the first 200.</p>\n");
            }
        }
        h.push_str(
            "<p class=\"muted\">From <code>GET /api/v1/api-keys</code> with the access \
             token. Gatehouse shows hints, never secrets.</p>\n",
        );
    }

    h.push_str("<h2>This sign-in</h2>\n<dl>\n");
    let expiry = match v.expires_at {
        Some(t) if t <= Utc::now() => format!("{} (expired)", when(&t)),
        Some(t) => when(&t),
        None => "unknown".into(),
    };
    let _ = writeln!(
        h,
        "<dt>Access token expires</dt><dd>{expiry}</dd>\n\
         <dt>Scopes granted</dt><dd><code>{}</code></dd>\n\
         <dt>Client type</dt><dd>{}</dd>",
        esc(v.scope.unwrap_or("(as asked)")),
        if v.public_client {
            "public (PKCE, no secret)"
        } else {
            "confidential (client secret)"
        },
    );
    h.push_str("</dl>\n");

    h.push_str(
        "<div class=\"actions\">\n\
         <form method=\"post\" action=\"/refresh\"><button id=\"refresh\" class=\"primary\" \
         type=\"submit\">Refresh token</button></form>\n\
         <form method=\"post\" action=\"/logout\"><button id=\"sign-out\" class=\"secondary\" \
         type=\"submit\">Sign out</button></form>\n\
         </div>\n",
    );
    layout(name.unwrap_or("Signed in"), &h)
}

pub fn denied() -> String {
    layout(
        "Access denied",
        "<h1>Not signed in</h1>\n\
         <p id=\"error\">You denied access, so this app cannot show your profile or your \
         API keys. You can sign in again whenever you like.</p>\n\
         <p><a href=\"/\">Back to the start</a></p>\n",
    )
}

pub fn error(title: &str, message: &str) -> String {
    layout(
        title,
        &format!(
            "<h1>{}</h1>\n<p id=\"error\">{}</p>\n<p><a href=\"/\">Back to the start</a></p>\n",
            esc(title),
            esc(message)
        ),
    )
}
