//! The `imgdex` command-line tool: parses arguments (`cli::args`), turns
//! them into validated library configs and runs the matching job
//! (`cli::run`). Exit codes: 0 success, 1 some files failed, 2 usage or
//! store error.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    init_log();
    let args = cli::args::Args::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("imgdex: error: {}{}", chain_text(&err), flag_hint(&err));
            ExitCode::from(2)
        }
    }
}

/// The library's warnings on stderr as `imgdex: warning: …` (`RUST_LOG`
/// widens or narrows what is shown; by default imgdex's warnings only).
fn init_log() {
    use std::io::Write;
    let env = env_logger::Env::default().default_filter_or("imgdex=warn");
    env_logger::Builder::from_env(env)
        .format(|buf, rec| {
            let level = match rec.level() {
                log::Level::Error => "error",
                log::Level::Warn => "warning",
                _ => "note",
            };
            writeln!(buf, "imgdex: {level}: {}", rec.args())
        })
        .init();
}

/// The error and its causes, joined by ": ", leaving out a cause whose text
/// the message already ends with (an error that prints its own source, such
/// as an I/O error after its path, would otherwise say it twice).
fn chain_text(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        // The library names the setting; the CLI names its flag.
        let text = cause
            .downcast_ref::<imgdex::Error>()
            .and_then(cli::wording::cli_text)
            .unwrap_or_else(|| cause.to_string());
        if out.ends_with(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// The flag that changes the limit an error reports (library messages
/// never name flags; the CLI does).
fn flag_hint(err: &anyhow::Error) -> &'static str {
    let too_big = err.chain().any(|c| {
        matches!(
            c.downcast_ref::<imgdex::Error>(),
            Some(imgdex::Error::TooManyPixels { .. })
        )
    });
    if too_big {
        " (raise the limit with --max-pixels if you trust the file)"
    } else {
        ""
    }
}
