//! What a client may send and how slowly: the head of a request within
//! [`HEAD_TIMEOUT`] (actix answers 408 itself; it arms that timer once per connection,
//! so on a kept-alive connection only the first head is timed — the reverse proxy's
//! header timeout covers the rest, `deploy/nginx.conf`), its body within
//! [`BODY_TIMEOUT`] of the request's start. A body that trickles in slower is cut off: the handler's read
//! fails, the answer is replaced by 408 `request_timeout`, and the connection closes
//! (its unread rest cannot be skipped). Sizes are limited where bodies are read: JSON
//! bodies at `routing::JSON_LIMIT`, forms at actix's 256 KiB, headers at actix's.
//!
//! A slow client otherwise holds a connection and a worker's attention for as long as
//! it likes; with enough of them nobody else is served.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::HttpMessage;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use futures_util::Stream;

use crate::error::ApiError;

/// How long a client has to send a request's head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a client has to send a request's body, from the start of the request.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// A request body that must arrive before its deadline. The body itself is shared with
/// the answer ([`Holding`]), so that it is still there, unread or not, when the answer
/// is sent.
struct Deadline {
    inner: Rc<RefCell<Payload>>,
    sleep: Pin<Box<actix_web::rt::time::Sleep>>,
    expired: Rc<Cell<bool>>,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired.get() {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = Pin::new(&mut *self.inner.borrow_mut()).poll_next(cx) {
            return Poll::Ready(item);
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.expired.set(true);
            return Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the request body did not arrive in time",
            )))));
        }
        Poll::Pending
    }
}

/// Whether the request says a body follows.
fn has_body(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
}

/// Gives the request's body its deadline, and answers 408 when it passed.
pub async fn body_deadline(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if !has_body(&req) {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    }
    let expired = Rc::new(Cell::new(false));
    let body = Rc::new(RefCell::new(req.take_payload()));
    let deadline = Deadline {
        inner: body.clone(),
        sleep: Box::pin(actix_web::rt::time::sleep(BODY_TIMEOUT)),
        expired: expired.clone(),
    };
    req.set_payload(Payload::from(
        Box::pin(deadline) as Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>
    ));
    let res = next.call(req).await?;
    let res = if expired.get() {
        let (req, _) = res.into_parts();
        let mut answer = if req.path().starts_with("/oauth/") || req.path().starts_with("/login/") {
            // The protocol endpoints answer in OAuth's error format (RFC 6749 §5.2).
            actix_web::HttpResponse::RequestTimeout()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(serde_json::json!({
                    "error": "invalid_request",
                    "error_description": "The request body did not arrive in time.",
                }))
        } else {
            actix_web::ResponseError::error_response(&ApiError::RequestTimeout)
        };
        answer
            .head_mut()
            .set_connection_type(actix_web::http::ConnectionType::Close);
        ServiceResponse::new(req, answer)
    } else {
        res.map_into_boxed_body()
    };
    // Held until the answer is sent: actix closes the connection after answering a
    // request whose body is unfinished and still held, where it would otherwise go on
    // reading and discarding a dropped chunked body, for as long as it trickles.
    Ok(res.map_body(|_, answer| {
        BoxBody::new(Holding {
            answer,
            _body: body,
        })
    }))
}

/// An answer that keeps its request's body until it has been sent.
struct Holding {
    answer: BoxBody,
    _body: Rc<RefCell<Payload>>,
}

impl MessageBody for Holding {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> actix_web::body::BodySize {
        self.answer.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.get_mut().answer).poll_next(cx)
    }
}
