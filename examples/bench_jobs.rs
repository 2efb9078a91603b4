//! Times the learning jobs' library calls on a feature matrix, for
//! `scripts/bench_jobs` (which runs scikit-learn on the same `.npy`):
//! k-means with one k and over a k range (full and mini-batch), and
//! classifier training (logistic regression, k-NN).
//!
//! `cargo run --release --example bench_jobs -- X.npy LABELS.txt K LO..HI`
//! prints one JSON object of wall-clock seconds (and quality figures).

use std::time::Instant;

use imgdex::jobs::classify::stratified;
use imgdex::learn::classifier::{self, Method, TrainOptions};
use imgdex::learn::kmeans::{self, KMeansOptions, DEFAULT_BATCH};
use imgdex::learn::{metrics, npy, select};
use ndarray::Axis;
use serde_json::json;

/// `BENCH_QUALITY_SEEDS=S`: also report the mean inertia over seeds 0..S.
fn quality_seeds() -> Option<u64> {
    std::env::var("BENCH_QUALITY_SEEDS")
        .ok()?
        .parse()
        .ok()
        .filter(|&s| s > 0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        eprintln!("usage: bench_jobs X.npy LABELS.txt K LO..HI");
        std::process::exit(2);
    }
    let x = npy::read_f32(args[1].as_ref()).expect("read X.npy");
    let y: Vec<u32> = std::fs::read_to_string(&args[2])
        .expect("read labels")
        .lines()
        .map(|l| l.trim().parse().expect("integer label"))
        .collect();
    assert_eq!(y.len(), x.nrows(), "one label per row");
    let k: usize = args[3].parse().expect("K");
    let (lo, hi) = args[4].split_once("..").expect("LO..HI");
    let ks: Vec<usize> = (lo.parse().unwrap()..=hi.parse().unwrap()).collect();
    let classes = *y.iter().max().unwrap() as usize + 1;

    let mut out = serde_json::Map::new();
    out.insert("rows".into(), json!(x.nrows()));
    out.insert("dim".into(), json!(x.ncols()));
    for (name, mini_batch) in [("full", None), ("minibatch", Some(DEFAULT_BATCH))] {
        let opts = KMeansOptions {
            seed: 0,
            mini_batch,
            ..KMeansOptions::default()
        };
        let t = Instant::now();
        let c = kmeans::fit(x.view(), k, &opts).expect("k-means");
        out.insert(
            format!("kmeans_{name}_k{k}_s"),
            json!(t.elapsed().as_secs_f64()),
        );
        out.insert(format!("kmeans_{name}_k{k}_inertia"), json!(c.inertia));
        out.insert(
            format!("kmeans_{name}_k{k}_nmi"),
            json!(metrics::nmi(&c.labels, &y)),
        );
        let t = Instant::now();
        let sel = select::search(x.view(), &ks, &opts, &|_| {}).expect("k range");
        out.insert(
            format!("kmeans_{name}_range_s"),
            json!(t.elapsed().as_secs_f64()),
        );
        out.insert(format!("kmeans_{name}_range_chosen_k"), json!(sel.chosen.k));
        // One start per fit on both sides, so a single inertia depends on the
        // seed; the mean over seeds 0..S (untimed) is the fair comparison.
        if let Some(seeds) = quality_seeds() {
            let sum: f64 = (0..seeds)
                .map(|seed| {
                    let o = KMeansOptions {
                        seed,
                        ..opts.clone()
                    };
                    kmeans::fit(x.view(), k, &o).expect("k-means").inertia
                })
                .sum();
            out.insert(
                format!("kmeans_{name}_k{k}_inertia_mean{seeds}"),
                json!(sum / seeds as f64),
            );
        }
    }
    let (tr, va) = stratified(&y, classes, 0.2, 0);
    // BENCH_VAL_OUT=FILE: the validation rows, for scikit-learn to use the
    // same split (its accuracy is then comparable row for row).
    if let Ok(path) = std::env::var("BENCH_VAL_OUT") {
        let rows: String = va.iter().map(|i| format!("{i}\n")).collect();
        std::fs::write(path, rows).expect("write validation rows");
    }
    let (xt, xv) = (x.select(Axis(0), &tr), x.select(Axis(0), &va));
    let yt: Vec<u32> = tr.iter().map(|&i| y[i]).collect();
    let yv: Vec<u32> = va.iter().map(|&i| y[i]).collect();
    for method in [Method::Logistic, Method::Knn] {
        let t = Instant::now();
        let model = classifier::train(method, xt.view(), &yt, classes, &TrainOptions::default())
            .expect("train");
        out.insert(
            format!("train_{}_s", method.name()),
            json!(t.elapsed().as_secs_f64()),
        );
        let pred: Vec<u32> = model
            .predict(xv.view())
            .expect("predict")
            .into_iter()
            .map(|p| p.0)
            .collect();
        let acc = pred.iter().zip(&yv).filter(|(a, b)| a == b).count() as f64 / yv.len() as f64;
        out.insert(format!("train_{}_val_accuracy", method.name()), json!(acc));
    }
    println!("{}", serde_json::Value::Object(out));
}
