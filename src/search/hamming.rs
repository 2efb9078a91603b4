//! Exact Hamming-distance search over 64-bit perceptual hashes. Pairs
//! within a [`HashRule`] come from multi-index hashing ([`super::mih`])
//! when its cost model says it beats a scan; the quadratic popcount scan
//! ([`pairs_exhaustive`]) is the fallback and the reference it is tested
//! against: about a nanosecond per comparison, so all pairs of ~100k images
//! in seconds on two cores, but 5·10^11 comparisons at 1M.

use rayon::prelude::*;

use super::mih;
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

/// All index pairs `(i, j)`, `i < j`, that the rule accepts, sorted:
/// through multi-index hashing when the rule's radius and the number of
/// hashes make that cheaper than the scan, else [`pairs_exhaustive`].
pub fn pairs(hashes: &[Hashes], rule: HashRule) -> Vec<(u32, u32)> {
    match mih::Plan::for_radii(rule.max_phash, rule.max_dhash) {
        Some(plan) if plan.worth_it(hashes.len()) => {
            mih::pairs(hashes, rule.max_phash, rule.max_dhash, &plan)
        }
        _ => pairs_exhaustive(hashes, rule),
    }
}

/// All index pairs `(i, j)`, `i < j`, that the rule accepts, sorted. The pHashes
/// are scanned as one contiguous `u64` array (dHash only checked on a pHash
/// match), with the CPU's popcount instruction when it has one: the scan is
/// quadratic, ~2·10^10 comparisons at 200k images.
pub fn pairs_exhaustive(hashes: &[Hashes], rule: HashRule) -> Vec<(u32, u32)> {
    let phash: Vec<u64> = hashes.iter().map(|h| h.phash).collect();
    let dhash: Vec<u64> = hashes.iter().map(|h| h.dhash).collect();
    (0..hashes.len())
        .into_par_iter()
        .flat_map_iter(|i| {
            let mut out = Vec::new();
            scan_row(&phash, &dhash, i, rule, &mut out);
            out
        })
        .collect()
}

fn scan_row(phash: &[u64], dhash: &[u64], i: usize, rule: HashRule, out: &mut Vec<(u32, u32)>) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("popcnt") {
        // SAFETY: the CPU supports popcnt (checked just above).
        return unsafe { scan_row_popcnt(phash, dhash, i, rule, out) };
    }
    scan_row_generic(phash, dhash, i, rule, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
unsafe fn scan_row_popcnt(
    phash: &[u64],
    dhash: &[u64],
    i: usize,
    rule: HashRule,
    out: &mut Vec<(u32, u32)>,
) {
    scan_row_generic(phash, dhash, i, rule, out);
}

#[inline(always)]
fn scan_row_generic(
    phash: &[u64],
    dhash: &[u64],
    i: usize,
    rule: HashRule,
    out: &mut Vec<(u32, u32)>,
) {
    let (a, ad) = (phash[i], dhash[i]);
    for (off, b) in phash[i + 1..].iter().enumerate() {
        if (a ^ b).count_ones() <= rule.max_phash {
            let j = i + 1 + off;
            if (ad ^ dhash[j]).count_ones() <= rule.max_dhash {
                out.push((i as u32, j as u32));
            }
        }
    }
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

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    /// The `popcnt` build of the row scan against the generic one on random
    /// hashes (planted near ones so that pairs are found): the same pairs.
    #[test]
    fn popcnt_scan_matches_generic() {
        if !std::is_x86_feature_detected!("popcnt") {
            crate::skip_test("no popcnt on this CPU");
            return;
        }
        let mut rng = fastrand::Rng::with_seed(3);
        let base: Vec<u64> = (0..400).map(|_| rng.u64(..)).collect();
        let near = |h: u64, rng: &mut fastrand::Rng| h ^ (1 << (rng.u64(..) % 64));
        let phash: Vec<u64> = base.iter().map(|&h| near(h, &mut rng)).collect();
        let dhash: Vec<u64> = base
            .iter()
            .map(|&h| near(h.rotate_left(7), &mut rng))
            .collect();
        let phash: Vec<u64> = [&base[..], &phash].concat();
        let dhash: Vec<u64> = [
            &base.iter().map(|h| h.rotate_left(7)).collect::<Vec<_>>()[..],
            &dhash,
        ]
        .concat();
        for (max_phash, max_dhash) in [(0, 0), (2, 2), (10, 64), (30, 30)] {
            let rule = HashRule {
                max_phash,
                max_dhash,
            };
            let (mut fast, mut generic) = (vec![], vec![]);
            for i in 0..phash.len() {
                // SAFETY: the CPU supports popcnt (checked above).
                unsafe { scan_row_popcnt(&phash, &dhash, i, rule, &mut fast) };
                scan_row_generic(&phash, &dhash, i, rule, &mut generic);
            }
            assert_eq!(fast, generic, "rule {max_phash}/{max_dhash}");
            assert!(
                max_phash < 2 || generic.len() >= 400,
                "{} pairs",
                generic.len()
            );
        }
    }
}
