//! fast_image_resize's convolution, rebuilt where imgdex must run it in
//! pieces or cache what it computes: its weights (`precompute_coefficients`,
//! kept operation for operation so the `f64` weights match), their rounding
//! to `i16` at the precision it picks (`Normalizer16`), and one output
//! row's sums (`i32`, shifted and clamped). Used to shrink PNG rows as they
//! are decoded ([`super::shrink`]) and for the hashers' small Lanczos
//! resizes, whose weights (two `sin` per tap) would otherwise be recomputed
//! for every image. Either way the bytes are fast_image_resize's own.

use std::f64::consts::PI;

/// The resampling filters rebuilt here, with fast_image_resize's supports
/// and weight functions (`box_filter` counts a sample at +0.5, not at -0.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Box,
    Bilinear,
    Lanczos3,
}

impl Kind {
    fn support(self) -> f64 {
        match self {
            Kind::Box => 0.5,
            Kind::Bilinear => 1.0,
            Kind::Lanczos3 => 3.0,
        }
    }

    fn weight(self, x: f64) -> f64 {
        match self {
            Kind::Box => {
                if x > -0.5 && x <= 0.5 {
                    1.0
                } else {
                    0.0
                }
            }
            Kind::Bilinear => {
                let x = x.abs();
                if x < 1.0 {
                    1.0 - x
                } else {
                    0.0
                }
            }
            Kind::Lanczos3 => {
                if (-3.0..3.0).contains(&x) {
                    sinc(x) * sinc(x / 3.)
                } else {
                    0.0
                }
            }
        }
    }
}

fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        1.0
    } else {
        let x = x * PI;
        x.sin() / x
    }
}

/// The source samples one output sample sums, and their weights.
pub(crate) struct Window {
    pub start: usize,
    pub weights: Vec<i16>,
}

/// One axis of a resize from `in_size` to `out_size` samples: a window per
/// output sample, weights as `i16` with `precision` fraction bits.
pub(crate) struct Kernel {
    pub windows: Vec<Window>,
    pub precision: u8,
}

impl Kernel {
    /// fast_image_resize's convolution weights for `kind` with an adaptive
    /// kernel (what `ResizeAlg::Convolution` uses), no crop.
    pub(crate) fn new(kind: Kind, in_size: u32, out_size: u32) -> Kernel {
        let coeffs = coefficients(kind, in_size, out_size);
        let precision = precision(&coeffs);
        let scale = f64::from(1u32 << precision);
        let windows = coeffs
            .into_iter()
            .map(|(start, w)| Window {
                start,
                weights: w.iter().map(|&v| (v * scale).round() as i16).collect(),
            })
            .collect();
        Kernel { windows, precision }
    }

    /// One output sample from the samples its window covers.
    pub(crate) fn sample(&self, j: usize, src: impl Iterator<Item = u8>) -> u8 {
        let w = &self.windows[j];
        let p = self.precision;
        let s: i32 = src
            .zip(&w.weights)
            .map(|(v, &k)| i32::from(v) * i32::from(k))
            .sum();
        to_byte(s, p)
    }
}

/// A weighted sum with `p` fraction bits back to a byte: rounded half up
/// (fast_image_resize adds half before shifting), clamped.
fn to_byte(sum: i32, p: u8) -> u8 {
    (((1i32 << (p - 1)) + sum) >> p).clamp(0, 255) as u8
}

/// One output row: `out[i] = clamp((initial + Σ rows[r][i] * k[r]) >> p)`
/// with AVX2 where the CPU has it (this loop is most of the cost of
/// shrinking a large picture).
pub(crate) fn convolve(out: &mut [u8], rows: &[&[u8]], k: &[i16], p: u8) {
    assert!(rows.iter().all(|r| r.len() >= out.len()) && rows.len() == k.len());
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above) and every row
        // holds at least `out.len()` bytes (asserted above).
        let done = unsafe { avx2::convolve(out, rows, k, p) };
        return convolve_plain(&mut out[done..], rows, k, p, done);
    }
    convolve_plain(out, rows, k, p, 0);
}

