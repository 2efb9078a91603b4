//! HEIC and AVIF, the formats phones write. Both are HEIF containers (an
//! ISO-BMFF `ftyp` box naming their brand) around HEVC or AV1 pictures, and
//! the `image` crate decodes neither, so they go through libheif (Debian's
//! `libheif1`, via `libheif-rs`) when imgdex is built with the `heif` cargo
//! feature, which `scripts/setup` enables when it can install the library.
//! Recognising the container is pure Rust and always compiled in, so a build
//! without the feature still names the format and says how to enable it
//! instead of calling the file "not an image".

use std::path::Path;

use image::DynamicImage;

use crate::decode::DecodeConfig;
use crate::error::{Error, Result};

/// The two HEIF flavours imgdex tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeifKind {
    /// HEVC-coded HEIF (iPhone photos): `.heic`, `.heif`.
    Heic,
    /// AV1-coded HEIF: `.avif`.
    Avif,
}

impl HeifKind {
    pub fn name(self) -> &'static str {
        match self {
            HeifKind::Heic => "heic",
            HeifKind::Avif => "avif",
        }
    }
}

/// True when this imgdex was built with HEIC/AVIF decoding.
pub const BUILT_IN: bool = cfg!(feature = "heif");

/// What to do to get HEIC/AVIF support, for the skip notice.
pub const HOW_TO_ENABLE: &str = "this imgdex was built without HEIC/AVIF support; \
     install libheif (`apt-get install libheif-dev`, done by scripts/setup as root) \
     and build with `cargo build --release --features heif`";

const HEIC_BRANDS: &[&[u8; 4]] = &[
    b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1",
    b"mif2", b"miaf",
];
const AVIF_BRANDS: &[&[u8; 4]] = &[b"avif", b"avis"];

/// The HEIF flavour named by the file's `ftyp` box, if it is one. The major
/// brand decides; a generic major brand (`mif1`, `msf1`) is refined by the
/// compatible brands, where AVIF files list `avif`.
pub fn sniff(bytes: &[u8]) -> Option<HeifKind> {
    if bytes.len() < 16 || &bytes[4..8] != b"ftyp" {
        return None;
    }
    let box_len = u32::from_be_bytes(bytes[0..4].try_into().ok()?) as usize;
    let end = box_len.clamp(16, 4096).min(bytes.len());
    let major: &[u8; 4] = bytes[8..12].try_into().ok()?;
    // Compatible brands follow the major brand and its 4-byte minor version.
    let compatible = bytes[16..end].chunks_exact(4);
    let brands: Vec<&[u8]> = std::iter::once(&major[..]).chain(compatible).collect();
    if brands
        .iter()
        .any(|b| AVIF_BRANDS.iter().any(|a| &a[..] == *b))
    {
        return Some(HeifKind::Avif);
    }
    if brands
        .iter()
        .any(|b| HEIC_BRANDS.iter().any(|h| &h[..] == *b))
    {
        return Some(HeifKind::Heic);
    }
    None
}

/// Decode the primary picture of a HEIF file to RGB8 or RGBA8, with the
/// container's rotation and mirroring applied. Returns the image at full
/// size (the caller flattens it and scales it to the working size) and
/// whether it is a cut-out (see [`crate::decode::is_cutout`]).
pub fn decode(
    path: &Path,
    bytes: &[u8],
    kind: HeifKind,
    cfg: &DecodeConfig,
) -> Result<(DynamicImage, bool)> {
    if !(BUILT_IN && cfg.heif) {
        return Err(Error::Unsupported {
            path: path.into(),
            format: format!("{} ({HOW_TO_ENABLE})", kind.name().to_ascii_uppercase()),
        });
    }
    imp::decode(path, bytes, cfg)
}

#[cfg(feature = "heif")]
mod imp {
    use std::path::Path;
    use std::sync::OnceLock;

    use image::{DynamicImage, RgbImage, RgbaImage};
    use libheif_rs::{ColorSpace, HeifContext, LibHeif, RgbChroma};

    use crate::decode::DecodeConfig;
    use crate::decode::{check_pixels, is_cutout};
    use crate::error::{Error, Result};

