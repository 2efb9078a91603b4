//! The JPEG fast path: jpeg-decoder decodes at 1/2, 1/4 or 1/8 DCT scale
//! when the working image is much smaller than the original, which skips
//! most of the inverse DCT work on camera-sized photos.

use std::io::Cursor;
use std::path::Path;

use image::metadata::Orientation;
use image::{DynamicImage, RgbImage};

use super::{check_pixels, to_working_size, DecodeConfig, Decoded};
use crate::error::Result;

/// Fast path for JPEG: jpeg-decoder can skip most of the inverse DCT work by
/// decoding at 1/2, 1/4 or 1/8 scale. Returns `Ok(None)` when this decoder
/// cannot handle the file (CMYK, 16-bit, damaged data) so that the general
/// decoder gets a chance; returns an error only for definite refusals.
pub(super) fn jpeg_scaled(
    path: &Path,
    bytes: &[u8],
    cfg: &DecodeConfig,
) -> Result<Option<Decoded>> {
    let mut dec = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    dec.set_max_decoding_buffer_size(cfg.max_alloc.min(usize::MAX as u64) as usize);
    if dec.read_info().is_err() {
        return Ok(None);
    }
    let Some(info) = dec.info() else {
        return Ok(None);
    };
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    check_pixels(path, w, h, cfg)?;
    if info.pixel_format != jpeg_decoder::PixelFormat::RGB24
        && info.pixel_format != jpeg_decoder::PixelFormat::L8
    {
        return Ok(None);
    }
    let orientation = dec
        .exif_data()
        .and_then(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms);
    let short = w.min(h);
    let target = cfg.work_short_side.min(cfg.scaled_jpeg_min_side).max(1);
    if short < 2 * target {
        // No DCT scaling possible: the general decoder (zune-jpeg) is faster
        // than jpeg-decoder at full scale.
        return Ok(None);
    }
    let req_w = (u64::from(w) * u64::from(target)).div_ceil(u64::from(short));
    let req_h = (u64::from(h) * u64::from(target)).div_ceil(u64::from(short));
    if dec.scale(req_w as u16, req_h as u16).is_err() {
        return Ok(None);
    }
    let Some(rgb) = decode_pixels(&mut dec) else {
        return Ok(None);
    };
    let mut img = DynamicImage::ImageRgb8(rgb);
    img.apply_orientation(orientation);
    let (width, height) = oriented_dims(orientation, w, h);
    let DynamicImage::ImageRgb8(rgb) = img else {
        return Ok(None);
    };
    Ok(Some(Decoded {
        image: to_working_size(rgb, cfg),
        width,
        height,
        format: "jpeg".into(),
        content: None,
        cutout: false,
    }))
}

/// The scaled pixels as RGB (grey JPEGs expanded), or `None` when the
/// decoder fails or returns a layout this path does not take.
fn decode_pixels(dec: &mut jpeg_decoder::Decoder<Cursor<&[u8]>>) -> Option<RgbImage> {
    let pixels = dec.decode().ok()?;
    let info = dec.info()?;
    let (sw, sh) = (u32::from(info.width), u32::from(info.height));
    match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 => RgbImage::from_raw(sw, sh, pixels),
        // Grey copied into R, G and B: the general path's fast expansion,
        // not image's colour-space-aware conversion (floats per pixel).
        jpeg_decoder::PixelFormat::L8 => image::GrayImage::from_raw(sw, sh, pixels)
            .map(|g| super::pixels::to_rgb8(DynamicImage::ImageLuma8(g))),
        _ => None,
    }
}

/// Width and height of a `w`×`h` original once `orientation` is applied.
fn oriented_dims(orientation: Orientation, w: u32, h: u32) -> (u32, u32) {
    match orientation {
        Orientation::Rotate90
        | Orientation::Rotate270
        | Orientation::Rotate90FlipH
        | Orientation::Rotate270FlipH => (h, w),
        _ => (w, h),
    }
}
