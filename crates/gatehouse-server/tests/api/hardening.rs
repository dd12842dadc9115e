//! Findings of the third security review (issue 22, part 1) that belong to no other
//! domain: the SQLite files' modes.

use std::os::unix::fs::PermissionsExt;

use gatehouse_server::config::Settings;
use gatehouse_server::startup::Application;

use crate::helpers::tempfile_dir::TempDir;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// The database holds the signing keys: no other local user may read it. A fresh
/// folder is 0700, the file and its `-wal`/`-shm` 0600; files an older version left
/// readable are narrowed at start.
#[actix_web::test]
async fn the_sqlite_folder_and_files_are_their_owners_only() {
    let scratch = TempDir::new();
    let folder = scratch.path().join("data");
    let file = folder.join("gatehouse.db");
    let url = format!("sqlite://{}", file.display());
    let app = Application::build(Settings::for_database(&url)).expect("build");
    // (Building migrated the database: the `-wal` and `-shm` exist while it is open.)
    assert_eq!(mode(&folder), 0o700);
    for suffix in ["", "-wal", "-shm"] {
        let path = std::path::PathBuf::from(format!("{}{suffix}", file.display()));
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
    drop(app);
    // An older version's file, readable by all, is narrowed at the next start.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let app = Application::build(Settings::for_database(&url)).expect("build again");
    assert_eq!(mode(&file), 0o600);
    drop(app);
    // A folder every local user may write to is refused: they could swap the database
    // or plant a link for the start-up to narrow.
    let open = scratch.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let url = format!("sqlite://{}/gatehouse.db", open.display());
    let refused = Application::build(Settings::for_database(&url))
        .err()
        .expect("refused");
    assert!(
        format!("{refused:#}").contains("writable by every local user"),
        "{refused:#}"
    );
    assert!(!open.join("gatehouse.db").exists(), "nothing created there");
}
