//! The parameters of a protocol request, read once: form-urlencoded (the query string
//! of the authorization endpoint, or a form body), each parameter the server reads at
//! most once (RFC 6749 §3.1: "request and response parameters MUST NOT be included
//! more than once"; parameters it does not read are ignored, repeated or not).

use actix_web::HttpRequest;

/// Why parameters were refused.
#[derive(Debug)]
pub enum ParamsError {
    Unreadable,
    /// This parameter appears more than once.
    Repeated(String),
    /// A body that is not `application/x-www-form-urlencoded`.
    NotAForm,
}

impl ParamsError {
    pub fn describe(&self) -> String {
        match self {
            ParamsError::Unreadable => "The request's parameters cannot be read.".into(),
            ParamsError::Repeated(name) => format!("`{name}` appears more than once."),
            ParamsError::NotAForm => "The body must be application/x-www-form-urlencoded.".into(),
        }
    }
}

/// A request's parameters, in order.
#[derive(Debug, Clone, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Parses `raw`, refusing a repeated parameter of `known` (the ones the endpoint
    /// reads).
    pub fn parse(raw: &[u8], known: &[&str]) -> Result<Params, ParamsError> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(raw).map_err(|_| ParamsError::Unreadable)?;
        let mut seen = std::collections::HashSet::new();
        if let Some(dup) = pairs
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| known.contains(k))
            .find(|k| !seen.insert(*k))
        {
            return Err(ParamsError::Repeated(dup.to_string()));
        }
        Ok(Params(pairs))
    }

    /// A form body: `application/x-www-form-urlencoded`, parsed as [`Params::parse`].
    pub fn form(req: &HttpRequest, body: &[u8], known: &[&str]) -> Result<Params, ParamsError> {
        if !is_form(req) {
            return Err(ParamsError::NotAForm);
        }
        Params::parse(body, known)
    }

    /// Every parameter, in order, as sent.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// The value of a parameter; empty counts as absent (RFC 6749 §3.1).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
}

/// Whether a request's body is `application/x-www-form-urlencoded`, as the protocol
/// endpoints take their parameters.
pub fn is_form(req: &HttpRequest) -> bool {
    req.headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_parameters_appear_once_and_empty_is_absent() {
        let p = Params::parse(b"a=1&b=&x=1&x=2", &["a", "b"]).unwrap();
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), None);
        assert!(matches!(
            Params::parse(b"a=1&a=2", &["a"]),
            Err(ParamsError::Repeated(n)) if n == "a"
        ));
    }
}
