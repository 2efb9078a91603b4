//! The `export shard` and `ingest` commands: a store's records out as a
//! shard, and shards (from other stores, machines or the Python package)
//! into a store, with the ingest summary printed like `index`'s.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Result};

use super::{open, print_json};
use imgdex::jobs::{ingest, shard};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  imgdex ingest shard-*.parquet                        # from `export shard` or imgdex.analyse
  imgdex ingest part.parquet --map-prefix /mnt/w=/data # a worker's paths as seen here")]
pub struct IngestArgs {
    /// Shard files (Parquet, from `export shard`, `imgdex.analyse` or a cluster).
    #[arg(required = true)]
    pub shards: Vec<PathBuf>,
    /// Rewrite paths starting with FROM to start with TO (repeatable; the
    /// first matching prefix wins), e.g. a worker's mount point to the
    /// serving machine's.
    #[arg(long, value_name = "FROM=TO")]
    pub map_prefix: Vec<String>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

pub(super) fn export(db: &Path, out: &Path, quiet: bool) -> Result<ExitCode> {
    let store = open(db, false)?;
    let report = shard::write_store(&store, out)?;
    if !quiet {
        eprintln!("wrote {} rows to {}", report.rows, out.display());
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn ingest(db: &Path, a: IngestArgs, text: &mut String) -> Result<ExitCode> {
    let mut cfg = ingest::IngestConfig::new(a.shards);
    for m in &a.map_prefix {
        let Some((from, to)) = m.split_once('=') else {
            bail!("--map-prefix takes FROM=TO, got `{m}`");
        };
        cfg.map_prefix.push((from.to_string(), to.to_string()));
    }
    cfg.validate()?;
    let store = open(db, true)?;
    let s = ingest::run(&store, &cfg)?;
    if a.json {
        print_json(text, &s)?;
    } else {
        out!(
            text,
            "ingested {} rows from {} shards: added {}, updated {}, unchanged {}, embedded {}",
            s.rows,
            s.shards,
            s.added,
            s.updated,
            s.unchanged,
            s.embedded
        );
    }
    Ok(ExitCode::SUCCESS)
}
