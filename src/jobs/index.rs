//! The `index` job: walk the roots, decide per file whether it is new,
//! changed, unchanged or gone, then run a three-stage pipeline: decode and
//! analyse files in parallel (each decoded once), batch their CNN inputs
//! through ONNX Runtime on one inference thread, and write one atomic record
//! per image from a single writer, flushing at regular commit points. A
//! broken file becomes an entry in the summary's `failed` list; it never
//! stops the run.

use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use serde::Serialize;

use crate::config::IndexConfig;
use crate::decode;
use crate::error::{Error, Result};
use crate::features::{self, embedding::Embedder, embedding::ModelSpec};
use crate::index::ann::HnswParams;
use crate::index::stored;
use crate::jobs::FileIssue;
use crate::paths;
use crate::store::record::fingerprint_code;
use crate::store::{EmbeddingRecord, ImageId, ImageRecord, Store, Tagged};
use crate::walk::{self, Candidate};

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
    /// Corrupt records found and dropped (their files are re-indexed).
    pub repaired: usize,
    /// Images that got a new CNN embedding in this run.
    pub embedded: usize,
    /// Nearest-neighbour index now serving embedding queries ("exact" or "hnsw").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ann: Option<&'static str>,
    pub timings: Timings,
    /// Existing images whose embedding was recomputed (the ANN re-inserts them).
    #[serde(skip)]
    pub reembedded: Vec<ImageId>,
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
struct Codes {
    hash: u32,
    histogram: u32,
    embedding: Option<u32>,
}

/// One file to (re)analyse.
struct Work {
    candidate: Candidate,
    old: Option<(ImageId, ImageRecord)>,
    old_embedding_current: bool,
}

enum Outcome {
    /// Content unchanged, only the stat data moved: refresh the record.
    Touched(ImageId, ImageRecord),
    Analysed(Box<Analysed>),
    /// The file (raw path), its old record if any, and why.
    Failed(Option<ImageId>, PathBuf, FileIssue),
}

struct Analysed {
    id: Option<ImageId>,
    record: ImageRecord,
    /// Preprocessed CNN input, until the inference stage replaces it.
    tensor: Option<Vec<f32>>,
    embedding: Option<EmbeddingRecord>,
    decode_s: f64,
    features_s: f64,
}

/// Index `cfg.roots` into `store`.
pub fn run(store: &Store, cfg: &IndexConfig) -> Result<IndexSummary> {
    let start = Instant::now();
    cfg.validate()?;
    let embedders = cfg
        .embed
        .as_ref()
        .map(Embedder::load_sessions)
        .transpose()?
        .unwrap_or_default();
    let codes = Codes {
        hash: fingerprint_code(&cfg.features.hash_fingerprint()),
        histogram: fingerprint_code(&cfg.features.histogram_fingerprint()),
        embedding: embedders.first().map(|e| fingerprint_code(e.fingerprint())),
    };
    let mut summary = IndexSummary::default();
    let exclude = store_dir_variants(store.dir());
    let walked = walk::walk(&cfg.roots, &exclude);
    summary.failed.extend(
        walked
            .failed
            .iter()
            .map(|n| FileIssue::new(&n.path, &n.reason)),
    );
    summary.skipped_files.extend(
        walked
            .skipped
            .iter()
            .map(|n| FileIssue::new(&n.path, &n.reason)),
    );
    summary.skipped = summary.skipped_files.len();

    store.add_roots(&walked.roots)?;
    let (mut existing, embedding_codes) = load_existing(store, &mut summary)?;
    stored::mark_dirty(store)?;
    let (work, unchanged) = plan(walked.candidates, &mut existing, &embedding_codes, codes);
    summary.unchanged = unchanged;
    summary.removed = remove_gone(store, &walked.roots, &existing)?;

    let progress = progress_bar(work.len() as u64, cfg.progress);
    let fingerprint = embedders.first().map(|e| e.fingerprint().to_string());
    run_pipeline(store, cfg, codes, work, embedders, &progress, &mut summary)?;
    progress.finish_and_clear();

    store.set_fingerprint("hash", &cfg.features.hash_fingerprint())?;
    store.set_fingerprint("histogram", &cfg.features.histogram_fingerprint())?;
    if let Some(fp) = fingerprint {
        store.set_fingerprint("embedding", &fp)?;
        store.flush()?;
        let changed = std::mem::take(&mut summary.reembedded);
        summary.ann = Some(stored::refresh(
            store,
            &fp,
            HnswParams::default(),
            &changed,
        )?);
    }
    store.flush()?;
    summary.timings.wall_s = start.elapsed().as_secs_f64();
    Ok(summary)
}

