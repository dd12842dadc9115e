//! Builds the HTTP application. Every route of the server is mounted here, in one
//! visible list, from each domain's `configure`.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::DefaultHeaders;
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, HttpMessage, HttpResponse, HttpServer, web};
use anyhow::Context;
use tracing::Instrument;

use crate::config::Settings;
use crate::error::ApiError;
use crate::routing::{query_error, resource};
use crate::state::AppState;
use crate::{
    api_keys, audit, auth, db, grants, health, oauth, oauth_clients, second_factors, sessions,
    subscriptions, users,
};

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

/// The whole route table.
pub fn routes(cfg: &mut web::ServiceConfig) {
    // JSON bodies are read by `routing::JsonBody` and `optional_json`, with their own
    // limit and errors; no handler takes `web::Json`.
    cfg.app_data(web::QueryConfig::default().error_handler(|err, _| query_error(err).into()))
        .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::NotFound.into()))
        .configure(health::configure)
        .service(
            web::scope("/api/v1")
                .configure(sessions::configure)
                .configure(api_keys::configure)
                .configure(users::configure)
                .configure(second_factors::configure)
                .configure(subscriptions::configure)
                .configure(audit::configure)
                .configure(oauth_clients::configure)
                .configure(grants::configure)
                .configure(oauth::configure_api)
                .service(resource("/auth/verify").get(auth::verify::verify))
                .service(resource("/openapi.json").get(crate::openapi::openapi))
                .default_service(web::to(not_found)),
        )
        .configure(oauth::configure_protocol)
        .configure(crate::web::configure)
        // Every other path is a page of the web app (index.html), except under the
        // reserved prefixes (`/api/`, `/oauth/`, …), which keep the JSON 404.
        .default_service(web::to(crate::web::handlers::page));
}

/// A running server: its port (so tests can bind port 0) and its shared state.
pub struct Application {
    port: u16,
    server: Server,
    /// `/metrics` alone on `metrics_listen`, with its port.
    metrics: Option<(u16, Server)>,
    state: web::Data<AppState>,
}

/// Opens the pool, migrates the database, and wraps both in the handlers' `Database`.
fn open_database(settings: &Settings) -> anyhow::Result<db::Database> {
    let pool = db::connect(&settings.database_url, settings.db_pool_size)?;
    {
        let mut conn = pool.get().context("connecting to the database")?;
        let applied = db::migrate(&mut conn)?;
        if applied > 0 {
            tracing::info!(applied, "database migrated");
        }
    }
    db::Database::new(pool, &settings.database_url)
}

/// The built web app, with a warning when there is none yet (the API works without).
fn web_files(settings: &Settings) -> crate::web::WebFiles {
    let files = crate::web::WebFiles::new(settings.web_dir.clone());
    if !files.is_built() {
        tracing::warn!(
            web_dir = %files.dir().display(),
            "the web app is not built (no index.html): pages answer 503 until \
             `cargo xtask build-web` writes it, or set GATEHOUSE_WEB_DIR; the API works"
        );
    }
    files
}

/// Every request: a request id (answered as `X-Request-Id`) and a span for it, one log
/// line with method, path (never the query, which may carry OAuth parameters), status
/// and latency; `Cache-Control: no-store` on API and protocol answers unless the handler
/// said otherwise (they are someone's data, and some carry a secret shown once); and
/// JSON labelled UTF-8.
async fn private_and_logged(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let request_id = uuid::Uuid::new_v4().to_string();
    let span = crate::telemetry::request_span(&request_id);
    let (method, path) = (req.method().clone(), req.path().to_string());
    let private = path.starts_with("/api/") || path.starts_with("/oauth/");
    let started = Instant::now();
    let mut res = next.call(req).instrument(span.clone()).await?;
    let headers = res.headers_mut();
    if private && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v == "application/json")
    {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
    }
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        headers.insert(header::HeaderName::from_static("x-request-id"), v);
    }
    let took = started.elapsed();
    if crate::metrics::enabled() {
        let route = res
            .request()
            .match_pattern()
            .unwrap_or_else(|| "other".to_string());
        crate::metrics::request(method.as_str(), route, res.status().as_u16(), took);
    }
    span.in_scope(|| {
        tracing::info!(
            %method,
            %path,
            status = res.status().as_u16(),
            latency_us = took.as_micros() as u64,
            "request"
        )
    });
    Ok(res)
}

