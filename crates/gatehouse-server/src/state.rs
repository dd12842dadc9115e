//! `AppState`: what every handler shares — the settings, the database handle (its
//! read path and its write path), and the auth layer's [`Authenticator`].

use actix_web::web;

use crate::auth::Authenticator;
use crate::clock::Clock;
use crate::config::Settings;
use crate::db::Database;

pub struct AppState {
    pub settings: Settings,
    /// The server's time; the same clock as `auth.clock`.
    pub clock: Clock,
    /// `db.read(…)` for reads, `db.write(…)` for every change (one transaction).
    pub db: Database,
    /// Credential checks, their caches, keys and limiters. Also registered on its own
    /// as app data, for the extractors of the auth layer.
    pub auth: web::Data<Authenticator>,
    /// Gatehouse's own calls to client-chosen URLs (back-channel logout).
    pub outbox: crate::outbound::Outbox,
}
