//! The crate's layering, read from its source the way rust-analyzer's tidy tests read
//! theirs: every `crate::module` a module names (outside its tests) must sit in a lower
//! layer. A new import against the direction fails here; so does an entry of
//! `NOT_YET` that is no longer needed, so the list of known exceptions only shrinks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// From the bottom up. A module may name modules of lower layers only (and itself);
/// domains do not name each other.
const LAYERS: &[(&str, &[&str])] = &[
    ("error", &["error"]),
    (
        "leaf",
        &[
            "clock",
            "secret",
            "client_address",
            "limiter",
            "routing",
            "limits",
            "csv",
            "pagination",
            "metrics",
            "outbound",
        ],
    ),
    ("db", &["db"]),
    ("config", &["config"]),
    ("telemetry", &["telemetry"]),
    ("auth", &["auth"]),
    ("state", &["state"]),
    ("audit", &["audit"]),
    // Back-channel logout: found in a domain's transaction, sent after it commits.
    ("logout", &["logout"]),
    (
        "domain",
        &[
            "sessions",
            "users",
            "second_factors",
            "subscriptions",
            "api_keys",
            "oauth_clients",
            "grants",
            "oauth",
            "health",
            "web",
            "bootstrap",
            "retention",
            "operator",
        ],
    ),
    // The API description names every handler; only the route table names it.
    ("description", &["openapi"]),
    ("top", &["startup", "lib", "main", "proptests"]),
];

/// Rules one domain shares with another, as `(from, the module path it may name)`: the
/// operator's commands change people by the users domain's own rules, written once.
/// Naming any other part of that domain is still against the layers.
const SHARED_RULES: &[(&str, &str)] = &[("operator", "users::rules")];

/// Imports against the direction that are still there, as `(from, to)`. Issue 10 removes
/// them step by step; each step deletes its lines here.
const NOT_YET: &[(&str, &str)] = &[];

fn layer_of(module: &str) -> Option<(usize, &'static str)> {
    LAYERS
        .iter()
        .enumerate()
        .find(|(_, (_, members))| members.contains(&module))
        .map(|(i, (name, _))| (i, *name))
}