/// The protocol endpoints browser apps call, and the methods they take.
const CORS_PROTOCOL: [(&str, &str); 4] = [
    ("/oauth/token", "POST"),
    ("/login/oauth2/token", "POST"),
    ("/oauth/revoke", "POST"),
    ("/oauth/userinfo", "GET, POST"),
];
/// Public documents anyone may read from anywhere.
const CORS_PUBLIC: [&str; 3] = [
    "/.well-known/openid-configuration",
    "/.well-known/oauth-authorization-server",
    "/oauth/jwks",
];

/// The methods a preflight may ask for at `path`, if its answers can ever be shared
/// with another origin: the public documents, the protocol endpoints browser apps
/// call, and the JSON API (which then takes only OAuth access tokens; forward-auth is
/// for gateways, not browsers).
fn cors_methods(path: &str) -> Option<&'static str> {
    if CORS_PUBLIC.contains(&path) {
        return Some("GET, HEAD");
    }
    if let Some((_, methods)) = CORS_PROTOCOL.iter().find(|(p, _)| *p == path) {
        return Some(methods);
    }
    (path.starts_with("/api/v1/") && path != "/api/v1/auth/verify")
        .then_some("GET, HEAD, POST, PUT, PATCH, DELETE")
}

/// CORS (`auth::cors`): preflights answered here for the paths that may share answers
/// (any origin may ask; what is shared is decided on the real request); public
/// documents readable by every origin; any other answer shared with the request's
/// origin only when the credential check marked it ([`auth::cors::CorsAllowed`]). No
/// `Access-Control-Allow-Credentials`, ever.
async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let Some(origin) = req.headers().get(header::ORIGIN).cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let methods = cors_methods(req.path());
    let preflight = req.method() == actix_web::http::Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    // The JSON API shares answers only with OAuth tokens: a preflight that will not
    // send `Authorization` has nothing to ask for there.
    let api = req.path().starts_with("/api/");
    let with_token = req
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|h| {
            h.split(',')
                .any(|n| n.trim().eq_ignore_ascii_case("authorization"))
        });
    if let (true, Some(methods)) = (preflight && (with_token || !api), methods) {
        let res = HttpResponse::NoContent()
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin))
            .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, methods))
            .insert_header((
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                "Authorization, Content-Type",
            ))
            .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"))
            .insert_header((header::VARY, "Origin"))
            .finish();
        return Ok(req.into_response(res));
    }
    let public = CORS_PUBLIC.contains(&req.path());
    let mut res = next.call(req).await?.map_into_boxed_body();
    let allowed = if public {
        Some(HeaderValue::from_static("*"))
    } else {
        res.request()
            .extensions()
            .get::<auth::cors::CorsAllowed>()
            .and_then(|a| HeaderValue::from_str(&a.0).ok())
    };
    if let Some(value) = allowed {
        let headers = res.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("WWW-Authenticate, Retry-After"),
        );
        if !public {
            headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        }
    }
    Ok(res)
}

