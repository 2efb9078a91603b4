//! Approximate nearest neighbours over CNN embeddings. Two implementations
//! behind one search trait: an exact scan (small collections, and the
//! reference the approximate one is tested against) and an HNSW graph
//! (`hnsw_rs`) for large ones. The graph indexes a seeded random projection
//! of the 1280-d embeddings to `projected_dim` dimensions, which makes
//! building and searching it several times cheaper; its shortlist is then
//! re-ranked exactly with the full vectors, so reported distances are exact
//! cosine distances. `hnsw_rs` cannot delete: removed ids are hidden by the
//! search filter until enough accumulate to rebuild.

use std::collections::HashSet;

use hnsw_rs::anndists::dist::DistL2;
use hnsw_rs::hnsw::Hnsw;
use hnsw_rs::hnswio::HnswIo;
use rayon::prelude::*;

use crate::vecmath::cosine_distance;

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

fn top_k(all: &mut Vec<Neighbour>, k: usize) {
    let by = |a: &Neighbour, b: &Neighbour| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0));
    if all.len() > k {
        all.select_nth_unstable_by(k, by);
        all.truncate(k);
    }
    all.sort_by(by);
}

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
            ef_search: 96,
            projected_dim: 128,
            rerank: 80,
            seed: 0x1d9e_5eed,
            exact_below: 10_000,
        }
    }
}

impl HnswParams {
    /// Identifies everything that shapes the graph.
    pub fn fingerprint(&self, dim: usize) -> String {
        format!(
            "hnsw_rs-0.3.5/l2/m{}-efc{}/proj{}x{}-seed{:x}",
            self.m, self.ef_construction, dim, self.projected_dim, self.seed
        )
    }
}

/// Search setting of the all-pairs pass of `dupes` (`ef_search`, `rerank`):
/// near-duplicates are the very nearest neighbours, so a short graph search
/// finds them; measured with `cargo bench --bench ann` (recall@10 column of
/// the `dupes` rows).
pub const DUPES_SEARCH: (usize, usize) = (32, 0);

/// A seeded Gaussian random projection (Johnson–Lindenstrauss).
#[derive(Debug, Clone)]
pub struct Projection {
    pub from: usize,
    pub to: usize,
    matrix: Vec<f32>,
}

impl Projection {
    pub fn new(from: usize, to: usize, seed: u64) -> Self {
        let mut rng = SplitMix(seed);
        let scale = 1.0 / (to as f32).sqrt();
        let matrix = (0..from * to).map(|_| rng.gaussian() * scale).collect();
        Projection { from, to, matrix }
    }

    /// Project and re-normalise (so L2 in the projection tracks cosine).
    pub fn apply(&self, v: &[f32]) -> Vec<f32> {
        let mut out = vec![0f32; self.to];
        for (x, row) in v.iter().zip(self.matrix.chunks_exact(self.to)) {
            if *x != 0.0 {
                for (o, m) in out.iter_mut().zip(row) {
                    *o += x * m;
                }
            }
        }
        crate::vecmath::l2_normalised(&out)
    }

    /// `apply` over many vectors as blocked matrix products (several times
    /// faster than one vector at a time; used for builds and `dupes`).
    pub fn apply_many(&self, vs: &[&[f32]]) -> Vec<Vec<f32>> {
        const BLOCK: usize = 2048;
        let matrix = ndarray::ArrayView2::from_shape((self.from, self.to), &self.matrix)
            .expect("projection shape");
        let mut out = Vec::with_capacity(vs.len());
        let mut buf = Vec::with_capacity(BLOCK.min(vs.len()) * self.from);
        for block in vs.chunks(BLOCK) {
            buf.clear();
            block.iter().for_each(|v| buf.extend_from_slice(v));
            let rows = ndarray::ArrayView2::from_shape((block.len(), self.from), &buf)
                .expect("block shape");
            let projected = rows.dot(&matrix);
            out.extend(
                projected
                    .rows()
                    .into_iter()
                    .map(|r| crate::vecmath::l2_normalised(r.as_slice().expect("row-major"))),
            );
        }
        out
    }
}

