//! What operators measure, in Prometheus' text format at `GET /metrics` (or on
//! `metrics_listen` alone). The `metrics` facade records; one process-wide Prometheus
//! recorder renders. Every name is here, with what it counts, so that the list in the
//! README stays the list in the code. Labels take only a bounded set of values: route
//! templates (never a raw path), status codes, credential kinds, outcome codes.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Seconds: from 0.5 ms to 10 s, for request latency.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Writes per SQLite commit.
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Whether a recorder is installed: until a server with `metrics_listen` starts, the
/// facade's calls go nowhere, and requests skip the work of labelling themselves.
pub fn enabled() -> bool {
    HANDLE.get().is_some()
}

/// The process's recorder, installed at the first call (once per process, however
/// many servers a test starts in it).
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("gatehouse_http_request_duration_seconds".into()),
                LATENCY_BUCKETS,
            )
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("gatehouse_sqlite_writer_batch_size".into()),
                    BATCH_BUCKETS,
                )
            })
            .unwrap_or_else(|_| PrometheusBuilder::new())
            .build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder was installed first; ours then renders nothing.
        let _ = metrics::set_global_recorder(recorder);
        describe();
        handle
    })
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "gatehouse_http_requests_total",
        "HTTP requests answered, by method, route template and status."
    );
    describe_histogram!(
        "gatehouse_http_request_duration_seconds",
        "Time to answer, by method and route template."
    );
    describe_counter!(
        "gatehouse_sign_ins_total",
        "Password sign-ins, by outcome (ok, invalid_credentials, unknown_user, rate_limited)."
    );
    describe_counter!(
        "gatehouse_lockouts_total",
        "Password sign-in locked after failed attempts in a row."
    );
    describe_counter!(
        "gatehouse_credentials_total",
        "Credential checks, by kind (session, api_key, oauth, client) and outcome (ok or the error code)."
    );
    describe_counter!(
        "gatehouse_tokens_total",
        "OAuth token events: issued (code exchanged), refreshed, revoked, reuse_detected."
    );
    describe_counter!(
        "gatehouse_cache_lookups_total",
        "Credential cache lookups, by cache (keys, grants, clients) and result (hit, miss)."
    );
    describe_gauge!(
        "gatehouse_db_pool_connections",
        "Pooled database connections, by state (in_use, idle), at the last scrape."
    );
    describe_gauge!(
        "gatehouse_db_pool_waiting",
        "Requests waiting for a pooled database connection."
    );
    describe_gauge!(
        "gatehouse_sqlite_writer_queue",
        "Writes queued for the SQLite writer thread."
    );
    describe_histogram!(
        "gatehouse_sqlite_writer_batch_size",
        "Writes committed together by the SQLite writer."
    );
    describe_counter!(
        "gatehouse_purged_rows_total",
        "Rows deleted by the retention job, by kind."
    );
}

/// The text a scrape gets.
pub fn render() -> String {
    handle().render()
}

/// The method as a label: one of the methods the API answers, else `other` — a client
/// may send any token as a method, and every label value is a series kept forever.
fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

/// The status as a label, without formatting one per request.
fn status_label(status: u16) -> &'static str {
    match status {
        200 => "200",
        201 => "201",
        204 => "204",
        302 => "302",
        303 => "303",
        304 => "304",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        408 => "408",
        409 => "409",
        413 => "413",
        415 => "415",
        422 => "422",
        429 => "429",
        431 => "431",
        500 => "500",
        503 => "503",
        other => match other / 100 {
            1 => "1xx",
            2 => "2xx",
            3 => "3xx",
            4 => "4xx",
            _ => "5xx",
        },
    }
}

/// `route` is a route template (or `other`), never a request's path.
pub fn request(method: &str, route: String, status: u16, took: Duration) {
    let method = method_label(method);
    counter!("gatehouse_http_requests_total", "method" => method, "route" => route.clone(), "status" => status_label(status)).increment(1);
    histogram!("gatehouse_http_request_duration_seconds", "method" => method, "route" => route)
        .record(took.as_secs_f64());
}

/// Folds the latency histograms' recent samples into their buckets; without it they
/// would pile up between scrapes (or forever, when nobody scrapes).
pub fn upkeep() {
    if let Some(handle) = HANDLE.get() {
        handle.run_upkeep();
    }
}

pub fn sign_in(outcome: &'static str) {
    counter!("gatehouse_sign_ins_total", "outcome" => outcome).increment(1);
}

pub fn lockout() {
    counter!("gatehouse_lockouts_total").increment(1);
}

pub fn credential(kind: &'static str, outcome: &'static str) {
    counter!("gatehouse_credentials_total", "kind" => kind, "outcome" => outcome).increment(1);
}

pub fn token(event: &'static str) {
    counter!("gatehouse_tokens_total", "event" => event).increment(1);
}

pub fn cache(name: &'static str, hit: bool) {
    counter!("gatehouse_cache_lookups_total", "cache" => name, "result" => if hit { "hit" } else { "miss" })
        .increment(1);
}

pub fn pool(in_use: u32, idle: u32) {
    gauge!("gatehouse_db_pool_connections", "state" => "in_use").set(f64::from(in_use));
    gauge!("gatehouse_db_pool_connections", "state" => "idle").set(f64::from(idle));
}

/// A request starts (`+1`) or stops (`-1`) waiting for a pooled connection.
pub fn pool_waiting(delta: f64) {
    gauge!("gatehouse_db_pool_waiting").increment(delta);
}

/// A write joins (`+1`) or leaves (`-1`) the SQLite writer's queue.
pub fn writer_queue(delta: f64) {
    gauge!("gatehouse_sqlite_writer_queue").increment(delta);
}

pub fn writer_batch(size: usize) {
    histogram!("gatehouse_sqlite_writer_batch_size").record(size as f64);
}

pub fn purged(kind: &'static str, rows: usize) {
    counter!("gatehouse_purged_rows_total", "kind" => kind).increment(rows as u64);
}
