//! Aligning two luma thumbnails before `verify` compares their detail:
//! copies are often mirrored, cropped, rotated by a few degrees or framed
//! (the frame is already trimmed), so the pair is first brought into
//! register. The search runs on half-resolution grids (cheap) and finds
//! the mirror, crop window (of either image, side 75–100%, centred, then
//! shifted and rescaled around the best) or
//! rotation whose linear tone fit leaves the least residual over the best
//! three quarters of a 4×4 grid of cells, so that an overlay band (a
//! caption) does not pull the search towards a crop that hides it.
//! Rotation is done in the picture's true proportions (the grids are
//! square, the pictures are not).

use std::borrow::Cow;

pub(super) use super::grid::Grid;

/// How image A is brought onto image B (B may be cropped instead of A).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Align {
    pub flip: bool,
    /// Crop window side (fraction), and which image it applies to.
    pub scale: f32,
    pub crop_b: bool,
    /// Window offset as a fraction of the slack, -1..1.
    pub ox: f32,
    pub oy: f32,
    /// Rotation of A, degrees.
    pub deg: f32,
}

pub(super) const IDENTITY: Align = Align {
    flip: false,
    scale: 1.0,
    crop_b: false,
    ox: 0.0,
    oy: 0.0,
    deg: 0.0,
};

/// A pair being aligned: A (and A mirrored, made once, since half the
/// alignments tried mirror it) and B; `aspect` is A's width / height.
pub(super) struct Pair<'g> {
    a: &'g Grid,
    mirrored: Grid,
    b: &'g Grid,
    aspect: f32,
}

impl<'g> Pair<'g> {
    pub fn new(a: &'g Grid, b: &'g Grid, aspect: f32) -> Pair<'g> {
        Pair {
            a,
            mirrored: a.mirror(),
            b,
            aspect,
        }
    }

    /// A and B resampled under `al` (borrowed where `al` leaves one as is).
    pub fn apply(&self, al: Align) -> (Cow<'_, Grid>, Cow<'_, Grid>) {
        let a = if al.flip { &self.mirrored } else { self.a };
        let a = match al.deg != 0.0 {
            true => Cow::Owned(a.rotate(al.deg, self.aspect)),
            false => Cow::Borrowed(a),
        };
        if al.scale >= 1.0 {
            (a, Cow::Borrowed(self.b))
        } else if al.crop_b {
            (a, Cow::Owned(self.b.window(al.scale, al.ox, al.oy)))
        } else {
            (
                Cow::Owned(a.window(al.scale, al.ox, al.oy)),
                Cow::Borrowed(self.b),
            )
        }
    }

    fn residual(&self, al: Align) -> f32 {
        let (x, y) = self.apply(al);
        robust_residual(&x, &y)
    }
}

