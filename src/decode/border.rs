//! Uniform-frame detection: the "content" view of a working image without
//! a border or matte, so a bordered copy hashes like its original.

use image::RgbImage;

/// Largest per-channel difference tolerated between a border pixel and the
/// border colour.
const BORDER_TOLERANCE: i16 = 24;

/// Largest mean difference (the largest channel's, in levels) between a
/// frame's pixels and its colour. An added border or matte is flat (its
/// JPEG ringing near the picture aside): at most 1.6 over the development
/// sets' framed copies, where a dark textured background or fine stripes
/// that merely stay within [`BORDER_TOLERANCE`] of the corner measured 2.8
/// and more, and trimming those cut a different piece out of every copy.
const FLAT_FRAME: f32 = 2.0;

/// Names the frame rule in the fingerprints of everything computed from
/// the content view (hashes, embeddings, copy signatures).
pub const TRIM: &str = "trim-flat2";

/// The image without a uniform frame (a border or matte added around a
/// picture), or `None` when there is none. Hashes and embeddings are
/// computed on this "content" view so that a bordered copy matches its
/// original; the colour histogram keeps the whole image.
pub fn trim_border(img: &RgbImage) -> Option<RgbImage> {
    let (w, h) = img.dimensions();
    if w < 16 || h < 16 {
        return None;
    }
    let corners = [
        img.get_pixel(0, 0),
        img.get_pixel(w - 1, 0),
        img.get_pixel(0, h - 1),
        img.get_pixel(w - 1, h - 1),
    ];
    let colour = *corners[0];
    if corners.iter().any(|c| !near(&c.0, &colour.0)) {
        return None;
    }
    // Rows and columns straight from the raw buffer (3 bytes a pixel).
    let raw = img.as_raw();
    let row = (w * 3) as usize;
    // A row exactly the corner's colour (a plain background, most often)
    // is found by one slice comparison before the tolerant count.
    let solid: Vec<u8> = colour.0.iter().copied().cycle().take(row).collect();
    let row_uniform = |y: u32| {
        let pixels = &raw[y as usize * row..][..row];
        pixels == solid.as_slice() || uniform(pixels.chunks_exact(3), w, &colour)
    };
    let col_uniform = |x: u32| {
        let column = raw[x as usize * 3..].chunks_exact(3).step_by(w as usize);
        uniform(column, h, &colour)
    };
    let (max_x, max_y) = (w / 3, h / 3);
    // Only a frame on every side, at least 2% of the size, counts: rows
    // (contiguous) are measured first, and columns (strided) only when
    // the rows left a frame possible.
    let min = |n: u32| (n / 50).max(2);
    let top = (0..max_y).take_while(|&y| row_uniform(y)).count() as u32;
    let bottom = (0..max_y).take_while(|&i| row_uniform(h - 1 - i)).count() as u32;
    if top < min(h) || bottom < min(h) {
        return None;
    }
    let left = (0..max_x).take_while(|&x| col_uniform(x)).count() as u32;
    let right = (0..max_x).take_while(|&i| col_uniform(w - 1 - i)).count() as u32;
    if left < min(w) || right < min(w) {
        return None;
    }
    let (cw, ch) = (w - left - right, h - top - bottom);
    let inner = (left, top, cw, ch);
    (frame_deviation(img, inner, &colour) <= FLAT_FRAME).then(|| crop(img, left, top, cw, ch))
}

/// Mean over the pixels outside `inner` (x, y, width, height) of their
/// largest channel difference from `colour`.
fn frame_deviation(img: &RgbImage, inner: (u32, u32, u32, u32), colour: &image::Rgb<u8>) -> f32 {
    let (x0, y0, cw, ch) = inner;
    let (mut sum, mut n) = (0u64, 0u64);
    for (x, y, p) in img.enumerate_pixels() {
        if (x0..x0 + cw).contains(&x) && (y0..y0 + ch).contains(&y) {
            continue;
        }
        let d = (0..3)
            .map(|c| p.0[c].abs_diff(colour.0[c]))
            .max()
            .unwrap_or(0);
        sum += u64::from(d);
        n += 1;
    }
    sum as f32 / n.max(1) as f32
}

/// The `cw`×`ch` rectangle at (`x`, `y`), copied a row slice at a time
/// (image's `SubImage::to_image` copies pixel by pixel: 4% of indexing
/// small graphics).
fn crop(img: &RgbImage, x: u32, y: u32, cw: u32, ch: u32) -> RgbImage {
    let row = img.width() as usize * 3;
    let (from, len) = (x as usize * 3, cw as usize * 3);
    let mut raw = Vec::with_capacity(len * ch as usize);
    for r in img
        .as_raw()
        .chunks_exact(row)
        .skip(y as usize)
        .take(ch as usize)
    {
        raw.extend_from_slice(&r[from..from + len]);
    }
    RgbImage::from_raw(cw, ch, raw).expect("sized buffer")
}

fn near(a: &[u8], b: &[u8]) -> bool {
    (0..3).all(|c| (i16::from(a[c]) - i16::from(b[c])).abs() <= BORDER_TOLERANCE)
}

/// True when at least 98% of `pixels` (`n` RGB byte triples) are near
/// `colour`; stops at the first pixel that makes that impossible.
fn uniform<'a>(pixels: impl Iterator<Item = &'a [u8]>, n: u32, colour: &image::Rgb<u8>) -> bool {
    let allowed = n / 50;
    let mut off = 0u32;
    for p in pixels {
        off += u32::from(!near(p, &colour.0));
        if off > allowed {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 120×90 picture (a bright square on mid grey) inside a 10-pixel
    /// frame of `frame(x, y)`.
    fn framed(frame: impl Fn(u32, u32) -> [u8; 3]) -> RgbImage {
        RgbImage::from_fn(140, 110, |x, y| {
            let inside = (10..130).contains(&x) && (10..100).contains(&y);
            let square = (50..90).contains(&x) && (40..70).contains(&y);
            image::Rgb(match (inside, square) {
                (true, true) => [230, 200, 40],
                (true, false) => [120, 120, 120],
                _ => frame(x, y),
            })
        })
    }

    #[test]
    fn a_flat_frame_is_trimmed() {
        let c = trim_border(&framed(|_, _| [250, 250, 250])).expect("a frame");
        assert_eq!(c.dimensions(), (120, 90));
    }

    #[test]
    fn a_textured_margin_within_tolerance_is_not_a_frame() {
        // Dark stripes 20 levels apart: every pixel within the tolerance
        // of the corner, but not a flat added border.
        let stripes = framed(|x, y| {
            if (x + y) / 3 % 2 == 0 {
                [20, 20, 24]
            } else {
                [40, 40, 44]
            }
        });
        assert!(trim_border(&stripes).is_none());
    }
}
