//! K-means on the rows of a matrix, with `linfa-clustering`: k-means++
//! seeding (see [`plus_plus`]) and either full Lloyd iterations (the best
//! of `n_init` seeded starts) or mini-batch updates through linfa's incremental
//! `fit_with`, stopped early like scikit-learn's MiniBatchKMeans when the
//! smoothed batch inertia stops improving. Inertia is reported as the *sum*
//! of squared distances to the nearest centroid (scikit-learn's
//! convention); linfa's own `inertia()` is that sum divided by n.

use linfa::traits::{Fit, FitWith};
use linfa::DatasetBase;
use linfa::ParamGuard;
use linfa_clustering::{IncrKMeansError, KMeans, KMeansInit};
use linfa_nn::distance::L2Dist;
use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::learn::rng;

/// How k-means runs.
#[derive(Debug, Clone, PartialEq)]
pub struct KMeansOptions {
    pub seed: u64,
    /// Independent k-means++ starts; the one with the lowest inertia is kept.
    pub n_init: usize,
    /// Lloyd iterations per start (full k-means).
    pub max_iter: u64,
    /// Stop when the centroids move less than this, relative to the data's
    /// spread (square root of its total variance).
    pub tolerance: f32,
    /// Mini-batch k-means with batches of this many rows (at least 3k);
    /// full k-means when that is not fewer than the rows.
    pub mini_batch: Option<usize>,
}

impl Default for KMeansOptions {
    fn default() -> Self {
        KMeansOptions {
            seed: 0,
            n_init: 1,
            max_iter: 300,
            tolerance: 1e-4,
            mini_batch: None,
        }
    }
}

/// Default rows per mini-batch (scikit-learn's MiniBatchKMeans default).
pub const DEFAULT_BATCH: usize = 1024;

/// A fitted clustering of the matrix's rows.
#[derive(Debug, Clone)]
pub struct Clustering {
    pub k: usize,
    /// Cluster of each row, `0..k`.
    pub labels: Vec<u32>,
    /// `k × dim` centroids.
    pub centroids: Array2<f32>,
    /// Sum over rows of the squared distance to their centroid.
    pub inertia: f64,
    /// Rows per cluster.
    pub sizes: Vec<usize>,
}

type Model = KMeans<f32, L2Dist>;

/// Cluster the rows of `x` into `k` groups.
pub fn fit(x: ArrayView2<f32>, k: usize, opts: &KMeansOptions) -> Result<Clustering> {
    check_k(x.nrows(), k)?;
    let tolerance = opts.tolerance * spread(x).max(f32::MIN_POSITIVE);
    let model = match opts.mini_batch {
        // A batch as large as the data would be plain k-means, only slower.
        Some(batch) if batch.max(3 * k) < x.nrows() => {
            fit_mini_batch(x, k, batch, opts, tolerance)?
        }
        _ => fit_full(x, k, opts, tolerance)?,
    };
    Ok(assign(x, &model, k))
}

fn check_k(n: usize, k: usize) -> Result<()> {
    if k == 0 {
        return Err(Error::InvalidArgument("k must be at least 1".into()));
    }
    if k > n {
        return Err(Error::TooFewSamples {
            what: "rows".into(),
            k,
            n,
        });
    }
    Ok(())
}

/// Square root of the total variance (sum over columns).
fn spread(x: ArrayView2<f32>) -> f32 {
    if x.nrows() == 0 {
        return 0.0;
    }
    x.var_axis(Axis(0), 0.0).sum().sqrt()
}

fn fit_err(k: usize, e: impl std::fmt::Display) -> Error {
    Error::Fit {
        what: format!("k-means with k = {k}"),
        reason: e.to_string(),
    }
}

fn fit_full(x: ArrayView2<f32>, k: usize, opts: &KMeansOptions, tolerance: f32) -> Result<Model> {
    let data = DatasetBase::from(x);
    let mut best: Option<Model> = None;
    for run in 0..opts.n_init.max(1) {
        let mut r = rng::seeded(opts.seed.wrapping_add(run as u64));
        let init = plus_plus(x, k, &mut r);
        let m = KMeans::params_with_rng(k, r)
            .n_runs(1)
            .max_n_iterations(opts.max_iter.max(1))
            .tolerance(tolerance)
            .init_method(KMeansInit::Precomputed(init))
            .fit(&data)
            .map_err(|e| fit_err(k, e))?;
        if best.as_ref().is_none_or(|b| m.inertia() < b.inertia()) {
            best = Some(m);
        }
    }
    best.ok_or_else(|| fit_err(k, "no run"))
}

