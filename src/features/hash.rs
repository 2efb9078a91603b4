//! 64-bit perceptual hashes (via `image_hasher`, the maintained successor of
//! `img_hash`): a DCT pHash, a gradient dHash and the classic 8×8 average
//! hash. Each is a `u64`, compared by Hamming distance (popcount of XOR).
//! The hashers start from a box-averaged copy of at most
//! [`HASH_INPUT`]² pixels: their Lanczos resizes then cost a few hundred
//! taps instead of thousands per image, for hashes of the same content.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use image::{DynamicImage, GrayImage, RgbImage};
use image_hasher::{HashAlg, Hasher, HasherConfig};
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

use crate::decode::kernel::{convolve, Kernel, Kind};
use crate::decode::WORKING_IMAGE;

/// Identifies the working image, algorithms, sizes and bit order; bump the
/// version when any of the latter changes.
pub fn fingerprint() -> String {
    use crate::decode::TRIM;
    format!(
        "image_hasher-3.1+fir/{WORKING_IMAGE}/nozoom/{TRIM}/box32/\
         phash-dct-median-8x8+dhash-8x8+ahash-8x8/v2"
    )
}

/// Largest side of the box-averaged image the hashers are given (4× the
/// 8-bit hash grid, 2× the pHash's 16×16 DCT input).
pub const HASH_INPUT: u32 = 32;

/// The three hashes of one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hashes {
    pub phash: u64,
    pub dhash: u64,
    pub ahash: u64,
}

impl Hashes {
    /// Hamming distances (pHash, dHash, aHash) to `other`.
    pub fn distances(&self, other: &Hashes) -> (u32, u32, u32) {
        (
            hamming(self.phash, other.phash),
            hamming(self.dhash, other.dhash),
            hamming(self.ahash, other.ahash),
        )
    }
}

/// Number of differing bits.
#[inline]
pub fn hamming(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

/// Hex form, as Python's `imagehash` prints hashes.
pub fn to_hex(h: u64) -> String {
    format!("{h:016x}")
}

struct HasherSet {
    phash: Hasher<[u8; 8]>,
    dhash: Hasher<[u8; 8]>,
    ahash: Hasher<[u8; 8]>,
}

fn hashers() -> &'static HasherSet {
    static H: OnceLock<HasherSet> = OnceLock::new();
    H.get_or_init(|| {
        let base = || HasherConfig::with_bytes_type::<[u8; 8]>().hash_size(8, 8);
        HasherSet {
            phash: base().hash_alg(HashAlg::Median).preproc_dct().to_hasher(),
            dhash: base().hash_alg(HashAlg::Gradient).to_hasher(),
            ahash: base().hash_alg(HashAlg::Mean).to_hasher(),
        }
    })
}

fn to_u64(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[..8]);
    u64::from_be_bytes(b)
}

/// Hash a working image.
pub fn compute(img: &RgbImage) -> Hashes {
    // One shrink and one greyscale conversion shared by all three hashers.
    hash_grey(&grayscale(&hash_input(img)))
}

/// The three hashes of a small grey image (what [`compute`] hashes).
/// Each hasher is handed its input already at the size it resizes to
/// (pHash 16×16, dHash 9×8, aHash 8×8), resized as it would resize it
/// (see [`lanczos`]); its own resize is then a copy.
pub fn hash_grey(grey: &GrayImage) -> Hashes {
    let h = hashers();
    let hash = |hasher: &Hasher<[u8; 8]>, w, h| {
        let sized = DynamicImage::ImageLuma8(lanczos(grey, w, h));
        to_u64(hasher.hash_image(&sized).as_bytes())
    };
    Hashes {
        phash: hash(&h.phash, 16, 16),
        dhash: hash(&h.dhash, 9, 8),
        ahash: hash(&h.ahash, 8, 8),
    }
}

/// `grey` resized to `w`×`h` exactly as image_hasher resizes it
/// (fast_image_resize, Lanczos3 convolution: for 8-bit pixels the vertical
/// pass first, each pass rounded to bytes), with the weights of each size
/// pair computed once per thread instead of once per image (two `sin` per
/// tap were 5% of indexing small images).
fn lanczos(grey: &GrayImage, w: u32, h: u32) -> GrayImage {
    let (sw, sh) = grey.dimensions();
    let mut img = grey.clone();
    if h != sh {
        let k = kernel(sh, h);
        let rows: Vec<&[u8]> = img.as_raw().chunks_exact(sw as usize).collect();
        let mut raw = vec![0u8; (sw * h) as usize];
        for (out, w) in raw.chunks_exact_mut(sw as usize).zip(&k.windows) {
            let window = &rows[w.start..w.start + w.weights.len()];
            convolve(out, window, &w.weights, k.precision);
        }
        img = GrayImage::from_raw(sw, h, raw).expect("sized buffer");
    }
    if w != sw {
        let k = kernel(sw, w);
        let raw = img
            .as_raw()
            .chunks_exact(sw as usize)
            .flat_map(|row| {
                let k = &k;
                (0..w as usize).map(move |i| k.sample(i, row[k.windows[i].start..].iter().copied()))
            })
            .collect();
        img = GrayImage::from_raw(w, h, raw).expect("sized buffer");
    }
    img
}

/// This thread's Lanczos3 weights for `from` → `to` samples.
fn kernel(from: u32, to: u32) -> Rc<Kernel> {
    thread_local! {
        static KERNELS: RefCell<HashMap<(u32, u32), Rc<Kernel>>> = RefCell::default();
    }
    KERNELS.with(|k| {
        k.borrow_mut()
            .entry((from, to))
            .or_insert_with(|| Rc::new(Kernel::new(Kind::Lanczos3, from, to)))
            .clone()
    })
}

/// `img` box-averaged down to at most [`HASH_INPUT`] on each side (never
/// up: a side already smaller stays as it is).
fn hash_input(img: &RgbImage) -> std::borrow::Cow<'_, RgbImage> {
    let (w, h) = img.dimensions();
    let (nw, nh) = (w.min(HASH_INPUT), h.min(HASH_INPUT));
    if (nw, nh) == (w, h) {
        return std::borrow::Cow::Borrowed(img);
    }
    let small = crate::decode::resize_rgb(img, nw, nh, crate::decode::Filter::Box);
    std::borrow::Cow::Owned(small)
}

/// Rec. 709 luma in integers, bit-for-bit what `image::imageops::grayscale`
/// computes, in one pass over the raw buffer (the generic per-pixel version
/// was ~4% of indexing CPU).
pub fn grayscale(img: &RgbImage) -> image::GrayImage {
    let grey: Vec<u8> = img
        .as_raw()
        .chunks_exact(3)
        .map(|p| {
            ((2126 * u32::from(p[0]) + 7152 * u32::from(p[1]) + 722 * u32::from(p[2])) / 10000)
                as u8
        })
        .collect();
    image::GrayImage::from_raw(img.width(), img.height(), grey).expect("one byte per pixel")
}
