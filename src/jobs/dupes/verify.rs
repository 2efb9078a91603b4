//! Verification: is a candidate pair two copies of one capture, or two
//! captures of one scene (the next frame, another pose)? Hashes and CNN
//! neighbours cannot tell: both are built to ignore exactly the small
//! differences that separate two shots. This stage reads the stored 64×64
//! luma thumbnails of the pair's content views (`features::signature`):
//!
//! 1. **Align** (`align`): mirror, crop window or rotation, found on the
//!    half-resolution grids.
//! 2. **Compare detail**: both aligned grids are band-pass filtered (a
//!    [1 2 1]² blur minus three more of it: structure of a few thumbnail
//!    pixels, free of the tone curve) and, on a 4×4 grid of cells, the
//!    correlation of the two images' detail is taken where both have some.
//!    A copy's detail is the original's, weakened perhaps (resized,
//!    blurred, re-encoded, clipped by a brightness edit) but in place; in
//!    another capture leaves have moved, a face has turned, the board has
//!    tilted, so the detail decorrelates somewhere. The score is the
//!    second-worst cell (one odd cell is noise, two are a change), with
//!    the top or bottom row of cells left out when that helps (a caption
//!    band) and clipped-white pixels ignored (a brightened sky).
//! 3. The unaligned pair (mirrored or not) is scored first, and only when
//!    it does not pass is an alignment searched (most copies need none,
//!    and the search is most of the cost); the best score is kept, so a
//!    search fooled by an overlay band cannot lose a copy.
//!
//! A pair whose score reaches [`MIN_DETAIL`] is a copy; below, a *series*
//! pair (similar shots). A pair with too little detail to judge (flat
//! graphics, smooth gradients) is left to the candidate rule. A colour
//! check on the aligned chroma grids (`colour`) keeps colour variants (a
//! shiny sprite, a recoloured wallpaper) apart when both are colourful,
//! and two graphics of few colours are compared colour by colour
//! (`palette`).
//! Thresholds were chosen on the development sets (README, "Copies and
//! series").

use std::borrow::Cow;

use super::align::{self, Align, Grid, Pair, IDENTITY};
use super::bandpass::{band_pass, soften};
use super::colour;
pub use super::colour::HueTurn;
use super::palette;
use crate::features::signature::{Signature, SIDE};

/// Detail correlation (second-worst cell) from which a pair is a copy.
pub const MIN_DETAIL: f32 = 0.96;
/// A detail cell counts when both images' band-pass RMS reaches this
/// (luma levels): below it, JPEG noise and banding are all there is.
const MIN_ENERGY: f32 = 1.0;
/// Fewer judged cells than this and the pair is not judged.
const MIN_CELLS: usize = 4;
const CELLS: usize = 4;

/// What verification found about one pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// Detail correlation after alignment (`detail_score`; `None`: too
    /// little detail to judge).
    pub detail: Option<f32>,
    /// Mean hue turn in degrees and the limit it is held to, when both
    /// images are colourful (`colour`).
    pub hue: Option<HueTurn>,
    /// Two graphics' palettes: `Some(true)` when their colours were changed
    /// apart from a tone edit (`palette`); `None` when not both have one
    /// or too few colours match.
    pub recoloured: Option<bool>,
}

impl Verdict {
    /// Copies of one capture (not a series pair, not a colour variant).
    pub fn copy(&self, colour_variants_apart: bool) -> bool {
        self.detail.is_none_or(|d| d >= MIN_DETAIL)
            && !(colour_variants_apart && self.colours_differ())
    }

    /// Colour variants: the hue turned beyond its limit, or a graphic
    /// recoloured.
    pub fn colours_differ(&self) -> bool {
        self.hue.is_some_and(|h| h.apart()) || self.recoloured == Some(true)
    }

    /// The hue turn in degrees, when both images are colourful.
    pub fn chroma(&self) -> Option<f32> {
        self.hue.map(|h| h.degrees)
    }
}

