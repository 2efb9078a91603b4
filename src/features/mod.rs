//! Features derived from one decoded working image: perceptual hashes for
//! near-duplicate detection and a colour histogram for colour similarity.
//! Each is a pure function of the working image and its config, so the
//! index job can compute them all from a single decode.

pub mod embedding;
pub mod hash;
pub mod histogram;

use image::RgbImage;

use crate::config::FeatureConfig;

pub use hash::Hashes;
pub use histogram::Histogram;

/// Everything computed from one working image.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    pub hashes: Hashes,
    pub histogram: Histogram,
}

/// Compute every feature of `img`.
pub fn compute(img: &RgbImage, cfg: &FeatureConfig) -> Features {
    Features {
        hashes: hash::compute(img),
        histogram: histogram::compute(img, cfg.histogram_bins),
    }
}
