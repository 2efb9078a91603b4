//! Step 4, `stale`: adds the `stale` tree, where `index` marks an image
//! whose record it kept although recomputing its features failed (see
//! `src/store/stale.rs`). Existing trees are untouched.

use super::Step;

pub const STEP: Step = Step {
    version: 4,
    name: "004_stale",
    description: "add the stale tree marking records kept after a failed recomputation",
    run,
};

fn run(db: &sled::Db) -> sled::Result<()> {
    db.open_tree("stale")?;
    Ok(())
}
