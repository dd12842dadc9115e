//! Typed settings, loaded once at start-up from flags, `GATEHOUSE_*` environment
//! variables and an optional TOML file, in that order of precedence, over defaults that
//! run a local server with SQLite and no configuration at all.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Deserialize;

use crate::client_address::{ForwardedHeader, TrustedProxies};
use crate::secret::SecretString;

#[derive(Debug, Parser)]
#[command(
    name = "gatehouse",
    version,
    about = "Gatehouse: API keys, OAuth clients and authorized applications for your organisation."
)]
pub struct Cli {
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate the database, then serve the API (and the SPA). On an empty database it
    /// first creates a subscription and an admin, and shows the admin's password once:
    /// printed when standard output is a terminal, otherwise written to the file
    /// `first-admin-password` in the data directory (readable by its owner only).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create a subscription and its first admin. Run again with the same subscription
    /// and username it changes nothing and succeeds, so a deployment can run it on
    /// every start.
    Bootstrap {
        /// The new subscription's name.
        #[arg(long)]
        subscription: String,
        /// The first admin's username (an e-mail address is fine).
        #[arg(long)]
        username: String,
        /// Read the admin's password from standard input instead of generating one
        /// (a generated one is printed, so only to a terminal).
        #[arg(long)]
        password_stdin: bool,
        /// Only on a database that holds no subscription yet: otherwise succeed at
        /// once, reading nothing and changing nothing. For deployments that run it on
        /// every start, whatever has been renamed or deleted since.
        #[arg(long)]
        if_empty: bool,
    },
    /// Print the API description (OpenAPI 3.1) that the server serves at
    /// `/api/v1/openapi.json`, as generated from its code.
    Openapi,
    /// Manage the keys that sign access tokens and id_tokens.
    SigningKey {
        #[command(subcommand)]
        action: SigningKeyAction,
    },
    /// List, disable and unlock users, without the web app.
    Users {
        #[command(subcommand)]
        action: UsersAction,
    },
    /// Revoke an API key: it stops at once.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Revoke an authorized application (a grant): its tokens stop at once.
    Grants {
        #[command(subcommand)]
        action: GrantsAction,
    },
    /// Export a subscription's audit log.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Print the effective configuration, with secrets masked.
    Config,
    /// Check the installation: the database answers, its migrations are applied, the
    /// signing keys are there and usable, the web app is built.
    Doctor,
    /// Write a consistent copy of the SQLite database to PATH while the server runs
    /// (for PostgreSQL, use pg_dump).
    Backup {
        /// The copy to write; it must not exist yet.
        path: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum UsersAction {
    /// Every user, with subscription, role and state.
    List {
        /// Only this subscription's (id or name).
        #[arg(long)]
        subscription: Option<String>,
    },
    /// Disable a user: their sessions end, their keys and tokens stop.
    Disable {
        /// User id or username.
        user: String,
        /// Only in this subscription (id or name).
        #[arg(long)]
        subscription: Option<String>,
    },
    /// Make a user active again — a disabled one too, as an admin's `state: active`
    /// does — lifting an admin's lock and a password lock.
    Unlock {
        /// User id or username.
        user: String,
        /// Only in this subscription (id or name).
        #[arg(long)]
        subscription: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Delete an API key by id.
    Revoke { id: String },
}

#[derive(Debug, Subcommand)]
pub enum GrantsAction {
    /// Revoke a grant by id (as listed under the user's authorized applications).
    Revoke { id: String },
}

#[derive(Debug, Subcommand)]
pub enum AuditAction {
    /// Write the audit log to standard output, newest first.
    Export {
        /// The subscription (id or name); needed when there are several.
        #[arg(long)]
        subscription: Option<String>,
        #[arg(long, value_enum, default_value = "jsonl")]
        format: ExportFormat,
        /// Only events at or after this time (RFC 3339).
        #[arg(long)]
        since: Option<chrono::DateTime<chrono::FixedOffset>>,
        /// Only events before this time (RFC 3339).
        #[arg(long)]
        until: Option<chrono::DateTime<chrono::FixedOffset>>,
        /// Instead of a subscription's events, those no subscription owns: failed
        /// sign-ins with usernames nobody has (a password spray shows here).
        #[arg(long, conflicts_with = "subscription")]
        unattributed: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SigningKeyAction {
    /// Make new signing keys current. Tokens signed with the old ones keep verifying
    /// until they expire; the JWKS publishes both meanwhile.
    Rotate,
}

/// How `audit export` writes events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// One JSON object per line, as the API shows events.
    Jsonl,
    /// The columns of the web app's CSV download, formulas defused.
    Csv,
}

/// Every setting, as flag and environment variable. Unset ones fall back to the file,
/// then to the default shown.
#[derive(Debug, Default, Args)]
pub struct SettingsArgs {
    /// TOML file with any of the settings below (same names, snake_case).
    #[arg(long, env = "GATEHOUSE_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "GATEHOUSE_LISTEN", global = true)]
    pub listen: Option<String>,
    /// sqlite://PATH or postgres://… [default: sqlite://./data/gatehouse.db].
    #[arg(long, env = "GATEHOUSE_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// Folder for files `serve` writes beside the database: the first admin's password
    /// when standard output is not a terminal [default: the SQLite file's folder; for
    /// PostgreSQL the working directory].
    #[arg(long, env = "GATEHOUSE_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// The URL users reach Gatehouse at; the OAuth issuer, and whether cookies are
    /// `Secure` [default: http://LISTEN].
    #[arg(long, env = "GATEHOUSE_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
    /// Server-side secret mixed into every stored token hash (HMAC-SHA-256). Changing it
    /// invalidates every session and key. [default: none, plain SHA-256]
    #[arg(
        long,
        env = "GATEHOUSE_SECRET_PEPPER",
        global = true,
        hide_env_values = true
    )]
    pub secret_pepper: Option<SecretString>,
    /// Database connections per process [default: 8 for PostgreSQL, 4 for SQLite].
    #[arg(long, env = "GATEHOUSE_DB_POOL_SIZE", global = true)]
    pub db_pool_size: Option<u32>,
    /// HTTP worker threads [default: number of cores].
    #[arg(long, env = "GATEHOUSE_WORKERS", global = true)]
    pub workers: Option<usize>,
    /// Password hashes computed at once; sign-ins beyond that wait [default: cores - 1, at least 1].
    #[arg(long, env = "GATEHOUSE_PASSWORD_HASH_CONCURRENCY", global = true)]
    pub password_hash_concurrency: Option<usize>,
    /// Seconds a verified API key is trusted without asking the database again; the
    /// bound on how late other replicas see a revocation. 0 turns the cache off
    /// [default: 2].
    #[arg(long, env = "GATEHOUSE_CREDENTIAL_CACHE_SECONDS", global = true)]
    pub credential_cache_seconds: Option<u64>,
    /// Serve Prometheus metrics at `/metrics` on this address (e.g. 127.0.0.1:9090, or an
    /// address inside the cluster's network); never on `listen` [default: no metrics].
    #[arg(long, env = "GATEHOUSE_METRICS_LISTEN", global = true)]
    pub metrics_listen: Option<String>,
    /// Days audit events are kept; older ones are purged [default: forever].
    #[arg(long, env = "GATEHOUSE_AUDIT_RETENTION_DAYS", global = true)]
    pub audit_retention_days: Option<u32>,
    /// Hours an expired or revoked refresh token (or code) is kept before it is purged;
    /// a spent one is kept until it would have expired, so that its replay revokes its
    /// grant [default: 24].
    #[arg(long, env = "GATEHOUSE_SPENT_TOKEN_RETENTION_HOURS", global = true)]
    pub spent_token_retention_hours: Option<u32>,
    /// Let Gatehouse's own calls to client-chosen URLs (back-channel logout) reach
    /// loopback, private and link-local addresses. Off in production: such a URL would
    /// let a client's owner probe the network Gatehouse runs in [default: false].
    #[arg(long, env = "GATEHOUSE_OUTBOUND_ALLOW_PRIVATE", global = true)]
    pub outbound_allow_private: Option<bool>,
    /// Log format [default: text].
    #[arg(long, env = "GATEHOUSE_LOG_FORMAT", global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    /// Log filter, in `tracing` syntax [default: info].
    #[arg(long, env = "GATEHOUSE_LOG", global = true)]
    pub log: Option<String>,
    /// Folder holding the built web app (`index.html` and `assets/`), as written by
    /// `cargo xtask build-web` [default: frontend/dist].
    #[arg(long, env = "GATEHOUSE_WEB_DIR", global = true)]
    pub web_dir: Option<PathBuf>,
    /// Reverse proxies (CIDR blocks, comma-separated) whose `Forwarded` /
    /// `X-Forwarded-For` headers name the client's address. Only requests from these
    /// peers have them believed [default: none; the TCP peer is the client].
    #[arg(long, env = "GATEHOUSE_TRUSTED_PROXIES", global = true)]
    pub trusted_proxies: Option<String>,
    /// The one header the trusted proxies' word is read from [default: x-forwarded-for].
    #[arg(long, env = "GATEHOUSE_FORWARDED_HEADER", global = true, value_enum)]
    pub forwarded_header: Option<ForwardedHeader>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Where `cargo xtask build-web` writes the web app, relative to the workspace root.
pub const DEFAULT_WEB_DIR: &str = "frontend/dist";

/// The TOML file's shape: the same settings, all optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<String>,
    database_url: Option<String>,
    data_dir: Option<PathBuf>,
    public_url: Option<String>,
    secret_pepper: Option<SecretString>,
    db_pool_size: Option<u32>,
    workers: Option<usize>,
    password_hash_concurrency: Option<usize>,
    credential_cache_seconds: Option<u64>,
    metrics_listen: Option<String>,
    audit_retention_days: Option<u32>,
    spent_token_retention_hours: Option<u32>,
    outbound_allow_private: Option<bool>,
    log_format: Option<LogFormat>,
    log: Option<String>,
    web_dir: Option<PathBuf>,
    trusted_proxies: Option<String>,
    forwarded_header: Option<ForwardedHeader>,
}

/// The longest a replica may cache a verified credential: what it bounds is how long a
/// revocation made on another replica takes to reach this one.
pub const MAX_CREDENTIAL_CACHE_SECONDS: u64 = 60;
/// A year of hours: longer windows keep rows nobody can use.
pub const MAX_RETENTION_HOURS: u32 = 24 * 366;
/// A century: "forever" is leaving `audit_retention_days` unset.
pub const MAX_RETENTION_DAYS: u32 = 36_600;

/// The resolved settings of one process.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: String,
    pub database_url: String,
    /// Where `serve` writes the first admin's password file.
    pub data_dir: PathBuf,
    pub public_url: String,
    pub secret_pepper: Option<SecretString>,
    pub db_pool_size: u32,
    pub workers: usize,
    pub password_hash_concurrency: usize,
    pub credential_cache_seconds: u64,
    /// `None`: no metrics are served.
    pub metrics_listen: Option<String>,
    /// `None`: audit events are kept forever.
    pub audit_retention_days: Option<u32>,
    pub spent_token_retention_hours: u32,
    /// Whether back-channel logout may call loopback, private and link-local addresses.
    pub outbound_allow_private: bool,
    pub log_format: LogFormat,
    pub log: String,
    /// The built web app: `index.html` and `assets/`.
    pub web_dir: PathBuf,
    /// Peers whose forwarding headers are believed (`client_address`).
    pub trusted_proxies: TrustedProxies,
    /// Which header they write the client's address to.
    pub forwarded_header: ForwardedHeader,
    /// What hashing a password costs. Not a setting: no flag, variable or file sets it,
    /// so a server always hashes at OWASP's cost; only code that builds `Settings`
    /// itself (the test suite) can choose the cheap one.
    pub password_cost: PasswordCost,
}

/// The cost of argon2id for new passwords.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PasswordCost {
    /// OWASP's parameters: 19 MiB, two passes, one lane.
    #[default]
    Owasp,
    /// 64 KiB, one pass: for the test suite's many sign-ins, never for a server.
    Cheap,
}

