//! The copy signature: the little per-image data `dupes` needs after its
//! cheap candidates, computed once at index time from the working image.
//! A 64×64 luma thumbnail (Gaussian-filtered) of the content view (frame
//! trimmed) lets the verification stage align a pair and look for
//! localised structural change (copies of one capture have none, other
//! captures do); a 32×32 chroma grid keeps colour variants apart (fine
//! enough that a sprite's regions of one colour have flat pixels inside
//! them, where a palette swap shows and resampling noise does not); and a
//! few flags record evidence of editing (an added frame, greyscale, corner
//! wedges left by a rotation, the JPEG quantisation strength), which the
//! keeper rules rank by. An image of few colours (a sprite, an icon) also
//! keeps its palette (`features::palette`), which tells a recoloured
//! graphic from a tone-edited copy where the chroma grid cannot.
//! 4,096 + 2,048 + 16 bytes of payload per image (about 6.2 KB stored),
//! plus 1 byte, or for a graphic its palette: a few bytes and 4–8 a colour
//! (a `pokemon-dev` sprite keeps 11 colours, the median: about 60 bytes).

use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::decode::{Decoded, Filter, TRIM, WORKING_IMAGE};
use crate::features::palette::{self, Palette, MAX_COLOURS, MIN_SHARE_PER_MILLE};

/// Side of the luma thumbnail.
pub const SIDE: usize = 64;
/// Side of the chroma grid.
pub const CHROMA_SIDE: usize = 32;

/// Names the thumbnail layout, the working image and the evidence rules;
/// bump the version when any of them changes.
pub fn fingerprint() -> String {
    format!("signature/{WORKING_IMAGE}/{TRIM}/luma-gauss{SIDE}+size+cbcr-box{CHROMA_SIDE}+edits+palette{MAX_COLOURS}-{MIN_SHARE_PER_MILLE}pm/v5")
}

/// What one image's signature holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// BT.601 luma of the content view, box-averaged to `SIDE`×`SIDE`, rows.
    /// (Bytes to serde: the same postcard layout as a sequence of `u8`,
    /// decoded in one copy instead of byte by byte.)
    #[serde(with = "serde_bytes")]
    pub luma: Vec<u8>,
    /// Size of the content view in pixels (its proportions: the thumbnail
    /// is square).
    pub width: u32,
    pub height: u32,
    /// Mean Cb, Cr (offset 128) on a `CHROMA_SIDE`² grid, interleaved.
    #[serde(with = "serde_bytes")]
    pub chroma: Vec<u8>,
    pub edits: Edits,
    /// The content view's palette when it has few colours (a graphic).
    pub palette: Option<Palette>,
}

/// Evidence that an image was edited, read from the image alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Edits {
    /// A uniform frame was trimmed off (a border or matte was added).
    pub framed: bool,
    /// No pixel has colour (greyscale, or saved as grey).
    pub grey: bool,
    /// All four corners are wedges of one flat colour, as a rotation by a
    /// few degrees leaves them (and no frame was found).
    pub wedges: bool,
    /// Sum of the first JPEG quantisation table (64 entries; higher is
    /// stronger compression); 0 for a format without one.
    pub jpeg_quant: u32,
}

/// The signature of one decoded image; `jpeg_quant` from its file bytes.
pub fn compute(decoded: &Decoded, file: &[u8]) -> Signature {
    let content = decoded.content();
    Signature {
        luma: thumbnail_luma(content),
        width: content.width(),
        height: content.height(),
        chroma: chroma(content),
        edits: Edits {
            framed: decoded.content.is_some(),
            grey: is_grey(&decoded.image),
            wedges: decoded.content.is_none() && wedges(&decoded.image),
            jpeg_quant: jpeg_quant(file),
        },
        palette: palette::of(content),
    }
}

/// BT.601 luma of one RGB colour.
pub(crate) fn luma(p: &[u8; 3]) -> f32 {
    0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2])
}

/// The content view brought to `SIDE`×`SIDE` with a Gaussian filter, as
/// luma. Not a box average: fine repeating texture (stripes, a dithered
/// background) then aliases into a moiré that differs between two
/// resamplings of one picture, and the detail comparison reads it as
/// change. On the development sets the Gaussian thumbnail also left the
/// widest gap between copies and other captures of the same scene of the
/// filters tried (box, Hamming, Catmull-Rom, Mitchell, Lanczos3; README,
/// "Copies and series").
fn thumbnail_luma(img: &RgbImage) -> Vec<u8> {
    let small = crate::decode::resize_rgb(img, SIDE as u32, SIDE as u32, Filter::Gaussian);
    small
        .pixels()
        .map(|p| luma(&p.0).round().clamp(0.0, 255.0) as u8)
        .collect()
}

