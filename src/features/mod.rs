//! Features derived from one decoded working image: perceptual hashes for
//! near-duplicate detection and a colour histogram for colour similarity.
//! Each is a pure function of the working image and its config, so the
//! index job can compute them all from a single decode.

pub mod embedding;
pub mod hash;
pub mod histogram;

use crate::decode::Decoded;

use crate::config::FeatureConfig;

pub use hash::Hashes;
pub use histogram::Histogram;

/// Everything computed from one working image.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    pub hashes: Hashes,
    pub histogram: Histogram,
}

/// Compute every feature of a decoded image: hashes from its content view
/// (uniform border trimmed), the histogram from the whole working image.
pub fn compute(decoded: &Decoded, cfg: &FeatureConfig) -> Features {
    Features {
        hashes: hash::compute(decoded.content()),
        histogram: histogram::compute(&decoded.image, cfg.histogram_bins),
    }
}
