//! Step 7, `keep_decisions`: decisions gain a fourth kind, `Keep` (a file
//! the user chose to keep in its duplicate group: never acted on, never
//! its keeper), so the `decisions` tree's values become
//! `StoredDecision::V2`. The V1 layout (three kinds) is frozen here as
//! [`DecisionV1`] and still reads; this step rewrites every V1 value as
//! V2 (re-running it rewrites nothing, a V2 value stays as it is), and the
//! schema version keeps an older imgdex, which cannot read a `Keep`, from
//! opening the store.

use serde::{Deserialize, Serialize};

use super::Step;
use crate::store::record;
use crate::store::{Decision, ImageId, StoredDecision};

pub const STEP: Step = Step {
    version: 7,
    name: "007_keep_decisions",
    description: "decisions may keep a file in its group; rewrite stored decisions as version 2",
    run,
};

/// A decision as schema 6 stored it (`StoredDecision::V1`), frozen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DecisionV1 {
    NotDuplicate { ids: Vec<ImageId> },
    Keeper { id: ImageId },
    Reviewed { ids: Vec<ImageId> },
}

impl From<DecisionV1> for Decision {
    fn from(d: DecisionV1) -> Decision {
        match d {
            DecisionV1::NotDuplicate { ids } => Decision::NotDuplicate { ids },
            DecisionV1::Keeper { id } => Decision::Keeper { id },
            DecisionV1::Reviewed { ids } => Decision::Reviewed { ids },
        }
    }
}

fn run(db: &sled::Db) -> sled::Result<()> {
    let tree = db.open_tree("decisions")?;
    for kv in tree.iter() {
        let (k, v) = kv?;
        // A value that does not decode is left for `decisions()` to report.
        if let Ok(StoredDecision::V1(d)) = record::decode::<StoredDecision>(&v) {
            tree.insert(k, record::encode(&StoredDecision::V2(d.into())))?;
        }
    }
    Ok(())
}
