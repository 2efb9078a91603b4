//! Step 1, `initial`: an empty database becomes a v1 store with the `meta`
//! and `images` trees. Image records are `StoredImage::V1` values (see
//! `src/store/record.rs`), keyed by big-endian image id.

use super::Step;

pub const STEP: Step = Step {
    version: 1,
    name: "001_initial",
    description: "create the meta and images trees of a new store",
    run,
};

fn run(db: &sled::Db) -> sled::Result<()> {
    for tree in ["meta", "images"] {
        db.open_tree(tree)?;
    }
    Ok(())
}
