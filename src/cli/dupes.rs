//! The `dupes` command: the preset and explicit threshold flags become the
//! library's [`DupesRequest`] (as the HTTP API's query does), which merges
//! and checks them into a `DupesConfig`; the job run, then the review page,
//! the `--apply` actions or the printed groups.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use imgdex::Error;

use super::args::DupesArgs;
use super::{apply, open_with, print_json};
use imgdex::jobs::dupes::{self, DupesReport, DupesRequest};
use imgdex::store::StoreOptions;

pub(super) fn dupes(
    db: &Path,
    a: DupesArgs,
    progress: bool,
    quiet: bool,
    text: &mut String,
) -> Result<ExitCode> {
    let mut apply_cfg = apply::config(&a.act)?;
    let store = open_with(db, &StoreOptions::for_scans())?;
    // A setting's error is worded as its flag by main; any other is a
    // reference folder's.
    let mut cfg = request(&a).config().map_err(|e| match e {
        e @ Error::InvalidSetting { .. } => anyhow::Error::new(e),
        e => anyhow::Error::new(e).context("--reference"),
    })?;
    cfg.progress = progress;
    if let Some(act) = &mut apply_cfg {
        act.reference = cfg.reference.clone();
    }
    let result = dupes::run(&store, &cfg)?;
    if let Some(path) = &a.report {
        imgdex::report::write_html(&result, path)
            .with_context(|| format!("cannot write report {}", path.display()))?;
    }
    warn_unverified(&result, quiet);
    if let Some(act) = &apply_cfg {
        return apply::run_apply(&store, &result, act, a.json, text);
    }
    if a.json {
        print_json(text, &result)?;
    } else {
        print_groups(text, &result);
    }
    if !quiet {
        eprintln!(
            "{} duplicate groups ({}), {} to reclaim",
            result.groups.len(),
            result.method,
            apply::human_bytes(result.reclaim_bytes)
        );
        let d = &result.decisions;
        if d.stored > 0 || d.reference_keepers > 0 {
            eprintln!(
                "decisions changed {} groups ({} pairs kept apart as not duplicates, \
                 {} chosen keepers, {} reference keepers, {} kept members, {} reviewed)",
                d.groups_changed,
                d.pairs_kept_apart,
                d.keepers_chosen,
                d.reference_keepers,
                d.members_kept,
                d.reviewed
            );
        }
        if let Some(path) = &a.report {
            eprintln!("review page: {}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The flags as the library's request (each explicit flag overrides the
/// preset's value there).
fn request(a: &DupesArgs) -> DupesRequest {
    DupesRequest {
        preset: a.preset,
        by: a.by.map(Into::into),
        threshold: a.threshold,
        dhash_threshold: a.dhash_threshold,
        max_cosine: a.max_cosine,
        weak_cosine: a.weak_cosine,
        weak_phash: a.weak_phash,
        max_histogram: a.max_histogram,
        neighbours: Some(a.ann.into()),
        with_pairs: a.pairs,
        reference: a.reference.clone(),
    }
}

/// Say on stderr when some pairs were grouped without verification.
fn warn_unverified(result: &DupesReport, quiet: bool) {
    if result.unverified_images > 0 && !quiet {
        eprintln!(
            "imgdex: warning: {} images in candidate pairs have no copy signature, so \
             their pairs were grouped unverified; run `imgdex index` on their folders \
             to add it",
            result.unverified_images
        );
    }
}

fn print_groups(text: &mut String, result: &DupesReport) {
    for (i, g) in result.details.iter().enumerate() {
        out!(
            text,
            "group {} ({} images, keep {}{}, {} to reclaim)",
            i + 1,
            g.members.len(),
            g.keeper,
            if g.reviewed { ", reviewed" } else { "" },
            apply::human_bytes(g.reclaim_bytes)
        );
        for m in &g.members {
            let lock = match (m.reference, m.kept) {
                (true, _) => " (reference)",
                (false, true) => " (kept)",
                _ => "",
            };
            out!(text, "  {}{lock}  [{}]", m.path, m.reason);
        }
    }
    for (i, s) in result.series.iter().enumerate() {
        out!(
            text,
            "series {} ({} similar shots, not copies; best {}: {})",
            i + 1,
            s.shots.len(),
            s.best,
            s.reason
        );
        for p in &s.shots {
            out!(text, "  {p}");
        }
    }
}
