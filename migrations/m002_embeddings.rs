//! Step 2, `embeddings`: adds the `embeddings` tree (CNN embedding per image
//! id, `StoredEmbedding::V1`). Image records keep their V1 layout, so a v1
//! store's hashes and histograms stay valid; its images simply have no
//! embedding yet and get one on the next `index`.

use super::Step;

pub const STEP: Step = Step {
    version: 2,
    name: "002_embeddings",
    description: "add the embeddings tree; existing images get embeddings on the next index",
    run,
};

fn run(db: &sled::Db) -> sled::Result<()> {
    db.open_tree("embeddings")?;
    Ok(())
}
