//! `spawn_app()`: the real server on port 0 over a fresh database of the chosen
//! backend, with a bootstrapped subscription and admin, and clients that sign in the
//! way a browser does (cookie jar plus the CSRF header).

pub mod oauth;

use std::path::Path;

use diesel::Connection;
use diesel::connection::SimpleConnection;
use diesel::{QueryableByName, RunQueryDsl};
use gatehouse_server::auth::password::hash_sync_at;
use gatehouse_server::bootstrap;
use gatehouse_server::config::PasswordCost;
use gatehouse_server::config::Settings;
use gatehouse_server::db::DbConnection;
use gatehouse_server::startup::Application;
use gatehouse_types::{ApiKeyWithSecret, CreatedUser, Role, SessionInfo};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};

pub const ADMIN_PASSWORD: &str = "admin password for tests";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each named `async fn(Backend)` once per backend, as `name::sqlite` and
/// `name::postgres`, so the output shows that both ran.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[actix_web::test]
                async fn sqlite() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
                #[actix_web::test]
                async fn postgres() {
                    if $crate::helpers::postgres_skipped() {
                        return;
                    }
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            }
        )*
    };
}

/// PostgreSQL tests run unless explicitly switched off; a missing server is a failure,
/// not a silent skip.
pub fn postgres_skipped() -> bool {
    if std::env::var("GATEHOUSE_TEST_POSTGRES_URL").is_ok() {
        return false;
    }
    if std::env::var("GATEHOUSE_TEST_SKIP_POSTGRES").as_deref() == Ok("1") {
        eprintln!("skipping PostgreSQL: GATEHOUSE_TEST_SKIP_POSTGRES=1");
        return true;
    }
    panic!(
        "GATEHOUSE_TEST_POSTGRES_URL is not set: run `cargo xtask test`, which starts a \
         throwaway PostgreSQL, or set GATEHOUSE_TEST_SKIP_POSTGRES=1"
    );
}

/// A fresh, empty database of the backend: a file in a new temp folder, or a new
/// PostgreSQL database in the test cluster. The [`Scratch`] removes it when dropped.
pub fn fresh_database(backend: Backend) -> (String, Scratch) {
    new_database(backend, None)
}

/// A fresh database with the migrations applied, for a test server: on PostgreSQL a
/// copy of [`postgres_template`]; SQLite migrates its new file at start-up quickly.
pub fn migrated_database(backend: Backend) -> (String, Scratch) {
    let template = match backend {
        Backend::Postgres => Some(postgres_template(&postgres_admin_url())),
        Backend::Sqlite => None,
    };
    new_database(backend, template)
}

fn postgres_admin_url() -> String {
    std::env::var("GATEHOUSE_TEST_POSTGRES_URL").expect("GATEHOUSE_TEST_POSTGRES_URL")
}

fn new_database(backend: Backend, template: Option<&str>) -> (String, Scratch) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile_dir::TempDir::new();
            let url = format!("sqlite://{}/gatehouse.db", dir.path().display());
            let scratch = Scratch {
                dir: Some(dir),
                database: None,
            };
            (url, scratch)
        }
        Backend::Postgres => {
            let admin_url = postgres_admin_url();
            let name = format!("gh_{}", uuid::Uuid::new_v4().simple());
            let mut conn =
                diesel::PgConnection::establish(&admin_url).expect("connect to PostgreSQL");
            let from = template.map_or(String::new(), |t| format!(" TEMPLATE {t}"));
            conn.batch_execute(&format!("CREATE DATABASE {name}{from}"))
                .expect("create test database");
            let url = database_url(&admin_url, &name);
            let scratch = Scratch {
                dir: None,
                database: Some((admin_url, name)),
            };
            (url, scratch)
        }
    }
}

fn database_url(admin_url: &str, name: &str) -> String {
    let base = admin_url
        .rsplit_once('/')
        .expect("database URL has a path")
        .0;
    format!("{base}/{name}")
}

