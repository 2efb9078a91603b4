//! Step 6, `decisions`: adds the `decisions` tree, where review decisions
//! about duplicate groups are kept ("not duplicates", a chosen keeper,
//! "reviewed"; see `src/store/decisions.rs`). Existing trees are untouched.

use super::Step;

pub const STEP: Step = Step {
    version: 6,
    name: "006_decisions",
    description: "add the decisions tree holding review decisions about duplicate groups",
    run,
};

fn run(db: &sled::Db) -> sled::Result<()> {
    db.open_tree("decisions")?;
    Ok(())
}