type Existing = HashMap<Vec<u8>, (ImageId, ImageRecord)>;

/// Current records by path, and each image's embedding fingerprint.
/// Corrupt records are dropped here so that their files are re-indexed.
fn load_existing(
    store: &Store,
    summary: &mut IndexSummary,
) -> Result<(Existing, HashMap<ImageId, u32>)> {
    let scan = store.scan_images()?;
    for (id, _) in &scan.corrupt {
        store.remove_image(*id)?;
    }
    let (embeddings, corrupt_emb) = store.scan_embeddings()?;
    for (id, _) in &corrupt_emb {
        store.remove_embedding(*id)?;
    }
    summary.repaired = scan.corrupt.len() + corrupt_emb.len();
    let existing = scan
        .records
        .into_iter()
        .map(|(id, r)| (r.path.clone(), (id, r)))
        .collect();
    let codes = embeddings
        .into_iter()
        .map(|(id, e)| (id, e.fingerprint))
        .collect();
    Ok((existing, codes))
}

/// Split candidates into work and unchanged files. Entries matched to a
/// candidate are taken out of `existing`, leaving only records whose file
/// was not seen by this walk.
fn plan(
    candidates: Vec<Candidate>,
    existing: &mut Existing,
    embedding_codes: &HashMap<ImageId, u32>,
    codes: Codes,
) -> (Vec<Work>, usize) {
    let mut work = Vec::new();
    let mut unchanged = 0;
    for c in candidates {
        let old = existing.remove(&paths::to_bytes(&c.path));
        let old_embedding_current = match (&old, codes.embedding) {
            (_, None) => true,
            (Some((id, _)), Some(code)) => embedding_codes.get(id) == Some(&code),
            (None, Some(_)) => false,
        };
        match old {
            Some((_, ref r))
                if r.size == c.size
                    && r.mtime_ns == c.mtime_ns
                    && old_embedding_current
                    && features_current(r, codes) =>
            {
                unchanged += 1
            }
            _ => work.push(Work {
                candidate: c,
                old,
                old_embedding_current,
            }),
        }
    }
    (work, unchanged)
}

fn features_current(r: &ImageRecord, codes: Codes) -> bool {
    r.hashes.as_ref().map(|t| t.fingerprint) == Some(codes.hash)
        && r.histogram.as_ref().map(|t| t.fingerprint) == Some(codes.histogram)
}

