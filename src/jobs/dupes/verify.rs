//! Verification: is a candidate pair two copies of one capture, or two
//! captures of one scene (the next frame, another pose)? Hashes and CNN
//! neighbours cannot tell: both are built to ignore exactly the small
//! differences that separate two shots. This stage looks at the stored
//! 32×32 luma thumbnails of the pair's content views (`features::signature`):
//!
//! 1. **Align**: of the mirror (none / horizontal), a centred or shifted
//!    crop window of either image (side 75–100%), or a rotation by a few
//!    degrees, keep the one whose linear tone fit leaves the least residual.
//! 2. **Photometric fit**: map the first image's tones onto the second's by
//!    rank (any monotone curve: brightness, contrast, gamma, clipping,
//!    greyscale all fit; structure cannot be invented by it).
//! 3. **Local structure**: the residual, in units of the second image's
//!    contrast, on a 4×4 grid of cells inside a 2-pixel margin; the score
//!    is the worst cell, once with every cell and once without the top or
//!    the bottom quarter (an overlay band such as a caption), the lower
//!    taken. Copies change nothing locally; other captures move something.
//!
//! A pair scoring at most [`MAX_LOCAL`] is a copy; above it, a *series*
//! pair (similar shots). A colour check on the 8×8 chroma grids keeps
//! colour variants (a shiny sprite, a recoloured wallpaper) apart when
//! both images are colourful. Thresholds were chosen on the development
//! sets (README, "Copies and series").

use crate::features::signature::{Signature, CHROMA_SIDE, SIDE};

/// Worst-cell residual (in standard deviations of the image) up to which a
/// pair is a copy.
pub const MAX_LOCAL: f32 = 0.45;
/// Mean hue turn (degrees, over cells where both images have colour)
/// above which two colourful images are colour variants. Hue, not chroma:
/// brightness, contrast and saturation edits scale chroma but keep hue.
pub const MAX_CHROMA: f32 = 20.0;
/// A cell has colour when its chroma is this far from neutral.
const COLOURFUL: f32 = 4.0;

const N: usize = SIDE;
const MARGIN: usize = 2;
const CELLS: usize = 4;

/// What verification found about one pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// Worst-cell residual after alignment and tone fit.
    pub local: f32,
    /// Mean hue turn in degrees, when both images are colourful.
    pub chroma: Option<f32>,
}

impl Verdict {
    /// Copies of one capture (not a series pair, not a colour variant).
    pub fn copy(&self, colour_variants_apart: bool) -> bool {
        self.local <= MAX_LOCAL
            && !(colour_variants_apart && self.chroma.is_some_and(|c| c > MAX_CHROMA))
    }
}

type Grid = Vec<f32>;

fn grid(s: &Signature) -> Option<Grid> {
    (s.luma.len() == N * N).then(|| s.luma.iter().map(|&v| f32::from(v)).collect())
}

/// Verify a pair by its signatures; `None` when either lacks a usable one.
pub fn verify(a: &Signature, b: &Signature) -> Option<Verdict> {
    let (ga, gb) = (grid(a)?, grid(b)?);
    let (local, flip) = local_change(&ga, &gb);
    Some(Verdict {
        local,
        chroma: chroma_distance(a, b, flip),
    })
}

/// The alignment of image A onto B (B may be cropped instead of A).
#[derive(Debug, Clone, Copy)]
struct Align {
    flip: bool,
    /// Crop window side (fraction), and which image it applies to.
    scale: f32,
    crop_b: bool,
    /// Window offset as a fraction of the slack, -1..1.
    ox: f32,
    oy: f32,
    /// Rotation of A, degrees.
    deg: f32,
}

const IDENTITY: Align = Align {
    flip: false,
    scale: 1.0,
    crop_b: false,
    ox: 0.0,
    oy: 0.0,
    deg: 0.0,
};

