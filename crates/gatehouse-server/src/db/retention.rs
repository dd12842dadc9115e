//! Purging rows that no longer decide anything, a bounded batch per statement, so that
//! a long backlog never holds a lock (or the SQLite writer) for long.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::{
    audit_events, oauth_codes, oauth_device_codes, oauth_refresh_tokens, oauth_requests, sessions,
};

/// Rows deleted by one statement at most.
pub const BATCH: i64 = 1000;

/// What the purge may delete, each kind by its own rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Authorization codes expired before the reuse window (a code lives 60 s; a used
    /// one coming back within the window still revokes its grant).
    Codes,
    /// Refresh tokens expired or revoked before the window. A spent token is kept until
    /// it would have expired (and the window after): until then, coming back, it
    /// revokes its grant (RFC 9700 §4.14.2) — a thief who refreshed first is found out
    /// whenever the rightful client returns. So one client's rows are bounded by the
    /// refreshes of one token lifetime (30 days), not by its history.
    RefreshTokens,
    /// Consent requests no longer answerable.
    ConsentRequests,
    /// Device requests past their expiry (anyone holding a public client's id may
    /// start them, so they are not kept a day; a device still polling after its code
    /// expired hears `expired_token` until the next run, then `invalid_grant`).
    DeviceCodes,
    /// Sessions past their absolute end.
    Sessions,
    /// Audit events older than the configured retention.
    AuditEvents,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Codes,
        Kind::RefreshTokens,
        Kind::ConsentRequests,
        Kind::DeviceCodes,
        Kind::Sessions,
        Kind::AuditEvents,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Codes => "authorization_codes",
            Kind::RefreshTokens => "refresh_tokens",
            Kind::ConsentRequests => "consent_requests",
            Kind::DeviceCodes => "device_codes",
            Kind::Sessions => "sessions",
            Kind::AuditEvents => "audit_events",
        }
    }
}

/// The moments the rules compare with.
#[derive(Debug, Clone, Copy)]
pub struct Cutoffs {
    pub now: NaiveDateTime,
    /// Tokens and codes expired (or revoked) before this are purged.
    pub spent_before: NaiveDateTime,
    /// Audit events from before this are purged; `None`: kept forever.
    pub audit_before: Option<NaiveDateTime>,
}

/// Deletes at most [`BATCH`] rows of one kind; returns how many it deleted. The ids are
/// read first (a `LIMIT` inside `IN (…)` is not portable through diesel), in the same
/// transaction.
pub fn purge_batch(conn: &mut DbConnection, kind: Kind, at: &Cutoffs) -> QueryResult<usize> {
    match kind {
        Kind::Codes => {
            let doomed = oauth_codes::table
                .select(oauth_codes::id)
                .filter(oauth_codes::expires_at.lt(at.spent_before))
                .limit(BATCH)
                .load::<String>(conn)?;
            diesel::delete(oauth_codes::table.filter(oauth_codes::id.eq_any(doomed))).execute(conn)
        }
        Kind::RefreshTokens => {
            let doomed = oauth_refresh_tokens::table
                .select(oauth_refresh_tokens::id)
                .filter(
                    oauth_refresh_tokens::expires_at
                        .lt(at.spent_before)
                        .or(oauth_refresh_tokens::revoked_at.lt(at.spent_before)),
                )
                .limit(BATCH)
                .load::<String>(conn)?;
            diesel::delete(
                oauth_refresh_tokens::table.filter(oauth_refresh_tokens::id.eq_any(doomed)),
            )
            .execute(conn)
        }
        Kind::ConsentRequests => {
            let doomed = oauth_requests::table
                .select(oauth_requests::id)
                .filter(oauth_requests::expires_at.lt(at.now))
                .limit(BATCH)
                .load::<String>(conn)?;
            diesel::delete(oauth_requests::table.filter(oauth_requests::id.eq_any(doomed)))
                .execute(conn)
        }
        Kind::DeviceCodes => {
            let doomed = oauth_device_codes::table
                .select(oauth_device_codes::id)
                .filter(oauth_device_codes::expires_at.lt(at.now))
                .limit(BATCH)
                .load::<String>(conn)?;
            diesel::delete(oauth_device_codes::table.filter(oauth_device_codes::id.eq_any(doomed)))
                .execute(conn)
        }
        Kind::Sessions => {
            let doomed = sessions::table
                .select(sessions::id)
                .filter(sessions::expires_at.le(at.now))
                .limit(BATCH)
                .load::<String>(conn)?;
            diesel::delete(sessions::table.filter(sessions::id.eq_any(doomed))).execute(conn)
        }
        Kind::AuditEvents => {
            let Some(before) = at.audit_before else {
                return Ok(0);
            };
            let doomed = audit_events::table
                .select(audit_events::id)
                .filter(audit_events::created_at.lt(before))
                .limit(BATCH)
                .load::<String>(conn)?;
            diesel::delete(audit_events::table.filter(audit_events::id.eq_any(doomed)))
                .execute(conn)
        }
    }
}

/// Rows of a kind the purge would look at, kept or not: for tests and the operator.
pub fn count(conn: &mut DbConnection, kind: Kind) -> QueryResult<i64> {
    match kind {
        Kind::Codes => oauth_codes::table.count().get_result(conn),
        Kind::RefreshTokens => oauth_refresh_tokens::table.count().get_result(conn),
        Kind::ConsentRequests => oauth_requests::table.count().get_result(conn),
        Kind::DeviceCodes => oauth_device_codes::table.count().get_result(conn),
        Kind::Sessions => sessions::table.count().get_result(conn),
        Kind::AuditEvents => audit_events::table.count().get_result(conn),
    }
}

/// On PostgreSQL, whether this transaction won the purge's turn: replicas purge one at
/// a time, the others skip the round. SQLite's single writer serializes it anyway.
pub fn take_turn(conn: &mut DbConnection) -> QueryResult<bool> {
    #[derive(QueryableByName)]
    struct Turn {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        won: bool,
    }
    match conn {
        DbConnection::Postgresql(c) => {
            let turn: Turn = diesel::sql_query(format!(
                "SELECT pg_try_advisory_xact_lock({}) AS won",
                super::PURGE_LOCK
            ))
            .get_result(c)?;
            Ok(turn.won)
        }
        DbConnection::Sqlite(_) => Ok(true),
    }
}
