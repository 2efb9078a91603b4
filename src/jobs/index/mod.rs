//! The `index` job: walk the roots, decide per file whether it is new,
//! changed, unchanged or gone, then run a three-stage pipeline: decode and
//! analyse files in parallel (each decoded once), batch their CNN inputs
//! through ONNX Runtime on one inference thread, and write one atomic record
//! per image from a single writer, flushing at regular commit points. A
//! broken file becomes an entry in the summary's `failed` list; it never
//! stops the run.

use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

mod config;
mod inference;
mod pipeline;
mod plan;
pub(crate) mod stages;

use crate::error::Result;
use crate::features::embedding::{model_name, Embedder};
use crate::jobs::FileIssue;
use crate::search::ann::HnswParams;
use crate::search::{saved, whiten};
use crate::store::record::fingerprint_code;
use crate::store::{EmbeddingRecord, ImageId, ImageRecord, Store};
use crate::walk::{self, Candidate};
pub use config::IndexConfig;
use pipeline::run_pipeline;
use plan::{load_existing, plan, remove_gone};

/// What an `index` run did.
#[derive(Debug, Default, Serialize)]
pub struct IndexSummary {
    pub indexed: usize,
    pub unchanged: usize,
    pub removed: usize,
    pub skipped: usize,
    pub failed: Vec<FileIssue>,
    /// Files left out on purpose (vector formats, FIFOs, symlink loops).
    pub skipped_files: Vec<FileIssue>,
    /// Files indexed but decoded only in part (a truncated JPEG or PNG).
    pub warnings: Vec<FileWarning>,
    /// Corrupt records found and dropped (their files are re-indexed).
    pub repaired: usize,
    /// Failed files whose previous record was kept, marked stale.
    pub kept_stale: usize,
    /// Images that got a new CNN embedding in this run.
    pub embedded: usize,
    /// The store's embeddings came from another model (or other settings)
    /// than this run's: every image is embedded again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedding_changed: Option<EmbeddingChange>,
    /// Nearest-neighbour index now serving embedding queries ("exact" or "hnsw").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ann: Option<&'static str>,
    pub timings: Timings,
    /// Existing images whose embedding was recomputed (the ANN re-inserts them).
    #[serde(skip)]
    pub reembedded: Vec<ImageId>,
}

/// Images this run embeds again because their embedding came from
/// another model or other settings.
#[derive(Debug, Clone, Serialize)]
pub struct EmbeddingChange {
    /// The store's embedding fingerprint before the run, when it differs
    /// from this run's (after an earlier run that switched part of the
    /// store, the old one is no longer known).
    pub from: Option<String>,
    pub to: String,
    pub images: usize,
}

/// A file indexed with a problem worth listing.
#[derive(Debug, Clone, Serialize)]
pub struct FileWarning {
    pub path: String,
    pub warning: String,
}

/// Where the time went (CPU seconds summed over worker threads, except wall).
#[derive(Debug, Default, Serialize, Clone, Copy)]
pub struct Timings {
    pub wall_s: f64,
    /// Reading, decoding and resizing to the working image.
    pub decode_s: f64,
    /// Hashes, histogram and CNN preprocessing.
    pub features_s: f64,
    /// ONNX Runtime inference (wall time of the inference threads, summed
    /// over sessions).
    pub inference_s: f64,
}

/// Fingerprint codes the current config writes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Codes {
    pub hash: u32,
    pub histogram: u32,
    pub embedding: Option<u32>,
}

/// One file to (re)analyse.
pub(crate) struct Work {
    candidate: Candidate,
    old: Option<(ImageId, ImageRecord)>,
    old_embedding_current: bool,
    /// The old record has a current copy signature.
    old_signed: bool,
}

impl Work {
    /// A file with no record yet.
    pub(crate) fn new_file(candidate: Candidate) -> Work {
        Work {
            candidate,
            old: None,
            old_embedding_current: false,
            old_signed: false,
        }
    }
}

/// What the analysis stages made of one file.
pub(crate) enum Outcome {
    /// Content unchanged, only the stat data moved: refresh the record.
    Touched(ImageId, ImageRecord),
    Analysed(Box<Analysed>),
    /// The file (raw path), its old record if any, why, and what happens
    /// to the old record.
    Failed(Option<ImageId>, PathBuf, FileIssue, OldRecord),
}

/// What a failed analysis does to the file's existing record. A record is
/// dropped only when its file is gone or is no longer an image; when only
/// the computation failed (a panic, the model, an unchanged file that no
/// longer decodes under today's settings) it is kept, marked stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OldRecord {
    Keep,
    Drop,
}

/// One file analysed (and, after the inference stage, embedded).
pub(crate) struct Analysed {
    id: Option<ImageId>,
    pub record: ImageRecord,
    pub signature: crate::store::signatures::SignatureRecord,
    /// Why the file decoded only in part, if it did.
    pub warning: Option<&'static str>,
    /// Preprocessed CNN input, until the inference stage replaces it.
    tensor: Option<Vec<f32>>,
    pub embedding: Option<EmbeddingRecord>,
    decode_s: f64,
    features_s: f64,
}