/// `f` of every pixel, averaged over `side`×`side` boxes (each box at
/// least one pixel, so small images are sampled rather than averaged).
fn box_average(img: &RgbImage, side: usize, f: impl Fn(&[u8; 3]) -> f32) -> Vec<u8> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let span = |i: usize, n: usize| {
        let a = i * n / side;
        let b = ((i + 1) * n / side).max(a + 1).min(n);
        (a.min(n - 1), b)
    };
    let mut out = Vec::with_capacity(side * side);
    for by in 0..side {
        let (y0, y1) = span(by, h);
        for bx in 0..side {
            let (x0, x1) = span(bx, w);
            let mut sum = 0.0;
            for y in y0..y1 {
                for x in x0..x1 {
                    sum += f(&img.get_pixel(x as u32, y as u32).0);
                }
            }
            let n = ((y1 - y0) * (x1 - x0)) as f32;
            out.push((sum / n).round().clamp(0.0, 255.0) as u8);
        }
    }
    out
}

fn chroma(img: &RgbImage) -> Vec<u8> {
    let cb = |p: &[u8; 3]| {
        128.0 - 0.168_736 * f32::from(p[0]) - 0.331_264 * f32::from(p[1]) + 0.5 * f32::from(p[2])
    };
    let cr = |p: &[u8; 3]| {
        128.0 + 0.5 * f32::from(p[0]) - 0.418_688 * f32::from(p[1]) - 0.081_312 * f32::from(p[2])
    };
    let (b, r) = (
        box_average(img, CHROMA_SIDE, cb),
        box_average(img, CHROMA_SIDE, cr),
    );
    b.into_iter().zip(r).flat_map(|(b, r)| [b, r]).collect()
}

/// Largest channel spread that still counts as grey (JPEG chroma noise).
const GREY_SPREAD: u8 = 3;

fn is_grey(img: &RgbImage) -> bool {
    img.pixels().all(|p| {
        let [r, g, b] = p.0;
        r.max(g).max(b) - r.min(g).min(b) <= GREY_SPREAD
    })
}

/// Corner wedges: in each corner, the pixels along both edges for 3% of
/// the side match the corner pixel, every corner has the same colour, and
/// the centre does not.
fn wedges(img: &RgbImage) -> bool {
    let (w, h) = img.dimensions();
    if w < 32 || h < 32 {
        return false;
    }
    let reach = (w.min(h) * 3 / 100).max(2);
    let colour = img.get_pixel(0, 0).0;
    let near = |x: u32, y: u32| {
        let p = img.get_pixel(x, y).0;
        (0..3).all(|c| p[c].abs_diff(colour[c]) <= 24)
    };
    let corners = [
        (0, 0, 1i64, 1i64),
        (w - 1, 0, -1, 1),
        (0, h - 1, 1, -1),
        (w - 1, h - 1, -1, -1),
    ];
    let all = corners.iter().all(|&(x, y, dx, dy)| {
        (0..reach).all(|i| {
            let i = i64::from(i);
            near((i64::from(x) + dx * i) as u32, y) && near(x, (i64::from(y) + dy * i) as u32)
        })
    });
    all && !near(w / 2, h / 2)
}

/// The sum of the first quantisation table of a JPEG (0 when `file` is
/// not one or has none): a cheap, format-level measure of how hard it was
/// compressed.
pub fn jpeg_quant(file: &[u8]) -> u32 {
    if !file.starts_with(&[0xFF, 0xD8]) {
        return 0;
    }
    let mut i = 2;
    while i + 4 <= file.len() {
        if file[i] != 0xFF {
            return 0;
        }
        let marker = file[i + 1];
        if marker == 0xFF {
            i += 1;
            continue;
        }
        let len = usize::from(u16::from_be_bytes([file[i + 2], file[i + 3]]));
        if marker == 0xDA || len < 2 {
            return 0;
        }
        if marker == 0xDB && i + 4 < file.len() {
            let body = &file[(i + 4).min(file.len())..(i + 2 + len).min(file.len())];
            return quant_sum(body);
        }
        i += 2 + len;
    }
    0
}

fn quant_sum(body: &[u8]) -> u32 {
    let Some(&pq_tq) = body.first() else {
        return 0;
    };
    let table = &body[1..];
    if pq_tq >> 4 == 0 {
        table.iter().take(64).map(|&v| u32::from(v)).sum()
    } else {
        table
            .chunks_exact(2)
            .take(64)
            .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantisation_grows_as_quality_falls() {
        let img = RgbImage::from_fn(64, 64, |x, y| {
            image::Rgb([(x * 4) as u8, (y * 4) as u8, 90])
        });
        let at = |q: u8| {
            let mut out = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, q)
                .encode_image(&img)
                .unwrap();
            jpeg_quant(&out)
        };
        assert!(at(30) > at(60) && at(60) > at(92) && at(92) > 0);
        assert_eq!(jpeg_quant(b"\x89PNG\r\n\x1a\n"), 0);
    }

    #[test]
    fn a_small_image_is_sampled_and_grey_is_seen() {
        let img = RgbImage::from_pixel(5, 3, image::Rgb([100, 100, 100]));
        let v = thumbnail_luma(&img);
        assert_eq!(v.len(), SIDE * SIDE);
        assert!(v.iter().all(|&l| l == 100));
        assert!(is_grey(&img));
        assert!(!is_grey(&RgbImage::from_pixel(
            5,
            3,
            image::Rgb([200, 40, 40])
        )));
    }
}
