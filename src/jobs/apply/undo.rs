//! `undo JOURNAL`: reverse every action a `dupes --apply` journal recorded
//! an intent for, newest first. An intent may lack its `done` line (the run
//! was killed), so each one is judged by where the file actually is, not by
//! what the journal says happened. Reversed intents get an `undone` line,
//! so running `undo` twice is harmless. The files' store records (with
//! their embeddings and copy signatures), saved in the intents, are put
//! back; nothing is re-indexed.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::fsops::{self, exists, file_id};
use super::journal::{self, Entry, Intent, Journal};
use super::{backup_dir, plan};
use crate::error::{Error, Result};
use crate::jobs::FileIssue;
use crate::search::saved;
use crate::store::{ImageId, Store};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UndoItem {
    pub op: String,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// `restored` (the file is back at `path`), `unchanged` (the action had
    /// not happened; nothing to reverse) or `already undone`.
    pub status: String,
}

#[derive(Debug, Serialize)]
pub struct UndoReport {
    pub journal: String,
    pub actions: Vec<UndoItem>,
    /// Files put back at their original path.
    pub restored: usize,
    /// Store records put back (the files need no re-indexing).
    pub records_restored: usize,
    /// Intents that could not be reversed, and why (deletes among them).
    pub skipped: Vec<FileIssue>,
}

/// Reverse the journal at `path` on `store` (the store it was written for).
pub fn undo(store: &Store, path: &Path) -> Result<UndoReport> {
    let entries = journal::read(path)?;
    check_store(store, path, &entries)?;
    let undone: HashSet<u64> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Undone { seq, .. } => Some(*seq),
            _ => None,
        })
        .collect();
    let mut by_path: HashMap<Vec<u8>, ImageId> = store
        .scan_images()?
        .records
        .into_iter()
        .map(|(id, r)| (r.path, id))
        .collect();
    let mut out = Journal::append_to(path)?;
    saved::mark_dirty(store)?;
    let mut report = UndoReport {
        journal: path.display().to_string(),
        actions: Vec::new(),
        restored: 0,
        records_restored: 0,
        skipped: Vec::new(),
    };
    let intents = entries.iter().rev().filter_map(|e| match e {
        Entry::Intent(i) => Some(&**i),
        _ => None,
    });
    for it in intents {
        undo_intent(store, it, &undone, &mut by_path, &mut out, &mut report)?;
    }
    store.flush()?;
    let _ = fs::remove_dir(backup_dir(path));
    Ok(report)
}

/// Reverse one intent (unless an earlier undo did), recording the outcome
/// in the journal and the report.
fn undo_intent(
    store: &Store,
    it: &Intent,
    undone: &HashSet<u64>,
    by_path: &mut HashMap<Vec<u8>, ImageId>,
    out: &mut Journal,
    report: &mut UndoReport,
) -> Result<()> {
    let item = |status: &str| UndoItem {
        op: it.op.clone(),
        path: it.path.clone(),
        target: it.target.clone(),
        status: status.to_string(),
    };
    if undone.contains(&it.seq) {
        report.actions.push(item("already undone"));
        return Ok(());
    }
    match reverse(it) {
        Ok(status) => {
            if restore_record(store, it, by_path)? {
                report.records_restored += 1;
                // Durable before the `undone` line, which a re-run trusts.
                store.flush()?;
            }
            out.write(&Entry::Undone {
                seq: it.seq,
                status: status.to_string(),
            })?;
            if let Some(d) = super::test_delay() {
                std::thread::sleep(d);
            }
            report.restored += usize::from(status == "restored");
            report.actions.push(item(status));
        }
        Err(reason) => report.skipped.push(FileIssue {
            path: it.path.clone(),
            error: reason,
        }),
    }
    Ok(())
}

/// Refuse a journal written for another store (its records would be wrong here).
fn check_store(store: &Store, path: &Path, entries: &[Entry]) -> Result<()> {
    let here = fs::canonicalize(store.dir()).unwrap_or_else(|_| store.dir().to_path_buf());
    match entries.first() {
        Some(Entry::Start { db, .. }) if Path::new(db) == here => Ok(()),
        Some(Entry::Start { db, .. }) => Err(Error::JournalOfOtherStore {
            path: path.to_path_buf(),
            db: db.clone(),
            here: here.display().to_string(),
        }),
        _ => Ok(()),
    }
}

/// Put the file back; the status, or why it cannot be.
fn reverse(it: &Intent) -> std::result::Result<&'static str, String> {
    let p = PathBuf::from(&it.path);
    let target = it.target.as_ref().map(PathBuf::from);
    let r = match (it.op.as_str(), target) {
        ("move" | "trash", Some(t)) => undo_move(it, &p, &t),
        ("hardlink", Some(k)) => undo_hardlink(it, &p, &k),
        ("delete", _) if exists(&p) => Ok("unchanged"),
        ("delete", _) => Err("deleted; a deleted file cannot be restored".to_string()),
        (op, _) => Err(format!("cannot undo `{op}` (no target recorded)")),
    };
    if r.is_ok() {
        if let Some(info) = &it.info {
            let _ = fs::remove_file(info);
        }
    }
    r
}