/// The alignment with the least robust residual: a coarse search over
/// mirror, rotation and crop windows, then finer scales and offsets
/// around the best crop (or finer angles around the best rotation).
pub(super) fn best_alignment(pair: &Pair) -> Align {
    let best = std::cell::Cell::new((f32::INFINITY, IDENTITY));
    let consider = |al: Align| {
        let r = pair.residual(al);
        if r < best.get().0 {
            best.set((r, al));
        }
    };
    coarse_alignments().for_each(consider);
    let coarse = best.get().1;
    if coarse.scale < 1.0 {
        for k in -2..=2 {
            let scale = (coarse.scale + k as f32 * 0.0125).min(0.995);
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
    } else if coarse.deg != 0.0 {
        for d in [-0.5, 0.5] {
            consider(Align {
                deg: coarse.deg + d,
                ..coarse
            });
        }
    }
    best.get().1
}

/// The coarse search's alignments: as is, rotated, or a centred crop
/// window of either image; each also mirrored.
fn coarse_alignments() -> impl Iterator<Item = Align> {
    const DEGREES: [f32; 10] = [-6.0, -5.0, -4.0, -3.0, -2.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    const SCALES: [f32; 5] = [0.95, 0.9, 0.85, 0.8, 0.75];
    [false, true].into_iter().flat_map(|flip| {
        let base = Align { flip, ..IDENTITY };
        let turned = DEGREES.into_iter().map(move |deg| Align { deg, ..base });
        let cropped = [false, true].into_iter().flat_map(move |crop_b| {
            SCALES.into_iter().map(move |scale| Align {
                scale,
                crop_b,
                ..base
            })
        });
        std::iter::once(base).chain(turned).chain(cropped)
    })
}

/// `al` (found on the half-resolution grids) refined on the full grids:
/// a crop window's scale and offset, or a rotation's angle, in steps
/// finer than a half-resolution pixel.
pub(super) fn refine(pair: &Pair, al: Align) -> Align {
    let mut best = (pair.residual(al), al);
    let mut consider = |c: Align| {
        let r = pair.residual(c);
        if r < best.0 {
            best = (r, c);
        }
    };
    const FINE: [f32; 3] = [-0.2, 0.0, 0.2];
    if al.scale < 1.0 {
        for ds in [-0.005, 0.0, 0.005] {
            for dx in FINE {
                for dy in FINE {
                    consider(Align {
                        scale: (al.scale + ds).min(0.998),
                        ox: (al.ox + dx).clamp(-1.0, 1.0),
                        oy: (al.oy + dy).clamp(-1.0, 1.0),
                        ..al
                    });
                }
            }
        }
    } else if al.deg != 0.0 {
        for dd in [-0.25, 0.25] {
            consider(Align {
                deg: al.deg + dd,
                ..al
            });
        }
    }
    best.1
}

/// Cells per side of the residual grid.
const CELLS: usize = 4;

/// RMS residual of the least-squares line y ≈ a·x + b (a > 0) in units of
/// y's variance, over the cells of a 4×4 grid less the worst quarter;
/// infinite when too little overlaps or the fit is degenerate. Called for
/// every candidate alignment, so it is one pass over the grids gathering
/// each cell's moments, from which the global fit and every cell's
/// residual follow.
pub(super) fn robust_residual(x: &Grid, y: &Grid) -> f32 {
    let moments = cell_moments(x, y);
    let all = moments.iter().fold(Moments::default(), |t, c| t.plus(c));
    if all.n < 64.0 {
        return f32::INFINITY;
    }
    let (mx, my) = (all.sa / all.n, all.sb / all.n);
    let (sxx, sxy, syy) = all.centred(mx, my);
    if sxx <= 0.0 || syy <= 0.0 || sxy <= 0.0 {
        return f32::INFINITY;
    }
    let (slope, var) = (sxy / sxx, syy / all.n);
    let mut cells = [[0.0f32; 2]; CELLS * CELLS];
    for (cell, m) in cells.iter_mut().zip(&moments) {
        let (cxx, cxy, cyy) = m.centred(mx, my);
        let r2 = cyy - 2.0 * slope * cxy + slope * slope * cxx;
        *cell = [(r2 / var).max(0.0) as f32, m.n as f32];
    }
    trimmed_mean_cells(&cells, x.n / CELLS)
}

/// Sums over the pixels of one cell where both grids are defined.
#[derive(Debug, Default, Clone, Copy)]
struct Moments {
    n: f64,
    sa: f64,
    sb: f64,
    saa: f64,
    sab: f64,
    sbb: f64,
}

impl Moments {
    fn plus(self, o: &Moments) -> Moments {
        Moments {
            n: self.n + o.n,
            sa: self.sa + o.sa,
            sb: self.sb + o.sb,
            saa: self.saa + o.saa,
            sab: self.sab + o.sab,
            sbb: self.sbb + o.sbb,
        }
    }

    /// Σ(a−mx)², Σ(a−mx)(b−my), Σ(b−my)² over the cell.
    fn centred(&self, mx: f64, my: f64) -> (f64, f64, f64) {
        (
            self.saa - 2.0 * mx * self.sa + self.n * mx * mx,
            self.sab - mx * self.sb - my * self.sa + self.n * mx * my,
            self.sbb - 2.0 * my * self.sb + self.n * my * my,
        )
    }
}

/// Each cell's moments, over the pixels inside the margin (n/16).
fn cell_moments(x: &Grid, y: &Grid) -> [Moments; CELLS * CELLS] {
    let n = x.n;
    let (margin, side) = (n / 16, n / CELLS);
    let mut cells = [Moments::default(); CELLS * CELLS];
    for j in margin..n - margin {
        let row = (j / side).min(CELLS - 1) * CELLS;
        for ci in 0..CELLS {
            let lo = (ci * side).max(margin);
            let hi = if ci == CELLS - 1 {
                n - margin
            } else {
                (ci + 1) * side
            };
            // Sums of one row's stretch in f32 (at most 16 values of at
            // most 255², exact enough), added to the cell in f64.
            let (mut c, mut sa, mut sb, mut saa, mut sab, mut sbb) =
                (0u32, 0.0f32, 0.0, 0.0, 0.0, 0.0);
            for (&a, &b) in x.v[j * n + lo..j * n + hi]
                .iter()
                .zip(&y.v[j * n + lo..j * n + hi])
            {
                if a.is_finite() && b.is_finite() {
                    (c, sa, sb) = (c + 1, sa + a, sb + b);
                    (saa, sab, sbb) = (saa + a * a, sab + a * b, sbb + b * b);
                }
            }
            let m = &mut cells[row + ci];
            *m = m.plus(&Moments {
                n: f64::from(c),
                sa: f64::from(sa),
                sb: f64::from(sb),
                saa: f64::from(saa),
                sab: f64::from(sab),
                sbb: f64::from(sbb),
            });
        }
    }
    cells
}

/// The root of the mean cell residual over the cells with a quarter of
/// their pixels or more, less the worst quarter of them.
fn trimmed_mean_cells(cells: &[[f32; 2]; CELLS * CELLS], side: usize) -> f32 {
    let mut means = [0.0f32; CELLS * CELLS];
    let mut m = 0;
    for c in cells.iter().filter(|c| c[1] >= (side * side / 4) as f32) {
        means[m] = c[0] / c[1];
        m += 1;
    }
    if m < CELLS * CELLS / 2 {
        return f32::INFINITY;
    }
    let means = &mut means[..m];
    means.sort_by(f32::total_cmp);
    let keep = m - m / 4;
    (means[..keep].iter().sum::<f32>() / keep as f32).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(n: usize) -> Grid {
        let v = (0..n * n)
            .map(|k| {
                let (x, y) = ((k % n) as f32, (k / n) as f32);
                128.0
                    + 60.0 * (x * 0.37).sin() * (y * 0.21 + 1.0).cos()
                    + 20.0 * ((x + 2.0 * y) * 0.11).sin()
            })
            .collect();
        Grid { n, v }
    }

    #[test]
    fn a_mirrored_and_a_cropped_copy_are_found() {
        let a = pattern(32);
        let m = a.mirror();
        let al = best_alignment(&Pair::new(&a, &m, 1.0));
        assert!(al.flip && al.scale == 1.0 && al.deg == 0.0, "{al:?}");
        let crop = a.window(0.85, 0.0, 0.0);
        let al = best_alignment(&Pair::new(&a, &crop, 1.0));
        assert!(
            !al.flip && !al.crop_b && (al.scale - 0.85).abs() < 0.02,
            "{al:?}"
        );
    }

    #[test]
    fn a_rotation_is_undone_in_the_pictures_proportions() {
        let a = pattern(32);
        let b = a.rotate(4.0, 1.5);
        let al = best_alignment(&Pair::new(&a, &b, 1.5));
        assert!((al.deg - 4.0).abs() <= 0.5 && !al.flip, "{al:?}");
    }

    /// The residual the way it reads: fit the line over every defined
    /// pixel, then each cell's mean squared residual (in units of y's
    /// variance), the worst quarter of cells dropped.
    fn residual_by_definition(x: &Grid, y: &Grid) -> f32 {
        let n = x.n;
        let (margin, side) = (n / 16, n / CELLS);
        let px: Vec<(usize, f64, f64)> = (margin..n - margin)
            .flat_map(|j| (margin..n - margin).map(move |i| j * n + i))
            .filter(|&k| x.v[k].is_finite() && y.v[k].is_finite())
            .map(|k| (k, f64::from(x.v[k]), f64::from(y.v[k])))
            .collect();
        let count = px.len() as f64;
        let mx = px.iter().map(|p| p.1).sum::<f64>() / count;
        let my = px.iter().map(|p| p.2).sum::<f64>() / count;
        let sxx: f64 = px.iter().map(|p| (p.1 - mx).powi(2)).sum();
        let sxy: f64 = px.iter().map(|p| (p.1 - mx) * (p.2 - my)).sum();
        let var = px.iter().map(|p| (p.2 - my).powi(2)).sum::<f64>() / count;
        let mut cells = [[0.0f32; 2]; CELLS * CELLS];
        for &(k, a, b) in &px {
            let (ci, cj) = ((k % n / side).min(CELLS - 1), (k / n / side).min(CELLS - 1));
            let r = (b - my) - sxy / sxx * (a - mx);
            cells[cj * CELLS + ci][0] += (r * r / var) as f32;
            cells[cj * CELLS + ci][1] += 1.0;
        }
        trimmed_mean_cells(&cells, side)
    }

    #[test]
    fn the_one_pass_residual_is_the_residual_by_definition() {
        for n in [16, 32, 64] {
            let a = pattern(n);
            let mut b = a.rotate(3.0, 1.3);
            // A band of unrelated values (a caption) and undefined pixels.
            for k in 0..n * n / 5 {
                b.v[k] = (k * 37 % 255) as f32;
            }
            b.v[n * n / 2] = f32::NAN;
            let (fast, slow) = (robust_residual(&a, &b), residual_by_definition(&a, &b));
            assert!(
                fast.is_finite() && (fast - slow).abs() < 1e-4,
                "n {n}: {fast} vs {slow}"
            );
        }
    }
}
