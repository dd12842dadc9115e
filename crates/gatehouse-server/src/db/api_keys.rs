//! Queries on `api_keys`.

use super::newest_first;
use chrono::NaiveDateTime;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use gatehouse_types::Permission;

use crate::db::DbConnection;
use crate::db::schema::{api_keys, subscriptions, users};
use crate::db::subscriptions::SubscriptionRow;
use crate::db::users::UserRow;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_keys)]
pub struct ApiKeyRow {
    pub id: String,
    pub subscription_id: String,
    pub user_id: String,
    pub name: String,
    #[diesel(deserialize_as = String)]
    pub permission: Permission,
    pub secret_hash: String,
    pub hint: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
    pub last_reset_at: Option<NaiveDateTime>,
    pub expires_at: Option<NaiveDateTime>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = api_keys)]
pub struct NewApiKey<'a> {
    pub id: &'a str,
    pub subscription_id: &'a str,
    pub user_id: &'a str,
    pub name: &'a str,
    pub permission: &'a str,
    pub secret_hash: &'a str,
    pub hint: &'a str,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub expires_at: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut DbConnection, new: &NewApiKey<'_>) -> QueryResult<()> {
    diesel::insert_into(api_keys::table)
        .values(new)
        .execute(conn)
        .map(drop)
}

/// The authentication hot path: the key with this secret hash, its user and their
/// subscription, in one query through the unique index.
pub fn find_for_auth(
    conn: &mut DbConnection,
    secret_hash: &str,
) -> QueryResult<Option<(ApiKeyRow, UserRow, SubscriptionRow)>> {
    crate::on_backend!(conn, |c| {
        api_keys::table
            .inner_join(users::table.inner_join(subscriptions::table))
            .filter(api_keys::secret_hash.eq(secret_hash))
            .select((
                ApiKeyRow::as_select(),
                UserRow::as_select(),
                SubscriptionRow::as_select(),
            ))
            .first(c)
            .optional()
    })
}

/// A key by id, whatever the subscription (the operator's `keys revoke`).
pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<ApiKeyRow>> {
    api_keys::table
        .find(id)
        .select(ApiKeyRow::as_select())
        .first(conn)
        .optional()
}

/// A key of the subscription; another subscription's key is `None`.
pub fn find_in_subscription(
    conn: &mut DbConnection,
    subscription_id: &str,
    id: &str,
) -> QueryResult<Option<ApiKeyRow>> {
    api_keys::table
        .filter(api_keys::id.eq(id))
        .filter(api_keys::subscription_id.eq(subscription_id))
        .select(ApiKeyRow::as_select())
        .first(conn)
        .optional()
}

/// One page of a user's keys, newest first, one row more than `limit`.
pub fn list_for_user(
    conn: &mut DbConnection,
    user_id: &str,
    before: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> QueryResult<Vec<ApiKeyRow>> {
    let q = api_keys::table
        .filter(api_keys::user_id.eq(user_id))
        .select(ApiKeyRow::as_select())
        .into_boxed();
    newest_first!(q, api_keys::created_at, api_keys::id, before, limit).load(conn)
}

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    CreatedAt,
    LastUsedAt,
    LastResetAt,
}

impl SortBy {
    /// A key's value in this order, as the query sorts it (never used: the epoch).
    pub fn value_of(self, key: &ApiKeyRow) -> NaiveDateTime {
        match self {
            SortBy::CreatedAt => Some(key.created_at),
            SortBy::LastUsedAt => key.last_used_at,
            SortBy::LastResetAt => key.last_reset_at,
        }
        .unwrap_or_else(epoch)
    }
}

/// The filter, order and position of one page of the subscription-wide key list.
#[derive(Debug, Clone)]
pub struct SubscriptionKeyQuery {
    /// Matched, case-insensitively, anywhere in the key's name, hint or owner's username.
    pub q: Option<String>,
    /// Only this person's keys (a user id).
    pub user: Option<String>,
    pub sort: SortBy,
    pub descending: bool,
    /// The sort value and id of the last row already served.
    pub after: Option<(NaiveDateTime, String)>,
    pub limit: i64,
}

/// Never-used and never-reset keys sort as if used or reset at this instant.
pub fn epoch() -> NaiveDateTime {
    chrono::DateTime::UNIX_EPOCH.naive_utc()
}

