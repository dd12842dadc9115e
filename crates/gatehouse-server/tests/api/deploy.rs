//! `docker-compose.yml`, the `Dockerfile` and `deploy/nginx.conf` stay in step with the
//! binary: every setting they give is one `gatehouse` reads, every command line they
//! run is one it accepts, and their ports agree. (CI also runs `docker-compose config`
//! on the compose file; `cargo xtask cluster --check` runs nginx with its
//! configuration.)

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");

fn repo_file(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(name),
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn help(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).arg("--help").output().unwrap();
    assert!(out.status.success(), "gatehouse {args:?} --help");
    String::from_utf8(out.stdout).unwrap()
}

/// The `GATEHOUSE_*` settings a file sets (`NAME:` in YAML, `NAME=` in a Dockerfile),
/// not the compose file's own variables (`${NAME:-default}`) nor comments.
fn settings_in(text: &str) -> BTreeSet<String> {
    let text: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let text = text.as_str();
    let mut found = BTreeSet::new();
    for (i, _) in text.match_indices("GATEHOUSE_") {
        if text[..i].ends_with("${") {
            continue;
        }
        let rest = &text[i..];
        let end = rest
            .find(|c: char| !(c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit()))
            .unwrap_or(rest.len());
        let after = rest[end..].chars().next();
        if matches!(after, Some(':') | Some('=')) {
            found.insert(rest[..end].to_string());
        }
    }
    found
}

#[test]
fn compose_and_dockerfile_set_only_real_settings() {
    let documented = help(&[]);
    let compose = repo_file("docker-compose.yml");
    let dockerfile = repo_file("Dockerfile");
    let set: BTreeSet<String> = settings_in(&compose)
        .into_iter()
        .chain(settings_in(&dockerfile))
        .collect();
    assert!(set.len() >= 6, "{set:?}");
    for name in &set {
        assert!(
            documented.contains(&format!("env: {name}")),
            "{name} is set by the deployment files but is no setting of `gatehouse`"
        );
    }
    // What a deployment behind nginx must set.
    for needed in [
        "GATEHOUSE_DATABASE_URL",
        "GATEHOUSE_PUBLIC_URL",
        "GATEHOUSE_TRUSTED_PROXIES",
        "GATEHOUSE_METRICS_LISTEN",
        "GATEHOUSE_LISTEN",
        "GATEHOUSE_WEB_DIR",
    ] {
        assert!(set.contains(needed), "the deployment does not set {needed}");
    }
}

#[test]
fn the_commands_they_run_are_accepted() {
    let compose = repo_file("docker-compose.yml");
    let line = compose
        .lines()
        .find(|l| l.contains("gatehouse bootstrap"))
        .expect("the bootstrap service's command");
    let bootstrap = help(&["bootstrap"]);
    for flag in line.split_whitespace().filter(|w| w.starts_with("--")) {
        assert!(
            bootstrap.contains(flag),
            "`gatehouse bootstrap` has no {flag}"
        );
    }
    let dockerfile = repo_file("Dockerfile");
    assert!(dockerfile.contains("CMD [\"serve\"]"));
    assert!(dockerfile.contains("ENTRYPOINT [\"gatehouse\"]"));
}

#[test]
fn ports_and_files_agree() {
    let compose = repo_file("docker-compose.yml");
    let dockerfile = repo_file("Dockerfile");
    let nginx = repo_file("deploy/nginx.conf");
    // The replicas listen where nginx sends requests.
    assert!(dockerfile.contains("GATEHOUSE_LISTEN=0.0.0.0:8080"));
    assert!(nginx.contains("server gatehouse-1:8080") && nginx.contains("server gatehouse-2:8080"));
    for service in ["gatehouse-1:", "gatehouse-2:"] {
        assert!(compose.contains(service), "compose has no {service}");
    }
    // nginx is the trusted proxy at its fixed address.
    assert!(compose.contains("GATEHOUSE_TRUSTED_PROXIES: 172.30.0.10/32"));
    assert!(compose.contains("ipv4_address: 172.30.0.10"));
    // The image ships the web app where it says, runs as its own user, and checks
    // readiness.
    assert!(dockerfile.contains("COPY --from=build /src/frontend/dist /usr/share/gatehouse/web"));
    assert!(dockerfile.contains("GATEHOUSE_WEB_DIR=/usr/share/gatehouse/web"));
    assert!(dockerfile.contains("USER gatehouse"));
    assert!(dockerfile.contains("/readyz"));
    // Metrics are served inside the network only: their port is not published.
    assert!(compose.contains("GATEHOUSE_METRICS_LISTEN: 0.0.0.0:9090"));
    assert!(!compose.contains("9090:9090"));
}
