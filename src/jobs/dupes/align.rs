//! Aligning two luma thumbnails before `verify` compares their detail:
//! copies are often mirrored, cropped, rotated by a few degrees or framed
//! (the frame is already trimmed), so the pair is first brought into
//! register. The search runs on half-resolution grids (cheap) and finds
//! the mirror, crop window (of either image, side 75–100%, in the other
//! picture's proportions, centred, then shifted and rescaled around the
//! best; refined on the full grids by a pattern search, so an off-centre
//! crop lands in place) or
//! rotation whose linear tone fit leaves the least residual over the best
//! three quarters of a 4×4 grid of cells, so that an overlay band (a
//! caption) does not pull the search towards a crop that hides it.
//! Rotation is done in the picture's true proportions (the grids are
//! square, the pictures are not).

use std::borrow::Cow;

pub(super) use super::grid::Grid;
use super::residual::{residual_of_rows, robust_residual, Rows};

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
/// alignments tried mirror it) and B, with their pictures' proportions
/// (width / height; the grids are square, the pictures are not).
pub(super) struct Pair<'g> {
    a: &'g Grid,
    mirrored: Grid,
    b: &'g Grid,
    aspects: (f32, f32),
}

impl<'g> Pair<'g> {
    pub fn new(a: &'g Grid, b: &'g Grid, aspects: (f32, f32)) -> Pair<'g> {
        Pair {
            a,
            mirrored: a.mirror(),
            b,
            aspects,
        }
    }

    /// The sides of `al`'s crop window (fractions of the cropped grid). A
    /// crop keeps the pixels' proportions, so the window has the other
    /// picture's proportions: a square crop of a 3:2 photo keeps two
    /// thirds of its width and all of its height, not the same fraction
    /// of each.
    fn window_sides(&self, al: Align) -> (f32, f32) {
        let (a, b) = self.aspects;
        // The other picture's proportions over the cropped one's.
        let r = if al.crop_b { a / b } else { b / a };
        match r.is_finite() && r > 0.0 {
            false => (al.scale, al.scale),
            true if r <= 1.0 => (al.scale * r, al.scale),
            true => (al.scale, al.scale / r),
        }
    }

    /// A and B resampled under `al` (borrowed where `al` leaves one as is).
    pub fn apply(&self, al: Align) -> (Cow<'_, Grid>, Cow<'_, Grid>) {
        let a = if al.flip { &self.mirrored } else { self.a };
        let a = match al.deg != 0.0 {
            true => Cow::Owned(a.rotate(al.deg, self.aspects.0)),
            false => Cow::Borrowed(a),
        };
        if al.scale >= 1.0 {
            (a, Cow::Borrowed(self.b))
        } else if al.crop_b {
            (
                a,
                Cow::Owned(self.b.window(self.window_sides(al), al.ox, al.oy)),
            )
        } else {
            (
                Cow::Owned(a.window(self.window_sides(al), al.ox, al.oy)),
                Cow::Borrowed(self.b),
            )
        }
    }

    /// The robust residual of the pair under `al`; a crop window is
    /// scored row by row as it is sampled, without making its grid.
    fn residual(&self, al: Align) -> f32 {
        let a = if al.flip { &self.mirrored } else { self.a };
        if al.deg != 0.0 || al.scale >= 1.0 {
            let (x, y) = self.apply(al);
            return robust_residual(&x, &y);
        }
        let cropped = if al.crop_b { self.b } else { a };
        let w = cropped.window_positions(self.window_sides(al), al.ox, al.oy);
        let (x, y) = match al.crop_b {
            false => (Rows::Window(a, &w), Rows::Grid(self.b)),
            true => (Rows::Grid(a), Rows::Window(self.b, &w)),
        };
        residual_of_rows(a.n, &x, &y)
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

/// `al` (found on the half-resolution grids) refined on the full grids.
/// A crop window is refined by a pattern search: its scale and offsets
/// move one step at a time while the residual falls, the steps halving
/// when no move helps, down to a quarter of a grid pixel. The half-
/// resolution search can land a few pixels off an off-centre crop (its
/// offsets are in steps of half the slack), too far for a fixed
/// neighbourhood to reach. A rotation's angle is refined in ±0.25°.
pub(super) fn refine(pair: &Pair, al: Align) -> Align {
    if al.scale < 1.0 {
        return refine_window(pair, al);
    }
    let mut best = (pair.residual(al), al);
    if al.deg != 0.0 {
        for dd in [-0.25, 0.25] {
            let c = Align {
                deg: al.deg + dd,
                ..al
            };
            let r = pair.residual(c);
            if r < best.0 {
                best = (r, c);
            }
        }
    }
    best.1
}

/// The pattern search of [`refine`] for a crop window.
fn refine_window(pair: &Pair, al: Align) -> Align {
    let mut best = (pair.residual(al), al);
    let (mut ds, mut dxy, mut tries) = (0.01f32, 0.2f32, 1);
    while ds >= 0.0025 && tries < MAX_REFINE_TRIES {
        let from = best.1;
        for c in window_steps(from, ds, dxy) {
            let r = pair.residual(c);
            tries += 1;
            if r < best.0 {
                best = (r, c);
            }
        }
        if best.1 == from {
            (ds, dxy) = (ds / 2.0, dxy / 2.0);
            continue;
        }
        // The move that helped is repeated while it helps (one residual a
        // step, not six).
        let (s, x, y) = (
            best.1.scale - from.scale,
            best.1.ox - from.ox,
            best.1.oy - from.oy,
        );
        while tries < MAX_REFINE_TRIES {
            let c = moved(best.1, (s, x, y));
            if c == best.1 {
                break;
            }
            let r = pair.residual(c);
            tries += 1;
            if r >= best.0 {
                break;
            }
            best = (r, c);
        }
    }
    best.1
}

/// Residuals a refinement may take (bounds its cost on a pair whose
/// residual keeps falling a little without ever matching).
const MAX_REFINE_TRIES: usize = 48;

/// The six windows one step from `al`: scale ± `ds`, offsets ± `dxy`.
fn window_steps(al: Align, ds: f32, dxy: f32) -> impl Iterator<Item = Align> {
    let moves = [
        (ds, 0.0, 0.0),
        (-ds, 0.0, 0.0),
        (0.0, dxy, 0.0),
        (0.0, -dxy, 0.0),
        (0.0, 0.0, dxy),
        (0.0, 0.0, -dxy),
    ];
    moves.into_iter().map(move |step| moved(al, step))
}

/// `al`'s window moved by (scale, ox, oy), kept a window inside the grid.
fn moved(al: Align, (s, x, y): (f32, f32, f32)) -> Align {
    Align {
        scale: (al.scale + s).min(0.998),
        ox: (al.ox + x).clamp(-1.0, 1.0),
        oy: (al.oy + y).clamp(-1.0, 1.0),
        ..al
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::dupes::grid::pattern;

    #[test]
    fn a_mirrored_and_a_cropped_copy_are_found() {
        let a = pattern(32);
        let m = a.mirror();
        let al = best_alignment(&Pair::new(&a, &m, (1.0, 1.0)));
        assert!(al.flip && al.scale == 1.0 && al.deg == 0.0, "{al:?}");
        let crop = a.window((0.85, 0.85), 0.0, 0.0);
        let al = best_alignment(&Pair::new(&a, &crop, (1.0, 1.0)));
        assert!(
            !al.flip && !al.crop_b && (al.scale - 0.85).abs() < 0.02,
            "{al:?}"
        );
    }

    #[test]
    fn an_off_centre_crop_is_refined_onto_its_place() {
        let a = pattern(64);
        let b = a.window((0.845, 0.845), 0.3, -0.3);
        let coarse = best_alignment(&Pair::new(&a.half(), &b.half(), (1.0, 1.0)));
        let pair = Pair::new(&a, &b, (1.0, 1.0));
        let al = refine(&pair, coarse);
        let near = |x: f32, to: f32, within: f32| (x - to).abs() < within;
        assert!(
            near(al.scale, 0.845, 0.004) && near(al.ox, 0.3, 0.06) && near(al.oy, -0.3, 0.06),
            "{coarse:?} -> {al:?}"
        );
        assert!(pair.residual(al) <= pair.residual(coarse), "{al:?}");
    }

    #[test]
    fn a_crop_to_other_proportions_keeps_the_pixels_proportions() {
        // A 3:2 picture and a crop of it 0.6 of its width by 0.9 of its
        // height: a picture of proportions 1.5 × 0.6 / 0.9 = 1.0.
        let a = pattern(64);
        let b = a.window((0.6, 0.9), 0.1, 0.0);
        let search = |aspects| {
            let coarse = best_alignment(&Pair::new(&a.half(), &b.half(), aspects));
            let pair = Pair::new(&a, &b, aspects);
            pair.residual(refine(&pair, coarse))
        };
        let (proportioned, square) = (search((1.5, 1.0)), search((1.0, 1.0)));
        assert!(proportioned < 0.05, "{proportioned}");
        assert!(square > 4.0 * proportioned, "{square} vs {proportioned}");
    }

    #[test]
    fn a_rotation_is_undone_in_the_pictures_proportions() {
        let a = pattern(32);
        let b = a.rotate(4.0, 1.5);
        let al = best_alignment(&Pair::new(&a, &b, (1.5, 1.5)));
        assert!((al.deg - 4.0).abs() <= 0.5 && !al.flip, "{al:?}");
    }

    #[test]
    fn a_window_scored_row_by_row_scores_as_the_window_made() {
        let (a, b) = (pattern(32), pattern(32).rotate(2.0, 1.2));
        let pair = Pair::new(&a, &b, (1.2, 1.2));
        for crop_b in [false, true] {
            for flip in [false, true] {
                let al = Align {
                    flip,
                    scale: 0.85,
                    crop_b,
                    ox: 0.5,
                    oy: -1.0,
                    deg: 0.0,
                };
                let (x, y) = pair.apply(al);
                assert_eq!(pair.residual(al), robust_residual(&x, &y), "{al:?}");
            }
        }
    }
}