/// Greedy k-means++ seeding (Arthur & Vassilvitskii, 2007, with the greedy
/// variant scikit-learn uses): the first centroid is a uniformly random
/// row; for each next one, `2 + ln k` rows are drawn with probability
/// proportional to their squared distance to the nearest centroid so far,
/// and the one that lowers the total of those distances most is kept.
/// Distances are updated incrementally, O(n·k·d·(2 + ln k)) in all; linfa
/// 0.8's own k-means++ is not greedy and recomputes distances to every
/// chosen centroid at each step (O(n·k²·d)), which dominated the run time
/// for k ≳ 20, so this result is handed to linfa as precomputed centroids.
pub fn plus_plus(x: ArrayView2<f32>, k: usize, r: &mut rng::Rng) -> Array2<f32> {
    let x = x.as_standard_layout();
    let (n, d) = x.dim();
    let data = x.as_slice().expect("standard layout");
    let row = |i: usize| &data[i * d..(i + 1) * d];
    let trials = 2 + (k as f64).ln().floor() as usize;
    let mut centroids = Array2::zeros((k, d));
    let first = rng::below(r, n);
    centroids
        .row_mut(0)
        .assign(&ndarray::ArrayView1::from(row(first)));
    let mut d2: Vec<f32> = (0..n)
        .into_par_iter()
        .map(|i| sq_dist(row(i), row(first)))
        .collect();
    for c in 1..k {
        let total: f64 = d2.iter().map(|&v| f64::from(v)).sum();
        let picks: Vec<usize> = (0..trials)
            .map(|_| {
                if total > 0.0 {
                    weighted(&d2, rng::uniform(r) * total)
                } else {
                    rng::below(r, n)
                }
            })
            .collect();
        let (pick, best) = picks
            .iter()
            .map(|&p| {
                let v: Vec<f32> = d2
                    .par_iter()
                    .enumerate()
                    .map(|(i, &m)| m.min(sq_dist(row(i), row(p))))
                    .collect();
                let sum: f64 = v.iter().map(|&x| f64::from(x)).sum();
                (p, v, sum)
            })
            .min_by(|a, b| a.2.total_cmp(&b.2))
            .map(|(p, v, _)| (p, v))
            .expect("at least two trials");
        centroids
            .row_mut(c)
            .assign(&ndarray::ArrayView1::from(row(pick)));
        d2 = best;
    }
    centroids
}

/// The index where the running sum of `w` first exceeds `t`.
fn weighted(w: &[f32], t: f64) -> usize {
    let mut acc = 0.0f64;
    for (i, &v) in w.iter().enumerate() {
        acc += f64::from(v);
        if acc > t {
            return i;
        }
    }
    w.iter().rposition(|&v| v > 0.0).unwrap_or(0)
}

