//! Colour variants: two pictures with the same structure whose colours
//! were changed apart from a tone edit (a shiny sprite's palette swap, the
//! colour variants of one wallpaper). Luma detail cannot see them, so
//! `verify` also compares the stored 32×32 Cb/Cr grids, brought into
//! register by the alignment the detail search found.
//!
//! The measure is the hue turn where it can be read without the noise of
//! resampling and compression: pixels that are coloured in both images,
//! not clipped (a brightened copy's saturated highlights change hue when
//! one channel clips) and flat in both (inside a region of one colour, not
//! on an edge, where resizing and JPEG's halved chroma mix neighbours).
//! Brightness, contrast and saturation edits keep hue there; a palette
//! swap turns it. The mean turn (weighted by the weaker side's chroma) is
//! taken over the whole picture and without its top or bottom quarter (a
//! caption band), the smaller kept. When too few such pixels exist (a
//! photo of soft gradients, a tiny sprite), the cells of an 8×8 pooling
//! are compared instead, more tolerant of noise and so held to a looser
//! limit. Thresholds were chosen on the development sets (README,
//! "Copies and series").

use super::align::{Align, Grid, Pair};
use crate::features::signature::{Signature, CHROMA_SIDE};

/// Above this mean turn (degrees) over flat pixels, two colourful
/// pictures are colour variants.
pub const MAX_FLAT_TURN: f32 = 8.0;
/// The limit for the 8×8 pooled cells (noisier: edges mix into them).
pub const MAX_POOLED_TURN: f32 = 20.0;
/// A pixel (or pooled cell) has colour from this Cb/Cr magnitude.
const COLOURED: f32 = 20.0;
const POOLED_COLOURED: f32 = 4.0;
/// Largest RGB step to a neighbour (3×3) for a pixel to count as flat.
const FLAT: f32 = 60.0;
/// A channel from this level counts as clipped.
const CLIPPED: f32 = 250.0;
/// Fewer flat coloured pixels than this and the pooled cells decide.
const MIN_FLAT: usize = 6;
const POOL: usize = 8;

/// The hue turn between two pictures and the limit that applies to it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HueTurn {
    pub degrees: f32,
    pub limit: f32,
}

impl HueTurn {
    pub fn apart(&self) -> bool {
        self.degrees > self.limit
    }
}

/// Y, Cb, Cr grids (Cb, Cr centred on 0) of one side.
struct Ycc {
    y: Grid,
    cb: Grid,
    cr: Grid,
}

fn ycc(s: &Signature, luma: &Grid) -> Option<Ycc> {
    let n = CHROMA_SIDE;
    if s.chroma.len() != 2 * n * n || luma.n < n || !luma.n.is_multiple_of(n) {
        return None;
    }
    let plane = |k: usize| Grid {
        n,
        v: (0..n * n)
            .map(|c| f32::from(s.chroma[2 * c + k]) - 128.0)
            .collect(),
    };
    let mut y = luma.clone();
    while y.n > n {
        y = y.half();
    }
    Some(Ycc {
        y,
        cb: plane(0),
        cr: plane(1),
    })
}

/// The hue turn of A onto B under `al` (the alignment the detail search
/// found; `luma` the two signatures' luma grids); `None` when the two are
/// not both colourful.
pub(super) fn hue_turn(
    (a, b): (&Signature, &Signature),
    luma: (&Grid, &Grid),
    al: Align,
    aspects: (f32, f32),
) -> Option<HueTurn> {
    let (ya, yb) = (ycc(a, luma.0)?, ycc(b, luma.1)?);
    let aligned = |f: fn(&Ycc) -> &Grid| {
        let pair = Pair::new(f(&ya), f(&yb), aspects);
        let (x, y) = pair.apply(al);
        (x.into_owned(), y.into_owned())
    };
    let (y, cb, cr) = (aligned(|s| &s.y), aligned(|s| &s.cb), aligned(|s| &s.cr));
    let xa = Ycc {
        y: y.0,
        cb: cb.0,
        cr: cr.0,
    };
    let xb = Ycc {
        y: y.1,
        cb: cb.1,
        cr: cr.1,
    };
    match flat_turn(&xa, &xb) {
        Some(degrees) => Some(HueTurn {
            degrees,
            limit: MAX_FLAT_TURN,
        }),
        None => pooled_turn(&xa, &xb).map(|degrees| HueTurn {
            degrees,
            limit: MAX_POOLED_TURN,
        }),
    }
}

