//! Multi-index hashing (Norouzi, Punjani and Fleet) for the near-duplicate
//! hash pairs: the pairs [`hamming::pairs_exhaustive`] finds, without
//! comparing every pair.
//!
//! The hash with the smaller radius `r` (pHash unless dHash's is smaller)
//! is split into up to four disjoint 16-bit blocks with radii `r_t` whose
//! `r_t + 1` sum to `r + 1`: if two hashes differed by more than `r_t` on
//! every block they would differ by at least `r + 1` bits in all, so a
//! pair within `r` agrees to within `r_t` bits on some block `t`. Each
//! block gets a table of all images bucketed by its 16 bits, and every
//! pair of buckets within `r_t` bits of each other is joined (a pass over
//! the buckets in order per mask, so memory is read nearly in sequence
//! rather than probed per image). Every candidate is then checked against
//! the whole rule (both hashes, exactly), and kept only from the first
//! block on which it qualifies, so each pair comes out once. For the default radius 12 the blocks get radii
//! 3, 2, 2, 2: each bucket meets 1,108 others (counting itself once per
//! block), instead of every image meeting every other.
//!
//! [`hamming::pairs_exhaustive`]: super::hamming::pairs_exhaustive
//!
//! A leaf module: `hamming` decides when to use it.

use rayon::prelude::*;

use crate::features::Hashes;

/// Bits per block (and so 2^16 buckets per table).
const BLOCK_BITS: u32 = 16;
const BUCKETS: usize = 1 << BLOCK_BITS;
/// At most this many blocks (64 bits / 16).
const MAX_BLOCKS: usize = 4;

/// Which hash keys the tables, and the blocks' radii.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Tables key on the dHash instead of the pHash.
    pub key_is_dhash: bool,
    /// Radius of each block used, in order (block `t` is bits `16t..16t+16`).
    pub radii: Vec<u32>,
}

impl Plan {
    /// The blocks and radii for pairs within `max_phash` and `max_dhash`
    /// bits: `None` when the radius is so wide (beyond 63 bits) that there
    /// is nothing to prune.
    pub fn for_radii(max_phash: u32, max_dhash: u32) -> Option<Plan> {
        let key_is_dhash = max_dhash < max_phash;
        let r = max_phash.min(max_dhash);
        if r >= 64 {
            return None;
        }
        let m = (r as usize + 1).min(MAX_BLOCKS);
        // Share r + 1 among the m blocks as evenly as possible.
        let (base, extra) = ((r + 1) / m as u32, (r + 1) % m as u32);
        let radii = (0..m as u32)
            .map(|t| base + u32::from(t < extra) - 1)
            .collect();
        Some(Plan {
            key_is_dhash,
            radii,
        })
    }

    /// Buckets each bucket is joined with, over all blocks: the 16-bit
    /// masks within each block's radius.
    pub fn probes(&self) -> u64 {
        self.radii.iter().map(|&r| ball_size(r)).sum()
    }

    /// Whether the bucket joins are expected to cost less than half a scan
    /// of all pairs of `n` hashes: each block joins 2^16 · probes / 2
    /// bucket pairs, at the price of eight comparisons each plus the
    /// comparisons of their entries (`(n / 2^16)^2` on average).
    pub fn worth_it(&self, n: usize) -> bool {
        let n = n as f64;
        let per_bucket = n / BUCKETS as f64;
        let bucket_pairs = BUCKETS as f64 * self.probes() as f64 / 2.0;
        let join = bucket_pairs * (8.0 + per_bucket * per_bucket);
        join < n * n / 4.0
    }
}

/// Number of 16-bit masks with at most `r` bits set.
fn ball_size(r: u32) -> u64 {
    let mut c = 1u64; // C(16, 0)
    let mut total = 0u64;
    for k in 0..=r.min(BLOCK_BITS) as u64 {
        total += c;
        c = c * (16 - k) / (k + 1);
    }
    total
}

/// All 16-bit masks with at most `r` bits set.
fn masks(r: u32) -> Vec<u16> {
    (0..=u16::MAX).filter(|m| m.count_ones() <= r).collect()
}

#[inline]
fn block(h: u64, t: usize) -> usize {
    ((h >> (BLOCK_BITS as usize * t)) & 0xffff) as usize
}

/// One block's table: entries in bucket order, and within a bucket in
/// index order; `start[b]..start[b + 1]` is bucket `b`.
struct Table {
    start: Vec<u32>,
    idx: Vec<u32>,
    key: Vec<u64>,
    other: Vec<u64>,
}

