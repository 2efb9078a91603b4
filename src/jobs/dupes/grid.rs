//! The square luma grids that verification works on (a signature's 64×64
//! thumbnail and its halvings), with the resampling the alignment search
//! needs: mirroring, crop windows and rotations, bilinear, NaN outside the
//! picture. Kept apart from the search so the search reads as a search.

/// A square grid of luma values, `n`×`n`, rows; NaN where undefined.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Grid {
    pub n: usize,
    pub v: Vec<f32>,
}

/// A crop window's row positions on a grid ([`Grid::window_positions`]),
/// and every grid row it reads already resampled at its columns: bilinear
/// sampling is separable, so a window row is then one blend of two of
/// them (the same arithmetic as [`Grid::bilinear`], a third of the work).
pub(super) struct Window {
    ys: Vec<Option<(usize, usize, f32)>>,
    /// Grid rows `first..` resampled at `xs`, `n` values each.
    across: Vec<f32>,
    first: usize,
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

    pub fn mirror(&self) -> Grid {
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
        // x is clamped to 0 or more: truncation is the floor (and no libm call).
        let x0 = x as usize;
        Some((x0, (x0 + 1).min(self.n - 1), x - x0 as f32))
    }

    #[inline]
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

    /// The window of sides `sx` × `sy` (fractions), offset by (`ox`,
    /// `oy`) of the slack (-1..1), resampled to the full grid.
    pub fn window(&self, (sx, sy): (f32, f32), ox: f32, oy: f32) -> Grid {
        let w = self.window_positions((sx, sy), ox, oy);
        let mut v = vec![0.0; self.n * self.n];
        for (j, row) in v.chunks_exact_mut(self.n).enumerate() {
            self.window_row(&w, j, row);
        }
        Grid { n: self.n, v }
    }

    /// Where a window's columns and rows sample this grid. The mapping is
    /// separable, so each column's and each row's position is found once.
    pub fn window_positions(&self, (sx, sy): (f32, f32), ox: f32, oy: f32) -> Window {
        let n = self.n as f32;
        let positions = |s: f32, o: f32| -> Vec<Option<(usize, usize, f32)>> {
            let start = (n - n * s) / 2.0 * (1.0 + o);
            (0..self.n)
                .map(|i| self.axis(start + (i as f32 + 0.5) * s - 0.5))
                .collect()
        };
        let (xs, ys) = (positions(sx, ox), positions(sy, oy));
        let rows = ys.iter().flatten();
        let first = rows.clone().map(|y| y.0).min().unwrap_or(0);
        let last = rows.map(|y| y.1).max().unwrap_or(0);
        let mut across = Vec::with_capacity((last + 1 - first) * self.n);
        for y in first..=last {
            let row = &self.v[y * self.n..(y + 1) * self.n];
            across.extend(xs.iter().map(|ax| match *ax {
                Some((x0, x1, fx)) => row[x0] * (1.0 - fx) + row[x1] * fx,
                None => f32::NAN,
            }));
        }
        Window { ys, across, first }
    }

    /// Row `j` of the window `w` (see [`Grid::window`]) into `out`, so a
    /// search can score a window without making the whole grid.
    pub fn window_row(&self, w: &Window, j: usize, out: &mut [f32]) {
        let Some((y0, y1, fy)) = w.ys[j] else {
            out.fill(f32::NAN);
            return;
        };
        let row = |y: usize| &w.across[(y - w.first) * self.n..][..self.n];
        for ((o, top), bottom) in out.iter_mut().zip(row(y0)).zip(row(y1)) {
            *o = top * (1.0 - fy) + bottom * fy;
        }
    }

    /// Rotated by `deg` about the centre, in a picture of width/height
    /// `aspect` (so a rotation of the picture, not of the square grid).
    pub fn rotate(&self, deg: f32, aspect: f32) -> Grid {
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

/// A smooth two-wave test picture, `n`×`n` (tests of the search and the
/// residual).
#[cfg(test)]
pub(super) fn pattern(n: usize) -> Grid {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_row_by_row_is_the_window() {
        let g = Grid {
            n: 8,
            v: (0..64).map(|k| ((k * 37) % 64) as f32).collect(),
        };
        let w = g.window_positions((0.8, 0.8), 0.5, -1.0);
        let whole = g.window((0.8, 0.8), 0.5, -1.0);
        let mut row = vec![0.0; 8];
        for j in 0..8 {
            g.window_row(&w, j, &mut row);
            assert_eq!(row, whole.v[j * 8..(j + 1) * 8]);
        }
        // Each sample is the bilinear mix of its four neighbours.
        let at = |x: usize, y: usize| g.v[y * 8 + x];
        let (x, y) = (0.8f32 * 2.5 - 0.5 + 0.8 * 1.5, 0.0f32 + 0.8 * 3.5 - 0.5);
        let (fx, fy) = (x - x.floor(), y - y.floor());
        let (x0, y0) = (x as usize, y as usize);
        let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1, y0) * fx;
        let bottom = at(x0, y0 + 1) * (1.0 - fx) + at(x0 + 1, y0 + 1) * fx;
        assert!((whole.v[3 * 8 + 2] - (top * (1.0 - fy) + bottom * fy)).abs() < 1e-3);
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
