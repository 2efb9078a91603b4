//! `classify predict`: label image files with the saved classifier, using
//! the stored embedding of an indexed, unchanged file and running the CNN
//! (through the one analysis path, with its panic guard) on any other.

use std::collections::HashMap;
use std::path::PathBuf;

use ndarray::Array2;
use rayon::prelude::*;
use serde::Serialize;

use crate::decode::DecodeConfig;
use crate::error::{Error, Result};
use crate::features;
use crate::features::embedding::{EmbedConfig, Embedder};
use crate::features::FeatureConfig;
use crate::jobs::progress::progress_bar;
use crate::jobs::FileIssue;
use crate::learn::results::ClassifierResult;
use crate::paths;
use crate::store::Store;
use crate::walk;

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
    embed_missing(cfg, &saved, &files, &mut vectors, &mut failed)?;
    let predictions = label(&saved, &files, &vectors)?;
    Ok(PredictReport {
        predictions,
        failed,
        from_store,
    })
}

/// Run the CNN on every file without a usable stored embedding.
fn embed_missing(
    cfg: &PredictConfig,
    saved: &ClassifierResult,
    files: &[walk::Candidate],
    vectors: &mut [Option<Vec<f32>>],
    failed: &mut Vec<FileIssue>,
) -> Result<()> {
    let todo: Vec<usize> = (0..files.len()).filter(|&i| vectors[i].is_none()).collect();
    if todo.is_empty() {
        return Ok(());
    }
    let pb = progress_bar(
        Some(todo.len() as u64),
        cfg.progress,
        "embedding images".into(),
    );
    let mut embedder = load_embedder(cfg, &saved.embedding_fingerprint)?;
    for chunk in todo.chunks(embedder.batch_size()) {
        embed_chunk(&mut embedder, cfg, files, chunk, vectors, failed)?;
        pb.inc(chunk.len() as u64);
    }
    pb.finish_and_clear();
    Ok(())
}

/// The saved model's label for every file that has a vector.
fn label(
    saved: &ClassifierResult,
    files: &[walk::Candidate],
    vectors: &[Option<Vec<f32>>],
) -> Result<Vec<Prediction>> {
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
    Ok(ready
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
        .collect())
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

/// The task [`Error::NoModel`] names when images to predict are not
/// indexed and no model was given.
pub const EMBED_UNINDEXED: &str = "embedding the images that are not indexed";

fn load_embedder(cfg: &PredictConfig, fingerprint: &str) -> Result<Embedder> {
    let ecfg = cfg.embed.as_ref().ok_or(Error::NoModel {
        task: EMBED_UNINDEXED,
    })?;
    // The classifier's model, when it lies beside a default one.
    let ecfg = &ecfg.for_store(Some(fingerprint));
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
                .map(|a| features::embedding::preprocess_decoded(&a.decoded, &spec));
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
