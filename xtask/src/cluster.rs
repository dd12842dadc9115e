//! `cargo xtask cluster`: the compose topology as local processes — a throwaway
//! PostgreSQL, two Gatehouse replicas, and Debian's `nginx` in front of them, configured
//! by the same `deploy/nginx.conf` that `docker-compose.yml` mounts. Only the addresses
//! change: the compose service names (`gatehouse-1:8080`, `gatehouse-2:8080`) become
//! the replicas' loopback ports and `listen 80` the chosen port; every other line —
//! timeouts, forwarding headers, failover — is the file's own, so this tests it.
//!
//! `cargo xtask cluster` runs until Ctrl-C and prints where to sign in.
//! `cargo xtask cluster --check` (run by `cargo xtask test`) signs in through nginx,
//! revokes a key on one replica and sees the refusal through the other, checks the
//! client address nginx forwards and that a replica's death is skipped, then stops.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::live::{
    Server, as_signed_in, bootstrap, curl, json_string, path_str, sign_in_with, wait_ready,
};
use crate::util::{build_server, free_port, is_root, root};
use crate::{postgres, web};

/// The replicas' trusted proxy: nginx, on loopback.
const NGINX_ADDRESS: &str = "127.0.0.1/32";
pub(crate) const USERNAME: &str = "admin";

pub struct Replica {
    server: Server,
    pub port: u16,
    pub metrics_port: u16,
}

pub struct Topology {
    pub replicas: Vec<Replica>,
    nginx: Server,
    /// nginx's port: the cluster's address.
    pub port: u16,
    /// `deploy/nginx-forward-auth.conf`'s server, in front of a service that answers
    /// with the headers it was given.
    pub gated_port: u16,
    pub dir: PathBuf,
    pub postgres: postgres::Cluster,
}

