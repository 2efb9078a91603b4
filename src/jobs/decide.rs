//! The `decide` job: record, list and clear review decisions about
//! duplicate groups (see `store::decisions`), named by file path. One
//! request type, [`DecideRequest`], is built by the CLI (`imgdex decide`)
//! and by the HTTP API (`POST /api/decisions`) alike, and checked here.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::paths;
use crate::store::{Decision, ImageId, Store};

/// One change to the stored decisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecideRequest {
    /// These images (two or more) are not duplicates of each other.
    NotDuplicate(Vec<PathBuf>),
    /// This image is the keeper of its group.
    Keeper(PathBuf),
    /// The group of these images (two or more) was reviewed.
    Reviewed(Vec<PathBuf>),
    /// Keep these images (one or more) in their groups: never acted on,
    /// never the keeper.
    Keep(Vec<PathBuf>),
    /// Drop the keep decisions of these images (one or more).
    Unkeep(Vec<PathBuf>),
    /// Drop every decision naming one of these images; all when empty.
    Clear(Vec<PathBuf>),
}

impl DecideRequest {
    /// The request `kind` (`not-duplicate`, `keeper`, `reviewed`, `keep`,
    /// `unkeep`, `clear`) names, over `paths`, checked.
    pub fn new(kind: &str, paths: Vec<PathBuf>) -> Result<DecideRequest> {
        let r = match kind {
            "not-duplicate" => DecideRequest::NotDuplicate(paths),
            "reviewed" => DecideRequest::Reviewed(paths),
            "clear" => DecideRequest::Clear(paths),
            "keep" => DecideRequest::Keep(paths),
            "unkeep" => DecideRequest::Unkeep(paths),
            "keeper" => match <[PathBuf; 1]>::try_from(paths) {
                Ok([p]) => DecideRequest::Keeper(p),
                Err(v) => {
                    return Err(Error::InvalidArgument(format!(
                        "a keeper decision names exactly one image, got {}",
                        v.len()
                    )))
                }
            },
            other => {
                return Err(Error::InvalidArgument(format!(
                    "unknown decision `{other}`: expected not-duplicate, keeper, reviewed, keep, unkeep or clear"
                )))
            }
        };
        r.validate()?;
        Ok(r)
    }

    pub fn validate(&self) -> Result<()> {
        if let DecideRequest::NotDuplicate(p) | DecideRequest::Reviewed(p) = self {
            let mut distinct = p.clone();
            distinct.sort();
            distinct.dedup();
            if distinct.len() < 2 {
                return Err(Error::InvalidArgument(format!(
                    "a set decision names two or more different images, got {}",
                    distinct.len()
                )));
            }
        }
        if let DecideRequest::Keep(p) | DecideRequest::Unkeep(p) = self {
            if p.is_empty() {
                return Err(Error::InvalidArgument(
                    "a keep decision names one or more images, got none".into(),
                ));
            }
        }
        Ok(())
    }
}

/// One stored decision, with its images' paths.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DecisionView {
    /// Its sequence number (later decisions have larger ones).
    pub seq: u64,
    /// `not-duplicate`, `keeper`, `reviewed` or `keep`.
    pub kind: &'static str,
    pub paths: Vec<String>,
}

/// The stored decisions after a request.
#[derive(Debug, Clone, Serialize)]
pub struct DecisionsReport {
    /// Decisions added or removed by the request (0 for a listing).
    pub changed: usize,
    pub decisions: Vec<DecisionView>,
}

