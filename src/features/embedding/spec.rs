//! The model's JSON sidecar (input size, crop, normalisation, output
//! names), the fingerprint that names a model and its preprocessing, and
//! the preprocessing itself: working image to NCHW floats.

use std::path::Path;

use image::RgbImage;
use serde::{Deserialize, Serialize};

use super::runtime::setup_hint;
use crate::decode::{resize_rgb, Filter};
use crate::error::{Error, Result};

/// The model's sidecar (`<model>.json`): how to feed it and what it returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    pub name: String,
    /// Input tensor name; NCHW float32 of `[N, 3, input_size, input_size]`.
    pub input: String,
    pub input_size: u32,
    /// The centre crop covers `input_size / resize_short` of the short side
    /// (224/256 for the TF/torchvision evaluation recipe; `fit = crop` only).
    pub resize_short: u32,
    /// How the image is brought to the square input (`crop` when absent).
    #[serde(default)]
    pub fit: Fit,
    /// White margin around the image for `fit = pad`, as a fraction of its
    /// long side.
    #[serde(default)]
    pub pad_margin: f32,
    /// Per-channel mean, in 0–255 pixel units.
    pub mean: [f32; 3],
    /// Per-channel standard deviation, in 0–255 pixel units ...
    #[serde(default)]
    pub std: Option<[f32; 3]>,
    /// ... or one scale factor: input = (pixel − mean) × scale.
    #[serde(default)]
    pub scale: Option<f32>,
    pub embedding_output: String,
    #[serde(default)]
    pub logits_output: Option<String>,
    pub embedding_dim: usize,
    /// A second, L2-normalised output that `dupes` judges near-duplicates
    /// by (the network's classification-head features, whose cosine
    /// thresholds do not depend on the collection), when it differs from
    /// the search embedding; absent: `dupes` uses the embedding itself.
    #[serde(default)]
    pub dupe_output: Option<String>,
    #[serde(default)]
    pub dupe_dim: usize,
}

/// How an image of any aspect ratio becomes the square model input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fit {
    /// The centre square of `input_size / resize_short` of the short side:
    /// the ImageNet evaluation recipe, which cuts off whatever is outside.
    #[default]
    Crop,
    /// The whole image, centred on a white square `1 + pad_margin` times its
    /// long side, resized to the input: nothing of the subject is cut, and
    /// a small sprite keeps its outline (issue 13).
    Pad,
    /// `pad` for cut-outs (an alpha channel with a fully transparent
    /// corner: an object on no background, whose content box is the
    /// subject), `crop` for everything else (scenes, photos).
    Auto,
}

pub(super) fn read_spec(path: &Path) -> Result<ModelSpec> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Model {
        path: path.to_path_buf(),
        reason: format!("cannot read model sidecar ({e}); {}", setup_hint()),
    })?;
    let spec: ModelSpec = serde_json::from_str(&text).map_err(|e| Error::Model {
        path: path.to_path_buf(),
        reason: format!("invalid model sidecar: {e}"),
    })?;
    if spec.std.is_some() == spec.scale.is_some() {
        return Err(Error::Model {
            path: path.to_path_buf(),
            reason: "sidecar needs exactly one of `std` (per channel) or `scale`".into(),
        });
    }
    if spec.input_size == 0 || spec.resize_short < spec.input_size || spec.embedding_dim == 0 {
        return Err(Error::Model {
            path: path.to_path_buf(),
            reason: "sidecar needs input_size > 0, resize_short >= input_size, embedding_dim > 0"
                .into(),
        });
    }
    if spec.dupe_output.is_some() && spec.dupe_dim == 0 {
        return Err(Error::Model {
            path: path.to_path_buf(),
            reason: "sidecar names a dupe_output without its dupe_dim".into(),
        });
    }
    if !(0.0..=1.0).contains(&spec.pad_margin) {
        return Err(Error::Model {
            path: path.to_path_buf(),
            reason: "sidecar needs 0 <= pad_margin <= 1".into(),
        });
    }
    Ok(spec)
}

/// The model's name, the first part of an embedding fingerprint.
pub fn model_name(fingerprint: &str) -> &str {
    fingerprint.split('/').next().unwrap_or(fingerprint)
}

/// Model digest plus preprocessing (the working image included): any change
/// recomputes embeddings; it opens with the model's name ([`model_name`]).
pub(super) fn fingerprint(spec: &ModelSpec, model: &[u8]) -> String {
    let digest = blake3::hash(model).to_hex();
    let fit = match spec.fit {
        Fit::Crop => format!("crop{}", spec.resize_short),
        Fit::Pad => format!("pad{}-white", spec.pad_margin),
        Fit::Auto => format!(
            "auto-crop{}-cutout-pad{}",
            spec.resize_short, spec.pad_margin
        ),
    };
    let dupe = match &spec.dupe_output {
        Some(d) => format!("+dupe:{d}"),
        None => String::new(),
    };
    format!(
        "{}/blake3:{}/{}-nozoom-{}-in{}-{fit}-mean{:?}-mul{:?}/{}{dupe}/v2",
        spec.name,
        &digest[..16],
        crate::decode::WORKING_IMAGE,
        crate::decode::TRIM,
        spec.input_size,
        spec.mean,
        multipliers(spec),
        spec.embedding_output
    )
}

/// What each channel is multiplied by after subtracting the mean.
fn multipliers(spec: &ModelSpec) -> [f32; 3] {
    match (spec.std, spec.scale) {
        (Some(std), _) => [1.0 / std[0], 1.0 / std[1], 1.0 / std[2]],
        (None, Some(s)) => [s; 3],
        (None, None) => [1.0; 3],
    }
}

