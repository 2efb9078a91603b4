//! `dupes --apply ...` and `undo JOURNAL`: the flags, their validation into
//! an `ApplyConfig`, and the printed reports. Exit codes: 0 all done, 1 some
//! files skipped, 2 refused (delete without --yes) or a usage error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};

use imgdex::jobs::apply::{self, Action, ApplyConfig, ApplyRequest, GroupChoice, KeepPolicy};
use imgdex::jobs::dupes::DupesReport;
use imgdex::store::Store;

#[derive(Debug, Clone, clap::Args)]
pub struct ApplyArgs {
    /// Act on every group's members but its keeper: move:DIR (mirroring each
    /// path under DIR), trash (freedesktop trash), hardlink (replace by a hard
    /// link to the keeper) or delete (needs --yes). Journalled; see `undo`.
    #[arg(long, value_name = "ACTION", value_parser = parse_action)]
    pub apply: Option<Action>,
    /// With --apply: print exactly what would be done and touch nothing.
    #[arg(long, requires = "apply")]
    pub dry_run: bool,
    /// With --apply: which file of a group to keep: keeper (the suggested
    /// one), newest, oldest (modification time) or largest.
    #[arg(long, value_name = "POLICY", value_parser = parse_keep, default_value = "keeper", requires = "apply")]
    pub keep: KeepPolicy,
    /// Confirm `--apply delete`.
    #[arg(long, requires = "apply")]
    pub yes: bool,
    /// Journal file [default: <db>/journal/<UTC time>-<action>.jsonl].
    #[arg(long, requires = "apply")]
    pub journal: Option<PathBuf>,
}

fn parse_action(s: &str) -> Result<Action, imgdex::Error> {
    s.parse()
}

fn parse_keep(s: &str) -> Result<KeepPolicy, imgdex::Error> {
    s.parse()
}

/// The validated config, when `--apply` was given: the flags as the
/// library's request (as the HTTP API's body is), checked there.
pub fn config(a: &ApplyArgs) -> Result<Option<ApplyConfig>> {
    let Some(action) = a.apply.clone() else {
        return Ok(None);
    };
    let req = ApplyRequest {
        keep: Some(a.keep),
        dry_run: a.dry_run,
        yes: a.yes,
        journal: a.journal.clone(),
        ..ApplyRequest::new(action)
    };
    Ok(Some(req.config()?))
}

/// Apply `cfg` to the groups of `report` and print what happened.
pub fn run_apply(
    store: &Store,
    report: &DupesReport,
    cfg: &ApplyConfig,
    json: bool,
    text: &mut String,
) -> Result<ExitCode> {
    let groups = GroupChoice::from_report(report);
    let r = apply::apply(store, &groups, cfg)?;
    if json {
        super::print_json(text, &r)?;
    } else {
        let verb = if r.dry_run { "would " } else { "" };
        for a in &r.actions {
            let to = a
                .target
                .as_deref()
                .map(|t| format!(" -> {t}"))
                .unwrap_or_default();
            let failed = if a.status == "failed" {
                "  [failed]"
            } else {
                ""
            };
            out!(text, "{verb}{} {}{to}{failed}", a.op, a.path);
        }
        for s in &r.skipped {
            out!(text, "skipped {}: {}", s.path, s.error);
        }
        match r.dry_run {
            true => out!(
                text,
                "{} actions planned (dry run), {} skipped",
                r.actions.len(),
                r.skipped.len()
            ),
            false => out!(
                text,
                "{} of {} actions done, {} skipped",
                r.done,
                r.actions.len(),
                r.skipped.len()
            ),
        }
        out!(
            text,
            "{} {} ({} bytes)",
            if r.dry_run { "would free" } else { "freed" },
            human_bytes(r.bytes),
            r.bytes
        );
        if let Some(j) = &r.journal {
            out!(text, "journal: {j} (imgdex undo {j})");
        }
    }
    Ok(exit(r.skipped.is_empty()))
}

/// The store `undo JOURNAL` opens when none is given: the one the journal
/// was written for (so the printed `imgdex undo JOURNAL` works from any
/// folder), else the default.
pub fn journal_store(journal: &Path) -> Result<PathBuf> {
    let db = imgdex::jobs::apply::journal::store_of(journal)
        .with_context(|| format!("cannot read journal {}", journal.display()))?;
    Ok(db.unwrap_or_else(|| super::DEFAULT_DB.into()))
}

/// `undo JOURNAL`.
pub fn run_undo(db: &Path, journal: &Path, json: bool, text: &mut String) -> Result<ExitCode> {
    let store = super::open(db, false)?;
    let r = apply::undo(&store, journal)?;
    if json {
        super::print_json(text, &r)?;
    } else {
        for a in &r.actions {
            let from = a
                .target
                .as_deref()
                .map(|t| format!(" (from {t})"))
                .unwrap_or_default();
            out!(text, "{} {} {}{from}", a.status, a.op, a.path);
        }
        for s in &r.skipped {
            out!(text, "not undone {}: {}", s.path, s.error);
        }
        out!(
            text,
            "{} files restored, {} store records put back, {} not undone",
            r.restored,
            r.records_restored,
            r.skipped.len()
        );
    }
    Ok(exit(r.skipped.is_empty()))
}

/// `bytes` in binary units, one decimal (`1.5 MiB`).
pub fn human_bytes(bytes: u64) -> String {
    let units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let (mut v, mut u) = (bytes as f64, 0);
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

fn exit(clean: bool) -> ExitCode {
    if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