/// How many keys, in the list's order from the page's position on, a `q` filter is
/// first checked against: a term that many keys carry fills its page within them.
pub const SEARCH_WINDOW: i64 = 2_000;

type Backend = <DbConnection as Connection>::Backend;
type KeyList<'a> = diesel::dsl::IntoBoxed<
    'a,
    diesel::dsl::Select<
        diesel::dsl::InnerJoin<api_keys::table, users::table>,
        (
            diesel::dsl::AsSelect<ApiKeyRow, Backend>,
            diesel::dsl::AsSelect<UserRow, Backend>,
        ),
    >,
    Backend,
>;

/// Which keys a list query may read, beyond the subscription, expiry and position.
enum Narrow<'q> {
    /// All of them.
    All,
    /// Those up to and including this position (sort value, id), or all when `None`.
    Until(Option<(NaiveDateTime, String)>),
    /// Those the search index names for this text.
    Indexed(&'q str),
}

/// One page of the subscription's active (unexpired) keys with their owners.
///
/// With a `q`, the keys of the page are those whose name, hint or owner's username
/// contains it, case-insensitively — checked on every row served. Finding them costs
/// the size of a page, not of the subscription: first the next `SEARCH_WINDOW` keys in
/// order are checked (a common term fills its page there); if they hold less than a
/// page, the search index (FTS5 trigrams on SQLite, pg_trgm on PostgreSQL) names the
/// keys that can match, and only those are read and sorted. Shorter than three
/// characters, a term has no trigrams: past the window it is checked key by key.
pub fn list_for_subscription(
    conn: &mut DbConnection,
    subscription_id: &str,
    now: NaiveDateTime,
    query: &SubscriptionKeyQuery,
) -> QueryResult<Vec<(ApiKeyRow, UserRow)>> {
    let Some(text) = &query.q else {
        return keys_page(conn, subscription_id, now, query, Narrow::All);
    };
    let boundary = nth_key(conn, subscription_id, now, query, SEARCH_WINDOW)?;
    let complete = boundary.is_none();
    let walked = keys_page(conn, subscription_id, now, query, Narrow::Until(boundary))?;
    if complete || walked.len() as i64 > query.limit {
        return Ok(walked);
    }
    if sqlite_candidates_exceed(conn, text)? {
        return keys_page(conn, subscription_id, now, query, Narrow::All);
    }
    keys_page(conn, subscription_id, now, query, Narrow::Indexed(text))
}

/// SQLite's search index covers every subscription's keys (an FTS5 table cannot be
/// partitioned by one cheaply): the candidates it names for a term are read at most up
/// to this many. A term more common than that across the database is checked key by
/// key through the caller's own subscription instead, so one subscription's search
/// never costs work in proportion to the others' keys. (PostgreSQL's trigram indexes
/// lead with the subscription: they never name another subscription's keys.)
pub const SEARCH_CANDIDATES: i64 = 10_000;

fn sqlite_candidates_exceed(conn: &mut DbConnection, text: &str) -> QueryResult<bool> {
    let DbConnection::Sqlite(conn) = conn else {
        return Ok(false);
    };
    if text.chars().count() < 3 {
        return Ok(false);
    }
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let found: Count = diesel::sql_query(
        "SELECT count(*) AS n FROM (SELECT 1 FROM api_keys_search \
         WHERE api_keys_search MATCH ? LIMIT ?)",
    )
    .bind::<Text, _>(fts_phrase(text))
    .bind::<diesel::sql_types::BigInt, _>(SEARCH_CANDIDATES + 1)
    .get_result(conn)?;
    Ok(found.n > SEARCH_CANDIDATES)
}

/// An FTS5 phrase: the text in double quotes, its own quotes doubled. With the trigram
/// tokenizer a phrase matches wherever it occurs, in any case; nothing in it is syntax.
fn fts_phrase(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// The sort value of the list's order: a fixed SQL fragment per sort column (never user
/// text), valid on both backends. The epoch literal reads as a TIMESTAMP on PostgreSQL
/// and sorts first as text on SQLite, matching `epoch()`. The indexes of migration
/// 000007 are on these exact expressions: change both or neither, or every page sorts
/// the whole subscription's keys.
fn sort_value(sort: SortBy) -> diesel::expression::SqlLiteral<diesel::sql_types::Timestamp> {
    diesel::dsl::sql::<diesel::sql_types::Timestamp>(sort_sql(sort))
}

fn sort_sql(sort: SortBy) -> &'static str {
    match sort {
        SortBy::CreatedAt => "api_keys.created_at",
        SortBy::LastUsedAt => "COALESCE(api_keys.last_used_at, '1970-01-01 00:00:00')",
        SortBy::LastResetAt => "COALESCE(api_keys.last_reset_at, '1970-01-01 00:00:00')",
    }
}

