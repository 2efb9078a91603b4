//! How a `dupes` run honours what the user decided before (the store's
//! `decisions` tree) and the reference folders it was given: a pair whose
//! two images are in one "not duplicates" set is never accepted, so such a
//! set does not regroup; a chosen keeper (the latest decision, when a group
//! holds several) or else a file under a reference folder is its group's
//! keeper; a file under a reference folder is marked `reference` and is
//! never acted on (see `GroupChoice::from_report` and the apply plan), and
//! so is a file the user kept (marked `kept`), which is ranked last, so
//! it is its group's keeper only when nothing else can be. The
//! grouping code only calls [`Review::allows`] before it accepts a pair
//! (and [`Review::apart`] before it links two images without one) and
//! [`Review::order`] over a component's ranking, so its groups are built
//! around a chosen keeper or reference file; the counts of what the
//! decisions changed end up in [`DecisionEffect`].

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::paths;
use crate::store::{Decision, ImageId, ImageRecord, Store};

/// What the decisions and reference folders changed in one run.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct DecisionEffect {
    /// Decisions stored (of any kind).
    pub stored: usize,
    /// Pairs that would have been duplicates but are in a "not duplicates" set.
    pub pairs_kept_apart: usize,
    /// Groups whose keeper is a chosen one.
    pub keepers_chosen: usize,
    /// Groups whose keeper is a file under a reference folder.
    pub reference_keepers: usize,
    /// Groups marked reviewed.
    pub reviewed: usize,
    /// Members of the groups kept by a decision (never acted on).
    pub members_kept: usize,
    /// Groups that the decisions changed: a chosen keeper or a kept
    /// member, or a pair kept apart among the group's images or between
    /// groups (an upper bound: one kept-apart pair counts once).
    pub groups_changed: usize,
}

/// Why a group's keeper is the one it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeeperBy {
    /// The ranking rules (the most original copy, see `keeper`).
    Rule,
    /// The user chose it (`decide keeper`).
    Decision,
    /// It is under a reference folder.
    Reference,
}

/// The decisions and reference folders, by record index.
#[derive(Debug, Default)]
pub(super) struct Review {
    /// The "not duplicates" sets each record is in.
    apart: HashMap<u32, Vec<u64>>,
    /// Chosen keepers, with their decision's sequence number.
    chosen: HashMap<u32, u64>,
    reviewed: Vec<HashSet<u32>>,
    reference: HashSet<u32>,
    /// Files kept in their groups by a decision.
    kept: HashSet<u32>,
    stored: usize,
    kept_apart: Cell<usize>,
}

impl Review {
    /// The store's decisions and the files under `reference` (canonical
    /// folders), over `records`.
    pub(super) fn load(
        store: &Store,
        reference: &[PathBuf],
        records: &[(ImageId, ImageRecord)],
    ) -> Result<Review> {
        let decisions = store.decisions()?;
        let mut r = Review {
            stored: decisions.len(),
            ..Review::default()
        };
        let needs_index = !decisions.is_empty();
        let index_of: HashMap<ImageId, u32> = if needs_index {
            records
                .iter()
                .enumerate()
                .map(|(i, (id, _))| (*id, i as u32))
                .collect()
        } else {
            HashMap::new()
        };
        let idx = |ids: &[ImageId]| -> Vec<u32> {
            ids.iter()
                .filter_map(|id| index_of.get(id).copied())
                .collect()
        };
        for (seq, d) in decisions {
            match d {
                Decision::NotDuplicate { ids } => {
                    for i in idx(&ids) {
                        r.apart.entry(i).or_default().push(seq);
                    }
                }
                Decision::Keeper { id } => {
                    if let Some(&i) = index_of.get(&id) {
                        r.chosen.insert(i, seq);
                    }
                }
                Decision::Reviewed { ids } => r.reviewed.push(idx(&ids).into_iter().collect()),
                Decision::Keep { id } => r.kept.extend(index_of.get(&id)),
            }
        }
        if !reference.is_empty() {
            for (i, (_, rec)) in records.iter().enumerate() {
                let p = paths::from_bytes(&rec.path);
                if reference.iter().any(|d| p.starts_with(d)) {
                    r.reference.insert(i as u32);
                }
            }
        }
        Ok(r)
    }

    /// Whether accepted pair `(a, b)` may be merged; counts those kept apart.
    pub(super) fn allows(&self, a: u32, b: u32) -> bool {
        let apart = self.apart(a, b);
        if apart {
            self.kept_apart.set(self.kept_apart.get() + 1);
        }
        !apart
    }

    /// Whether `a` and `b` are in one "not duplicates" set (not counted:
    /// for the grouping's own checks, which may ask about a pair again).
    pub(super) fn apart(&self, a: u32, b: u32) -> bool {
        match (self.apart.get(&a), self.apart.get(&b)) {
            (Some(x), Some(y)) => x.iter().any(|s| y.contains(s)),
            _ => false,
        }
    }

