//! Recoloured graphics: two images of few colours (`features::palette`)
//! whose colours were changed as no tone edit changes them — a shiny
//! sprite's palette swap, a recoloured icon. The chroma grid (`colour`)
//! cannot see the subtle ones: a swap that turns one small region, or
//! lightens a sprite's hair, moves its 32×32 cells no further than JPEG
//! moves a sprite copy's. A palette is exact, so it can be read colour by
//! colour:
//!
//! 1. **Match colours by pixel count.** A recoloured graphic keeps every
//!    region, so each colour of one has a colour of the other covering the
//!    same share of the picture (also when mirrored or scaled up by pixel
//!    repetition), one to one. Colours whose shares tie (`same_share`) are
//!    matched in order of share, equal ones in order of luma; the shared background is left out, and
//!    when too little matches a few rescalings of one side's shares are
//!    tried (`best_match`). Matches must cover [`MIN_COVERAGE`] of each
//!    picture outside the background, or there is no verdict (a crop, a
//!    caption, a smoothed resize: the colour grid decides as before).
//! 2. **A copy's colours follow a tone edit**, one of:
//!    - one tone curve for all three channels (brightness, contrast, gamma,
//!      levels), within [`CURVE_SLACK`] levels, from either image;
//!    - a saturation edit of either image: every colour moved from its own
//!      luma by one factor, then clipped (`saturation_edit`).
//! 3. Otherwise the two are recoloured. A grey graphic and a colour one are
//!    too (unless one curve maps them): a graphic's grey version is a design
//!    of its own (a disabled icon; unown's normal colouring against its
//!    blue shiny), unlike a greyscale copy of a photo, which has no palette.
//!
//! Thresholds from the pipeline's verdicts on `scripts/shiny_probes.py`'s
//! pairs, checked on `scripts/more_sprites.py`'s other Pokémon (README,
//! "Copies and series").

use crate::features::palette::Palette;
use crate::features::signature::luma;

/// Matched colours must cover this share of the picture for a verdict.
const MIN_COVERAGE: f32 = 0.7;
/// Levels one tone curve may be off by (rounding, clipping).
const CURVE_SLACK: i32 = 4;
/// A colour below this chroma is neutral (a grey graphic has no other).
const NEUTRAL: f32 = 4.0;
/// The saturation factors tried (0 to this, in this many steps), and the
/// levels a channel may be off by (rounding, the factor's step).
const MAX_SATURATION: f32 = 4.0;
const SATURATION_STEPS: usize = 400;
const SATURATION_SLACK: f32 = 5.0;
/// More colours than this tied in share are not matched.
const MAX_TIE: usize = 4;

/// One colour of A, the colour of B matched to it, and the share of its
/// picture (the background left out) each covers.
#[derive(Debug, Clone, Copy)]
struct Matched {
    a: [u8; 3],
    b: [u8; 3],
    share_a: f32,
    share_b: f32,
}

impl Matched {
    /// B's colour matched to A's.
    fn flipped(&self) -> Matched {
        Matched {
            a: self.b,
            b: self.a,
            share_a: self.share_b,
            share_b: self.share_a,
        }
    }
}

/// `Some(true)` when the two graphics' colours were changed apart from a
/// tone edit, `Some(false)` when a tone edit explains them, `None` when
/// too few colours match by pixel count to tell.
pub(super) fn recoloured(a: &Palette, b: &Palette) -> Option<bool> {
    if a.swatches == b.swatches {
        return Some(false);
    }
    // The most common colour, when it is the same in both, is taken for
    // the background: its extent depends on how far the frame was trimmed,
    // so shares are of the rest of the picture.
    let background = match (a.swatches.first(), b.swatches.first()) {
        (Some(p), Some(q)) if p.rgb == q.rgb => Some(p.rgb),
        _ => None,
    };
    let skip = background.is_some();
    let (ca, cb) = (Colours::of(a, skip), Colours::of(b, skip));
    let mut pairs = best_match(&ca, &cb);
    if coverage(&pairs) < MIN_COVERAGE {
        return None;
    }
    // The background maps to itself: a point for the tone curve, no share.
    pairs.extend(background.map(|rgb| Matched {
        a: rgb,
        b: rgb,
        share_a: 0.0,
        share_b: 0.0,
    }));
    // A tone edit of either image (a brightened copy clips, so its inverse
    // is no curve).
    let flipped: Vec<Matched> = pairs.iter().map(Matched::flipped).collect();
    if one_curve(&pairs) || one_curve(&flipped) {
        return Some(false);
    }
    let grey =
        |side: fn(&Matched) -> [u8; 3]| pairs.iter().all(|m| Ycc::of(side(m)).chroma() < NEUTRAL);
    if grey(|m| m.a) || grey(|m| m.b) {
        return Some(true);
    }
    Some(!(saturation_edit(&pairs) || saturation_edit(&flipped)))
}

