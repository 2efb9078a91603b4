//! Classification: the library's logistic regression and k-NN learn a
//! generated separable problem; the stratified split keeps every class on
//! both sides; and end to end, `classify train` learns folder-labelled
//! synthetic images from their CNN embeddings (needs the model installed by
//! `scripts/setup`), saves the model, and `classify predict` labels images
//! that were never indexed. Single-label and bad-argument cases fail with
//! exit code 2 and a clear message.

use std::path::Path;

use imgdex::jobs::classify::stratified;
use imgdex::learn::classifier::{self, Method, TrainOptions};
use imgdex::learn::metrics;
use ndarray::Axis;
use serde::Deserialize;

use crate::cluster::blobs;
use crate::util::{self, Lcg, Sandbox};

#[test]
fn logistic_and_knn_learn_a_separable_problem() {
    let (x, y) = blobs(5, 40, 64, 1.0, 17);
    let (tr, va) = stratified(&y, 5, 0.25, 3);
    assert_eq!((tr.len(), va.len()), (150, 50));
    let names: Vec<String> = (0..5).map(|c| format!("class{c}")).collect();
    let xt = x.select(Axis(0), &tr);
    let xv = x.select(Axis(0), &va);
    let yt: Vec<u32> = tr.iter().map(|&i| y[i]).collect();
    let yv: Vec<u32> = va.iter().map(|&i| y[i]).collect();
    for method in [Method::Logistic, Method::Knn] {
        let model = classifier::train(method, xt.view(), &yt, 5, &TrainOptions::default()).unwrap();
        let pred = model.predict(xv.view()).unwrap();
        assert!(
            pred.iter().all(|p| (0.0..=1.0).contains(&p.1)),
            "scores are probabilities or vote shares"
        );
        let labels: Vec<u32> = pred.iter().map(|p| p.0).collect();
        let eval = metrics::evaluate(&yv, &labels, &names);
        assert!(
            eval.accuracy >= 0.95 && eval.macro_f1 >= 0.95,
            "{method:?}: {eval:?}"
        );
        assert_eq!(eval.per_class.len(), 5);
        // Training twice gives the same model.
        let again = classifier::train(method, xt.view(), &yt, 5, &TrainOptions::default()).unwrap();
        assert_eq!(model, again);
    }
}

#[test]
fn stratified_split_keeps_every_class_on_both_sides() {
    let y: Vec<u32> = (0..70).map(|i| (i % 10) as u32).chain([10]).collect();
    let (tr, va) = stratified(&y, 11, 0.2, 9);
    assert_eq!(tr.len() + va.len(), 71);
    for c in 0..10u32 {
        assert_eq!(va.iter().filter(|&&i| y[i] == c).count(), 1, "class {c}");
    }
    assert!(tr.contains(&70), "a class with one image stays in training");
    assert_eq!(
        stratified(&y, 11, 0.2, 9),
        (tr, va),
        "same seed, same split"
    );
}