/// Carry out `req` on the store; the decisions after it.
pub fn run(store: &Store, req: &DecideRequest) -> Result<DecisionsReport> {
    req.validate()?;
    let by_path = path_index(store)?;
    let ids = |ps: &[PathBuf]| -> Result<Vec<ImageId>> {
        ps.iter().map(|p| lookup(&by_path, p)).collect()
    };
    let changed = match req {
        DecideRequest::NotDuplicate(p) => {
            store.add_decision(&Decision::NotDuplicate { ids: ids(p)? })?;
            1
        }
        DecideRequest::Reviewed(p) => {
            store.add_decision(&Decision::Reviewed { ids: ids(p)? })?;
            1
        }
        DecideRequest::Keeper(p) => {
            store.add_decision(&Decision::Keeper {
                id: lookup(&by_path, p)?,
            })?;
            1
        }
        DecideRequest::Keep(p) => {
            // In the order given (the list is oldest first), each once.
            let mut seen = std::collections::HashSet::new();
            let ids: Vec<ImageId> = ids(p)?.into_iter().filter(|i| seen.insert(*i)).collect();
            for &id in &ids {
                store.add_decision(&Decision::Keep { id })?;
            }
            ids.len()
        }
        DecideRequest::Unkeep(p) => unkeep(store, &ids(p)?)?,
        DecideRequest::Clear(p) => clear(store, &ids(p)?)?,
    };
    // Durable at once: a server may be stopped by a signal at any time.
    store.flush()?;
    let mut report = list(store)?;
    report.changed = changed;
    Ok(report)
}

/// Every stored decision, oldest first.
pub fn list(store: &Store) -> Result<DecisionsReport> {
    let decisions = store.decisions()?;
    let names: HashMap<ImageId, String> = if decisions.is_empty() {
        HashMap::new()
    } else {
        store
            .iter_images()
            .map(|r| r.map(|(id, rec)| (id, paths::display(&rec.path))))
            .collect::<Result<_>>()?
    };
    let view = |seq: u64, d: &Decision| DecisionView {
        seq,
        kind: match d {
            Decision::NotDuplicate { .. } => "not-duplicate",
            Decision::Keeper { .. } => "keeper",
            Decision::Reviewed { .. } => "reviewed",
            Decision::Keep { .. } => "keep",
        },
        paths: d
            .ids()
            .iter()
            .map(|id| names.get(id).cloned().unwrap_or_else(|| format!("#{id}")))
            .collect(),
    };
    Ok(DecisionsReport {
        changed: 0,
        decisions: decisions.iter().map(|(s, d)| view(*s, d)).collect(),
    })
}

/// Remove decisions naming any of `ids` (every decision when empty).
fn clear(store: &Store, ids: &[ImageId]) -> Result<usize> {
    let mut n = 0;
    for (seq, d) in store.decisions()? {
        if ids.is_empty() || d.ids().iter().any(|i| ids.contains(i)) {
            store.remove_decision(seq)?;
            n += 1;
        }
    }
    Ok(n)
}

/// Remove the keep decisions of `ids`.
fn unkeep(store: &Store, ids: &[ImageId]) -> Result<usize> {
    let mut n = 0;
    for (seq, d) in store.decisions()? {
        if matches!(d, Decision::Keep { id } if ids.contains(&id)) {
            store.remove_decision(seq)?;
            n += 1;
        }
    }
    Ok(n)
}

fn path_index(store: &Store) -> Result<HashMap<Vec<u8>, ImageId>> {
    store
        .iter_images()
        .map(|r| r.map(|(id, rec)| (rec.path, id)))
        .collect()
}

/// The id of the stored image at `path` (as given, made absolute, or
/// with its symbolic links resolved, as the index stores it).
fn lookup(by_path: &HashMap<Vec<u8>, ImageId>, path: &Path) -> Result<ImageId> {
    let mut tries = vec![path.to_path_buf()];
    if let Ok(abs) = std::path::absolute(path) {
        tries.push(abs);
    }
    if let Ok(c) = std::fs::canonicalize(path) {
        tries.push(c);
    }
    tries
        .iter()
        .find_map(|p| by_path.get(&paths::to_bytes(p)).copied())
        .ok_or_else(|| Error::NotIndexed {
            path: path.to_path_buf(),
        })
}
