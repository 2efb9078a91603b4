//! What every similarity search runs through: a [`Searcher`] owns the
//! search space (the model's embeddings, whitened by the store's transform),
//! the index (an exact scan, or the saved HNSW graph's flat file, which
//! projects queries itself) and the source of the vectors a shortlist is
//! re-ranked with. The one-shot `query`, the resident server and `dupes`
//! all get one from `search::saved` and differ only in that source: store
//! records, the mapped re-rank file, or vectors already in memory.
//!
//! Removed (hidden) graph points follow one rule: the flat graph still
//! routes through them and drops them from its answer; the exact scan
//! holds live vectors only.

use std::sync::Arc;

use crate::search::ann::{AnnSearch, ExactIndex, MemoryVectors, Neighbour, Vectors};
use crate::search::flatgraph::FlatGraph;
use crate::search::rerank::RerankFile;
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
    fn as_search(&self) -> &dyn AnnSearch {
        match self {
            Ann::Exact(e) => e,
            Ann::Flat(f) => f,
        }
    }
}

/// Where a graph shortlist's vectors are read for re-ranking.
pub enum Rerank {
    /// Store records, brought into the space one by one (a one-shot query
    /// reads about 80).
    Store,
    /// Every live vector of the space, in memory.
    Memory(MemoryVectors),
    /// The generation's mapped re-rank file (the server).
    File(RerankFile),
}

/// A search space, its index and its re-rank vectors.
pub struct Searcher {
    space: Space,
    ann: Ann,
    rerank: Rerank,
}

impl Searcher {
    /// An exact scan over `live`, the space's vectors.
    pub fn exact(space: Space, live: MemoryVectors) -> Searcher {
        Searcher {
            space,
            ann: Ann::Exact(ExactIndex::new(live)),
            rerank: Rerank::Store,
        }
    }

    /// The flat graph, re-ranking from `rerank`.
    pub fn flat(space: Space, graph: FlatGraph, rerank: Rerank) -> Searcher {
        Searcher {
            space,
            ann: Ann::Flat(graph),
            rerank,
        }
    }

    /// The same search, re-ranking from `rerank` instead.
    pub fn with_rerank(self, rerank: Rerank) -> Searcher {
        Searcher { rerank, ..self }
    }

    /// Which search runs: "exact" (a scan) or "flat" (the HNSW graph,
    /// searched in its flat file).
    pub fn kind(&self) -> &'static str {
        match self.ann {
            Ann::Exact(_) => "exact",
            Ann::Flat(_) => "flat",
        }
    }

    /// Where the re-rank vectors come from: "store", "memory" or "file"
    /// ("memory" for an exact scan).
    pub fn rerank_source(&self) -> &'static str {
        match (&self.ann, &self.rerank) {
            (Ann::Exact(_), _) | (_, Rerank::Memory(_)) => "memory",
            (_, Rerank::Store) => "store",
            (_, Rerank::File(_)) => "file",
        }
    }

    /// Number of searchable (live) vectors.
    pub fn len(&self) -> usize {
        self.ann.as_search().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn space(&self) -> &Space {
        &self.space
    }

    /// Every live vector of the space, when the searcher holds them.
    pub fn live(&self) -> Option<&MemoryVectors> {
        match (&self.ann, &self.rerank) {
            (Ann::Exact(e), _) => Some(e.vectors()),
            (_, Rerank::Memory(v)) => Some(v),
            _ => None,
        }
    }

    /// Change the graph's search-time parameters (no effect on a scan).
    pub fn set_search_params(&mut self, ef_search: usize, rerank: usize) {
        if let Ann::Flat(g) = &mut self.ann {
            g.set_search_params(ef_search, rerank);
        }
    }

    /// The `k` nearest live vectors to the raw (unwhitened) embedding `q`.
    pub fn search(&self, store: &Store, q: &[f32], k: usize) -> Vec<Neighbour> {
        self.search_in_space(store, &self.space.apply(q), k)
    }

    /// The `k` nearest live vectors to `q`, which is already in the space.
    pub fn search_in_space(&self, store: &Store, q: &[f32], k: usize) -> Vec<Neighbour> {
        self.with_vectors(store, |ann, v| ann.search(q, k, v))
    }

    /// The `k` nearest live vectors to each of `queries`, which are already
    /// in the space (e.g. taken from [`Searcher::live`]), in parallel.
    pub fn search_many_in_space(
        &self,
        store: &Store,
        queries: &[&[f32]],
        k: usize,
    ) -> Vec<Vec<Neighbour>> {
        self.with_vectors(store, |ann, v| ann.search_many(queries, k, v))
    }

    /// Every live vector's `k` nearest (itself among them), by id, when
    /// the searcher holds the live vectors: what `dupes` searches when it
    /// does not read the graph's own lists.
    pub fn neighbours_of_live(
        &self,
        store: &Store,
        k: usize,
    ) -> Option<Vec<(u64, Vec<Neighbour>)>> {
        let live = self.live()?;
        let (ids, queries): (Vec<u64>, Vec<&[f32]>) = live.iter().unzip();
        let found = self.search_many_in_space(store, &queries, k);
        Some(ids.into_iter().zip(found).collect())
    }

    fn with_vectors<T>(
        &self,
        store: &Store,
        f: impl FnOnce(&dyn AnnSearch, &dyn Vectors) -> T,
    ) -> T {
        let ann = self.ann.as_search();
        match &self.rerank {
            Rerank::Store => f(ann, &StoreVectors::new(store, &self.space)),
            Rerank::Memory(v) => f(ann, v),
            Rerank::File(file) => f(ann, file),
        }
    }
}

/// Embeddings of one model fetched from the store on demand (re-ranking),
/// brought into the search space by `whitening` when there is one.
struct StoreVectors<'a> {
    store: &'a Store,
    code: u32,
    whitening: Option<Arc<Whitening>>,
}

impl<'a> StoreVectors<'a> {
    /// The vectors of `space` in `store`.
    fn new(store: &'a Store, space: &Space) -> Self {
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
