//! `gatehouse`: parses the command line and hands over to the library.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use gatehouse_server::auth::password::{generate_password, hash_sync};
use gatehouse_server::config::{
    AuditAction, Cli, Command, GrantsAction, KeysAction, Settings, SigningKeyAction, UsersAction,
};
use gatehouse_server::error::ApiError;
use gatehouse_server::operator::{self, UserCommand};
use gatehouse_server::startup::Application;
use gatehouse_server::{bootstrap, db, telemetry};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.settings) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("gatehouse: {e:#}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&settings);
    let result = match cli.command {
        Command::Serve => actix_web::rt::System::new().block_on(serve(settings)),
        Command::Migrate => migrate(&settings),
        Command::Bootstrap {
            subscription,
            username,
            password_stdin,
            if_empty,
        } => run_bootstrap(
            &settings,
            &subscription,
            &username,
            password_stdin,
            if_empty,
        ),
        Command::SigningKey {
            action: SigningKeyAction::Rotate,
        } => rotate_signing_keys(&settings),
        Command::Openapi => std::io::stdout()
            .write_all(gatehouse_server::openapi::document().as_bytes())
            .map_err(Into::into),
        Command::Users { action } => users(&settings, action),
        Command::Keys {
            action: KeysAction::Revoke { id },
        } => revoke_key(&settings, &id),
        Command::Grants {
            action: GrantsAction::Revoke { id },
        } => revoke_grant(&settings, &id),
        Command::Audit {
            action:
                AuditAction::Export {
                    subscription,
                    format,
                    since,
                    until,
                    unattributed,
                },
        } => export_audit(
            &settings,
            subscription.as_deref(),
            unattributed,
            format,
            since,
            until,
        ),
        Command::Config => {
            for (name, value) in settings.effective() {
                println!("{name:<28} {value}");
            }
            Ok(())
        }
        Command::Doctor => doctor(&settings),
        Command::Backup { path } => db::backup::sqlite(&settings.database_url, &path)
            .map(|bytes| println!("wrote {} ({bytes} bytes)", path.display())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gatehouse: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(settings.clone())?;
    let state = app.state();
    let mut conn = state.db.pool().get()?;
    if bootstrap::is_empty(&mut conn)? {
        // The state's settings: their public URL names the real port.
        create_first_admin(&state.settings, &mut conn)?;
    }
    drop(conn);
    tracing::info!(listen = %settings.listen, public_url = %settings.public_url, "serving");
    app.run_until_stopped().await?;
    Ok(())
}

/// Creates subscription *Default* with the admin `admin` and hands their generated
/// password over once, never through the log: printed when standard output is a
/// terminal (someone is watching), else written to an owner-only file in the data
/// directory, whose path alone is logged. A container's or a service manager's standard
/// output is a log, so printing there would put the password into log collectors.
///
/// The file is written before the admin exists: if it cannot be, start-up fails and
/// the database stays empty, instead of holding an admin whose password nobody saw.
/// There is no fallback to printing.
fn create_first_admin(settings: &Settings, conn: &mut db::DbConnection) -> anyhow::Result<()> {
    let (username, url) = ("admin", settings.public_url.as_str());
    let password = generate_password();
    let hash = hash_sync(&password)?;
    let file = if std::io::stdout().is_terminal() {
        None
    } else {
        Some(write_first_admin_file(settings, url, username, &password)?)
    };
    let forget_file = |file: &Option<PathBuf>| {
        if let Some(path) = file {
            let _ = std::fs::remove_file(path);
        }
    };
    match bootstrap::create_subscription(conn, "Default", username, &hash) {
        Ok(_) => match &file {
            None => print_first_admin(url, username, &password),
            Some(path) => tracing::warn!(
                username,
                path = %path.display(),
                "first admin created; their password is in this file, readable by this \
                 user only: sign in, change the password, then delete the file"
            ),
        },
        // Another replica sharing the database got there first.
        Err(e) if e.to_string().contains("already taken") => forget_file(&file),
        Err(e) => {
            forget_file(&file);
            anyhow::bail!("creating the first admin: {e}");
        }
    }
    Ok(())
}

fn write_first_admin_file(
    settings: &Settings,
    url: &str,
    username: &str,
    password: &str,
) -> anyhow::Result<PathBuf> {
    let path = settings.data_dir.join(bootstrap::FIRST_ADMIN_FILE);
    bootstrap::write_first_admin_file(&settings.data_dir, url, username, password).map_err(|e| {
        let lead = format!(
            "standard output is not a terminal, so the first admin's password goes to {}",
            path.display()
        );
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow::anyhow!(
                "{lead}, but that file already exists (left by an earlier first start?): \
                 delete it and start again"
            )
        } else {
            anyhow::anyhow!(
                "{lead}, but it cannot be written ({e}). Set GATEHOUSE_DATA_DIR to a folder \
                 this user can write, or create the first admin with `gatehouse bootstrap \
                 --password-stdin`"
            )
        }
    })
}

/// The terminal case: the one time the first admin's password is shown, on standard
/// output, not in the log.
fn print_first_admin(url: &str, username: &str, password: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "\n  Gatehouse is ready at {url}\n\n  First admin (shown once, change it after signing in):\n    username: {username}\n    password: {password}\n"
    );
    let _ = out.flush();
}

fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let pool = db::connect(&settings.database_url, 1)?;
    let mut conn = pool.get()?;
    let applied = db::migrate(&mut conn)?;
    println!("applied {applied} migration(s)");
    Ok(())
}

fn rotate_signing_keys(settings: &Settings) -> anyhow::Result<()> {
    let pool = db::connect(&settings.database_url, 1)?;
    let mut conn = pool.get()?;
    db::migrate(&mut conn)?;
    // Make sure an Ed25519 key exists before rotating it.
    gatehouse_server::auth::jwt::SigningKeys::load_or_create(&mut conn, settings)?;
    let kids = gatehouse_server::auth::jwt::rotate(&mut conn)?;
    println!("new signing keys: {}", kids.join(", "));
    println!(
        "running servers sign with them within 30 seconds; old tokens verify until they expire"
    );
    Ok(())
}

fn run_bootstrap(
    settings: &Settings,
    subscription: &str,
    username: &str,
    password_stdin: bool,
    if_empty: bool,
) -> anyhow::Result<()> {
    // A generated password is shown once, on standard output: never into a log.
    anyhow::ensure!(
        password_stdin || std::io::stdout().is_terminal(),
        "standard output is not a terminal, so a generated password would land in a log: \
         give the password on standard input with --password-stdin"
    );
    let pool = db::connect(&settings.database_url, 1)?;
    let mut conn = pool.get()?;
    db::migrate(&mut conn)?;
    if if_empty && !bootstrap::is_empty(&mut conn).map_err(|e| anyhow::anyhow!("{e}"))? {
        println!("already set up: the database holds a subscription; nothing changed");
        return Ok(());
    }
    if let Some(existing) = bootstrap::existing(&mut conn, subscription, username)
        .map_err(|e| anyhow::anyhow!("{e}"))?
    {
        // A deployment runs the same bootstrap on every start; the second time there
        // is nothing to do. The password is neither read nor reset, so the secret it
        // came from may be emptied once the admin has signed in.
        println!("already bootstrapped: {username} of {subscription} exists; nothing changed");
        println!("subscription: {}", existing.subscription_id);
        println!("admin user:   {}", existing.user_id);
        return Ok(());
    }
    let (password, generated) = if password_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        gatehouse_types::validate::password(&line)
            .map_err(|m| anyhow::anyhow!("the password {m}"))?;
        (line, false)
    } else {
        (generate_password(), true)
    };
    let hash = hash_sync(&password)?;
    let created = bootstrap::create_subscription(&mut conn, subscription, username, &hash)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("subscription: {}", created.subscription_id);
    println!("admin user:   {}", created.user_id);
    if generated {
        println!("password:     {password}   (shown once)");
    }
    Ok(())
}

/// A connection for an operator's command, on a database whose migrations are applied
/// (the commands do not migrate: `gatehouse migrate` does, when the operator says so).
fn operator_connection(settings: &Settings) -> anyhow::Result<db::PooledConnection> {
    let pool = db::connect(&settings.database_url, 1)?;
    let mut conn = pool.get()?;
    let pending = db::pending_migrations(&mut conn)?;
    anyhow::ensure!(
        pending == 0,
        "the database lacks {pending} migration(s): run `gatehouse migrate` first"
    );
    Ok(conn)
}

fn plain(e: ApiError, what: &str) -> anyhow::Error {
    match e {
        ApiError::NotFound => anyhow::anyhow!("no {what}"),
        other => anyhow::anyhow!("{other}"),
    }
}

fn users(settings: &Settings, action: UsersAction) -> anyhow::Result<()> {
    let mut conn = operator_connection(settings)?;
    let now = gatehouse_server::clock::system_now();
    let (who, subscription, command) = match action {
        UsersAction::List { subscription } => {
            let rows = operator::list_users(&mut conn, subscription.as_deref())?;
            println!(
                "{:<36}  {:<20}  {:<30}  {:<6}  {:<8}  password lock",
                "id", "subscription", "username", "role", "state"
            );
            for (user, sub) in rows {
                let lock = user
                    .password_locked_until
                    .filter(|until| *until > now)
                    .map_or_else(|| "-".to_string(), |until| format!("until {until}Z"));
                println!(
                    "{:<36}  {:<20}  {:<30}  {:<6}  {:<8}  {lock}",
                    user.id,
                    sub.name,
                    user.username,
                    user.role.as_str(),
                    user.state.as_str()
                );
            }
            return Ok(());
        }
        UsersAction::Disable { user, subscription } => (user, subscription, UserCommand::Disable),
        UsersAction::Unlock { user, subscription } => (user, subscription, UserCommand::Unlock),
    };
    let (user, sub) = operator::find_user(&mut conn, &who, subscription.as_deref())?;
    let after =
        operator::change_user(&mut conn, &user, command).map_err(|e| plain(e, "such user"))?;
    println!(
        "{} of {}: {} (was {})",
        after.username,
        sub.name,
        after.state.as_str(),
        user.state.as_str()
    );
    Ok(())
}

