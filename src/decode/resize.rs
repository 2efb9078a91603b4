//! Resampling: the working-image size rule and the one resize routine
//! (SIMD `fast_image_resize`, `image` as the fallback) that decoding and
//! the CNN preprocessing share.

use fast_image_resize::{FilterType as F, ResizeAlg};
use image::imageops::FilterType;
use image::RgbImage;

use super::kernel::Kind;
use super::DecodeConfig;

/// The filter that brings a `from` picture down to its working size `to`: a
/// box (the source pixels whose centres fall inside an output pixel,
/// averaged) when both sides shrink at least twofold, so each output pixel
/// averages two or more source pixels a side; bilinear below that, where a
/// box would pick single pixels here and pairs there (a mirrored copy then
/// comes out measurably different). The box touches each source pixel once
/// where bilinear windows are twice as tall and wide: about 8% less wall
/// time on clip art of 512–1023 px (5% on a mixed set of 5,000), with
/// duplicates and neighbours found as well as before
/// (`scripts/eval_presets.py`, `scripts/eval_similar.py`).
pub fn working_filter(from: (u32, u32), to: (u32, u32)) -> Filter {
    if from.0 >= 2 * to.0 && from.1 >= 2 * to.1 {
        Filter::Box
    } else {
        Filter::Bilinear
    }
}

/// [`working_filter`] as rebuilt in [`super::kernel`], for the vertical
/// pass over PNG rows as they are decoded.
pub(super) fn working_kind(from: (u32, u32), to: (u32, u32)) -> Kind {
    match working_filter(from, to) {
        Filter::Box => Kind::Box,
        _ => Kind::Bilinear,
    }
}

/// Names how the working image is made (short side, filters); part of the
/// fingerprint of every feature computed from it, so changing either
/// recomputes them.
pub const WORKING_IMAGE: &str = "work256-box2x-bilinear";

/// Scale down so the short side is `work_short_side`, keeping the long side
/// under `work_long_side_max`. Smaller images keep their size: upsampling
/// adds no information, only pixels for every later stage to visit.
pub fn to_working_size(img: RgbImage, cfg: &DecodeConfig) -> RgbImage {
    let (w, h) = img.dimensions();
    let (nw, nh) = working_dims(w, h, cfg);
    if (nw, nh) == (w, h) {
        return img;
    }
    resize_rgb(&img, nw, nh, working_filter((w, h), (nw, nh)))
}

/// Resampling filters used by imgdex.
#[derive(Debug, Clone, Copy)]
pub enum Filter {
    /// Area-aware bilinear (triangle) filter: the working image of a picture
    /// less than twice its size, small images brought up to the CNN's size,
    /// thumbnails.
    Bilinear,
    /// Bicubic (Catmull-Rom): CNN input, as the models were evaluated.
    Bicubic,
    /// Box (area average): the working image of a picture at least twice
    /// its size, and the small image the hashes start from.
    Box,
    /// Gaussian (σ = half an output pixel): the copy signature's thumbnail,
    /// where fine repeating texture must fade rather than alias into a
    /// moiré that differs between two resamplings of one picture.
    Gaussian,
}

/// Internal buffers a thread's resizer may keep between images: enough for
/// the intermediate rows of ordinary photos and graphics, so they are not
/// allocated and zeroed per image (3% of a `--no-embed` run on clip art);
/// a bigger image's buffers are released after it.
const KEPT_RESIZE_BUFFERS: usize = 32 << 20;

/// Runs `f` with this thread's `fast_image_resize::Resizer`. Its buffers
/// are scratch space every resize overwrites before reading, so reusing
/// them changes no output.
pub(crate) fn with_resizer<T>(f: impl FnOnce(&mut fast_image_resize::Resizer) -> T) -> T {
    use std::cell::RefCell;
    thread_local! {
        static RESIZER: RefCell<fast_image_resize::Resizer> =
            RefCell::new(fast_image_resize::Resizer::new());
    }
    RESIZER.with(|r| {
        let mut r = r.borrow_mut();
        let out = f(&mut r);
        if r.size_of_internal_buffers() > KEPT_RESIZE_BUFFERS {
            r.reset_internal_buffers();
        }
        out
    })
}

/// Resize with `fast_image_resize` (SIMD convolution, antialiased when
/// downscaling); falls back to `image`'s resize if it refuses.
pub fn resize_rgb(img: &RgbImage, w: u32, h: u32, filter: Filter) -> RgbImage {
    let mut dst = RgbImage::new(w, h);
    let opts = fast_image_resize::ResizeOptions::new().resize_alg(filter.alg());
    match with_resizer(|r| r.resize(img, &mut dst, &opts)) {
        Ok(()) => dst,
        Err(_) => {
            let f = match filter {
                Filter::Bilinear => FilterType::Triangle,
                Filter::Bicubic => FilterType::CatmullRom,
                Filter::Box => FilterType::Triangle,
                Filter::Gaussian => FilterType::Gaussian,
            };
            image::imageops::resize(img, w, h, f)
        }
    }
}

impl Filter {
    /// fast_image_resize's convolution with this filter.
    pub(super) fn alg(self) -> ResizeAlg {
        ResizeAlg::Convolution(match self {
            Filter::Bilinear => F::Bilinear,
            Filter::Bicubic => F::CatmullRom,
            Filter::Box => F::Box,
            Filter::Gaussian => F::Gaussian,
        })
    }
}

/// Target dimensions of the working image for an original of `w`×`h`.
pub fn working_dims(w: u32, h: u32, cfg: &DecodeConfig) -> (u32, u32) {
    let short = f64::from(w.min(h));
    let long = f64::from(w.max(h));
    let mut s = (f64::from(cfg.work_short_side) / short).min(1.0);
    if long * s > f64::from(cfg.work_long_side_max) {
        s = f64::from(cfg.work_long_side_max) / long;
    }
    let nw = ((f64::from(w) * s).round() as u32).max(1);
    let nh = ((f64::from(h) * s).round() as u32).max(1);
    (nw, nh)
}
