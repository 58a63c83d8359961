//! The `coinfer` command-line tool: glue over the coinfer library crates.
//!
//! Exit codes: 0 success, 1 the command was refused or failed (bad model, frame, data, an
//! unreachable edge…; the message says why), 2 the command line itself is wrong (clap's usage
//! errors: an unknown flag, a value that does not parse).

mod args;
mod cmd;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    quiet_on_broken_pipe();
    let cli = args::Cli::parse();
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    // The engine `auto` chose is said even without `-v`.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("{level},coinfer_engine::engine=info"))
    });
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    match cmd::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // A closed stdout (e.g. `| head`) is not an error.
            if err.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {}", message(&err));
            ExitCode::FAILURE
        }
    }
}

/// `coinfer … | head` closes stdout early and the next `println!` panics on the broken pipe.
/// Like ripgrep, such a run ends quietly with status 0. A panic hook, because std has no stable
/// switch for it (`-Zon-broken-pipe` is nightly) and restoring SIGPIPE's default would also
/// let a closed pipe to a child process kill the edge server.
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info.payload_as_str().unwrap_or_default();
        if msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}

/// The error and its causes, each cause once (library errors already quote their source in
/// their own message, so anyhow's `{:#}` would print it twice).
fn message(err: &anyhow::Error) -> String {
    let mut out = err.to_string();
    for cause in err.chain().skip(1) {
        let cause = cause.to_string();
        if !out.contains(&cause) {
            out.push_str(": ");
            out.push_str(&cause);
        }
    }
    out
}
