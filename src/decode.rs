//! Turning file bytes into the one small RGB "working image" every feature
//! is computed from. Decoding is the expensive step of indexing, so it
//! happens once per file, is bounded (file size, pixel count, allocation
//! size) so hostile files are refused before memory is committed, applies
//! EXIF orientation, flattens alpha over white, and decodes large JPEGs at a
//! reduced DCT scale when only a small working image is needed.

use std::fs::File;
use std::io::{Cursor, Read};
use std::path::Path;

use image::imageops::FilterType;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};

use crate::config::DecodeConfig;
use crate::error::{Error, Result};
use crate::heif;

/// The result of decoding one file.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// Working image: short side `work_short_side` (long side capped), RGB8.
    pub image: RgbImage,
    /// Width and height of the original after orientation.
    pub width: u32,
    pub height: u32,
    /// Container format as detected from content ("jpeg", "png", ...).
    pub format: String,
    /// The working image without a uniform frame, when it had one.
    pub content: Option<RgbImage>,
}

impl Decoded {
    /// The view hashes and embeddings are computed from: the working image
    /// with any uniform border trimmed.
    pub fn content(&self) -> &RgbImage {
        self.content.as_ref().unwrap_or(&self.image)
    }
}

/// Read a whole file, refusing non-regular and oversized files first.
pub fn read_file(path: &Path, cfg: &DecodeConfig) -> Result<Vec<u8>> {
    // Check before opening: opening a FIFO with no writer blocks forever.
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        let kind = if meta.is_dir() {
            "directory"
        } else {
            "special file"
        };
        return Err(Error::NotAFile {
            path: path.into(),
            kind,
        });
    }
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        let kind = if meta.is_dir() {
            "directory"
        } else {
            "special file"
        };
        return Err(Error::NotAFile {
            path: path.into(),
            kind,
        });
    }
    if meta.len() > cfg.max_file_bytes {
        return Err(Error::FileTooLarge {
            path: path.into(),
            size: meta.len(),
            limit: cfg.max_file_bytes,
        });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(cfg.max_file_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.is_empty() {
        return Err(Error::Decode {
            path: path.into(),
            reason: "file is empty".into(),
        });
    }
    Ok(bytes)
}

/// Decode `bytes` (the content of `path`) into a working image.
pub fn decode(path: &Path, bytes: &[u8], cfg: &DecodeConfig) -> Result<Decoded> {
    crate::fault::inject("decode", path);
    let mut d = decode_any(path, bytes, cfg)?;
    d.content = trim_border(&d.image);
    Ok(d)
}

fn decode_any(path: &Path, bytes: &[u8], cfg: &DecodeConfig) -> Result<Decoded> {
    if let Some(kind) = heif::sniff(bytes) {
        return decode_heif(path, bytes, kind, cfg);
    }
    let format = detect_format(path, bytes)?;
    if format == ImageFormat::Jpeg && cfg.scaled_jpeg {
        if let Some(decoded) = jpeg_scaled(path, bytes, cfg)? {
            return Ok(decoded);
        }
    }
    decode_generic(path, bytes, format, cfg)
}

/// The format named by the content, or a clear error for non-images and
/// vector files.
pub fn detect_format(path: &Path, bytes: &[u8]) -> Result<ImageFormat> {
    if let Ok(f) = image::guess_format(bytes) {
        return Ok(f);
    }
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).to_ascii_lowercase();
    if head.contains("<svg") {
        return Err(Error::Unsupported {
            path: path.into(),
            format: "SVG (vector)".into(),
        });
    }
    Err(Error::Decode {
        path: path.into(),
        reason: "content is not a recognised image format".into(),
    })
}

fn limits(cfg: &DecodeConfig) -> Limits {
    let mut l = Limits::default();
    l.max_alloc = Some(cfg.max_alloc);
    l
}

pub(crate) fn check_pixels(path: &Path, width: u32, height: u32, cfg: &DecodeConfig) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(Error::Decode {
            path: path.into(),
            reason: format!("image has zero size ({width}x{height})"),
        });
    }
    if u64::from(width) * u64::from(height) > cfg.max_pixels {
        return Err(Error::TooManyPixels {
            path: path.into(),
            width,
            height,
            limit: cfg.max_pixels,
        });
    }
    Ok(())
}

