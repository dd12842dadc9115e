//! Gatehouse's server: the actix-web JSON API over diesel, the web app's files, and the
//! operator CLI.
//! `startup` mounts every route; each domain folder owns its handlers and rules, and
//! its queries are its module of `db/` (named `store` in the domain).

pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod bootstrap;
pub mod client_address;
pub mod clock;
pub mod config;
pub mod csv;
pub mod db;
pub mod error;
pub mod grants;
pub mod health;
pub mod limiter;
pub mod limits;
pub mod logout;
pub mod metrics;
pub mod oauth;
pub mod oauth_clients;
pub mod openapi;
pub mod operator;
pub mod outbound;
pub mod pagination;
#[cfg(test)]
mod proptests;
pub mod retention;
pub mod routing;
pub mod second_factors;
pub mod secret;
pub mod sessions;
pub mod startup;
pub mod state;
pub mod subscriptions;
pub mod telemetry;
pub mod users;
pub mod web;
