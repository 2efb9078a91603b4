//! From the learning commands' arguments to library configs, job runs and
//! printed reports: `cluster` (stored images or a CSV table), `export`
//! (clusters, features) and `classify` (train, predict).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use super::learn_args::{
    ClassifyArgs, ClassifyCommand, ClusterArgs, ExportArgs, ExportCommand, TrainArgs,
};
use super::{open, print_json};
use imgdex::jobs::classify::{self, PredictConfig, SplitSource, TrainConfig};
use imgdex::jobs::cluster::{
    self, ClusterConfig, ClusterReport, KChoice, SearchConfig, TableConfig,
};
use imgdex::jobs::export::{self, ExportConfig, ExportWhat};
use imgdex::learn::classifier::TrainOptions;
use imgdex::learn::kmeans::KMeansOptions;
use imgdex::learn::labels::LabelSource;

/// `folder` or a CSV path.
fn label_source(s: &str) -> LabelSource {
    if s == "folder" {
        LabelSource::Folder
    } else {
        LabelSource::Csv(s.into())
    }
}

pub(super) fn cluster(
    db: &Path,
    a: ClusterArgs,
    progress: bool,
    text: &mut String,
) -> Result<ExitCode> {
    let k = match (a.k, a.k_range) {
        (Some(k), _) => Some(KChoice::Fixed(k)),
        (None, Some((lo, hi))) => Some(KChoice::Range(lo, hi)),
        (None, None) => None,
    };
    let kmeans = KMeansOptions {
        seed: a.seed,
        n_init: a.n_init,
        mini_batch: a.mini_batch.then_some(a.batch_size),
        ..KMeansOptions::default()
    };
    let search = SearchConfig {
        k,
        kmeans,
        plot: a.plot,
        progress,
    };
    search.validate()?;
    let report = match a.table {
        Some(path) => cluster::run_table(&TableConfig {
            path,
            columns: a.columns,
            standardize: a.standardize,
            search,
        })?,
        None => {
            let store = open(db, false)?;
            let cfg = ClusterConfig {
                by: a.by.into(),
                search,
                labels: a.labels.as_deref().map(label_source),
            };
            cluster::run(&store, &cfg)?
        }
    };
    if a.json {
        print_json(text, &report)?;
    } else {
        print_cluster(text, &report);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_cluster(text: &mut String, r: &ClusterReport) {
    let how = match r.k_range {
        Some((a, b)) => format!("{} over k = {a}..{b}", r.chosen_by),
        None => "given".to_string(),
    };
    out!(
        text,
        "k = {} ({how}); {} rows × {} dims of {}",
        r.k,
        r.rows,
        r.dim,
        r.source
    );
    out!(text, "{:>5}  {:>14}  {:>10}", "k", "inertia", "silhouette");
    for c in &r.candidates {
        let mark = if c.k == r.k { "*" } else { " " };
        let sil = c
            .silhouette
            .map(|s| format!("{s:.3}"))
            .unwrap_or_else(|| "-".into());
        out!(text, "{mark}{:>4}  {:>14.4}  {:>10}", c.k, c.inertia, sil);
    }
    let sizes: Vec<String> = r.sizes.iter().map(usize::to_string).collect();
    out!(text, "cluster sizes: {}", sizes.join(" "));
    if let Some(nmi) = r.nmi {
        out!(
            text,
            "NMI with labels: {nmi:.4} ({} labelled images)",
            r.labelled.unwrap_or(0)
        );
    }
    if let Some(p) = &r.plot {
        out!(text, "elbow plot: {p}");
    }
    if let (Some(cols), Some(cents)) = (&r.columns, &r.centroids) {
        out!(text, "centroids ({}):", cols.join(", "));
        for (i, c) in cents.iter().enumerate() {
            let v: Vec<String> = c.iter().map(|x| format!("{x:.2}")).collect();
            out!(text, "  {i}: {}", v.join(", "));
        }
    }
    if let Some(rows) = &r.assignments {
        for row in rows {
            out!(text, "{}\t{}", row.row, row.cluster);
        }
    }
    if r.saved {
        out!(
            text,
            "saved in the store; `imgdex export clusters` lists each image's cluster"
        );
    }
}

pub(super) fn export(db: &Path, a: ExportArgs, quiet: bool, text: &mut String) -> Result<ExitCode> {
    let cfg = match a.what {
        ExportCommand::Clusters { format, out } => ExportConfig {
            what: ExportWhat::Clusters,
            format: format.into(),
            out,
        },
        ExportCommand::Features {
            format,
            feature,
            out,
        } => ExportConfig {
            what: ExportWhat::Features(feature.map(Into::into)),
            format: format.into(),
            out,
        },
        ExportCommand::Shard { out } => return super::shard::export(db, &out, quiet),
    };
    cfg.validate()?;
    let store = open(db, false)?;
    let report = export::run(&store, &cfg)?;
    match &report.text {
        Some(t) => text.push_str(t),
        None if !quiet => eprintln!(
            "wrote {} rows to {}",
            report.rows,
            report.files.join(" and ")
        ),
        None => {}
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn classify(
    db: &Path,
    a: ClassifyArgs,
    progress: bool,
    text: &mut String,
) -> Result<ExitCode> {
    match a.action {
        ClassifyCommand::Train(train) => classify_train(db, train, progress, text),
        ClassifyCommand::Predict {
            paths,
            decode,
            model,
            json,
        } => {
            let store = open(db, false)?;
            let cfg = PredictConfig {
                inputs: paths,
                decode: (&decode).into(),
                embed: model.embed_config(),
                progress,
            };
            let r = classify::predict(&store, &cfg)?;
            if json {
                print_json(text, &r.predictions)?;
            } else {
                for p in &r.predictions {
                    out!(text, "{}\t{:.3}\t{}", p.label, p.score, p.path);
                }
            }
            for f in &r.failed {
                eprintln!("failed  {}: {}", f.path, f.error);
            }
            Ok(if r.failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

fn classify_train(db: &Path, a: TrainArgs, progress: bool, text: &mut String) -> Result<ExitCode> {
    let cfg = TrainConfig {
        labels: label_source(&a.labels),
        split: match a.split {
            Some(f) => SplitSource::File(f),
            None => SplitSource::Random {
                val_fraction: a.val_fraction,
            },
        },
        method: a.method.into(),
        options: TrainOptions {
            alpha: a.alpha,
            max_iter: a.max_iter,
            standardize: !a.no_standardize,
            seed: a.seed,
            ..TrainOptions::default()
        },
        progress,
    };
    cfg.validate()?;
    let store = open(db, false)?;
    let r = classify::train(&store, &cfg)?;
    if a.json {
        print_json(text, &r)?;
    } else {
        print_train(text, &r);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_train(text: &mut String, r: &classify::TrainReport) {
    out!(
        text,
        "{} classes; {} training, {} validation images ({})",
        r.classes,
        r.train,
        r.val,
        r.split
    );
    for m in &r.methods {
        let k = m.k.map(|k| format!(" (k = {k})")).unwrap_or_default();
        out!(
            text,
            "  {:<9} accuracy {:.4}  macro-F1 {:.4}  trained in {:.2} s{k}",
            m.method.name(),
            m.accuracy,
            m.macro_f1,
            m.train_seconds
        );
    }
    out!(
        text,
        "kept {}: validation accuracy {:.4}, macro-F1 {:.4}",
        r.method.name(),
        r.accuracy,
        r.macro_f1
    );
    let mut worst: Vec<_> = r.per_class.iter().filter(|c| c.recall < 1.0).collect();
    worst.sort_by(|a, b| a.recall.total_cmp(&b.recall).then(a.label.cmp(&b.label)));
    for c in worst.iter().take(10) {
        let conf: Vec<String> = c
            .confused_with
            .iter()
            .map(|x| format!("{} ×{}", x.label, x.count))
            .collect();
        out!(
            text,
            "  {:<20} recall {}/{}  mistaken for {}",
            c.label,
            c.correct,
            c.support,
            conf.join(", ")
        );
    }
    out!(
        text,
        "model refitted on {} images and saved in the store",
        r.refit_on
    );
}