/// Verify a pair by its signatures; `None` when either lacks a usable one.
/// The verdict does not depend on the order of the two: the search crops
/// and rotates one side, so the pair is taken in an order set by content
/// (the signatures compared), not by which image the store saw first.
pub fn verify(a: &Signature, b: &Signature) -> Option<Verdict> {
    match content_order(a, b) {
        std::cmp::Ordering::Greater => verify_ordered(b, a),
        _ => verify_ordered(a, b),
    }
}

/// An order of two signatures by content alone.
fn content_order(a: &Signature, b: &Signature) -> std::cmp::Ordering {
    (&a.luma, &a.chroma, a.width, a.height).cmp(&(&b.luma, &b.chroma, b.width, b.height))
}

fn verify_ordered(a: &Signature, b: &Signature) -> Option<Verdict> {
    let (ga, gb) = (Grid::from_u8(SIDE, &a.luma)?, Grid::from_u8(SIDE, &b.luma)?);
    let aspect = |s: &Signature| s.width as f32 / s.height.max(1) as f32;
    let aspects = (aspect(a), aspect(b));
    // Detail of a few thumbnail pixels exists only where both pictures
    // have 1.5 pixels or more per thumbnail pixel (below, box averaging
    // alternates one- and two-pixel boxes: aliasing, not detail); a
    // smaller one is compared on the half-resolution grids.
    let resolved = |s: &Signature| 2 * s.width.min(s.height) as usize >= 3 * SIDE;
    let (ga, gb) = match resolved(a) && resolved(b) {
        true => (ga, gb),
        false => (ga.half(), gb.half()),
    };
    let (detail, al) = detail_match(&ga, &gb, aspects);
    // Without detail nothing says whether B is A mirrored (a smooth
    // gradient wallpaper and its mirrored copy): colour is compared both
    // ways and the closer taken.
    let hue = |al: Align| colour::hue_turn((a, b), (&ga, &gb), al, aspects);
    let hue = match detail {
        Some(_) => hue(al),
        None => [false, true]
            .into_iter()
            .filter_map(|flip| hue(Align { flip, ..IDENTITY }))
            .min_by(|x, y| x.degrees.total_cmp(&y.degrees)),
    };
    let recoloured =
        (a.palette.as_ref().zip(b.palette.as_ref())).and_then(|(p, q)| palette::recoloured(p, q));
    Some(Verdict {
        detail,
        hue,
        recoloured,
    })
}

/// The detail score of the pair, and the alignment it was found under.
fn detail_match(ga: &Grid, gb: &Grid, aspects: (f32, f32)) -> (Option<f32>, Align) {
    let (flat_a, flat_b) = (std_dev(&ga.v) < 2.0, std_dev(&gb.v) < 2.0);
    if flat_a || flat_b {
        let same = flat_a && flat_b && (mean(&ga.v) - mean(&gb.v)).abs() < 8.0;
        return (Some(if same { 1.0 } else { 0.0 }), IDENTITY);
    }
    // Most copies need no alignment (re-encoded, resized, graded,
    // captioned, framed: the frame is trimmed): try the pair as it is, and
    // mirrored, before searching crops and rotations.
    let pair = Pair::new(ga, gb, aspects);
    let detail_b = band_pass(gb);
    let mut best: (Option<f32>, Align) = (None, IDENTITY);
    for flip in [false, true] {
        let al = Align { flip, ..IDENTITY };
        let (x, _) = pair.apply(al);
        let score = detail_score_of((&x, &band_pass(&x)), (gb, &detail_b));
        if let Some(s) = score.filter(|&s| best.0.is_none_or(|b| s > b)) {
            best = (Some(s), al);
        }
    }
    if best.0.is_some_and(|s| s >= MIN_DETAIL) {
        return best;
    }
    let found = match ga.n >= SIDE {
        true => {
            let (ha, hb) = (ga.half(), gb.half());
            let coarse = align::best_alignment(&Pair::new(&ha, &hb, aspects));
            align::refine(&pair, coarse)
        }
        false => align::best_alignment(&pair),
    };
    consider(&pair, found, &mut best);
    best
}

