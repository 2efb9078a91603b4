//! What a `dupes` run is asked to do: which evidence to use, the decision
//! thresholds (with their defaults) and how embedding neighbours are found,
//! with the range checks every caller (the CLI, the HTTP layer) shares.

use crate::error::{Error, Result};
use crate::search::ann::HnswParams;
use crate::search::hamming::HashRule;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DupesBy {
    /// Embeddings fused with hashes when the store has embeddings, else hashes.
    Auto,
    /// Embedding neighbours only (hash evidence still used by the rule).
    Embedding,
    /// Perceptual hashes within a Hamming threshold.
    Hash,
    /// Byte-identical files (equal BLAKE3 digests).
    Exact,
}

/// When embedding evidence makes a pair a near-duplicate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EmbeddingRule {
    /// Cosine distance at or below which a pair is a duplicate on its own.
    pub max_cosine: f32,
    /// A pair within this cosine distance is a duplicate when its pHash
    /// also agrees to within `weak_phash` bits.
    pub weak_cosine: f32,
    pub weak_phash: u32,
    /// Neighbours examined per image.
    pub k: usize,
}

/// Default thresholds, chosen on the development set (see README).
pub const DEFAULT_RULE: HashRule = HashRule {
    max_phash: 12,
    max_dhash: 12,
};

// Cosine distances of the vectors `dupes` judges by: the head features
// (the model's `dupe_output`), not the GeM search embedding. The weak
// radius went from 0.15 to 0.14 when cut-outs became padded (issue 13:
// one mixed-Pokémon group at 0.15; scripts/sweep_dupes.py). `max_cosine`
// went from 0.06 to 0.08 with the int8 model (issue 33): its head vectors
// of copies sit further apart, and at 0.08 both models match or beat the
// float model at 0.06 in every column of scripts/eval_presets.py (README).
pub const DEFAULT_EMBEDDING_RULE: EmbeddingRule = EmbeddingRule {
    max_cosine: 0.08,
    weak_cosine: 0.14,
    weak_phash: 22,
    k: 10,
};

/// How the embedding pass finds each image's nearest neighbours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Neighbours {
    /// Exact below `HnswParams::exact_below` images, else `Graph`.
    Auto,
    /// Exact scan (quadratic).
    Exact,
    /// The HNSW graph's own neighbour lists, re-ranked exactly: no searches.
    Graph,
    /// One HNSW search per image.
    Search,
}

#[derive(Debug, Clone)]
pub struct DupesConfig {
    pub by: DupesBy,
    pub rule: HashRule,
    pub embedding: EmbeddingRule,
    pub ann: HnswParams,
    pub neighbours: Neighbours,
    /// Also report every candidate pair with its evidence.
    pub with_pairs: bool,
    /// When set, a pair is a duplicate only if its colour histograms are also
    /// within this Hellinger distance (0..1). The hashes see luminance only,
    /// so this is what keeps a recoloured copy (a shiny sprite) apart.
    pub max_histogram: Option<f32>,
    /// Verification keeps two colourful images with different colours
    /// apart (a shiny sprite, a recoloured design): colour variants are not
    /// copies. Greyscale, brightness and contrast edits of a photo still
    /// group; two graphics of few colours must differ by a tone edit, and a
    /// grey graphic is not a copy of a colour one (`palette`).
    pub colour_variants_apart: bool,
    /// Reference folders (canonical, see [`super::canonical_folders`]):
    /// files under them win the keeper choice and are never acted on.
    pub reference: Vec<std::path::PathBuf>,
    /// Show progress on stderr: a spinner while candidate pairs are found,
    /// a bar while they are verified (on a big store with many similar
    /// shots that takes minutes).
    pub progress: bool,
}

impl Default for DupesConfig {
    fn default() -> Self {
        DupesConfig {
            by: DupesBy::Auto,
            rule: DEFAULT_RULE,
            embedding: DEFAULT_EMBEDDING_RULE,
            ann: HnswParams::default(),
            neighbours: Neighbours::Auto,
            with_pairs: false,
            max_histogram: None,
            colour_variants_apart: true,
            reference: Vec::new(),
            progress: false,
        }
    }
}

impl DupesConfig {
    /// Range checks on the thresholds. The errors name the setting
    /// (`max_histogram`, `threshold`, ...), not a flag.
    pub fn validate(&self) -> Result<()> {
        let bad =
            |setting: &'static str, reason: String| Err(Error::InvalidSetting { setting, reason });
        if let Some(v) = self.max_histogram.filter(|v| !(0.0..=1.0).contains(v)) {
            return bad(
                "max_histogram",
                format!("must be a Hellinger distance in 0..1, got {v}"),
            );
        }
        let bits = |v: u32| format!("must be between 0 and 64 bits, got {v}");
        if self.rule.max_phash > 64 {
            return bad("threshold", bits(self.rule.max_phash));
        }
        if self.rule.max_dhash > 64 {
            return bad("dhash_threshold", bits(self.rule.max_dhash));
        }
        let e = self.embedding;
        for (name, v) in [("max_cosine", e.max_cosine), ("weak_cosine", e.weak_cosine)] {
            if !(0.0..=2.0).contains(&v) {
                return bad(name, format!("must be a cosine distance in 0..2, got {v}"));
            }
        }
        if e.weak_phash > 64 {
            return bad("weak_phash", bits(e.weak_phash));
        }
        Ok(())
    }
}
