//! The `index` job: walk the roots, decide per file whether it is new,
//! changed, unchanged or gone, decode and analyse the new and changed ones
//! in parallel, and write one record per image from a single writer thread,
//! flushing at regular commit points. A broken file becomes an entry in the
//! summary's `failed` list; it never stops the run.

use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossbeam_channel::bounded;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use serde::Serialize;

use crate::config::IndexConfig;
use crate::decode;
use crate::error::{Error, Result};
use crate::features;
use crate::jobs::FileIssue;
use crate::paths;
use crate::store::record::fingerprint_code;
use crate::store::{ImageId, ImageRecord, Store, Tagged};
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
}

/// Fingerprint codes the current config writes.
#[derive(Debug, Clone, Copy)]
struct Codes {
    hash: u32,
    histogram: u32,
}

/// One file to (re)analyse.
struct Work {
    candidate: Candidate,
    old: Option<(ImageId, ImageRecord)>,
}

enum Outcome {
    /// Content unchanged, only the stat data moved: refresh the record.
    Touched(ImageId, ImageRecord),
    Analysed(Option<ImageId>, Box<ImageRecord>),
    Failed(Option<ImageId>, FileIssue),
}

/// Index `cfg.roots` into `store`.
pub fn run(store: &Store, cfg: &IndexConfig) -> Result<IndexSummary> {
    cfg.validate()?;
    let codes = Codes {
        hash: fingerprint_code(&cfg.features.hash_fingerprint()),
        histogram: fingerprint_code(&cfg.features.histogram_fingerprint()),
    };
    let mut summary = IndexSummary::default();
    let exclude = store_dir_variants(store.dir());
    let walked = walk::walk(&cfg.roots, &exclude);
    summary.failed.extend(walked.failed.iter().map(|n| FileIssue::new(&n.path, &n.reason)));
    summary.skipped_files.extend(walked.skipped.iter().map(|n| FileIssue::new(&n.path, &n.reason)));
    summary.skipped = summary.skipped_files.len();

    let scan = store.scan_images()?;
    for (id, _) in &scan.corrupt {
        store.remove_image(*id)?;
    }
    summary.repaired = scan.corrupt.len();
    let mut existing: HashMap<Vec<u8>, (ImageId, ImageRecord)> = scan
        .records
        .into_iter()
        .map(|(id, r)| (r.path.clone(), (id, r)))
        .collect();

    let (work, unchanged) = plan(walked.candidates, &mut existing, codes);
    summary.unchanged = unchanged;
    summary.removed = remove_gone(store, &walked.roots, &existing)?;

    let progress = progress_bar(work.len() as u64, cfg.progress);
    write_results(store, cfg, codes, work, &progress, &mut summary)?;
    progress.finish_and_clear();

    store.set_fingerprint("hash", &cfg.features.hash_fingerprint())?;
    store.set_fingerprint("histogram", &cfg.features.histogram_fingerprint())?;
    store.flush()?;
    Ok(summary)
}

/// Split candidates into work and unchanged files. Entries matched to a
/// candidate are taken out of `existing`, leaving only records whose file
/// was not seen by this walk.
fn plan(
    candidates: Vec<Candidate>,
    existing: &mut HashMap<Vec<u8>, (ImageId, ImageRecord)>,
    codes: Codes,
) -> (Vec<Work>, usize) {
    let mut work = Vec::new();
    let mut unchanged = 0;
    for c in candidates {
        let old = existing.remove(&paths::to_bytes(&c.path));
        match old {
            Some((_, ref r))
                if r.size == c.size && r.mtime_ns == c.mtime_ns && features_current(r, codes) =>
            {
                unchanged += 1
            }
            _ => work.push(Work { candidate: c, old }),
        }
    }
    (work, unchanged)
}

fn features_current(r: &ImageRecord, codes: Codes) -> bool {
    r.hashes.as_ref().map(|t| t.fingerprint) == Some(codes.hash)
        && r.histogram.as_ref().map(|t| t.fingerprint) == Some(codes.histogram)
}