/// Score the pair under `al`, keeping the best score and its alignment.
fn consider(pair: &Pair, al: Align, best: &mut (Option<f32>, Align)) {
    let (x, y) = pair.apply(al);
    // Resampling blurs the resampled side a little: blur the other alike,
    // so a crop or a rotation is not taken for lost detail.
    let (x, y) = match (al.scale < 1.0 || al.deg != 0.0, al.crop_b) {
        (false, _) => (x, y),
        (true, false) => (x, Cow::Owned(soften(&y))),
        (true, true) => (Cow::Owned(soften(&x)), y),
    };
    if let Some(s) = detail_score(&x, &y) {
        if best.0.is_none_or(|b| s > b) {
            *best = (Some(s), al);
        }
    }
}

/// The detail correlation of x and y on a 4×4 grid of cells: the
/// second-worst cell, leaving out the top or the bottom row of cells when
/// that helps (an overlay band such as a caption); `None` when fewer than
/// [`MIN_CELLS`] cells have detail in both. Pixels clipped to white in
/// either image (a brightened copy's sky) are left out: clipping erases
/// detail without moving it.
fn detail_score(x: &Grid, y: &Grid) -> Option<f32> {
    detail_score_of((x, &band_pass(x)), (y, &band_pass(y)))
}

/// [`detail_score`] of two grids, each given with its band-pass.
fn detail_score_of(x: (&Grid, &[f32]), y: (&Grid, &[f32])) -> Option<f32> {
    let cells = cell_correlations(x, y);
    let score = |skip: Option<usize>| {
        let mut c: Vec<f32> = cells
            .iter()
            .filter(|c| Some(c.0) != skip)
            .map(|c| c.1)
            .collect();
        c.sort_by(f32::total_cmp);
        (c.len() >= MIN_CELLS).then(|| c[1])
    };
    [None, Some(0), Some(CELLS - 1)]
        .into_iter()
        .filter_map(score)
        .max_by(f32::total_cmp)
}

/// Luma from which a pixel counts as clipped.
const CLIPPED: f32 = 250.0;