/// The top-level module a source file belongs to: `src/oauth/token.rs` → `oauth`.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("a file under src");
    let first = rel.components().next().expect("a component");
    first
        .as_os_str()
        .to_string_lossy()
        .trim_end_matches(".rs")
        .to_string()
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The modules a file's non-test code names as `crate::x`.
fn named_modules(text: &str) -> BTreeSet<String> {
    let code = match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => text,
    };
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            found.insert(name);
        }
    }
    // `use crate::{a, b}` names several at once.
    let mut rest = code;
    while let Some(i) = rest.find("crate::{") {
        rest = &rest[i + "crate::{".len()..];
        let group = rest.split('}').next().unwrap_or("");
        for part in group.split(',') {
            let name: String = part
                .trim()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

/// Whether every `crate::to…` that `from`'s files name is a module of [`SHARED_RULES`]
/// that `from` may name.
fn shares_only_rules(from: &str, to: &str, files: &[std::path::PathBuf], src: &Path) -> bool {
    let allowed: Vec<&str> = SHARED_RULES
        .iter()
        .filter(|(f, path)| *f == from && path.split("::").next() == Some(to))
        .map(|(_, path)| *path)
        .collect();
    if allowed.is_empty() {
        return false;
    }
    files
        .iter()
        .filter(|f| module_of(src, f) == from)
        .all(|file| {
            let text = std::fs::read_to_string(file).expect("read a source file");
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            let needle = format!("crate::{to}");
            code.match_indices(&needle).all(|(i, _)| {
                let rest = &code[i + "crate::".len()..];
                allowed.iter().any(|path| {
                    rest.starts_with(path)
                        && !rest[path.len()..]
                            .starts_with(|c: char| c.is_alphanumeric() || c == '_')
                })
            })
        })
}

#[test]
fn imports_follow_the_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut edges: BTreeMap<(String, String), String> = BTreeMap::new();
    for file in &files {
        let from = module_of(&src, file);
        let text = std::fs::read_to_string(file).expect("read a source file");
        for to in named_modules(&text) {
            if to != from && layer_of(&to).is_some() {
                edges
                    .entry((from.clone(), to))
                    .or_insert_with(|| file.display().to_string());
            }
        }
    }
    let mut against = Vec::new();
    let mut seen = BTreeSet::new();
    for ((from, to), file) in &edges {
        let Some((lf, from_layer)) = layer_of(from) else {
            against.push(format!("{file}: module `{from}` has no layer in LAYERS"));
            continue;
        };
        let Some((lt, _)) = layer_of(to) else {
            continue;
        };
        let allowed = lt < lf || shares_only_rules(from, to, &files, &src);
        if allowed {
            continue;
        }
        let pair = (from.as_str(), to.as_str());
        if NOT_YET.contains(&pair) {
            seen.insert(pair);
            continue;
        }
        against.push(format!(
            "{file}: `{from}` ({from_layer}) names `crate::{to}`, which is not below it"
        ));
    }
    for pair in NOT_YET {
        if !seen.contains(pair) {
            against.push(format!(
                "{pair:?} is in NOT_YET but no longer imported against the layers: delete it"
            ));
        }
    }
    assert!(
        against.is_empty(),
        "imports against the layers:\n{}",
        against.join("\n")
    );
}

/// The web app's modules name each other without a circle (`crate::x` outside tests,
/// one node per top-level module), so that it too reads from the bottom up.
#[test]
fn the_web_app_has_no_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../frontend/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let from = module_of(&src, file);
        let text = std::fs::read_to_string(file).expect("read a source file");
        let to = named_modules(&text);
        edges
            .entry(from.clone())
            .or_default()
            .extend(to.into_iter().filter(|t| *t != from));
    }
    let modules: BTreeSet<String> = edges.keys().cloned().collect();
    // Depth-first: a module met again while it is still being visited closes a circle.
    fn visit(
        m: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        modules: &BTreeSet<String>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        circles: &mut Vec<String>,
    ) {
        if let Some(at) = path.iter().position(|p| p == m) {
            circles.push(format!("{} → {m}", path[at..].join(" → ")));
            return;
        }
        if !done.insert(m.to_string()) {
            return;
        }
        path.push(m.to_string());
        for next in edges
            .get(m)
            .into_iter()
            .flatten()
            .filter(|n| modules.contains(*n))
        {
            visit(next, edges, modules, path, done, circles);
        }
        path.pop();
    }
    let (mut done, mut circles) = (BTreeSet::new(), Vec::new());
    for m in &modules {
        visit(
            m,
            &edges,
            &modules,
            &mut Vec::new(),
            &mut done,
            &mut circles,
        );
    }
    assert!(
        circles.is_empty(),
        "circles in the web app:\n{}",
        circles.join("\n")
    );
}

#[test]
fn every_module_has_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let missing: BTreeSet<String> = files
        .iter()
        .map(|f| module_of(&src, f))
        .filter(|m| layer_of(m).is_none())
        .collect();
    assert!(missing.is_empty(), "modules without a layer: {missing:?}");
}

/// The domains where every write is a change someone asked for, which the audit log
/// must show. (`oauth` also writes protocol state — pending requests, codes, refresh
/// tokens — that is not such a change; its grant changes record their events where
/// they are made, in `issue_code` and the consent decision.)
const AUDITED_DOMAINS: &[&str] = &[
    "sessions",
    "users",
    "second_factors",
    "subscriptions",
    "api_keys",
    "oauth_clients",
    "grants",
];

