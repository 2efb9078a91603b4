//! Review decisions the user made about duplicate groups, kept so that
//! the next `dupes` run honours them instead of asking again: a set of
//! images that are *not* duplicates of each other, a chosen keeper, and
//! a set marked reviewed. The `decisions` tree maps a sled-generated,
//! increasing sequence number (so later decisions sort after earlier
//! ones) to a [`StoredDecision`] in the store's record envelope. Images
//! are named by id, which survives re-indexing; when an image leaves the
//! store it leaves every decision, and a decision left without enough
//! images (a set of one, a keeper of none) is dropped.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{key_to_id, record, ImageId, Store};
use crate::error::{Error, Result};

/// Tree name.
pub const DECISIONS: &str = "decisions";

/// What one decision says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Decision {
    /// No two of these images are duplicates of each other.
    NotDuplicate { ids: Vec<ImageId> },
    /// This image is the keeper of whatever group it is in.
    Keeper { id: ImageId },
    /// The group made of these images was reviewed.
    Reviewed { ids: Vec<ImageId> },
}

impl Decision {
    /// The images it names.
    pub fn ids(&self) -> Vec<ImageId> {
        match self {
            Decision::NotDuplicate { ids } | Decision::Reviewed { ids } => ids.clone(),
            Decision::Keeper { id } => vec![*id],
        }
    }

    /// The same decision without `gone`; `None` when too little is left.
    fn without(&self, gone: ImageId) -> Option<Decision> {
        let keep = |ids: &[ImageId]| -> Vec<ImageId> {
            ids.iter().copied().filter(|&i| i != gone).collect()
        };
        match self {
            Decision::NotDuplicate { ids } => {
                let ids = keep(ids);
                (ids.len() >= 2).then_some(Decision::NotDuplicate { ids })
            }
            Decision::Reviewed { ids } => {
                let ids = keep(ids);
                (ids.len() >= 2).then_some(Decision::Reviewed { ids })
            }
            Decision::Keeper { id } => (*id != gone).then_some(self.clone()),
        }
    }
}

/// Versioned envelope of a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoredDecision {
    V1(Decision),
}

impl Store {
    fn decisions_tree(&self) -> Result<sled::Tree> {
        self.db.open_tree(DECISIONS).map_err(|e| self.err(e))
    }

    /// Record a decision; returns its sequence number. A keeper decision
    /// replaces any earlier keeper decision for the same image, and a set
    /// decision any earlier one of the same kind over the same images.
    pub fn add_decision(&self, d: &Decision) -> Result<u64> {
        let d = normalised(d);
        for (seq, old) in self.decisions()? {
            if old == d {
                self.remove_decision(seq)?;
            }
        }
        let seq = self.next_id()?;
        self.decisions_tree()?
            .insert(seq.to_be_bytes(), record::encode(&StoredDecision::V1(d)))
            .map_err(|e| self.err(e))?;
        Ok(seq)
    }

    pub fn remove_decision(&self, seq: u64) -> Result<()> {
        self.decisions_tree()?
            .remove(seq.to_be_bytes())
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Every decision, oldest first.
    pub fn decisions(&self) -> Result<Vec<(u64, Decision)>> {
        let mut out = Vec::new();
        for kv in self.decisions_tree()?.iter() {
            let (k, v) = kv.map_err(|e| self.err(e))?;
            let seq = key_to_id(&k);
            let StoredDecision::V1(d) =
                record::decode::<StoredDecision>(&v).map_err(|e| Error::CorruptRecord {
                    tree: DECISIONS,
                    key: seq.to_string(),
                    reason: e.to_string(),
                })?;
            out.push((seq, d));
        }
        Ok(out)
    }

    /// Take image `id` out of every decision (it left the store).
    pub fn forget_in_decisions(&self, id: ImageId) -> Result<()> {
        let tree = self.decisions_tree()?;
        if tree.is_empty() {
            return Ok(());
        }
        for (seq, d) in self.decisions()? {
            if !d.ids().contains(&id) {
                continue;
            }
            match d.without(id) {
                Some(rest) => tree
                    .insert(seq.to_be_bytes(), record::encode(&StoredDecision::V1(rest)))
                    .map(drop),
                None => tree.remove(seq.to_be_bytes()).map(drop),
            }
            .map_err(|e| self.err(e))?;
        }
        Ok(())
    }
}

/// Ids sorted and deduplicated, so equal decisions compare equal.
fn normalised(d: &Decision) -> Decision {
    let set = |ids: &[ImageId]| -> Vec<ImageId> {
        ids.iter()
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    match d {
        Decision::NotDuplicate { ids } => Decision::NotDuplicate { ids: set(ids) },
        Decision::Reviewed { ids } => Decision::Reviewed { ids: set(ids) },
        Decision::Keeper { id } => Decision::Keeper { id: *id },
    }
}