/// The worst-cell score, and whether the best alignment mirrors A.
fn local_change(ga: &Grid, gb: &Grid) -> (f32, bool) {
    let (flat_a, flat_b) = (std_dev(ga) < 2.0, std_dev(gb) < 2.0);
    if flat_a || flat_b {
        let same = flat_a && flat_b && (mean(ga) - mean(gb)).abs() < 8.0;
        return (if same { 0.0 } else { f32::INFINITY }, false);
    }
    let al = best_alignment(ga, gb);
    let (x, y) = apply(ga, gb, al);
    // Resampling blurs the resampled side a little: blur the other alike,
    // so a crop or rotation is not mistaken for lost structure.
    let (x, y) = match (al.scale < 1.0 || al.deg != 0.0, al.crop_b) {
        (false, _) => (x, y),
        (true, false) => (x, soften(&y)),
        (true, true) => (soften(&x), y),
    };
    let mut best = f32::INFINITY;
    for band in [Band::None, Band::Top, Band::Bottom] {
        best = best.min(worst_cell(&x, &y, band));
    }
    (best, al.flip)
}

/// The alignment with the least linear-fit residual: a coarse search over
/// mirror, crop scale and rotation, then offsets and finer scales around
/// the best crop.
fn best_alignment(ga: &Grid, gb: &Grid) -> Align {
    let best = std::cell::Cell::new((f32::INFINITY, IDENTITY));
    let consider = |al: Align| {
        let (x, y) = apply(ga, gb, al);
        let r = linear_residual(&x, &y);
        if r < best.get().0 {
            best.set((r, al));
        }
    };
    for flip in [false, true] {
        let base = Align { flip, ..IDENTITY };
        consider(base);
        for deg in [-6.0, -5.0, -4.0, -3.0, -2.0, 2.0, 3.0, 4.0, 5.0, 6.0] {
            consider(Align { deg, ..base });
        }
        for crop_b in [false, true] {
            for scale in [0.95, 0.9, 0.85, 0.8, 0.75] {
                consider(Align {
                    scale,
                    crop_b,
                    ..base
                });
            }
        }
    }
    let coarse = best.get().1;
    if coarse.scale < 1.0 {
        for ds in [-0.03, -0.015, 0.0, 0.015, 0.03] {
            let scale = (coarse.scale + ds).min(0.99);
            for ox in [-1.0, -0.5, 0.0, 0.5, 1.0] {
                for oy in [-1.0, -0.5, 0.0, 0.5, 1.0] {
                    consider(Align {
                        scale,
                        ox,
                        oy,
                        ..coarse
                    });
                }
            }
        }
    }
    best.get().1
}

/// A and B resampled under `al` (NaN where a rotation leaves no pixel).
fn apply(ga: &Grid, gb: &Grid, al: Align) -> (Grid, Grid) {
    let a = if al.flip { mirror(ga) } else { ga.clone() };
    let a = if al.deg != 0.0 { rotate(&a, al.deg) } else { a };
    if al.scale >= 1.0 {
        (a, gb.clone())
    } else if al.crop_b {
        (a, window(gb, al.scale, al.ox, al.oy))
    } else {
        (window(&a, al.scale, al.ox, al.oy), gb.clone())
    }
}

/// A [1 2 1]² binomial blur (NaN pixels stay NaN; edges use what exists).
fn soften(g: &Grid) -> Grid {
    let mut out = g.clone();
    for j in 0..N {
        for i in 0..N {
            if !g[j * N + i].is_finite() {
                continue;
            }
            let (mut sum, mut weight) = (0.0, 0.0);
            for dj in -1i32..=1 {
                for di in -1i32..=1 {
                    let (x, y) = (i as i32 + di, j as i32 + dj);
                    if x < 0 || y < 0 || x >= N as i32 || y >= N as i32 {
                        continue;
                    }
                    let v = g[y as usize * N + x as usize];
                    if v.is_finite() {
                        let w = f32::from((2 - di.abs() as u8) * (2 - dj.abs() as u8));
                        sum += w * v;
                        weight += w;
                    }
                }
            }
            out[j * N + i] = sum / weight;
        }
    }
    out
}