#[test]
fn changes_record_their_audit_event() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut unaudited = Vec::new();
    for file in &files {
        if !AUDITED_DOMAINS.contains(&module_of(&src, file).as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(file).expect("read a source file");
        let code: String = text.split("#[cfg(test)]").next().unwrap_or("").into();
        let flat: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        // `audit.write(&state.db, …)` records by construction; a bare `db.write(…)`
        // must record its event(s) itself, before it is awaited.
        let mut rest = flat.as_str();
        while let Some(i) = rest.find(".db.write(") {
            rest = &rest[i + ".db.write(".len()..];
            let call = rest.split(".await").next().unwrap_or(rest);
            if !call.contains(".record(") {
                let head: String = call.chars().take(80).collect();
                unaudited.push(format!("{}: .db.write({head}…", file.display()));
            }
        }
    }
    assert!(
        unaudited.is_empty(),
        "writes without an audit event (use `Audit::write`):\n{}",
        unaudited.join("\n")
    );
}

/// Every audit action the server names is one of `gatehouse_types::audit::AuditAction`,
/// whose labels the web app shows and whose list its filter offers: a new action
/// missing there fails here, not only when a test happens to record it.
#[test]
fn audit_actions_are_in_the_shared_list() {
    use gatehouse_types::audit::AuditAction;
    // The kinds of thing actions are about, singular and plural (`recovery_code.used`
    // beside `recovery_codes.generated`).
    let prefixes: BTreeSet<String> = AuditAction::ALL
        .iter()
        .filter_map(|a| a.as_str().split('.').next())
        .flat_map(|p| {
            let one = p.strip_suffix('s').unwrap_or(p);
            [one.to_string(), format!("{one}s")]
        })
        .collect();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut unknown = BTreeSet::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read a source file");
        for literal in text.split('"').skip(1).step_by(2) {
            let Some((prefix, rest)) = literal.split_once('.') else {
                continue;
            };
            let word =
                |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c == '_');
            if word(prefix)
                && word(rest)
                && prefixes.contains(prefix)
                && AuditAction::parse(literal).is_none()
            {
                unknown.insert(format!("{literal} ({})", file.display()));
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "audit actions missing from gatehouse_types::audit::AuditAction:\n{}",
        unknown.into_iter().collect::<Vec<_>>().join("\n")
    );
}

