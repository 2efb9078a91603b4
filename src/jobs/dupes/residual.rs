//! The residual the alignment search minimises: how far two grids are
//! from one linear tone curve (y ≈ a·x + b), robust to an overlay band.
//! It is computed for every alignment tried (up to about 210 per searched
//! pair), so in one pass gathering each cell's moments, and a crop window
//! is scored row by row as it is sampled, never made as a grid.

use super::grid::{Grid, Window};

/// Rows of a grid as scored: its own, or those of a crop window of it.
pub(super) enum Rows<'g> {
    Grid(&'g Grid),
    Window(&'g Grid, &'g Window),
}

impl Rows<'_> {
    /// Row `j` (a slice of the grid, or sampled into `buf`).
    fn row<'b>(&'b self, j: usize, buf: &'b mut [f32]) -> &'b [f32] {
        match self {
            Rows::Grid(g) => &g.v[j * g.n..(j + 1) * g.n],
            Rows::Window(g, w) => {
                g.window_row(w, j, buf);
                buf
            }
        }
    }
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
    residual_of_rows(x.n, &Rows::Grid(x), &Rows::Grid(y))
}

/// [`robust_residual`] of two grids given row by row.
pub(super) fn residual_of_rows(n: usize, x: &Rows, y: &Rows) -> f32 {
    let moments = cell_moments(n, x, y);
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
    trimmed_mean_cells(&cells, n / CELLS)
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
fn cell_moments(n: usize, x: &Rows, y: &Rows) -> [Moments; CELLS * CELLS] {
    let (margin, side) = (n / 16, n / CELLS);
    let mut cells = [Moments::default(); CELLS * CELLS];
    let (mut bx, mut by) = (vec![0.0; n], vec![0.0; n]);
    for j in margin..n - margin {
        let (rx, ry) = (x.row(j, &mut bx), y.row(j, &mut by));
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
            for (&a, &b) in rx[lo..hi].iter().zip(&ry[lo..hi]) {
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
    use crate::jobs::dupes::grid::pattern;

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
