//! The `dupes` command: the preset and explicit threshold flags merged into
//! one [`DupesConfig`] (checked by its `validate()`), the job run, then the
//! review page, the `--apply` actions or the printed groups.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};

use super::args::DupesArgs;
use super::{apply, open_with, print_json};
use imgdex::index::hamming::HashRule;
use imgdex::jobs::dupes::{self, DupesConfig, DupesReport};
use imgdex::store::StoreOptions;

pub(super) fn dupes(db: &Path, a: DupesArgs, quiet: bool, text: &mut String) -> Result<ExitCode> {
    let mut apply_cfg = apply::config(&a.act)?;
    let store = open_with(db, &StoreOptions::for_scans())?;
    let mut cfg = config(&a);
    cfg.validate()?;
    cfg.reference = dupes::canonical_folders(&a.reference).context("--reference")?;
    if let Some(act) = &mut apply_cfg {
        act.reference = cfg.reference.clone();
    }
    let result = dupes::run(&store, &cfg)?;
    if let Some(path) = &a.report {
        imgdex::report::write_html(&result, path)
            .with_context(|| format!("cannot write report {}", path.display()))?;
    }
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

/// The preset, with each explicit flag overriding its value.
fn config(a: &DupesArgs) -> DupesConfig {
    let mut cfg = DupesConfig::preset(a.preset.unwrap_or(dupes::Preset::Default));
    if let Some(by) = a.by {
        cfg.by = by.into();
    }
    if let Some(v) = a.max_histogram {
        cfg.max_histogram = Some(v);
    }
    if let Some(t) = a.threshold {
        cfg.rule = HashRule {
            max_phash: t,
            max_dhash: t,
        };
    }
    if let Some(t) = a.dhash_threshold {
        cfg.rule.max_dhash = t;
    }
    if let Some(v) = a.max_cosine {
        cfg.embedding.max_cosine = v;
    }
    if let Some(v) = a.weak_cosine {
        cfg.embedding.weak_cosine = v;
    }
    if let Some(v) = a.weak_phash {
        cfg.embedding.weak_phash = v;
    }
    cfg.neighbours = a.ann.into();
    cfg.with_pairs = a.pairs;
    cfg
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