impl Settings {
    /// Every setting as it is in effect, by its name, secrets masked: the pepper only as
    /// set or not, a database URL without its password.
    pub fn effective(&self) -> Vec<(&'static str, String)> {
        let or_unset = |v: Option<String>| v.unwrap_or_else(|| "(unset)".into());
        vec![
            ("listen", self.listen.clone()),
            ("database_url", mask_password(&self.database_url)),
            ("data_dir", self.data_dir.display().to_string()),
            ("public_url", self.public_url.clone()),
            (
                "secret_pepper",
                or_unset(
                    self.secret_pepper
                        .as_ref()
                        .map(|_| "(set, not shown)".into()),
                ),
            ),
            ("db_pool_size", self.db_pool_size.to_string()),
            ("workers", self.workers.to_string()),
            (
                "password_hash_concurrency",
                self.password_hash_concurrency.to_string(),
            ),
            (
                "credential_cache_seconds",
                self.credential_cache_seconds.to_string(),
            ),
            (
                "metrics_listen",
                self.metrics_listen
                    .clone()
                    .unwrap_or_else(|| "(unset: no /metrics)".into()),
            ),
            (
                "audit_retention_days",
                self.audit_retention_days
                    .map_or_else(|| "(forever)".into(), |d| d.to_string()),
            ),
            (
                "spent_token_retention_hours",
                self.spent_token_retention_hours.to_string(),
            ),
            (
                "outbound_allow_private",
                self.outbound_allow_private.to_string(),
            ),
            (
                "log_format",
                format!("{:?}", self.log_format).to_lowercase(),
            ),
            ("log", self.log.clone()),
            ("web_dir", self.web_dir.display().to_string()),
            (
                "trusted_proxies",
                or_unset(Some(self.trusted_proxies.to_string()).filter(|p| !p.is_empty())),
            ),
            ("forwarded_header", format!("{:?}", self.forwarded_header)),
        ]
    }

