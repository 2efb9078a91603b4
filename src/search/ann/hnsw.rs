//! The HNSW graph (`hnsw_rs`) over projected embeddings: its parameters,
//! building, incremental inserts and hiding removed ids. A graph reloaded
//! from its dump borrows from the `hnsw_rs` loader (`'a`), so it lives only
//! within the scope that loaded it: long enough to extend it or to write its
//! flat file, which is what every search reads (`search::flatgraph`). The
//! in-memory search here is the reference the flat one is tested and
//! benchmarked against.

use std::collections::HashSet;

use hnsw_rs::anndists::dist::DistL2;
use hnsw_rs::hnsw::Hnsw;
use rayon::prelude::*;

use super::{nearest_of, AnnSearch, AnnWrite, MemoryVectors, Neighbour, Projection, Vectors};

/// HNSW build and search parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HnswParams {
    /// Graph degree (`M`).
    pub m: usize,
    pub ef_construction: usize,
    pub ef_search: usize,
    /// Dimension of the random projection the graph is built on.
    pub projected_dim: usize,
    /// Shortlist size re-ranked exactly: `max(rerank, 2k)`.
    pub rerank: usize,
    pub seed: u64,
    /// Below this many vectors an exact scan is used instead of a graph.
    pub exact_below: usize,
}

impl Default for HnswParams {
    fn default() -> Self {
        HnswParams {
            m: 16,
            ef_construction: 100,
            // At 1M images (examples/synthetic_store, manifold generator)
            // ef 96 found 0.969 / 0.927 of the exact top-10 for stored /
            // perturbed queries, ef 160 0.981 / 0.969 at a p50 of 0.86 ms
            // (docs/ann-hardness.md); below 300k the two barely differ.
            ef_search: 160,
            projected_dim: 128,
            rerank: 80,
            seed: 0x1d9e_5eed,
            exact_below: 10_000,
        }
    }
}

impl HnswParams {
    /// Identifies everything that shapes the graph.
    /// How many graph candidates a search for `k` re-ranks exactly.
    pub fn shortlist(&self, k: usize) -> usize {
        self.rerank.max(2 * k)
    }

    pub fn fingerprint(&self, dim: usize) -> String {
        format!(
            "hnsw_rs-0.3.5/l2/m{}-efc{}/orthproj{}x{}-seed{:x}",
            self.m, self.ef_construction, dim, self.projected_dim, self.seed
        )
    }
}

/// Search setting of the all-pairs pass of `dupes` (`ef_search`, `rerank`):
/// near-duplicates are the very nearest neighbours, so a short graph search
/// finds them; measured with `cargo bench --bench ann` (recall@10 column of
/// the `dupes` rows).
pub const DUPES_SEARCH: (usize, usize) = (32, 0);

/// A point of the `hnsw_rs` graph.
pub(crate) type GraphPoint<'a> = std::sync::Arc<hnsw_rs::hnsw::Point<'a, f32>>;

/// HNSW over projected vectors; graph position `i` is image id `ids[i]`.
/// A re-embedded image gets a new position; its old one is hidden. `'a`
/// is the loader's borrow for a graph reloaded from its dump.
pub struct HnswIndex<'a> {
    pub(crate) hnsw: Hnsw<'a, f32, DistL2>,
    pub(crate) projection: Projection,
    pub(crate) params: HnswParams,
    pub(crate) ids: Vec<u64>,
    /// Hidden graph positions (removed or superseded vectors).
    pub(crate) removed: HashSet<usize>,
    /// Current position of each live id.
    pub(crate) live: std::collections::HashMap<u64, usize>,
}

impl<'a> HnswIndex<'a> {
    /// Build over every vector of `vectors` (in parallel).
    pub fn build(vectors: &MemoryVectors, params: HnswParams) -> Self {
        let n = vectors.len().max(1);
        // hnsw_rs can only dump graphs built with its maximum of 16 layers.
        let hnsw = Hnsw::new(params.m, n, 16, params.ef_construction, DistL2 {});
        let projection = Projection::new(vectors.dim, params.projected_dim, params.seed);
        let mut index = HnswIndex::empty(hnsw, projection, params);
        index.insert_many(vectors.iter().collect());
        index
    }

    pub(crate) fn empty(
        hnsw: Hnsw<'a, f32, DistL2>,
        projection: Projection,
        params: HnswParams,
    ) -> Self {
        HnswIndex {
            hnsw,
            projection,
            params,
            ids: Vec::new(),
            removed: HashSet::new(),
            live: Default::default(),
        }
    }

    /// Restore the id bookkeeping of a reloaded graph.
    pub(crate) fn restore(&mut self, ids: Vec<u64>, removed: HashSet<usize>) {
        self.live = ids
            .iter()
            .enumerate()
            .filter(|(p, _)| !removed.contains(p))
            .map(|(p, id)| (*id, p))
            .collect();
        self.ids = ids;
        self.removed = removed;
    }

