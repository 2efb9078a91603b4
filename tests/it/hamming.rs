//! The hash candidate pairs of `dupes`: multi-index hashing must return
//! exactly the pairs of the quadratic reference scan, on seeded hashes with
//! planted near-duplicate clusters at every distance up to and past the
//! radius, with the differing bits spread evenly over the 16-bit blocks
//! (the pigeonhole's worst case) or piled into a few.

use imgdex::features::hash::hamming;
use imgdex::features::Hashes;
use imgdex::search::ann::SplitMix;
use imgdex::search::hamming::{pairs, pairs_exhaustive, HashRule};
use imgdex::search::mih::{self, Plan};

/// `h` with `d` distinct bits flipped: spread round-robin over the four
/// 16-bit blocks when `even`, else at random positions.
fn flip(h: u64, d: u32, even: bool, rng: &mut SplitMix) -> u64 {
    let mut mask = 0u64;
    let mut k = 0u32;
    while mask.count_ones() < d {
        let bit = if even {
            let b = 16 * (k % 4) + (rng.next_u64() % 16) as u32;
            k += u32::from(mask & (1 << b) == 0);
            b
        } else {
            (rng.next_u64() % 64) as u32
        };
        mask |= 1 << bit;
    }
    h ^ mask
}

/// `n` random hashes, then clusters of copies of some of them at pHash and
/// dHash distances 0..=20 (independently chosen).
fn generate(n: usize, seed: u64) -> Vec<Hashes> {
    let mut rng = SplitMix(seed);
    let mut out: Vec<Hashes> = (0..n)
        .map(|_| Hashes {
            phash: rng.next_u64(),
            dhash: rng.next_u64(),
            ahash: 0,
        })
        .collect();
    for c in 0..n / 4 {
        let centre = out[(rng.next_u64() % n as u64) as usize];
        for _ in 0..1 + c % 4 {
            let even = rng.next_u64().is_multiple_of(2);
            let (dp, dd) = ((rng.next_u64() % 21) as u32, (rng.next_u64() % 21) as u32);
            let copy = Hashes {
                phash: flip(centre.phash, dp, even, &mut rng),
                dhash: flip(centre.dhash, dd, even, &mut rng),
                ahash: 0,
            };
            // Interleave copies with the random hashes (index order matters
            // to which side of a pair finds it).
            let at = (rng.next_u64() % out.len() as u64) as usize;
            out.insert(at, copy);
        }
    }
    out
}

fn rule(max_phash: u32, max_dhash: u32) -> HashRule {
    HashRule {
        max_phash,
        max_dhash,
    }
}

#[test]
fn mih_pairs_equal_the_exhaustive_scan() {
    let hashes = generate(4000, 7);
    let rules = [
        rule(12, 12), // default
        rule(2, 2),   // strict
        rule(14, 14), // loose
        rule(0, 0),
        rule(3, 3),
        rule(12, 4), // tables on the dHash
        rule(5, 16),
        rule(20, 20),
    ];
    for r in rules {
        let want = pairs_exhaustive(&hashes, r);
        let plan = Plan::for_radii(r.max_phash, r.max_dhash).unwrap();
        let got = mih::pairs(&hashes, r.max_phash, r.max_dhash, &plan);
        assert_eq!(got, want, "rule {r:?}, plan {plan:?}");
        // The planted clusters put pairs right at the radius.
        let at_radius = want.iter().any(|&(a, b)| {
            let (x, y) = (hashes[a as usize], hashes[b as usize]);
            hamming(x.phash, y.phash) == r.max_phash || hamming(x.dhash, y.dhash) == r.max_dhash
        });
        assert!(at_radius, "no pair at the radius of {r:?}");
        assert_eq!(pairs(&hashes, r), want, "dispatch, rule {r:?}");
    }
}

#[test]
fn mih_blocks_share_the_radius() {
    // r + 1 bits of slack shared over at most four blocks.
    let p = Plan::for_radii(12, 12).unwrap();
    assert_eq!((p.key_is_dhash, p.radii.clone()), (false, vec![3, 2, 2, 2]));
    assert_eq!(p.probes(), 697 + 3 * 137);
    assert_eq!(Plan::for_radii(2, 9).unwrap().radii, vec![0, 0, 0]);
    assert!(Plan::for_radii(9, 2).unwrap().key_is_dhash);
    assert_eq!(Plan::for_radii(64, 64), None);
    // Too wide to prune at this size: the dispatcher scans.
    assert!(!Plan::for_radii(40, 40).unwrap().worth_it(200_000));
    assert!(p.worth_it(200_000));
}

#[test]
fn wide_rules_and_tiny_inputs_fall_back_to_the_scan() {
    let hashes = generate(300, 11);
    for r in [rule(64, 64), rule(40, 30), rule(12, 12)] {
        assert_eq!(pairs(&hashes, r), pairs_exhaustive(&hashes, r), "{r:?}");
    }
    let n = hashes.len();
    assert_eq!(pairs(&hashes, rule(64, 64)).len(), n * (n - 1) / 2);
    assert!(pairs(&[], rule(12, 12)).is_empty());
}
