//! How a path is mounted: [`resource`] registers the methods a path answers, answers
//! `HEAD` wherever it answers `GET`, and answers any other method with 405 and an
//! `Allow` header naming the ones it does (RFC 9110 §15.5.6). A leaf module: it knows
//! actix and the error type, nothing of the domains.

use actix_web::dev::{AppService, HttpServiceFactory};
use actix_web::http::header::{self, HeaderValue};
use actix_web::{FromRequest, Handler, HttpResponse, Responder, ResponseError, web};

use crate::error::ApiError;

/// Largest JSON body accepted; every body of this API is far smaller.
pub const JSON_LIMIT: usize = 64 * 1024;

/// A path and the methods it answers; mount it with `cfg.service(…)`.
pub struct Resource {
    inner: actix_web::Resource,
    allow: Vec<&'static str>,
}

/// The resource at `path`. Its methods are added with [`Resource::get`] and friends.
pub fn resource(path: &str) -> Resource {
    Resource {
        inner: web::resource(path),
        allow: Vec::new(),
    }
}

impl Resource {
    /// `GET`, and `HEAD` by the same handler (actix sends no body for `HEAD`).
    pub fn get<F, Args>(mut self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.allow.extend(["GET", "HEAD"]);
        self.inner = self
            .inner
            .route(web::get().to(handler.clone()))
            .route(web::head().to(handler));
        self
    }

    pub fn post<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.method("POST", web::post().to(handler))
    }

    pub fn put<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.method("PUT", web::put().to(handler))
    }

    pub fn patch<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.method("PATCH", web::patch().to(handler))
    }

    pub fn delete<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.method("DELETE", web::delete().to(handler))
    }

    fn method(mut self, name: &'static str, route: actix_web::Route) -> Self {
        self.allow.push(name);
        self.inner = self.inner.route(route);
        self
    }
}

impl HttpServiceFactory for Resource {
    fn register(mut self, config: &mut AppService) {
        // One order whatever the order of mounting.
        const ORDER: [&str; 6] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];
        self.allow
            .sort_by_key(|m| ORDER.iter().position(|o| o == m).unwrap_or(ORDER.len()));
        let allow = self.allow.join(", ");
        self.inner
            .default_service(web::to(move || {
                let allow = allow.clone();
                async move { method_not_allowed(&allow) }
            }))
            .register(config)
    }
}

/// 405 with the JSON error body and `Allow`.
pub fn method_not_allowed(allow: &str) -> HttpResponse {
    let mut res = ApiError::MethodNotAllowed.error_response();
    if let Ok(v) = HeaderValue::from_str(allow) {
        res.headers_mut().insert(header::ALLOW, v);
    }
    res
}
