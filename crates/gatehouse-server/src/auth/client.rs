//! What identifies an OAuth client beyond its id: the prefix of its secrets, and which
//! redirect URIs are its own.

/// Every client secret starts with this (then random bytes and a checksum).
pub const SECRET_PREFIX: &str = "gats_";

/// Whether `requested` is one of the client's registered redirect URIs: exactly, except
/// that a loopback `http` URI matches on any port (RFC 8252 §7.3), since native apps
/// listen on whatever port the system gives them.
pub fn redirect_matches(registered: &[String], requested: &str) -> bool {
    registered
        .iter()
        .any(|r| r == requested || loopback_equal_but_port(r, requested))
}

fn loopback_equal_but_port(registered: &str, requested: &str) -> bool {
    let (Ok(a), Ok(b)) = (url::Url::parse(registered), url::Url::parse(requested)) else {
        return false;
    };
    let loopback = |u: &url::Url| {
        u.scheme() == "http"
            && matches!(
                u.host_str(),
                Some("127.0.0.1") | Some("[::1]") | Some("localhost")
            )
    };
    loopback(&a)
        && loopback(&b)
        && a.host_str() == b.host_str()
        && a.path() == b.path()
        && a.query() == b.query()
        && a.username() == b.username()
        && a.password() == b.password()
        && b.fragment().is_none()
}