/// Squared Euclidean distance (eight lanes, so that it vectorises).
pub fn sq_dist(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            let t = x[l] - y[l];
            acc[l] += t * t;
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Mini-batch k-means: shuffled batches, one linfa `fit_with` step each,
/// until the centroids settle, the exponentially weighted batch inertia has
/// not improved for 10 batches, or 100 passes over the data.
fn fit_mini_batch(
    x: ArrayView2<f32>,
    k: usize,
    batch: usize,
    opts: &KMeansOptions,
    tolerance: f32,
) -> Result<Model> {
    let n = x.nrows();
    let b = batch.max(3 * k).min(n);
    let params = KMeans::params_with_rng(k, rng::seeded(opts.seed))
        .n_runs(1)
        .tolerance(tolerance)
        .init_method(KMeansInit::Precomputed(mini_batch_init(x, k, b, opts)))
        .check()
        .map_err(|e| fit_err(k, e))?;
    let mut order_rng = rng::seeded(opts.seed.wrapping_add(0x9E37_79B9_7F4A_7C15));
    let mut order: Vec<usize> = (0..n).collect();
    let mut pos = n;
    let max_steps = (100 * n).div_ceil(b).max(10);
    let alpha = (2.0 * b as f64 / (n as f64 + 1.0)).min(1.0);
    let (mut ewa, mut best, mut stale) = (None::<f64>, f64::INFINITY, 0);
    let mut model: Option<Model> = None;
    for _ in 0..max_steps {
        if pos + b > n {
            rng::shuffle(&mut order_rng, &mut order);
            pos = 0;
        }
        let rows = x.select(Axis(0), &order[pos..pos + b]);
        pos += b;
        let data = DatasetBase::from(rows.view());
        let (m, converged) = match params.fit_with(model.take(), &data) {
            Ok(m) => (m, true),
            Err(IncrKMeansError::NotConverged(m)) => (m, false),
            Err(e) => return Err(fit_err(k, e)),
        };
        let batch_inertia = f64::from(m.inertia());
        model = Some(m);
        if converged {
            break;
        }
        let smoothed = ewa.map_or(batch_inertia, |e| alpha * batch_inertia + (1.0 - alpha) * e);
        ewa = Some(smoothed);
        if smoothed < best {
            best = smoothed;
            stale = 0;
        } else {
            stale += 1;
            if stale >= 10 {
                break;
            }
        }
    }
    model.ok_or_else(|| fit_err(k, "no batch was processed"))
}

/// The best (lowest inertia on the sample) of `n_init` k-means++ seedings
/// of a random sample of `3 × batch` rows, like scikit-learn's `init_size`.
fn mini_batch_init(
    x: ArrayView2<f32>,
    k: usize,
    batch: usize,
    opts: &KMeansOptions,
) -> Array2<f32> {
    let mut r = rng::seeded(opts.seed);
    let rows = rng::sample_indices(&mut r, x.nrows(), (3 * batch).max(k));
    let sample = x.select(Axis(0), &rows);
    (0..opts.n_init.max(1))
        .map(|run| {
            plus_plus(
                sample.view(),
                k,
                &mut rng::seeded(opts.seed.wrapping_add(run as u64)),
            )
        })
        .map(|c| {
            let cost: f64 = nearest(sample.view(), c.view())
                .1
                .iter()
                .map(|&d| f64::from(d))
                .sum();
            (c, cost)
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(c, _)| c)
        .expect("at least one seeding")
}

/// Labels, sizes and inertia of every row under a fitted model, in one
/// matrix-product pass (linfa's `predict` and `transform` would each
/// compute every row-centroid distance separately).
fn assign(x: ArrayView2<f32>, model: &Model, k: usize) -> Clustering {
    let centroids = model.centroids();
    let (labels, dists) = nearest(x, centroids.view());
    let mut sizes = vec![0usize; k];
    for &l in &labels {
        sizes[l as usize] += 1;
    }
    Clustering {
        k,
        labels,
        centroids: centroids.clone(),
        inertia: dists.iter().map(|&d| f64::from(d)).sum(),
        sizes,
    }
}

/// For each row, the nearest centroid and the squared distance to it,
/// via `|x|² + |c|² − 2·x·c` over blocks of rows.
pub fn nearest(x: ArrayView2<f32>, centroids: ArrayView2<f32>) -> (Vec<u32>, Vec<f32>) {
    let cn: Vec<f32> = centroids.rows().into_iter().map(|c| c.dot(&c)).collect();
    let mut labels = Vec::with_capacity(x.nrows());
    let mut dists = Vec::with_capacity(x.nrows());
    for block in x.axis_chunks_iter(Axis(0), 4096) {
        let dots = block.dot(&centroids.t());
        for (row, d) in block.rows().into_iter().zip(dots.rows()) {
            let xn = row.dot(&row);
            let (best, dist) = d
                .iter()
                .zip(&cn)
                .map(|(&p, &c)| (xn + c - 2.0 * p).max(0.0))
                .enumerate()
                .fold(
                    (0, f32::INFINITY),
                    |a, (j, v)| if v < a.1 { (j, v) } else { a },
                );
            labels.push(best as u32);
            dists.push(dist);
        }
    }
    (labels, dists)
}
