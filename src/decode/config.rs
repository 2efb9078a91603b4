//! The decoding stage's settings: size and allocation bounds (decompression
//! bombs are refused before memory is committed), the working-image size,
//! and the JPEG and HEIF switches.

/// How images are decoded and bounded.
#[derive(Debug, Clone)]
pub struct DecodeConfig {
    /// Refuse images whose header claims more pixels than this (decompression bombs).
    pub max_pixels: u64,
    /// Upper bound on any single allocation a decoder may make, in bytes.
    pub max_alloc: u64,
    /// Refuse files larger than this many bytes before reading them.
    pub max_file_bytes: u64,
    /// Short side of the working image every feature is computed from.
    pub work_short_side: u32,
    /// Cap on the long side of the working image (very elongated images).
    pub work_long_side_max: u32,
    /// Decode JPEGs at a reduced DCT scale (1/2, 1/4, 1/8) when the working
    /// image is much smaller than the original.
    pub scaled_jpeg: bool,
    /// Shortest short side a DCT-scaled JPEG may come out with (the CNN's
    /// 224 input): a scale that lands between this and `work_short_side`
    /// is taken as it is, instead of decoding at twice the size to resize.
    pub scaled_jpeg_min_side: u32,
    /// Decode PNGs row by row into the working image (same pixels as
    /// decoding them whole, without holding the full-size picture).
    pub streamed_png: bool,
    /// On that path, inflate a small PNG's stream in one call to libdeflate
    /// (same pixels; `false` keeps the png crate's own inflater for all).
    pub inflate_png: bool,
    /// Decode HEIC/AVIF when this build has the `heif` feature; `false`
    /// behaves exactly like a build without it (the files are skipped with
    /// a notice saying how to enable them).
    pub heif: bool,
}

impl Default for DecodeConfig {
    fn default() -> Self {
        DecodeConfig {
            max_pixels: 100_000_000,
            max_alloc: 512 * 1024 * 1024,
            max_file_bytes: 512 * 1024 * 1024,
            work_short_side: 256,
            work_long_side_max: 2048,
            scaled_jpeg: true,
            scaled_jpeg_min_side: 224,
            streamed_png: true,
            inflate_png: true,
            heif: true,
        }
    }
}
