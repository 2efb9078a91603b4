//! PCA-whitening fitted on the store: the space similarity search runs in.
//! Raw CNN embeddings spend most of their length on a few directions every
//! image shares (background, lighting, the model's ImageNet biases), so
//! cosine distance between them is dominated by what is common rather than
//! what tells images apart. Whitening centres the store's embeddings,
//! projects them on their top principal directions and divides each by the
//! square root of its variance plus a shrinkage (the mean kept variance, so
//! the noisiest small directions are not blown up), then re-normalises:
//! a standard retrieval step (Jégou & Chum, ECCV 2012).
//!
//! The transform is derived data: fitted at the end of `index` on a
//! deterministic sample of the current embeddings, kept in the store's
//! `meta` tree (key `whitening`, versioned envelope, frozen `V1`) and named
//! by a fingerprint that becomes part of the saved graph's, so a refit
//! rebuilds the graph and its re-rank file. Below [`MIN_FIT`] embeddings
//! there is no transform and search uses the raw vectors.

use linfa_linalg::eigh::{EigSort, Eigh};
use linfa_linalg::Order;
use ndarray::{Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::search::ann::SplitMix;
use crate::store::{record, Store};

/// Dimensions kept.
pub const WHITEN_DIM: usize = 128;
/// Fewest embeddings a transform is fitted on (twice the kept dimensions).
pub const MIN_FIT: usize = 2 * WHITEN_DIM;
/// Most embeddings the fit samples (evenly spaced in id order).
pub const SAMPLE: usize = 4096;
/// Refit when the embeddings changed by more than this fraction since the
/// fit (added, removed or re-embedded).
pub const REFIT_DRIFT: f64 = 0.1;
const META_KEY: &str = "whitening";

/// A fitted whitening: `y = normalise(P · (x − mean))`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Whitening {
    /// Fingerprint string of the embeddings it was fitted on.
    pub embedding_fingerprint: String,
    /// Input and output dimensions.
    pub dim: u32,
    pub out_dim: u32,
    /// Added to every eigenvalue before dividing (the mean kept eigenvalue).
    pub shrinkage: f32,
    pub mean: Vec<f32>,
    /// `out_dim × dim`, row-major: principal directions, largest variance
    /// first, each divided by `sqrt(eigenvalue + shrinkage)`.
    pub projection: Vec<f32>,
    /// Embeddings in the store when it was fitted, and how many it sampled.
    pub fitted_on: u64,
    pub sampled: u64,
}

/// Positions (in id order) of the rows a fit on `n` embeddings samples:
/// [`SAMPLE`] evenly spaced ones, or all of them.
pub fn sample_positions(n: usize) -> impl Iterator<Item = usize> {
    let m = n.min(SAMPLE);
    (0..m).map(move |i| i * n / m)
}

/// Versioned envelope of [`Whitening`] (its layout is pinned by a fixture).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum StoredWhitening {
    V1(Whitening),
}

impl Whitening {
    /// Fit on `rows` (L2-normalised embeddings of one model, `fp`), which
    /// are sampled down to [`SAMPLE`] evenly spaced rows first. `None` with
    /// fewer than [`MIN_FIT`] rows. Deterministic: the same rows in the
    /// same order give the same bytes.
    pub fn fit(fp: &str, rows: &[&[f32]]) -> Option<Whitening> {
        let n = rows.len();
        let sample: Vec<&[f32]> = sample_positions(n).map(|i| rows[i]).collect();
        Self::fit_sample(fp, n, &sample)
    }

    /// Fit on `sample`, the rows at [`sample_positions`] of `n` embeddings.
    pub fn fit_sample(fp: &str, n: usize, sample: &[&[f32]]) -> Option<Whitening> {
        let m = sample.len();
        let dim = sample.first()?.len();
        if n < MIN_FIT || dim == 0 || m != n.min(SAMPLE) || sample.iter().any(|v| v.len() != dim) {
            return None;
        }
        let mut x = Array2::<f32>::zeros((m, dim));
        for (mut row, v) in x.rows_mut().into_iter().zip(sample) {
            row.assign(&ndarray::ArrayView1::from(*v));
        }
        let mean = x.mean_axis(Axis(0))?;
        x -= &mean;
        let cov = x.t().dot(&x) / m as f32;
        let out = WHITEN_DIM.min(dim).min(m - 1);
        let (values, vectors) = top_eigen(&cov, out)?;
        let shrinkage = values.iter().sum::<f64>() / out as f64;
        let mut projection = Vec::with_capacity(out * dim);
        for (k, &value) in values.iter().enumerate() {
            let scale = 1.0 / (value + shrinkage).sqrt();
            projection.extend(
                vectors
                    .row(k)
                    .iter()
                    .map(|&c| (f64::from(c) * scale) as f32),
            );
        }
        Some(Whitening {
            embedding_fingerprint: fp.to_string(),
            dim: dim as u32,
            out_dim: out as u32,
            shrinkage: shrinkage as f32,
            mean: mean.to_vec(),
            projection,
            fitted_on: n as u64,
            sampled: m as u64,
        })
    }

    /// Names this transform (BLAKE3 of its encoded record).
    pub fn fingerprint(&self) -> String {
        let bytes = record::encode(&StoredWhitening::V1(self.clone()));
        format!(
            "white{}:{}",
            self.out_dim,
            &blake3::hash(&bytes).to_hex()[..16]
        )
    }

