//! The `index` and `info` commands: build the index config from the
//! arguments, run the job and print its summary.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};

use super::args::{IndexArgs, IndexOpts, InfoArgs, RepairArgs};
use super::{open, print_json};
use imgdex::features::FeatureConfig;
use imgdex::jobs::{self, index};

pub(super) fn index(
    db: &Path,
    a: IndexArgs,
    progress: bool,
    quiet: bool,
    text: &mut String,
) -> Result<ExitCode> {
    let cfg = index_config(a.paths, &a.opts, progress)?;
    cfg.validate()?;
    let store = open(db, true)?;
    let summary = index::run(&store, &cfg)?;
    print_index(text, &summary, a.opts.json, quiet)?;
    Ok(exit_code(&summary))
}

/// `repair`: a fresh store from the damaged one's readable records and
/// its folders (or the ones given).
pub(super) fn repair(
    db: &Path,
    a: RepairArgs,
    progress: bool,
    quiet: bool,
    text: &mut String,
) -> Result<ExitCode> {
    let cfg = index_config(a.paths, &a.opts, progress)?;
    let report = jobs::repair::run(db, &cfg)
        .with_context(|| format!("cannot repair store {}", db.display()))?;
    if a.opts.json {
        print_json(text, &report)?;
    } else {
        out!(text, "moved the damaged files to {}", report.moved_aside);
        if let Some(why) = &report.unreadable {
            out!(text, "could not read further: {why}");
        }
        out!(
            text,
            "carried over {} records; re-indexed {}",
            report.carried_over,
            report.roots.join(", ")
        );
        print_index(text, &report.index, false, quiet)?;
    }
    Ok(exit_code(&report.index))
}

fn exit_code(summary: &index::IndexSummary) -> ExitCode {
    if summary.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn index_config(
    paths: Vec<std::path::PathBuf>,
    a: &IndexOpts,
    progress: bool,
) -> Result<index::IndexConfig> {
    // The ONNX Runtime layout is checked even with --no-embed, as before.
    let mut embed = a.model.embed_settings();
    embed.batch = a.batch;
    embed.threads = a.ort_threads;
    embed.sessions = a.ort_sessions;
    embed.validate()?;
    let mut cfg = index::IndexConfig::new(paths);
    cfg.jobs = a.jobs;
    cfg.embed = (!a.model.no_embed).then_some(embed);
    cfg.features = FeatureConfig {
        histogram_bins: a.bins,
    };
    cfg.decode = (&a.decode).into();
    cfg.progress = progress;
    Ok(cfg)
}

pub(super) fn info(db: &Path, a: InfoArgs, text: &mut String) -> Result<ExitCode> {
    let store = open(db, false)?;
    let report = jobs::info::run(&store)?;
    if a.json {
        print_json(text, &report)?;
        return Ok(ExitCode::SUCCESS);
    }
    // What a user asks first (where, how much, what failed), then the
    // settings the features were made under.
    out!(text, "store:          {}", db.display());
    for root in store.roots()? {
        out!(text, "root:           {}", root.display());
    }
    out!(text, "images:         {}", report.images);
    out!(
        text,
        "store size:     {}",
        super::apply::human_bytes(report.store_bytes)
    );
    if report.corrupt > 0 {
        out!(
            text,
            "corrupt:        {} (re-run index to repair)",
            report.corrupt
        );
    }
    if report.stale > 0 {
        out!(
            text,
            "stale:          {} (kept from an earlier run: recomputing them failed)",
            report.stale
        );
    }
    for r in &report.rejected_graph_files {
        out!(
            text,
            "graph file:     g{}/{} was rejected ({}) and written again",
            r.generation,
            r.file,
            r.reason
        );
    }
    out!(
        text,
        "features:       hash {}, histogram {}, embedding {}",
        report.features.hash,
        report.features.histogram,
        report.features.embedding
    );
    out!(text, "schema version: {}", report.schema_version);
    for (k, v) in &report.fingerprints {
        out!(text, "fingerprint:    {k} = {v}");
    }
    Ok(ExitCode::SUCCESS)
}

fn print_index(text: &mut String, s: &index::IndexSummary, json: bool, quiet: bool) -> Result<()> {
    if json {
        return print_json(text, s);
    }
    if !quiet {
        const SHOWN: usize = 10;
        for f in s.skipped_files.iter().take(SHOWN) {
            eprintln!("skipped {}: {}", f.path, f.error);
        }
        if s.skipped_files.len() > SHOWN {
            eprintln!(
                "skipped {} more (see --json)",
                s.skipped_files.len() - SHOWN
            );
        }
    }
    for f in &s.failed {
        eprintln!("failed  {}: {}", f.path, f.error);
    }
    for w in &s.warnings {
        eprintln!("warning {}: {}", w.path, w.warning);
    }
    out!(
        text,
        "indexed {}, unchanged {}, removed {}, skipped {}, failed {}{}",
        s.indexed,
        s.unchanged,
        s.removed,
        s.skipped,
        s.failed.len(),
        if s.repaired > 0 {
            format!(", repaired {}", s.repaired)
        } else {
            String::new()
        }
    );
    if let Some(c) = &s.embedding_changed {
        let model = imgdex::features::embedding::model_name(&c.to);
        out!(
            text,
            "{} embedded again with {model}: their embeddings were from another model or other settings",
            imgdex::jobs::index::plural(c.images, "image")
        );
    }
    if s.kept_stale > 0 {
        out!(
            text,
            "{} failed files keep their previous record, marked stale",
            s.kept_stale
        );
    }
    if !s.warnings.is_empty() {
        out!(
            text,
            "{} decoded only in part (see warnings)",
            s.warnings.len()
        );
    }
    Ok(())
}