/// The keys on one side of a position (sort value, id) in the list's order, written so
/// that SQLite and PostgreSQL both seek the order's index to the position's value:
/// `value <= at AND (value < at OR id < …)`. Written as `value < at OR (value = at AND
/// id < …)`, the same condition made both walk the index from its start (0.7–0.8 s for
/// a page at row 500,000 of a million keys); as a row value `(value, id) < (at, …)`,
/// SQLite seeks only on a plain column, not on the `COALESCE` of the last-use orders.
/// Keys that share the position's value are read from the start of that value: for
/// the last-use orders, the keys never used share one.
fn beyond(
    sort: SortBy,
    side: Beyond,
    at: NaiveDateTime,
    id: String,
) -> Box<
    dyn BoxableExpression<
            diesel::dsl::InnerJoinQuerySource<api_keys::table, users::table>,
            Backend,
            SqlType = Bool,
        >,
> {
    let (loose, strict, by_id) = match side {
        Beyond::Before => ("<=", "<", "<"),
        Beyond::After => (">=", ">", ">"),
        Beyond::UpTo => ("<=", "<", "<="),
        Beyond::From => (">=", ">", ">="),
    };
    let value = sort_sql(sort);
    Box::new(
        sql::<Bool>(&format!("({value} {loose} "))
            .bind::<diesel::sql_types::Timestamp, _>(at)
            .sql(&format!(" AND ({value} {strict} "))
            .bind::<diesel::sql_types::Timestamp, _>(at)
            .sql(&format!(" OR api_keys.id {by_id} "))
            .bind::<Text, _>(id)
            .sql("))"),
    )
}

/// Which side of a position [`beyond`] keeps, in (sort value, id) order.
#[derive(Clone, Copy)]
enum Beyond {
    Before,
    After,
    UpTo,
    From,
}

/// The subscription's active keys with their owners, past the page's position, in the
/// list's order; `indexed` leaves the subscription condition to the row check (on
/// SQLite, so that the search index, not the order's index, drives the query).
fn keys_in_order<'a>(
    subscription_id: &'a str,
    now: NaiveDateTime,
    query: &SubscriptionKeyQuery,
    sqlite_indexed: bool,
) -> KeyList<'a> {
    let mut q = api_keys::table
        .inner_join(users::table)
        .select((ApiKeyRow::as_select(), UserRow::as_select()))
        .into_boxed();
    q = if sqlite_indexed {
        // The unary `+` keeps SQLite from walking the order's index (it would read
        // every key of the subscription to find the few the search index named).
        q.filter(
            diesel::dsl::sql::<diesel::sql_types::Bool>("+api_keys.subscription_id = ")
                .bind::<diesel::sql_types::Text, _>(subscription_id),
        )
    } else {
        q.filter(api_keys::subscription_id.eq(subscription_id))
    };
    q = q.filter(
        api_keys::expires_at
            .is_null()
            .or(api_keys::expires_at.gt(now)),
    );
    let key = sort_value(query.sort);
    if let Some((at, id)) = &query.after {
        let side = if query.descending {
            Beyond::Before
        } else {
            Beyond::After
        };
        q = q.filter(beyond(query.sort, side, *at, id.clone()));
    }
    if query.descending {
        q.order((key.clone().desc(), api_keys::id.desc()))
    } else {
        q.order((key.clone().asc(), api_keys::id.asc()))
    }
}

/// The position (sort value, id) of the `n`-th key from the page's position on, or
/// `None` when fewer remain. An index walk of `n` entries.
fn nth_key(
    conn: &mut DbConnection,
    subscription_id: &str,
    now: NaiveDateTime,
    query: &SubscriptionKeyQuery,
    n: i64,
) -> QueryResult<Option<(NaiveDateTime, String)>> {
    keys_in_order(subscription_id, now, query, false)
        .offset(n - 1)
        .limit(1)
        .load::<(ApiKeyRow, UserRow)>(conn)
        .map(|rows| {
            rows.into_iter()
                .next()
                .map(|(key, _)| (query.sort.value_of(&key), key.id))
        })
}