fn revoke_key(settings: &Settings, id: &str) -> anyhow::Result<()> {
    let mut conn = operator_connection(settings)?;
    let key = operator::revoke_key(&mut conn, id).map_err(|e| plain(e, "API key with that id"))?;
    println!("deleted API key {} ({:?}, {})", key.id, key.name, key.hint);
    Ok(())
}

fn revoke_grant(settings: &Settings, id: &str) -> anyhow::Result<()> {
    let mut conn = operator_connection(settings)?;
    let was_active =
        operator::revoke_grant(&mut conn, id).map_err(|e| plain(e, "grant with that id"))?;
    if was_active {
        println!("revoked grant {id}: its tokens stop at once");
    } else {
        println!("grant {id} was already revoked; nothing changed");
    }
    Ok(())
}

fn export_audit(
    settings: &Settings,
    subscription: Option<&str>,
    unattributed: bool,
    format: gatehouse_server::config::ExportFormat,
    since: Option<chrono::DateTime<chrono::FixedOffset>>,
    until: Option<chrono::DateTime<chrono::FixedOffset>>,
) -> anyhow::Result<()> {
    let mut conn = operator_connection(settings)?;
    let subscription = match subscription {
        _ if unattributed => None,
        Some(s) => Some(s.to_string()),
        None => Some({
            let all = db::subscriptions::all(&mut conn)?;
            match all.as_slice() {
                [only] => only.id.clone(),
                [] => anyhow::bail!("the database holds no subscription"),
                _ => anyhow::bail!(
                    "the database holds {} subscriptions: name one with --subscription",
                    all.len()
                ),
            }
        }),
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = operator::export_audit(
        &mut conn,
        subscription.as_deref(),
        format,
        since.map(|t| t.naive_utc()),
        until.map(|t| t.naive_utc()),
        &mut out,
    )?;
    drop(out);
    eprintln!("exported {written} event(s)");
    Ok(())
}

/// Each check on a line, `ok` or `FAIL` with what to do; fails if any check does.
fn doctor(settings: &Settings) -> anyhow::Result<()> {
    let mut failed = 0;
    let mut report = |name: &str, outcome: anyhow::Result<String>| match outcome {
        Ok(detail) => println!("ok    {name:<14} {detail}"),
        Err(e) => {
            failed += 1;
            println!("FAIL  {name:<14} {e:#}");
        }
    };
    report(
        "configuration",
        Ok(format!(
            "database {}, public URL {}",
            gatehouse_server::config::mask_password(&settings.database_url),
            settings.public_url
        )),
    );
    // Before connecting, which narrows the files.
    if let Some(permissions) = db::sqlite_permissions(&settings.database_url) {
        report("file modes", permissions);
    }
    let conn = db::connect(&settings.database_url, 1).and_then(|pool| Ok(pool.get()?));
    match conn {
        Err(e) => report("database", Err(e)),
        Ok(mut conn) => {
            report("database", db::server_version(&mut conn));
            report(
                "migrations",
                db::pending_migrations(&mut conn).and_then(|pending| {
                    anyhow::ensure!(
                        pending == 0,
                        "{pending} pending: run `gatehouse migrate` (`serve` also migrates)"
                    );
                    Ok("all applied".to_string())
                }),
            );
            report(
                "signing keys",
                gatehouse_server::auth::jwt::check(&mut conn)
                    .map_err(|e| e.context("`serve` creates them on its first start")),
            );
            report(
                "subscriptions",
                db::subscriptions::count(&mut conn)
                    .map_err(Into::into)
                    .map(|n| match n {
                        0 => "none yet: `serve` creates the first admin".to_string(),
                        n => format!("{n}"),
                    }),
            );
        }
    }
    let index = settings.web_dir.join("index.html");
    report(
        "web app",
        if index.is_file() {
            Ok(format!("built in {}", settings.web_dir.display()))
        } else {
            Err(anyhow::anyhow!(
                "no {}: pages answer 503 until `cargo xtask build-web` writes it (or set \
                 GATEHOUSE_WEB_DIR)",
                index.display()
            ))
        },
    );
    anyhow::ensure!(failed == 0, "{failed} check(s) failed");
    Ok(())
}
