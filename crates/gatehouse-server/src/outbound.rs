//! Gatehouse's own calls to URLs that clients chose (back-channel logout): off the
//! request path, through a bounded queue, with retries, short time limits, no
//! redirects followed, and never to a loopback, private or link-local address unless
//! the deployment allows it (`outbound_allow_private`) — else a client's owner could
//! make Gatehouse probe the network it runs in (server-side request forgery).
//!
//! The host is resolved here, every address it resolves to is checked, and the
//! connection is pinned to a checked address, so a name that resolves to a public
//! address for the check and a private one for the call (DNS rebinding) gets nowhere.
//! A leaf: it knows nothing of what it delivers.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};

/// Deliveries waiting at most; past that a new one is dropped (and reported).
pub const QUEUE: usize = 1_000;
/// Deliveries in flight at once.
const CONCURRENCY: usize = 8;
/// Tries per delivery, and the waits between them.
const BACKOFF: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(4)];
/// A whole call, connection included.
pub const TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether an address is one a client-chosen URL must not reach: loopback, private,
/// shared (CGNAT), link-local, unspecified, multicast or broadcast, in either family
/// (an IPv4 address mapped into IPv6 counts as the IPv4 address).
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
                || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
                || (a == 198 && (b == 18 || b == 19)) // benchmarking
                || a >= 240
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            // IPv4 inside IPv6, judged as the IPv4 address it reaches: mapped
            // (::ffff:a.b.c.d), compatible (::a.b.c.d), NAT64 (64:ff9b::/96), 6to4
            // (2002:AABB:CCDD::/48).
            let o = v6.octets();
            let embedded = if let Some(v4) = v6.to_ipv4_mapped() {
                Some(v4)
            } else if (s[..6] == [0; 6] && !v6.is_loopback() && !v6.is_unspecified())
                || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
            {
                Some(std::net::Ipv4Addr::new(o[12], o[13], o[14], o[15]))
            } else if s[0] == 0x2002 {
                Some(std::net::Ipv4Addr::new(o[2], o[3], o[4], o[5]))
            } else {
                None
            };
            if let Some(v4) = embedded {
                return is_internal(IpAddr::V4(v4));
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated, still routed by some)
                || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1) // local-use NAT64 (64:ff9b:1::/48)
                || (s[0] == 0x2001 && s[1] == 0xdb8) // documentation
        }
    }
}

/// The host of `url` when it names an address outright (an IP literal, or
/// `localhost`) that is internal: refused at registration already.
pub fn check_literal_host(url: &url::Url, allow_private: bool) -> Result<(), &'static str> {
    if allow_private {
        return Ok(());
    }
    let internal = match url.host() {
        Some(url::Host::Ipv4(ip)) => is_internal(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => is_internal(IpAddr::V6(ip)),
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        None => true,
    };
    if internal {
        Err("must not lead to a loopback, private or link-local address")
    } else {
        Ok(())
    }
}

/// Why a call was not made, or failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The URL leads somewhere it must not (an internal address), or nowhere.
    Refused(String),
    /// The call was made and failed: no connection, a time-out, or a status that is
    /// not a success (redirects included: they are not followed).
    Failed(String),
    /// The queue was full.
    Dropped,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Refused(why) => write!(f, "refused: {why}"),
            Failure::Failed(why) => write!(f, "failed: {why}"),
            Failure::Dropped => write!(f, "dropped: the delivery queue was full"),
        }
    }
}

/// What became of a delivery: the status answered, or why there was none; and how
/// many tries it took.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub result: Result<u16, Failure>,
    pub attempts: u32,
}

type Report = Box<dyn FnOnce(Outcome) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// A form to POST to a URL, and what to do with the outcome (record it).
pub struct Delivery {
    pub url: String,
    pub form: Vec<(String, String)>,
    pub report: Report,
}

/// The queue of deliveries and the thread that works it (its own small runtime, so
/// that no request's worker waits on a client's slow server).
pub struct Outbox {
    tx: mpsc::Sender<Delivery>,
    allow_private: bool,
}