/// Remove records under the walked roots whose file no longer exists.
fn remove_gone(
    store: &Store,
    roots: &[PathBuf],
    unseen: &HashMap<Vec<u8>, (ImageId, ImageRecord)>,
) -> Result<usize> {
    let mut removed = 0;
    for (path_bytes, (id, _)) in unseen {
        let path = paths::from_bytes(path_bytes);
        let under_root = roots.iter().any(|r| path.starts_with(r));
        if under_root && std::fs::metadata(&path).is_err() {
            store.remove_image(*id)?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Analyse `work` on a worker pool and write each outcome as it arrives.
fn write_results(
    store: &Store,
    cfg: &IndexConfig,
    codes: Codes,
    work: Vec<Work>,
    progress: &ProgressBar,
    summary: &mut IndexSummary,
) -> Result<()> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cfg.jobs)
        .build()
        .map_err(|e| Error::InvalidArgument(format!("cannot start worker threads: {e}")))?;
    let (tx, rx) = bounded::<Outcome>(64);
    std::thread::scope(|s| {
        s.spawn(move || {
            pool.install(|| {
                work.into_par_iter()
                    .for_each_with(tx, |tx, w| {
                        let _ = tx.send(analyse(w, cfg, codes));
                    })
            })
        });
        let mut since_flush = 0;
        let mut last_flush = Instant::now();
        for outcome in rx {
            apply(store, outcome, summary)?;
            progress.inc(1);
            since_flush += 1;
            if since_flush >= cfg.flush_every || last_flush.elapsed() > Duration::from_secs(2) {
                store.flush()?;
                since_flush = 0;
                last_flush = Instant::now();
            }
        }
        Ok(())
    })
}

fn apply(store: &Store, outcome: Outcome, summary: &mut IndexSummary) -> Result<()> {
    match outcome {
        Outcome::Touched(id, rec) => {
            store.put_image(id, &rec)?;
            summary.unchanged += 1;
        }
        Outcome::Analysed(id, rec) => {
            let id = match id {
                Some(id) => id,
                None => store.next_id()?,
            };
            store.put_image(id, &rec)?;
            summary.indexed += 1;
        }
        Outcome::Failed(id, issue) => {
            // A file that no longer decodes must not keep a stale record.
            if let Some(id) = id {
                store.remove_image(id)?;
            }
            summary.failed.push(issue);
        }
    }
    Ok(())
}

fn analyse(w: Work, cfg: &IndexConfig, codes: Codes) -> Outcome {
    let path = w.candidate.path.clone();
    let old_id = w.old.as_ref().map(|(id, _)| *id);
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| analyse_file(w, cfg, codes)));
    match result {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(e)) => Outcome::Failed(old_id, FileIssue::from_error(&path, &e)),
        Err(_) => Outcome::Failed(old_id, FileIssue::new(&path, "decoder panicked on this file")),
    }
}

fn analyse_file(w: Work, cfg: &IndexConfig, codes: Codes) -> Result<Outcome> {
    let c = &w.candidate;
    let bytes = decode::read_file(&c.path, &cfg.decode)?;
    let digest: [u8; 32] = blake3::hash(&bytes).into();
    if let Some((id, old)) = &w.old {
        if old.digest == digest && features_current(old, codes) {
            let mut rec = old.clone();
            rec.size = bytes.len() as u64;
            rec.mtime_ns = c.mtime_ns;
            return Ok(Outcome::Touched(*id, rec));
        }
    }
    let decoded = decode::decode(&c.path, &bytes, &cfg.decode)?;
    drop(bytes);
    let f = features::compute(&decoded.image, &cfg.features);
    let rec = ImageRecord {
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
    Ok(Outcome::Analysed(w.old.map(|(id, _)| id), Box::new(rec)))
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
        ProgressStyle::with_template("{spinner} indexing {pos}/{len} [{elapsed_precise}] {wide_bar} {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb
}

/// Paths used by tests and tools: the set of stored paths, as bytes.
pub fn stored_paths(store: &Store) -> Result<HashSet<Vec<u8>>> {
    Ok(store
        .scan_images()?
        .records
        .into_iter()
        .map(|(_, r)| r.path)
        .collect())
}
