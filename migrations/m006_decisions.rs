//! Step `decisions`: adds the `decisions` tree, where review decisions
//! about duplicate groups are kept ("not duplicates", a chosen keeper,
//! "reviewed"; see `src/store/decisions.rs`). Existing trees are untouched.
//!
//! Planned as step 6, after the lead's step 5 (per-image signatures); on
//! this branch, where step 5 is not there yet, it runs as version 5 so the
//! steps stay consecutive. At merge it becomes version 6, `006_decisions`.

use super::Step;

pub const STEP: Step = Step {
    version: 5,
    name: "005_decisions",
    description: "add the decisions tree holding review decisions about duplicate groups",
    run,
};

fn run(db: &sled::Db) -> sled::Result<()> {
    db.open_tree("decisions")?;
    Ok(())
}