/// Working image to NCHW floats, per the sidecar's [`Fit`]: `crop` or
/// `pad` to a square of `input_size`, then `(x - mean) / std` (or
/// `× scale`) per channel.
/// `Fit::Auto` crops here (nothing says the image is a cut-out): see
/// [`preprocess_decoded`].
pub fn preprocess(img: &RgbImage, spec: &ModelSpec) -> Vec<f32> {
    preprocess_as(img, spec, spec.fit)
}

/// A decoded image's content view to NCHW floats: as [`preprocess`], with
/// `Fit::Auto` resolved by whether the file is a cut-out.
pub fn preprocess_decoded(d: &crate::decode::Decoded, spec: &ModelSpec) -> Vec<f32> {
    let fit = match spec.fit {
        Fit::Auto if d.cutout => Fit::Pad,
        f => f,
    };
    match upsampled_content(d, spec) {
        Some(up) => preprocess_as(&up, spec, fit),
        None => preprocess_as(d.content(), spec, fit),
    }
}

/// The content view of an image whose working image is smaller than the
/// network's `resize_short`, first brought up by the factor that takes the
/// working image's short side to it, with the bilinear filter. Decoding no
/// longer upsamples (the hashes and histogram gain nothing from it), but
/// the network does better on tiny sprites upsampled this way than by the
/// bicubic resize alone (same-Pokémon precision@5 of `query` on
/// pokemon-dev, front views: 0.972 against 0.956).
fn upsampled_content(d: &crate::decode::Decoded, spec: &ModelSpec) -> Option<RgbImage> {
    let short = d.image.width().min(d.image.height()).max(1);
    if short >= spec.resize_short {
        return None;
    }
    let s = f64::from(spec.resize_short) / f64::from(short);
    let c = d.content();
    let up = |n: u32| ((f64::from(n) * s).round() as u32).max(1);
    Some(resize_rgb(
        c,
        up(c.width()),
        up(c.height()),
        Filter::Bilinear,
    ))
}

fn preprocess_as(img: &RgbImage, spec: &ModelSpec, fit: Fit) -> Vec<f32> {
    match fit {
        Fit::Crop | Fit::Auto => preprocess_crop(img, spec),
        Fit::Pad => {
            let square = pad_square(img, spec);
            normalise(&square, 0, 0, spec)
        }
    }
}

/// Side of the white square `img` is centred on for `fit = pad`.
pub fn pad_side(w: u32, h: u32, margin: f32) -> u32 {
    let long = w.max(h).max(1);
    ((f64::from(long) * (1.0 + f64::from(margin))).round() as u32).max(long)
}

/// `img` centred on a white square of [`pad_side`], bicubic-resized to
/// `input_size` (the paste offsets round down).
fn pad_square(img: &RgbImage, spec: &ModelSpec) -> RgbImage {
    let (w, h) = img.dimensions();
    let side = pad_side(w, h, spec.pad_margin);
    let mut canvas = RgbImage::from_pixel(side, side, image::Rgb([255, 255, 255]));
    let (x0, y0) = ((side - w) / 2, (side - h) / 2);
    let stride = side as usize * 3;
    let row_len = w as usize * 3;
    for (y, row) in img.as_raw().chunks_exact(row_len.max(1)).enumerate() {
        let at = (y0 as usize + y) * stride + x0 as usize * 3;
        let raw: &mut [u8] = &mut canvas;
        raw[at..at + row_len].copy_from_slice(row);
    }
    let s = spec.input_size;
    if side == s {
        canvas
    } else {
        resize_rgb(&canvas, s, s, Filter::Bicubic)
    }
}

/// The evaluation preprocessing of `fit = crop`: a centre square covering
/// `input_size/resize_short` of the short side, bicubic-resized to
/// `input_size` (a no-op for a 256-short-side working image and 224/256).
fn preprocess_crop(img: &RgbImage, spec: &ModelSpec) -> Vec<f32> {
    let (w, h) = img.dimensions();
    let short = w.min(h);
    let side = ((u64::from(short) * u64::from(spec.input_size)) / u64::from(spec.resize_short))
        .max(1) as u32;
    let (x0, y0) = ((w - side).div_ceil(2), (h - side).div_ceil(2));
    let s = spec.input_size;
    let resized;
    // The usual case (a 256-short-side working image, 224/256) needs no
    // resampling: read the centre square straight out of the image.
    let (src, x0, y0) = if side == s {
        (img, x0, y0)
    } else {
        let crop = image::imageops::crop_imm(img, x0, y0, side, side).to_image();
        resized = resize_rgb(&crop, s, s, Filter::Bicubic);
        (&resized, 0, 0)
    };
    normalise(src, x0, y0, spec)
}

/// The `input_size` square of `src` at (`x0`, `y0`), normalised, NCHW.
fn normalise(src: &RgbImage, x0: u32, y0: u32, spec: &ModelSpec) -> Vec<f32> {
    let mul = multipliers(spec);
    let (s, stride) = (spec.input_size as usize, src.width() as usize * 3);
    let plane = s * s;
    let mut out = vec![0f32; 3 * plane];
    let raw = src.as_raw();
    for y in 0..s {
        let row = &raw[(y0 as usize + y) * stride + x0 as usize * 3..][..s * 3];
        for (x, p) in row.chunks_exact(3).enumerate() {
            for c in 0..3 {
                out[c * plane + y * s + x] = (f32::from(p[c]) - spec.mean[c]) * mul[c];
            }
        }
    }
    out
}
