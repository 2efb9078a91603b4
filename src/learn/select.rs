//! Choosing k: fit k-means for every k of a range, pick the elbow of the
//! inertia curve, and score each candidate by its silhouette.
//!
//! The elbow is the point of the curve farthest from the chord joining its
//! first and last points, with both axes scaled to 0..1 ("maximum distance
//! to the chord"; for a decreasing convex curve this is the same point as
//! the Kneedle method's maximum of the difference curve). The silhouette
//! (mean over points of `(b − a) / max(a, b)`, Euclidean distances) is
//! computed on a seeded sample of at most [`SILHOUETTE_SAMPLE`] rows whose
//! pairwise distances are computed once and shared by every k, so scoring
//! 19 candidates costs about as much as scoring one.

use ndarray::{Array2, ArrayView2, Axis};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::learn::kmeans::{self, Clustering, KMeansOptions};
use crate::learn::rng;

/// Rows the silhouette is computed on (all rows when there are fewer).
pub const SILHOUETTE_SAMPLE: usize = 2000;

/// One k that was tried.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Candidate {
    pub k: usize,
    /// Sum of squared distances to the nearest centroid.
    pub inertia: f64,
    /// Silhouette in −1..1 (higher is better); `None` when undefined (k = 1).
    pub silhouette: Option<f64>,
}

/// The outcome of a k search.
#[derive(Debug, Clone)]
pub struct Selection {
    pub candidates: Vec<Candidate>,
    /// The chosen k and its clustering.
    pub chosen: Clustering,
}

/// Fit every k in `ks` (ascending, at least three values) and keep the
/// elbow of the inertia curve. `progress` is called after each fit.
pub fn search(
    x: ArrayView2<f32>,
    ks: &[usize],
    opts: &KMeansOptions,
    progress: &dyn Fn(usize),
) -> Result<Selection> {
    if ks.len() < 3 {
        return Err(Error::InvalidArgument(format!(
            "a k range needs at least three values of k to find an elbow, got {}",
            ks.len()
        )));
    }
    let sample = SilhouetteSample::new(x, SILHOUETTE_SAMPLE, opts.seed);
    // Row norms and spread are shared by every k (the fits stay independent).
    let prep = kmeans::Prepared::new(x);
    let mut candidates = Vec::with_capacity(ks.len());
    let mut fits = Vec::with_capacity(ks.len());
    for &k in ks {
        let c = kmeans::fit_prepared(x, &prep, k, opts)?;
        candidates.push(Candidate {
            k,
            inertia: c.inertia,
            silhouette: sample.score(&c.labels),
        });
        fits.push(c);
        progress(k);
    }
    let curve: Vec<(f64, f64)> = candidates.iter().map(|c| (c.k as f64, c.inertia)).collect();
    let at = elbow(&curve).unwrap_or(0);
    let chosen = fits.swap_remove(at);
    Ok(Selection { candidates, chosen })
}

/// Score a single fit like a candidate (for `--k K`).
pub fn candidate(x: ArrayView2<f32>, c: &Clustering, seed: u64) -> Candidate {
    let sample = SilhouetteSample::new(x, SILHOUETTE_SAMPLE, seed);
    Candidate {
        k: c.k,
        inertia: c.inertia,
        silhouette: sample.score(&c.labels),
    }
}

/// Index of the point farthest from the chord between the first and the
/// last point, axes scaled to 0..1; `None` for fewer than three points.
pub fn elbow(curve: &[(f64, f64)]) -> Option<usize> {
    if curve.len() < 3 {
        return None;
    }
    let (x0, x1) = (curve[0].0, curve[curve.len() - 1].0);
    let ys = curve.iter().map(|p| p.1);
    let (y_min, y_max) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
        (a.min(y), b.max(y))
    });
    let sx = (x1 - x0).abs().max(f64::MIN_POSITIVE);
    let sy = (y_max - y_min).max(f64::MIN_POSITIVE);
    let norm: Vec<(f64, f64)> = curve
        .iter()
        .map(|&(x, y)| ((x - x0) / sx, (y - y_min) / sy))
        .collect();
    let (a, b) = (norm[0], norm[norm.len() - 1]);
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len = (dx * dx + dy * dy).sqrt().max(f64::MIN_POSITIVE);
    let dist = |p: (f64, f64)| ((p.0 - a.0) * dy - (p.1 - a.1) * dx).abs() / len;
    (0..norm.len()).max_by(|&i, &j| dist(norm[i]).total_cmp(&dist(norm[j])).then(j.cmp(&i)))
}