#[test]
fn metrics_match_hand_computed_values() {
    let names: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
    let e = metrics::evaluate(&[0, 0, 1, 1, 2, 2], &[0, 1, 1, 1, 2, 0], &names);
    assert!((e.accuracy - 4.0 / 6.0).abs() < 1e-12);
    // F1: a = 0.5, b = 0.8, c = 2/3.
    assert!((e.macro_f1 - (0.5 + 0.8 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
    assert_eq!(e.per_class[0].confused_with[0].label, "b");
    assert!((metrics::nmi(&[0, 0, 1, 1], &[1, 1, 0, 0]) - 1.0).abs() < 1e-12);
    assert!(metrics::nmi(&[0, 1, 0, 1], &[0, 0, 1, 1]) < 1e-12);
}

// ---------------------------------------------------------------------------
// End to end with the CNN
// ---------------------------------------------------------------------------

/// One synthetic image of `class` (stripes, disc or checkerboard), varied by seed.
fn pattern(class: &str, seed: u64) -> image::RgbImage {
    let mut rng = Lcg::new(seed);
    let mut col = || {
        image::Rgb([
            rng.range(0, 256) as u8,
            rng.range(0, 256) as u8,
            rng.range(0, 256) as u8,
        ])
    };
    let (a, b) = (col(), col());
    let mut rng = Lcg::new(seed ^ 0xABCD);
    let (w, h) = (160 + rng.range(0, 64), 160 + rng.range(0, 64));
    let period = 10 + rng.range(0, 14);
    let (cx, cy, r) = (
        w / 2 + rng.range(0, 20),
        h / 2 - rng.range(0, 20),
        40 + rng.range(0, 30),
    );
    image::RgbImage::from_fn(w, h, |x, y| match class {
        "stripes" => {
            if (y / period).is_multiple_of(2) {
                a
            } else {
                b
            }
        }
        "checker" => {
            if ((x / period) + (y / period)).is_multiple_of(2) {
                a
            } else {
                b
            }
        }
        _ => {
            let (dx, dy) = (x as i64 - cx as i64, y as i64 - cy as i64);
            if dx * dx + dy * dy < (r * r) as i64 {
                a
            } else {
                b
            }
        }
    })
}

const CLASSES: [&str; 3] = ["checker", "disc", "stripes"];

#[derive(Debug, Deserialize)]
struct TrainReport {
    accuracy: f64,
    macro_f1: f64,
    classes: usize,
    train: usize,
    val: usize,
    method: String,
    methods: Vec<serde_json::Value>,
    per_class: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Prediction {
    path: String,
    label: String,
    score: f32,
}

#[test]
fn cli_trains_on_folder_labels_and_predicts_unindexed_images() {
    if util::no_model() {
        return;
    }
    let sb = Sandbox::new();
    let root = sb.dir("photos");
    for (c, class) in CLASSES.iter().enumerate() {
        let dir = sb.dir(&format!("photos/{class}"));
        for i in 0..10 {
            util::write_png(
                &dir.join(format!("{i}.png")),
                &pattern(class, (c * 1000 + i) as u64),
            );
        }
    }
    let (out, summary) = sb.index([&root]);
    out.assert_code(0);
    assert_eq!(summary.indexed, 30);

    let out = sb.imgdex([
        "classify",
        "train",
        "--json",
        "--val-fraction",
        "0.3",
        "--seed",
        "2",
    ]);
    out.assert_code(0);
    let r: TrainReport = out.parse();
    assert_eq!((r.classes, r.train, r.val), (3, 21, 9), "{}", out.stdout);
    assert!(r.accuracy >= 0.85 && r.macro_f1 >= 0.8, "{}", out.stdout);
    assert_eq!(
        r.methods.len(),
        2,
        "both classifiers are compared by default"
    );
    assert!(["logistic", "knn"].contains(&r.method.as_str()));
    assert_eq!(r.per_class.len(), 3);
    // Same seed, same result.
    let again: TrainReport = sb
        .imgdex([
            "classify",
            "train",
            "--json",
            "--val-fraction",
            "0.3",
            "--seed",
            "2",
        ])
        .parse();
    assert_eq!(
        (again.accuracy, again.method.as_str()),
        (r.accuracy, r.method.as_str())
    );

    // New, never-indexed images of each class.
    let fresh = sb.dir("fresh");
    for (c, class) in CLASSES.iter().enumerate() {
        util::write_png(
            &fresh.join(format!("{class}.png")),
            &pattern(class, (c * 1000 + 500) as u64),
        );
    }
    let out = sb.imgdex(["classify", "predict", "--json", fresh.to_str().unwrap()]);
    out.assert_code(0);
    let preds: Vec<Prediction> = out.parse();
    assert_eq!(preds.len(), 3);
    for p in &preds {
        let want = Path::new(&p.path)
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert_eq!(p.label, want, "{preds:?}");
        assert!(p.score > 0.0 && p.score <= 1.0);
    }
    // An indexed image is labelled from its stored embedding.
    let indexed = root.join("disc/3.png");
    let preds: Vec<Prediction> = sb
        .imgdex(["classify", "predict", "--json", indexed.to_str().unwrap()])
        .parse();
    assert_eq!(preds[0].label, "disc");
}

#[test]
fn cli_classify_train_refuses_a_single_label_and_bad_arguments() {
    if util::no_model() {
        return;
    }
    let sb = Sandbox::new();
    let dir = sb.dir("only/stripes");
    for i in 0..4 {
        util::write_png(&dir.join(format!("{i}.png")), &pattern("stripes", i));
    }
    sb.index([sb.root.join("only")]).0.assert_code(0);
    let expect = |args: &[&str], needle: &str| {
        let out = sb.imgdex(args);
        out.assert_code(2);
        assert!(
            out.stderr.contains(needle),
            "{args:?}: expected `{needle}` in\n{}",
            out.stderr
        );
    };
    expect(
        &["classify", "train"],
        "at least two labels, but all 4 labelled images have the label `stripes`",
    );
    expect(
        &["classify", "train", "--val-fraction", "1.5"],
        "--val-fraction must be between 0 and 1",
    );
    let labels = sb.root.join("labels.csv");
    std::fs::write(&labels, "file,class\nx.png,a\n").unwrap();
    expect(
        &["classify", "train", "--labels", labels.to_str().unwrap()],
        "no column `path`",
    );
    expect(
        &["classify", "train", "--method", "svm"],
        "invalid value 'svm'",
    );
}