    /// `ranked` (a component, best keeper first by the ranking rules) with
    /// chosen keepers first (the latest decision first), then the files
    /// under a reference folder, each kept in ranked order: the groups are
    /// built around them; kept files come last.
    pub(super) fn order(&self, mut ranked: Vec<u32>) -> Vec<u32> {
        if self.chosen.is_empty() && self.reference.is_empty() && self.kept.is_empty() {
            return ranked;
        }
        ranked.sort_by_key(|i| match self.chosen.get(i) {
            Some(&seq) => (0, std::cmp::Reverse(seq)),
            None if self.reference.contains(i) => (1, std::cmp::Reverse(0)),
            None if self.kept.contains(i) => (3, std::cmp::Reverse(0)),
            None => (2, std::cmp::Reverse(0)),
        });
        ranked
    }

    /// Why `keeper` (a group's first member, see [`Review::order`]) is
    /// its group's keeper.
    pub(super) fn keeper_by(&self, keeper: u32) -> KeeperBy {
        if self.chosen.contains_key(&keeper) {
            KeeperBy::Decision
        } else if self.reference.contains(&keeper) {
            KeeperBy::Reference
        } else {
            KeeperBy::Rule
        }
    }

    pub(super) fn is_reference(&self, i: u32) -> bool {
        self.reference.contains(&i)
    }

    /// Whether a decision keeps `i` in its group.
    pub(super) fn is_kept(&self, i: u32) -> bool {
        self.kept.contains(&i)
    }

    /// Whether every image of `group` is in one "reviewed" decision.
    pub(super) fn is_reviewed(&self, group: &[u32]) -> bool {
        self.reviewed
            .iter()
            .any(|set| group.iter().all(|i| set.contains(i)))
    }

    /// The counts, given each reported group's keeper reason, whether it
    /// is reviewed and how many of its members are kept.
    pub(super) fn effect(&self, groups: &[(KeeperBy, bool, usize)]) -> DecisionEffect {
        let count = |k: KeeperBy| groups.iter().filter(|(by, ..)| *by == k).count();
        let pairs = self.kept_apart.get();
        let chosen_or_kept = groups
            .iter()
            .filter(|(by, _, kept)| *by == KeeperBy::Decision || *kept > 0)
            .count();
        DecisionEffect {
            stored: self.stored,
            pairs_kept_apart: pairs,
            keepers_chosen: count(KeeperBy::Decision),
            reference_keepers: count(KeeperBy::Reference),
            reviewed: groups.iter().filter(|(_, r, _)| *r).count(),
            members_kept: groups.iter().map(|(.., k)| k).sum(),
            groups_changed: chosen_or_kept + pairs,
        }
    }
}

/// The reference folders, canonical (so they compare with stored paths);
/// the error names a folder that cannot be resolved.
pub fn canonical_folders(dirs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    dirs.iter()
        .map(|d| {
            let c = std::fs::canonicalize(d).map_err(|e| Error::io(d, e))?;
            if !c.is_dir() {
                return Err(Error::InvalidArgument(format!(
                    "reference folder {} is not a folder",
                    d.display()
                )));
            }
            Ok(c)
        })
        .collect()
}

/// Whether `path` is under one of the (canonical) reference folders.
pub fn under_reference(path: &Path, reference: &[PathBuf]) -> bool {
    reference.iter().any(|d| path.starts_with(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chosen_keepers_then_reference_files_lead_a_ranking() {
        let mut r = Review::default();
        r.chosen.insert(4, 1);
        r.chosen.insert(2, 7);
        r.reference.insert(3);
        r.reference.insert(0);
        r.kept.insert(5);
        // 2 is the latest chosen keeper; the reference files keep their
        // rank; the kept file comes last.
        assert_eq!(r.order(vec![5, 4, 3, 2, 1, 0]), vec![2, 4, 3, 0, 1, 5]);
        assert_eq!(r.keeper_by(2), KeeperBy::Decision);
        assert_eq!(r.keeper_by(3), KeeperBy::Reference);
        assert_eq!(r.keeper_by(5), KeeperBy::Rule);
    }

    #[test]
    fn apart_is_not_counted_and_allows_is() {
        let mut r = Review::default();
        r.apart.insert(0, vec![1]);
        r.apart.insert(1, vec![1, 2]);
        r.apart.insert(2, vec![2]);
        assert!(r.apart(0, 1) && r.apart(1, 2) && !r.apart(0, 2) && !r.apart(0, 3));
        assert_eq!(r.kept_apart.get(), 0);
        assert!(!r.allows(0, 1));
        assert!(r.allows(0, 2));
        assert_eq!(r.effect(&[]).pairs_kept_apart, 1);
    }
}
