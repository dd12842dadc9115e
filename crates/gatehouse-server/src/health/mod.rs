//! Probes: `/healthz` says the process answers; `/readyz` says it can reach its
//! database, so a load balancer stops sending traffic to a replica that cannot.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use diesel::connection::SimpleConnection;
use gatehouse_types::Health;

use crate::error::ApiError;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(crate::startup::resource("/healthz").get(healthz))
        .service(crate::startup::resource("/readyz").get(readyz));
}

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok".into(),
    })
}

pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let pool = state.pool.clone();
    web::block(move || {
        let mut conn = pool
            .get_timeout(Duration::from_secs(2))
            .map_err(|e| ApiError::Unavailable(e.into()))?;
        conn.batch_execute("SELECT 1")
            .map_err(|e| ApiError::Unavailable(e.into()))
    })
    .await??;
    Ok(HttpResponse::Ok().json(Health {
        status: "ready".into(),
    }))
}