    /// Add vectors to the graph (an id already present is superseded).
    pub fn insert_many(&mut self, items: Vec<(u64, &[f32])>) {
        for (id, _) in &items {
            self.remove(*id);
        }
        let start = self.ids.len();
        let projected = self
            .projection
            .apply_many(&items.iter().map(|(_, v)| *v).collect::<Vec<_>>());
        let data: Vec<(&Vec<f32>, usize)> = projected
            .iter()
            .enumerate()
            .map(|(i, v)| (v, start + i))
            .collect();
        self.hnsw.parallel_insert(&data);
        for (i, (id, _)) in items.iter().enumerate() {
            self.ids.push(*id);
            self.live.insert(*id, start + i);
        }
    }

    /// Fraction of graph positions that are hidden.
    pub fn hidden_fraction(&self) -> f64 {
        if self.ids.is_empty() {
            0.0
        } else {
            self.removed.len() as f64 / self.ids.len() as f64
        }
    }

    pub fn contains(&self, id: u64) -> bool {
        self.live.contains_key(&id)
    }

    pub fn live_ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.live.keys().copied()
    }

    pub fn params(&self) -> HnswParams {
        self.params
    }

    /// Change the search-time parameters (they do not shape the graph).
    pub fn set_search_params(&mut self, ef_search: usize, rerank: usize) {
        self.params.ef_search = ef_search;
        self.params.rerank = rerank;
    }

    pub fn ids(&self) -> &[u64] {
        &self.ids
    }

    pub fn removed(&self) -> &HashSet<usize> {
        &self.removed
    }

    /// Projected-space candidates (graph search) of the projected query
    /// `pq`, ids only.
    fn candidates(&self, pq: &[f32], n: usize) -> Vec<u64> {
        let ef = self.params.ef_search.max(n);
        let filter = |pos: &usize| !self.removed.contains(pos);
        let found = if self.removed.is_empty() {
            self.hnsw.search(pq, n, ef)
        } else {
            self.hnsw.search_filter(pq, n, ef, Some(&filter))
        };
        found.into_iter().map(|nb| self.ids[nb.d_id]).collect()
    }

    /// Every live id with its `k` nearest among its own graph neighbours
    /// (all layers), re-ranked exactly: the all-pairs pass of `dupes` without
    /// a single search. The graph's lists hold each point's nearest
    /// neighbours, thinned by HNSW's diversity heuristic; a dropped close
    /// pair is still joined through the neighbour that caused the drop.
    /// (`search::edges` gives the same answer from the saved edge file.)
    pub fn edge_knn(&self, k: usize, vectors: &MemoryVectors) -> Vec<(u64, Vec<Neighbour>)> {
        let points: Vec<_> = self.hnsw.get_point_indexation().into_iter().collect();
        points
            .par_iter()
            .filter(|p| !self.removed.contains(&p.get_origin_id()))
            .filter_map(|p| {
                let id = self.ids[p.get_origin_id()];
                let v = vectors.slice(id)?;
                let others = Self::all_neighbours(p)
                    .filter(|pos| !self.removed.contains(pos))
                    .map(|pos| self.ids[pos]);
                Some((id, nearest_of(v, others, vectors, k)))
            })
            .collect()
    }

    /// Positions on every list `hnsw_rs` keeps for `p`, layer by layer
    /// (it keeps lists on layers above the point's own level too).
    pub(crate) fn all_neighbours<'p>(p: &'p GraphPoint<'_>) -> impl Iterator<Item = usize> + 'p {
        p.get_neighborhood_id()
            .into_iter()
            .flatten()
            .map(|nb| nb.d_id)
    }

    /// The graph's points by position (`None` for a position it lacks).
    pub(crate) fn points_by_position(&self) -> Vec<Option<GraphPoint<'a>>> {
        let mut points = vec![None; self.ids.len()];
        for p in self.hnsw.get_point_indexation() {
            if let Some(slot) = points.get_mut(p.get_origin_id()) {
                *slot = Some(p);
            }
        }
        points
    }

    /// Graph shortlist of `pq`, re-ranked exactly against `q`.
    fn search_projected(
        &self,
        q: &[f32],
        pq: &[f32],
        k: usize,
        vectors: &dyn Vectors,
    ) -> Vec<Neighbour> {
        let shortlist = self.params.shortlist(k);
        super::rerank(self.candidates(pq, shortlist).into_iter(), q, k, vectors)
    }
}

impl AnnSearch for HnswIndex<'_> {
    fn search(&self, q: &[f32], k: usize, vectors: &dyn Vectors) -> Vec<Neighbour> {
        self.search_projected(q, &self.projection.apply(q), k, vectors)
    }

    fn search_many(
        &self,
        queries: &[&[f32]],
        k: usize,
        vectors: &dyn Vectors,
    ) -> Vec<Vec<Neighbour>> {
        let projected = self.projection.apply_many(queries);
        queries
            .par_iter()
            .zip(&projected)
            .map(|(q, pq)| self.search_projected(q, pq, k, vectors))
            .collect()
    }

    fn len(&self) -> usize {
        self.live.len()
    }
}

impl AnnWrite for HnswIndex<'_> {
    fn insert(&mut self, id: u64, v: &[f32]) {
        self.insert_many(vec![(id, v)]);
    }

    fn remove(&mut self, id: u64) {
        if let Some(pos) = self.live.remove(&id) {
            self.removed.insert(pos);
        }
    }
}
