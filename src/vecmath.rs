//! The small vector maths every stage shares (embeddings, the ANN index,
//! k-means), in one place so that a distance is computed the same way, with
//! the same summation order and so bit for bit the same result, wherever it
//! is used.

pub fn l2_norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

pub fn l2_normalised(v: &[f32]) -> Vec<f32> {
    let n = l2_norm(v);
    if n > 0.0 {
        v.iter().map(|x| x / n).collect()
    } else {
        v.to_vec()
    }
}

/// Cosine distance (1 − dot) between two L2-normalised vectors, clamped at 0.
pub fn cosine_distance(a: &[f32], b: &[f32]) -> f32 {
    (1.0 - dot(a, b)).max(0.0)
}

/// Dot product with eight independent accumulators, so the compiler can
/// vectorise it (a plain iterator sum must keep the sequential order).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Squared Euclidean distance, with the same eight-accumulator order as
/// [`dot`].
pub fn squared_distance(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            let d = x[i] - y[i];
            acc[i] += d * d;
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_agree() {
        let a: Vec<f32> = (0..19).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..19).map(|i| (i as f32 * 0.11).cos()).collect();
        let naive_dot: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive_dot).abs() < 1e-5);
        let sq = dot(&a, &a) + dot(&b, &b) - 2.0 * dot(&a, &b);
        assert!((squared_distance(&a, &b) - sq).abs() < 1e-4);
        let (na, nb) = (l2_normalised(&a), l2_normalised(&b));
        assert!((l2_norm(&na) - 1.0).abs() < 1e-6);
        assert!(cosine_distance(&na, &na) < 1e-6);
        assert!((squared_distance(&na, &nb) - 2.0 * cosine_distance(&na, &nb)).abs() < 1e-5);
    }
}
