//! Step 5, `signatures`: adds the `signatures` tree (per image id, the copy
//! signature `dupes` verifies candidate pairs with, `StoredSignature::V1`;
//! see `src/store/signatures.rs`). Existing trees are untouched; images
//! indexed before have no signature until they are analysed again, and
//! `dupes` judges their pairs by the candidate rules alone.

use super::Step;

pub const STEP: Step = Step {
    version: 5,
    name: "005_signatures",
    description: "add the signatures tree for verifying duplicate pairs",
    run,
};

fn run(db: &sled::Db) -> sled::Result<()> {
    db.open_tree("signatures")?;
    Ok(())
}
