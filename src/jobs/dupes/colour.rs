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
//! swap turns it. The mean turn is weighted by the weaker side's chroma.
//! When too few such pixels exist (a photo of soft gradients, a tiny
//! sprite), the cells of an 8×8 pooling are compared instead, more
//! tolerant of noise and so held to a looser limit. Thresholds were chosen on the development sets (README,
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

/// Weighted mean turn over the flat coloured pixels; `None` below
/// [`MIN_FLAT`] of them. The whole picture counts: leaving out a quarter
/// of it (a caption band, as the detail score may) kept the copies of the
/// development sets no closer and let a palette swap confined to that
/// quarter pass (a sprite's coloured stripes).
fn flat_turn(a: &Ycc, b: &Ycc) -> Option<f32> {
    let n = a.y.n;
    let turns = (0..n * n).filter_map(|k| {
        let (i, j) = (k % n, k / n);
        let t = weighted_turn((a.cb.v[k], a.cr.v[k]), (b.cb.v[k], b.cr.v[k]), COLOURED)?;
        (flat(a, i, j) && flat(b, i, j)).then_some(t)
    });
    mean_turn(turns, MIN_FLAT)
}

/// The hue turn between two (Cb, Cr) values and its weight (the weaker
/// chroma), when both reach `coloured`.
fn weighted_turn(p: (f32, f32), q: (f32, f32), coloured: f32) -> Option<(f32, f32)> {
    let ((hp, cp), (hq, cq)) = (hue(p.0, p.1), hue(q.0, q.1));
    let weight = cp.min(cq);
    (weight >= coloured).then(|| (turn(hp, hq), weight))
}

/// Weighted mean of `(turn, weight)`s; `None` below `min_count` of them.
fn mean_turn(turns: impl Iterator<Item = (f32, f32)>, min_count: usize) -> Option<f32> {
    let (mut sum, mut total, mut count) = (0.0, 0.0, 0);
    for (t, w) in turns {
        (sum, total, count) = (sum + t * w, total + w, count + 1);
    }
    (count >= min_count).then(|| sum / total)
}

/// Mean turn (weighted by the weaker chroma) over the 8×8 pooled cells
/// where both have colour, when at least four do.
fn pooled_turn(a: &Ycc, b: &Ycc) -> Option<f32> {
    let (pa, pb) = (pool(a), pool(b));
    let turns = pa
        .iter()
        .zip(&pb)
        .filter_map(|(p, q)| weighted_turn(*p, *q, POOLED_COLOURED));
    mean_turn(turns, 4)
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

#[cfg(test)]
mod tests {
    use super::super::align::IDENTITY;
    use super::*;
    use crate::features::signature::SIDE;

    /// A signature of the 64×64 picture `rgb(x, y)` (chroma 2×2-averaged).
    fn signature(rgb: impl Fn(usize, usize) -> [f32; 3]) -> (Signature, Grid) {
        let y = |p: [f32; 3]| 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
        let luma: Vec<u8> = (0..SIDE * SIDE)
            .map(|k| y(rgb(k % SIDE, k / SIDE)).round() as u8)
            .collect();
        let mut chroma = Vec::new();
        for c in 0..CHROMA_SIDE * CHROMA_SIDE {
            let (cx, cy) = (2 * (c % CHROMA_SIDE), 2 * (c / CHROMA_SIDE));
            let p = rgb(cx, cy);
            let (cb, cr) = (
                -0.168_736 * p[0] - 0.331_264 * p[1] + 0.5 * p[2],
                0.5 * p[0] - 0.418_688 * p[1] - 0.081_312 * p[2],
            );
            chroma.extend([(128.0 + cb).round() as u8, (128.0 + cr).round() as u8]);
        }
        let grid = Grid::from_u8(SIDE, &luma).unwrap();
        let sig = Signature {
            luma,
            width: 64,
            height: 64,
            chroma,
            edits: Default::default(),
            palette: None,
        };
        (sig, grid)
    }

    /// Orange on the left, `right` on the right, edited by `edit`.
    fn halves(right: [f32; 3], edit: impl Fn([f32; 3]) -> [f32; 3]) -> (Signature, Grid) {
        signature(|x, _| edit(if x < 32 { [230.0, 120.0, 40.0] } else { right }))
    }

    fn turn_of(a: &(Signature, Grid), b: &(Signature, Grid)) -> HueTurn {
        hue_turn((&a.0, &b.0), (&a.1, &b.1), IDENTITY, (1.0, 1.0)).expect("both colourful")
    }

    #[test]
    fn a_palette_swap_turns_hue_and_tone_edits_do_not() {
        let blue = [30.0, 70.0, 170.0];
        let original = halves(blue, |p| p);
        let saturated = halves(blue, |p| {
            let y = 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
            p.map(|c| (y + 1.3 * (c - y)).clamp(0.0, 255.0))
        });
        // Brighter: the orange's red clips at 255 (its hue moves), so
        // those pixels are not read; the blue is.
        let brighter = halves(blue, |p| p.map(|c| (c * 1.3).min(255.0)));
        let swapped = halves([40.0, 170.0, 90.0], |p| p);
        for copy in [&saturated, &brighter] {
            let t = turn_of(&original, copy);
            assert!(!t.apart(), "{t:?}");
            assert_eq!(t.limit, MAX_FLAT_TURN, "{t:?}");
        }
        let t = turn_of(&original, &swapped);
        assert!(t.apart(), "{t:?}");
    }

    #[test]
    fn clipped_pixels_are_not_read() {
        let orange = |p: [f32; 3]| p;
        let a = signature(|_, _| orange([230.0, 120.0, 40.0]));
        let b = signature(|_, _| [255.0, 156.0, 52.0]);
        // Only clipped pixels: nothing flat to read, the pooled cells
        // decide, under their looser limit.
        assert_eq!(turn_of(&a, &b).limit, MAX_POOLED_TURN);
    }
}