/// (row, correlation) of each cell where both images have detail.
fn cell_correlations((x, bx): (&Grid, &[f32]), (y, by): (&Grid, &[f32])) -> Vec<(usize, f32)> {
    let n = x.n;
    let margin = n / 16 + 1;
    let side = (n - 2 * margin) / CELLS;
    let usable = |v: f32| v.is_finite() && v < CLIPPED;
    let mut out = Vec::with_capacity(CELLS * CELLS);
    for cj in 0..CELLS {
        for ci in 0..CELLS {
            let (mut suv, mut suu, mut svv, mut valid) = (0.0, 0.0, 0.0, 0usize);
            for j in margin + cj * side..margin + (cj + 1) * side {
                for i in margin + ci * side..margin + (ci + 1) * side {
                    let k = j * n + i;
                    if usable(x.v[k]) && usable(y.v[k]) {
                        let (u, v) = (bx[k], by[k]);
                        (suv, suu, svv, valid) = (suv + u * v, suu + u * u, svv + v * v, valid + 1);
                    }
                }
            }
            let energy = |s: f32| (s / valid.max(1) as f32).sqrt();
            if valid * 5 >= side * side * 3 && energy(suu).min(energy(svv)) >= MIN_ENERGY {
                out.push((cj, suv / (suu * svv).sqrt()));
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::signature::CHROMA_SIDE;

    /// A textured 64×64 grid; `shift` moves a square patch of it.
    fn scene(shift: usize) -> Grid {
        let n = SIDE;
        let base = |x: usize, y: usize| {
            let (x, y) = (x as f32, y as f32);
            128.0 + 50.0 * (x * 0.9).sin() * (y * 0.7).cos() + 30.0 * ((x * 1.3 + y * 0.4).sin())
        };
        let v = (0..n * n)
            .map(|k| {
                let (x, y) = (k % n, k / n);
                let moved = (20..44).contains(&x) && (20..44).contains(&y);
                if moved {
                    base(x + shift, y + shift)
                } else {
                    base(x, y)
                }
            })
            .collect();
        Grid { n, v }
    }

    #[test]
    fn a_tone_edit_is_a_copy_and_a_moved_subject_is_not() {
        let a = scene(0);
        let brighter = Grid {
            n: a.n,
            v: a.v.iter().map(|v| (v * 1.2 + 5.0).min(255.0)).collect(),
        };
        let (same, _) = detail_match(&a, &brighter, (1.0, 1.0));
        assert!(same.unwrap() >= MIN_DETAIL, "{same:?}");
        let (moved, _) = detail_match(&a, &scene(3), (1.0, 1.0));
        assert!(moved.unwrap() < MIN_DETAIL, "{moved:?}");
    }

    #[test]
    fn flat_pictures_match_only_their_tone() {
        let flat = |t: f32| Grid {
            n: SIDE,
            v: vec![t; SIDE * SIDE],
        };
        assert_eq!(
            detail_match(&flat(10.0), &flat(12.0), (1.0, 1.0)).0,
            Some(1.0)
        );
        assert_eq!(
            detail_match(&flat(10.0), &flat(200.0), (1.0, 1.0)).0,
            Some(0.0)
        );
    }

    /// A smooth gradient from purple to orange, mirrored when `flip`.
    fn gradient(flip: bool) -> Signature {
        let at = |x: usize, n: usize| if flip { n - 1 - x } else { x };
        let luma = (0..SIDE * SIDE)
            .map(|k| (60 + at(k % SIDE, SIDE)) as u8)
            .collect();
        let chroma = (0..CHROMA_SIDE * CHROMA_SIDE)
            .flat_map(|k| {
                let t = at(k % CHROMA_SIDE, CHROMA_SIDE) as u8 * 6;
                [160 - t, 150 + t / 2]
            })
            .collect();
        Signature {
            luma,
            width: 640,
            height: 360,
            chroma,
            edits: Default::default(),
            palette: None,
        }
    }

    #[test]
    fn a_mirrored_gradient_without_detail_is_no_colour_variant() {
        let (a, b) = (gradient(false), gradient(true));
        let v = verify(&a, &b).expect("verdict");
        assert_eq!(v.detail, None, "{v:?}");
        assert!(v.copy(true), "{v:?}");
        // Compared unmirrored, its colours turn far.
        let grid = |s: &Signature| Grid::from_u8(SIDE, &s.luma).unwrap();
        let unmirrored = colour::hue_turn((&a, &b), (&grid(&a), &grid(&b)), IDENTITY, (1.0, 1.0));
        assert!(unmirrored.is_some_and(|h| h.apart()), "{unmirrored:?}");
    }

    #[test]
    fn the_verdict_does_not_depend_on_the_order_of_the_pair() {
        // A cropped, rotated copy: the search crops or rotates one side,
        // so taken in the order given the two orders would score apart.
        let a = scene(0);
        let b = a.window((0.86, 0.86), 0.4, -0.3).rotate(2.0, 1.3);
        let sig = |g: &Grid| Signature {
            luma: g.v.iter().map(|v| v.clamp(0.0, 255.0) as u8).collect(),
            width: 520,
            height: 400,
            chroma: vec![128; 2 * CHROMA_SIDE * CHROMA_SIDE],
            edits: Default::default(),
            palette: None,
        };
        let (sa, sb) = (sig(&a), sig(&b));
        let (ab, ba) = (verify(&sa, &sb), verify(&sb, &sa));
        assert!(ab.is_some_and(|v| v.detail.is_some()), "{ab:?}");
        assert_eq!(ab, ba);
        let (ga, gb) = (Grid::from_u8(SIDE, &sa.luma), Grid::from_u8(SIDE, &sb.luma));
        let (ga, gb) = (ga.unwrap(), gb.unwrap());
        assert_ne!(
            detail_match(&ga, &gb, (1.3, 1.3)).0,
            detail_match(&gb, &ga, (1.3, 1.3)).0,
            "the search itself is one-sided"
        );
    }
}
