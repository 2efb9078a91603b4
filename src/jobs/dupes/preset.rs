//! Named threshold sets for `dupes --preset`: what counts as a duplicate
//! depends on the collection (a photo folder wants edited copies found, a
//! sprite sheet wants its recoloured variants kept apart), so the common
//! choices get names, each measured on the development sets (README).

use super::{DupesBy, DupesConfig, EmbeddingRule};
use crate::error::Result;
use crate::search::hamming::HashRule;

/// A named set of thresholds for what counts as a duplicate (`dupes
/// --preset`); measured on the development sets (see README).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// Byte-identical files only.
    Exact,
    /// Re-encodes, resizes and small edits only: tight hash and cosine
    /// limits, no weak rule, so different sprites of one Pokémon or two
    /// shots of one scene stay apart.
    Strict,
    /// The default thresholds (also catches crops, flips, borders, captions).
    Default,
    /// Wider: more edited copies found, at some cost in precision.
    Loose,
}

impl Preset {
    pub const NAMES: &'static str = "exact, strict, default, loose";
}

impl std::str::FromStr for Preset {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "exact" => Ok(Preset::Exact),
            "strict" => Ok(Preset::Strict),
            "default" => Ok(Preset::Default),
            "loose" => Ok(Preset::Loose),
            _ => Err(crate::Error::InvalidArgument(format!(
                "unknown dupes preset `{s}` (the presets are: {})",
                Preset::NAMES
            ))),
        }
    }
}

impl DupesConfig {
    /// The configuration a preset names (`Default` is `DupesConfig::default()`).
    pub fn preset(p: Preset) -> DupesConfig {
        let base = DupesConfig::default();
        match p {
            Preset::Exact => DupesConfig {
                by: DupesBy::Exact,
                ..base
            },
            Preset::Strict => DupesConfig {
                rule: STRICT_RULE,
                embedding: STRICT_EMBEDDING_RULE,
                max_histogram: Some(STRICT_MAX_HISTOGRAM),
                ..base
            },
            Preset::Default => base,
            Preset::Loose => DupesConfig {
                rule: LOOSE_RULE,
                embedding: LOOSE_EMBEDDING_RULE,
                ..base
            },
        }
    }
}

/// `strict`: hashes within 2 bits or a near-zero cosine distance, no weak
/// rule (`weak_cosine` 0 adds nothing), and colour histograms within
/// [`STRICT_MAX_HISTOGRAM`]. Chosen on the development sets (README).
pub const STRICT_RULE: HashRule = HashRule {
    max_phash: 2,
    max_dhash: 2,
};
pub const STRICT_MAX_HISTOGRAM: f32 = 0.08;
pub const STRICT_EMBEDDING_RULE: EmbeddingRule = EmbeddingRule {
    max_cosine: 0.005,
    weak_cosine: 0.0,
    weak_phash: 0,
    k: 10,
};
/// `loose`: wider hash, cosine and weak limits.
pub const LOOSE_RULE: HashRule = HashRule {
    max_phash: 14,
    max_dhash: 14,
};
pub const LOOSE_EMBEDDING_RULE: EmbeddingRule = EmbeddingRule {
    max_cosine: 0.10,
    weak_cosine: 0.18,
    weak_phash: 24,
    k: 10,
};