    /// libheif's global state: initialised once, never torn down (its
    /// `Drop` de-initialises the library for every other user).
    fn lib() -> &'static LibHeif {
        static LIB: OnceLock<LibHeif> = OnceLock::new();
        LIB.get_or_init(LibHeif::new)
    }

    fn err(path: &Path, e: impl std::fmt::Display) -> Error {
        Error::Decode {
            path: path.into(),
            reason: format!("libheif: {e}"),
        }
    }

    pub fn decode(path: &Path, bytes: &[u8], cfg: &DecodeConfig) -> Result<(DynamicImage, bool)> {
        let ctx = HeifContext::read_from_bytes(bytes).map_err(|e| err(path, e))?;
        let handle = ctx.primary_image_handle().map_err(|e| err(path, e))?;
        // The header's size is checked before any pixel memory is committed.
        check_pixels(path, handle.width(), handle.height(), cfg)?;
        let alpha = handle.has_alpha_channel();
        let chroma = if alpha {
            RgbChroma::Rgba
        } else {
            RgbChroma::Rgb
        };
        let image = lib()
            .decode(&handle, ColorSpace::Rgb(chroma), None)
            .map_err(|e| err(path, e))?;
        let planes = image.planes();
        let plane = planes
            .interleaved
            .ok_or_else(|| err(path, "decoder returned no interleaved RGB plane"))?;
        let channels = if alpha { 4 } else { 3 };
        let packed = pack_rows(
            plane.data,
            plane.stride,
            plane.width,
            plane.height,
            channels,
        )
        .ok_or_else(|| err(path, "decoded plane is smaller than its stated size"))?;
        let (w, h) = (plane.width, plane.height);
        let img = if alpha {
            RgbaImage::from_raw(w, h, packed).map(DynamicImage::ImageRgba8)
        } else {
            RgbImage::from_raw(w, h, packed).map(DynamicImage::ImageRgb8)
        };
        let img = img.ok_or_else(|| err(path, "decoded plane has the wrong length"))?;
        let cutout = is_cutout(&img);
        Ok((img, cutout))
    }

    /// Copy `height` rows of `width * channels` bytes out of a strided plane.
    fn pack_rows(
        data: &[u8],
        stride: usize,
        width: u32,
        height: u32,
        channels: usize,
    ) -> Option<Vec<u8>> {
        let row = width as usize * channels;
        if stride < row || height == 0 {
            return None;
        }
        let needed = stride.checked_mul(height as usize - 1)?.checked_add(row)?;
        if data.len() < needed {
            return None;
        }
        let mut out = Vec::with_capacity(row * height as usize);
        for y in 0..height as usize {
            out.extend_from_slice(&data[y * stride..y * stride + row]);
        }
        Some(out)
    }
}

#[cfg(not(feature = "heif"))]
mod imp {
    use std::path::Path;

    use image::DynamicImage;

    use crate::decode::DecodeConfig;
    use crate::error::Result;

    pub fn decode(_: &Path, _: &[u8], _: &DecodeConfig) -> Result<(DynamicImage, bool)> {
        unreachable!("heif::decode checks BUILT_IN first")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ftyp(major: &[u8; 4], compatible: &[&[u8; 4]]) -> Vec<u8> {
        let len = 16 + 4 * compatible.len();
        let mut v = (len as u32).to_be_bytes().to_vec();
        v.extend_from_slice(b"ftyp");
        v.extend_from_slice(major);
        v.extend_from_slice(&[0, 0, 0, 0]);
        for c in compatible {
            v.extend_from_slice(&c[..]);
        }
        v.extend_from_slice(&[0; 16]);
        v
    }

    #[test]
    fn brands_name_the_flavour() {
        assert_eq!(sniff(&ftyp(b"heic", &[b"mif1"])), Some(HeifKind::Heic));
        assert_eq!(sniff(&ftyp(b"avif", &[b"mif1"])), Some(HeifKind::Avif));
        assert_eq!(
            sniff(&ftyp(b"mif1", &[b"avif", b"miaf"])),
            Some(HeifKind::Avif)
        );
        assert_eq!(sniff(&ftyp(b"mif1", &[b"heic"])), Some(HeifKind::Heic));
        // An MP4 video has an ftyp box too, with other brands.
        assert_eq!(sniff(&ftyp(b"isom", &[b"mp41"])), None);
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), None);
        assert_eq!(sniff(b"ftyp"), None);
    }
}
