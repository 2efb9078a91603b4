//! Step 3, `results`: adds the `results` tree, where the jobs that learn
//! from the store keep their outcome (the last clustering under key
//! `clusters`, the trained classifier under `classifier`; see
//! `src/store/results.rs`). Existing trees are untouched.

use super::Step;

pub const STEP: Step = Step {
    version: 3,
    name: "003_results",
    description: "add the results tree for saved clusterings and classifiers",
    run,
};

fn run(db: &sled::Db) -> sled::Result<()> {
    db.open_tree("results")?;
    Ok(())
}
