//! Review decisions through the resident state: reading them, and
//! changing them (which makes every cached `dupes` answer stale, so the
//! cache is emptied; the rest of the snapshot is unaffected).

use super::{lock, Resident};
use crate::error::{Error, Result};
use crate::jobs::decide::{self, DecideRequest, DecisionsReport};

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
}
