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

/// A square grid of luma values, `n`×`n`, rows; NaN where undefined.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Grid {
    pub n: usize,
    pub v: Vec<f32>,
}

impl Grid {
    pub fn from_u8(n: usize, luma: &[u8]) -> Option<Grid> {
        (luma.len() == n * n).then(|| Grid {
            n,
            v: luma.iter().map(|&x| f32::from(x)).collect(),
        })
    }

    /// The grid averaged 2×2 (half the side).
    pub fn half(&self) -> Grid {
        let m = self.n / 2;
        let at = |x: usize, y: usize| self.v[y * self.n + x];
        let mut v = Vec::with_capacity(m * m);
        for j in 0..m {
            for i in 0..m {
                let (x, y) = (2 * i, 2 * j);
                v.push((at(x, y) + at(x + 1, y) + at(x, y + 1) + at(x + 1, y + 1)) / 4.0);
            }
        }
        Grid { n: m, v }
    }

    fn mirror(&self) -> Grid {
        let v = self
            .v
            .chunks_exact(self.n)
            .flat_map(|row| row.iter().rev().copied())
            .collect();
        Grid { n: self.n, v }
    }

    /// Bilinear sample at (x, y) in pixel-centre coordinates; NaN outside.
    fn sample(&self, x: f32, y: f32) -> f32 {
        match (self.axis(x), self.axis(y)) {
            (Some(ax), Some(ay)) => self.bilinear(ax, ay),
            _ => f32::NAN,
        }
    }

    /// Where coordinate `x` falls between two pixel centres: (lower, upper,
    /// fraction), or `None` beyond half a pixel outside the grid.
    fn axis(&self, x: f32) -> Option<(usize, usize, f32)> {
        let last = (self.n - 1) as f32;
        if !(-0.5..=last + 0.5).contains(&x) {
            return None;
        }
        let x = x.clamp(0.0, last);
        let x0 = x.floor() as usize;
        Some((x0, (x0 + 1).min(self.n - 1), x - x0 as f32))
    }

    fn bilinear(
        &self,
        (x0, x1, fx): (usize, usize, f32),
        (y0, y1, fy): (usize, usize, f32),
    ) -> f32 {
        let g = |x: usize, y: usize| self.v[y * self.n + x];
        let top = g(x0, y0) * (1.0 - fx) + g(x1, y0) * fx;
        let bottom = g(x0, y1) * (1.0 - fx) + g(x1, y1) * fx;
        top * (1.0 - fy) + bottom * fy
    }

    /// The window of side `s` (fraction), offset by (`ox`, `oy`) of the
    /// slack (-1..1), resampled to the full grid. The mapping is separable,
    /// so each column's and each row's sample position is found once.
    fn window(&self, s: f32, ox: f32, oy: f32) -> Grid {
        let n = self.n as f32;
        let slack = (n - n * s) / 2.0;
        let (x0, y0) = (slack * (1.0 + ox), slack * (1.0 + oy));
        let positions = |o: f32| -> Vec<Option<(usize, usize, f32)>> {
            (0..self.n)
                .map(|i| self.axis(o + (i as f32 + 0.5) * s - 0.5))
                .collect()
        };
        let (xs, ys) = (positions(x0), positions(y0));
        let mut v = Vec::with_capacity(self.n * self.n);
        for &ay in &ys {
            for &ax in &xs {
                v.push(match (ax, ay) {
                    (Some(ax), Some(ay)) => self.bilinear(ax, ay),
                    _ => f32::NAN,
                });
            }
        }
        Grid { n: self.n, v }
    }

    /// Rotated by `deg` about the centre, in a picture of width/height
    /// `aspect` (so a rotation of the picture, not of the square grid).
    fn rotate(&self, deg: f32, aspect: f32) -> Grid {
        let (s, c) = deg.to_radians().sin_cos();
        let centre = (self.n as f32 - 1.0) / 2.0;
        let (aw, ah) = if aspect >= 1.0 {
            (1.0, 1.0 / aspect)
        } else {
            (aspect, 1.0)
        };
        self.resample(|i, j| {
            let (u, v) = ((i - centre) * aw, (j - centre) * ah);
            (
                (c * u + s * v) / aw + centre,
                (-s * u + c * v) / ah + centre,
            )
        })
    }

    fn resample(&self, at: impl Fn(f32, f32) -> (f32, f32)) -> Grid {
        let mut v = Vec::with_capacity(self.n * self.n);
        for j in 0..self.n {
            for i in 0..self.n {
                let (x, y) = at(i as f32, j as f32);
                v.push(self.sample(x, y));
            }
        }
        Grid { n: self.n, v }
    }
}

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

/// A and B resampled under `al`; `aspect` is A's width / height.
pub(super) fn apply(a: &Grid, b: &Grid, al: Align, aspect: f32) -> (Grid, Grid) {
    let a = if al.flip { a.mirror() } else { a.clone() };
    let a = if al.deg != 0.0 {
        a.rotate(al.deg, aspect)
    } else {
        a
    };
    if al.scale >= 1.0 {
        (a, b.clone())
    } else if al.crop_b {
        (a, b.window(al.scale, al.ox, al.oy))
    } else {
        (a.window(al.scale, al.ox, al.oy), b.clone())
    }
}

