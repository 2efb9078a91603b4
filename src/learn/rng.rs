//! The one seeded random generator used by clustering and classification
//! (xoshiro256+, the generator linfa itself uses), with the few sampling
//! helpers the jobs need. Same seed, same sequence, on every platform.

use rand_xoshiro::rand_core::{RngCore, SeedableRng};
pub use rand_xoshiro::Xoshiro256Plus as Rng;

/// A generator seeded from `seed`.
pub fn seeded(seed: u64) -> Rng {
    Rng::seed_from_u64(seed)
}

/// Uniform integer in `0..n` (`n > 0`), by rejection so that it is unbiased.
pub fn below(rng: &mut Rng, n: usize) -> usize {
    let n = n as u64;
    let zone = u64::MAX - u64::MAX % n;
    loop {
        let v = rng.next_u64();
        if v < zone {
            return (v % n) as usize;
        }
    }
}

/// Uniform float in `0..1` (53 random bits).
pub fn uniform(rng: &mut Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Fisher–Yates shuffle in place.
pub fn shuffle<T>(rng: &mut Rng, v: &mut [T]) {
    for i in (1..v.len()).rev() {
        let j = below(rng, i + 1);
        v.swap(i, j);
    }
}

/// `m` distinct indices of `0..n` in random order (all of them when `m >= n`).
pub fn sample_indices(rng: &mut Rng, n: usize, m: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    shuffle(rng, &mut idx);
    idx.truncate(m.min(n));
    idx
}