    /// Flags and environment (already merged by clap) win over the file, the file over
    /// the defaults.
    pub fn load(args: SettingsArgs) -> anyhow::Result<Settings> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileSettings::default(),
        };
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let listen = args
            .listen
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:8080".into());
        let database_url = args
            .database_url
            .or(file.database_url)
            .unwrap_or_else(|| "sqlite://./data/gatehouse.db".into());
        let backend = crate::db::Backend::of_url(&database_url)?;
        let public_url = args
            .public_url
            .or(file.public_url)
            .unwrap_or_else(|| format!("http://{listen}"))
            .trim_end_matches('/')
            .to_string();
        let data_dir = args
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| default_data_dir(&database_url));
        let settings = Settings {
            data_dir,
            public_url,
            secret_pepper: args
                .secret_pepper
                .or(file.secret_pepper)
                .filter(|p| !p.expose().is_empty()),
            db_pool_size: args
                .db_pool_size
                .or(file.db_pool_size)
                .unwrap_or(match backend {
                    crate::db::Backend::Postgres => 8,
                    crate::db::Backend::Sqlite => 4,
                }),
            workers: args.workers.or(file.workers).unwrap_or(cores).max(1),
            password_hash_concurrency: args
                .password_hash_concurrency
                .or(file.password_hash_concurrency)
                .unwrap_or(cores.saturating_sub(1))
                .max(1),
            credential_cache_seconds: args
                .credential_cache_seconds
                .or(file.credential_cache_seconds)
                .unwrap_or(2),
            metrics_listen: args.metrics_listen.or(file.metrics_listen),
            audit_retention_days: args.audit_retention_days.or(file.audit_retention_days),
            spent_token_retention_hours: args
                .spent_token_retention_hours
                .or(file.spent_token_retention_hours)
                .unwrap_or(24),
            outbound_allow_private: args
                .outbound_allow_private
                .or(file.outbound_allow_private)
                .unwrap_or(false),
            log_format: args
                .log_format
                .or(file.log_format)
                .unwrap_or(LogFormat::Text),
            log: args.log.or(file.log).unwrap_or_else(|| "info".into()),
            web_dir: args
                .web_dir
                .or(file.web_dir)
                .unwrap_or_else(|| DEFAULT_WEB_DIR.into()),
            trusted_proxies: args
                .trusted_proxies
                .or(file.trusted_proxies)
                .unwrap_or_default()
                .parse()
                .map_err(|e| anyhow::anyhow!("trusted_proxies: {e}"))?,
            forwarded_header: args
                .forwarded_header
                .or(file.forwarded_header)
                .unwrap_or_default(),
            password_cost: PasswordCost::Owasp,
            listen,
            database_url,
        };
        settings.validate()?;
        Ok(settings)
    }

    /// Settings for tests and embedding: defaults, with the given database.
    pub fn for_database(database_url: &str) -> Settings {
        Settings {
            listen: "127.0.0.1:0".into(),
            database_url: database_url.into(),
            data_dir: default_data_dir(database_url),
            // Completed with the real port when the listener is bound.
            public_url: "http://127.0.0.1:0".into(),
            secret_pepper: None,
            db_pool_size: 4,
            workers: 1,
            password_hash_concurrency: 1,
            credential_cache_seconds: 2,
            metrics_listen: None,
            audit_retention_days: None,
            spent_token_retention_hours: 24,
            // Tests run their clients on loopback.
            outbound_allow_private: true,
            log_format: LogFormat::Text,
            log: "warn".into(),
            web_dir: DEFAULT_WEB_DIR.into(),
            trusted_proxies: TrustedProxies::default(),
            forwarded_header: ForwardedHeader::default(),
            password_cost: PasswordCost::Owasp,
        }
    }

    fn validate(&self) -> anyhow::Result<()> {
        let scheme_ok =
            self.public_url.starts_with("http://") || self.public_url.starts_with("https://");
        anyhow::ensure!(scheme_ok, "public_url must start with http:// or https://");
        anyhow::ensure!(self.db_pool_size >= 1, "db_pool_size must be at least 1");
        // It bounds how long another replica honours a revoked credential.
        anyhow::ensure!(
            self.credential_cache_seconds <= MAX_CREDENTIAL_CACHE_SECONDS,
            "credential_cache_seconds must be at most {MAX_CREDENTIAL_CACHE_SECONDS}"
        );
        anyhow::ensure!(
            (1..=MAX_RETENTION_HOURS).contains(&self.spent_token_retention_hours),
            "spent_token_retention_hours must be from 1 to {MAX_RETENTION_HOURS}"
        );
        anyhow::ensure!(
            self.audit_retention_days
                .is_none_or(|d| (1..=MAX_RETENTION_DAYS).contains(&d)),
            "audit_retention_days must be from 1 to {MAX_RETENTION_DAYS} (leave it unset to \
             keep events forever)"
        );
        Ok(())
    }

    /// Cookies are `Secure` unless Gatehouse is reached over plain http on loopback,
    /// where browsers would refuse to send a `Secure` cookie back.
    pub fn cookies_secure(&self) -> bool {
        let Some(rest) = self.public_url.strip_prefix("http://") else {
            return true;
        };
        let authority = rest.split('/').next().unwrap_or("");
        let host = if let Some(v6) = authority.strip_prefix('[') {
            v6.split(']').next().unwrap_or("")
        } else {
            authority.split(':').next().unwrap_or("")
        };
        let loopback = host == "localhost"
            || host
                .parse::<IpAddr>()
                .map(|ip| ip.is_loopback())
                .unwrap_or(false);
        !loopback
    }
}

