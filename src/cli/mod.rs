//! From parsed arguments to library calls and printed reports: one
//! function per command (in `index`, `query`, `dupes`, `learn`, `apply` and
//! `serve`) builds the library configs, whose `validate()` does the range
//! checks, opens the store, runs the job, prints JSON on stdout (`--json`)
//! or a human summary, and chooses the exit code.

pub mod args;
mod help_check;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde::Serialize;

use args::{Args, Command};
use imgdex::features::FeatureConfig;
use imgdex::store::{Store, StoreOptions};

/// Append a line to the output buffer (printed once, at the end).
macro_rules! out {
    ($buf:expr, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        let _ = writeln!($buf, $($arg)*);
    }};
}

mod apply;
mod common_args;
pub mod decide;
mod dupes;
mod index;
mod learn;
pub mod learn_args;
mod query;
mod serve;
mod shard;
pub mod wording;

pub fn run(args: Args) -> Result<ExitCode> {
    let mut text = String::new();
    let code = run_command(args, &mut text)?;
    emit(&text)?;
    Ok(code)
}

/// Write the report to stdout; a closed pipe (`imgdex dupes | head`) is not an error.
fn emit(text: &str) -> Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|_| stdout.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}

/// The store used when neither `--db` nor `IMGDEX_DB` names one.
const DEFAULT_DB: &str = "imgdex.db";

/// Run one command; its report goes to `text`, notices to stderr.
fn run_command(args: Args, text: &mut String) -> Result<ExitCode> {
    let progress = !args.quiet && std::io::stderr().is_terminal();
    let quiet = args.quiet;
    let db = match (args.db, &args.command) {
        (Some(db), _) => db,
        (None, Command::Undo(a)) => apply::journal_store(&a.journal)?,
        (None, _) => PathBuf::from(DEFAULT_DB),
    };
    let db = db.as_path();
    match args.command {
        Command::Index(a) => index::index(db, a, progress, quiet, text),
        Command::Info(a) => index::info(db, a, text),
        Command::Query(a) => query::query(db, a, text),
        Command::Dupes(a) => dupes::dupes(db, a, progress, quiet, text),
        Command::Decide(a) => decide::decide(db, a, text),
        Command::Serve(a) => serve::command(db, a, quiet),
        Command::Undo(a) => apply::run_undo(db, &a.journal, a.json, text),
        Command::Repair(a) => index::repair(db, a, progress, quiet, text),
        Command::Cluster(a) => learn::cluster(db, a, progress, text),
        Command::Export(a) => learn::export(db, a, quiet, text),
        Command::Classify(a) => learn::classify(db, a, progress, text),
        Command::Inspect(a) => query::inspect(a, text),
        Command::Ingest(a) => shard::ingest(db, a, text),
    }
}

fn open(db: &Path, create: bool) -> Result<Store> {
    let opts = StoreOptions {
        create,
        ..StoreOptions::default()
    };
    open_with(db, &opts)
}

fn open_with(db: &Path, opts: &StoreOptions) -> Result<Store> {
    Store::open(db, opts).with_context(|| format!("cannot open store {}", db.display()))
}

/// Feature settings matching what the store was indexed with, so a query
/// image is analysed the same way.
fn stored_feature_config(store: &Store) -> Result<FeatureConfig> {
    let stored = store.fingerprint("histogram")?;
    Ok(stored
        .as_deref()
        .and_then(FeatureConfig::from_histogram_fingerprint)
        .unwrap_or_default())
}

fn print_json<T: Serialize>(text: &mut String, v: &T) -> Result<()> {
    let s = serde_json::to_string_pretty(v)?;
    out!(text, "{s}");
    Ok(())
}
