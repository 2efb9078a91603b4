//! The PNG fast path: rows go from the decoder straight into the working
//! image, shrunk on the way in ([`RowShrink`]), instead of decoding the
//! whole picture first. A 70-megapixel clip-art PNG then never occupies
//! 280 MB, nor costs the page faults and extra passes over it. The output
//! is the general path's, byte for byte; PNGs this path does not take
//! (interlaced, 16-bit, animated, rotated by EXIF, damaged) go there. The
//! rows come from [`super::png_inflate`] when the picture is small enough
//! to inflate at once, else from the png crate's streaming reader.

use std::io::Cursor;
use std::path::Path;

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{MulDiv, PixelType};
use image::metadata::Orientation;
use image::{RgbImage, RgbaImage};
use png::{BitDepth, ColorType, Transformations};

use super::pixels::{widen_grey, widen_grey_alpha, widen_grey_alpha_into, widen_grey_into};
use super::png_inflate::inflated_rows;
use super::resize::{working_filter, working_kind};
use super::shrink::RowShrink;
use super::{check_pixels, flatten_rgba, resize_rgb, working_dims, DecodeConfig, Decoded, Filter};
use crate::error::Result;

/// Decode the PNG in `bytes` row by row into its working image. `Ok(None)`
/// hands the file to the general decoder; an error is a definite refusal.
pub(super) fn png_rows(path: &Path, bytes: &[u8], cfg: &DecodeConfig) -> Result<Option<Decoded>> {
    let limits = png::Limits {
        bytes: usize::try_from(cfg.max_alloc).unwrap_or(usize::MAX),
    };
    let mut dec = png::Decoder::new_with_limits(Cursor::new(bytes), limits);
    let Ok(info) = dec.read_header_info() else {
        return Ok(None);
    };
    check_pixels(path, info.width, info.height, cfg)?;
    dec.set_transformations(Transformations::EXPAND);
    let Ok(mut reader) = dec.read_info() else {
        return Ok(None);
    };
    let info = reader.info();
    if info.interlaced || info.animation_control.is_some() || rotated(info) {
        return Ok(None);
    }
    let (w, h) = (info.width, info.height);
    let Some(layout) = Layout::of(reader.output_color_type()) else {
        return Ok(None);
    };
    let mut rows = Rows::new(w, h, layout, cfg);
    if !(cfg.inflate_png && inflated_rows(bytes, info, cfg.max_alloc, |row| rows.push(row))) {
        for _ in 0..h {
            let Ok(Some(row)) = reader.next_row() else {
                return Ok(None);
            };
            rows.push(row.data());
        }
    }
    let (image, cutout) = rows.finish();
    Ok(Some(Decoded {
        image,
        width: w,
        height: h,
        format: "png".into(),
        content: None,
        cutout,
    }))
}

/// Whether EXIF asks for the picture to be turned or mirrored (then the
/// general path, which orients before resizing, takes it).
fn rotated(info: &png::Info) -> bool {
    info.exif_metadata
        .as_deref()
        .and_then(Orientation::from_exif_chunk)
        .is_some_and(|o| o != Orientation::NoTransforms)
}

/// The decoder's 8-bit output layouts, and how each widens to RGB or RGBA
/// (grey copied into all three channels, as the general path does).
#[derive(Clone, Copy, PartialEq)]
enum Layout {
    Grey,
    GreyAlpha,
    Rgb,
    Rgba,
}

impl Layout {
    fn of((colour, depth): (ColorType, BitDepth)) -> Option<Layout> {
        if depth != BitDepth::Eight {
            return None;
        }
        match colour {
            ColorType::Grayscale => Some(Layout::Grey),
            ColorType::GrayscaleAlpha => Some(Layout::GreyAlpha),
            ColorType::Rgb => Some(Layout::Rgb),
            ColorType::Rgba => Some(Layout::Rgba),
            ColorType::Indexed => None,
        }
    }

    fn alpha(self) -> bool {
        matches!(self, Layout::GreyAlpha | Layout::Rgba)
    }

    /// Channels after widening: 4 with alpha, else 3.
    fn channels(self) -> usize {
        if self.alpha() {
            4
        } else {
            3
        }
    }

    /// Append `data` widened to `out`.
    fn widen(self, data: &[u8], out: &mut Vec<u8>) {
        match self {
            Layout::Rgb | Layout::Rgba => out.extend_from_slice(data),
            Layout::Grey => widen_grey(data, out),
            Layout::GreyAlpha => widen_grey_alpha(data, out),
        }
    }
}

/// Where widened rows go: kept as they are when the picture is already at
/// working size, else premultiplied (with alpha) and shrunk.
struct Rows {
    layout: Layout,
    src: (u32, u32),
    dst: (u32, u32),
    kept: Vec<u8>,
    shrink: Option<RowShrink>,
    mul_div: MulDiv,
    /// Alpha of the four corners, for [`Decoded::cutout`].
    corners: [u8; 4],
    y: u32,
}