fn undo_move(it: &Intent, p: &Path, t: &Path) -> std::result::Result<&'static str, String> {
    match (exists(p), exists(t)) {
        (false, true) => {
            fsops::move_no_replace(t, p).map_err(|e| e.to_string())?;
            Ok("restored")
        }
        (true, false) => Ok("unchanged"),
        (true, true) => {
            // Killed between link and unlink (same inode), or during a copy
            // whose original is intact: the new name goes.
            let linked = file_id(p).is_some() && file_id(p) == file_id(t);
            let partial = matches_intent(p, it)
                && fs::metadata(t).map(|m| m.len() <= it.size).unwrap_or(false);
            if linked || partial {
                fs::remove_file(t).map_err(|e| format!("{}: {e}", t.display()))?;
                Ok(if linked { "restored" } else { "unchanged" })
            } else {
                Err(format!(
                    "both {} and {} exist and differ; left as they are",
                    p.display(),
                    t.display()
                ))
            }
        }
        (false, false) => Err(format!(
            "the file is neither at its original path nor at {}",
            t.display()
        )),
    }
}

fn undo_hardlink(
    it: &Intent,
    p: &Path,
    keeper: &Path,
) -> std::result::Result<&'static str, String> {
    if let Some(tmp) = &it.tmp {
        let _ = fs::remove_file(tmp);
    }
    let Some(b) = it.backup.as_ref().map(PathBuf::from) else {
        return Err("no backup recorded".into());
    };
    if !exists(&b) {
        let mut partial = b.as_os_str().to_os_string();
        partial.push(".partial");
        let _ = fs::remove_file(PathBuf::from(partial));
        return if exists(p) {
            Ok("unchanged")
        } else {
            Err(format!("missing, and no backup at {}", b.display()))
        };
    }
    let here = file_id(p);
    // The keeper's inode as journalled: the path may hold another file by
    // now (the keeper was moved, or saved by an atomic replace).
    let keeper_inode = it.keeper_file.or_else(|| file_id(keeper));
    if here.is_none() || here == keeper_inode {
        fsops::replace_from(&b, p).map_err(|e| e.to_string())?;
        return Ok("restored");
    }
    let own_inode = here == file_id(&b) || (it.file.is_some() && here == it.file);
    if own_inode || (it.file.is_none() && matches_intent(p, it)) {
        // Never linked over; the backup goes only if it holds nothing
        // that `p` does not (a second name of p's inode, or equal bytes).
        if here != file_id(&b) && !same_bytes(p, &b) {
            return Err(format!(
                "not linked over, but its bytes differ from the backup; both are kept \
                 (the original's bytes at {})",
                b.display()
            ));
        }
        fs::remove_file(&b).map_err(|e| format!("{}: {e}", b.display()))?;
        return Ok("unchanged");
    }
    Err(format!(
        "changed after it was hard-linked; its original bytes are kept at {}",
        b.display()
    ))
}

fn same_bytes(a: &Path, b: &Path) -> bool {
    matches!((fsops::digest(a), fsops::digest(b)), (Ok(x), Ok(y)) if x == y)
}

fn matches_intent(p: &Path, it: &Intent) -> bool {
    it.decode_record()
        .map(|rec| plan::check_file(p, &rec, false).is_ok())
        .unwrap_or(false)
}

/// Put the intent's record back unless another record now has that path.
fn restore_record(
    store: &Store,
    it: &Intent,
    by_path: &mut HashMap<Vec<u8>, ImageId>,
) -> Result<bool> {
    let bad = |reason: String| Error::Journal {
        path: PathBuf::from(&it.path),
        line: None,
        reason: format!("intent {}: {reason}", it.seq),
    };
    let rec = it.decode_record().map_err(bad)?;
    if by_path.get(&rec.path).is_some_and(|&id| id != it.id) {
        return Ok(false);
    }
    let emb = it.decode_embedding().map_err(bad)?;
    // The signature is derived data `index` can make again: one that
    // cannot be read is left out, never a reason to stop the undo.
    let sig = it.decode_signature().ok().flatten();
    // The journalled id may belong to another image by now (a store
    // rebuilt by `repair`); then the record gets a fresh id.
    let id = match store.get_image(it.id) {
        Ok(Some(other)) if other.path != rec.path => store.next_id()?,
        _ => it.id,
    };
    store.put_image(id, &rec, emb.as_ref())?;
    if let Some(sig) = sig {
        store.put_signature(id, &sig)?;
    }
    by_path.insert(rec.path, id);
    Ok(true)
}