    /// Whiten one embedding; the result is unit length (or zero).
    pub fn apply(&self, v: &[f32]) -> Vec<f32> {
        let centred: Vec<f32> = v.iter().zip(&self.mean).map(|(a, m)| a - m).collect();
        let out: Vec<f32> = self
            .projection
            .chunks_exact(self.dim as usize)
            .map(|row| crate::vecmath::dot(row, &centred))
            .collect();
        crate::vecmath::l2_normalised(&out)
    }

    /// [`apply`](Self::apply) over many embeddings as one matrix product.
    pub fn apply_many(&self, vs: &[&[f32]]) -> Vec<Vec<f32>> {
        let (dim, out) = (self.dim as usize, self.out_dim as usize);
        let p = ArrayView2::from_shape((out, dim), &self.projection).expect("projection shape");
        let mean = ndarray::ArrayView1::from(&self.mean);
        let mut result = Vec::with_capacity(vs.len());
        for block in vs.chunks(2048) {
            let mut x = Array2::<f32>::zeros((block.len(), dim));
            for (mut row, v) in x.rows_mut().into_iter().zip(block) {
                row.assign(&ndarray::ArrayView1::from(*v));
                row -= &mean;
            }
            let y = x.dot(&p.t());
            result.extend(
                y.rows()
                    .into_iter()
                    .map(|r| crate::vecmath::l2_normalised(&r.to_vec())),
            );
        }
        result
    }

    /// Whether a store whose `live` embeddings of model `fp` include
    /// `changed` new or re-embedded ones has drifted from this fit.
    pub fn is_stale(&self, fp: &str, live: usize, changed: usize) -> bool {
        let drift = changed + live.abs_diff(self.fitted_on as usize);
        self.embedding_fingerprint != fp || drift as f64 > REFIT_DRIFT * self.fitted_on as f64
    }
}

/// The `k` largest eigenvalues (non-negative, largest first) and their
/// eigenvectors (rows) of the symmetric `cov`: seeded block power
/// iteration on `k + OVERSAMPLE` directions, then Rayleigh–Ritz on that
/// subspace. A full eigendecomposition of a 1152² matrix takes seconds;
/// this takes a few large matrix products.
fn top_eigen(cov: &Array2<f32>, k: usize) -> Option<(Vec<f64>, Array2<f32>)> {
    const OVERSAMPLE: usize = 64;
    const ITERATIONS: usize = 8;
    let dim = cov.nrows();
    let p = (k + OVERSAMPLE).min(dim);
    let mut rng = SplitMix(0x5748_4954_454e);
    let mut q = Array2::from_shape_fn((p, dim), |_| rng.gaussian());
    orthonormalise_rows(&mut q);
    for _ in 0..ITERATIONS {
        q = q.dot(cov); // cov is symmetric: (cov · Qᵀ)ᵀ
        orthonormalise_rows(&mut q);
    }
    let small = q.dot(cov).dot(&q.t()).mapv(f64::from);
    let small = (&small + &small.t()) / 2.0;
    let (values, vectors) = small.eigh().ok()?.sort_eig(Order::Largest);
    let rotate = vectors.slice(ndarray::s![.., ..k]).t().mapv(|v| v as f32);
    Some((
        values.iter().take(k).map(|v| v.max(0.0)).collect(),
        rotate.dot(&q),
    ))
}

/// Modified Gram–Schmidt over the rows of `q`, twice (a row that
/// vanishes stays zero).
fn orthonormalise_rows(q: &mut Array2<f32>) {
    for _ in 0..2 {
        for i in 0..q.nrows() {
            let (done, mut rest) = q.view_mut().split_at(Axis(0), i);
            let mut row = rest.row_mut(0);
            for prev in done.rows() {
                let d = prev.dot(&row);
                row.scaled_add(-d, &prev);
            }
            let norm = row.dot(&row).sqrt();
            if norm > 0.0 {
                row /= norm;
            }
        }
    }
}

/// The store's whitening for model `fp`, if it has one that was fitted on
/// that model's embeddings (a corrupt record counts as none).
pub fn load(store: &Store, fp: &str) -> Result<Option<Whitening>> {
    let Some(bytes) = store.meta_get(META_KEY)? else {
        return Ok(None);
    };
    Ok(match record::decode::<StoredWhitening>(&bytes) {
        Ok(StoredWhitening::V1(w)) if w.embedding_fingerprint == fp => Some(w),
        _ => None,
    })
}

/// Called by `index` once the embeddings are written: refit when there is
/// no transform for `fp`, or the store drifted by more than
/// [`REFIT_DRIFT`] (`changed` embeddings were (re)computed this run); drop
/// it when fewer than [`MIN_FIT`] embeddings are left. Returns whether the
/// stored transform changed.
pub fn update(store: &Store, fp: &str, changed: usize) -> Result<bool> {
    let old = load(store, fp)?;
    let n = store.count_embeddings(fp)?;
    if n < MIN_FIT {
        let had = store.meta_get(META_KEY)?.is_some();
        if had {
            store.meta_remove(META_KEY)?;
        }
        return Ok(had);
    }
    if old.is_some_and(|w| !w.is_stale(fp, n, changed)) {
        return Ok(false);
    }
    // Only the sampled rows are read into memory (4096 of them at most).
    let want: Vec<usize> = sample_positions(n).collect();
    let sample = store.embeddings_at(fp, &want)?;
    let rows: Vec<&[f32]> = sample.iter().map(Vec::as_slice).collect();
    let w =
        Whitening::fit_sample(fp, n, &rows).ok_or(Error::Internal("the whitening fit failed"))?;
    store.meta_put(META_KEY, &record::encode(&StoredWhitening::V1(w)))?;
    Ok(true)
}
