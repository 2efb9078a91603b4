//! Acting on duplicate groups (`dupes --apply`): move, trash, hard-link or
//! delete every member of a group but its keeper, safely. Each file is
//! checked against its store record just before it is touched (a file
//! changed since indexing is skipped with the reason), every action is
//! journalled and fsync'd *before* it happens (`journal`), the filesystem
//! steps never leave a file without a name (`fsops`), and `undo` reverses a
//! journal, also one cut short by a crash. The store is updated so the next
//! `dupes` does not show removed files.

mod fsops;
pub mod journal;
mod plan;
mod reference;
mod request;
mod undo;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::jobs::dupes::DupesReport;
use crate::jobs::FileIssue;
use crate::paths;
use crate::search::saved;
use crate::store::Store;
pub use fsops::utc_timestamp;
use journal::{Entry, Intent, Journal};
use plan::Step;
pub use reference::without_reference;
pub use request::ApplyRequest;
pub use undo::{undo, UndoItem, UndoReport};

/// Test-only hook: milliseconds to sleep after each intent is journalled,
/// so a test can kill a run part way without timing assumptions.
pub const TEST_DELAY_ENV: &str = "IMGDEX_TEST_APPLY_DELAY_MS";

/// What to do with each non-keeper member of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Move into `dir`, mirroring the file's absolute path under it.
    Move { dir: PathBuf },
    /// Move to the freedesktop.org home trash.
    Trash,
    /// Replace with a hard link to the keeper (same bytes, space freed).
    Hardlink,
    /// Remove for good (needs `yes`).
    Delete,
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::Move { .. } => "move",
            Action::Trash => "trash",
            Action::Hardlink => "hardlink",
            Action::Delete => "delete",
        }
    }

    /// Whether the bytes must be re-hashed before acting (irreversible or
    /// content-replacing actions).
    fn checks_digest(&self) -> bool {
        matches!(self, Action::Hardlink | Action::Delete)
    }
}

impl FromStr for Action {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "trash" => Ok(Action::Trash),
            "hardlink" => Ok(Action::Hardlink),
            "delete" => Ok(Action::Delete),
            _ => match s.strip_prefix("move:") {
                Some(dir) if !dir.is_empty() => Ok(Action::Move { dir: dir.into() }),
                _ => Err(Error::InvalidArgument(format!(
                    "unknown action `{s}`: expected move:DIR, trash, hardlink or delete"
                ))),
            },
        }
    }
}

/// Which member of a group is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepPolicy {
    /// The group's keeper as given (the report's suggestion, or the user's pick).
    Keeper,
    /// Latest modification time.
    Newest,
    /// Earliest modification time.
    Oldest,
    /// Largest file.
    Largest,
}

impl FromStr for KeepPolicy {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "keeper" => Ok(KeepPolicy::Keeper),
            "newest" => Ok(KeepPolicy::Newest),
            "oldest" => Ok(KeepPolicy::Oldest),
            "largest" => Ok(KeepPolicy::Largest),
            _ => Err(Error::InvalidArgument(format!(
                "unknown keep policy `{s}`: expected keeper, newest, oldest or largest"
            ))),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ApplyConfig {
    pub action: Action,
    pub keep: KeepPolicy,
    /// List what would be done; touch nothing, write no journal.
    pub dry_run: bool,
    /// Confirmation for `delete`.
    pub yes: bool,
    /// Journal file (default `<db>/journal/<UTC time>-<action>.jsonl`).
    pub journal: Option<PathBuf>,
    /// Reference folders (canonical): nothing under them is ever acted on.
    pub reference: Vec<PathBuf>,
}

impl ApplyConfig {
    pub fn new(action: Action) -> ApplyConfig {
        ApplyConfig {
            action,
            keep: KeepPolicy::Keeper,
            dry_run: false,
            yes: false,
            journal: None,
            reference: Vec::new(),
        }
    }

    pub fn validate(&self) -> Result<()> {
        if self.action == Action::Delete && !self.yes && !self.dry_run {
            return Err(Error::NeedsConfirmation { action: "delete" });
        }
        if let Some(j) = &self.journal {
            if j.exists() {
                return Err(Error::InvalidArgument(format!(
                    "journal {} already exists; give a new file",
                    j.display()
                )));
            }
        }
        Ok(())
    }
}

/// One group as the user wants it handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupChoice {
    /// Path of the file to keep (one of `members`).
    pub keeper: String,
    /// Every path of the group, as in `DupesReport::details`.
    pub members: Vec<String>,
}

