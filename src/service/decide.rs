//! Review through the resident state: reading and changing the decisions
//! (a change makes every cached `dupes` answer stale, so the cache is
//! emptied; the rest of the snapshot is unaffected), the evidence of group
//! members against a keeper the user picks, and the progress of a
//! re-index the review waits for.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{lock, Resident};
use crate::error::{Error, Result};
use crate::features::signature;
use crate::jobs::decide::{self, DecideRequest, DecisionsReport};
use crate::jobs::dupes::evidence::{self, Evidence};
use crate::store::{ImageId, ImageRecord};

/// One member's evidence against a chosen keeper.
#[derive(Debug, Clone, Serialize)]
pub struct MemberEvidence {
    pub path: String,
    /// `None` for the keeper itself.
    pub evidence: Option<Evidence>,
}

/// How far a running re-index is.
#[derive(Debug, Clone, Serialize)]
pub struct IndexProgress {
    pub running: bool,
    /// Files analysed so far, of `total` to analyse (0 while the roots
    /// are still being walked).
    pub done: u64,
    pub total: u64,
}

impl Resident {
    /// The stored decisions.
    pub fn decisions(&self) -> Result<DecisionsReport> {
        decide::list(&self.store)
    }

    /// Carry out one decision request; the decisions after it.
    pub fn decide(&self, req: &DecideRequest) -> Result<DecisionsReport> {
        // Not while an index or apply runs: they remove records, and so
        // entries of decisions, themselves.
        let _w = self.writer.try_lock().map_err(|_| Error::Busy {
            task: "an index or apply",
        })?;
        let r = decide::run(&self.store, req);
        lock(&self.dupes).clear();
        r
    }

    /// Each of `members` (stored paths) against `keeper`, as a `dupes`
    /// report would give it were `keeper` the group's keeper.
    pub fn evidence(&self, keeper: &Path, members: &[PathBuf]) -> Result<Vec<MemberEvidence>> {
        let snap = self.snapshot();
        let find = |p: &Path| -> Result<(ImageId, &ImageRecord)> {
            snap.by_path(&crate::paths::to_bytes(p))
                .ok_or_else(|| Error::NotInStore {
                    what: format!("path {}", p.display()),
                })
        };
        let fp = signature::fingerprint();
        let (kid, krec) = find(keeper)?;
        let ksig = self.store.current_signature(kid, &fp)?;
        members
            .iter()
            .map(|p| {
                let (id, rec) = find(p)?;
                let evidence = match id == kid {
                    true => None,
                    false => {
                        let sig = self.store.current_signature(id, &fp)?;
                        Some(evidence::compare(
                            (krec, ksig.as_ref()),
                            (rec, sig.as_ref()),
                            None,
                        ))
                    }
                };
                Ok(MemberEvidence {
                    path: crate::paths::display(&rec.path),
                    evidence,
                })
            })
            .collect()
    }

    /// The running re-index's progress.
    pub fn index_progress(&self) -> IndexProgress {
        match lock(&self.indexing).as_ref() {
            None => IndexProgress {
                running: false,
                done: 0,
                total: 0,
            },
            Some(bar) => IndexProgress {
                running: true,
                done: bar.position(),
                total: bar.length().unwrap_or(0),
            },
        }
    }
}
