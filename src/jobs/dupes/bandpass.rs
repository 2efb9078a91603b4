//! The filters verification compares detail through: a band-pass (a
//! [1 2 1]² blur minus three more of it: structure a few thumbnail pixels
//! wide, free of any tone curve) and the single blur that evens out the
//! softening a resampled side gets. Apart from `verify` so that the
//! decision reads apart from the arithmetic.

use super::grid::Grid;

/// Detail of a few pixels' size: b − blur³(b) where b = blur(g), NaN
/// pixels first filled with the mean (and masked again by the caller).
pub(super) fn band_pass(g: &Grid) -> Vec<f32> {
    let b = blur(&filled(g), g.n);
    let low = blur(&blur(&blur(&b, g.n), g.n), g.n);
    b.iter().zip(&low).map(|(b, l)| b - l).collect()
}

/// `g` blurred once, undefined pixels kept undefined.
pub(super) fn soften(g: &Grid) -> Grid {
    let v = blur(&filled(g), g.n)
        .into_iter()
        .zip(&g.v)
        .map(|(b, o)| if o.is_finite() { b } else { f32::NAN })
        .collect();
    Grid { n: g.n, v }
}

/// `g`'s values with undefined pixels replaced by the mean of the rest
/// (so a blur near them stays finite).
fn filled(g: &Grid) -> Vec<f32> {
    let (mut sum, mut count) = (0.0f32, 0usize);
    for &v in g.v.iter().filter(|v| v.is_finite()) {
        sum += v;
        count += 1;
    }
    if count == g.v.len() {
        return g.v.clone();
    }
    let fill = sum / count.max(1) as f32;
    g.v.iter()
        .map(|&v| if v.is_finite() { v } else { fill })
        .collect()
}

/// A [1 2 1]² binomial blur, edges repeated. Written row-wise (each
/// output row from three input rows, clamped at the edges) so it runs at
/// vector speed: it is most of the verification of a pair that needs no
/// alignment.
fn blur(v: &[f32], n: usize) -> Vec<f32> {
    let mut h = vec![0.0; n * n];
    for (row, out) in v.chunks_exact(n).zip(h.chunks_exact_mut(n)) {
        for i in 0..n {
            let (l, r) = (row[i.saturating_sub(1)], row[(i + 1).min(n - 1)]);
            out[i] = (l + 2.0 * row[i] + r) / 4.0;
        }
    }
    let mut out = vec![0.0; n * n];
    for (j, o) in out.chunks_exact_mut(n).enumerate() {
        let row = |k: usize| &h[k * n..(k + 1) * n];
        let (up, mid, down) = (row(j.saturating_sub(1)), row(j), row((j + 1).min(n - 1)));
        for i in 0..n {
            o[i] = (up[i] + 2.0 * mid[i] + down[i]) / 4.0;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The blur as defined: every pixel from its clamped neighbours.
    fn blur_by_definition(v: &[f32], n: usize) -> Vec<f32> {
        let at = |i: isize, j: isize, v: &[f32]| {
            let c = |k: isize| k.clamp(0, n as isize - 1) as usize;
            v[c(j) * n + c(i)]
        };
        let mut h = vec![0.0; n * n];
        for j in 0..n as isize {
            for i in 0..n as isize {
                h[j as usize * n + i as usize] =
                    (at(i - 1, j, v) + 2.0 * at(i, j, v) + at(i + 1, j, v)) / 4.0;
            }
        }
        (0..n * n)
            .map(|k| {
                let (i, j) = ((k % n) as isize, (k / n) as isize);
                (at(i, j - 1, &h) + 2.0 * at(i, j, &h) + at(i, j + 1, &h)) / 4.0
            })
            .collect()
    }

    #[test]
    fn the_row_wise_blur_is_the_blur_bit_for_bit() {
        for n in [16, 32, 64] {
            let v: Vec<f32> = (0..n * n)
                .map(|k| ((k * 7919) % 251) as f32 * 0.73)
                .collect();
            let (fast, slow) = (blur(&v, n), blur_by_definition(&v, n));
            assert!(fast
                .iter()
                .zip(&slow)
                .all(|(a, b)| a.to_bits() == b.to_bits()));
        }
    }
}
