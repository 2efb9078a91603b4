//! The `classify` jobs. `train` labels the stored images (by folder name or
//! from a CSV), splits them into stratified train and validation sets (or
//! takes a given split), trains a multinomial logistic regression and/or a
//! k-NN vote on the frozen CNN embeddings, keeps the method that validates
//! better, refits it on every labelled image and saves it in the store.
//! `predict` labels image files, using the stored embedding of an indexed,
//! unchanged file and running the CNN on any other.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::Instant;

use ndarray::{Array2, Axis};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::jobs::progress::progress_bar;
use crate::learn::classifier::{self, Method, Model, TrainOptions};
use crate::learn::dataset::{self, FeatureKind};
use crate::learn::labels::{self, LabelSource};
use crate::learn::metrics::{self, ClassReport, Evaluation};
use crate::learn::results::{now_unix, ClassifierResult};
use crate::learn::rng;
use crate::store::Store;

mod predict;

pub use predict::{predict, PredictConfig, PredictReport, Prediction, EMBED_UNINDEXED};

/// Which classifier(s) to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodChoice {
    /// Train both, keep the one with the better validation accuracy.
    Auto,
    Only(Method),
}

/// How labelled images are split into training and validation sets.
#[derive(Debug, Clone, PartialEq)]
pub enum SplitSource {
    /// Stratified random split: this fraction of each class (at least one
    /// image of every class with two or more) goes to validation.
    Random { val_fraction: f64 },
    /// A CSV with `path,split` columns (`train`, or `val`/`validation`/`test`).
    File(PathBuf),
}

#[derive(Debug, Clone)]
pub struct TrainConfig {
    pub labels: LabelSource,
    pub split: SplitSource,
    pub method: MethodChoice,
    pub options: TrainOptions,
    pub progress: bool,
}

impl TrainConfig {
    pub fn validate(&self) -> Result<()> {
        if let SplitSource::Random { val_fraction } = self.split {
            if !(val_fraction > 0.0 && val_fraction < 1.0) {
                return Err(Error::InvalidSetting {
                    setting: "val_fraction",
                    reason: format!("must be between 0 and 1 (exclusive), got {val_fraction}"),
                });
            }
        }
        if !(self.options.alpha >= 0.0 && self.options.alpha.is_finite()) {
            return Err(Error::InvalidSetting {
                setting: "alpha",
                reason: format!("must be a finite number >= 0, got {}", self.options.alpha),
            });
        }
        Ok(())
    }
}

/// Validation scores of one method.
#[derive(Debug, Clone, Serialize)]
pub struct MethodScore {
    pub method: Method,
    pub accuracy: f64,
    pub macro_f1: f64,
    /// Neighbours voting (k-NN only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub k: Option<usize>,
    pub train_seconds: f64,
}

#[derive(Debug, Serialize)]
pub struct TrainReport {
    /// Validation accuracy of the kept method.
    pub accuracy: f64,
    pub macro_f1: f64,
    pub classes: usize,
    pub train: usize,
    pub val: usize,
    pub method: Method,
    pub methods: Vec<MethodScore>,
    /// Stored images with embeddings but no label (not used).
    pub unlabelled: usize,
    pub split: String,
    /// Per validation class: support, recall, precision, F1 and what it was mistaken for.
    pub per_class: Vec<ClassReport>,
    /// Images the saved model was refitted on (train + val).
    pub refit_on: usize,
    pub saved: bool,
    pub seconds: f64,
}

/// Labelled embedding rows.
struct Labelled {
    x: Array2<f32>,
    y: Vec<u32>,
    paths: Vec<Vec<u8>>,
    classes: Vec<String>,
    unlabelled: usize,
    fingerprint: String,
}

