//! What a search runs against: the kind of index in use (an exact scan,
//! or the saved HNSW graph's flat file) and the store-backed source of
//! re-rank vectors, shared by the one-shot `query`, the resident server and
//! `dupes`.

use std::sync::Arc;

use crate::search::ann::{AnnSearch, ExactIndex, Vectors};
use crate::search::flatgraph::FlatGraph;
use crate::search::space::Space;
use crate::search::whiten::Whitening;
use crate::store::Store;

/// The index a search runs against.
pub enum Ann {
    Exact(ExactIndex),
    /// The saved graph, mapped and searched in place.
    Flat(FlatGraph),
}

impl Ann {
    pub fn as_search(&self) -> &dyn AnnSearch {
        match self {
            Ann::Exact(e) => e,
            Ann::Flat(f) => f,
        }
    }

    /// Which search runs: "exact" (a scan) or "flat" (the HNSW graph,
    /// searched in its flat file).
    pub fn kind(&self) -> &'static str {
        match self {
            Ann::Exact(_) => "exact",
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