/// A seeded sample of rows and their pairwise Euclidean distances.
pub struct SilhouetteSample {
    rows: Vec<usize>,
    dist: Array2<f32>,
}

impl SilhouetteSample {
    pub fn new(x: ArrayView2<f32>, max_rows: usize, seed: u64) -> Self {
        let mut r = rng::seeded(seed ^ 0x5117_0E77);
        let mut rows = rng::sample_indices(&mut r, x.nrows(), max_rows);
        rows.sort_unstable();
        let s = x.select(Axis(0), &rows);
        SilhouetteSample {
            dist: pairwise_distances(s.view()),
            rows,
        }
    }

    /// Mean silhouette of the sampled rows under `labels` (one per row of
    /// the full matrix); `None` with fewer than two clusters in the sample.
    pub fn score(&self, labels: &[u32]) -> Option<f64> {
        let lab: Vec<u32> = self.rows.iter().map(|&i| labels[i]).collect();
        silhouette(self.dist.view(), &lab)
    }
}

/// Euclidean distances between all rows, via the Gram matrix.
pub fn pairwise_distances(x: ArrayView2<f32>) -> Array2<f32> {
    let sq: Vec<f32> = x.rows().into_iter().map(|r| r.dot(&r)).collect();
    let mut d = x.dot(&x.t());
    for ((i, j), v) in d.indexed_iter_mut() {
        *v = if i == j {
            0.0
        } else {
            (sq[i] + sq[j] - 2.0 * *v).max(0.0).sqrt()
        };
    }
    d
}

/// Mean silhouette given a distance matrix and a label per row. A point
/// alone in its cluster scores 0 (scikit-learn's convention).
pub fn silhouette(dist: ArrayView2<f32>, labels: &[u32]) -> Option<f64> {
    let k = labels.iter().copied().max()? as usize + 1;
    let mut sizes = vec![0usize; k];
    for &l in labels {
        sizes[l as usize] += 1;
    }
    let present = sizes.iter().filter(|&&s| s > 0).count();
    if present < 2 || present >= labels.len() {
        return None;
    }
    let mut total = 0.0f64;
    let mut sums = vec![0f64; k];
    for (i, row) in dist.rows().into_iter().enumerate() {
        sums.iter_mut().for_each(|s| *s = 0.0);
        for (j, &d) in row.iter().enumerate() {
            sums[labels[j] as usize] += f64::from(d);
        }
        let own = labels[i] as usize;
        if sizes[own] <= 1 {
            continue;
        }
        let a = sums[own] / (sizes[own] - 1) as f64;
        let b = (0..k)
            .filter(|&c| c != own && sizes[c] > 0)
            .map(|c| sums[c] / sizes[c] as f64)
            .fold(f64::INFINITY, f64::min);
        let m = a.max(b);
        if m > 0.0 {
            total += (b - a) / m;
        }
    }
    Some(total / labels.len() as f64)
}

/// The ks of an inclusive range; every k must be at most `n`, the number
/// of rows (`what` names them in the error).
pub fn range_ks(lo: usize, hi: usize, n: usize, what: &str) -> Result<Vec<usize>> {
    if lo < 1 || hi < lo {
        return Err(Error::InvalidArgument(format!(
            "k range {lo}..{hi} is empty or starts below 1"
        )));
    }
    if hi > n {
        return Err(Error::TooFewSamples {
            what: what.into(),
            k: hi,
            n,
        });
    }
    Ok((lo..=hi).collect())
}