impl Outbox {
    pub fn new(allow_private: bool) -> std::io::Result<Outbox> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("gatehouse-outbound".into())
            .spawn(move || runtime.block_on(work(rx, allow_private)))?;
        Ok(Outbox { tx, allow_private })
    }

    pub fn allow_private(&self) -> bool {
        self.allow_private
    }

    /// Queues a delivery; when the queue is full it is reported as dropped at once.
    pub fn send(&self, delivery: Delivery) {
        if let Err(e) = self.tx.try_send(delivery) {
            let delivery = match e {
                mpsc::error::TrySendError::Full(d) | mpsc::error::TrySendError::Closed(d) => d,
            };
            tracing::warn!("outbound delivery dropped: the queue is full");
            let report = delivery.report;
            // Reported on the caller's runtime: the outcome is known now.
            actix_web::rt::spawn(report(Outcome {
                result: Err(Failure::Dropped),
                attempts: 0,
            }));
        }
    }
}

async fn work(mut rx: mpsc::Receiver<Delivery>, allow_private: bool) {
    let slots = Arc::new(Semaphore::new(CONCURRENCY));
    while let Some(delivery) = rx.recv().await {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        tokio::spawn(async move {
            let outcome = deliver(&delivery.url, &delivery.form, allow_private).await;
            drop(permit);
            (delivery.report)(outcome).await;
        });
    }
}

/// Tries a delivery until it succeeds, is refused, or the tries run out.
async fn deliver(url: &str, form: &[(String, String)], allow_private: bool) -> Outcome {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let result = post_form(url, form, allow_private).await;
        let again = matches!(result, Err(Failure::Failed(_)));
        match BACKOFF.get(attempts as usize - 1) {
            Some(wait) if again => tokio::time::sleep(*wait).await,
            _ => return Outcome { result, attempts },
        }
    }
}

/// One POST of a form, to a checked and pinned address, no redirects followed.
pub async fn post_form(
    url: &str,
    form: &[(String, String)],
    allow_private: bool,
) -> Result<u16, Failure> {
    let parsed = url::Url::parse(url).map_err(|_| Failure::Refused("not a URL".into()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Failure::Refused("not an http(s) URL".into()));
    }
    check_literal_host(&parsed, allow_private).map_err(|m| Failure::Refused(m.into()))?;
    let host = parsed
        .host_str()
        .ok_or_else(|| Failure::Refused("no host".into()))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = parsed
        .port_or_known_default()
        .ok_or_else(|| Failure::Refused("no port".into()))?;
    let addresses: Vec<SocketAddr> = tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio::net::lookup_host((host.as_str(), port)),
    )
    .await
    .map_err(|_| Failure::Failed("the host name did not resolve in time".into()))?
    .map_err(|_| Failure::Failed("the host name does not resolve".into()))?
    .collect();
    let Some(address) = addresses.first().copied() else {
        return Err(Failure::Failed("the host name does not resolve".into()));
    };
    if !allow_private && addresses.iter().any(|a| is_internal(a.ip())) {
        return Err(Failure::Refused(
            "the host resolves to a loopback, private or link-local address".into(),
        ));
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .no_proxy()
        .user_agent(concat!("Gatehouse/", env!("CARGO_PKG_VERSION")))
        .resolve(&host, address)
        .build()
        .map_err(|e| Failure::Failed(format!("no HTTP client: {e}")))?;
    let res = client
        .post(parsed)
        .form(form)
        .send()
        .await
        .map_err(|e| Failure::Failed(short(&e)))?;
    let status = res.status().as_u16();
    if res.status().is_success() {
        Ok(status)
    } else {
        Err(Failure::Failed(format!("answered {status}")))
    }
}

/// A transport error without the URL (which the audit log already names).
fn short(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        "the request failed".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::",
            "::10.0.0.5",
            "64:ff9b::a00:5",
            "64:ff9b:1::1",
            "2002:7f00:1::1",
            "2002:a00:1::1",
            "fec0::1",
            "198.18.0.1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "100.128.0.1",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn literal_hosts_are_checked_unless_allowed() {
        let u = |s: &str| url::Url::parse(s).unwrap();
        assert!(check_literal_host(&u("http://127.0.0.1:9/x"), false).is_err());
        assert!(check_literal_host(&u("https://[::1]/x"), false).is_err());
        assert!(check_literal_host(&u("https://localhost/x"), false).is_err());
        assert!(check_literal_host(&u("https://169.254.169.254/x"), false).is_err());
        assert!(check_literal_host(&u("https://app.example.com/x"), false).is_ok());
        assert!(check_literal_host(&u("http://127.0.0.1:9/x"), true).is_ok());
    }

    #[actix_web::test]
    async fn a_name_resolving_to_loopback_is_refused_before_any_call() {
        // `localhost.` is a name, not a literal: it is caught after resolving.
        let r = post_form("http://localhost.:9/logout", &[], false).await;
        assert!(matches!(r, Err(Failure::Refused(_))), "{r:?}");
    }
}
