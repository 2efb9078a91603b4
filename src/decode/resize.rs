//! Resampling: the working-image size rule and the one resize routine
//! (SIMD `fast_image_resize`, `image` as the fallback) that decoding and
//! the CNN preprocessing share.

use image::imageops::FilterType;
use image::RgbImage;

use super::DecodeConfig;

/// Scale down so the short side is `work_short_side`, keeping the long side
/// under `work_long_side_max`. Smaller images keep their size: upsampling
/// adds no information, only pixels for every later stage to visit.
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
    /// Box (area average): the small image the hashes start from.
    Box,
}

/// Resize with `fast_image_resize` (SIMD convolution, antialiased when
/// downscaling); falls back to `image`'s resize if it refuses.
pub fn resize_rgb(img: &RgbImage, w: u32, h: u32, filter: Filter) -> RgbImage {
    use fast_image_resize::{FilterType as F, ResizeAlg, ResizeOptions, Resizer};
    let alg = match filter {
        Filter::Bilinear => ResizeAlg::Convolution(F::Bilinear),
        Filter::Bicubic => ResizeAlg::Convolution(F::CatmullRom),
        Filter::Box => ResizeAlg::Convolution(F::Box),
    };
    let mut dst = RgbImage::new(w, h);
    let opts = ResizeOptions::new().resize_alg(alg);
    match Resizer::new().resize(img, &mut dst, &opts) {
        Ok(()) => dst,
        Err(_) => {
            let f = match filter {
                Filter::Bilinear => FilterType::Triangle,
                Filter::Bicubic => FilterType::CatmullRom,
                Filter::Box => FilterType::Triangle,
            };
            image::imageops::resize(img, w, h, f)
        }
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
