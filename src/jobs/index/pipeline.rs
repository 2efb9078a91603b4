//! The write stage of `index`: each outcome of the analysis stages
//! (`stages.rs`, shared with `analyse`) applied to the store as it
//! arrives, with regular flushes.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;

use super::stages::{run_stages, Stages};
use super::{Codes, FileWarning, IndexConfig, IndexSummary, OldRecord, Outcome, Work};
use crate::error::Result;
use crate::features::embedding::Embedder;
use crate::paths;
use crate::store::{ImageId, Store};

/// Run the analysis stages over `work` and write each outcome on this
/// thread as it arrives, flushing every `cfg.flush_every` images or two
/// seconds.
pub(super) fn run_pipeline(
    store: &Store,
    cfg: &IndexConfig,
    codes: Codes,
    work: Vec<Work>,
    embedders: &mut [Embedder],
    progress: &ProgressBar,
    summary: &mut IndexSummary,
) -> Result<()> {
    let stale = store.stale_ids()?;
    let stages = Stages {
        jobs: cfg.jobs,
        decode: &cfg.decode,
        features: &cfg.features,
        codes,
    };
    let mut since_flush = 0;
    let mut last_flush = Instant::now();
    let inference_s = run_stages(&stages, work, embedders, |outcome| {
        apply(store, outcome, summary, &stale)?;
        progress.inc(1);
        since_flush += 1;
        if since_flush >= cfg.flush_every || last_flush.elapsed() > Duration::from_secs(2) {
            store.flush()?;
            since_flush = 0;
            last_flush = Instant::now();
        }
        Ok(())
    })?;
    summary.timings.inference_s += inference_s;
    Ok(())
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