/// Index `cfg.roots` into `store`.
pub fn run(store: &Store, cfg: &IndexConfig) -> Result<IndexSummary> {
    let start = Instant::now();
    cfg.validate()?;
    let mut embedders = cfg
        .embed
        .as_ref()
        .map(Embedder::load_sessions)
        .transpose()?
        .unwrap_or_default();
    // A model that cannot embed at all must stop the run before any write.
    if let Some(e) = embedders.first_mut() {
        e.self_test()?;
    }
    let codes = Codes {
        hash: fingerprint_code(&cfg.features.hash_fingerprint()),
        histogram: fingerprint_code(&cfg.features.histogram_fingerprint()),
        embedding: embedders.first().map(|e| fingerprint_code(e.fingerprint())),
    };
    let mut summary = IndexSummary::default();
    let exclude = store_dir_variants(store.dir());
    let walked = walk::walk(&cfg.roots, &exclude);
    note_walk(&walked, &mut summary);

    store.add_roots(&walked.roots)?;
    let (mut existing, derived) = load_existing(store, &mut summary)?;
    saved::mark_dirty(store)?;
    let (work, unchanged) = plan(walked.candidates, &mut existing, &derived, codes);
    let fingerprint = embedders.first().map(|e| e.fingerprint().to_string());
    if let Some(fp) = &fingerprint {
        let again = embedded_elsewise(&work, &derived, codes);
        summary.embedding_changed = embedding_change(store, fp, again)?;
    }
    summary.unchanged = unchanged;
    summary.removed = remove_gone(store, &walked.roots, &existing, &walked.aliases)?;

    let progress = progress_bar(work.len() as u64, cfg);
    run_pipeline(
        store,
        cfg,
        codes,
        work,
        &mut embedders,
        &progress,
        &mut summary,
    )?;
    progress.finish_and_clear();

    store.set_fingerprint("hash", &cfg.features.hash_fingerprint())?;
    store.set_fingerprint("histogram", &cfg.features.histogram_fingerprint())?;
    if let Some(fp) = fingerprint {
        summary.ann = Some(finish_embeddings(store, &fp, &mut summary)?);
    }
    store.flush()?;
    summary.timings.wall_s = start.elapsed().as_secs_f64();
    Ok(summary)
}

/// How many of the files to analyse have an embedding from another model
/// or other settings (not merely none).
fn embedded_elsewise(work: &[Work], derived: &plan::Derived, codes: Codes) -> usize {
    let Some(code) = codes.embedding else {
        return 0;
    };
    let elsewise = |w: &&Work| {
        w.old
            .as_ref()
            .and_then(|(id, _)| derived.embeddings.get(id))
            .is_some_and(|c| *c != code)
    };
    work.iter().filter(elsewise).count()
}

/// The change of model when `images` files to analyse hold embeddings of
/// another one, announced at once: on a big store the run then takes as
/// long as the first index.
fn embedding_change(store: &Store, to: &str, images: usize) -> Result<Option<EmbeddingChange>> {
    if images == 0 {
        return Ok(None);
    }
    let from = store.fingerprint("embedding")?.filter(|f| f != to);
    let new = model_name(to);
    let change = match from.as_deref().map(model_name) {
        Some(old) if old != new => {
            format!("the store's embeddings are from {old} and this run embeds with {new}")
        }
        _ => format!("embeddings from another model file or other settings than {new}'s"),
    };
    log::warn!("{change}: {} embedded again", plural(images, "image"));
    Ok(Some(EmbeddingChange {
        from,
        to: to.to_string(),
        images,
    }))
}

/// "1 image", "2 images".
pub fn plural(n: usize, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        _ => format!("{n} {noun}s"),
    }
}

/// The files the walk could not use (failed) or left out (skipped).
fn note_walk(walked: &walk::WalkOutput, summary: &mut IndexSummary) {
    let issue = |n: &walk::Notice| FileIssue::new(&n.path, &n.reason);
    summary.failed.extend(walked.failed.iter().map(issue));
    summary
        .skipped_files
        .extend(walked.skipped.iter().map(issue));
    summary.skipped = summary.skipped_files.len();
}

/// Record the model, refit the search space if the embeddings drifted
/// (a refit changes the graph's fingerprint, so `refresh` then rebuilds
/// the graph and its re-rank file in the new space), refresh the graph.
fn finish_embeddings(store: &Store, fp: &str, summary: &mut IndexSummary) -> Result<&'static str> {
    store.set_fingerprint("embedding", fp)?;
    store.flush()?;
    let changed = std::mem::take(&mut summary.reembedded);
    whiten::update(store, fp, changed.len() + summary.removed)?;
    saved::refresh(store, fp, HnswParams::default(), &changed)
}

/// The store directory as given and canonicalised, so the walk skips it.
fn store_dir_variants(dir: &Path) -> Vec<PathBuf> {
    let mut v = vec![dir.to_path_buf()];
    if let Ok(c) = std::fs::canonicalize(dir) {
        v.push(c);
    }
    v
}

/// The caller's bar (`progress_to`), else one drawn on stderr if asked for.
fn progress_bar(len: u64, cfg: &IndexConfig) -> ProgressBar {
    if let Some(bar) = &cfg.progress_to {
        bar.set_length(len);
        return bar.clone();
    }
    if !cfg.progress {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    pb.set_style(
        ProgressStyle::with_template(
            "{spinner} indexing {pos}/{len} [{elapsed_precise}] {wide_bar} {per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb
}
