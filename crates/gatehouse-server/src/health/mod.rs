//! Operations endpoints: `/healthz` says the process answers; `/readyz` says it can
//! reach its database, so a load balancer stops sending traffic to a replica that
//! cannot; `/api/v1/openapi.json` serves the checked-in API description.

use actix_web::{HttpResponse, web};
use gatehouse_types::Health;

use crate::error::ApiError;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(crate::routing::resource("/healthz").get(healthz))
        .service(crate::routing::resource("/readyz").get(readyz));
}

/// The document in `api-spec/`, compiled in so the binary serves the spec it was
/// built with.
const OPENAPI: &str = include_str!("../../../../api-spec/openapi.json");

pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json; charset=utf-8")
        .body(OPENAPI)
}

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok".into(),
    })
}

pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.db.ping().await?;
    Ok(HttpResponse::Ok().json(Health {
        status: "ready".into(),
    }))
}
