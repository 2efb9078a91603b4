//! From a decoder's pixels to the RGB working image. Decoding is the big
//! cost of indexing, so this step visits the full-size pixels as few times
//! as possible: the common layouts (RGB, RGBA, grey, grey + alpha) convert
//! in one tight pass, and an image with alpha is brought down to the working
//! size *before* it is flattened over white, so the blend touches working
//! pixels only. Resizing with premultiplied alpha and then compositing gives
//! the same picture as compositing first (both are linear in the pixels),
//! up to rounding.

use image::{DynamicImage, RgbImage, RgbaImage};

use super::{resize_rgb, to_working_size, working_dims, working_filter, DecodeConfig};

/// The working image of a decoded picture: oriented pixels in, RGB8 at the
/// working size out, alpha composited over white.
pub fn working_rgb(img: DynamicImage, cfg: &DecodeConfig) -> RgbImage {
    if !img.color().has_alpha() {
        return to_working_size(to_rgb8(img), cfg);
    }
    let rgba = to_rgba8(img);
    let (w, h) = rgba.dimensions();
    let (nw, nh) = working_dims(w, h, cfg);
    if (nw, nh) == (w, h) {
        return flatten_rgba(&rgba);
    }
    flatten_rgba(&resize_rgba(&rgba, nw, nh))
}

/// Composite any alpha channel over white, so that colours hidden under
/// fully transparent pixels never reach the features.
pub fn flatten_alpha(img: DynamicImage) -> RgbImage {
    if !img.color().has_alpha() {
        return to_rgb8(img);
    }
    flatten_rgba(&to_rgba8(img))
}

pub(super) fn flatten_rgba(rgba: &RgbaImage) -> RgbImage {
    let (w, h) = rgba.dimensions();
    // Written in place into a sized buffer: no capacity check per pixel.
    let mut out = vec![0u8; rgba.as_raw().len() / 4 * 3];
    let mut src = rgba.as_raw().chunks_exact(32);
    let mut dst = out.chunks_exact_mut(24);
    // Eight pixels at a time: runs of opaque or fully transparent pixels
    // (most of them, in practice) skip the blend, which gives the same
    // bytes for them.
    for (s, d) in (&mut src).zip(&mut dst) {
        let s: &[u8; 32] = s.try_into().expect("32-byte chunk");
        let d: &mut [u8; 24] = d.try_into().expect("24-byte chunk");
        match group_alpha(s) {
            GroupAlpha::Opaque => copy_rgb(s, d),
            GroupAlpha::Clear => d.fill(255),
            GroupAlpha::Mixed => blend_pixels(s, d),
        }
    }
    blend_pixels(src.remainder(), dst.into_remainder());
    RgbImage::from_raw(w, h, out).expect("three bytes per pixel")
}

enum GroupAlpha {
    Opaque,
    Clear,
    Mixed,
}

/// Whether eight RGBA pixels are all opaque, all fully transparent, or
/// neither: their alpha bytes masked out of four 64-bit words.
fn group_alpha(s: &[u8; 32]) -> GroupAlpha {
    const ALPHA: u64 = 0xFF00_0000_FF00_0000;
    let words = s
        .chunks_exact(8)
        .map(|w| u64::from_le_bytes(w.try_into().expect("8 bytes")) & ALPHA);
    let (mut all, mut any) = (ALPHA, 0);
    for w in words {
        all &= w;
        any |= w;
    }
    if all == ALPHA {
        GroupAlpha::Opaque
    } else if any == 0 {
        GroupAlpha::Clear
    } else {
        GroupAlpha::Mixed
    }
}

/// The colour bytes of eight RGBA pixels: seven overlapping four-byte
/// copies (each pixel's alpha overwritten by the next pixel) and a last
/// three-byte one.
fn copy_rgb(s: &[u8; 32], d: &mut [u8; 24]) {
    for i in 0..7 {
        d[3 * i..3 * i + 4].copy_from_slice(&s[4 * i..4 * i + 4]);
    }
    d[21..24].copy_from_slice(&s[28..31]);
}