impl GroupChoice {
    /// Every group of a report with its suggested keeper; members under
    /// a reference folder are left out (unless one is the keeper).
    pub fn from_report(r: &DupesReport) -> Vec<GroupChoice> {
        let groups = r
            .details
            .iter()
            .map(|d| GroupChoice {
                keeper: d.keeper.clone(),
                members: d.members.iter().map(|m| m.path.clone()).collect(),
            })
            .collect();
        without_reference(groups, r)
    }
}

/// Check groups chosen by a client against the current duplicate groups:
/// each must be a subset of one reported group, with its keeper among its
/// members, so that a request can only act on files this store calls
/// duplicates of each other. The error names the first offending group.
pub fn check_choices(chosen: &[GroupChoice], current: &DupesReport) -> Result<()> {
    let group_of: std::collections::HashMap<&str, usize> = current
        .groups
        .iter()
        .enumerate()
        .flat_map(|(g, members)| members.iter().map(move |m| (m.as_str(), g)))
        .collect();
    for (i, c) in chosen.iter().enumerate() {
        let bad =
            |reason: String| Err(Error::InvalidArgument(format!("group {}: {reason}", i + 1)));
        if !c.members.contains(&c.keeper) {
            return bad(format!("the keeper {} is not one of its members", c.keeper));
        }
        let first = c.members.first().map(String::as_str).unwrap_or_default();
        let Some(&g) = group_of.get(first) else {
            return bad(format!("{first} is in no current duplicate group"));
        };
        if let Some(m) = c
            .members
            .iter()
            .find(|m| group_of.get(m.as_str()) != Some(&g))
        {
            return bad(format!(
                "{m} and {first} are not in one current duplicate group; reload the groups"
            ));
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ActionItem {
    pub op: &'static str,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub keeper: String,
    /// `planned` (dry run), `done` or `failed` (the reason is in `skipped`).
    pub status: &'static str,
    /// The file's size as indexed (what acting on it frees, hard links included).
    pub bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct ApplyReport {
    pub dry_run: bool,
    /// The journal written (none for a dry run or when nothing was to be done).
    pub journal: Option<String>,
    pub actions: Vec<ActionItem>,
    /// Actions carried out.
    pub done: usize,
    /// Bytes the planned (dry run) or done actions free.
    pub bytes: u64,
    /// Files not touched, and why.
    pub skipped: Vec<FileIssue>,
}

/// Carry out `cfg.action` on every non-keeper member of `groups`.
pub fn apply(store: &Store, groups: &[GroupChoice], cfg: &ApplyConfig) -> Result<ApplyReport> {
    cfg.validate()?;
    let (steps, skipped) = plan::plan(store, groups, cfg)?;
    if cfg.dry_run || steps.is_empty() {
        let actions: Vec<ActionItem> = steps.iter().map(|s| s.item("planned")).collect();
        return Ok(ApplyReport {
            dry_run: cfg.dry_run,
            journal: None,
            bytes: actions.iter().map(|a| a.bytes).sum(),
            actions,
            done: 0,
            skipped,
        });
    }
    execute(store, steps, cfg, skipped)
}

fn execute(
    store: &Store,
    steps: Vec<Step>,
    cfg: &ApplyConfig,
    mut skipped: Vec<FileIssue>,
) -> Result<ApplyReport> {
    let jpath = match &cfg.journal {
        Some(p) => std::path::absolute(p).map_err(|e| Error::io(p, e))?,
        None => default_journal(store.dir(), cfg.action.name()),
    };
    let mut journal = Journal::create(&jpath)?;
    journal.write(&start_entry(store, cfg))?;
    saved::mark_dirty(store)?;
    let delay = test_delay();
    let backups = backup_dir(&jpath);
    let mut report = ApplyReport {
        dry_run: false,
        journal: Some(jpath.display().to_string()),
        actions: Vec::new(),
        done: 0,
        bytes: 0,
        skipped: Vec::new(),
    };
    for (seq, step) in (1u64..).zip(steps) {
        // A delete re-reads the bytes right before its unlink (`perform`).
        let digest_now = cfg.action.checks_digest() && cfg.action != Action::Delete;
        if let Err(reason) = step.recheck(digest_now) {
            skipped.push(FileIssue::new(&step.path, reason));
            continue;
        }
        let intent = step.intent(store, seq, &backups)?;
        journal.write(&Entry::Intent(Box::new(intent.clone())))?;
        if let Some(d) = delay {
            std::thread::sleep(d);
        }
        match perform(&step, &intent).and_then(|()| step.update_store(store)) {
            Ok(()) => {
                journal.write(&Entry::Done { seq })?;
                report.actions.push(step.item("done"));
                report.done += 1;
                report.bytes += step.rec.size;
            }
            Err(e) => {
                journal.write(&Entry::Failed {
                    seq,
                    error: e.to_string(),
                })?;
                report.actions.push(step.item("failed"));
                skipped.push(FileIssue::from_error(&step.path, &e));
            }
        }
    }
    store.flush()?;
    let _ = std::fs::remove_dir(&backups); // only if empty
    report.skipped = skipped;
    Ok(report)
}

/// The filesystem side of one step.
fn perform(step: &Step, intent: &Intent) -> Result<()> {
    let target = intent.target.as_ref().map(PathBuf::from);
    match (&step.action, target) {
        (Action::Move { .. }, Some(t)) => fsops::move_no_replace(&step.path, &t),
        (Action::Trash, Some(t)) => {
            let info = PathBuf::from(intent.info.as_deref().unwrap_or_default());
            fsops::write_trashinfo(&info, &step.path)?;
            fsops::move_no_replace(&step.path, &t).inspect_err(|_| {
                let _ = std::fs::remove_file(&info);
            })
        }
        (Action::Hardlink, _) => {
            let backup = PathBuf::from(intent.backup.as_deref().unwrap_or_default());
            let tmp = PathBuf::from(intent.tmp.as_deref().unwrap_or_default());
            fsops::hardlink_over(&step.path, &step.keeper_path, &backup, &tmp)
        }
        (Action::Delete, _) => {
            // After the intent is durable and immediately before the
            // unlink: an edit made since planning is never deleted.
            step.recheck(true).map_err(|reason| Error::NotTouched {
                path: step.path.clone(),
                reason,
            })?;
            std::fs::remove_file(&step.path).map_err(|e| Error::io(&step.path, e))?;
            fsops::sync_parent(&step.path)
        }
        (_, None) => Err(Error::Internal("no target planned")),
    }
}

fn start_entry(store: &Store, cfg: &ApplyConfig) -> Entry {
    let db = std::fs::canonicalize(store.dir()).unwrap_or_else(|_| store.dir().to_path_buf());
    Entry::Start {
        version: journal::VERSION,
        action: cfg.action.name().to_string(),
        dir: match &cfg.action {
            Action::Move { dir } => Some(dir.display().to_string()),
            _ => None,
        },
        db: db.display().to_string(),
        created: fsops::utc_timestamp(false),
    }
}

fn default_journal(db: &Path, action: &str) -> PathBuf {
    let dir = std::fs::canonicalize(db)
        .unwrap_or_else(|_| db.to_path_buf())
        .join("journal");
    let name = format!("{}-{action}.jsonl", fsops::utc_timestamp(true));
    fsops::unique_name(&dir.join(name), &Default::default())
}

/// `<journal>.d/`: where hard-linked duplicates' own inodes are kept for undo.
pub fn backup_dir(journal: &Path) -> PathBuf {
    let mut s = journal.as_os_str().to_os_string();
    s.push(".d");
    PathBuf::from(s)
}

pub(crate) fn test_delay() -> Option<Duration> {
    let ms: u64 = std::env::var(TEST_DELAY_ENV).ok()?.parse().ok()?;
    Some(Duration::from_millis(ms.min(10_000)))
}

/// A path as the journal and reports write it (lossless: plan refuses non-UTF-8).
fn path_str(p: &Path) -> String {
    paths::display(p.as_os_str().as_encoded_bytes())
}