/// The SQLite file's folder, where an operator already looks for Gatehouse's files; a
/// PostgreSQL deployment has no such folder, so the working directory (the `gatehouse`
/// user's home in the container image).
fn default_data_dir(database_url: &str) -> PathBuf {
    crate::db::sqlite_path(database_url)
        .and_then(Path::parent)
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf()
}

fn read_file(path: &Path) -> anyhow::Result<FileSettings> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing the config file {}", path.display()))
}

/// A database URL with its secrets replaced by `***`: the password of its user info,
/// and `password` / `sslpassword` query parameters (libpq reads both). A URL that does
/// not parse is not shown at all, since where its password is cannot be told.
pub fn mask_password(raw: &str) -> String {
    let Ok(mut url) = url::Url::parse(raw) else {
        return "(not shown: it does not parse as a URL)".into();
    };
    if url.password().is_some() {
        let _ = url.set_password(Some("***"));
    }
    let secret =
        |k: &str| k.eq_ignore_ascii_case("password") || k.eq_ignore_ascii_case("sslpassword");
    if url.query_pairs().any(|(k, _)| secret(&k)) {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if secret(&k) {
                    "***".to_string()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string().replace("%2A%2A%2A", "***")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_passwords_are_masked_wherever_they_are() {
        for (raw, shown) in [
            ("postgres://gh:hunter2@db/gh", "postgres://gh:***@db/gh"),
            (
                "postgres://gh@db/gh?password=hunter2&sslmode=require",
                "postgres://gh@db/gh?password=***&sslmode=require",
            ),
            (
                "postgres://db/gh?sslpassword=hunter2",
                "postgres://db/gh?sslpassword=***",
            ),
            ("postgres://gh:hun%3Fter2@db/gh", "postgres://gh:***@db/gh"),
            (
                "sqlite://./data/gatehouse.db",
                "sqlite://./data/gatehouse.db",
            ),
        ] {
            let masked = mask_password(raw);
            assert_eq!(masked, shown);
            assert!(!masked.contains("hunter2") && !masked.contains("hun"));
        }
        assert!(!mask_password("postgres://gh:hunter2@[bad").contains("hunter2"));
    }

    fn with_public(url: &str) -> Settings {
        Settings {
            public_url: url.into(),
            ..Settings::for_database("sqlite://x.db")
        }
    }

    #[test]
    fn cookies_are_secure_except_on_loopback_http() {
        assert!(!with_public("http://127.0.0.1:8080").cookies_secure());
        assert!(!with_public("http://localhost:8080").cookies_secure());
        assert!(!with_public("http://[::1]:8080/").cookies_secure());
        assert!(with_public("http://gatehouse.example.com").cookies_secure());
        assert!(with_public("https://127.0.0.1").cookies_secure());
    }

    #[test]
    fn the_data_directory_defaults_to_the_sqlite_files_folder() {
        let dir = |url: &str| Settings::for_database(url).data_dir;
        assert_eq!(dir("sqlite://./data/gatehouse.db"), PathBuf::from("./data"));
        assert_eq!(
            dir("sqlite:///srv/g/g.db?mode=rwc"),
            PathBuf::from("/srv/g")
        );
        assert_eq!(dir("sqlite://g.db"), PathBuf::from("."));
        assert_eq!(dir("postgres://u@h/db"), PathBuf::from("."));
    }

    #[test]
    fn flags_beat_file_beat_defaults() {
        let dir = std::env::temp_dir().join(format!("gh-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("g.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9999\"\ndatabase_url = \"sqlite://file.db\"\nweb_dir = \"/srv/web\"\n",
        )
        .unwrap();
        let args = SettingsArgs {
            config: Some(file.clone()),
            database_url: Some("sqlite://flag.db".into()),
            ..Default::default()
        };
        let s = Settings::load(args).unwrap();
        assert_eq!(s.database_url, "sqlite://flag.db");
        assert_eq!(s.listen, "127.0.0.1:9999");
        assert_eq!(s.public_url, "http://127.0.0.1:9999");
        assert_eq!(s.log, "info");
        assert_eq!(s.web_dir, PathBuf::from("/srv/web"));
        assert!(s.trusted_proxies.is_empty());
        assert_eq!(s.data_dir, PathBuf::from("."));
        std::fs::write(&file, "no_such_setting = 1\n").unwrap();
        let args = SettingsArgs {
            config: Some(file),
            ..Default::default()
        };
        assert!(Settings::load(args).is_err());
    }
}