impl Application {
    /// Opens the database, migrates it, and binds the listener. Nothing is served
    /// until [`Application::run_until_stopped`].
    pub fn build(mut settings: Settings) -> anyhow::Result<Application> {
        // With somewhere to serve them, metrics record from here on (the recorder is
        // the process's, installed once); without, nothing records them.
        if settings.metrics_listen.is_some() {
            crate::metrics::handle();
        }
        let listener = TcpListener::bind(&settings.listen)
            .with_context(|| format!("binding {}", settings.listen))?;
        let port = listener.local_addr()?.port();
        // Listening on port 0 (tests, ad-hoc runs): the public URL names the real port,
        // so that the OAuth issuer is an address clients can reach.
        if let Some(base) = settings.public_url.strip_suffix(":0") {
            settings.public_url = format!("{base}:{port}");
        }
        let web_files = web_files(&settings);
        let db = open_database(&settings)?;
        let clock = crate::clock::Clock::default();
        let auth = web::Data::new(auth::Authenticator::new(
            &settings,
            db.clone(),
            clock.clone(),
        )?);
        if db::Backend::of_url(&settings.database_url)? == db::Backend::Postgres {
            web::Data::into_inner(auth.clone())
                .tell_replicas(&settings.database_url)
                .context("starting the replica messages thread")?;
        }
        let state = web::Data::new(AppState {
            settings: settings.clone(),
            clock,
            db,
            auth: auth.clone(),
            outbox: crate::outbound::Outbox::new(settings.outbound_allow_private)
                .context("starting the outbound delivery thread")?,
        });
        let app_state = state.clone();
        // The built web app and the memory cache of its assets: the web domain's own
        // state, beside the application's.
        let web_files = web::Data::new(web_files);
        // Behind https, browsers are told to come back only over https for a year.
        let hsts = crate::auth::session::cookie_name(&settings.public_url)
            == crate::auth::SECURE_SESSION_COOKIE;
        let server = HttpServer::new(move || {
            let mut headers = DefaultHeaders::new()
                .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                .add((header::REFERRER_POLICY, "same-origin"))
                .add((header::X_FRAME_OPTIONS, "DENY"));
            if hsts {
                headers = headers.add((header::STRICT_TRANSPORT_SECURITY, "max-age=31536000"));
            }
            App::new()
                .app_data(app_state.clone())
                .app_data(auth.clone())
                .app_data(web_files.clone())
                .wrap(from_fn(crate::limits::body_deadline))
                .wrap(headers)
                .wrap(from_fn(cors))
                .wrap(from_fn(private_and_logged))
                .configure(routes)
        })
        .workers(settings.workers)
        .client_request_timeout(crate::limits::HEAD_TIMEOUT)
        .shutdown_timeout(5)
        .listen(listener)?
        .run();
        let metrics = match &settings.metrics_listen {
            None => None,
            Some(address) => {
                let listener = TcpListener::bind(address)
                    .with_context(|| format!("binding {address} (metrics_listen)"))?;
                let port = listener.local_addr()?.port();
                let metrics_state = state.clone();
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(metrics_state.clone())
                        .service(resource("/metrics").get(crate::health::metrics_only))
                        .default_service(web::to(not_found))
                })
                .workers(1)
                .shutdown_timeout(1)
                .listen(listener)?
                .run();
                Some((port, server))
            }
        };
        Ok(Application {
            port,
            server,
            metrics,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of `metrics_listen`, when it is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(port, _)| *port)
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Serves until the process is told to stop, purging what has expired meanwhile
    /// (`retention`).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let sweeper = actix_web::rt::spawn(crate::retention::run(self.state.clone()));
        let upkeep = actix_web::rt::spawn(async {
            let mut every = actix_web::rt::time::interval(Duration::from_secs(5));
            loop {
                every.tick().await;
                crate::metrics::upkeep();
            }
        });
        let metrics = self.metrics.map(|(_, server)| {
            let handle = server.handle();
            (handle, actix_web::rt::spawn(server))
        });
        let state = self.state.clone();
        let key_refresher = actix_web::rt::spawn(async move {
            let mut every = actix_web::rt::time::interval(Duration::from_secs(30));
            every.tick().await;
            loop {
                every.tick().await;
                let st = state.clone();
                if let Err(e) = state
                    .db
                    .write(move |conn| Ok(st.auth.signing.refresh(conn)?))
                    .await
                {
                    tracing::warn!(error = %e, "reloading signing keys failed");
                }
            }
        });
        // Until SIGTERM or SIGINT: actix then stops accepting, lets the requests in
        // flight finish (up to five seconds), and returns.
        let result = self.server.await;
        if let Some((handle, task)) = metrics {
            handle.stop(true).await;
            let _ = task.await;
        }
        sweeper.abort();
        upkeep.abort();
        key_refresher.abort();
        let state = self.state.clone();
        let stopped = actix_web::web::block(move || {
            state.auth.stop_telling_replicas();
            state.db.stop();
        })
        .await;
        match stopped {
            Ok(()) => tracing::info!("stopped: requests drained, background work ended"),
            Err(e) => tracing::warn!(error = %e, "stopping the background work failed"),
        }
        result
    }
}