/// Remove records under the walked roots whose file no longer exists or is
/// no longer an image candidate (e.g. replaced by text or a directory).
/// Records the walk merely could not reach (unreadable folders) are kept.
fn remove_gone(store: &Store, roots: &[PathBuf], unseen: &Existing) -> Result<usize> {
    let mut removed = 0;
    for (path_bytes, (id, _)) in unseen {
        let path = paths::from_bytes(path_bytes);
        let under_root = roots.iter().any(|r| path.starts_with(r));
        let gone = std::fs::metadata(&path).is_err() || !walk::is_candidate(&path);
        let root_given_as_file = roots.iter().any(|r| *r == path);
        if under_root && gone && !root_given_as_file {
            store.remove_image(*id)?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Analyse `work` on a worker pool, embed on one inference thread per
/// session (none without embeddings), and write each outcome on this thread
/// as it arrives.
fn run_pipeline(
    store: &Store,
    cfg: &IndexConfig,
    codes: Codes,
    work: Vec<Work>,
    embedders: Vec<Embedder>,
    progress: &ProgressBar,
    summary: &mut IndexSummary,
) -> Result<()> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cfg.jobs)
        .build()
        .map_err(|e| Error::InvalidArgument(format!("cannot start worker threads: {e}")))?;
    let spec = embedders.first().map(|e| e.spec().clone());
    let expected: Vec<(Option<ImageId>, PathBuf)> = work
        .iter()
        .map(|w| (w.old.as_ref().map(|(id, _)| *id), w.candidate.path.clone()))
        .collect();
    let (tx, rx) = bounded::<Outcome>(32);
    std::thread::scope(|s| {
        let spec = spec.as_ref();
        s.spawn(move || {
            pool.install(|| {
                work.into_par_iter().for_each_with(tx, |tx, w| {
                    let _ = tx.send(analyse(w, cfg, codes, spec));
                })
            })
        });
        let (rx, inference) = if embedders.is_empty() {
            (rx, Vec::new())
        } else {
            let (etx, erx) = bounded::<Outcome>(32);
            let code = codes.embedding.unwrap_or_default();
            let handles: Vec<_> = embedders
                .into_iter()
                .map(|embedder| {
                    let (rx, etx) = (rx.clone(), etx.clone());
                    s.spawn(move || inference_stage(embedder, code, rx, etx))
                })
                .collect();
            (erx, handles)
        };
        let seen = write_stage(store, cfg, rx, progress, summary)?;
        for handle in inference {
            summary.timings.inference_s += handle.join().unwrap_or(0.0);
        }
        account_for_lost(store, expected, &seen, summary)
    })
}

/// Files that produced no outcome (a pipeline thread died with them) are
/// failures too, so that every file is reported and the exit code says so.
fn account_for_lost(
    store: &Store,
    expected: Vec<(Option<ImageId>, PathBuf)>,
    seen: &HashSet<Vec<u8>>,
    summary: &mut IndexSummary,
) -> Result<()> {
    for (id, path) in expected {
        if !seen.contains(&paths::to_bytes(&path)) {
            let issue = FileIssue::new(&path, "lost: a pipeline thread panicked");
            apply(store, Outcome::Failed(id, path, issue), summary)?;
        }
    }
    Ok(())
}

/// Batch CNN inputs through one session; pass every other outcome through.
/// A batch is whatever is ready (up to the batch size) when the session is
/// free, so inference never waits for a full batch. Several sessions may
/// share `rx`. Returns the seconds spent in inference.
fn inference_stage(
    mut embedder: Embedder,
    code: u32,
    rx: Receiver<Outcome>,
    tx: Sender<Outcome>,
) -> f64 {
    let mut busy = Duration::ZERO;
    let mut pending: Vec<Box<Analysed>> = Vec::with_capacity(embedder.batch_size());
    let route = |o: Outcome, pending: &mut Vec<Box<Analysed>>| match o {
        Outcome::Analysed(a) if a.tensor.is_some() => pending.push(a),
        other => {
            let _ = tx.send(other);
        }
    };
    while let Ok(first) = rx.recv() {
        route(first, &mut pending);
        while pending.len() < embedder.batch_size() {
            match rx.try_recv() {
                Ok(o) => route(o, &mut pending),
                Err(_) => break,
            }
        }
        if pending.is_empty() {
            continue;
        }
        let t = Instant::now();
        let outcomes = embed_batch_guarded(&mut embedder, code, std::mem::take(&mut pending));
        busy += t.elapsed();
        for o in outcomes {
            route(o, &mut pending);
        }
    }
    busy.as_secs_f64()
}

fn embed_batch(embedder: &mut Embedder, code: u32, items: Vec<Box<Analysed>>) -> Vec<Outcome> {
    let n = items.len();
    for a in &items {
        crate::fault::inject("inference", &paths::from_bytes(&a.record.path));
    }
    let mut input = Vec::with_capacity(n * embedder.input_len());
    for a in &items {
        input.extend_from_slice(a.tensor.as_deref().unwrap_or_default());
    }
    match embedder.embed(input, n) {
        Ok(embs) if embs.len() == n => items
            .into_iter()
            .zip(embs)
            .map(|(mut a, e)| {
                a.tensor = None;
                a.embedding = Some(EmbeddingRecord::from_f32(code, &e.vector));
                Outcome::Analysed(a)
            })
            .collect(),
        Ok(embs) => failed_batch(
            &items,
            &format!(
                "inference returned {} embeddings for {n} images",
                embs.len()
            ),
        ),
        Err(e) => failed_batch(&items, &format!("inference failed: {e}")),
    }
}

/// Every image of a batch that could not be embedded, as a failure.
fn failed_batch(items: &[Box<Analysed>], reason: &str) -> Vec<Outcome> {
    items
        .iter()
        .map(|a| {
            let path = paths::from_bytes(&a.record.path);
            Outcome::Failed(a.id, path.clone(), FileIssue::new(&path, reason))
        })
        .collect()
}

/// [`embed_batch`], with a panic (in ONNX Runtime's bindings or ours)
/// turned into a failure of each image of the batch.
fn embed_batch_guarded(
    embedder: &mut Embedder,
    code: u32,
    items: Vec<Box<Analysed>>,
) -> Vec<Outcome> {
    let keys: Vec<(Option<ImageId>, Vec<u8>)> = items
        .iter()
        .map(|a| (a.id, a.record.path.clone()))
        .collect();
    std::panic::catch_unwind(AssertUnwindSafe(|| embed_batch(embedder, code, items)))
        .unwrap_or_else(|_| {
            keys.into_iter()
                .map(|(id, raw)| {
                    let path = paths::from_bytes(&raw);
                    let issue = FileIssue::new(&path, "inference panicked on this file's batch");
                    Outcome::Failed(id, path, issue)
                })
                .collect()
        })
}

fn write_stage(
    store: &Store,
    cfg: &IndexConfig,
    rx: Receiver<Outcome>,
    progress: &ProgressBar,
    summary: &mut IndexSummary,
) -> Result<HashSet<Vec<u8>>> {
    let mut since_flush = 0;
    let mut last_flush = Instant::now();
    let mut seen = HashSet::new();
    for outcome in rx {
        seen.insert(match &outcome {
            Outcome::Touched(_, r) => r.path.clone(),
            Outcome::Analysed(a) => a.record.path.clone(),
            Outcome::Failed(_, p, _) => paths::to_bytes(p),
        });
        apply(store, outcome, summary)?;
        progress.inc(1);
        since_flush += 1;
        if since_flush >= cfg.flush_every || last_flush.elapsed() > Duration::from_secs(2) {
            store.flush()?;
            since_flush = 0;
            last_flush = Instant::now();
        }
    }
    Ok(seen)
}

fn apply(store: &Store, outcome: Outcome, summary: &mut IndexSummary) -> Result<()> {
    match outcome {
        Outcome::Touched(id, rec) => {
            store.put_image(id, &rec, None)?;
            summary.unchanged += 1;
        }
        Outcome::Analysed(a) => {
            let id = match a.id {
                Some(id) => id,
                None => store.next_id()?,
            };
            store.put_image(id, &a.record, a.embedding.as_ref())?;
            if a.id.is_some() && a.embedding.is_some() {
                summary.reembedded.push(id);
            }
            summary.indexed += 1;
            summary.embedded += usize::from(a.embedding.is_some());
            summary.timings.decode_s += a.decode_s;
            summary.timings.features_s += a.features_s;
        }
        Outcome::Failed(id, _, issue) => {
            // A file that no longer decodes must not keep a stale record.
            if let Some(id) = id {
                store.remove_image(id)?;
            }
            summary.failed.push(issue);
        }
    }
    Ok(())
}

fn analyse(w: Work, cfg: &IndexConfig, codes: Codes, spec: Option<&ModelSpec>) -> Outcome {
    let path = w.candidate.path.clone();
    let old_id = w.old.as_ref().map(|(id, _)| *id);
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| analyse_file(w, cfg, codes, spec)));
    match result {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(e)) => Outcome::Failed(old_id, path.clone(), FileIssue::from_error(&path, &e)),
        Err(_) => Outcome::Failed(
            old_id,
            path.clone(),
            FileIssue::new(&path, "decoder panicked on this file"),
        ),
    }
}

