//! The analysis stages `index` and `analyse` share, so that a store built
//! by `index` and shard rows made by `analyse` (a Ray worker, `imgdex.analyse`)
//! come from the same code: files read, decoded and analysed on a worker
//! pool (a panic becoming a failure of that file), their CNN inputs batched
//! through ONNX Runtime on one thread per session while decoding goes on,
//! and every outcome handed to the caller's sink on the calling thread as
//! it arrives. A file whose outcome is lost (a pipeline thread died with it)
//! still reaches the sink, as a failure.

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::time::Instant;

use crossbeam_channel::bounded;
use rayon::prelude::*;

use super::inference::inference_stage;
use super::plan::features_current;
use super::{Analysed, Codes, OldRecord, Outcome, Work};
use crate::decode::{self, DecodeConfig};
use crate::error::{Error, Result};
use crate::features::{self, embedding::Embedder, embedding::ModelSpec, FeatureConfig};
use crate::jobs::FileIssue;
use crate::paths;
use crate::store::signatures::SignatureRecord;
use crate::store::{ImageId, ImageRecord, Tagged};

/// The settings of the analysis stages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stages<'a> {
    /// Worker threads for reading, decoding and features (0 = one per core).
    pub jobs: usize,
    pub decode: &'a DecodeConfig,
    pub features: &'a FeatureConfig,
    /// The fingerprint codes the records are tagged with.
    pub codes: Codes,
}

/// Analyse `work` on a pool of `stages.jobs` workers, embed on one
/// inference thread per session of `embedders` (none: no embeddings), and
/// hand each outcome to `sink` on this thread. Stops at the first error
/// `sink` returns. Returns the seconds the inference threads spent
/// embedding, summed over sessions.
pub(crate) fn run_stages(
    stages: &Stages,
    work: Vec<Work>,
    embedders: &mut [Embedder],
    mut sink: impl FnMut(Outcome) -> Result<()>,
) -> Result<f64> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(stages.jobs)
        .build()
        .map_err(|e| Error::ThreadPool {
            reason: e.to_string(),
        })?;
    let spec = embedders.first().map(|e| e.spec().clone());
    let expected: Vec<(Option<ImageId>, PathBuf)> = work
        .iter()
        .map(|w| (w.old.as_ref().map(|(id, _)| *id), w.candidate.path.clone()))
        .collect();
    let mut seen = HashSet::new();
    let (tx, rx) = bounded::<Outcome>(32);
    let inference_s = std::thread::scope(|s| -> Result<f64> {
        let spec = spec.as_ref();
        s.spawn(move || {
            pool.install(|| {
                work.into_par_iter()
                    .with_max_len(1)
                    .for_each_with(tx, |tx, w| {
                        let _ = tx.send(analyse(w, stages, spec));
                    })
            })
        });
        let (rx, inference) = if embedders.is_empty() {
            (rx, Vec::new())
        } else {
            let (etx, erx) = bounded::<Outcome>(32);
            let code = stages.codes.embedding.unwrap_or_default();
            let handles: Vec<_> = embedders
                .iter_mut()
                .map(|embedder| {
                    let (rx, etx) = (rx.clone(), etx.clone());
                    s.spawn(move || inference_stage(embedder, code, rx, etx))
                })
                .collect();
            (erx, handles)
        };
        for outcome in rx {
            seen.insert(match &outcome {
                Outcome::Touched(_, r) => r.path.clone(),
                Outcome::Analysed(a) => a.record.path.clone(),
                Outcome::Failed(_, p, _, _) => paths::to_bytes(p),
            });
            sink(outcome)?;
        }
        Ok(inference.into_iter().map(|h| h.join().unwrap_or(0.0)).sum())
    })?;
    account_for_lost(expected, &seen, sink)?;
    Ok(inference_s)
}

/// Files that produced no outcome (a pipeline thread died with them) are
/// failures too, so that every file is reported.
fn account_for_lost(
    expected: Vec<(Option<ImageId>, PathBuf)>,
    seen: &HashSet<Vec<u8>>,
    mut sink: impl FnMut(Outcome) -> Result<()>,
) -> Result<()> {
    for (id, path) in expected {
        if !seen.contains(&paths::to_bytes(&path)) {
            let issue = FileIssue::new(&path, "lost: a pipeline thread panicked");
            sink(Outcome::Failed(id, path, issue, OldRecord::Keep))?;
        }
    }
    Ok(())
}

fn analyse(w: Work, stages: &Stages, spec: Option<&ModelSpec>) -> Outcome {
    let path = w.candidate.path.clone();
    let old_id = w.old.as_ref().map(|(id, _)| *id);
    let same_stat = w
        .old
        .as_ref()
        .is_some_and(|(_, r)| r.size == w.candidate.size && r.mtime_ns == w.candidate.mtime_ns);
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| analyse_file(w, stages, spec)));
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

fn analyse_file(w: Work, stages: &Stages, spec: Option<&ModelSpec>) -> Result<Outcome> {
    let t0 = Instant::now();
    let (c, codes) = (&w.candidate, stages.codes);
    let bytes = decode::read_file(&c.path, stages.decode)?;
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
            // The bytes are read anyway: a record from before schema 8 gets its date.
            rec.taken = features::taken::taken(&bytes);
            return Ok(Outcome::Touched(*id, rec));
        }
    }
    let a = features::analyse_hashed(&c.path, &bytes, digest, stages.decode, stages.features)?;
    let signature = SignatureRecord::current(features::signature::compute(&a.decoded, &bytes));
    let warning = decode::truncation(&bytes);
    let taken = features::taken::taken(&bytes);
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
        taken,
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
