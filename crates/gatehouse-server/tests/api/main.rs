//! The API's integration tests: one binary (every extra test file is another slow
//! link), the real server on port 0, real HTTP, and each test run on SQLite and on
//! PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod api_keys;
mod audit;
mod cli;
mod client_kinds;
mod deploy;
mod errors;
mod faults;
mod hardening;
mod isolation;
mod layers;
mod limits;
mod logout;
mod metrics;
mod oauth;
mod openapi;
mod operations;
mod outage;
mod passkeys;
mod proxies;
mod reauth;
mod replicas;
mod retention;
mod sessions;
mod subscription;
mod sudo;
mod token_services;
mod two_step;
mod users;
mod web;
