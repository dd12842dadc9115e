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

pub fn display_name(raw: &str) -> Result<String, &'static str> {
    let s = raw.trim();
    if s.is_empty() || s.chars().count() > 100 {
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
    if s.len() > 254
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

pub fn subscription_name(raw: &str) -> Result<String, &'static str> {
    display_name(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn passwords_need_length_only() {
        assert!(password("short").is_err());
        assert!(password("twelve chars").is_ok());
        assert!(password(&"x".repeat(1025)).is_err());
    }
}