fn decode_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Decode {
        path: path.into(),
        reason: e.to_string(),
    }
}

fn decode_generic(
    path: &Path,
    bytes: &[u8],
    format: ImageFormat,
    cfg: &DecodeConfig,
) -> Result<Decoded> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits(cfg));
    let mut decoder = reader.into_decoder().map_err(|e| decode_error(path, e))?;
    let (w, h) = decoder.dimensions();
    check_pixels(path, w, h, cfg)?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| decode_error(path, e))?;
    img.apply_orientation(orientation);
    let (width, height) = (img.width(), img.height());
    let rgb = flatten_alpha(img);
    Ok(Decoded {
        image: to_working_size(rgb, cfg),
        width,
        height,
        format: format_name(format),
        content: None,
    })
}

/// HEIC and AVIF through libheif (see [`heif`]); orientation comes from the
/// container's own transformations, which libheif applies.
fn decode_heif(
    path: &Path,
    bytes: &[u8],
    kind: heif::HeifKind,
    cfg: &DecodeConfig,
) -> Result<Decoded> {
    let rgb = heif::decode(path, bytes, kind, cfg)?;
    let (width, height) = rgb.dimensions();
    Ok(Decoded {
        image: to_working_size(rgb, cfg),
        width,
        height,
        format: kind.name().into(),
        content: None,
    })
}

/// Fast path for JPEG: jpeg-decoder can skip most of the inverse DCT work by
/// decoding at 1/2, 1/4 or 1/8 scale. Returns `Ok(None)` when this decoder
/// cannot handle the file (CMYK, 16-bit, damaged data) so that the general
/// decoder gets a chance; returns an error only for definite refusals.
fn jpeg_scaled(path: &Path, bytes: &[u8], cfg: &DecodeConfig) -> Result<Option<Decoded>> {
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
    let target = cfg.work_short_side;
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
    let Ok(pixels) = dec.decode() else {
        return Ok(None);
    };
    let Some(info) = dec.info() else {
        return Ok(None);
    };
    let (sw, sh) = (u32::from(info.width), u32::from(info.height));
    let rgb = match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 => RgbImage::from_raw(sw, sh, pixels),
        jpeg_decoder::PixelFormat::L8 => image::GrayImage::from_raw(sw, sh, pixels)
            .map(|g| DynamicImage::ImageLuma8(g).to_rgb8()),
        _ => None,
    };
    let Some(rgb) = rgb else {
        return Ok(None);
    };
    let mut img = DynamicImage::ImageRgb8(rgb);
    img.apply_orientation(orientation);
    let (width, height) = match orientation {
        Orientation::Rotate90
        | Orientation::Rotate270
        | Orientation::Rotate90FlipH
        | Orientation::Rotate270FlipH => (h, w),
        _ => (w, h),
    };
    let DynamicImage::ImageRgb8(rgb) = img else {
        return Ok(None);
    };
    Ok(Some(Decoded {
        image: to_working_size(rgb, cfg),
        width,
        height,
        format: "jpeg".into(),
        content: None,
    }))
}

/// Composite any alpha channel over white, so that colours hidden under
/// fully transparent pixels never reach the features.
pub fn flatten_alpha(img: DynamicImage) -> RgbImage {
    if !img.color().has_alpha() {
        return img.into_rgb8();
    }
    let rgba = img.into_rgba8();
    let (w, h) = rgba.dimensions();
    let mut out = RgbImage::new(w, h);
    for (src, dst) in rgba.pixels().zip(out.pixels_mut()) {
        let a = u32::from(src[3]);
        for c in 0..3 {
            let v = (u32::from(src[c]) * a + 255 * (255 - a) + 127) / 255;
            dst[c] = v as u8;
        }
    }
    out
}

/// Scale so the short side is `work_short_side` (up or down), keeping the
/// long side under `work_long_side_max`.
pub fn to_working_size(img: RgbImage, cfg: &DecodeConfig) -> RgbImage {
    let (w, h) = img.dimensions();
    let (nw, nh) = working_dims(w, h, cfg);
    if (nw, nh) == (w, h) {
        return img;
    }
    resize_rgb(&img, nw, nh, Filter::Bilinear)
}