/// The alignment with the least robust residual: a coarse search over
/// mirror, rotation and crop windows, then finer scales and offsets
/// around the best crop (or finer angles around the best rotation).
pub(super) fn best_alignment(a: &Grid, b: &Grid, aspect: f32) -> Align {
    let best = std::cell::Cell::new((f32::INFINITY, IDENTITY));
    let consider = |al: Align| {
        let (x, y) = apply(a, b, al, aspect);
        let r = robust_residual(&x, &y);
        if r < best.get().0 {
            best.set((r, al));
        }
    };
    // Crop windows are tried centred here; the refinement below shifts them.
    const CENTRED: [f32; 1] = [0.0];
    for flip in [false, true] {
        let base = Align { flip, ..IDENTITY };
        consider(base);
        for deg in [-6.0, -5.0, -4.0, -3.0, -2.0, 2.0, 3.0, 4.0, 5.0, 6.0] {
            consider(Align { deg, ..base });
        }
        for crop_b in [false, true] {
            for scale in [0.95, 0.9, 0.85, 0.8, 0.75] {
                for (ox, oy) in CENTRED.iter().flat_map(|&x| CENTRED.map(|y| (x, y))) {
                    consider(Align {
                        scale,
                        crop_b,
                        ox,
                        oy,
                        ..base
                    });
                }
            }
        }
    }
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

/// `al` (found on the half-resolution grids) refined on the full grids:
/// a crop window's scale and offset, or a rotation's angle, in steps
/// finer than a half-resolution pixel.
pub(super) fn refine(a: &Grid, b: &Grid, al: Align, aspect: f32) -> Align {
    let mut best = (robust_residual_of(a, b, al, aspect), al);
    let mut consider = |c: Align| {
        let r = robust_residual_of(a, b, c, aspect);
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

fn robust_residual_of(a: &Grid, b: &Grid, al: Align, aspect: f32) -> f32 {
    let (x, y) = apply(a, b, al, aspect);
    robust_residual(&x, &y)
}

/// Cells per side of the residual grid.
const CELLS: usize = 4;

/// RMS residual of the least-squares line y ≈ a·x + b (a > 0) in units of
/// y's variance, over the cells of a 4×4 grid less the worst quarter;
/// infinite when too little overlaps or the fit is degenerate. Called for
/// every candidate alignment, so it walks the grids in place (three
/// passes, no allocation).
pub(super) fn robust_residual(x: &Grid, y: &Grid) -> f32 {
    let n = x.n;
    let margin = n / 16;
    let (mut count, mut sx, mut sy) = (0usize, 0.0f32, 0.0f32);
    each_defined(x, y, margin, |_, a, b| {
        (count, sx, sy) = (count + 1, sx + a, sy + b)
    });
    let count = count as f32;
    if count < 64.0 {
        return f32::INFINITY;
    }
    let (mx, my) = (sx / count, sy / count);
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    each_defined(x, y, margin, |_, a, b| {
        sxx += (a - mx) * (a - mx);
        sxy += (a - mx) * (b - my);
        syy += (b - my) * (b - my);
    });
    if sxx <= 0.0 || syy <= 0.0 || sxy <= 0.0 {
        return f32::INFINITY;
    }
    let (slope, var) = (sxy / sxx, syy / count);
    let side = n / CELLS;
    let mut cells = [[0.0f32; 2]; CELLS * CELLS];
    each_defined(x, y, margin, |k, a, b| {
        let (ci, cj) = ((k % n / side).min(CELLS - 1), (k / n / side).min(CELLS - 1));
        let r = (b - my) - slope * (a - mx);
        cells[cj * CELLS + ci][0] += r * r / var;
        cells[cj * CELLS + ci][1] += 1.0;
    });
    trimmed_mean_cells(&cells, side)
}

/// `f(k, x, y)` for the pixels `k` inside `margin` where both grids are
/// defined, in rows (generic, so each pass inlines its body).
fn each_defined(x: &Grid, y: &Grid, margin: usize, mut f: impl FnMut(usize, f32, f32)) {
    let n = x.n;
    for j in margin..n - margin {
        for i in margin..n - margin {
            let k = j * n + i;
            let (a, b) = (x.v[k], y.v[k]);
            if a.is_finite() && b.is_finite() {
                f(k, a, b);
            }
        }
    }
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
        let al = best_alignment(&a, &a.mirror(), 1.0);
        assert!(al.flip && al.scale == 1.0 && al.deg == 0.0, "{al:?}");
        let crop = a.window(0.85, 0.0, 0.0);
        let al = best_alignment(&a, &crop, 1.0);
        assert!(
            !al.flip && !al.crop_b && (al.scale - 0.85).abs() < 0.02,
            "{al:?}"
        );
    }

    #[test]
    fn a_rotation_is_undone_in_the_pictures_proportions() {
        let a = pattern(32);
        let b = a.rotate(4.0, 1.5);
        let al = best_alignment(&a, &b, 1.5);
        assert!((al.deg - 4.0).abs() <= 0.5 && !al.flip, "{al:?}");
    }

    #[test]
    fn halving_averages_blocks() {
        let g = Grid {
            n: 4,
            v: (0..16).map(|k| k as f32).collect(),
        };
        assert_eq!(g.half().v, vec![2.5, 4.5, 10.5, 12.5]);
    }
}
