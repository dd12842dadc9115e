//! Scopes (docs/PRODUCT.md §4): `openid`, `profile`, `email` for OpenID Connect;
//! `api:read` to read the user's API as a read-only key would; `api:write` to write as
//! a full-access key; `alm` (Rally) as an alias of both. Stored space-separated and
//! sorted.

use std::collections::BTreeSet;

pub const KNOWN: [&str; 6] = [
    "api:read",
    "api:write",
    "email",
    "offline_access",
    "openid",
    "profile",
];

/// What each scope a client may ask for releases, as the API description lists them.
pub const DESCRIBED: [(&str, &str); 7] = [
    (
        "openid",
        "OpenID Connect sign-in: an id_token, and the UserInfo endpoint",
    ),
    ("profile", "the user's name and username"),
    ("email", "the user's e-mail address"),
    (
        "api:read",
        "read the API as the user, as a read-only key would",
    ),
    (
        "api:write",
        "read and write the API as the user, as a full-access key would",
    ),
    ("alm", "Rally's name for api:read and api:write together"),
    (
        "offline_access",
        "keep access while the user is signed out (OpenID Connect Core §11): the refresh token outlives the sign-in session",
    ),
];

/// Whether `scopes` give access that outlives the person's session: writing the API,
/// or refresh tokens past sign-out. Allowing those needs sudo mode.
pub fn lasting(stored: &str) -> bool {
    stored
        .split(' ')
        .any(|s| matches!(s, "api:write" | "offline_access"))
}

/// Parses a `scope` parameter; `None` names the first unknown scope as `Err`.
pub fn parse(raw: &str) -> Result<BTreeSet<String>, String> {
    let mut out = BTreeSet::new();
    for s in raw.split(' ').filter(|s| !s.is_empty()) {
        match s {
            "alm" => {
                out.insert("api:read".to_string());
                out.insert("api:write".to_string());
            }
            // Writing implies reading.
            "api:write" => {
                out.insert("api:read".to_string());
                out.insert("api:write".to_string());
            }
            s if KNOWN.contains(&s) => {
                out.insert(s.to_string());
            }
            other => return Err(other.to_string()),
        }
    }
    Ok(out)
}

pub fn join(scopes: &BTreeSet<String>) -> String {
    scopes.iter().cloned().collect::<Vec<_>>().join(" ")
}

pub fn split(stored: &str) -> BTreeSet<String> {
    stored
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alm_is_read_and_write_and_unknown_scopes_fail() {
        assert_eq!(join(&parse("alm").unwrap()), "api:read api:write");
        assert_eq!(join(&parse("openid  api:read").unwrap()), "api:read openid");
        assert_eq!(join(&parse("api:write").unwrap()), "api:read api:write");
        assert_eq!(parse("api:read admin"), Err("admin".to_string()));
        assert!(parse("").unwrap().is_empty());
    }
}
