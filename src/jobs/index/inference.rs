//! The inference stage of `index`: CNN inputs batched through one ONNX
//! Runtime session per thread, with a failed or panicking batch turned into
//! a failure of each of its images.

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::{Analysed, OldRecord, Outcome};
use crate::features::embedding::Embedder;
use crate::jobs::FileIssue;
use crate::paths;
use crate::store::{EmbeddingRecord, ImageId};

/// Batch CNN inputs through one session; pass every other outcome through.
/// A batch is whatever is ready (up to the batch size) when the session is
/// free, so inference never waits for a full batch. Several sessions may
/// share `rx`. Returns the seconds spent in inference.
pub(super) fn inference_stage(
    embedder: &mut Embedder,
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
        let outcomes = embed_batch_guarded(embedder, code, std::mem::take(&mut pending));
        busy += t.elapsed();
        for o in outcomes {
            route(o, &mut pending);
        }
    }
    busy.as_secs_f64()
}

// The analyses arrive boxed in `Outcome`s; unboxing them would move each.
#[allow(clippy::vec_box)]
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
                a.embedding = Some(EmbeddingRecord::with_dupe(
                    code,
                    &e.vector,
                    e.dupe.as_deref(),
                ));
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
            let issue = FileIssue::new(&path, reason);
            Outcome::Failed(a.id, path, issue, OldRecord::Keep)
        })
        .collect()
}

/// [`embed_batch`], with a panic (in ONNX Runtime's bindings or ours)
/// turned into a failure of each image of the batch.
#[allow(clippy::vec_box)]
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
                    Outcome::Failed(id, path, issue, OldRecord::Keep)
                })
                .collect()
        })
}