impl Rows {
    fn new(w: u32, h: u32, layout: Layout, cfg: &DecodeConfig) -> Rows {
        let dst = working_dims(w, h, cfg);
        let row_len = w as usize * layout.channels();
        let kind = working_kind((w, h), dst);
        let shrink = (dst != (w, h)).then(|| RowShrink::new(kind, h, dst.1, row_len));
        let kept = if shrink.is_some() {
            Vec::new()
        } else {
            Vec::with_capacity(row_len * h as usize)
        };
        Rows {
            layout,
            src: (w, h),
            dst,
            kept,
            shrink,
            mul_div: MulDiv::default(),
            corners: [255; 4],
            y: 0,
        }
    }

    fn push(&mut self, data: &[u8]) {
        if self.layout.alpha() {
            self.note_corners(data);
        }
        let (layout, width) = (self.layout, self.src.0);
        match &mut self.shrink {
            None => layout.widen(data, &mut self.kept),
            Some(shrink) => {
                let line = shrink.line();
                // A recycled row already has this length: no zeroing, as
                // every byte is written below.
                line.resize(width as usize * layout.channels(), 0);
                match layout {
                    Layout::Rgba => premultiplied(&self.mul_div, data, line, width),
                    Layout::GreyAlpha => {
                        widen_grey_alpha_into(data, line);
                        premultiply(&self.mul_div, line, width);
                    }
                    Layout::Grey => widen_grey_into(data, line),
                    Layout::Rgb => line.copy_from_slice(data),
                }
                shrink.push_line();
            }
        }
        self.y += 1;
    }

    /// Keep the alpha of the first and last pixel of the first and last
    /// rows (`data` as decoded: grey + alpha or RGBA).
    fn note_corners(&mut self, data: &[u8]) {
        let n = if self.layout == Layout::Rgba { 4 } else { 2 };
        let (first, last) = (data[n - 1], data[data.len() - 1]);
        if self.y == 0 {
            self.corners[0] = first;
            self.corners[1] = last;
        }
        if self.y + 1 == self.src.1 {
            self.corners[2] = first;
            self.corners[3] = last;
        }
    }

    /// The working image and whether the picture is a cut-out.
    fn finish(self) -> (RgbImage, bool) {
        let cutout = self.corners.contains(&0);
        let (dw, dh) = self.dst;
        let (sw, sh) = self.src;
        let filter = working_filter(self.src, self.dst);
        let image = match (self.shrink, self.layout.alpha()) {
            (None, true) => flatten_rgba(&rgba(sw, sh, self.kept)),
            (None, false) => RgbImage::from_raw(sw, sh, self.kept).expect("sized buffer"),
            (Some(s), true) => {
                let tall = rgba(sw, dh, s.finish());
                flatten_rgba(&across_rgba(&tall, dw, filter, &self.mul_div))
            }
            (Some(s), false) => {
                let tall = RgbImage::from_raw(sw, dh, s.finish()).expect("sized buffer");
                resize_rgb(&tall, dw, dh, filter)
            }
        };
        (image, cutout)
    }
}

fn rgba(w: u32, h: u32, raw: Vec<u8>) -> RgbaImage {
    RgbaImage::from_raw(w, h, raw).expect("sized buffer")
}

/// fast_image_resize's alpha premultiplication of one RGBA row `data`,
/// written to `line` (of the same length).
fn premultiplied(mul_div: &MulDiv, data: &[u8], line: &mut [u8], width: u32) {
    let src = ImageRef::new(width, 1, data, PixelType::U8x4);
    let dst = Image::from_slice_u8(width, 1, line, PixelType::U8x4);
    if let (Ok(src), Ok(mut dst)) = (src, dst) {
        // Cannot fail: U8x4 is supported and the views match their buffers.
        let _ = mul_div.multiply_alpha(&src, &mut dst);
    }
}

/// fast_image_resize's alpha premultiplication, on one row.
fn premultiply(mul_div: &MulDiv, line: &mut [u8], width: u32) {
    if let Ok(mut row) = Image::from_slice_u8(width, 1, line, PixelType::U8x4) {
        // Cannot fail: U8x4 is supported and the view matches its buffer.
        let _ = mul_div.multiply_alpha_inplace(&mut row);
    }
}

/// The horizontal pass on premultiplied rows, then the division by alpha:
/// the rest of what fast_image_resize does to an RGBA picture.
fn across_rgba(tall: &RgbaImage, w: u32, filter: Filter, mul_div: &MulDiv) -> RgbaImage {
    let mut dst = RgbaImage::new(w, tall.height());
    let opts = fast_image_resize::ResizeOptions::new()
        .resize_alg(filter.alg())
        .use_alpha(false);
    // Neither can fail for RGBA8 buffers of matching height.
    let _ = super::resize::with_resizer(|r| r.resize(tall, &mut dst, &opts));
    let _ = mul_div.divide_alpha_inplace(&mut dst);
    dst
}