/// The files that the docs and the code's comments name exist: a path in backticks
/// (`frontend/src/app.rs`, `…/auth/client.rs` for the server's sources) names a file or
/// folder of the repository, or one relative to the file that names it. Tests and
/// sections named are checked by `docs_name_only_tests_and_sections_that_exist`.
#[test]
fn docs_name_only_files_that_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let server_src = root.join("crates/gatehouse-server/src");
    let bases = [
        root.clone(),
        server_src.clone(),
        root.join("crates/gatehouse-server"),
        root.join("frontend"),
        root.join("xtask/src"),
    ];
    let files = naming_files(&root);
    const KINDS: [&str; 11] = [
        ".rs", ".md", ".mjs", ".js", ".toml", ".sql", ".json", ".css", ".html", ".conf", ".py",
    ];
    const GENERATED: [&str; 3] = ["dist/", "target/", "data/"];
    let mut missing = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let here = file.parent().unwrap();
        for (i, quoted) in text.split('`').enumerate() {
            // Odd pieces are inside backticks; a path has a slash and a known kind,
            // and no spaces, wildcards or placeholders.
            let named = quoted.trim_end_matches(['/', ':']);
            if i % 2 == 0
                || !named.contains('/')
                || !KINDS.iter().any(|k| named.ends_with(k))
                || named.contains([' ', '*', '{', '<', '$', '…'].as_slice()) && !named.starts_with("…/")
                || named.contains("://")
                // An address the server answers (`/api/v1/openapi.json`), not a file.
                || named.starts_with('/')
                // What a build makes (`frontend/dist/index.html`): not in a fresh clone.
                || GENERATED.iter().any(|g| named.starts_with(g) || named.contains(&format!("/{g}")))
            {
                continue;
            }
            // Relative to the repository, to the naming file's folders, or to one of
            // the places the map writes paths from (the server's crate and sources,
            // the web app, the xtask sources).
            let found = match named.strip_prefix("…/") {
                Some(rest) => server_src.join(rest).exists(),
                None => bases
                    .iter()
                    .map(|b| b.as_path())
                    .chain(here.ancestors())
                    .any(|base| base.join(named).exists()),
            };
            if !found {
                missing.push(format!("{}: `{named}`", file.display()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "named but not there:\n{}",
        missing.join("\n")
    );
}

/// The docs, comments and code of the repository that name other things.
fn naming_files(root: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for dir in ["crates", "xtask/src", "frontend/src", "examples", "docs"] {
        rust_files(&root.join(dir), &mut files);
        markdown_files(&root.join(dir), &mut files);
    }
    for doc in ["README.md", "ARCHITECTURE.md"] {
        files.push(root.join(doc));
    }
    files
}

/// The tests and sections that the docs and comments name exist: a test named as
/// `file::test_name` (a file of `tests/api/`) or by its module path in the server's
/// sources (`auth::extract::tests::name`) is a `fn` there, and every "PRODUCT.md §N"
/// is a section of `docs/PRODUCT.md`.
#[test]
fn docs_name_only_tests_and_sections_that_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let api_tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api");
    let server_src = root.join("crates/gatehouse-server/src");
    let product = std::fs::read_to_string(root.join("docs/PRODUCT.md")).unwrap();
    let read = |p: &Path| std::fs::read_to_string(p).ok();
    // The file a module path names, if any: `a/b.rs`, `a/b/mod.rs`.
    let module_file = |base: &Path, segments: &[&str]| {
        let joined: std::path::PathBuf = segments.iter().collect();
        [
            base.join(&joined).with_extension("rs"),
            base.join(&joined).join("mod.rs"),
        ]
        .into_iter()
        .find(|p| p.is_file())
    };
    let mut missing = Vec::new();
    for file in naming_files(&root) {
        let text = std::fs::read_to_string(&file).unwrap();
        for (i, quoted) in text.split('`').enumerate() {
            // A test's name is a sentence: four words or more in snake case.
            let segments: Vec<&str> = quoted.split("::").collect();
            let name = *segments.last().unwrap();
            if i % 2 == 0
                || segments.len() < 2
                || name.split('_').count() < 4
                || !segments.iter().all(|s| {
                    !s.is_empty()
                        && s.chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                })
            {
                continue;
            }
            let defines = |t: &str| t.contains(&format!("fn {name}("));
            // A test file of the API suite, or the longest module path of the server's
            // sources whose file defines it (inline modules in between).
            let found = match module_file(&api_tests, &segments[..1]) {
                Some(test_file) => read(&test_file).is_some_and(|t| defines(&t)),
                None => (1..segments.len()).rev().any(|n| {
                    module_file(&server_src, &segments[..n])
                        .and_then(|f| read(&f))
                        .is_some_and(|t| {
                            defines(&t)
                                && segments[n..segments.len() - 1]
                                    .iter()
                                    .all(|m| t.contains(&format!("mod {m} ")))
                        })
                }),
            };
            if !found {
                missing.push(format!("{}: test `{quoted}`", file.display()));
            }
        }
        for (at, _) in text.match_indices("PRODUCT.md §") {
            let section: String = text[at + "PRODUCT.md §".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            // A section is a number (`§N` and this test's own strings are not cited).
            let cited = section.starts_with(|c: char| c.is_ascii_digit());
            if cited && !product.contains(&format!("\n## {section}. ")) {
                missing.push(format!("{}: PRODUCT.md §{section}", file.display()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "named but not there:\n{}",
        missing.join("\n")
    );
}

fn markdown_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() && !path.ends_with("node_modules") && !path.ends_with("target") {
            markdown_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
}
