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
    let finite: Vec<f32> = g.v.iter().copied().filter(|v| v.is_finite()).collect();
    let fill = finite.iter().sum::<f32>() / finite.len().max(1) as f32;
    g.v.iter()
        .map(|&v| if v.is_finite() { v } else { fill })
        .collect()
}

/// A [1 2 1]² binomial blur, edges repeated.
fn blur(v: &[f32], n: usize) -> Vec<f32> {
    let at = |i: isize, j: isize| {
        let c = |k: isize| k.clamp(0, n as isize - 1) as usize;
        v[c(j) * n + c(i)]
    };
    let mut h = vec![0.0; n * n];
    for j in 0..n as isize {
        for i in 0..n as isize {
            h[j as usize * n + i as usize] = (at(i - 1, j) + 2.0 * at(i, j) + at(i + 1, j)) / 4.0;
        }
    }
    let hat = |i: usize, j: isize| h[j.clamp(0, n as isize - 1) as usize * n + i];
    let mut out = vec![0.0; n * n];
    for j in 0..n as isize {
        for i in 0..n {
            out[j as usize * n + i] = (hat(i, j - 1) + 2.0 * hat(i, j) + hat(i, j + 1)) / 4.0;
        }
    }
    out
}
