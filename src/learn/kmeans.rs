//! K-means on the rows of a matrix: greedy k-means++ seeding (see
//! [`plus_plus`]) and either full Lloyd iterations (the best of `n_init`
//! seeded starts) or mini-batch running-mean updates, stopped early like
//! scikit-learn's MiniBatchKMeans when the smoothed batch inertia stops
//! improving. The inner loops are in [`lloyd`] (one matrix product per
//! iteration). Inertia is reported as the *sum* of squared distances to the
//! nearest centroid (scikit-learn's convention).

use ndarray::{Array2, ArrayView2, Axis};

use crate::error::{Error, Result};
use crate::learn::{lloyd, rng};

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

/// What every fit on one matrix shares: its squared row norms and its
/// spread (so a k range computes them once).
#[derive(Debug, Clone)]
pub struct Prepared {
    pub norms: Vec<f32>,
    pub spread: f32,
}

impl Prepared {
    pub fn new(x: ArrayView2<f32>) -> Self {
        Prepared {
            norms: lloyd::row_norms(x),
            spread: spread(x),
        }
    }
}

/// Cluster the rows of `x` into `k` groups.
pub fn fit(x: ArrayView2<f32>, k: usize, opts: &KMeansOptions) -> Result<Clustering> {
    fit_prepared(x, &Prepared::new(x), k, opts)
}

/// [`fit`] with the matrix's [`Prepared`] norms and spread.
pub fn fit_prepared(
    x: ArrayView2<f32>,
    prep: &Prepared,
    k: usize,
    opts: &KMeansOptions,
) -> Result<Clustering> {
    check_k(x.nrows(), k)?;
    if prep.norms.len() != x.nrows() {
        return Err(Error::Dimension {
            what: "k-means row norms".into(),
            expected: x.nrows(),
            got: prep.norms.len(),
        });
    }
    let tolerance = opts.tolerance * prep.spread.max(f32::MIN_POSITIVE);
    let centroids = match opts.mini_batch {
        // A batch as large as the data would be plain k-means, only slower.
        Some(batch) if batch.max(3 * k) < x.nrows() => {
            fit_mini_batch(x, &prep.norms, k, batch, opts, tolerance)
        }
        _ => fit_full(x, &prep.norms, k, opts, tolerance),
    };
    Ok(assign(x, &prep.norms, centroids, k))
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

/// Sum of squared distances of the rows to their nearest centroid.
fn cost(x: ArrayView2<f32>, xn: &[f32], c: ArrayView2<f32>) -> f64 {
    lloyd::nearest(x, xn, c)
        .1
        .iter()
        .map(|&d| f64::from(d))
        .sum()
}

/// The best (lowest inertia) of `n_init` seeded Lloyd runs.
fn fit_full(
    x: ArrayView2<f32>,
    xn: &[f32],
    k: usize,
    opts: &KMeansOptions,
    tolerance: f32,
) -> Array2<f32> {
    let runs = (0..opts.n_init.max(1)).map(|run| {
        let mut r = rng::seeded(opts.seed.wrapping_add(run as u64));
        let init = plus_plus_with(x, xn, k, &mut r);
        lloyd::lloyd(x, xn, init, opts.max_iter, tolerance)
    });
    if opts.n_init <= 1 {
        return runs.into_iter().next().expect("one run");
    }
    runs.map(|c| {
        let cost = cost(x, xn, c.view());
        (c, cost)
    })
    .min_by(|a, b| a.1.total_cmp(&b.1))
    .map(|(c, _)| c)
    .expect("at least one run")
}

/// Greedy k-means++ seeding (Arthur & Vassilvitskii, 2007, with the greedy
/// variant scikit-learn uses): the first centroid is a uniformly random
/// row; for each next one, `2 + ln k` rows are drawn with probability
/// proportional to their squared distance to the nearest centroid so far,
/// and the one that lowers the total of those distances most is kept.
/// Distances are updated incrementally, one matrix product per centroid
/// for all the candidates, O(n·k·d·(2 + ln k)) in all.
pub fn plus_plus(x: ArrayView2<f32>, k: usize, r: &mut rng::Rng) -> Array2<f32> {
    plus_plus_with(x, &lloyd::row_norms(x), k, r)
}

fn plus_plus_with(x: ArrayView2<f32>, xn: &[f32], k: usize, r: &mut rng::Rng) -> Array2<f32> {
    let n = x.nrows();
    let trials = 2 + (k as f64).ln().floor() as usize;
    let mut centroids = Array2::zeros((k, x.ncols()));
    let first = rng::below(r, n);
    centroids.row_mut(0).assign(&x.row(first));
    let mut d2 = candidate_d2(x, xn, &[first], None).swap_remove(0);
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
            .copied()
            .zip(candidate_d2(x, xn, &picks, Some(&d2)))
            .map(|(p, v)| {
                let sum: f64 = v.iter().map(|&x| f64::from(x)).sum();
                (p, v, sum)
            })
            .min_by(|a, b| a.2.total_cmp(&b.2))
            .map(|(p, v, _)| (p, v))
            .expect("at least two trials");
        centroids.row_mut(c).assign(&x.row(pick));
        d2 = best;
    }
    centroids
}

