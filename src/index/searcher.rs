//! What a search runs against: the kind of index in use (exact scan or
//! HNSW graph) and the store-backed source of re-rank vectors, shared by
//! the one-shot `query` and the resident server.

use crate::index::ann::{AnnSearch, ExactIndex, HnswIndex, Vectors};
use crate::index::flatgraph::FlatGraph;
use crate::store::Store;

/// The index a search runs against.
pub enum Ann {
    Exact(ExactIndex),
    Hnsw(HnswIndex),
    /// The saved graph, mapped and searched in place (one-shot queries).
    Flat(FlatGraph),
}

impl Ann {
    pub fn as_search(&self) -> &dyn AnnSearch {
        match self {
            Ann::Exact(e) => e,
            Ann::Hnsw(h) => h,
            Ann::Flat(f) => f,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Ann::Exact(_) => "exact",
            Ann::Hnsw(_) | Ann::Flat(_) => "hnsw",
        }
    }
}

/// Embeddings of one model fetched from the store on demand (re-ranking).
pub struct StoreVectors<'a> {
    pub store: &'a Store,
    pub code: u32,
}

impl Vectors for StoreVectors<'_> {
    fn vector(&self, id: u64) -> Option<Vec<f32>> {
        let e = self.store.get_embedding(id).ok()??;
        (e.fingerprint == self.code).then(|| e.to_f32())
    }
}