/// Resampling filters used by imgdex.
#[derive(Debug, Clone, Copy)]
pub enum Filter {
    /// Area-aware bilinear (triangle) filter: the working image.
    Bilinear,
    /// Bicubic (Catmull-Rom): CNN input, as the models were evaluated.
    Bicubic,
}

/// Resize with `fast_image_resize` (SIMD convolution, antialiased when
/// downscaling); falls back to `image`'s resize if it refuses.
pub fn resize_rgb(img: &RgbImage, w: u32, h: u32, filter: Filter) -> RgbImage {
    use fast_image_resize::{FilterType as F, ResizeAlg, ResizeOptions, Resizer};
    let alg = match filter {
        Filter::Bilinear => ResizeAlg::Convolution(F::Bilinear),
        Filter::Bicubic => ResizeAlg::Convolution(F::CatmullRom),
    };
    let mut dst = RgbImage::new(w, h);
    let opts = ResizeOptions::new().resize_alg(alg);
    match Resizer::new().resize(img, &mut dst, &opts) {
        Ok(()) => dst,
        Err(_) => {
            let f = match filter {
                Filter::Bilinear => FilterType::Triangle,
                Filter::Bicubic => FilterType::CatmullRom,
            };
            image::imageops::resize(img, w, h, f)
        }
    }
}

/// Target dimensions of the working image for an original of `w`×`h`.
pub fn working_dims(w: u32, h: u32, cfg: &DecodeConfig) -> (u32, u32) {
    let short = f64::from(w.min(h));
    let long = f64::from(w.max(h));
    let mut s = f64::from(cfg.work_short_side) / short;
    if long * s > f64::from(cfg.work_long_side_max) {
        s = f64::from(cfg.work_long_side_max) / long;
    }
    let nw = ((f64::from(w) * s).round() as u32).max(1);
    let nh = ((f64::from(h) * s).round() as u32).max(1);
    (nw, nh)
}

fn format_name(f: ImageFormat) -> String {
    format!("{f:?}").to_ascii_lowercase()
}

/// Largest per-channel difference tolerated between a border pixel and the
/// border colour.
const BORDER_TOLERANCE: i16 = 24;

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
    if corners.iter().any(|c| !near(c, &colour)) {
        return None;
    }
    let row_uniform = |y: u32| uniform((0..w).map(|x| img.get_pixel(x, y)), &colour);
    let col_uniform = |x: u32| uniform((0..h).map(|y| img.get_pixel(x, y)), &colour);
    let (max_x, max_y) = (w / 3, h / 3);
    let top = (0..max_y).take_while(|&y| row_uniform(y)).count() as u32;
    let bottom = (0..max_y).take_while(|&i| row_uniform(h - 1 - i)).count() as u32;
    let left = (0..max_x).take_while(|&x| col_uniform(x)).count() as u32;
    let right = (0..max_x).take_while(|&i| col_uniform(w - 1 - i)).count() as u32;
    // Only a frame on every side, at least 2% of the size, counts.
    let min = |n: u32| (n / 50).max(2);
    if top < min(h) || bottom < min(h) || left < min(w) || right < min(w) {
        return None;
    }
    let (cw, ch) = (w - left - right, h - top - bottom);
    Some(image::imageops::crop_imm(img, left, top, cw, ch).to_image())
}

fn near(a: &image::Rgb<u8>, b: &image::Rgb<u8>) -> bool {
    (0..3).all(|c| (i16::from(a[c]) - i16::from(b[c])).abs() <= BORDER_TOLERANCE)
}

/// True when at least 98% of `pixels` are near `colour`.
fn uniform<'a>(pixels: impl Iterator<Item = &'a image::Rgb<u8>>, colour: &image::Rgb<u8>) -> bool {
    let (mut n, mut off) = (0u32, 0u32);
    for p in pixels {
        n += 1;
        off += u32::from(!near(p, colour));
    }
    off * 50 <= n
}