fn analyse_file(
    w: Work,
    cfg: &IndexConfig,
    codes: Codes,
    spec: Option<&ModelSpec>,
) -> Result<Outcome> {
    let t0 = Instant::now();
    let c = &w.candidate;
    let bytes = decode::read_file(&c.path, &cfg.decode)?;
    let digest: [u8; 32] = blake3::hash(&bytes).into();
    if let Some((id, old)) = &w.old {
        if old.digest == digest && features_current(old, codes) && w.old_embedding_current {
            let mut rec = old.clone();
            rec.size = bytes.len() as u64;
            rec.mtime_ns = c.mtime_ns;
            return Ok(Outcome::Touched(*id, rec));
        }
    }
    let a = features::analyse_hashed(&c.path, &bytes, digest, &cfg.decode, &cfg.features)?;
    drop(bytes);
    let t1 = Instant::now();
    let (decoded, f) = (a.decoded, a.features);
    let tensor = spec.map(|s| features::embedding::preprocess(decoded.content(), s));
    let record = ImageRecord {
        path: paths::to_bytes(&c.path),
        size: c.size,
        mtime_ns: c.mtime_ns,
        digest,
        width: decoded.width,
        height: decoded.height,
        format: decoded.format,
        hashes: Some(Tagged {
            fingerprint: codes.hash,
            value: f.hashes,
        }),
        histogram: Some(Tagged {
            fingerprint: codes.histogram,
            value: f.histogram,
        }),
    };
    Ok(Outcome::Analysed(Box::new(Analysed {
        id: w.old.map(|(id, _)| id),
        record,
        tensor,
        embedding: None,
        decode_s: (t1 - t0).as_secs_f64() - a.features_s,
        features_s: a.features_s + t1.elapsed().as_secs_f64(),
    })))
}

/// The store directory as given and canonicalised, so the walk skips it.
fn store_dir_variants(dir: &Path) -> Vec<PathBuf> {
    let mut v = vec![dir.to_path_buf()];
    if let Ok(c) = std::fs::canonicalize(dir) {
        v.push(c);
    }
    v
}

fn progress_bar(len: u64, visible: bool) -> ProgressBar {
    if !visible {
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
