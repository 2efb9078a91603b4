//! What a search runs against: the kind of index in use (exact scan or
//! HNSW graph) and the store-backed source of re-rank vectors, shared by
//! the one-shot `query` and the resident server.

use std::sync::Arc;

use crate::index::ann::{AnnSearch, ExactIndex, HnswIndex, Vectors};
use crate::index::flatgraph::FlatGraph;
use crate::index::space::Space;
use crate::index::whiten::Whitening;
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

    /// Which search runs: "exact" (a scan), "hnsw" (hnsw_rs over the loaded
    /// graph) or "flat" (the same graph, searched in the flat file).
    pub fn kind(&self) -> &'static str {
        match self {
            Ann::Exact(_) => "exact",
            Ann::Hnsw(_) => "hnsw",
            Ann::Flat(_) => "flat",
        }
    }
}

/// Embeddings of one model fetched from the store on demand (re-ranking),
/// brought into the search space by `whitening` when there is one.
pub struct StoreVectors<'a> {
    pub store: &'a Store,
    pub code: u32,
    pub whitening: Option<Arc<Whitening>>,
}

impl<'a> StoreVectors<'a> {
    /// The vectors of `space` in `store`.
    pub fn new(store: &'a Store, space: &Space) -> Self {
        StoreVectors {
            store,
            code: space.code(),
            whitening: space.whitening.clone(),
        }
    }
}

impl Vectors for StoreVectors<'_> {
    fn vector(&self, id: u64) -> Option<Vec<f32>> {
        let e = self.store.get_embedding(id).ok()??;
        let v = (e.fingerprint == self.code).then(|| e.to_f32())?;
        Some(match &self.whitening {
            Some(w) => w.apply(&v),
            None => v,
        })
    }
}
