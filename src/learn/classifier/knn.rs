//! The cosine k-nearest-neighbour classifier: k picked by leave-one-out
//! accuracy on the training rows, prediction by a similarity-weighted vote.

use ndarray::{Array2, ArrayView2, Axis};

use super::{shape_error, KnnModel, TrainOptions};
use crate::error::Result;
use crate::learn::rng;

/// Leave-one-out picks k among `opts.knn_ks` (on at most 2000 sampled
/// training rows); ties go to the smaller k.
pub(super) fn train_knn(
    x: ArrayView2<f32>,
    y: &[u32],
    classes: usize,
    opts: &TrainOptions,
) -> KnnModel {
    let v = normalised(x);
    let mut r = rng::seeded(opts.seed ^ 0x004B_4E4E);
    let queries = rng::sample_indices(&mut r, v.nrows(), 2000);
    let kmax = opts
        .knn_ks
        .iter()
        .copied()
        .max()
        .unwrap_or(1)
        .min(v.nrows().saturating_sub(1))
        .max(1);
    let q = v.select(Axis(0), &queries);
    let sims = q.dot(&v.t());
    let neighbours: Vec<Vec<usize>> = sims
        .rows()
        .into_iter()
        .zip(&queries)
        .map(|(row, &self_idx)| top_indices(&row.to_vec(), kmax, Some(self_idx)))
        .collect();
    let mut best = (opts.knn_ks.first().copied().unwrap_or(1), -1.0f64);
    let mut ks = opts.knn_ks.clone();
    ks.sort_unstable();
    for &k in ks.iter().filter(|&&k| k >= 1) {
        let correct = neighbours
            .iter()
            .zip(&queries)
            .filter(|(nb, &qi)| vote(nb.iter().take(k).map(|&j| (y[j], 0.0)), classes).0 == y[qi])
            .count();
        let acc = correct as f64 / queries.len().max(1) as f64;
        if acc > best.1 {
            best = (k, acc);
        }
    }
    KnnModel {
        k: best.0,
        dim: x.ncols(),
        classes,
        vectors: v.iter().copied().collect(),
        labels: y.to_vec(),
    }
}

/// Rows scaled to unit length (zero rows stay zero).
fn normalised(x: ArrayView2<f32>) -> Array2<f32> {
    let mut out = x.to_owned();
    for mut row in out.rows_mut() {
        let n = row.dot(&row).sqrt();
        if n > 0.0 {
            row /= n;
        }
    }
    out
}

/// Indices of the `k` largest values, largest first, skipping `skip`.
fn top_indices(values: &[f32], k: usize, skip: Option<usize>) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..values.len()).filter(|&i| Some(i) != skip).collect();
    let k = k.min(idx.len());
    if k == 0 {
        return Vec::new();
    }
    idx.select_nth_unstable_by(k - 1, |&a, &b| {
        values[b].total_cmp(&values[a]).then(a.cmp(&b))
    });
    idx.truncate(k);
    idx.sort_by(|&a, &b| values[b].total_cmp(&values[a]).then(a.cmp(&b)));
    idx
}

/// Majority vote of `(label, similarity)` pairs; ties go to the larger
/// summed similarity. Returns the winner and the per-class vote counts.
fn vote(neigh: impl Iterator<Item = (u32, f32)>, classes: usize) -> (u32, Vec<f32>) {
    let mut votes = vec![0f32; classes];
    let mut sims = vec![0f32; classes];
    for (l, s) in neigh {
        votes[l as usize] += 1.0;
        sims[l as usize] += s;
    }
    let winner = (0..classes)
        .max_by(|&a, &b| {
            votes[a]
                .total_cmp(&votes[b])
                .then(sims[a].total_cmp(&sims[b]))
                .then(b.cmp(&a))
        })
        .unwrap_or(0);
    (winner as u32, votes)
}

pub(super) fn predict_knn(m: &KnnModel, x: ArrayView2<f32>) -> Result<Vec<(u32, f32)>> {
    let v = ArrayView2::from_shape((m.labels.len(), m.dim), &m.vectors).map_err(shape_error)?;
    let q = normalised(x);
    let mut out = Vec::with_capacity(q.nrows());
    for chunk in q.axis_chunks_iter(Axis(0), 1024) {
        let sims = chunk.dot(&v.t());
        for row in sims.rows() {
            let vals = row.to_vec();
            let nb = top_indices(&vals, m.k, None);
            let (winner, votes) = vote(nb.iter().map(|&j| (m.labels[j], vals[j])), m.classes);
            out.push((winner, votes[winner as usize] / nb.len().max(1) as f32));
        }
    }
    Ok(out)
}
