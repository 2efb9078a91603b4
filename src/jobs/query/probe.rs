//! What a query ranks by: the features of the query image, and the step
//! that brings its embedding into the search space the graph is in (the
//! one-shot query and the server both take it).

use crate::features::{Features, Hashes, Histogram};
use crate::search::saved;

/// The features a query ranks by (any may be missing; the ranking needs
/// only the one it uses).
#[derive(Debug, Clone, Default)]
pub struct Probe {
    pub hashes: Option<Hashes>,
    pub histogram: Option<Histogram>,
    /// L2-normalised embedding.
    pub embedding: Option<Vec<f32>>,
}

impl Probe {
    /// The probe with its embedding brought into `space`, the search space
    /// the graph and its re-rank vectors are in (one-shot and server alike).
    pub fn in_space(&self, space: &saved::Space) -> Probe {
        Probe {
            embedding: self.embedding.as_ref().map(|v| space.apply(v)),
            ..self.clone()
        }
    }
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
