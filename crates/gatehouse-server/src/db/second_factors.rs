//! Queries on `second_factors`, `recovery_codes` and `sign_in_steps`: a person's second
//! steps of sign-in, their recovery codes, and sign-ins waiting for a second step.
//! Every spend — a one-time code's step, a recovery code, a waiting sign-in — is a
//! conditional `UPDATE` or `DELETE`, so two requests racing spend it once.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::{
    recovery_codes, second_factors, second_step_resets, sign_in_steps, webauthn_ceremonies,
};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = second_factors)]
pub struct FactorRow {
    pub id: String,
    pub subscription_id: String,
    pub user_id: String,
    /// `totp` or `passkey`.
    pub kind: String,
    pub name: String,
    /// A one-time code's base32 secret; a passkey's public record (webauthn-rs's
    /// `Passkey`, JSON).
    pub secret: String,
    /// Whether the person proved it works (typed a code from it).
    pub confirmed: bool,
    /// The last time step a code was used for.
    pub last_step: Option<i64>,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
    /// A passkey's credential id (base64url).
    pub credential_id: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = second_factors)]
pub struct NewFactor<'a> {
    pub id: &'a str,
    pub subscription_id: &'a str,
    pub user_id: &'a str,
    pub kind: &'a str,
    pub name: &'a str,
    pub secret: &'a str,
    pub confirmed: bool,
    pub created_at: NaiveDateTime,
    pub credential_id: Option<&'a str>,
}

/// Takes the person's row lock for the rest of the transaction (a no-op update; on
/// PostgreSQL a concurrent change of their second steps waits for this one, so "the
/// first" and "the last" step are decided once; SQLite has one writer anyway).
pub fn lock_person(conn: &mut DbConnection, user_id: &str) -> QueryResult<()> {
    use crate::db::schema::users;
    diesel::update(users::table.find(user_id))
        .set(users::updated_at.eq(users::updated_at))
        .execute(conn)
        .map(drop)
}

/// The passkey with this credential id, if any.
pub fn find_passkey(
    conn: &mut DbConnection,
    credential_id: &str,
) -> QueryResult<Option<FactorRow>> {
    second_factors::table
        .filter(second_factors::credential_id.eq(credential_id))
        .filter(second_factors::kind.eq("passkey"))
        .select(FactorRow::as_select())
        .first(conn)
        .optional()
}

/// A passkey was used: its record (with the authenticator's new counter) and when.
/// `false` when it was removed meanwhile.
pub fn use_passkey(
    conn: &mut DbConnection,
    id: &str,
    record: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(second_factors::table.find(id))
        .set((
            second_factors::secret.eq(record),
            second_factors::last_used_at.eq(Some(now)),
        ))
        .execute(conn)
        .map(|n| n == 1)
}

