//! Exact Hamming-distance search over 64-bit perceptual hashes: the pHash
//! and dHash of each image are scanned with popcount, in parallel. Exact,
//! and at about a nanosecond per comparison it handles all pairs of ~100k
//! images in seconds on two cores.

use rayon::prelude::*;

use crate::features::hash::hamming;
use crate::features::Hashes;

/// When two images' hashes make them a near-duplicate pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HashRule {
    /// Maximum pHash distance (bits out of 64).
    pub max_phash: u32,
    /// Maximum dHash distance (bits out of 64).
    pub max_dhash: u32,
}

impl HashRule {
    #[inline]
    pub fn matches(&self, a: &Hashes, b: &Hashes) -> bool {
        hamming(a.phash, b.phash) <= self.max_phash && hamming(a.dhash, b.dhash) <= self.max_dhash
    }
}

/// Combined distance used to rank by hash: mean of pHash and dHash distance.
#[inline]
pub fn rank_distance(a: &Hashes, b: &Hashes) -> f64 {
    f64::from(hamming(a.phash, b.phash) + hamming(a.dhash, b.dhash)) / 2.0
}

/// All index pairs `(i, j)`, `i < j`, that the rule accepts.
pub fn pairs(hashes: &[Hashes], rule: HashRule) -> Vec<(u32, u32)> {
    (0..hashes.len())
        .into_par_iter()
        .flat_map_iter(|i| {
            let a = hashes[i];
            hashes[i + 1..]
                .iter()
                .enumerate()
                .filter(move |(_, b)| rule.matches(&a, b))
                .map(move |(off, _)| (i as u32, (i + 1 + off) as u32))
        })
        .collect()
}

/// The `k` entries nearest to `query` by [`rank_distance`], nearest first.
pub fn nearest(hashes: &[Hashes], query: &Hashes, k: usize) -> Vec<(u32, f64)> {
    let mut scored: Vec<(u32, f64)> = hashes
        .iter()
        .enumerate()
        .map(|(i, h)| (i as u32, rank_distance(query, h)))
        .collect();
    scored.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    scored.truncate(k);
    scored
}