/// RGB of pixel `k` (NaN outside the picture).
fn rgb(s: &Ycc, k: usize) -> [f32; 3] {
    let (y, cb, cr) = (s.y.v[k], s.cb.v[k], s.cr.v[k]);
    [
        y + 1.402 * cr,
        y - 0.344_136 * cb - 0.714_136 * cr,
        y + 1.772 * cb,
    ]
}

/// Whether pixel (i, j) is defined, unclipped and within [`FLAT`] of its
/// eight neighbours.
fn flat(s: &Ycc, i: usize, j: usize) -> bool {
    let n = s.y.n;
    let c = rgb(s, j * n + i);
    if c.iter().any(|v| !v.is_finite() || *v >= CLIPPED) {
        return false;
    }
    let (i0, j0) = (i.saturating_sub(1), j.saturating_sub(1));
    (j0..=(j + 1).min(n - 1)).all(|q| {
        (i0..=(i + 1).min(n - 1)).all(|p| {
            let d = rgb(s, q * n + p);
            (0..3).all(|ch| (d[ch] - c[ch]).abs() < FLAT)
        })
    })
}

/// Hue (degrees) and chroma of (cb, cr).
fn hue(cb: f32, cr: f32) -> (f32, f32) {
    (cr.atan2(cb).to_degrees(), cb.hypot(cr))
}

fn turn(p: f32, q: f32) -> f32 {
    let t = (p - q).abs();
    t.min(360.0 - t)
}

/// Weighted mean turn over the flat coloured pixels, the whole picture or
/// without its top or bottom quarter, whichever is least; `None` below
/// [`MIN_FLAT`] such pixels.
fn flat_turn(a: &Ycc, b: &Ycc) -> Option<f32> {
    let n = a.y.n;
    let mut rows: Vec<(usize, f32, f32)> = Vec::new();
    for j in 0..n {
        for i in 0..n {
            let k = j * n + i;
            let ((ha, ca), (hb, cb)) = (hue(a.cb.v[k], a.cr.v[k]), hue(b.cb.v[k], b.cr.v[k]));
            let weight = ca.min(cb);
            if weight >= COLOURED && flat(a, i, j) && flat(b, i, j) {
                rows.push((j, turn(ha, hb), weight));
            }
        }
    }
    let mean = |keep: &dyn Fn(usize) -> bool| {
        let kept = rows.iter().filter(|r| keep(r.0));
        let (mut sum, mut total, mut count) = (0.0, 0.0, 0);
        for r in kept {
            (sum, total, count) = (sum + r.1 * r.2, total + r.2, count + 1);
        }
        (count >= MIN_FLAT).then(|| sum / total)
    };
    let quarter = n / 4;
    [
        mean(&|_| true),
        mean(&|j| j >= quarter),
        mean(&|j| j < n - quarter),
    ]
    .into_iter()
    .flatten()
    .min_by(f32::total_cmp)
}

/// Mean turn (weighted by the weaker chroma) over the 8×8 pooled cells
/// where both have colour, when at least four do.
fn pooled_turn(a: &Ycc, b: &Ycc) -> Option<f32> {
    let (pa, pb) = (pool(a), pool(b));
    let mut dists = Vec::new();
    for (p, q) in pa.iter().zip(&pb) {
        let ((hp, cp), (hq, cq)) = (hue(p.0, p.1), hue(q.0, q.1));
        let weight = cp.min(cq);
        if weight >= POOLED_COLOURED {
            dists.push((turn(hp, hq), weight));
        }
    }
    let total: f32 = dists.iter().map(|d| d.1).sum();
    (dists.len() >= 4).then(|| dists.iter().map(|d| d.0 * d.1).sum::<f32>() / total)
}

/// Mean (Cb, Cr) of each of `POOL`×`POOL` blocks, over defined pixels.
fn pool(s: &Ycc) -> Vec<(f32, f32)> {
    let n = s.cb.n;
    let side = n / POOL;
    let mut out = Vec::with_capacity(POOL * POOL);
    for bj in 0..POOL {
        for bi in 0..POOL {
            let (mut sb, mut sr, mut count) = (0.0, 0.0, 0.0);
            for j in bj * side..(bj + 1) * side {
                for i in bi * side..(bi + 1) * side {
                    let k = j * n + i;
                    if s.cb.v[k].is_finite() && s.cr.v[k].is_finite() {
                        (sb, sr, count) = (sb + s.cb.v[k], sr + s.cr.v[k], count + 1.0);
                    }
                }
            }
            out.push(match count > 0.0 {
                true => (sb / count, sr / count),
                false => (0.0, 0.0),
            });
        }
    }
    out
}
