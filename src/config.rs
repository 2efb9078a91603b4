//! Validated settings for every stage. The CLI (or any other caller) builds
//! these; the library never parses command-line arguments itself. Each
//! feature setting also yields a fingerprint string: when a fingerprint
//! changes, the features it covers are recomputed on the next `index`.

use std::path::PathBuf;

use crate::error::{Error, Result};

/// How images are decoded and bounded.
#[derive(Debug, Clone)]
pub struct DecodeConfig {
    /// Refuse images whose header claims more pixels than this (decompression bombs).
    pub max_pixels: u64,
    /// Upper bound on any single allocation a decoder may make, in bytes.
    pub max_alloc: u64,
    /// Refuse files larger than this many bytes before reading them.
    pub max_file_bytes: u64,
    /// Short side of the working image every feature is computed from.
    pub work_short_side: u32,
    /// Cap on the long side of the working image (very elongated images).
    pub work_long_side_max: u32,
    /// Decode JPEGs at a reduced DCT scale (1/2, 1/4, 1/8) when the working
    /// image is much smaller than the original.
    pub scaled_jpeg: bool,
    /// Decode HEIC/AVIF when this build has the `heif` feature; `false`
    /// behaves exactly like a build without it (the files are skipped with
    /// a notice saying how to enable them).
    pub heif: bool,
}

impl Default for DecodeConfig {
    fn default() -> Self {
        DecodeConfig {
            max_pixels: 100_000_000,
            max_alloc: 512 * 1024 * 1024,
            max_file_bytes: 512 * 1024 * 1024,
            work_short_side: 256,
            work_long_side_max: 2048,
            scaled_jpeg: true,
            heif: true,
        }
    }
}

/// Which features to compute and with which parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureConfig {
    /// Bins per colour channel of the RGB histogram.
    pub histogram_bins: u16,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        FeatureConfig { histogram_bins: 32 }
    }
}

impl FeatureConfig {
    pub fn validate(&self) -> Result<()> {
        if !(2..=256).contains(&self.histogram_bins) {
            return Err(Error::InvalidArgument(format!(
                "histogram bins must be between 2 and 256, got {}",
                self.histogram_bins
            )));
        }
        Ok(())
    }

    /// Identifies the hash algorithms and sizes; part of every hash record.
    pub fn hash_fingerprint(&self) -> String {
        crate::features::hash::FINGERPRINT.to_string()
    }

    /// Identifies the histogram layout; part of every histogram record.
    pub fn histogram_fingerprint(&self) -> String {
        format!("rgb-{}-l1norm-v1", self.histogram_bins)
    }
}

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
    pub embed: Option<crate::features::embedding::EmbedConfig>,
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
        }
    }

    pub fn validate(&self) -> Result<()> {
        if self.roots.is_empty() {
            return Err(Error::InvalidArgument("no path to index was given".into()));
        }
        self.features.validate()
    }
}