/// Each RGBA pixel of `src` over white, into the RGB pixels of `dst`.
fn blend_pixels(src: &[u8], dst: &mut [u8]) {
    for (p, o) in src.chunks_exact(4).zip(dst.chunks_exact_mut(3)) {
        o.iter_mut()
            .zip(&p[..3])
            .for_each(|(o, &c)| *o = blend_over_white(c, p[3]));
    }
}

/// `c` at opacity `a` over white, rounded to nearest.
pub fn blend_over_white(c: u8, a: u8) -> u8 {
    let (c, a) = (u32::from(c), u32::from(a));
    ((c * a + 255 * (255 - a) + 127) / 255) as u8
}

/// RGBA resized with premultiplied alpha (`fast_image_resize` multiplies
/// and divides by alpha around the convolution), so transparent pixels'
/// hidden colours do not bleed into their neighbours.
fn resize_rgba(img: &RgbaImage, w: u32, h: u32) -> RgbaImage {
    let filter = working_filter(img.dimensions(), (w, h));
    let mut dst = RgbaImage::new(w, h);
    let opts = fast_image_resize::ResizeOptions::new().resize_alg(filter.alg());
    match super::resize::with_resizer(|r| r.resize(img, &mut dst, &opts)) {
        Ok(()) => dst,
        // Cannot happen for RGBA8 buffers of matching size; stay correct anyway.
        Err(_) => {
            let flat = resize_rgb(&flatten_rgba(img), w, h, filter);
            DynamicImage::ImageRgb8(flat).into_rgba8()
        }
    }
}

/// RGB8 pixels; grey expands by copying (what `image`'s generic, colour-
/// space-aware conversion computes for 8-bit grey, at a fraction of its cost).
pub(super) fn to_rgb8(img: DynamicImage) -> RgbImage {
    match img {
        DynamicImage::ImageRgb8(rgb) => rgb,
        DynamicImage::ImageLuma8(g) => {
            let (w, h) = g.dimensions();
            let mut raw = Vec::with_capacity(g.as_raw().len() * 3);
            widen_grey(g.as_raw(), &mut raw);
            RgbImage::from_raw(w, h, raw).expect("three bytes per pixel")
        }
        other => other.into_rgb8(),
    }
}

/// RGBA8 pixels, with the same fast path for 8-bit grey + alpha.
fn to_rgba8(img: DynamicImage) -> RgbaImage {
    match img {
        DynamicImage::ImageRgba8(rgba) => rgba,
        DynamicImage::ImageLumaA8(g) => {
            let (w, h) = g.dimensions();
            let mut raw = Vec::with_capacity(g.as_raw().len() * 2);
            widen_grey_alpha(g.as_raw(), &mut raw);
            RgbaImage::from_raw(w, h, raw).expect("four bytes per pixel")
        }
        other => other.into_rgba8(),
    }
}

/// Grey samples appended to `out` as RGB, the value copied into each channel.
pub(super) fn widen_grey(grey: &[u8], out: &mut Vec<u8>) {
    let at = out.len();
    out.resize(at + grey.len() * 3, 0);
    widen_grey_into(grey, &mut out[at..]);
}

/// [`widen_grey`] into a slice of three bytes per sample.
pub(super) fn widen_grey_into(grey: &[u8], out: &mut [u8]) {
    for (o, &v) in out.chunks_exact_mut(3).zip(grey) {
        o.fill(v);
    }
}

/// Grey + alpha pairs appended to `out` as RGBA.
pub(super) fn widen_grey_alpha(grey_alpha: &[u8], out: &mut Vec<u8>) {
    let at = out.len();
    out.resize(at + grey_alpha.len() * 2, 0);
    widen_grey_alpha_into(grey_alpha, &mut out[at..]);
}

/// [`widen_grey_alpha`] into a slice of four bytes per pair.
pub(super) fn widen_grey_alpha_into(grey_alpha: &[u8], out: &mut [u8]) {
    for (o, p) in out.chunks_exact_mut(4).zip(grey_alpha.chunks_exact(2)) {
        o.copy_from_slice(&[p[0], p[0], p[0], p[1]]);
    }
}
