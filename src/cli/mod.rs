//! From parsed arguments to library calls and printed reports: builds the
//! validated configs, opens the store, runs the job, prints JSON on stdout
//! (`--json`) or a human summary, and chooses the exit code.

pub mod args;

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde::Serialize;

use args::{Args, Command, DecodeArgs, DupesAnnArg, DupesByArg, ModelArgs, QueryByArg};
use imgdex::config::{DecodeConfig, FeatureConfig, IndexConfig};
use imgdex::features::embedding::EmbedConfig;
use imgdex::index::hamming::HashRule;
use imgdex::jobs::{self, dupes, index, inspect, query};
use imgdex::store::{Store, StoreOptions};

/// Append a line to the output buffer (printed once, at the end).
macro_rules! out {
    ($buf:expr, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        let _ = writeln!($buf, $($arg)*);
    }};
}

mod apply;
mod learn;
pub mod learn_args;
mod serve;

pub fn run(args: Args) -> Result<ExitCode> {
    let mut text = String::new();
    let code = run_command(args, &mut text)?;
    emit(&text)?;
    Ok(code)
}

/// Write the report to stdout; a closed pipe (`imgdex dupes | head`) is not an error.
fn emit(text: &str) -> Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|_| stdout.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}

fn run_command(args: Args, text: &mut String) -> Result<ExitCode> {
    let progress = !args.quiet && std::io::stderr().is_terminal();
    match args.command {
        Command::Index {
            paths,
            jobs,
            bins,
            batch,
            ort_threads,
            ort_sessions,
            decode,
            model,
            json,
        } => {
            // Each session holds its own buffers (~160 MiB for the default model).
            anyhow::ensure!(
                ort_sessions <= 64,
                "--ort-sessions must be at most 64, got {ort_sessions}"
            );
            anyhow::ensure!(
                ort_threads <= 256,
                "--ort-threads must be at most 256, got {ort_threads}"
            );
            let mut cfg = IndexConfig::new(paths);
            cfg.jobs = jobs;
            cfg.embed = embed_config(&model).map(|mut e| {
                e.batch = batch;
                e.threads = ort_threads;
                e.sessions = ort_sessions;
                e
            });
            cfg.features = FeatureConfig {
                histogram_bins: bins,
            };
            cfg.decode = decode_config(&decode);
            cfg.progress = progress;
            cfg.validate()?;
            let store = open(&args.db, true)?;
            let summary = index::run(&store, &cfg)?;
            print_index(text, &summary, json, args.quiet)?;
            Ok(if summary.failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Info { json } => {
            let store = open(&args.db, false)?;
            let report = jobs::info::run(&store)?;
            if json {
                print_json(text, &report)?;
            } else {
                out!(text, "store:          {}", args.db.display());
                out!(text, "images:         {}", report.images);
                out!(text, "schema version: {}", report.schema_version);
                for (k, v) in &report.fingerprints {
                    out!(text, "fingerprint:    {k} = {v}");
                }
                out!(
                    text,
                    "features:       hash {}, histogram {}, embedding {}",
                    report.features.hash,
                    report.features.histogram,
                    report.features.embedding
                );
                if report.corrupt > 0 {
                    out!(
                        text,
                        "corrupt:        {} (re-run index to repair)",
                        report.corrupt
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Query {
            image,
            k,
            by,
            decode,
            model,
            json,
        } => {
            let store = open(&args.db, false)?;
            let cfg = query::QueryConfig {
                image,
                k,
                by: match by {
                    QueryByArg::Auto => query::QueryBy::Auto,
                    QueryByArg::Hash => query::QueryBy::Hash,
                    QueryByArg::Histogram => query::QueryBy::Histogram,
                    QueryByArg::Embedding => query::QueryBy::Embedding,
                },
                embed: embed_config(&model),
                decode: decode_config(&decode),
                features: stored_feature_config(&store)?,
            };
            let hits = query::run(&store, &cfg)?;
            if json {
                print_json(text, &hits)?;
            } else {
                for h in &hits {
                    out!(text, "{:>8.3}  {}", h.distance, h.path);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Dupes {
            preset,
            by,
            threshold,
            dhash_threshold,
            max_cosine,
            weak_cosine,
            weak_phash,
            max_histogram,
            ann,
            pairs,
            report,
            act,
            json,
        } => {
            let apply_cfg = apply::config(&act)?;
            let store = open(&args.db, false)?;
            let mut cfg = dupes::DupesConfig::preset(preset.unwrap_or(dupes::Preset::Default));
            cfg.by = match by {
                None => cfg.by,
                Some(DupesByArg::Auto) => dupes::DupesBy::Auto,
                Some(DupesByArg::Embedding) => dupes::DupesBy::Embedding,
                Some(DupesByArg::Hash) => dupes::DupesBy::Hash,
                Some(DupesByArg::Exact) => dupes::DupesBy::Exact,
            };
            if let Some(v) = max_histogram {
                anyhow::ensure!(
                    (0.0..=1.0).contains(&v),
                    "--max-histogram must be a Hellinger distance in 0..1, got {v}"
                );
                cfg.max_histogram = Some(v);
            }
            if let Some(t) = threshold {
                anyhow::ensure!(
                    t <= 64,
                    "--threshold must be between 0 and 64 bits, got {t}"
                );
                cfg.rule = HashRule {
                    max_phash: t,
                    max_dhash: t,
                };
            }
            if let Some(t) = dhash_threshold {
                anyhow::ensure!(
                    t <= 64,
                    "--dhash-threshold must be between 0 and 64 bits, got {t}"
                );
                cfg.rule.max_dhash = t;
            }
            for (name, v) in [("--max-cosine", max_cosine), ("--weak-cosine", weak_cosine)] {
                if let Some(v) = v {
                    anyhow::ensure!(
                        (0.0..=2.0).contains(&v),
                        "{name} must be a cosine distance in 0..2, got {v}"
                    );
                }
            }
            if let Some(v) = max_cosine {
                cfg.embedding.max_cosine = v;
            }
            if let Some(v) = weak_cosine {
                cfg.embedding.weak_cosine = v;
            }
            if let Some(v) = weak_phash {
                anyhow::ensure!(
                    v <= 64,
                    "--weak-phash must be between 0 and 64 bits, got {v}"
                );
                cfg.embedding.weak_phash = v;
            }
            cfg.neighbours = match ann {
                DupesAnnArg::Auto => dupes::Neighbours::Auto,
                DupesAnnArg::Exact => dupes::Neighbours::Exact,
                DupesAnnArg::Graph => dupes::Neighbours::Graph,
                DupesAnnArg::Search => dupes::Neighbours::Search,
            };
            cfg.with_pairs = pairs;
            let result = dupes::run(&store, &cfg)?;
            if let Some(path) = &report {
                imgdex::report::write_html(&result, path)
                    .with_context(|| format!("cannot write report {}", path.display()))?;
            }
            if let Some(a) = &apply_cfg {
                return apply::run_apply(&store, &result, a, json, text);
            }
            if json {
                print_json(text, &result)?;
            } else {
                for (i, g) in result.details.iter().enumerate() {
                    out!(
                        text,
                        "group {} ({} images, keep {})",
                        i + 1,
                        g.members.len(),
                        g.keeper
                    );
                    for m in &g.members {
                        out!(text, "  {}  [{}]", m.path, m.reason);
                    }
                }
            }
            if !args.quiet {
                eprintln!(
                    "{} duplicate groups ({})",
                    result.groups.len(),
                    result.method
                );
                if let Some(path) = &report {
                    eprintln!("review page: {}", path.display());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve {
            addr,
            open: open_browser,
            sessions,
            thumb_cache_mb,
            max_upload_mb,
            decode,
            model,
        } => {
            anyhow::ensure!(
                (1..=4096).contains(&max_upload_mb),
                "--max-upload-mb must be between 1 and 4096, got {max_upload_mb}"
            );
            let store = open(&args.db, false)?;
            let resident = imgdex::jobs::resident::ResidentConfig {
                decode: decode_config(&decode),
                features: stored_feature_config(&store)?,
                embed: embed_config(&model),
                sessions,
                thumb_cache_bytes: thumb_cache_mb << 20,
                thumb_side: 256,
            };
            resident.validate()?;
            let opts = serve::ServeOptions {
                addr,
                open_browser,
                resident,
                max_upload: max_upload_mb << 20,
            };
            serve::run(store, opts, args.quiet)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Undo { journal, json } => apply::run_undo(&args.db, &journal, json, text),
        Command::Cluster(a) => learn::cluster(&args.db, a, progress, text),
        Command::Export(a) => learn::export(&args.db, a, args.quiet, text),
        Command::Classify(a) => learn::classify(&args.db, a, progress, text),
        Command::Inspect {
            image,
            plot,
            decode,
            model,
            json,
        } => {
            let cfg = inspect::InspectConfig {
                image,
                plot,
                embed: embed_config(&model),
                decode: decode_config(&decode),
                features: FeatureConfig::default(),
            };
            let r = inspect::run(&cfg)?;
            if json {
                print_json(text, &r)?;
            } else {
                out!(text, "path:    {}", r.path);
                out!(text, "format:  {} {}x{}", r.format, r.width, r.height);
                out!(text, "blake3:  {}", r.digest);
                out!(text, "phash:   {}", r.hashes.phash);
                out!(text, "dhash:   {}", r.hashes.dhash);
                out!(text, "ahash:   {}", r.hashes.ahash);
                let fmt = |v: &[f32]| {
                    v.iter()
                        .map(|x| format!("{x:.3}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                out!(text, "hist R:  {}", fmt(&r.histogram.r));
                out!(text, "hist G:  {}", fmt(&r.histogram.g));
                out!(text, "hist B:  {}", fmt(&r.histogram.b));
                if let Some(c) = &r.classes {
                    let top: Vec<String> = c
                        .iter()
                        .map(|c| format!("{} ({:.2})", c.label, c.probability))
                        .collect();
                    out!(text, "classes: {}", top.join(", "));
                }
                if let Some(note) = &r.embedding_error {
                    eprintln!("note: no CNN classes: {note}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn open(db: &std::path::Path, create: bool) -> Result<Store> {
    let opts = StoreOptions {
        create,
        ..StoreOptions::default()
    };
    Store::open(db, &opts).with_context(|| format!("cannot open store {}", db.display()))
}

/// The embedding settings, or `None` with `--no-embed`.
fn embed_config(m: &ModelArgs) -> Option<EmbedConfig> {
    if m.no_embed {
        return None;
    }
    let mut cfg = match &m.model {
        Some(model) => EmbedConfig {
            model: model.clone(),
            ..EmbedConfig::in_dir(&EmbedConfig::default_dir())
        },
        None => EmbedConfig::in_dir(&EmbedConfig::default_dir()),
    };
    cfg.ort_library = m.ort_lib.clone();
    Some(cfg)
}

fn decode_config(a: &DecodeArgs) -> DecodeConfig {
    DecodeConfig {
        max_pixels: a.max_pixels,
        scaled_jpeg: !a.no_scaled_jpeg,
        ..DecodeConfig::default()
    }
}

/// Feature settings matching what the store was indexed with, so a query
/// image is analysed the same way.
fn stored_feature_config(store: &Store) -> Result<FeatureConfig> {
    let mut cfg = FeatureConfig::default();
    if let Some(fp) = store.fingerprint("histogram")? {
        if let Some(bins) = fp.split('-').nth(1).and_then(|b| b.parse().ok()) {
            cfg.histogram_bins = bins;
        }
    }
    Ok(cfg)
}

fn print_json<T: Serialize>(text: &mut String, v: &T) -> Result<()> {
    let s = serde_json::to_string_pretty(v)?;
    out!(text, "{s}");
    Ok(())
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
    Ok(())
}