fn mirror(g: &Grid) -> Grid {
    g.chunks_exact(N)
        .flat_map(|row| row.iter().rev().copied())
        .collect()
}

/// Bilinear sample at (x, y) in pixel-centre coordinates; NaN outside.
fn sample(g: &Grid, x: f32, y: f32) -> f32 {
    let last = (N - 1) as f32;
    if !(-0.5..=last + 0.5).contains(&x) || !(-0.5..=last + 0.5).contains(&y) {
        return f32::NAN;
    }
    let (x, y) = (x.clamp(0.0, last), y.clamp(0.0, last));
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(N - 1), (y0 + 1).min(N - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let top = g[y0 * N + x0] * (1.0 - fx) + g[y0 * N + x1] * fx;
    let bottom = g[y1 * N + x0] * (1.0 - fx) + g[y1 * N + x1] * fx;
    top * (1.0 - fy) + bottom * fy
}

/// The window of side `s` (fraction), offset by (`ox`, `oy`) of the slack,
/// resampled to the full grid.
fn window(g: &Grid, s: f32, ox: f32, oy: f32) -> Grid {
    let m = N as f32 * s;
    let slack = (N as f32 - m) / 2.0;
    let (x0, y0) = (slack * (1.0 + ox), slack * (1.0 + oy));
    let step = m / N as f32;
    let mut out = Vec::with_capacity(N * N);
    for j in 0..N {
        for i in 0..N {
            let x = x0 + (i as f32 + 0.5) * step - 0.5;
            let y = y0 + (j as f32 + 0.5) * step - 0.5;
            out.push(sample(g, x, y));
        }
    }
    out
}

fn rotate(g: &Grid, deg: f32) -> Grid {
    let (s, c) = deg.to_radians().sin_cos();
    let centre = (N as f32 - 1.0) / 2.0;
    let mut out = Vec::with_capacity(N * N);
    for j in 0..N {
        for i in 0..N {
            let (dx, dy) = (i as f32 - centre, j as f32 - centre);
            out.push(sample(g, c * dx + s * dy + centre, -s * dx + c * dy + centre));
        }
    }
    out
}

/// The core cells' positions (inside the margin), where both are defined.
fn core<'a>(x: &'a Grid, y: &'a Grid) -> impl Iterator<Item = (usize, f32, f32)> + 'a {
    (0..N * N).filter_map(move |k| {
        let (i, j) = (k % N, k / N);
        let inside = (MARGIN..N - MARGIN).contains(&i) && (MARGIN..N - MARGIN).contains(&j);
        (inside && x[k].is_finite() && y[k].is_finite()).then_some((k, x[k], y[k]))
    })
}

/// RMS residual of the least-squares line y ≈ a·x + b, in units of y's
/// spread (infinite for a negative or degenerate fit).
fn linear_residual(x: &Grid, y: &Grid) -> f32 {
    let pts: Vec<(f32, f32)> = core(x, y).map(|(_, a, b)| (a, b)).collect();
    let n = pts.len() as f32;
    if n < 64.0 {
        return f32::INFINITY;
    }
    let (mx, my) = (
        pts.iter().map(|p| p.0).sum::<f32>() / n,
        pts.iter().map(|p| p.1).sum::<f32>() / n,
    );
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    for &(a, b) in &pts {
        sxx += (a - mx) * (a - mx);
        sxy += (a - mx) * (b - my);
        syy += (b - my) * (b - my);
    }
    if sxx <= 0.0 || syy <= 0.0 || sxy <= 0.0 {
        return f32::INFINITY;
    }
    ((syy - sxy * sxy / sxx).max(0.0) / syy).sqrt()
}

#[derive(Clone, Copy, PartialEq)]
enum Band {
    None,
    Top,
    Bottom,
}

/// The worst cell's RMS residual after a rank tone map of x onto y over
/// the core (less the band), in units of y's standard deviation there.
fn worst_cell(x: &Grid, y: &Grid, band: Band) -> f32 {
    let rows = N - 2 * MARGIN;
    let cell = rows / CELLS;
    let keep = |k: usize| {
        let r = (k / N).saturating_sub(MARGIN) / cell;
        match band {
            Band::None => true,
            Band::Top => r > 0,
            Band::Bottom => r < CELLS - 1,
        }
    };
    let pts: Vec<(usize, f32, f32)> = core(x, y).filter(|p| keep(p.0)).collect();
    if pts.len() < 64 {
        return f32::INFINITY;
    }
    let mapped = rank_map(&pts);
    let ys: Vec<f32> = pts.iter().map(|p| p.2).collect();
    let sd = std_dev(&ys).max(1.0);
    let mut sums = [[0.0f32; 2]; CELLS * CELLS];
    for ((k, _, yv), m) in pts.iter().zip(&mapped) {
        let (ci, cj) = ((k % N - MARGIN) / cell, (k / N - MARGIN) / cell);
        let s = &mut sums[cj.min(CELLS - 1) * CELLS + ci.min(CELLS - 1)];
        s[0] += ((yv - m) / sd).powi(2);
        s[1] += 1.0;
    }
    sums.iter()
        .filter(|s| s[1] >= 8.0)
        .map(|s| (s[0] / s[1]).sqrt())
        .fold(0.0, f32::max)
}

/// x's values replaced by y's of the same rank: the monotone tone curve
/// that best maps one onto the other.
fn rank_map(pts: &[(usize, f32, f32)]) -> Vec<f32> {
    let mut order: Vec<usize> = (0..pts.len()).collect();
    order.sort_by(|&i, &j| pts[i].1.total_cmp(&pts[j].1));
    let mut ys: Vec<f32> = pts.iter().map(|p| p.2).collect();
    ys.sort_by(f32::total_cmp);
    let mut out = vec![0.0; pts.len()];
    for (rank, &i) in order.iter().enumerate() {
        out[i] = ys[rank];
    }
    out
}

fn mean(v: &[f32]) -> f32 {
    v.iter().sum::<f32>() / v.len().max(1) as f32
}

fn std_dev(v: &[f32]) -> f32 {
    let m = mean(v);
    (v.iter().map(|x| (x - m) * (x - m)).sum::<f32>() / v.len().max(1) as f32).sqrt()
}

/// Mean hue turn (degrees, weighted by the weaker side's chroma, so
/// near-neutral cells count little) over the cells where both images have
/// colour, when
/// at least four cells do (A's grid mirrored when the alignment mirrors
/// it); else the images are not both colourful and colour says nothing.
fn chroma_distance(a: &Signature, b: &Signature, flip: bool) -> Option<f32> {
    let cells = CHROMA_SIDE * CHROMA_SIDE;
    if a.chroma.len() != 2 * cells || b.chroma.len() != 2 * cells {
        return None;
    }
    let at = |s: &Signature, c: usize| {
        (
            f32::from(s.chroma[2 * c]) - 128.0,
            f32::from(s.chroma[2 * c + 1]) - 128.0,
        )
    };
    let mut dists = Vec::new();
    for c in 0..cells {
        let (row, col) = (c / CHROMA_SIDE, c % CHROMA_SIDE);
        let from = if flip { row * CHROMA_SIDE + CHROMA_SIDE - 1 - col } else { c };
        let (p, q) = (at(a, from), at(b, c));
        let weight = p.0.hypot(p.1).min(q.0.hypot(q.1));
        if weight >= COLOURFUL {
            let turn = (p.1.atan2(p.0) - q.1.atan2(q.0)).abs().to_degrees();
            dists.push((turn.min(360.0 - turn), weight));
        }
    }
    let total: f32 = dists.iter().map(|d| d.1).sum();
    (dists.len() >= 4).then(|| dists.iter().map(|d| d.0 * d.1).sum::<f32>() / total)
}