pub fn train(store: &Store, cfg: &TrainConfig) -> Result<TrainReport> {
    let start = Instant::now();
    cfg.validate()?;
    let data = labelled(store, &cfg.labels)?;
    let (tr, va, split) = split(&data, &cfg.split, cfg.options.seed)?;
    let methods = match cfg.method {
        MethodChoice::Auto => vec![Method::Logistic, Method::Knn],
        MethodChoice::Only(m) => vec![m],
    };
    let pb = progress_bar(
        Some(methods.len() as u64 + 1),
        cfg.progress,
        "training classifiers".into(),
    );
    let (xt, xv) = (data.x.select(Axis(0), &tr), data.x.select(Axis(0), &va));
    let yt: Vec<u32> = tr.iter().map(|&i| data.y[i]).collect();
    let yv: Vec<u32> = va.iter().map(|&i| data.y[i]).collect();
    let scored = score_methods(&methods, &data, (&xt, &yt), (&xv, &yv), cfg, &pb)?;
    let best = best_method(&scored);
    let (chosen, eval) = scored[best].clone();
    let final_model = classifier::train(
        chosen.method,
        data.x.view(),
        &data.y,
        data.classes.len(),
        &cfg.options,
    )?;
    pb.finish_and_clear();
    store.put_classifier(&ClassifierResult {
        classes: data.classes.clone(),
        embedding_fingerprint: data.fingerprint.clone(),
        model: final_model,
        val_accuracy: eval.accuracy,
        val_macro_f1: eval.macro_f1,
        trained_on: data.y.len() as u64,
        created_unix: now_unix(),
    })?;
    Ok(TrainReport {
        accuracy: eval.accuracy,
        macro_f1: eval.macro_f1,
        classes: data.classes.len(),
        train: tr.len(),
        val: va.len(),
        method: chosen.method,
        methods: scored.into_iter().map(|s| s.0).collect(),
        unlabelled: data.unlabelled,
        split,
        per_class: eval.per_class,
        refit_on: data.y.len(),
        saved: true,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Train each method on the training rows and score it on the validation rows.
fn score_methods(
    methods: &[Method],
    data: &Labelled,
    (xt, yt): (&Array2<f32>, &[u32]),
    (xv, yv): (&Array2<f32>, &[u32]),
    cfg: &TrainConfig,
    pb: &indicatif::ProgressBar,
) -> Result<Vec<(MethodScore, Evaluation)>> {
    let mut scored = Vec::new();
    for &m in methods {
        let t0 = Instant::now();
        let model = classifier::train(m, xt.view(), yt, data.classes.len(), &cfg.options)?;
        let secs = t0.elapsed().as_secs_f64();
        let pred: Vec<u32> = model.predict(xv.view())?.into_iter().map(|p| p.0).collect();
        let eval = metrics::evaluate(yv, &pred, &data.classes);
        let k = match &model {
            Model::Knn(k) => Some(k.k),
            Model::Logistic(_) => None,
        };
        scored.push((
            MethodScore {
                method: m,
                accuracy: eval.accuracy,
                macro_f1: eval.macro_f1,
                k,
                train_seconds: secs,
            },
            eval,
        ));
        pb.inc(1);
    }
    Ok(scored)
}

/// The best-validating method: accuracy, then macro-F1, then the first.
fn best_method(scored: &[(MethodScore, Evaluation)]) -> usize {
    (0..scored.len())
        .max_by(|&a, &b| {
            let (sa, sb) = (&scored[a].0, &scored[b].0);
            sa.accuracy
                .total_cmp(&sb.accuracy)
                .then(sa.macro_f1.total_cmp(&sb.macro_f1))
                .then(b.cmp(&a))
        })
        .expect("at least one method")
}

/// The stored embeddings that have a label, with class indices.
fn labelled(store: &Store, source: &LabelSource) -> Result<Labelled> {
    let set = dataset::load(store, FeatureKind::Embedding)?;
    let by_path = labels::assign(source, &set.paths)?;
    let rows: Vec<usize> = (0..set.len())
        .filter(|&i| by_path.contains_key(&set.paths[i]))
        .collect();
    let names: BTreeSet<&str> = rows
        .iter()
        .map(|&i| by_path[&set.paths[i]].as_str())
        .collect();
    match names.len() {
        0 => {
            return Err(Error::InvalidArgument(format!(
                "none of the {} images with embeddings has a label from {}",
                set.len(),
                describe(source)
            )))
        }
        1 => {
            return Err(Error::SingleLabel {
                label: names.iter().next().unwrap_or(&"").to_string(),
                n: rows.len(),
            });
        }
        _ => {}
    }
    let classes: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let index: HashMap<&str, u32> = classes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i as u32))
        .collect();
    Ok(Labelled {
        x: set.x.select(Axis(0), &rows),
        y: rows
            .iter()
            .map(|&i| index[by_path[&set.paths[i]].as_str()])
            .collect(),
        paths: rows.iter().map(|&i| set.paths[i].clone()).collect(),
        unlabelled: set.len() - rows.len(),
        classes,
        fingerprint: set.fingerprint,
    })
}

fn describe(source: &LabelSource) -> String {
    match source {
        LabelSource::Folder => "folder names".into(),
        LabelSource::Csv(p) => p.display().to_string(),
    }
}

/// Row indices of the training and validation sets, and how they were made.
fn split(
    data: &Labelled,
    source: &SplitSource,
    seed: u64,
) -> Result<(Vec<usize>, Vec<usize>, String)> {
    let (tr, va, how) = match source {
        SplitSource::Random { val_fraction } => {
            let (tr, va) = stratified(&data.y, data.classes.len(), *val_fraction, seed);
            (
                tr,
                va,
                format!("stratified random, val fraction {val_fraction}, seed {seed}"),
            )
        }
        SplitSource::File(file) => {
            let given = labels::read_path_csv(file, "split")?;
            let (mut tr, mut va) = (Vec::new(), Vec::new());
            for (i, p) in data.paths.iter().enumerate() {
                match given.get(p).map(|s| s.to_ascii_lowercase()).as_deref() {
                    Some("train") => tr.push(i),
                    Some("val" | "valid" | "validation" | "test") => va.push(i),
                    _ => {}
                }
            }
            (tr, va, format!("from {}", file.display()))
        }
    };
    if tr.is_empty() || va.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "the split ({how}) leaves {} training and {} validation images; both must be non-empty",
            tr.len(),
            va.len()
        )));
    }
    Ok((tr, va, how))
}

/// Per class: shuffle, then `round(n × fraction)` rows (at least one, and
/// never all) to validation; a class with a single image stays in training.
pub fn stratified(y: &[u32], classes: usize, fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut r = rng::seeded(seed);
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for (i, &c) in y.iter().enumerate() {
        by_class[c as usize].push(i);
    }
    let (mut tr, mut va) = (Vec::new(), Vec::new());
    for mut rows in by_class {
        rng::shuffle(&mut r, &mut rows);
        let n = rows.len();
        let nv = if n < 2 {
            0
        } else {
            ((n as f64 * fraction).round() as usize).clamp(1, n - 1)
        };
        va.extend_from_slice(&rows[..nv]);
        tr.extend_from_slice(&rows[nv..]);
    }
    tr.sort_unstable();
    va.sort_unstable();
    (tr, va)
}