/// A WebAuthn ceremony's first half.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webauthn_ceremonies)]
pub struct CeremonyRow {
    pub id: String,
    pub user_id: Option<String>,
    pub kind: String,
    pub state: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

/// Stores a ceremony's first half (and sweeps those past their time).
pub fn insert_ceremony(conn: &mut DbConnection, row: &CeremonyRow) -> QueryResult<()> {
    diesel::delete(
        webauthn_ceremonies::table.filter(webauthn_ceremonies::expires_at.le(row.created_at)),
    )
    .execute(conn)?;
    diesel::insert_into(webauthn_ceremonies::table)
        .values((
            webauthn_ceremonies::id.eq(&row.id),
            webauthn_ceremonies::user_id.eq(&row.user_id),
            webauthn_ceremonies::kind.eq(&row.kind),
            webauthn_ceremonies::state.eq(&row.state),
            webauthn_ceremonies::created_at.eq(row.created_at),
            webauthn_ceremonies::expires_at.eq(row.expires_at),
        ))
        .execute(conn)
        .map(drop)
}

/// A ceremony of `kind`, still in its time.
pub fn find_ceremony(
    conn: &mut DbConnection,
    id: &str,
    kind: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<CeremonyRow>> {
    webauthn_ceremonies::table
        .find(id)
        .filter(webauthn_ceremonies::kind.eq(kind))
        .filter(webauthn_ceremonies::expires_at.gt(now))
        .select(CeremonyRow::as_select())
        .first(conn)
        .optional()
}

/// Spends a ceremony: `false` when another request spent it first.
pub fn spend_ceremony(conn: &mut DbConnection, id: &str) -> QueryResult<bool> {
    diesel::delete(webauthn_ceremonies::table.find(id))
        .execute(conn)
        .map(|n| n == 1)
}

pub fn insert(conn: &mut DbConnection, new: &NewFactor<'_>) -> QueryResult<()> {
    diesel::insert_into(second_factors::table)
        .values(new)
        .execute(conn)
        .map(drop)
}

/// A user's factors, oldest first (unconfirmed ones included).
pub fn list(conn: &mut DbConnection, user_id: &str) -> QueryResult<Vec<FactorRow>> {
    second_factors::table
        .filter(second_factors::user_id.eq(user_id))
        .order((second_factors::created_at, second_factors::id))
        .select(FactorRow::as_select())
        .load(conn)
}

/// One of the user's factors.
pub fn find(conn: &mut DbConnection, user_id: &str, id: &str) -> QueryResult<Option<FactorRow>> {
    second_factors::table
        .filter(second_factors::user_id.eq(user_id))
        .filter(second_factors::id.eq(id))
        .select(FactorRow::as_select())
        .first(conn)
        .optional()
}

/// Whether the user has a second step to sign in with.
pub fn has_confirmed(conn: &mut DbConnection, user_id: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        second_factors::table
            .filter(second_factors::user_id.eq(user_id))
            .filter(second_factors::confirmed.eq(true)),
    ))
    .get_result(conn)
}

/// Confirms an unconfirmed factor with the step of the code that proved it.
pub fn confirm(
    conn: &mut DbConnection,
    user_id: &str,
    id: &str,
    name: &str,
    step: i64,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(
        second_factors::table
            .filter(second_factors::user_id.eq(user_id))
            .filter(second_factors::id.eq(id))
            .filter(second_factors::confirmed.eq(false)),
    )
    .set((
        second_factors::confirmed.eq(true),
        second_factors::name.eq(name),
        second_factors::last_step.eq(Some(step)),
        second_factors::last_used_at.eq(Some(now)),
    ))
    .execute(conn)
    .map(|n| n == 1)
}

/// Spends a time step of a confirmed factor: `false` when that step (or a later one)
/// was used already.
pub fn use_step(
    conn: &mut DbConnection,
    id: &str,
    step: i64,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(
        second_factors::table
            .filter(second_factors::id.eq(id))
            .filter(second_factors::confirmed.eq(true))
            .filter(
                second_factors::last_step
                    .is_null()
                    .or(second_factors::last_step.lt(step)),
            ),
    )
    .set((
        second_factors::last_step.eq(Some(step)),
        second_factors::last_used_at.eq(Some(now)),
    ))
    .execute(conn)
    .map(|n| n == 1)
}

pub fn delete(conn: &mut DbConnection, user_id: &str, id: &str) -> QueryResult<bool> {
    diesel::delete(
        second_factors::table
            .filter(second_factors::user_id.eq(user_id))
            .filter(second_factors::id.eq(id)),
    )
    .execute(conn)
    .map(|n| n == 1)
}

/// An administrator's reset: every factor and recovery code of a user goes, and the
/// time is kept (a new grace period to set one up starts). How many factors went.
pub fn reset(conn: &mut DbConnection, user_id: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)))
        .execute(conn)?;
    diesel::delete(second_step_resets::table.find(user_id)).execute(conn)?;
    diesel::insert_into(second_step_resets::table)
        .values((
            second_step_resets::user_id.eq(user_id),
            second_step_resets::reset_at.eq(now),
        ))
        .execute(conn)?;
    diesel::delete(second_factors::table.filter(second_factors::user_id.eq(user_id))).execute(conn)
}