fn keys_page(
    conn: &mut DbConnection,
    subscription_id: &str,
    now: NaiveDateTime,
    query: &SubscriptionKeyQuery,
    narrow: Narrow<'_>,
) -> QueryResult<Vec<(ApiKeyRow, UserRow)>> {
    let sqlite = matches!(conn, DbConnection::Sqlite(_));
    let indexed = matches!(narrow, Narrow::Indexed(text) if text.chars().count() >= 3);
    let mut q =
        keys_in_order(subscription_id, now, query, sqlite && indexed).limit(query.limit + 1);
    if let Some(user) = &query.user {
        q = q.filter(api_keys::user_id.eq(user.clone()));
    }
    if let Some(text) = &query.q {
        let pattern = format!(
            "%{}%",
            text.to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        q = q.filter(
            lower(api_keys::name)
                .like(pattern.clone())
                .escape('\\')
                .or(lower(api_keys::hint).like(pattern.clone()).escape('\\'))
                .or(users::username.like(pattern.clone()).escape('\\')),
        );
        // The keys the search index says may match: a superset of the real matches
        // (the row check above decides), never a widening of the page.
        if indexed && sqlite {
            let phrase = fts_phrase(text);
            q = q.filter(
                sql::<Bool>(
                    "api_keys.rowid IN \
                     (SELECT rowid FROM api_keys_search WHERE api_keys_search MATCH ",
                )
                .bind::<Text, _>(phrase)
                .sql(")"),
            );
        } else if indexed {
            // The same conditions as the row check, each one an index's (pg_trgm).
            let sub = subscription_id.to_string();
            q = q.filter(
                sql::<Bool>("api_keys.id IN (SELECT id FROM api_keys k WHERE k.subscription_id = ")
                    .bind::<Text, _>(sub.clone())
                    .sql(" AND lower(k.name) LIKE ")
                    .bind::<Text, _>(pattern.clone())
                    .sql(" ESCAPE '\\' UNION ALL SELECT id FROM api_keys k WHERE k.subscription_id = ")
                    .bind::<Text, _>(sub.clone())
                    .sql(" AND lower(k.hint) LIKE ")
                    .bind::<Text, _>(pattern.clone())
                    .sql(" ESCAPE '\\' UNION ALL SELECT k.id FROM users u JOIN api_keys k ON k.user_id = u.id WHERE u.subscription_id = ")
                    .bind::<Text, _>(sub)
                    .sql(" AND u.username LIKE ")
                    .bind::<Text, _>(pattern)
                    .sql(" ESCAPE '\\')"),
            );
        }
    }
    if let Narrow::Until(Some((at, id))) = narrow {
        let side = if query.descending {
            Beyond::From
        } else {
            Beyond::UpTo
        };
        q = q.filter(beyond(query.sort, side, at, id));
    }
    q.load(conn)
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = api_keys)]
pub struct ApiKeyChanges {
    pub name: Option<String>,
    pub secret_hash: Option<String>,
    pub hint: Option<String>,
    pub last_reset_at: Option<Option<NaiveDateTime>>,
    pub expires_at: Option<Option<NaiveDateTime>>,
    pub updated_at: Option<NaiveDateTime>,
}

/// Changes a record of the subscription: the subscription is in the `WHERE` clause,
/// so a record of another one is never touched, whatever the caller checked before.
pub fn update(
    conn: &mut DbConnection,
    subscription_id: &str,
    id: &str,
    changes: &ApiKeyChanges,
) -> QueryResult<()> {
    diesel::update(
        api_keys::table
            .find(id)
            .filter(api_keys::subscription_id.eq(subscription_id)),
    )
    .set(changes)
    .execute(conn)
    .map(drop)
}

/// Deletes a record of the subscription (the subscription is in the `WHERE` clause);
/// `false` when there was none to delete.
pub fn delete(conn: &mut DbConnection, subscription_id: &str, id: &str) -> QueryResult<bool> {
    diesel::delete(
        api_keys::table
            .find(id)
            .filter(api_keys::subscription_id.eq(subscription_id)),
    )
    .execute(conn)
    .map(|n| n > 0)
}

/// Records a use; called at most once a minute per key and process.
pub fn touch(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> QueryResult<()> {
    crate::on_backend!(conn, |c| {
        diesel::update(api_keys::table.find(id))
            .set(api_keys::last_used_at.eq(now))
            .execute(c)
            .map(drop)
    })
}