/// The share of each picture the matched colours cover, the smaller.
fn coverage(pairs: &[Matched]) -> f32 {
    let a: f32 = pairs.iter().map(|m| m.share_a).sum();
    let b: f32 = pairs.iter().map(|m| m.share_b).sum();
    a.min(b)
}

/// A palette's colours and their shares, the background's left out.
struct Colours {
    rgb: Vec<[u8; 3]>,
    share: Vec<f32>,
}

impl Colours {
    /// `p`'s colours, its first (most common) left out when `background`.
    fn of(p: &Palette, background: bool) -> Colours {
        let skip = usize::from(background).min(p.swatches.len());
        let rest = &p.swatches[skip..];
        let left_out: u32 = p.swatches[..skip].iter().map(|s| s.count).sum();
        let total = p.total.saturating_sub(left_out).max(1) as f32;
        Colours {
            rgb: rest.iter().map(|s| s.rgb).collect(),
            share: rest.iter().map(|s| s.count as f32 / total).collect(),
        }
    }
}

/// The colours matched by share as they are; when they cover too little,
/// the best of a few rescalings of B's shares, as if each of B's three
/// largest colours were each of A's (a region that merges with the
/// background in one image and not in the other, a white patch on white,
/// shifts every share alike).
fn best_match(a: &Colours, b: &Colours) -> Vec<Matched> {
    let plain = matched(a, b, 1.0);
    if coverage(&plain) >= MIN_COVERAGE {
        return plain;
    }
    let top = |c: &Colours| c.share.iter().copied().take(3).collect::<Vec<f32>>();
    let scales = top(a).into_iter().flat_map(|p| {
        top(b)
            .into_iter()
            .map(move |q| p / q.max(f32::MIN_POSITIVE))
    });
    let mut best = plain;
    for scale in scales.filter(|s| (s - 1.0).abs() > 0.01 && (0.5..2.0).contains(s)) {
        let m = matched(a, b, scale);
        if coverage(&m) > coverage(&best) {
            best = m;
        }
    }
    best
}

/// Whether two shares are the same region's: within 1% of the larger plus
/// 0.05 points for each of `n` colours (0 when two neighbours of one
/// palette are compared, the run's length when a run of ties in A is
/// matched to one in B: a run spans up to that much).
fn same_share(p: f32, q: f32, n: usize) -> bool {
    (p - q).abs() <= 0.01 * p.max(q) + 0.0005 * (1 + n) as f32
}

/// Runs of colours (indices, most pixels first) whose shares tie.
fn ties(p: &Colours) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    for i in 0..p.rgb.len() {
        match out.last_mut() {
            Some(run) if same_share(p.share[run[run.len() - 1]], p.share[i], 0) => run.push(i),
            _ => out.push(vec![i]),
        }
    }
    out
}

/// A's colours matched to B's by share (B's multiplied by `scale`): a run
/// of ties in A to the one run of as many in B with its share, colour by
/// colour in order of share, equal shares in order of luma.
fn matched(a: &Colours, b: &Colours, scale: f32) -> Vec<Matched> {
    let runs_b = ties(b);
    // Within a run, by share (pixel counts are exact), equal ones by luma.
    let by_luma = |p: &Colours, run: &[usize]| {
        let mut run = run.to_vec();
        let luma = |i: usize| Ycc::of(p.rgb[i]).y;
        run.sort_by(|&i, &j| (p.share[j].total_cmp(&p.share[i])).then(luma(i).total_cmp(&luma(j))));
        run
    };
    // Each run of A to the one run of B it can be; a run of B that two
    // runs of A could be is left unmatched (one to one, or not at all).
    let pairs: Vec<(Vec<usize>, usize)> = ties(a)
        .into_iter()
        .filter(|r| r.len() <= MAX_TIE)
        .filter_map(|run| {
            let share = a.share[run[0]];
            let mut same = (0..runs_b.len()).filter(|&k| {
                let r = &runs_b[k];
                r.len() == run.len() && same_share(share, scale * b.share[r[0]], run.len())
            });
            match (same.next(), same.next()) {
                (Some(k), None) => Some((run, k)),
                _ => None,
            }
        })
        .collect();
    let mut out = Vec::new();
    for (run, k) in &pairs {
        if pairs.iter().filter(|(_, other)| other == k).count() > 1 {
            continue;
        }
        for (i, j) in by_luma(a, run).into_iter().zip(by_luma(b, &runs_b[*k])) {
            out.push(Matched {
                a: a.rgb[i],
                b: b.rgb[j],
                share_a: a.share[i],
                share_b: b.share[j],
            });
        }
    }
    out
}

/// Whether one non-decreasing curve, the same for R, G and B, maps A's
/// colours to B's within [`CURVE_SLACK`] levels.
fn one_curve(pairs: &[Matched]) -> bool {
    let mut points: Vec<(u8, u8)> = pairs
        .iter()
        .flat_map(|m| (0..3).map(move |c| (m.a[c], m.b[c])))
        .collect();
    points.sort_unstable();
    let mut highest = i32::MIN / 2; // the highest output of a smaller input
    for run in points.chunk_by(|p, q| p.0 == q.0) {
        let (lo, hi) = (i32::from(run[0].1), i32::from(run[run.len() - 1].1));
        if hi - lo > CURVE_SLACK || lo < highest - CURVE_SLACK {
            return false;
        }
        highest = highest.max(hi);
    }
    true
}

