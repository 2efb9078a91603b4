//! Per-channel RGB colour histogram, as OpenCV's `calcHist` computes it for
//! each of R, G and B, each channel normalised to sum to 1. Compared with
//! the Hellinger (Bhattacharyya-based) distance, which stays in [0, 1].

use image::RgbImage;
use serde::{Deserialize, Serialize};

/// `bins` values for R, then G, then B.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    pub bins: u16,
    pub values: Vec<f32>,
}

/// Histogram of `img` with `bins` bins per channel.
pub fn compute(img: &RgbImage, bins: u16) -> Histogram {
    let nb = usize::from(bins);
    let lanes = byte_counts(img.as_raw());
    let total = (img.width() as f32 * img.height() as f32).max(1.0);
    let mut counts = vec![0u32; 3 * nb];
    for lane in &lanes {
        for (c, channel) in lane.iter().enumerate() {
            for (v, &n) in channel.iter().enumerate() {
                counts[c * nb + v * nb / 256] += n;
            }
        }
    }
    let values = counts.iter().map(|&n| n as f32 / total).collect();
    Histogram { bins, values }
}

/// Counts of every byte value per channel (RGB triples in `raw`), in
/// four interleaved copies, folded into bins by the caller (no per-pixel
/// bin lookup). Flat areas, common in graphics, would otherwise make every
/// increment wait for the one before it on the same counter; runs of four
/// equal pixels are also counted as runs, one add per run.
fn byte_counts(raw: &[u8]) -> [[[u32; 256]; 3]; 4] {
    let mut lanes = [[[0u32; 256]; 3]; 4];
    // The current run: four of its pixel as two words, and its length.
    let (mut words, mut run) = ((0u64, 0u32), 0u32);
    let mut quads = raw.chunks_exact(12);
    for q in &mut quads {
        let w = (
            u64::from_le_bytes(q[..8].try_into().expect("8 bytes")),
            u32::from_le_bytes(q[8..].try_into().expect("4 bytes")),
        );
        if w == words {
            run += 4;
            continue;
        }
        for (lane, p) in lanes.iter_mut().zip(q.chunks_exact(3)) {
            lane[0][usize::from(p[0])] += 1;
            lane[1][usize::from(p[1])] += 1;
            lane[2][usize::from(p[2])] += 1;
        }
        if q[..9] == q[3..] {
            add_run(&mut lanes[0], words, run);
            (words, run) = (w, 0);
        }
    }
    add_run(&mut lanes[0], words, run);
    for p in quads.remainder().chunks_exact(3) {
        (0..3).for_each(|c| lanes[0][c][usize::from(p[c])] += 1);
    }
    lanes
}

/// `run` more pixels of the run whose pixel begins `words`.
fn add_run(lane: &mut [[u32; 256]; 3], words: (u64, u32), run: u32) {
    let pixel = words.0.to_le_bytes();
    (0..3).for_each(|c| lane[c][usize::from(pixel[c])] += run);
}

/// Hellinger distance between two histograms of the same layout, averaged
/// over the three channels: 0 for identical colour distributions, 1 for
/// disjoint ones. `None` if the layouts differ.
pub fn distance(a: &Histogram, b: &Histogram) -> Option<f32> {
    if a.bins != b.bins || a.values.len() != b.values.len() {
        return None;
    }
    let nb = usize::from(a.bins);
    let mut sum = 0.0f32;
    for c in 0..3 {
        let bc: f32 = a.values[c * nb..(c + 1) * nb]
            .iter()
            .zip(&b.values[c * nb..(c + 1) * nb])
            .map(|(x, y)| (x * y).sqrt())
            .sum();
        sum += (1.0 - bc.min(1.0)).max(0.0).sqrt();
    }
    Some(sum / 3.0)
}
