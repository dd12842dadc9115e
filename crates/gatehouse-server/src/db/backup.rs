//! `gatehouse backup PATH`: a consistent copy of a SQLite database taken while servers
//! use it. (PostgreSQL has `pg_dump`, which the README shows.)
//!
//! `VACUUM INTO` reads the database in one read transaction — in WAL mode it blocks no
//! writer and sees one moment — and writes a compact copy. It may renumber the rowids
//! of tables without an `INTEGER PRIMARY KEY`, which the key search index
//! (`api_keys_search`, keyed by `api_keys.rowid`) names, so the index is rebuilt in the
//! copy. The copy is written beside `PATH` under a temporary name nobody can guess,
//! created new and owner-only (it holds every credential hash and the private signing
//! keys), checked with `PRAGMA integrity_check`, synced to disk, and only then linked
//! as `PATH` — a link, which fails rather than replace a file that appeared there
//! meanwhile — and the temporary name removed.

use std::path::{Path, PathBuf};

use anyhow::Context;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;

/// Copies the SQLite database at `database_url` to `dest`, which must not exist.
/// Returns the copy's size in bytes.
pub fn sqlite(database_url: &str, dest: &Path) -> anyhow::Result<u64> {
    let Some(source) = super::sqlite_path(database_url) else {
        anyhow::bail!(
            "`gatehouse backup` copies SQLite databases; for PostgreSQL use pg_dump (see the \
             README's operations section)"
        );
    };
    anyhow::ensure!(
        !dest.exists(),
        "{} exists already: name a new file",
        dest.display()
    );
    let partial = partial_path(dest);
    // Created empty and owner-only first: VACUUM INTO fills an empty file.
    create_private(&partial).with_context(|| format!("creating {}", partial.display()))?;
    let placed = copy(source, &partial).and_then(|()| {
        std::fs::File::open(&partial)?.sync_all()?;
        std::fs::hard_link(&partial, dest)
            .with_context(|| format!("placing the copy at {}", dest.display()))?;
        if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    });
    // Whatever happened, the temporary name goes (the copy stays under `dest`).
    let _ = std::fs::remove_file(&partial);
    placed?;
    Ok(std::fs::metadata(dest)?.len())
}

fn copy(source: &Path, partial: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(source.exists(), "no database at {}", source.display());
    let source = source
        .to_str()
        .context("the database's path is not UTF-8")?;
    let mut conn =
        SqliteConnection::establish(source).with_context(|| format!("opening {source}"))?;
    conn.batch_execute("PRAGMA busy_timeout = 5000;")?;
    let target = partial.to_str().context("the backup's path is not UTF-8")?;
    diesel::sql_query("VACUUM INTO ?")
        .bind::<Text, _>(target)
        .execute(&mut conn)
        .context("copying the database (VACUUM INTO)")?;
    drop(conn);

    let mut copy = SqliteConnection::establish(target)?;
    copy.transaction(|c| {
        if has_table(c, "api_keys_search")? {
            c.batch_execute(
                "DELETE FROM api_keys_search;
                 INSERT INTO api_keys_search (rowid, name, hint, username)
                     SELECT k.rowid, k.name, k.hint, u.username
                     FROM api_keys k JOIN users u ON u.id = k.user_id;",
            )?;
        }
        Ok::<_, diesel::result::Error>(())
    })
    .context("rebuilding the key search index in the copy")?;
    #[derive(QueryableByName)]
    struct Check {
        #[diesel(sql_type = Text)]
        integrity_check: String,
    }
    let check: Vec<Check> = diesel::sql_query("PRAGMA integrity_check").load(&mut copy)?;
    let verdict: Vec<&str> = check.iter().map(|c| c.integrity_check.as_str()).collect();
    anyhow::ensure!(
        verdict == ["ok"],
        "the copy fails its integrity check: {}",
        verdict.join("; ")
    );
    Ok(())
}

fn has_table(conn: &mut SqliteConnection, name: &str) -> QueryResult<bool> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let count: Count = diesel::sql_query("SELECT count(*) AS n FROM sqlite_master WHERE name = ?")
        .bind::<Text, _>(name)
        .get_result(conn)?;
    Ok(count.n > 0)
}

fn partial_path(dest: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(dest.file_name().unwrap_or_default());
    name.push(format!(".partial-{}", uuid::Uuid::new_v4().simple()));
    dest.with_file_name(name)
}

fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map(drop)
}