/// SplitMix64: a tiny, well-distributed seeded generator.
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    pub fn uniform(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 + 0.5) / (1u64 << 24) as f32
    }

    /// Standard normal (Box–Muller).
    pub fn gaussian(&mut self) -> f32 {
        let (u1, u2) = (self.uniform(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
    }
}

/// HNSW over projected vectors; graph position `i` is image id `ids[i]`.
/// A re-embedded image gets a new position; its old one is hidden.
pub struct HnswIndex {
    pub(crate) hnsw: Hnsw<'static, f32, DistL2>,
    pub(crate) projection: Projection,
    pub(crate) params: HnswParams,
    pub(crate) ids: Vec<u64>,
    /// Hidden graph positions (removed or superseded vectors).
    pub(crate) removed: HashSet<usize>,
    /// Current position of each live id.
    pub(crate) live: std::collections::HashMap<u64, usize>,
    /// For a graph reloaded from files: the loader its points may borrow
    /// from (memory-mapped vectors). Declared after `hnsw`, so it is dropped
    /// after the graph; `hnsw` must never be moved out of this struct.
    pub(crate) loader: Option<GraphLoader>,
}

/// Owns the `hnsw_rs` loader a reloaded graph borrows from: `HnswIo`
/// hands out graphs tied to its own lifetime (their vectors may live in its
/// memory map), so it is kept on the heap, at a fixed address, for exactly
/// as long as the graph, and freed with it.
pub(crate) struct GraphLoader(std::ptr::NonNull<HnswIo>);

impl GraphLoader {
    pub(crate) fn new(io: HnswIo) -> Self {
        GraphLoader(std::ptr::NonNull::from(Box::leak(Box::new(io))))
    }

    /// The loader, for the one `load_hnsw` call.
    ///
    /// # Safety
    /// The returned reference (and the graph loaded through it) must not
    /// outlive `self`, and this must be called at most once.
    pub(crate) unsafe fn io(&self) -> &'static mut HnswIo {
        // SAFETY: the pointer came from `Box::leak` and is freed only in
        // `drop`; the caller guarantees a single, shorter-lived use.
        unsafe { &mut *self.0.as_ptr() }
    }
}

impl Drop for GraphLoader {
    fn drop(&mut self) {
        // SAFETY: allocated by `Box::leak` in `new`, freed only here.
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }
}

// SAFETY: `HnswIo` is Send + Sync (checked below); after loading, the
// loader is never used except to be dropped.
unsafe impl Send for GraphLoader {}
unsafe impl Sync for GraphLoader {}
const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<HnswIo>();
};

impl HnswIndex {
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
        hnsw: Hnsw<'static, f32, DistL2>,
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
            loader: None,
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
    pub fn edge_knn(&self, k: usize, vectors: &MemoryVectors) -> Vec<(u64, Vec<Neighbour>)> {
        let points: Vec<_> = self.hnsw.get_point_indexation().into_iter().collect();
        points
            .par_iter()
            .filter(|p| !self.removed.contains(&p.get_origin_id()))
            .filter_map(|p| {
                let id = self.ids[p.get_origin_id()];
                let v = vectors.slice(id)?;
                let mut near: Vec<Neighbour> = p
                    .get_neighborhood_id()
                    .iter()
                    .flatten()
                    .filter(|nb| !self.removed.contains(&nb.d_id))
                    .filter_map(|nb| {
                        let other = self.ids[nb.d_id];
                        vectors.distance(other, v).map(|d| (other, d))
                    })
                    .collect();
                near.sort_by_key(|n| n.0);
                near.dedup_by_key(|n| n.0);
                top_k(&mut near, k);
                Some((id, near))
            })
            .collect()
    }

    /// Graph shortlist of `pq`, re-ranked exactly against `q`.
    fn search_projected(
        &self,
        q: &[f32],
        pq: &[f32],
        k: usize,
        vectors: &dyn Vectors,
    ) -> Vec<Neighbour> {
        let shortlist = self.params.rerank.max(2 * k);
        let mut scored: Vec<Neighbour> = self
            .candidates(pq, shortlist)
            .into_iter()
            .filter_map(|id| vectors.distance(id, q).map(|d| (id, d)))
            .collect();
        top_k(&mut scored, k);
        scored
    }
}

impl AnnSearch for HnswIndex {
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

impl AnnWrite for HnswIndex {
    fn insert(&mut self, id: u64, v: &[f32]) {
        self.insert_many(vec![(id, v)]);
    }

