//! Turning file bytes into the one small RGB "working image" every feature
//! is computed from. Decoding is the expensive step of indexing, so it
//! happens once per file, is bounded (file size, pixel count, allocation
//! size) so hostile files are refused before memory is committed, applies
//! EXIF orientation, flattens alpha over white, and decodes large JPEGs at a
//! reduced DCT scale when only a small working image is needed.

use std::fs::File;
use std::io::{Cursor, Read};
use std::path::Path;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};

use crate::error::{Error, Result};

mod border;
mod config;
pub mod heif;
mod jpeg;
pub(crate) mod kernel;
mod pixels;
mod png_inflate;
mod png_rows;
mod resize;
mod shrink;
mod truncation;
mod unfilter;

pub use border::{trim_border, TRIM};
pub use config::DecodeConfig;
use jpeg::jpeg_scaled;
use pixels::flatten_rgba;
pub use pixels::{blend_over_white, flatten_alpha, working_rgb};
use png_rows::png_rows;
pub use resize::{
    resize_rgb, to_working_size, working_dims, working_filter, Filter, WORKING_IMAGE,
};
pub use truncation::truncation;

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
    /// The file is a cut-out: it has an alpha channel and a fully
    /// transparent corner, so the picture is an object on no background
    /// (a sprite, an icon, clipart) rather than a scene.
    pub cutout: bool,
}

impl Decoded {
    /// The view hashes and embeddings are computed from: the working image
    /// with any uniform border trimmed.
    pub fn content(&self) -> &RgbImage {
        self.content.as_ref().unwrap_or(&self.image)
    }
}

/// `NotAFile` unless `meta` is a regular file's.
fn regular(path: &Path, meta: &std::fs::Metadata) -> Result<()> {
    if meta.is_file() {
        return Ok(());
    }
    let kind = if meta.is_dir() {
        "directory"
    } else {
        "special file"
    };
    Err(Error::NotAFile {
        path: path.into(),
        kind,
    })
}

/// Read a whole file, refusing non-regular and oversized files first.
pub fn read_file(path: &Path, cfg: &DecodeConfig) -> Result<Vec<u8>> {
    // Check before opening: opening a FIFO with no writer blocks forever.
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    regular(path, &meta)?;
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    regular(path, &meta)?;
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
    if format == ImageFormat::Png && cfg.streamed_png {
        if let Some(decoded) = png_rows(path, bytes, cfg)? {
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
    let cutout = is_cutout(&img);
    Ok(Decoded {
        image: working_rgb(img, cfg),
        width,
        height,
        format: format_name(format),
        content: None,
        cutout,
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
    let (img, cutout) = heif::decode(path, bytes, kind, cfg)?;
    let (width, height) = (img.width(), img.height());
    Ok(Decoded {
        image: working_rgb(img, cfg),
        width,
        height,
        format: kind.name().into(),
        content: None,
        cutout,
    })
}

/// Whether `img` is a cut-out: an alpha channel and a fully transparent
/// pixel in at least one corner.
pub fn is_cutout(img: &DynamicImage) -> bool {
    if !img.color().has_alpha() || img.width() == 0 || img.height() == 0 {
        return false;
    }
    let (w, h) = (img.width() - 1, img.height() - 1);
    [(0, 0), (w, 0), (0, h), (w, h)]
        .iter()
        .any(|&(x, y)| image::GenericImageView::get_pixel(img, x, y)[3] == 0)
}

fn format_name(f: ImageFormat) -> String {
    format!("{f:?}").to_ascii_lowercase()
}
