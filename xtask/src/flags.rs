//! Every command and its flags, in one place (after rust-analyzer's `xtask/src/flags.rs`,
//! by hand rather than with `xflags`): [`parse`] turns the command line into a
//! [`Command`], and [`USAGE`] says what it accepts. `main.rs` prints the usage and exits
//! with 2 for anything else.

/// One variant per command, with its options typed.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// `cargo xtask run [ARGS…]`: every argument goes to `gatehouse serve`, `--help`
    /// too (a leading `--` is dropped).
    Run { args: Vec<String> },
    /// `cargo xtask test [ARGS…]`: every argument goes to the first `cargo test`
    /// (`--workspace --exclude gatehouse-frontend ARGS…`), except a first `-h`/`--help`.
    Test { args: Vec<String> },
    /// `cargo xtask bench [--web] [--scale] [--cluster] [--devices]`.
    Bench(Bench),
    /// `cargo xtask build-web`.
    BuildWeb,
    /// `cargo xtask contract`.
    Contract,
    /// `cargo xtask openapi`.
    Openapi,
    /// `cargo xtask cluster [--check]`.
    Cluster { check: bool },
    /// `cargo xtask prereq [--ci]`: what `cargo xtask test` needs (`--ci`: and what
    /// `.ci/run` needs besides), installed when it can be, else named.
    Prereq { ci: bool },
    /// `cargo xtask help`, `-h`, `--help`, or `--help` after a command.
    Help,
}

/// `cargo xtask bench`'s flags: which part to measure (none: the API, OAuth and device
/// rows and the web app). Given together, the first of `devices`, `cluster`, `scale`,
/// `web` decides.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Bench {
    pub web: bool,
    pub scale: bool,
    pub cluster: bool,
    pub devices: bool,
}

/// What the command line cannot be: the reason, printed above [`USAGE`].
#[derive(Debug, PartialEq, Eq)]
pub struct Invalid(pub String);

pub const USAGE: &str = "\
usage: cargo xtask <command>

  run [ARGS…]        build and start Gatehouse (release build); ARGS go to `gatehouse serve`
                     (`cargo xtask run --help` lists them)
  test [ARGS…]       every test: on SQLite and a throwaway PostgreSQL, the cluster check
                     with nginx, the browser tests; ARGS go to `cargo test`. Checks every
                     prerequisite first, and installs what it can
  bench [--web | --scale | --cluster | --devices]
                     measure the speed targets (needs wrk and curl); --web: only the web
                     app's size and load time; --scale: a million keys; --cluster: one and
                     two replicas behind nginx; --devices: only the device-polling rows
  build-web          build the web app into frontend/dist
  contract           run schemathesis against a live server (needs schemathesis from PyPI)
  openapi            write api-spec/openapi.json from the server's code
  cluster [--check]  PostgreSQL, two replicas and nginx (deploy/nginx.conf) as local
                     processes; --check: check them and stop (part of `test`)
  prereq [--ci]      only the prerequisite check of `test` (--ci: and CI's own tools)
  help               this
";

/// Reads the arguments after `cargo xtask`.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, Invalid> {
    let mut args = args.into_iter();
    let Some(command) = args.next() else {
        return Err(Invalid("no command given".into()));
    };
    let rest: Vec<String> = args.collect();
    let is_help = |a: &String| a == "-h" || a == "--help";
    match command.as_str() {
        "help" | "-h" | "--help" => Ok(Command::Help),
        "run" => {
            let mut args = rest;
            if args.first().is_some_and(|a| a == "--") {
                args.remove(0);
            }
            Ok(Command::Run { args })
        }
        "test" if rest.first().is_some_and(is_help) => Ok(Command::Help),
        "test" => Ok(Command::Test { args: rest }),
        _ if rest.iter().any(is_help) => Ok(Command::Help),
        "bench" => {
            let mut only = Bench::default();
            for arg in &rest {
                match arg.as_str() {
                    "--web" => only.web = true,
                    "--scale" => only.scale = true,
                    "--cluster" => only.cluster = true,
                    "--devices" => only.devices = true,
                    _ => return Err(unknown(&command, arg)),
                }
            }
            Ok(Command::Bench(only))
        }
        "cluster" => {
            let mut check = false;
            for arg in &rest {
                match arg.as_str() {
                    "--check" => check = true,
                    _ => return Err(unknown(&command, arg)),
                }
            }
            Ok(Command::Cluster { check })
        }
        "prereq" => {
            let mut ci = false;
            for arg in &rest {
                match arg.as_str() {
                    "--ci" => ci = true,
                    _ => return Err(unknown(&command, arg)),
                }
            }
            Ok(Command::Prereq { ci })
        }
        "build-web" | "contract" | "openapi" => {
            if let Some(arg) = rest.first() {
                return Err(unknown(&command, arg));
            }
            Ok(match command.as_str() {
                "build-web" => Command::BuildWeb,
                "contract" => Command::Contract,
                _ => Command::Openapi,
            })
        }
        _ => Err(Invalid(format!("unknown command `{command}`"))),
    }
}

fn unknown(command: &str, arg: &str) -> Invalid {
    Invalid(format!("unknown argument `{arg}` for `{command}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(line: &str) -> Result<Command, Invalid> {
        parse(line.split_whitespace().map(String::from))
    }

    fn strings(line: &str) -> Vec<String> {
        line.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn run_and_test_hand_their_arguments_on() {
        assert_eq!(
            parsed("run --listen 0.0.0.0:9000"),
            Ok(Command::Run {
                args: strings("--listen 0.0.0.0:9000")
            })
        );
        assert_eq!(
            parsed("run --help"),
            Ok(Command::Run {
                args: strings("--help")
            })
        );
        assert_eq!(
            parsed("run -- --help"),
            Ok(Command::Run {
                args: strings("--help")
            })
        );
        assert_eq!(
            parsed("test outage:: -- --nocapture"),
            Ok(Command::Test {
                args: strings("outage:: -- --nocapture")
            })
        );
        assert_eq!(parsed("test"), Ok(Command::Test { args: vec![] }));
        assert_eq!(parsed("test --help"), Ok(Command::Help));
    }

    #[test]
    fn flags_are_typed() {
        assert_eq!(
            parsed("bench --web"),
            Ok(Command::Bench(Bench {
                web: true,
                ..Bench::default()
            }))
        );
        assert_eq!(
            parsed("bench --scale --devices"),
            Ok(Command::Bench(Bench {
                scale: true,
                devices: true,
                ..Bench::default()
            }))
        );
        assert_eq!(parsed("cluster"), Ok(Command::Cluster { check: false }));
        assert_eq!(
            parsed("cluster --check"),
            Ok(Command::Cluster { check: true })
        );
        assert_eq!(parsed("prereq --ci"), Ok(Command::Prereq { ci: true }));
        assert_eq!(parsed("build-web"), Ok(Command::BuildWeb));
        assert_eq!(parsed("contract"), Ok(Command::Contract));
        assert_eq!(parsed("openapi"), Ok(Command::Openapi));
        assert_eq!(parsed("cluster --help"), Ok(Command::Help));
        assert_eq!(parsed("help"), Ok(Command::Help));
    }

    #[test]
    fn anything_else_is_refused() {
        for line in [
            "",
            "nonsense",
            "bench --fast",
            "cluster check",
            "build-web --release",
            "openapi x",
            "prereq --all",
        ] {
            assert!(parsed(line).is_err(), "{line:?} was accepted");
        }
    }
}