/// Whether one saturation factor `k` (0 to [`MAX_SATURATION`], in steps of
/// 1/[`SATURATION_STEPS`]) moves every colour of A from its own luma to
/// B's colour, clipped to 0–255, within [`SATURATION_SLACK`] levels a
/// channel: what image editors' saturation (Pillow's `Color`) does. It
/// keeps hue and luma and scales chroma alike for every colour; where it
/// clips it turns hue, and clipping is modelled, not ignored, so a swap
/// hidden behind saturated colours is not taken for one.
fn saturation_edit(pairs: &[Matched]) -> bool {
    (0..=SATURATION_STEPS).any(|i| {
        let k = i as f32 * MAX_SATURATION / SATURATION_STEPS as f32;
        pairs.iter().all(|m| {
            let y = Ycc::of(m.a).y;
            (0..3).all(|c| {
                let p = (y + k * (f32::from(m.a[c]) - y)).round().clamp(0.0, 255.0);
                (p - f32::from(m.b[c])).abs() <= SATURATION_SLACK
            })
        })
    })
}

/// BT.601 luma and Cb, Cr of one colour.
#[derive(Debug, Clone, Copy)]
struct Ycc {
    y: f32,
    cb: f32,
    cr: f32,
}

impl Ycc {
    fn of(c: [u8; 3]) -> Ycc {
        let [r, g, b] = c.map(f32::from);
        Ycc {
            y: luma(&c),
            cb: -0.168_736 * r - 0.331_264 * g + 0.5 * b,
            cr: 0.5 * r - 0.418_688 * g - 0.081_312 * b,
        }
    }

    fn chroma(&self) -> f32 {
        self.cb.hypot(self.cr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::palette;
    use image::{Rgb, RgbImage};

    /// A 40×40 sprite on white: body, belly, eyes and outline, each colour
    /// passed through `edit`; `crop` cuts the right part off.
    fn sprite(edit: impl Fn([u8; 3]) -> [u8; 3], width: u32) -> Palette {
        let img = RgbImage::from_fn(width, 40, |x, y| {
            let c = match (x, y) {
                (0..4, _) | (_, 0..4) => [255, 255, 255],
                (4..6, _) | (_, 4..6) => [16, 16, 16],
                (10..14, 10..14) => [30, 30, 40],
                (6..30, 26..36) => [70, 90, 200],
                (6..36, 6..36) => [200, 120, 60],
                _ => [255, 255, 255],
            };
            Rgb(edit(c))
        });
        palette::of(&img).expect("a few colours")
    }

    fn same(c: [u8; 3]) -> [u8; 3] {
        c
    }

    #[test]
    fn a_swapped_region_is_recoloured_and_tone_edits_are_not() {
        let original = sprite(same, 40);
        let swap = sprite(|c| if c == [70, 90, 200] { [200, 60, 90] } else { c }, 40);
        assert_eq!(recoloured(&original, &swap), Some(true));
        let brighter = sprite(|c| c.map(|v| (f32::from(v) * 1.3).min(255.0) as u8), 40);
        assert_eq!(recoloured(&original, &brighter), Some(false));
        // Either order: brightening clips, so only one way is a curve.
        assert_eq!(recoloured(&brighter, &original), Some(false));
        assert_eq!(recoloured(&original, &original.clone()), Some(false));
        let saturated = sprite(
            |c| {
                let y = Ycc::of(c).y;
                c.map(|v| (y + 1.5 * (f32::from(v) - y)).round().clamp(0.0, 255.0) as u8)
            },
            40,
        );
        assert_eq!(recoloured(&original, &saturated), Some(false));
    }

    #[test]
    fn a_lightened_region_is_recoloured() {
        // The body lightened, the belly not: no one curve, no one gain.
        let original = sprite(same, 40);
        let light = sprite(
            |c| {
                if c == [200, 120, 60] {
                    [235, 175, 130]
                } else {
                    c
                }
            },
            40,
        );
        assert_eq!(recoloured(&original, &light), Some(true));
    }

    #[test]
    fn grey_against_colour_is_recoloured_but_two_greys_follow_a_curve() {
        let grey = |c: [u8; 3]| [Ycc::of(c).y.round() as u8; 3];
        let original = sprite(same, 40);
        assert_eq!(recoloured(&original, &sprite(grey, 40)), Some(true));
        let darker_grey = sprite(|c| grey(c).map(|v| v / 2), 40);
        assert_eq!(recoloured(&sprite(grey, 40), &darker_grey), Some(false));
    }

    #[test]
    fn a_crop_changes_shares_and_gets_no_verdict() {
        assert_eq!(recoloured(&sprite(same, 40), &sprite(same, 22)), None);
    }
}