    fn remove(&mut self, id: u64) {
        if let Some(pos) = self.live.remove(&id) {
            self.removed.insert(pos);
        }
    }
}

/// Recall@k of `approx` against `exact` result lists (same queries).
pub fn recall_at_k(exact: &[Vec<Neighbour>], approx: &[Vec<Neighbour>]) -> f64 {
    let (mut hit, mut total) = (0usize, 0usize);
    for (e, a) in exact.iter().zip(approx) {
        let want: HashSet<u64> = e.iter().map(|n| n.0).collect();
        hit += a.iter().filter(|n| want.contains(&n.0)).count();
        total += want.len();
    }
    if total == 0 {
        1.0
    } else {
        hit as f64 / total as f64
    }
}

/// Test and benchmark data: `n` unit vectors in seeded clusters shaped like CNN embeddings: a
/// non-negative centre per cluster, variation along a shared 32-dimensional
/// latent subspace (embeddings have low intrinsic dimension), and a little
/// isotropic noise. (Purely isotropic noise in 1280-d makes every member of
/// a cluster nearly equidistant: no projection-based index ranks that well.)
pub fn clustered_vectors(n: usize, dim: usize, seed: u64) -> MemoryVectors {
    const LATENT: usize = 32;
    let mut rng = SplitMix(seed);
    let k = (n / 200).max(10);
    let centres: Vec<Vec<f32>> = (0..k)
        .map(|_| (0..dim).map(|_| rng.gaussian().abs()).collect())
        .collect();
    let basis: Vec<f32> = (0..dim * LATENT).map(|_| rng.gaussian()).collect();
    let mut out = MemoryVectors::new(dim);
    for i in 0..n {
        let c = &centres[(rng.next_u64() % k as u64) as usize];
        let z: Vec<f32> = (0..LATENT).map(|_| rng.gaussian()).collect();
        let v: Vec<f32> = c
            .iter()
            .enumerate()
            .map(|(d, x)| {
                let latent: f32 = basis[d * LATENT..(d + 1) * LATENT]
                    .iter()
                    .zip(&z)
                    .map(|(b, z)| b * z)
                    .sum();
                (x + 0.6 * latent / (LATENT as f32).sqrt() + 0.05 * rng.gaussian()).max(0.0)
            })
            .collect();
        out.push(i as u64 + 1, &crate::vecmath::l2_normalised(&v));
    }
    out
}

/// Test and benchmark data for `dupes`: `count` of the vectors get a near
/// copy (a new id after the existing ones) at a cosine distance spread over
/// about 0.01..0.1, the range of edited copies of a photo. Returns the
/// planted (original, copy) pairs.
pub fn plant_near_copies(vectors: &mut MemoryVectors, count: usize, seed: u64) -> Vec<(u64, u64)> {
    let mut rng = SplitMix(seed);
    let n = vectors.len() as u64;
    let dim = vectors.dim;
    let mut pairs = Vec::with_capacity(count);
    for i in 0..count as u64 {
        let id = rng.next_u64() % n + 1;
        let target = 0.01 + 0.09 * rng.uniform();
        // Noise of norm r on a unit vector: cosine distance ~ r^2 / 2.
        let sigma = (2.0 * target / dim as f32).sqrt();
        let v = vectors.vector(id).expect("ids are 1..=n");
        let copy: Vec<f32> = v.iter().map(|x| x + sigma * rng.gaussian()).collect();
        vectors.push(n + 1 + i, &crate::vecmath::l2_normalised(&copy));
        pairs.push((id, n + 1 + i));
    }
    pairs
}

/// Fraction of `pairs` present in all-pairs neighbour lists (either way).
pub fn pair_recall(pairs: &[(u64, u64)], lists: &[(u64, Vec<Neighbour>)]) -> f64 {
    let found: HashSet<(u64, u64)> = lists
        .iter()
        .flat_map(|(a, near)| near.iter().map(move |(b, _)| ((*a).min(*b), (*a).max(*b))))
        .collect();
    let hit = pairs
        .iter()
        .filter(|(a, b)| found.contains(&((*a).min(*b), (*a).max(*b))))
        .count();
    hit as f64 / pairs.len().max(1) as f64
}
