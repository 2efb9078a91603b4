//! The analyse and write stages of `index`: files analysed in parallel
//! (each read and decoded once, a panic becoming a failure of that file),
//! the inference threads between them, and one writer applying each
//! outcome to the store with regular flushes.

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver};
use indicatif::ProgressBar;
use rayon::prelude::*;

use super::inference::inference_stage;
use super::plan::features_current;
use super::{Analysed, Codes, FileWarning, IndexConfig, IndexSummary, OldRecord, Outcome, Work};
use crate::decode;
use crate::error::{Error, Result};
use crate::features::{self, embedding::Embedder, embedding::ModelSpec};
use crate::jobs::FileIssue;
use crate::paths;
use crate::store::signatures::SignatureRecord;
use crate::store::{ImageId, ImageRecord, Store, Tagged};

/// Analyse `work` on a worker pool, embed on one inference thread per
/// session (none without embeddings), and write each outcome on this thread
/// as it arrives.
pub(super) fn run_pipeline(
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
        .map_err(|e| Error::ThreadPool {
            reason: e.to_string(),
        })?;
    let spec = embedders.first().map(|e| e.spec().clone());
    let expected: Vec<(Option<ImageId>, PathBuf)> = work
        .iter()
        .map(|w| (w.old.as_ref().map(|(id, _)| *id), w.candidate.path.clone()))
        .collect();
    let stale = store.stale_ids()?;
    let (tx, rx) = bounded::<Outcome>(32);
    std::thread::scope(|s| {
        let spec = spec.as_ref();
        s.spawn(move || {
            pool.install(|| {
                work.into_par_iter()
                    .with_max_len(1)
                    .for_each_with(tx, |tx, w| {
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
        let seen = write_stage(store, cfg, rx, progress, summary, &stale)?;
        for handle in inference {
            summary.timings.inference_s += handle.join().unwrap_or(0.0);
        }
        account_for_lost(store, expected, &seen, summary, &stale)
    })
}

/// Files that produced no outcome (a pipeline thread died with them) are
/// failures too, so that every file is reported and the exit code says so.
fn account_for_lost(
    store: &Store,
    expected: Vec<(Option<ImageId>, PathBuf)>,
    seen: &HashSet<Vec<u8>>,
    summary: &mut IndexSummary,
    stale: &HashSet<ImageId>,
) -> Result<()> {
    for (id, path) in expected {
        if !seen.contains(&paths::to_bytes(&path)) {
            let issue = FileIssue::new(&path, "lost: a pipeline thread panicked");
            let lost = Outcome::Failed(id, path, issue, OldRecord::Keep);
            apply(store, lost, summary, stale)?;
        }
    }
    Ok(())
}

fn write_stage(
    store: &Store,
    cfg: &IndexConfig,
    rx: Receiver<Outcome>,
    progress: &ProgressBar,
    summary: &mut IndexSummary,
    stale: &HashSet<ImageId>,
) -> Result<HashSet<Vec<u8>>> {
    let mut since_flush = 0;
    let mut last_flush = Instant::now();
    let mut seen = HashSet::new();
    for outcome in rx {
        seen.insert(match &outcome {
            Outcome::Touched(_, r) => r.path.clone(),
            Outcome::Analysed(a) => a.record.path.clone(),
            Outcome::Failed(_, p, _, _) => paths::to_bytes(p),
        });
        apply(store, outcome, summary, stale)?;
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

fn apply(
    store: &Store,
    outcome: Outcome,
    summary: &mut IndexSummary,
    stale: &HashSet<ImageId>,
) -> Result<()> {
    match outcome {
        Outcome::Touched(id, rec) => {
            store.put_image(id, &rec, None)?;
            if stale.contains(&id) {
                store.clear_stale(id)?;
            }
            summary.unchanged += 1;
        }
        Outcome::Analysed(a) => {
            let id = match a.id {
                Some(id) => id,
                None => store.next_id()?,
            };
            store.put_image(id, &a.record, a.embedding.as_ref())?;
            store.put_signature(id, &a.signature)?;
            if stale.contains(&id) {
                store.clear_stale(id)?;
            }
            if let Some(warning) = a.warning {
                summary.warnings.push(FileWarning {
                    path: paths::display(&a.record.path),
                    warning: warning.into(),
                });
            }
            if a.id.is_some() && a.embedding.is_some() {
                summary.reembedded.push(id);
            }
            summary.indexed += 1;
            summary.embedded += usize::from(a.embedding.is_some());
            summary.timings.decode_s += a.decode_s;
            summary.timings.features_s += a.features_s;
        }
        Outcome::Failed(id, _, mut issue, old) => {
            match (id, old) {
                (Some(id), OldRecord::Keep) => {
                    store.mark_stale(id, &issue.error)?;
                    issue
                        .error
                        .push_str("; its previous record is kept, marked stale");
                    summary.kept_stale += 1;
                }
                (Some(id), OldRecord::Drop) => store.remove_image(id)?,
                (None, _) => {}
            }
            summary.failed.push(issue);
        }
    }
    Ok(())
}

fn analyse(w: Work, cfg: &IndexConfig, codes: Codes, spec: Option<&ModelSpec>) -> Outcome {
    let path = w.candidate.path.clone();
    let old_id = w.old.as_ref().map(|(id, _)| *id);
    let same_stat = w
        .old
        .as_ref()
        .is_some_and(|(_, r)| r.size == w.candidate.size && r.mtime_ns == w.candidate.mtime_ns);
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| analyse_file(w, cfg, codes, spec)));
    match result {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(e)) => {
            let old = if same_stat || !no_longer_an_image(&e) {
                OldRecord::Keep
            } else {
                OldRecord::Drop
            };
            Outcome::Failed(old_id, path.clone(), FileIssue::from_error(&path, &e), old)
        }
        Err(_) => {
            let issue = FileIssue::new(&path, "decoder panicked on this file");
            Outcome::Failed(old_id, path, issue, OldRecord::Keep)
        }
    }
}

/// Whether `e` says the file's new content is gone or is not an image
/// (any other failure is of the computation, not of the file).
fn no_longer_an_image(e: &Error) -> bool {
    match e {
        Error::Decode { .. }
        | Error::Unsupported { .. }
        | Error::NotAFile { .. }
        | Error::TooManyPixels { .. }
        | Error::FileTooLarge { .. } => true,
        Error::Io { source, .. } => source.kind() == std::io::ErrorKind::NotFound,
        _ => false,
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
        if old.digest == digest
            && features_current(old, codes)
            && w.old_embedding_current
            && w.old_signed
        {
            let mut rec = old.clone();
            rec.size = bytes.len() as u64;
            rec.mtime_ns = c.mtime_ns;
            return Ok(Outcome::Touched(*id, rec));
        }
    }
    let a = features::analyse_hashed(&c.path, &bytes, digest, &cfg.decode, &cfg.features)?;
    let signature = SignatureRecord::current(features::signature::compute(&a.decoded, &bytes));
    let warning = decode::truncation(&bytes);
    drop(bytes);
    let t1 = Instant::now();
    let (decoded, f) = (a.decoded, a.features);
    let tensor = spec.map(|s| features::embedding::preprocess_decoded(&decoded, s));
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
        signature,
        warning,
        tensor,
        embedding: None,
        decode_s: (t1 - t0).as_secs_f64() - a.features_s,
        features_s: a.features_s + t1.elapsed().as_secs_f64(),
    })))
}
