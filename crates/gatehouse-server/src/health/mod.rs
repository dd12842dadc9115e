//! Operations endpoints: `/healthz` says the process answers; `/readyz` says it can
//! reach its database, so a load balancer stops sending traffic to a replica that
//! cannot; `/metrics` is for Prometheus (`crate::metrics`), on `metrics_listen` only.

#[allow(unused_imports)] // Named by the `#[utoipa::path]` attributes.
use crate::error::responses::*;
use actix_web::{HttpResponse, web};
use gatehouse_types::Health;

use crate::error::ApiError;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(crate::routing::resource("/healthz").get(healthz))
        .service(crate::routing::resource("/readyz").get(readyz));
}

/// `/metrics`, served only on `metrics_listen`'s own server: never on the public
/// address, where anyone could watch sign-in failures and lockouts as they happen.
pub async fn metrics_only(state: web::Data<AppState>) -> HttpResponse {
    render_metrics(&state)
}

fn render_metrics(state: &AppState) -> HttpResponse {
    let pool = state.db.pool().state();
    crate::metrics::pool(
        pool.connections - pool.idle_connections,
        pool.idle_connections,
    );
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(crate::metrics::render())
}

#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "get_health",
    tag = "operations",
    summary = "The process answers.",
    responses((status = 200, description = "Up.", body = Health))
)]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok".into(),
    })
}

#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "get_readiness",
    tag = "operations",
    summary = "The database is reachable.",
    responses((status = 200, description = "Ready.", body = Health), (status = 503, response = E503))
)]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.db.ping().await?;
    Ok(HttpResponse::Ok().json(Health {
        status: "ready".into(),
    }))
}
