//! K-means on the rows of a matrix, with `linfa-clustering`: k-means++
//! initialisation and either full Lloyd iterations (the best of `n_init`
//! seeded starts) or mini-batch updates through linfa's incremental
//! `fit_with`, stopped early like scikit-learn's MiniBatchKMeans when the
//! smoothed batch inertia stops improving. Inertia is reported as the *sum*
//! of squared distances to the nearest centroid (scikit-learn's
//! convention); linfa's own `inertia()` is that sum divided by n.

use linfa::traits::{Fit, FitWith, Predict, Transformer};
use linfa::DatasetBase;
use linfa::ParamGuard;
use linfa_clustering::{IncrKMeansError, KMeans, KMeansInit};
use linfa_nn::distance::L2Dist;
use ndarray::{Array2, ArrayView2, Axis};

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
    /// Mini-batch k-means with batches of this many rows (at least 3k).
    pub mini_batch: Option<usize>,
}

impl Default for KMeansOptions {
    fn default() -> Self {
        KMeansOptions {
            seed: 0,
            n_init: 3,
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
        None => fit_full(x, k, opts, tolerance)?,
        Some(batch) => fit_mini_batch(x, k, batch, opts, tolerance)?,
    };
    Ok(assign(x, &model, k))
}

fn check_k(n: usize, k: usize) -> Result<()> {
    if k == 0 {
        return Err(Error::InvalidArgument("k must be at least 1".into()));
    }
    if k > n {
        return Err(Error::TooFewSamples { what: "rows".into(), k, n });
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
    Error::Fit { what: format!("k-means with k = {k}"), reason: e.to_string() }
}

fn fit_full(x: ArrayView2<f32>, k: usize, opts: &KMeansOptions, tolerance: f32) -> Result<Model> {
    let data = DatasetBase::from(x);
    KMeans::params_with_rng(k, rng::seeded(opts.seed))
        .n_runs(opts.n_init.max(1))
        .max_n_iterations(opts.max_iter.max(1))
        .tolerance(tolerance)
        .init_method(KMeansInit::KMeansPlusPlus)
        .fit(&data)
        .map_err(|e| fit_err(k, e))
}

/// Mini-batch k-means: shuffled batches, one linfa `fit_with` step each,
/// until the centroids settle, the exponentially weighted batch inertia has
/// not improved for 10 batches, or 100 passes over the data.
fn fit_mini_batch(x: ArrayView2<f32>, k: usize, batch: usize, opts: &KMeansOptions, tolerance: f32) -> Result<Model> {
    let n = x.nrows();
    let b = batch.max(3 * k).min(n);
    let params = KMeans::params_with_rng(k, rng::seeded(opts.seed))
        .n_runs(opts.n_init.max(1))
        .tolerance(tolerance)
        .init_method(KMeansInit::KMeansPlusPlus)
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

/// Labels, sizes and inertia of every row under a fitted model.
fn assign(x: ArrayView2<f32>, model: &Model, k: usize) -> Clustering {
    let labels: ndarray::Array1<usize> = model.predict(&x);
    let dists = model.transform(&x);
    let mut sizes = vec![0usize; k];
    for &l in &labels {
        sizes[l] += 1;
    }
    Clustering {
        k,
        labels: labels.iter().map(|&l| l as u32).collect(),
        centroids: model.centroids().clone(),
        inertia: dists.iter().map(|&d| f64::from(d)).sum(),
        sizes,
    }
}

/// Index of the nearest centroid for each row of `x` (squared Euclidean).
pub fn nearest(x: ArrayView2<f32>, centroids: ArrayView2<f32>) -> Vec<u32> {
    x.rows()
        .into_iter()
        .map(|r| {
            let mut best = (0u32, f32::INFINITY);
            for (j, c) in centroids.rows().into_iter().enumerate() {
                let d: f32 = r.iter().zip(c.iter()).map(|(a, b)| (a - b) * (a - b)).sum();
                if d < best.1 {
                    best = (j as u32, d);
                }
            }
            best.0
        })
        .collect()
}
