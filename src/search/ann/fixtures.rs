//! Test and benchmark data for the ANN index (clustered unit vectors shaped
//! like CNN embeddings, planted near copies) and the recall measures they
//! are scored with. Public so that integration tests and benches share them.

use std::collections::HashSet;

use super::{MemoryVectors, Neighbour, SplitMix, Vectors};

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

/// Benchmark data calibrated on real image embeddings: `n` unit vectors
/// on a fixed set of low-dimensional patches, so that a larger collection
/// fills the same space more densely, as a real one does. (In
/// [`clustered_vectors`] every 200 vectors bring a new cluster with a
/// random centre, all about equally far apart, so its search only gets
/// harder with size: at 1M its relative contrast is 1.7, a real 93k-image
/// collection's 4.3.) 40 groups of 50 clusters; a cluster's centre is
/// non-negative and near its group's, and its members vary along 8
/// directions drawn from a shared pool of 64, plus isotropic noise. At equal
/// size it is harder than the real collections measured (higher local
/// intrinsic dimension, lower contrast, lower recall): docs/ann-hardness.md.
pub fn manifold_vectors(n: usize, dim: usize, seed: u64) -> MemoryVectors {
    const GROUPS: usize = 40;
    const PER_GROUP: usize = 50;
    const LATENT: usize = 8;
    const POOL: usize = 64;
    const SPREAD: f32 = 0.5;
    const NOISE: f32 = 0.05;
    let mut rng = SplitMix(seed);
    let pool: Vec<Vec<f32>> = (0..POOL)
        .map(|_| (0..dim).map(|_| rng.gaussian()).collect())
        .collect();
    let mut clusters: Vec<(Vec<f32>, Vec<usize>)> = Vec::with_capacity(GROUPS * PER_GROUP);
    for _ in 0..GROUPS {
        let group: Vec<f32> = (0..dim).map(|_| rng.gaussian().abs()).collect();
        for _ in 0..PER_GROUP {
            let centre = group
                .iter()
                .map(|g| (g + SPREAD * rng.gaussian()).max(0.0))
                .collect();
            let dirs = (0..LATENT)
                .map(|_| (rng.next_u64() % POOL as u64) as usize)
                .collect();
            clusters.push((centre, dirs));
        }
    }
    let scale = 0.6 / (LATENT as f32).sqrt();
    let mut out = MemoryVectors::new(dim);
    for i in 0..n {
        let (centre, dirs) = &clusters[(rng.next_u64() % clusters.len() as u64) as usize];
        let mut v = centre.clone();
        for &d in dirs {
            let z = scale * rng.gaussian();
            v.iter_mut().zip(&pool[d]).for_each(|(x, b)| *x += z * b);
        }
        v.iter_mut()
            .for_each(|x| *x = (*x + NOISE * rng.gaussian()).max(0.0));
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

/// Search settings for benchmarks: `"ef:rerank,ef:rerank"` (the format of
/// the `ANN_SEARCH` variable of `benches/ann` and `examples/store_ann`);
/// entries that do not parse are left out.
pub fn parse_search_settings(spec: &str) -> Vec<(usize, usize)> {
    spec.split(',')
        .filter_map(|s| {
            let (e, r) = s.split_once(':')?;
            Some((e.trim().parse().ok()?, r.trim().parse().ok()?))
        })
        .collect()
}
