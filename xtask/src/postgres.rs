//! A throwaway PostgreSQL cluster: `initdb` into a temporary folder, `pg_ctl start` on
//! a free loopback port with its socket in that folder, and on drop `pg_ctl stop` and
//! the folder removed. As root, the server runs as the `postgres` user, since `initdb`
//! refuses root.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::util::{free_port, is_root};

pub struct Cluster {
    root: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
    options: String,
    pub version: String,
}

impl Cluster {
    pub fn start() -> anyhow::Result<Cluster> {
        let bin = find_bin_dir()?;
        let as_postgres = is_root();
        let root = std::env::temp_dir().join(format!("gatehouse-pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("sock"))?;
        if as_postgres {
            run(Command::new("chown").args(["-R", "postgres:"]).arg(&root))?;
        }
        let port = free_port()?;
        let mut cluster = Cluster {
            root,
            bin,
            port,
            as_postgres,
            options: String::new(),
            version: String::new(),
        };
        let data = cluster.root.join("data");
        run(cluster.pg("initdb").arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        ]))?;
        cluster.options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=400",
            cluster.root.join("sock").display()
        );
        run(cluster
            .pg("pg_ctl")
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(cluster.root.join("log"))
            .args(["-w", "-t", "30", "-o", &cluster.options, "start"]))?;
        let out = Command::new(cluster.bin.join("postgres"))
            .arg("--version")
            .output()?;
        cluster.version = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Ok(cluster)
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Shell commands that stop and start this cluster, for the test that restarts the
    /// database under a running server.
    pub fn stop_and_start_commands(&self) -> (String, String) {
        let prefix = if self.as_postgres {
            "runuser -u postgres -- ".to_string()
        } else {
            String::new()
        };
        let pg_ctl = self.bin.join("pg_ctl");
        let data = self.root.join("data");
        let stop = format!(
            "{prefix}'{}' -D '{}' -m fast -w stop",
            pg_ctl.display(),
            data.display()
        );
        let start = format!(
            "{prefix}'{}' -D '{}' -l '{}' -w -t 30 -o '{}' start",
            pg_ctl.display(),
            data.display(),
            self.root.join("log").display(),
            self.options
        );
        (stop, start)
    }

    /// A tool of this PostgreSQL installation (`psql`, …), to run as the caller.
    pub fn bin(&self, tool: &str) -> PathBuf {
        self.bin.join(tool)
    }

    fn pg(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .pg("pg_ctl")
            .arg("-D")
            .arg(self.root.join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let out = cmd.output().with_context(|| format!("starting {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// `initdb` on the PATH, else the newest `/usr/lib/postgresql/*/bin`.
pub fn find_bin_dir() -> anyhow::Result<PathBuf> {
    let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    candidates.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    if let Some(dir) = candidates
        .into_iter()
        .rev()
        .find(|d| d.join("initdb").exists())
    {
        return Ok(dir);
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").exists() && dir.join("pg_ctl").exists() {
                return Ok(std::fs::canonicalize(dir.join("initdb"))?
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or(dir));
            }
        }
    }
    bail!("PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql")
}
