//! Field rules that the server enforces and the SPA checks before sending. Each function
//! returns the normalized value or a sentence saying what is wrong.

/// Usernames are case-insensitive: stored and compared in lower case. An e-mail address
/// is a fine username.
pub fn username(raw: &str) -> Result<String, &'static str> {
    let s = raw.trim();
    if s.len() < 3 || s.len() > 254 {
        return Err("must be 3 to 254 characters long");
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+'))
    {
        return Err("may contain only letters, digits and . _ - @ +");
    }
    Ok(s.to_ascii_lowercase())
}

/// 1 to 100 characters, counted as sent (so that a published maximum length is the
/// whole rule), trimmed, none of them a control character.
pub fn display_name(raw: &str) -> Result<String, &'static str> {
    let s = raw.trim();
    if s.is_empty() || raw.chars().count() > 100 {
        return Err("must be 1 to 100 characters long");
    }
    if s.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    Ok(s.to_string())
}

pub fn email(raw: &str) -> Result<String, &'static str> {
    let s = raw.trim();
    let Some((local, domain)) = s.split_once('@') else {
        return Err("must be an e-mail address");
    };
    if raw.chars().count() > 254
        || local.is_empty()
        || domain.len() < 3
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains('@')
        || s.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err("must be an e-mail address");
    }
    Ok(s.to_string())
}

pub const PASSWORD_MIN_CHARS: usize = 12;
pub const PASSWORD_MAX_BYTES: usize = 1024;

/// Length is the rule that matters (NIST SP 800-63B); no composition rules.
pub fn password(raw: &str) -> Result<(), &'static str> {
    if raw.chars().count() < PASSWORD_MIN_CHARS {
        return Err("must be at least 12 characters long");
    }
    if raw.len() > PASSWORD_MAX_BYTES {
        return Err("must be at most 1024 bytes long");
    }
    Ok(())
}

/// A key's name: what it is for, as its owner will recognise it in a list.
pub fn key_name(raw: &str) -> Result<String, &'static str> {
    display_name(raw)
}

/// A redirect (callback) URI an OAuth client may register: absolute, no fragment;
/// `https`, or `http` only on a loopback host (RFC 8252 §7.3), or a private-use scheme
/// with a dot in it for native apps (`com.example.app:/callback`, RFC 8252 §7.1).
pub fn redirect_uri(raw: &str) -> Result<String, &'static str> {
    let s = raw.trim();
    if s.is_empty() || s.len() > 2000 {
        return Err("must be a URL of at most 2000 characters");
    }
    // A backslash is a path separator to browsers but not to every parser: a host
    // hidden behind one (`http://evil.example\@localhost/`) must not pass as loopback.
    if s.contains(['#', '\\']) || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain a fragment, a backslash or white space");
    }
    let Some((scheme, rest)) = s.split_once(':') else {
        return Err("must be an absolute URL");
    };
    let scheme = scheme.to_ascii_lowercase();
    match scheme.as_str() {
        "https" => {
            if !rest.starts_with("//") || host_of(rest).is_empty() {
                return Err("must be an absolute URL");
            }
        }
        "http" => {
            let host = host_of(rest);
            if !(host == "127.0.0.1" || host == "[::1]" || host == "localhost") {
                return Err(
                    "may use http only on a loopback address (127.0.0.1, [::1], localhost)",
                );
            }
        }
        "javascript" | "data" | "file" | "vbscript" => return Err("must not use that scheme"),
        other => {
            let valid = other.contains('.')
                && other
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'));
            if !valid {
                return Err("must be https, loopback http, or a reverse-domain scheme");
            }
        }
    }
    Ok(s.to_string())
}

/// The host (with brackets for IPv6) of `//host:port/path`.
pub fn host_of(after_scheme: &str) -> &str {
    let Some(rest) = after_scheme.strip_prefix("//") else {
        return "";
    };
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if authority.starts_with('[') {
        return authority.split_inclusive(']').next().unwrap_or("");
    }
    authority.split(':').next().unwrap_or("")
}

/// An optional web page of a client (homepage, logo): `https`, or loopback `http`.
pub fn web_url(raw: &str) -> Result<String, &'static str> {
    let s = redirect_uri(raw)?;
    let lower = s.to_ascii_lowercase();
    // No user info: `https://trusted.example@evil.example/` would show one host and
    // open another.
    let authority = lower.split_once("://").map_or("", |(_, rest)| {
        rest.split(['/', '?', '#']).next().unwrap_or("")
    });
    if authority.contains('@') {
        return Err("must not contain a user name or password");
    }
    if lower.starts_with("https://") || lower.starts_with("http://") {
        Ok(s)
    } else {
        Err("must be an https URL")
    }
}

/// The grant types a client may be registered for (RFC 7591 §2 names).
pub const GRANT_TYPES: [&str; 4] = [
    "authorization_code",
    "refresh_token",
    DEVICE_CODE_GRANT,
    "client_credentials",
];

/// RFC 8628's grant type.
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A client's grant types: known names, at least one, no repeats kept.
pub fn grant_types(list: &[String]) -> Result<Vec<String>, String> {
    if list.is_empty() {
        return Err("must name at least one grant type".into());
    }
    let mut out: Vec<String> = Vec::new();
    for g in list {
        if !GRANT_TYPES.contains(&g.as_str()) {
            return Err(format!(
                "`{g}` is not a grant type this server offers ({})",
                GRANT_TYPES.join(", ")
            ));
        }
        if !out.contains(g) {
            out.push(g.clone());
        }
    }
    if out.iter().any(|g| g == "refresh_token")
        && !out
            .iter()
            .any(|g| g == "authorization_code" || g == DEVICE_CODE_GRANT)
    {
        return Err("refresh_token needs authorization_code or the device code grant".into());
    }
    Ok(out)
}

