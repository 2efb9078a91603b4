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
    // Counts of every byte value per channel, folded into bins at the end
    // (no per-pixel bin lookup). Four interleaved copies of the counts:
    // runs of equal colours (flat areas, common in graphics) would
    // otherwise make every increment wait for the one before it on the
    // same counter.
    let mut lanes = [[[0u32; 256]; 3]; 4];
    let mut quads = img.as_raw().chunks_exact(12);
    for q in &mut quads {
        for (lane, p) in lanes.iter_mut().zip(q.chunks_exact(3)) {
            lane[0][usize::from(p[0])] += 1;
            lane[1][usize::from(p[1])] += 1;
            lane[2][usize::from(p[2])] += 1;
        }
    }
    for p in quads.remainder().chunks_exact(3) {
        (0..3).for_each(|c| lanes[0][c][usize::from(p[c])] += 1);
    }
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