/// When an administrator last reset the user's second steps.
pub fn last_reset(conn: &mut DbConnection, user_id: &str) -> QueryResult<Option<NaiveDateTime>> {
    second_step_resets::table
        .find(user_id)
        .select(second_step_resets::reset_at)
        .first(conn)
        .optional()
}

pub fn delete_recovery_codes(conn: &mut DbConnection, user_id: &str) -> QueryResult<()> {
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)))
        .execute(conn)
        .map(drop)
}

/// Replaces the user's recovery codes with these hashes.
pub fn replace_recovery_codes(
    conn: &mut DbConnection,
    user_id: &str,
    hashes: &[String],
    now: NaiveDateTime,
) -> QueryResult<()> {
    delete_recovery_codes(conn, user_id)?;
    for hash in hashes {
        diesel::insert_into(recovery_codes::table)
            .values((
                recovery_codes::id.eq(uuid::Uuid::now_v7().to_string()),
                recovery_codes::user_id.eq(user_id),
                recovery_codes::code_hash.eq(hash),
                recovery_codes::created_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Spends one of the user's unused recovery codes: `false` when it is none of them.
pub fn use_recovery_code(
    conn: &mut DbConnection,
    user_id: &str,
    hash: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(
        recovery_codes::table
            .filter(recovery_codes::user_id.eq(user_id))
            .filter(recovery_codes::code_hash.eq(hash))
            .filter(recovery_codes::used_at.is_null()),
    )
    .set(recovery_codes::used_at.eq(Some(now)))
    .execute(conn)
    .map(|n| n == 1)
}

pub fn recovery_codes_left(conn: &mut DbConnection, user_id: &str) -> QueryResult<i64> {
    recovery_codes::table
        .filter(recovery_codes::user_id.eq(user_id))
        .filter(recovery_codes::used_at.is_null())
        .count()
        .get_result(conn)
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sign_in_steps)]
pub struct StepRow {
    pub id: String,
    pub token_hash: String,
    pub user_id: String,
    pub failures: i64,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

pub fn insert_step(
    conn: &mut DbConnection,
    id: &str,
    token_hash: &str,
    user_id: &str,
    now: NaiveDateTime,
    expires_at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(sign_in_steps::table)
        .values((
            sign_in_steps::id.eq(id),
            sign_in_steps::token_hash.eq(token_hash),
            sign_in_steps::user_id.eq(user_id),
            sign_in_steps::failures.eq(0i64),
            sign_in_steps::created_at.eq(now),
            sign_in_steps::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .map(drop)
}

pub fn find_step(conn: &mut DbConnection, token_hash: &str) -> QueryResult<Option<StepRow>> {
    sign_in_steps::table
        .filter(sign_in_steps::token_hash.eq(token_hash))
        .select(StepRow::as_select())
        .first(conn)
        .optional()
}

/// Counts a wrong second step; past `max`, the waiting sign-in is gone.
pub fn fail_step(conn: &mut DbConnection, id: &str, max: i64) -> QueryResult<()> {
    diesel::update(sign_in_steps::table.find(id))
        .set(sign_in_steps::failures.eq(sign_in_steps::failures + 1))
        .execute(conn)?;
    diesel::delete(
        sign_in_steps::table
            .find(id)
            .filter(sign_in_steps::failures.ge(max)),
    )
    .execute(conn)
    .map(drop)
}

/// Spends a waiting sign-in: `false` when another request spent it first.
pub fn spend_step(conn: &mut DbConnection, id: &str) -> QueryResult<bool> {
    diesel::delete(sign_in_steps::table.find(id))
        .execute(conn)
        .map(|n| n == 1)
}

/// Waiting sign-ins past their time (the purge).
pub fn purge_steps(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(sign_in_steps::table.filter(sign_in_steps::expires_at.le(now))).execute(conn)
}
