//! Multi-index hashing (Norouzi, Punjani and Fleet) for the near-duplicate
//! hash pairs: the pairs [`hamming::pairs_exhaustive`] finds, without
//! comparing every pair.
//!
//! The hash with the smaller radius `r` (pHash unless dHash's is smaller)
//! is split into up to four disjoint 16-bit blocks with radii `r_t` whose
//! `r_t + 1` sum to `r + 1`: if two hashes differed by more than `r_t` on
//! every block they would differ by at least `r + 1` bits in all, so a
//! pair within `r` agrees to within `r_t` bits on some block `t`. Each
//! block gets a table of all images bucketed by its 16 bits; an image's
//! candidates on block `t` are the buckets within `r_t` bits of its own.
//! Every candidate is then checked against the whole rule (both hashes,
//! exactly), and kept only from the first block on which it qualifies, so
//! each pair comes out once. For the default radius 12 the blocks get radii
//! 3, 2, 2, 2: 1,108 buckets probed per image instead of a scan of all.
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

    /// Buckets probed per image: the 16-bit masks within each block's radius.
    pub fn probes(&self) -> u64 {
        self.radii.iter().map(|&r| ball_size(r)).sum()
    }

    /// Whether probing is expected to beat a scan of `n` hashes: a probe
    /// (a random access) is counted as four scanned entries, and a query
    /// also reads the bucket entries its probes hit.
    pub fn worth_it(&self, n: usize) -> bool {
        let n = n as f64;
        let probes = self.probes() as f64;
        let per_query = 4.0 * probes + probes * n / BUCKETS as f64;
        per_query < n / 2.0
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
    let masks: Vec<Vec<u16>> = plan.radii.iter().map(|&r| masks(r)).collect();
    let q = Query {
        tables: &tables,
        masks: &masks,
        radii: &plan.radii,
        rule: if plan.key_is_dhash {
            (max_dhash, max_phash)
        } else {
            (max_phash, max_dhash)
        },
    };
    let mut out: Vec<(u32, u32)> = (0..key.len())
        .into_par_iter()
        .with_min_len(1024)
        .flat_map_iter(|i| {
            let mut row = Vec::new();
            q.row(i as u32, key[i], other[i], &mut row);
            row
        })
        .collect();
    out.par_sort_unstable();
    out
}

/// What one image's probes need.
struct Query<'a> {
    tables: &'a [Table],
    masks: &'a [Vec<u16>],
    radii: &'a [u32],
    /// Radius of the key hash, then of the other hash.
    rule: (u32, u32),
}

impl Query<'_> {
    /// Pairs `(i, j)`, `j > i`, within the rule, each found on the first
    /// block where it agrees within that block's radius.
    fn row(&self, i: u32, k: u64, o: u64, out: &mut Vec<(u32, u32)>) {
        for (t, table) in self.tables.iter().enumerate() {
            let own = block(k, t);
            for &m in &self.masks[t] {
                let b = own ^ usize::from(m);
                let (lo, hi) = (table.start[b] as usize, table.start[b + 1] as usize);
                // Index order within a bucket: walk down to i.
                for s in (lo..hi).rev() {
                    let j = table.idx[s];
                    if j <= i {
                        break;
                    }
                    let kd = k ^ table.key[s];
                    if kd.count_ones() <= self.rule.0
                        && (o ^ table.other[s]).count_ones() <= self.rule.1
                        && self.first_block(kd) == t
                    {
                        out.push((i, j));
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
