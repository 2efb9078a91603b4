//! Approximate nearest neighbours over CNN embeddings. Two implementations
//! behind one search trait: an exact scan (small collections, and the
//! reference the approximate one is tested against) and an HNSW graph
//! (`hnsw_rs`) for large ones. The graph indexes a seeded orthonormal
//! projection of the vectors to `projected_dim` dimensions (of raw 1280-d
//! embeddings a random subspace, several times cheaper to build and search;
//! of the 128-d whitened space a rotation, which keeps every distance); its
//! shortlist is then re-ranked exactly with the full vectors, so reported
//! distances are exact cosine distances. `hnsw_rs` cannot delete: removed ids are hidden by the
//! search filter until enough accumulate to rebuild.

use std::collections::HashSet;

use rayon::prelude::*;

use crate::vecmath::cosine_distance;

mod fixtures;
mod hnsw;
mod projection;

pub use fixtures::{
    clustered_vectors, manifold_vectors, pair_recall, parse_search_settings, plant_near_copies,
    recall_at_k,
};
pub(crate) use hnsw::GraphPoint;
pub use hnsw::{HnswIndex, HnswParams, DUPES_SEARCH};
pub use projection::{Projection, SplitMix};

/// Whether a graph's live ids (those of `ids` at positions not in
/// `removed`) are exactly the ids of `live`.
pub(crate) fn same_live_ids(ids: &[u64], removed: &HashSet<usize>, live: &MemoryVectors) -> bool {
    let graph: HashSet<u64> = (0..ids.len())
        .filter(|p| !removed.contains(p))
        .map(|p| ids[p])
        .collect();
    graph.len() == live.len() && live.iter().all(|(id, _)| graph.contains(&id))
}

/// A neighbour: image id and cosine distance (0 = same direction).
pub type Neighbour = (u64, f32);

/// Full-dimensional, L2-normalised vectors by image id.
pub trait Vectors: Sync {
    fn vector(&self, id: u64) -> Option<Vec<f32>>;
    /// Cosine distance from `q` to vector `id` (implementations holding the
    /// vectors in memory override this to avoid a copy).
    fn distance(&self, id: u64, q: &[f32]) -> Option<f32> {
        self.vector(id).map(|v| cosine_distance(q, &v))
    }
}

/// Read side of an ANN index.
pub trait AnnSearch: Sync {
    /// The `k` nearest live ids to the unit vector `q`, nearest first.
    fn search(&self, q: &[f32], k: usize, vectors: &dyn Vectors) -> Vec<Neighbour>;
    /// `search` for many queries, in parallel (the all-pairs pass of `dupes`).
    fn search_many(
        &self,
        queries: &[&[f32]],
        k: usize,
        vectors: &dyn Vectors,
    ) -> Vec<Vec<Neighbour>> {
        queries
            .par_iter()
            .map(|q| self.search(q, k, vectors))
            .collect()
    }
    /// Number of live (searchable) vectors.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Write side of an ANN index.
pub trait AnnWrite {
    fn insert(&mut self, id: u64, v: &[f32]);
    /// Hide `id` from every later search.
    fn remove(&mut self, id: u64);
}

/// Vectors kept in memory (exact index storage, tests, benches).
#[derive(Debug, Default, Clone)]
pub struct MemoryVectors {
    pub dim: usize,
    ids: Vec<u64>,
    data: Vec<f32>,
    pos: std::collections::HashMap<u64, usize>,
}

impl MemoryVectors {
    pub fn new(dim: usize) -> Self {
        MemoryVectors {
            dim,
            ..Default::default()
        }
    }

    pub fn push(&mut self, id: u64, v: &[f32]) {
        debug_assert_eq!(v.len(), self.dim);
        self.pos.insert(id, self.ids.len());
        self.ids.push(id);
        self.data.extend_from_slice(v);
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (u64, &[f32])> {
        self.ids
            .iter()
            .copied()
            .zip(self.data.chunks_exact(self.dim.max(1)))
    }
}

impl MemoryVectors {
    pub fn slice(&self, id: u64) -> Option<&[f32]> {
        let p = *self.pos.get(&id)?;
        Some(&self.data[p * self.dim..(p + 1) * self.dim])
    }
}

impl Vectors for MemoryVectors {
    fn vector(&self, id: u64) -> Option<Vec<f32>> {
        self.slice(id).map(<[f32]>::to_vec)
    }

    fn distance(&self, id: u64, q: &[f32]) -> Option<f32> {
        self.slice(id).map(|v| cosine_distance(q, v))
    }
}

/// Exact cosine scan: the reference implementation.
#[derive(Debug, Default, Clone)]
pub struct ExactIndex {
    vectors: MemoryVectors,
    removed: HashSet<u64>,
}

impl ExactIndex {
    pub fn new(vectors: MemoryVectors) -> Self {
        ExactIndex {
            vectors,
            removed: HashSet::new(),
        }
    }

    pub fn vectors(&self) -> &MemoryVectors {
        &self.vectors
    }
}

impl AnnSearch for ExactIndex {
    fn search(&self, q: &[f32], k: usize, _vectors: &dyn Vectors) -> Vec<Neighbour> {
        let mut all: Vec<Neighbour> = self
            .vectors
            .iter()
            .filter(|(id, _)| !self.removed.contains(id))
            .map(|(id, v)| (id, cosine_distance(q, v)))
            .collect();
        top_k(&mut all, k);
        all
    }

    fn len(&self) -> usize {
        self.vectors.len() - self.removed.len()
    }
}

impl AnnWrite for ExactIndex {
    fn insert(&mut self, id: u64, v: &[f32]) {
        self.vectors.push(id, v);
    }

    fn remove(&mut self, id: u64) {
        self.removed.insert(id);
    }
}

/// The `k` nearest of a graph's shortlist `ids`, by exact cosine distance
/// to `q` (ids without a vector are dropped): the re-rank step every graph
/// search ends with.
pub(crate) fn rerank(
    ids: impl Iterator<Item = u64>,
    q: &[f32],
    k: usize,
    vectors: &dyn Vectors,
) -> Vec<Neighbour> {
    let mut scored: Vec<Neighbour> = ids
        .filter_map(|id| vectors.distance(id, q).map(|d| (id, d)))
        .collect();
    top_k(&mut scored, k);
    scored
}

/// The `k` nearest of `others` (ids, repeats allowed) to `v`, by exact
/// distance from `vectors`: one point's re-ranked graph neighbours in the
/// all-pairs pass of `dupes`. Ids without a vector are left out.
pub(crate) fn nearest_of(
    v: &[f32],
    others: impl Iterator<Item = u64>,
    vectors: &MemoryVectors,
    k: usize,
) -> Vec<Neighbour> {
    let mut near: Vec<Neighbour> = others
        .filter_map(|o| vectors.distance(o, v).map(|d| (o, d)))
        .collect();
    near.sort_by_key(|n| n.0);
    near.dedup_by_key(|n| n.0);
    top_k(&mut near, k);
    // Held for every image until `dupes` has judged them: k entries, not
    // the ~33 of a whole neighbour union (0.5 GB at 1M images).
    near.shrink_to_fit();
    near
}

pub(crate) fn top_k(all: &mut Vec<Neighbour>, k: usize) {
    let by = |a: &Neighbour, b: &Neighbour| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0));
    if all.len() > k {
        all.select_nth_unstable_by(k, by);
        all.truncate(k);
        // An exact scan collects one entry per stored vector: keeping that
        // capacity held 16 MB per answer at 1M images.
        all.shrink_to_fit();
    }
    all.sort_by(by);
}
