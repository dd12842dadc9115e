//! [`ClientMeta`]: where a request came from (the client's address, as far as trusted
//! proxies vouch for it, and its user agent) and when it arrived — for rate limits,
//! sessions and the audit log.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use chrono::NaiveDateTime;

use super::Authenticator;

/// Where a request came from, for rate limits, sessions and the audit log.
#[derive(Debug, Clone)]
pub struct ClientMeta {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// When the request arrived, by the server's clock.
    pub at: NaiveDateTime,
}

impl FromRequest for ClientMeta {
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Ok(ClientMeta::of(req)))
    }
}

impl ClientMeta {
    pub fn of(req: &HttpRequest) -> ClientMeta {
        let auth = req.app_data::<web::Data<Authenticator>>();
        ClientMeta {
            // The peer, or what a trusted proxy says the client is: a client can
            // write forwarding headers itself, so only those proxies are believed.
            ip: req.peer_addr().map(|a| {
                match auth {
                    Some(s) => crate::client_address::client_ip(
                        a.ip(),
                        req.headers(),
                        &s.trusted_proxies,
                        s.forwarded_header,
                    ),
                    None => a.ip(),
                }
                .to_string()
            }),
            user_agent: req
                .headers()
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(|s| s.chars().take(512).collect()),
            at: auth.map_or_else(crate::clock::system_now, |a| a.clock.now()),
        }
    }

    /// An operator at the command line: no address, the system's time.
    pub fn cli() -> ClientMeta {
        ClientMeta {
            ip: None,
            user_agent: None,
            at: crate::clock::system_now(),
        }
    }
}