impl Topology {
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn replica_base(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.replicas[i].port)
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        // nginx first, then the replicas (Server's drop kills), then PostgreSQL.
        let _ = self.nginx.terminate();
        for r in &mut self.replicas {
            let _ = r.server.terminate();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts PostgreSQL, bootstraps the admin (with `password`), `replicas` servers of
/// `bin`, and nginx on `port`.
pub fn start(bin: &Path, replicas: usize, port: u16, password: &str) -> anyhow::Result<Topology> {
    if Command::new(nginx_bin()).arg("-v").output().is_err() {
        bail!("`nginx` is needed for the cluster: apt-get install nginx");
    }
    let dir = std::env::temp_dir().join(format!("gatehouse-cluster-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let pg = postgres::Cluster::start().context("starting a throwaway PostgreSQL")?;
    bootstrap(bin, &pg.url(), "Default", USERNAME, password)?;
    let public_url = format!("http://127.0.0.1:{port}");
    let mut started = Vec::new();
    for i in 1..=replicas {
        let (p, m) = (free_port()?, free_port()?);
        let log = std::fs::File::create(dir.join(format!("gatehouse-{i}.log")))?;
        let server = Server::spawn(
            Command::new(bin)
                .args(["serve", "--listen", &format!("127.0.0.1:{p}")])
                .env("GATEHOUSE_DATABASE_URL", pg.url())
                .env("GATEHOUSE_PUBLIC_URL", &public_url)
                .env("GATEHOUSE_TRUSTED_PROXIES", NGINX_ADDRESS)
                .env("GATEHOUSE_METRICS_LISTEN", format!("127.0.0.1:{m}"))
                .env("GATEHOUSE_WEB_DIR", web::dist_dir())
                .env("GATEHOUSE_LOG_FORMAT", "json")
                .stdout(Stdio::null())
                .stderr(log),
        )?;
        started.push(Replica {
            server,
            port: p,
            metrics_port: m,
        });
    }
    for r in &started {
        wait_ready(&format!("http://127.0.0.1:{}", r.port))?;
    }
    let ports: Vec<u16> = started.iter().map(|r| r.port).collect();
    let gated_port = free_port()?;
    let nginx = nginx(&dir, port, &ports, gated_port)?;
    let topology = Topology {
        replicas: started,
        nginx,
        gated_port,
        port,
        dir,
        postgres: pg,
    };
    wait_ready(&topology.base())?;
    Ok(topology)
}

/// `deploy/nginx.conf` with the cluster's addresses, in a main configuration of its
/// own (pid, logs and temporary files in `dir`).
pub fn nginx_site(conf: &str, port: u16, replicas: &[u16]) -> anyhow::Result<String> {
    let mut out = Vec::new();
    let (mut listens, mut servers) = (0, 0);
    for line in conf.lines() {
        let trimmed = line.trim_start();
        if trimmed == "listen 80;" {
            listens += 1;
            out.push(line.replace("listen 80;", &format!("listen 127.0.0.1:{port};")));
        } else if let Some(rest) = trimmed.strip_prefix("server gatehouse-") {
            servers += 1;
            let (n, _) = rest
                .split_once(":8080")
                .context("an upstream without :8080")?;
            let n: usize = n.parse().context("an upstream not named gatehouse-N")?;
            if let Some(p) = replicas.get(n - 1) {
                out.push(line.replace(&format!("gatehouse-{n}:8080"), &format!("127.0.0.1:{p}")));
            }
        } else {
            out.push(line.to_string());
        }
    }
    anyhow::ensure!(
        listens == 1 && servers == 2,
        "deploy/nginx.conf no longer has one `listen 80;` and the upstreams gatehouse-1 and \
         gatehouse-2: update cluster.rs with it"
    );
    Ok(out.join("\n") + "\n")
}

/// `deploy/nginx-forward-auth.conf` on `port`, in front of a service on `service` that
/// answers with the user and the cookies it was given.
fn gated_site(conf: &str, port: u16, service: u16) -> anyhow::Result<String> {
    anyhow::ensure!(
        conf.contains("listen 8081;") && conf.contains("http://my-service;"),
        "deploy/nginx-forward-auth.conf no longer listens on 8081 in front of my-service: \
         update cluster.rs with it"
    );
    let site = conf
        .replace("listen 8081;", &format!("listen 127.0.0.1:{port};"))
        .replace(
            "http://my-service;",
            &format!("http://127.0.0.1:{service};"),
        );
    Ok(format!(
        "{site}\nserver {{\n    listen 127.0.0.1:{service};\n    location / {{\n        \
         default_type text/plain;\n        \
         return 200 \"user=$http_x_user\\ncookie=$http_cookie\\n\";\n    }}\n}}\n"
    ))
}

fn nginx(dir: &Path, port: u16, replicas: &[u16], gated: u16) -> anyhow::Result<Server> {
    let conf = std::fs::read_to_string(root().join("deploy/nginx.conf"))?;
    let mut site = nginx_site(&conf, port, replicas)?;
    let forward_auth = std::fs::read_to_string(root().join("deploy/nginx-forward-auth.conf"))?;
    site += &gated_site(&forward_auth, gated, free_port()?)?;
    let ngx = dir.join("nginx");
    std::fs::create_dir_all(ngx.join("tmp"))?;
    std::fs::write(ngx.join("default.conf"), site)?;
    let as_root = is_root();
    let d = ngx.display();
    // As root, nginx's workers would switch to `nobody`, who cannot use our folder.
    // `worker_processes auto` as in the nginx image's own main configuration.
    let user = if as_root { "user root;\n" } else { "" };
    std::fs::write(
        ngx.join("nginx.conf"),
        format!(
            "{user}worker_processes auto;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/tmp/body;\n  \
             proxy_temp_path {d}/tmp/proxy;\n  fastcgi_temp_path {d}/tmp/fastcgi;\n  \
             uwsgi_temp_path {d}/tmp/uwsgi;\n  scgi_temp_path {d}/tmp/scgi;\n  \
             include {d}/default.conf;\n}}\n"
        ),
    )?;
    let test = Command::new(nginx_bin())
        .arg("-p")
        .arg(&ngx)
        .arg("-c")
        .arg(ngx.join("nginx.conf"))
        .arg("-t")
        .output()?;
    if !test.status.success() {
        bail!(
            "nginx refuses the configuration: {}",
            String::from_utf8_lossy(&test.stderr)
        );
    }
    Server::spawn(
        Command::new(nginx_bin())
            .arg("-p")
            .arg(&ngx)
            .arg("-c")
            .arg(ngx.join("nginx.conf"))
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
}

/// Debian installs nginx in /usr/sbin, which an ordinary user's PATH may lack.
fn nginx_bin() -> PathBuf {
    let sbin = PathBuf::from("/usr/sbin/nginx");
    if sbin.exists() {
        sbin
    } else {
        PathBuf::from("nginx")
    }
}

/// A password nobody chose: 24 hex characters from the OS.
fn random_password() -> anyhow::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 12];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("reading /dev/urandom")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// `cargo xtask cluster`, until Ctrl-C; with `check_only`, the checks, then stop.
pub fn cluster(check_only: bool) -> anyhow::Result<()> {
    if check_only {
        // The debug build `cargo xtask test` has just made.
        let bin = build_server(false)?;
        let password = random_password()?;
        let topology = start(&bin, 2, free_port()?, &password)?;
        return check(topology, &password);
    }
    web::build_web()?;
    let bin = build_server(true)?;
    let password = random_password()?;
    let port = if TcpListener::bind("127.0.0.1:8080").is_ok() {
        8080
    } else {
        free_port()?
    };
    let topology = start(&bin, 2, port, &password)?;
    println!(
        "\n  Gatehouse cluster: nginx at {} (deploy/nginx.conf)",
        topology.base()
    );
    for (i, r) in topology.replicas.iter().enumerate() {
        println!(
            "    replica {}: http://127.0.0.1:{}  metrics http://127.0.0.1:{}/metrics  log {}",
            i + 1,
            r.port,
            r.metrics_port,
            topology
                .dir
                .join(format!("gatehouse-{}.log", i + 1))
                .display()
        );
    }
    println!("    PostgreSQL: {}", topology.postgres.url());
    println!(
        "\n  Sign in as {USERNAME} with {password} (shown once).\n  Ctrl-C stops everything.\n"
    );
    // Until Ctrl-C: the topology is dropped (everything stopped) as the process ends.
    wait_for_interrupt(topology)
}

/// Until Ctrl-C (or a replica ends): then everything is stopped as `topology` drops.
fn wait_for_interrupt(mut topology: Topology) -> anyhow::Result<()> {
    let (tx, rx) = std::sync::mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = tx.send(());
    })
    .context("handling Ctrl-C")?;
    loop {
        if rx.recv_timeout(Duration::from_millis(500)).is_ok() {
            eprintln!("cluster: stopping nginx, the replicas and PostgreSQL");
            return Ok(());
        }
        for (i, r) in topology.replicas.iter_mut().enumerate() {
            if let Some(status) = r.server.try_wait()? {
                bail!("replica {} stopped ({status})", i + 1);
            }
        }
    }
}

/// What a newcomer would check by hand, checked.
fn check(mut t: Topology, password: &str) -> anyhow::Result<()> {
    let base = t.base();
    let jar = t.dir.join("cookies");
    let step = |what: &str| eprintln!("cluster: {what}");

    step("signing in through nginx");
    let csrf = sign_in_with(&base, &jar, USERNAME, password)?;
    let created = as_signed_in(
        &jar,
        &csrf,
        "POST",
        &format!("{base}/api/v1/api-keys"),
        "{\"name\":\"cluster check\",\"permission\":\"read_only\"}",
    )?;
    let secret = json_string(&created, "secret").context("a key's secret")?;
    let id = json_string(&created, "id").context("a key's id")?;
    let bearer = format!("Authorization: Bearer {secret}");

    step("the key works on both replicas, and nginx spreads requests over them");
    for i in 0..2 {
        status_is(
            &format!("{}/api/v1/session", t.replica_base(i)),
            &bearer,
            200,
        )?;
    }
    for _ in 0..10 {
        status_is(&format!("{base}/api/v1/session"), &bearer, 200)?;
    }
    for (i, r) in t.replicas.iter().enumerate() {
        let metrics = curl(&[
            "-f",
            &format!("http://127.0.0.1:{}/metrics", r.metrics_port),
        ])?;
        let served: f64 = metrics
            .lines()
            .filter(|l| {
                l.starts_with("gatehouse_http_requests_total")
                    && l.contains("route=\"/api/v1/session\"")
                    && l.contains("method=\"GET\"")
            })
            .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum();
        anyhow::ensure!(served >= 2.0, "replica {} served {served} of them", i + 1);
    }

    step("revoking on replica 1, refused through replica 2 and through nginx");
    let replica_one = t.replica_base(0);
    curl(&[
        "-f",
        "-b",
        path_str(&jar)?,
        "-X",
        "DELETE",
        "-H",
        &format!("X-CSRF-Token: {csrf}"),
        &format!("{replica_one}/api/v1/api-keys/{id}"),
    ])?;
    let revoked = Instant::now();
    let other = format!("{}/api/v1/session", t.replica_base(1));
    loop {
        if code(&other, &bearer)? == 401 {
            break;
        }
        anyhow::ensure!(
            revoked.elapsed() < Duration::from_secs(2),
            "replica 2 still accepts the revoked key"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    eprintln!(
        "cluster:   refused by replica 2 {:.1} ms after replica 1 answered",
        revoked.elapsed().as_secs_f64() * 1000.0
    );
    status_is(&format!("{base}/api/v1/session"), &bearer, 401)?;

    // The client connects from 127.0.0.3: on loopback, but not nginx's address (a
    // client on the trusted proxy's own address could choose its address, as the README
    // warns).
    step("nginx forwards the client's own address, not one the client made up");
    let failed = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--interface",
            "127.0.0.3",
        ])
        .args(["-H", "Content-Type: application/json"])
        .args(["-H", "X-Forwarded-For: 203.0.113.9"])
        .args([
            "-d",
            "{\"username\":\"admin\",\"password\":\"not the password at all\"}",
        ])
        .arg(format!("{base}/api/v1/session"))
        .output()?;
    anyhow::ensure!(failed.stdout == b"401", "a wrong password through nginx");
    let events = curl(&[
        "-f",
        "-b",
        path_str(&jar)?,
        &format!("{base}/api/v1/audit-events?scope=all&action=session.sign_in_failed&limit=1"),
    ])?;
    anyhow::ensure!(
        events.contains("\"ip\":\"127.0.0.3\"") && !events.contains("203.0.113.9"),
        "the audit log has the wrong address: {events}"
    );

    step("forward auth: the service sees the person, and never Gatehouse's cookie");
    let gated = format!("http://127.0.0.1:{}/", t.gated_port);
    anyhow::ensure!(
        code(&gated, "X-Nothing: 1")? == 401,
        "forward auth let a request without a credential through"
    );
    // The session cookie between two of the service's own.
    let jar_text = std::fs::read_to_string(&jar)?;
    let session = jar_text
        .lines()
        .filter_map(|l| {
            let fields: Vec<&str> = l.split('\t').collect();
            (fields.len() == 7 && fields[5].ends_with("gatehouse_session"))
                .then(|| format!("{}={}", fields[5], fields[6]))
        })
        .next()
        .context("no session cookie in the jar")?;
    let seen = curl(&[
        "-f",
        "-H",
        &format!("Cookie: theme=dark; {session}; lang=en"),
        &gated,
    ])?;
    anyhow::ensure!(
        seen.contains(&format!("user={USERNAME}\n"))
            && seen.contains("theme=dark")
            && seen.contains("lang=en")
            && !seen.contains("gatehouse_session"),
        "the service behind forward auth saw: {seen}"
    );
    // The name sent three times (two planted after the real one, to push it past the
    // maps' two passes): the service gets no cookies rather than that one. (Under the
    // other name here: Gatehouse itself believes no session whose name comes twice.)
    let seen = curl(&[
        "-f",
        "-H",
        &format!(
            "Cookie: {session}; __Host-gatehouse_session=p1; theme=dark; __Host-gatehouse_session=p2"
        ),
        &gated,
    ])?;
    anyhow::ensure!(
        !seen.contains("gatehouse_session") && !seen.contains("theme"),
        "the service behind forward auth saw: {seen}"
    );
    anyhow::ensure!(
        code(
            &gated,
            &format!("Cookie: {session}; gatehouse_session=planted")
        )? == 401,
        "a session cookie sent twice was believed"
    );

    step("metrics stay off the public address");
    anyhow::ensure!(code(&format!("{base}/metrics"), "X-Nothing: 1")? == 404);

    step("a replica that dies is skipped by nginx");
    let _ = t.replicas[0].server.kill();
    for _ in 0..6 {
        status_is(&format!("{base}/readyz"), "X-Nothing: 1", 200)?;
    }
    eprintln!("cluster: every check passed");
    Ok(())
}

fn code(url: &str, header: &str) -> anyhow::Result<u16> {
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            header,
            url,
        ])
        .output()?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
}

fn status_is(url: &str, header: &str, want: u16) -> anyhow::Result<()> {
    let got = code(url, header)?;
    anyhow::ensure!(got == want, "{url} answered {got}, not {want}");
    Ok(())
}