/// A migrated, empty database that each PostgreSQL test database is copied from
/// (`CREATE DATABASE … TEMPLATE`), so that the migrations run once per set of them
/// rather than once per test. Named after the migrations' contents, it is kept for the
/// next run on the same cluster; made once per cluster under an advisory lock.
fn postgres_template(admin_url: &str) -> &'static str {
    static TEMPLATE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations/postgres");
        let mut files: Vec<_> = walk(&dir);
        files.sort();
        // FNV-1a over the migrations' paths and contents.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for file in files {
            let relative = file
                .strip_prefix(&dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let bytes = [relative.as_bytes(), &std::fs::read(&file).unwrap()].concat();
            for b in bytes {
                hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
        }
        let name = format!("gh_template_{hash:016x}");
        let mut conn = diesel::PgConnection::establish(admin_url).expect("connect to PostgreSQL");
        conn.batch_execute("SELECT pg_advisory_lock(7262)")
            .expect("lock");
        #[derive(QueryableByName)]
        struct Found {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let found: Found = diesel::sql_query(format!(
            "SELECT count(*) AS n FROM pg_database WHERE datname = '{name}'"
        ))
        .get_result(&mut conn)
        .expect("look for the template");
        if found.n == 0 {
            // Made under another name and renamed once migrated: a run killed halfway
            // leaves no template that looks finished.
            let building = format!("{name}_building");
            conn.batch_execute(&format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"))
                .expect("drop a half-made template");
            conn.batch_execute(&format!("CREATE DATABASE {building}"))
                .expect("create the template");
            let migrated = gatehouse_server::db::connect_one(&database_url(admin_url, &building))
                .and_then(|mut c| gatehouse_server::db::migrate(&mut c));
            if let Err(e) = migrated {
                let _ = conn.batch_execute(&format!("DROP DATABASE {building} WITH (FORCE)"));
                panic!("migrating the template: {e:#}");
            }
            conn.batch_execute(&format!("ALTER DATABASE {building} RENAME TO {name}"))
                .expect("name the template");
        }
        conn.batch_execute("SELECT pg_advisory_unlock(7262)")
            .expect("unlock");
        name
    })
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read the migrations") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// What a test database leaves behind: the SQLite folder, or the PostgreSQL database,
/// dropped (with its connections) when the test is done.
pub struct Scratch {
    dir: Option<tempfile_dir::TempDir>,
    database: Option<(String, String)>,
}

impl Scratch {
    /// The SQLite database's folder.
    pub fn dir(&self) -> Option<&tempfile_dir::TempDir> {
        self.dir.as_ref()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = &self.database
            && let Ok(mut conn) = diesel::PgConnection::establish(admin_url)
        {
            // WITH (FORCE): the test's server may still hold pooled connections.
            let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

/// A tiny temp-folder guard, so tests need no extra crate.
pub mod tempfile_dir {
    use std::path::{Path, PathBuf};

    pub struct TempDir(PathBuf);

    impl TempDir {
        pub fn new() -> TempDir {
            let p = std::env::temp_dir().join(format!("gatehouse-test-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&p).expect("temp dir");
            TempDir(p)
        }
        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub database_url: String,
    pub subscription_id: String,
    pub admin_id: String,
    pub admin_username: String,
    pub state: actix_web::web::Data<gatehouse_server::state::AppState>,
    pub sqlite_path: Option<std::path::PathBuf>,
    /// The port of `metrics_listen`, when the test set it.
    pub metrics_port: Option<u16>,
    _scratch: Option<Scratch>,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let (url, dir) = migrated_database(backend);
    let mut settings = test_settings(&url);
    tweak(&mut settings);
    let app = Application::build(settings).expect("build app");
    let admin = bootstrap_admin(&app);
    running(app, url, Some(dir), admin)
}

/// A server on a database that already holds `like`'s subscription and admin — a
/// restored backup — which `scratch` (if any) cleans up afterwards.
pub async fn spawn_app_on(url: String, scratch: Option<Scratch>, like: &TestApp) -> TestApp {
    let app = Application::build(test_settings(&url)).expect("build app");
    let admin = Admin {
        username: like.admin_username.clone(),
        created: bootstrap::Bootstrapped {
            subscription_id: like.subscription_id.clone(),
            user_id: like.admin_id.clone(),
        },
    };
    let mut served = running(app, url, scratch, admin);
    if served.sqlite_path.is_none() {
        served.sqlite_path = gatehouse_server::db::sqlite_path(&served.database_url)
            .map(std::path::Path::to_path_buf);
    }
    served
}

/// Two replicas on one fresh database, as docker-compose runs them: built (and so
/// migrated) at the same time, each with its own settings, sharing one subscription and
/// admin. The first owns the SQLite folder, if any.
pub async fn spawn_replicas(
    backend: Backend,
    tweak: impl Fn(&mut Settings) + Send + Sync + Copy + 'static,
) -> (TestApp, TestApp) {
    let (url, dir) = migrated_database(backend);
    let build = |url: String| {
        std::thread::spawn(move || {
            let mut settings = test_settings(&url);
            tweak(&mut settings);
            Application::build(settings)
        })
    };
    let (t1, t2) = (build(url.clone()), build(url.clone()));
    let one = t1.join().expect("replica one").expect("build replica one");
    let two = t2.join().expect("replica two").expect("build replica two");
    let admin = bootstrap_admin(&one);
    let first = running(one, url.clone(), Some(dir), admin.clone());
    let mut second = running(two, url, None, admin);
    second.sqlite_path = first.sqlite_path.clone();
    (first, second)
}

/// A test server's settings: the defaults for `url`, with cheap password hashing (the
/// suite signs in thousands of times; `sessions::sessions_are_stored_hashed` and the
/// password module's own tests hold the real cost).
pub fn test_settings(url: &str) -> Settings {
    Settings {
        password_cost: PasswordCost::Cheap,
        ..Settings::for_database(url)
    }
}

/// The bootstrapped subscription and its admin.
#[derive(Clone)]
struct Admin {
    username: String,
    created: bootstrap::Bootstrapped,
}

fn bootstrap_admin(app: &Application) -> Admin {
    let username = format!(
        "admin-{}@example.com",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let mut conn = app.state().db.pool().get().expect("db connection");
    let hash = hash_sync_at(ADMIN_PASSWORD, app.state().settings.password_cost).expect("hash");
    let created =
        bootstrap::create_subscription(&mut conn, "Acme", &username, &hash).expect("bootstrap");
    Admin { username, created }
}

fn running(app: Application, url: String, scratch: Option<Scratch>, admin: Admin) -> TestApp {
    let address = format!("http://127.0.0.1:{}", app.port());
    let metrics_port = app.metrics_port();
    let state = app.state();
    actix_web::rt::spawn(app.run_until_stopped());
    TestApp {
        address,
        database_url: url,
        subscription_id: admin.created.subscription_id,
        admin_id: admin.created.user_id,
        admin_username: admin.username,
        state,
        sqlite_path: scratch
            .as_ref()
            .and_then(Scratch::dir)
            .map(|d| d.path().join("gatehouse.db")),
        metrics_port,
        _scratch: scratch,
    }
}

/// A user created by [`TestApp::user`], signed in.
pub struct NewUser {
    pub client: Client,
    pub id: String,
    pub username: String,
}

/// An API key created by [`TestApp::api_key`]: its one-time secret and its id.
pub struct IssuedKey {
    pub secret: String,
    pub id: String,
}

/// A subscription created by [`TestApp::second_subscription`], with its admin signed in.
pub struct OtherSubscription {
    pub admin: Client,
    pub id: String,
    pub username: String,
}

/// A browser-like client: a cookie jar, and the CSRF token of its session once signed in.
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub csrf: Option<String>,
    /// The raw session cookie value, to replay it as an attacker would.
    pub session_token: Option<String>,
}

pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        // Shorter than the server's keep-alive (5 s): a connection left idle while a
        // test writes to the database directly is dropped here, never reused just as
        // the server closes it.
        .pool_idle_timeout(std::time::Duration::from_secs(2))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// A client that is not signed in.
    pub fn anonymous(&self) -> Client {
        Client::anonymous_at(&self.address)
    }

    /// A client that is not signed in and connects from another loopback address
    /// (`127.0.0.2`, …): a different caller as far as the server can tell.
    pub fn anonymous_from(&self, local: &str) -> Client {
        Client {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .local_address(local.parse::<std::net::IpAddr>().expect("an IP address"))
                .build()
                .expect("client"),
            base: self.address.clone(),
            csrf: None,
            session_token: None,
        }
    }

    pub async fn sign_in(&self, username: &str, password: &str) -> Client {
        Client::sign_in_at(&self.address, username, password).await
    }

    pub async fn admin(&self) -> Client {
        self.sign_in(&self.admin_username, ADMIN_PASSWORD).await
    }

    /// Creates a user with the role through the API and returns them signed in.
    pub async fn user(&self, admin: &Client, role: Role) -> NewUser {
        let username = format!(
            "{}-{}@example.com",
            role.as_str(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let password = "a password of some length";
        let res = admin
            .post(
                "/api/v1/users",
                &json!({"username": username, "role": role, "password": password}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let created: CreatedUser = res.json().await.expect("created user");
        let client = self.sign_in(&username, password).await;
        NewUser {
            client,
            id: created.user.id,
            username,
        }
    }

    /// A client that authenticates with an API key in `Authorization: Bearer`.
    pub fn with_key(&self, secret: &str) -> Client {
        self.with_header("Authorization", &format!("Bearer {secret}"))
    }

    /// A client that sends one fixed header with every request, and no cookies.
    pub fn with_header(&self, name: &str, value: &str) -> Client {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            reqwest::header::HeaderValue::from_str(value).unwrap(),
        );
        Client {
            http: reqwest::Client::builder()
                .default_headers(headers)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: self.address.clone(),
            csrf: None,
            session_token: None,
        }
    }

    /// Creates an API key through the session and returns its secret and id.
    pub async fn api_key(&self, owner: &Client, permission: &str) -> IssuedKey {
        let res = owner
            .post(
                "/api/v1/api-keys",
                &json!({"name": format!("{permission} key"), "permission": permission}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let created: ApiKeyWithSecret = res.json().await.expect("a created key");
        IssuedKey {
            secret: created.secret,
            id: created.key.id,
        }
    }

    /// Runs diesel work against the server's database, for tests that must move time
    /// forward (lockout expiry, idle sessions) or inspect what is stored.
    pub fn with_db<T>(&self, f: impl FnOnce(&mut DbConnection) -> T) -> T {
        let mut conn = self.state.db.pool().get().expect("db connection");
        f(&mut conn)
    }

    /// Another subscription with its own admin, on the same server.
    pub async fn second_subscription(&self) -> OtherSubscription {
        let username = format!(
            "other-{}@example.org",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let created = self.with_db(|conn| {
            let hash =
                hash_sync_at(ADMIN_PASSWORD, self.state.settings.password_cost).expect("hash");
            bootstrap::create_subscription(conn, "Globex", &username, &hash).expect("bootstrap")
        });
        OtherSubscription {
            admin: self.sign_in(&username, ADMIN_PASSWORD).await,
            id: created.subscription_id,
            username,
        }
    }
}

impl Client {
    /// A client of the server at `base` that is not signed in.
    pub fn anonymous_at(base: &str) -> Client {
        Client {
            http: http_client(),
            base: base.to_string(),
            csrf: None,
            session_token: None,
        }
    }

    /// Signs in at the server at `base`; the client keeps the session and its CSRF token.
    pub async fn sign_in_at(base: &str, username: &str, password: &str) -> Client {
        let mut c = Client::anonymous_at(base);
        let res = c
            .post(
                "/api/v1/session",
                &json!({"username": username, "password": password}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK, "sign-in of {username} failed");
        c.session_token = res
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .and_then(|v| v.strip_prefix("gatehouse_session="))
            .map(str::to_string);
        let info: SessionInfo = res.json().await.expect("session info");
        c.csrf = info.csrf_token;
        c
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let mut rb = self
            .http
            .request(method.clone(), format!("{}{}", self.base, path));
        if let (false, Some(csrf)) = (method == Method::GET || method == Method::HEAD, &self.csrf) {
            rb = rb.header("X-CSRF-Token", csrf);
        }
        rb
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path)
            .send()
            .await
            .expect("request")
    }

    /// One sign-in attempt (`POST /api/v1/session`), whatever its outcome.
    pub async fn try_sign_in(&self, username: &str, password: &str) -> Response {
        self.post(
            "/api/v1/session",
            &serde_json::json!({"username": username, "password": password}),
        )
        .await
    }

    /// `GET` a JSON document.
    pub async fn get_json(&self, path: &str) -> Value {
        self.get(path).await.json().await.expect("a JSON body")
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.request(Method::POST, path)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Response {
        self.request(Method::PATCH, path)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn put(&self, path: &str, body: &Value) -> Response {
        self.request(Method::PUT, path)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.request(Method::DELETE, path)
            .send()
            .await
            .expect("request")
    }
}

/// Reads an error body and returns its code, checking the shape of docs/PRODUCT.md §7.
pub async fn error_code(res: Response) -> String {
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        ct.starts_with("application/json"),
        "error content type was {ct}"
    );
    let body: Value = res.json().await.expect("json error body");
    let code = body["error"]["code"]
        .as_str()
        .expect("error.code")
        .to_string();
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "error.message: {body}"
    );
    code
}

/// Everything the database holds, as text: every row of every table (PostgreSQL, via
/// `row_to_json`), or the raw bytes of the SQLite files, WAL included.
pub fn database_dump(app: &TestApp) -> String {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Line {
        #[diesel(sql_type = diesel::sql_types::Text)]
        line: String,
    }
    app.with_db(|conn| match conn {
        DbConnection::Sqlite(_) => {
            let path = app.sqlite_path.as_ref().expect("sqlite path");
            let mut text = String::new();
            for suffix in ["", "-wal"] {
                let file = format!("{}{suffix}", path.display());
                if let Ok(bytes) = std::fs::read(&file) {
                    text.push_str(&String::from_utf8_lossy(&bytes));
                }
            }
            text
        }
        DbConnection::Postgresql(pg) => {
            let tables: Vec<Line> = diesel::sql_query(
                "SELECT tablename AS line FROM pg_tables WHERE schemaname = 'public'",
            )
            .load(pg)
            .unwrap();
            let mut text = String::new();
            for t in tables {
                let rows: Vec<Line> = diesel::sql_query(format!(
                    "SELECT row_to_json(t)::text AS line FROM \"{}\" t",
                    t.line
                ))
                .load(pg)
                .unwrap();
                for r in rows {
                    text.push_str(&r.line);
                    text.push('\n');
                }
            }
            text
        }
    })
}

/// A setup call's answer, asserted to be a success: a test must not go on from a step
/// that silently failed.
pub fn succeeded(res: Response) -> Response {
    assert!(
        res.status().is_success(),
        "{} answered {}",
        res.url(),
        res.status()
    );
    res
}