/// A browser origin, `scheme://host[:port]`, as browsers send it in `Origin`: lower
/// case, no path, no default port; `http` only on a loopback host.
pub fn origin(raw: &str) -> Result<String, &'static str> {
    let s = raw.trim().to_ascii_lowercase();
    let Some((scheme, rest)) = s.split_once("://") else {
        return Err("must be an origin: scheme://host[:port]");
    };
    if rest.is_empty()
        || rest.len() > 255
        || rest.contains(['/', '?', '#', '@', '\\', '*'])
        || rest.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err("must be an origin: scheme://host[:port], with no path");
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !p.contains(']') => {
            let Ok(n) = p.parse::<u16>() else {
                return Err("has a port that is not a number from 1 to 65535");
            };
            if n == 0 {
                return Err("has a port that is not a number from 1 to 65535");
            }
            (h, Some(n))
        }
        _ => (rest, None),
    };
    let default = match scheme {
        "https" => 443,
        "http" => {
            if !(host == "127.0.0.1" || host == "[::1]" || host == "localhost") {
                return Err("may use http only on a loopback address");
            }
            80
        }
        _ => return Err("must be an http or https origin"),
    };
    Ok(match port {
        Some(p) if p != default => format!("{scheme}://{host}:{p}"),
        _ => format!("{scheme}://{host}"),
    })
}

pub fn subscription_name(raw: &str) -> Result<String, &'static str> {
    display_name(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalized_and_checked() {
        assert_eq!(
            origin("https://App.Example.com").unwrap(),
            "https://app.example.com"
        );
        assert_eq!(
            origin("https://a.example:443").unwrap(),
            "https://a.example"
        );
        assert_eq!(
            origin("https://a.example:8443").unwrap(),
            "https://a.example:8443"
        );
        assert_eq!(
            origin("http://127.0.0.1:5173").unwrap(),
            "http://127.0.0.1:5173"
        );
        assert_eq!(origin("http://[::1]:80").unwrap(), "http://[::1]");
        assert!(origin("http://app.example.com").is_err());
        assert!(origin("https://a.example/").is_err());
        assert!(origin("https://a.example/path").is_err());
        assert!(origin("https://user@a.example").is_err());
        assert!(origin("https://*.example").is_err());
        assert!(origin("null").is_err());
        assert!(origin("ftp://a.example").is_err());
        assert!(origin("https://a.example:0").is_err());
        assert!(origin("https://a.example:99999").is_err());
    }

    #[test]
    fn grant_types_are_known_and_consistent() {
        let g = |v: &[&str]| grant_types(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert!(g(&["authorization_code", "refresh_token"]).is_ok());
        assert_eq!(
            g(&["client_credentials", "client_credentials"])
                .unwrap()
                .len(),
            1
        );
        assert!(g(&[DEVICE_CODE_GRANT, "refresh_token"]).is_ok());
        assert!(g(&[]).is_err());
        assert!(g(&["password"]).is_err());
        assert!(g(&["implicit"]).is_err());
        assert!(g(&["refresh_token"]).is_err());
        assert!(g(&["client_credentials", "refresh_token"]).is_err());
    }

    #[test]
    fn usernames_are_lowercased_and_checked() {
        assert_eq!(username("  Ada@Example.com ").unwrap(), "ada@example.com");
        assert!(username("ab").is_err());
        assert!(username("has space").is_err());
        assert!(username("quote\"").is_err());
    }

    #[test]
    fn emails_need_a_domain() {
        assert!(email("a@b.co").is_ok());
        assert!(email("a@b").is_err());
        assert!(email("@b.co").is_err());
        assert!(email("a b@c.de").is_err());
    }

    #[test]
    fn redirect_uris_follow_rfc_8252() {
        assert!(redirect_uri("https://app.example.com/cb?x=1").is_ok());
        assert!(redirect_uri("http://127.0.0.1:8080/cb").is_ok());
        assert!(redirect_uri("http://[::1]/cb").is_ok());
        assert!(redirect_uri("http://localhost:3000/cb").is_ok());
        assert!(redirect_uri("com.example.app:/callback").is_ok());
        assert!(redirect_uri("http://app.example.com/cb").is_err());
        assert!(redirect_uri("http://127.0.0.1.evil.com/cb").is_err());
        assert!(redirect_uri("http://evil.com\\@localhost/cb").is_err());
        assert!(redirect_uri("https://app.example.com/cb#frag").is_err());
        assert!(redirect_uri("javascript:alert(1)").is_err());
        assert!(redirect_uri("myapp:/cb").is_err());
        assert!(redirect_uri("/relative").is_err());
        assert!(web_url("com.example.app:/x").is_err());
        assert_eq!(host_of("//user@h.example:443/p"), "h.example");
    }

    #[test]
    fn passwords_need_length_only() {
        assert!(password("short").is_err());
        assert!(password("twelve chars").is_ok());
        assert!(password(&"x".repeat(1025)).is_err());
    }

    #[test]
    fn web_urls_name_the_host_they_open() {
        assert!(web_url("https://app.example.com/home").is_ok());
        assert!(web_url("https://www.trusted.example@evil.example/").is_err());
        assert!(web_url("https://user:pw@app.example.com/").is_err());
        // An @ later in the URL is not user info.
        assert!(web_url("https://app.example.com/team/@ada").is_ok());
    }
}
