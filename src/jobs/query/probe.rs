//! What a query ranks by: the features of the query image (the one-shot
//! query and the server both build one).

use crate::features::{Features, Hashes, Histogram};

/// The features a query ranks by (any may be missing; the ranking needs
/// only the one it uses).
#[derive(Debug, Clone, Default)]
pub struct Probe {
    pub hashes: Option<Hashes>,
    pub histogram: Option<Histogram>,
    /// L2-normalised embedding.
    pub embedding: Option<Vec<f32>>,
}

impl From<Features> for Probe {
    fn from(f: Features) -> Self {
        Probe {
            hashes: Some(f.hashes),
            histogram: Some(f.histogram),
            embedding: None,
        }
    }
}