/// For each candidate row, every row's squared distance to it (capped by
/// `prev`, the distance to the nearest centroid so far, when given).
fn candidate_d2(
    x: ArrayView2<f32>,
    xn: &[f32],
    picks: &[usize],
    prev: Option<&[f32]>,
) -> Vec<Vec<f32>> {
    let cand = x.select(Axis(0), picks);
    let cn: Vec<f32> = picks.iter().map(|&p| xn[p]).collect();
    let d = lloyd::sq_distances(x, xn, cand.view(), &cn);
    (0..picks.len())
        .map(|t| {
            let col = d.column(t);
            match prev {
                Some(p) => col.iter().zip(p).map(|(&a, &b)| a.min(b)).collect(),
                None => col.to_vec(),
            }
        })
        .collect()
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

/// Mini-batch k-means: shuffled batches, one running-mean update each,
/// until the centroids settle, the exponentially weighted batch inertia has
/// not improved for 10 batches, or 100 passes over the data.
fn fit_mini_batch(
    x: ArrayView2<f32>,
    xn: &[f32],
    k: usize,
    batch: usize,
    opts: &KMeansOptions,
    tolerance: f32,
) -> Array2<f32> {
    let n = x.nrows();
    let b = batch.max(3 * k).min(n);
    let mut c = mini_batch_init(x, xn, k, b, opts);
    let mut counts = vec![0f64; k];
    let mut order_rng = rng::seeded(opts.seed.wrapping_add(0x9E37_79B9_7F4A_7C15));
    let mut order: Vec<usize> = (0..n).collect();
    let mut pos = n;
    let max_steps = (100 * n).div_ceil(b).max(10);
    let alpha = (2.0 * b as f64 / (n as f64 + 1.0)).min(1.0);
    let (mut ewa, mut best, mut stale) = (None::<f64>, f64::INFINITY, 0);
    for _ in 0..max_steps {
        if pos + b > n {
            rng::shuffle(&mut order_rng, &mut order);
            pos = 0;
        }
        let (batch_inertia, moved) =
            lloyd::mini_batch_step(x, xn, &order[pos..pos + b], &mut c, &mut counts);
        pos += b;
        if moved < tolerance {
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
    c
}

/// The best (lowest inertia on the sample) of `n_init` k-means++ seedings
/// of a random sample of `3 × batch` rows, like scikit-learn's `init_size`.
fn mini_batch_init(
    x: ArrayView2<f32>,
    xn: &[f32],
    k: usize,
    batch: usize,
    opts: &KMeansOptions,
) -> Array2<f32> {
    let mut r = rng::seeded(opts.seed);
    let rows = rng::sample_indices(&mut r, x.nrows(), (3 * batch).max(k));
    let sample = x.select(Axis(0), &rows);
    let sn: Vec<f32> = rows.iter().map(|&i| xn[i]).collect();
    (0..opts.n_init.max(1))
        .map(|run| {
            let mut r = rng::seeded(opts.seed.wrapping_add(run as u64));
            let c = plus_plus_with(sample.view(), &sn, k, &mut r);
            let cost = cost(sample.view(), &sn, c.view());
            (c, cost)
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(c, _)| c)
        .expect("at least one seeding")
}

/// Labels, sizes and inertia of every row under the fitted centroids.
fn assign(x: ArrayView2<f32>, xn: &[f32], centroids: Array2<f32>, k: usize) -> Clustering {
    let (labels, dists) = lloyd::nearest(x, xn, centroids.view());
    let mut sizes = vec![0usize; k];
    for &l in &labels {
        sizes[l as usize] += 1;
    }
    Clustering {
        k,
        labels,
        centroids,
        inertia: dists.iter().map(|&d| f64::from(d)).sum(),
        sizes,
    }
}

/// For each row, the nearest centroid and the squared distance to it,
/// via `|x|² + |c|² − 2·x·c` in one matrix product.
pub fn nearest(x: ArrayView2<f32>, centroids: ArrayView2<f32>) -> (Vec<u32>, Vec<f32>) {
    lloyd::nearest(x, &lloyd::row_norms(x), centroids)
}