/// [`convolve`] in plain Rust, for the bytes of `out` from `x0` on.
fn convolve_plain(out: &mut [u8], rows: &[&[u8]], k: &[i16], p: u8, x0: usize) {
    for (i, o) in out.iter_mut().enumerate() {
        let x = x0 + i;
        let s: i32 = rows
            .iter()
            .zip(k)
            .map(|(row, &k)| i32::from(row[x]) * i32::from(k))
            .sum();
        *o = to_byte(s, p);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// 16 bytes at a time, rows taken in pairs by `vpmaddwd` (u8 samples
    /// and `i16` weights: exact `i32` sums, as fast_image_resize does);
    /// returns how many bytes of `out` it wrote (the rest is a tail of
    /// fewer than 16).
    ///
    /// # Safety
    /// The CPU must support AVX2 and every row hold `out.len()` bytes.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn convolve(out: &mut [u8], rows: &[&[u8]], k: &[i16], p: u8) -> usize {
        let initial = _mm256_set1_epi32(1 << (p - 1));
        let shift = _mm_cvtsi32_si128(i32::from(p));
        let pairs = k.chunks(2).map(|w| {
            let hi = w.get(1).map_or(0, |&v| i32::from(v) << 16);
            _mm256_set1_epi32(i32::from(w[0] as u16) | hi)
        });
        // On the stack for windows of up to 32 rows (no allocation per
        // output row).
        let mut few = [_mm256_setzero_si256(); 16];
        let many: Vec<__m256i>;
        let pairs = if k.len() <= 2 * few.len() {
            few.iter_mut().zip(pairs).for_each(|(slot, p)| *slot = p);
            &few[..k.len().div_ceil(2)]
        } else {
            many = pairs.collect();
            &many[..]
        };
        let zero = &[0u8; 16][..];
        let mut x = 0;
        while x + 16 <= out.len() {
            let (mut lo, mut hi) = (initial, initial);
            for (r, kk) in pairs.iter().enumerate() {
                // SAFETY: AVX2 is enabled for this function; every row
                // holds `out.len()` >= x + 16 bytes (the caller's contract)
                // and `zero` holds 16.
                let (a, b) = unsafe {
                    let b = match rows.get(2 * r + 1) {
                        Some(row) => load16(row, x),
                        None => load16(zero, 0),
                    };
                    (load16(rows[2 * r], x), b)
                };
                lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(a, b), *kk));
                hi = _mm256_add_epi32(hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(a, b), *kk));
            }
            let lo = _mm256_sra_epi32(lo, shift);
            let hi = _mm256_sra_epi32(hi, shift);
            let words = _mm256_packs_epi32(lo, hi);
            let bytes = _mm256_packus_epi16(words, words);
            let bytes = _mm256_permute4x64_epi64(bytes, 0b1000);
            // SAFETY: x + 16 <= out.len(), checked by the loop condition.
            unsafe {
                _mm_storeu_si128(
                    out.as_mut_ptr().add(x) as *mut __m128i,
                    _mm256_castsi256_si128(bytes),
                )
            };
            x += 16;
        }
        x
    }

    /// 16 bytes of `row` from `x`, widened to 16-bit lanes.
    #[inline(always)]
    ///
    /// # Safety
    /// The CPU must support AVX2 and `row` hold at least `x + 16` bytes.
    unsafe fn load16(row: &[u8], x: usize) -> __m256i {
        // SAFETY: `x + 16 <= row.len()` (the caller's contract), so the
        // 16-byte unaligned load stays inside `row`; AVX2 is there (ditto).
        unsafe { _mm256_cvtepu8_epi16(_mm_loadu_si128(row.as_ptr().add(x) as *const __m128i)) }
    }
}

/// fast_image_resize's `precompute_coefficients` with an adaptive kernel,
/// no crop: for each output row, the first source
/// row and the normalised weights of its window (zero weights trimmed at
/// both ends). Kept operation for operation, so the `f64` weights match.
fn coefficients(kind: Kind, in_size: u32, out_size: u32) -> Vec<(usize, Vec<f64>)> {
    let scale = f64::from(in_size) / f64::from(out_size);
    let filter_scale = scale.max(1.0);
    let radius = kind.support() * filter_scale;
    let recip = 1.0 / filter_scale;
    (0..out_size)
        .map(|out| {
            let in_center = (f64::from(out) + 0.5) * scale;
            let min = (in_center - radius).floor().max(0.) as u32;
            let max = (in_center + radius).ceil().min(f64::from(in_size)) as u32;
            let center = in_center - 0.5;
            let mut start = min;
            let mut w = Vec::with_capacity((max - min) as usize);
            for x in min..max {
                let v = kind.weight((f64::from(x) - center) * recip);
                if x == start && v == 0. {
                    start += 1;
                } else {
                    w.push(v);
                }
            }
            while w.last() == Some(&0.) {
                w.pop();
            }
            let total: f64 = w.iter().sum();
            if total != 0.0 {
                w.iter_mut().for_each(|v| *v /= total);
            }
            (start as usize, w)
        })
        .collect()
}

/// fast_image_resize's `Normalizer16` precision: the most fraction bits
/// (at most 21) for which the largest weight still fits an `i16`.
fn precision(coeffs: &[(usize, Vec<f64>)]) -> u8 {
    let max = coeffs
        .iter()
        .flat_map(|(_, w)| w.iter().copied())
        .fold(0.0f64, f64::max);
    let mut precision = 0u8;
    for p in 0..22u8 {
        precision = p;
        let next = (max * f64::from(1u32 << (p + 1))).round() as i32;
        if next >= 1 << 15 {
            break;
        }
    }
    precision
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    /// The AVX2 row against plain Rust on random rows, weights and
    /// precisions (widths with and without a tail, windows on the stack and
    /// on the heap, weights at the ends of `i16`): the same bytes.
    #[test]
    fn avx2_convolve_matches_plain_rust() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            crate::skip_test("no AVX2 on this CPU");
            return;
        }
        let mut rng = fastrand::Rng::with_seed(7);
        let mut next = |n: u64| (rng.u64(..) % n) as usize;
        for case in 0..2000 {
            let width = next(100) + 1;
            let taps = next(40) + 1;
            let p = next(15) as u8 + 1;
            let rows: Vec<Vec<u8>> = (0..taps)
                .map(|_| (0..width + next(3)).map(|_| next(256) as u8).collect())
                .collect();
            let k: Vec<i16> = (0..taps)
                .map(|_| (next(65536) as u16 as i16) >> next(10))
                .collect();
            let rows: Vec<&[u8]> = rows.iter().map(|r| &r[..]).collect();
            let mut plain = vec![0_u8; width];
            convolve_plain(&mut plain, &rows, &k, p, 0);
            let mut fast = vec![0_u8; width];
            // SAFETY: AVX2 is there (checked above); every row holds at
            // least `width` bytes.
            let done = unsafe { avx2::convolve(&mut fast, &rows, &k, p) };
            assert_eq!(done, width / 16 * 16, "case {case}");
            let what = format!("case {case}: width {width}, taps {taps}, p {p}");
            assert_eq!(fast[..done], plain[..done], "{what}");
            let mut entry = vec![0_u8; width];
            convolve(&mut entry, &rows, &k, p);
            assert_eq!(entry, plain, "{what}");
        }
    }
}
