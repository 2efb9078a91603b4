//! The fast k-means and logistic paths (one matrix product per step)
//! against straightforward reference implementations on seeded data.

use imgdex::learn::{kmeans, lloyd, rng, softmax};
use ndarray::{Array2, ArrayView2};

use crate::cluster::blobs;

/// Nearest centroid and squared distance by a plain double loop in f64.
fn brute_nearest(x: ArrayView2<f32>, c: ArrayView2<f32>) -> (Vec<u32>, Vec<f64>) {
    x.rows()
        .into_iter()
        .map(|r| {
            (0..c.nrows())
                .map(|j| {
                    let d: f64 = r
                        .iter()
                        .zip(c.row(j))
                        .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
                        .sum();
                    (j as u32, d)
                })
                .fold((0, f64::INFINITY), |a, b| if b.1 < a.1 { b } else { a })
        })
        .unzip()
}

/// Plain Lloyd in f64 from the same start, same stopping rule.
fn reference_lloyd(x: ArrayView2<f32>, init: &Array2<f32>, iters: usize) -> Array2<f32> {
    let mut c = init.clone();
    for _ in 0..iters {
        let (labels, _) = brute_nearest(x, c.view());
        let mut sum = Array2::<f64>::zeros(c.dim());
        let mut count = vec![0usize; c.nrows()];
        for (r, &l) in x.rows().into_iter().zip(&labels) {
            count[l as usize] += 1;
            sum.row_mut(l as usize)
                .zip_mut_with(&r, |a, &b| *a += f64::from(b));
        }
        for j in 0..c.nrows() {
            if count[j] > 0 {
                let m = sum.row(j).mapv(|v| (v / count[j] as f64) as f32);
                c.row_mut(j).assign(&m);
            }
        }
    }
    c
}

#[test]
fn gemm_nearest_matches_brute_force() {
    let (x, _) = blobs(6, 40, 24, 4.0, 11);
    let c = kmeans::plus_plus(x.view(), 6, &mut rng::seeded(3));
    let (labels, dists) = lloyd::nearest(x.view(), &lloyd::row_norms(x.view()), c.view());
    let (want_labels, want_dists) = brute_nearest(x.view(), c.view());
    assert_eq!(labels, want_labels);
    for (got, want) in dists.iter().zip(&want_dists) {
        assert!(
            (f64::from(*got) - want).abs() <= 1e-3 * want.max(1.0),
            "{got} vs {want}"
        );
    }
}

#[test]
fn fast_lloyd_matches_reference_lloyd() {
    let (x, _) = blobs(5, 60, 16, 2.0, 5);
    let init = kmeans::plus_plus(x.view(), 5, &mut rng::seeded(9));
    let fast = lloyd::lloyd(x.view(), &lloyd::row_norms(x.view()), init.clone(), 30, 0.0);
    let slow = reference_lloyd(x.view(), &init, 30);
    let (fl, fd) = brute_nearest(x.view(), fast.view());
    let (sl, sd) = brute_nearest(x.view(), slow.view());
    assert_eq!(fl, sl);
    let (fi, si): (f64, f64) = (fd.iter().sum(), sd.iter().sum());
    assert!((fi - si).abs() <= 1e-4 * si, "inertia {fi} vs {si}");
}

#[test]
fn softmax_gradient_matches_finite_differences_and_fit_separates_blobs() {
    let (x, y) = blobs(3, 30, 8, 3.0, 2);
    let mut w = Array2::<f32>::zeros((9, 3));
    w[[0, 1]] = 0.3;
    w[[8, 2]] = -0.2;
    let (_, g) = softmax::loss_grad(x.view(), &y, 1.0, w.view());
    for &(i, j) in &[(0usize, 0usize), (3, 1), (7, 2), (8, 0)] {
        let eps = 1e-2f32;
        let (mut a, mut b) = (w.clone(), w.clone());
        a[[i, j]] += eps;
        b[[i, j]] -= eps;
        let fd = (softmax::loss_grad(x.view(), &y, 1.0, a.view()).0
            - softmax::loss_grad(x.view(), &y, 1.0, b.view()).0)
            / (2.0 * f64::from(eps));
        let an = f64::from(g[[i, j]]);
        assert!(
            (fd - an).abs() <= 1e-3 + 0.02 * an.abs(),
            "({i},{j}): {fd} vs {an}"
        );
    }
    let fit = softmax::fit(x.view(), &y, 3, 1.0, 100, 1e-4);
    let logits = x.dot(&fit.weights);
    let correct = logits
        .rows()
        .into_iter()
        .zip(&y)
        .filter(|(r, &c)| {
            let best = (0..3)
                .max_by(|&a, &b| (r[a] + fit.intercept[a]).total_cmp(&(r[b] + fit.intercept[b])));
            best == Some(c as usize)
        })
        .count();
    assert_eq!(correct, y.len());
}