impl Table {
    /// Counting sort of `0..n` by block `t` of `key` (stable: index order
    /// within a bucket).
    fn build(key: &[u64], other: &[u64], t: usize) -> Table {
        let mut start = vec![0u32; BUCKETS + 1];
        for &h in key {
            start[block(h, t) + 1] += 1;
        }
        for b in 0..BUCKETS {
            start[b + 1] += start[b];
        }
        let mut next = start.clone();
        let n = key.len();
        let (mut idx, mut k, mut o) = (vec![0u32; n], vec![0u64; n], vec![0u64; n]);
        for (i, &h) in key.iter().enumerate() {
            let slot = &mut next[block(h, t)];
            let s = *slot as usize;
            *slot += 1;
            (idx[s], k[s], o[s]) = (i as u32, h, other[i]);
        }
        Table {
            start,
            idx,
            key: k,
            other: o,
        }
    }
}

/// All index pairs `(i, j)`, `i < j`, within `max_phash` pHash bits and
/// `max_dhash` dHash bits, sorted: the same set as the exhaustive scan,
/// found through the tables of `plan` (made for these radii).
pub fn pairs(hashes: &[Hashes], max_phash: u32, max_dhash: u32, plan: &Plan) -> Vec<(u32, u32)> {
    let (key, other): (Vec<u64>, Vec<u64>) = hashes
        .iter()
        .map(|h| {
            if plan.key_is_dhash {
                (h.dhash, h.phash)
            } else {
                (h.phash, h.dhash)
            }
        })
        .unzip();
    let tables: Vec<Table> = (0..plan.radii.len())
        .into_par_iter()
        .map(|t| Table::build(&key, &other, t))
        .collect();
    let q = Join {
        tables: &tables,
        radii: &plan.radii,
        rule: if plan.key_is_dhash {
            (max_dhash, max_phash)
        } else {
            (max_phash, max_dhash)
        },
    };
    // One task per (block, mask): a pass over all buckets in order, whose
    // partners `b ^ mask` lie close by in memory too.
    let tasks: Vec<(usize, usize)> = (0..plan.radii.len())
        .flat_map(|t| {
            masks(plan.radii[t])
                .into_iter()
                .map(move |m| (t, usize::from(m)))
        })
        .collect();
    let mut out: Vec<(u32, u32)> = tasks
        .into_par_iter()
        .flat_map_iter(|(t, m)| {
            let mut found = Vec::new();
            q.join(t, m, &mut found);
            found
        })
        .collect();
    out.par_sort_unstable();
    out
}

/// The tables and the rule, for the bucket joins.
struct Join<'a> {
    tables: &'a [Table],
    radii: &'a [u32],
    /// Radius of the key hash, then of the other hash.
    rule: (u32, u32),
}

impl Join<'_> {
    /// The pairs within the rule with one image in bucket `b` and the other
    /// in bucket `b ^ m` of block `t`'s table, for every `b` (each unordered
    /// bucket pair once; `m == 0` pairs a bucket with itself), kept only
    /// when `t` is the first block on which they agree within its radius.
    fn join(&self, t: usize, m: usize, out: &mut Vec<(u32, u32)>) {
        let table = &self.tables[t];
        for b in 0..BUCKETS {
            let c = b ^ m;
            if c < b {
                continue;
            }
            let (lo, hi) = (table.start[b] as usize, table.start[b + 1] as usize);
            let (clo, chi) = (table.start[c] as usize, table.start[c + 1] as usize);
            for x in lo..hi {
                let (k, o, i) = (table.key[x], table.other[x], table.idx[x]);
                let from = if m == 0 { x + 1 } else { clo };
                for y in from..chi {
                    let kd = k ^ table.key[y];
                    if kd.count_ones() <= self.rule.0
                        && (o ^ table.other[y]).count_ones() <= self.rule.1
                        && self.first_block(kd) == t
                    {
                        let j = table.idx[y];
                        out.push((i.min(j), i.max(j)));
                    }
                }
            }
        }
    }

    /// The first block on which the key hashes (differing by `kd`) agree
    /// within that block's radius.
    #[inline]
    fn first_block(&self, kd: u64) -> usize {
        (0..self.radii.len())
            .find(|&t| (block(kd, t) as u16).count_ones() <= self.radii[t])
            .unwrap_or(usize::MAX)
    }
}
