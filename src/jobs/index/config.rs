//! What `index` is asked to do: the roots, the worker count, each stage's
//! settings and whether to embed, checked as a whole by `validate()`.

use std::path::PathBuf;

use crate::decode::DecodeConfig;
use crate::error::{Error, Result};
use crate::features::embedding::EmbedConfig;
use crate::features::FeatureConfig;

/// Everything `index` needs.
#[derive(Debug, Clone)]
pub struct IndexConfig {
    pub roots: Vec<PathBuf>,
    /// Worker threads for decoding and features (0 = one per core).
    pub jobs: usize,
    pub decode: DecodeConfig,
    pub features: FeatureConfig,
    /// Flush the store after this many written images (and at the end).
    pub flush_every: usize,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// CNN embeddings; `None` indexes hashes and histograms only.
    pub embed: Option<EmbedConfig>,
    /// A bar to count the analysed files on instead of drawing one (its
    /// length is set to the number of files to analyse once it is known):
    /// how the server reports progress.
    pub progress_to: Option<indicatif::ProgressBar>,
}

impl IndexConfig {
    pub fn new(roots: Vec<PathBuf>) -> Self {
        IndexConfig {
            roots,
            jobs: 0,
            decode: DecodeConfig::default(),
            features: FeatureConfig::default(),
            flush_every: 256,
            progress: false,
            embed: None,
            progress_to: None,
        }
    }

    pub fn validate(&self) -> Result<()> {
        if let Some(embed) = &self.embed {
            embed.validate()?;
        }
        if self.roots.is_empty() {
            return Err(Error::InvalidArgument("no path to index was given".into()));
        }
        self.features.validate()
    }
}
