//! Review decisions the user made about duplicate groups, kept so that
//! the next `dupes` run honours them instead of asking again: a set of
//! images that are *not* duplicates of each other, a chosen keeper, and
//! a set marked reviewed, a file kept in its group (never acted on). The `decisions` tree maps a sled-generated,
//! increasing sequence number (so later decisions sort after earlier
//! ones) to a [`StoredDecision`] in the store's record envelope. Images
//! are named by id, which survives re-indexing; when an image leaves the
//! store it leaves every decision, and a decision left without enough
//! images (a set of one, a keeper of none) is dropped. Version 1 of the
//! envelope (schema 6, without `Keep`) is frozen in
//! `migrations/m007_keep_decisions.rs` and still reads.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::migrations::m007_keep_decisions::DecisionV1;
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
    /// This image stays where it is: never acted on, never its group's
    /// keeper (the user unticked it in its group).
    Keep { id: ImageId },
}

impl Decision {
    /// The images it names.
    pub fn ids(&self) -> Vec<ImageId> {
        match self {
            Decision::NotDuplicate { ids } | Decision::Reviewed { ids } => ids.clone(),
            Decision::Keeper { id } | Decision::Keep { id } => vec![*id],
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
            Decision::Keeper { id } | Decision::Keep { id } => {
                (*id != gone).then_some(self.clone())
            }
        }
    }

    /// Whether this decision, being stored after `d`, replaces it: the
    /// same decision again, or a keeper and a keep of one image (a file
    /// is either its group's keeper or kept beside it, the later says).
    fn replaces(&self, d: &Decision) -> bool {
        match (self, d) {
            (Decision::Keeper { id: a }, Decision::Keep { id: b })
            | (Decision::Keep { id: a }, Decision::Keeper { id: b }) => a == b,
            _ => self == d,
        }
    }
}

/// Versioned envelope of a decision. V1 (schema 6) has no `Keep`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoredDecision {
    V1(DecisionV1),
    V2(Decision),
}

impl From<StoredDecision> for Decision {
    fn from(s: StoredDecision) -> Decision {
        match s {
            StoredDecision::V1(d) => d.into(),
            StoredDecision::V2(d) => d,
        }
    }
}

impl Store {
    fn decisions_tree(&self) -> Result<sled::Tree> {
        self.db.open_tree(DECISIONS).map_err(|e| self.err(e))
    }

    /// Record a decision; returns its sequence number. A keeper or keep
    /// decision replaces any earlier keeper or keep decision for the same
    /// image, and a set decision any earlier one of the same kind over the
    /// same images.
    pub fn add_decision(&self, d: &Decision) -> Result<u64> {
        let d = normalised(d);
        for (seq, old) in self.decisions()? {
            if d.replaces(&old) {
                self.remove_decision(seq)?;
            }
        }
        let seq = self.next_id()?;
        self.decisions_tree()?
            .insert(seq.to_be_bytes(), record::encode(&StoredDecision::V2(d)))
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
            let d = record::decode::<StoredDecision>(&v).map_err(|e| Error::CorruptRecord {
                tree: DECISIONS,
                key: seq.to_string(),
                reason: e.to_string(),
            })?;
            out.push((seq, d.into()));
        }
        Ok(out)
    }

    /// The images a `Keep` decision names.
    pub fn kept_ids(&self) -> Result<std::collections::HashSet<ImageId>> {
        Ok(self
            .decisions()?
            .into_iter()
            .filter_map(|(_, d)| match d {
                Decision::Keep { id } => Some(id),
                _ => None,
            })
            .collect())
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
                    .insert(seq.to_be_bytes(), record::encode(&StoredDecision::V2(rest)))
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
        Decision::Keep { id } => Decision::Keep { id: *id },
    }
}
