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
use rayon::prelude::*;
use serde::Serialize;

use crate::decode::DecodeConfig;
use crate::error::{Error, Result};
use crate::features;
use crate::features::embedding::{EmbedConfig, Embedder};
use crate::features::FeatureConfig;
use crate::jobs::progress::progress_bar;
use crate::jobs::FileIssue;
use crate::learn::classifier::{self, Method, Model, TrainOptions};
use crate::learn::dataset::{self, FeatureKind};
use crate::learn::labels::{self, LabelSource};
use crate::learn::metrics::{self, ClassReport};
use crate::learn::results::{now_unix, ClassifierResult};
use crate::learn::rng;
use crate::paths;
use crate::store::Store;
use crate::walk;

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
                return Err(Error::InvalidArgument(format!(
                    "--val-fraction must be between 0 and 1 (exclusive), got {val_fraction}"
                )));
            }
        }
        if !(self.options.alpha >= 0.0 && self.options.alpha.is_finite()) {
            return Err(Error::InvalidArgument(format!(
                "--alpha must be a finite number >= 0, got {}",
                self.options.alpha
            )));
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
    let mut scored = Vec::new();
    for &m in &methods {
        let t0 = Instant::now();
        let model = classifier::train(m, xt.view(), &yt, data.classes.len(), &cfg.options)?;
        let secs = t0.elapsed().as_secs_f64();
        let pred: Vec<u32> = model.predict(xv.view())?.into_iter().map(|p| p.0).collect();
        let eval = metrics::evaluate(&yv, &pred, &data.classes);
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
    let best = (0..scored.len())
        .max_by(|&a, &b| {
            let (sa, sb) = (&scored[a].0, &scored[b].0);
            sa.accuracy
                .total_cmp(&sb.accuracy)
                .then(sa.macro_f1.total_cmp(&sb.macro_f1))
                .then(b.cmp(&a))
        })
        .expect("at least one method");
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

#[derive(Debug, Clone)]
pub struct PredictConfig {
    /// Image files and folders.
    pub inputs: Vec<PathBuf>,
    pub decode: DecodeConfig,
    /// Model for images without a stored embedding.
    pub embed: Option<EmbedConfig>,
    pub progress: bool,
}

/// One image's predicted label.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Prediction {
    pub path: String,
    pub label: String,
    /// Probability of the label (logistic) or share of neighbours voting for it (k-NN).
    pub score: f32,
}

#[derive(Debug, Serialize)]
pub struct PredictReport {
    pub predictions: Vec<Prediction>,
    pub failed: Vec<FileIssue>,
    /// Images whose stored embedding was used (the rest went through the CNN).
    pub from_store: usize,
}

pub fn predict(store: &Store, cfg: &PredictConfig) -> Result<PredictReport> {
    let saved = store.classifier()?.ok_or_else(|| Error::NoResult {
        path: store.dir().to_path_buf(),
        what: "classifier",
        command: "classify train",
    })?;
    let walked = walk::walk(&cfg.inputs, &[store.dir().to_path_buf()]);
    let mut failed: Vec<FileIssue> = walked
        .failed
        .iter()
        .map(|n| FileIssue::new(&n.path, &n.reason))
        .collect();
    let files = walked.candidates;
    let mut vectors: Vec<Option<Vec<f32>>> =
        stored_vectors(store, &files, &saved.embedding_fingerprint)?;
    let from_store = vectors.iter().filter(|v| v.is_some()).count();
    let todo: Vec<usize> = (0..files.len()).filter(|&i| vectors[i].is_none()).collect();
    if !todo.is_empty() {
        let pb = progress_bar(
            Some(todo.len() as u64),
            cfg.progress,
            "embedding images".into(),
        );
        let mut embedder = load_embedder(cfg, &saved.embedding_fingerprint)?;
        for chunk in todo.chunks(embedder.batch_size()) {
            embed_chunk(&mut embedder, cfg, &files, chunk, &mut vectors, &mut failed)?;
            pb.inc(chunk.len() as u64);
        }
        pb.finish_and_clear();
    }
    let ready: Vec<usize> = (0..files.len()).filter(|&i| vectors[i].is_some()).collect();
    let dim = saved.model.dim();
    let mut x = Array2::<f32>::zeros((ready.len(), dim));
    for (row, &i) in ready.iter().enumerate() {
        let v = vectors[i].as_ref().expect("ready rows have vectors");
        if v.len() != dim {
            return Err(Error::Dimension {
                what: format!("embedding of {}", files[i].path.display()),
                expected: dim,
                got: v.len(),
            });
        }
        x.row_mut(row)
            .assign(&ndarray::ArrayView1::from(v.as_slice()));
    }
    let predicted = saved.model.predict(x.view())?;
    let predictions = ready
        .iter()
        .zip(predicted)
        .map(|(&i, (class, score))| Prediction {
            path: files[i].path.to_string_lossy().into_owned(),
            label: saved
                .classes
                .get(class as usize)
                .cloned()
                .unwrap_or_default(),
            score,
        })
        .collect();
    Ok(PredictReport {
        predictions,
        failed,
        from_store,
    })
}

/// Stored embeddings (made by the classifier's model) of files that are
/// indexed and unchanged since.
fn stored_vectors(
    store: &Store,
    files: &[walk::Candidate],
    fingerprint: &str,
) -> Result<Vec<Option<Vec<f32>>>> {
    let by_path: HashMap<Vec<u8>, (u64, u64, i64)> = store
        .scan_images()?
        .records
        .into_iter()
        .map(|(id, r)| (r.path, (id, r.size, r.mtime_ns)))
        .collect();
    files
        .iter()
        .map(|f| {
            let Some(&(id, size, mtime)) = by_path.get(&paths::to_bytes(&f.path)) else {
                return Ok(None);
            };
            if size != f.size || mtime != f.mtime_ns {
                return Ok(None);
            }
            store.current_embedding(id, fingerprint)
        })
        .collect()
}

fn load_embedder(cfg: &PredictConfig, fingerprint: &str) -> Result<Embedder> {
    let ecfg = cfg.embed.as_ref().ok_or_else(|| {
        Error::InvalidArgument("some images are not indexed and --no-embed was given; their embeddings need the CNN model".into())
    })?;
    let embedder = Embedder::load(ecfg)?;
    if embedder.fingerprint() != fingerprint {
        return Err(Error::Model {
            path: ecfg.model.clone(),
            reason: format!(
                "the classifier was trained on embeddings from `{fingerprint}`, but this model makes `{}`; retrain with `imgdex classify train`",
                embedder.fingerprint()
            ),
        });
    }
    Ok(embedder)
}

/// Decode a chunk of files in parallel and embed them in one batch.
fn embed_chunk(
    embedder: &mut Embedder,
    cfg: &PredictConfig,
    files: &[walk::Candidate],
    chunk: &[usize],
    vectors: &mut [Option<Vec<f32>>],
    failed: &mut Vec<FileIssue>,
) -> Result<()> {
    let spec = embedder.spec().clone();
    let inputs: Vec<(usize, Result<Vec<f32>>)> = chunk
        .par_iter()
        .map(|&i| {
            let path = &files[i].path;
            let r = features::analyse(path, &cfg.decode, &FeatureConfig::default())
                .map(|a| features::embedding::preprocess(a.decoded.content(), &spec));
            (i, r)
        })
        .collect();
    let mut batch = Vec::new();
    let mut rows = Vec::new();
    for (i, r) in inputs {
        match r {
            Ok(t) => {
                batch.extend(t);
                rows.push(i);
            }
            Err(e) => failed.push(FileIssue::from_error(&files[i].path, &e)),
        }
    }
    if rows.is_empty() {
        return Ok(());
    }
    for (i, e) in rows.iter().zip(embedder.embed(batch, rows.len())?) {
        vectors[*i] = Some(e.vector);
    }
    Ok(())
}
