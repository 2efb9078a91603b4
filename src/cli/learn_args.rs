//! Command-line syntax of the learning commands (`cluster`, `export`,
//! `classify`), kept apart from `args.rs` so that the commands can grow
//! without touching the others. Nothing here knows how the jobs run.

use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};

use super::common_args::{DecodeArgs, ModelArgs};
use imgdex::jobs::classify::MethodChoice;
use imgdex::jobs::export::{ExportFormat, FeatureChoice};
use imgdex::learn::classifier::Method;
use imgdex::learn::dataset::FeatureKind;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  imgdex cluster                           # k chosen by the elbow over 2..20, saved in the store
  imgdex cluster --k 8 --labels folder     # 8 clusters, compared with the folder names
  imgdex cluster --table data.csv --columns a,b --standardize --k 3")]
pub struct ClusterArgs {
    /// Feature to cluster stored images by.
    #[arg(long, value_enum, default_value_t = ClusterByArg::Embedding)]
    pub by: ClusterByArg,
    /// Number of clusters.
    #[arg(long, conflicts_with = "k_range")]
    pub k: Option<usize>,
    /// Fit every k of the inclusive range A..B and choose k by the elbow of
    /// the inertia curve [default: 2..20, capped at the number of rows].
    #[arg(long, value_name = "A..B", value_parser = parse_k_range)]
    pub k_range: Option<(usize, usize)>,
    /// Mini-batch k-means (much faster on large stores, slightly higher inertia).
    #[arg(long)]
    pub mini_batch: bool,
    /// Rows per mini-batch (raised to 3k when smaller).
    #[arg(long, default_value_t = 1024, requires = "mini_batch")]
    pub batch_size: usize,
    /// k-means++ starts per k; the one with the lowest inertia is kept.
    #[arg(long, default_value_t = 1)]
    pub n_init: usize,
    /// Seed of every random choice (same seed, same clusters).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Draw the elbow curve, with the chosen k marked, to this PNG file.
    #[arg(long, value_name = "PNG")]
    pub plot: Option<PathBuf>,
    /// Compare the clusters with labels ("folder" = parent folder names, or
    /// a CSV with path,label columns): reports normalised mutual information.
    #[arg(long, value_name = "folder|FILE.csv")]
    pub labels: Option<String>,
    /// Cluster the rows of this CSV table instead of stored images (no store needed).
    #[arg(
        long,
        value_name = "FILE.csv",
        requires = "columns",
        conflicts_with = "labels"
    )]
    pub table: Option<PathBuf>,
    /// Numeric columns of --table to cluster on, comma-separated.
    #[arg(long, value_delimiter = ',', requires = "table")]
    pub columns: Vec<String>,
    /// Scale each --table column to zero mean and unit variance first.
    #[arg(long, requires = "table")]
    pub standardize: bool,
    /// Print the report as JSON on stdout (for scripts) instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ClusterByArg {
    Embedding,
    Histogram,
}

/// `A..B` or `A..=B` (both inclusive).
fn parse_k_range(s: &str) -> Result<(usize, usize), String> {
    let bad = || format!("expected A..B with whole numbers A < B (e.g. 2..20), got `{s}`");
    let (a, b) = s.split_once("..").ok_or_else(bad)?;
    let b = b.strip_prefix('=').unwrap_or(b);
    let a: usize = a.trim().parse().map_err(|_| bad())?;
    let b: usize = b.trim().parse().map_err(|_| bad())?;
    if a == 0 || b <= a {
        return Err(bad());
    }
    Ok((a, b))
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  imgdex export clusters --out clusters.csv
  imgdex export features --format parquet --out features.parquet
  imgdex export shard --out store.parquet")]
pub struct ExportArgs {
    #[command(subcommand)]
    pub what: ExportCommand,
}

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// The saved clustering (from `imgdex cluster`): path,cluster rows.
    #[command(after_help = "Examples:
  imgdex export clusters                   # path,cluster rows on stdout
  imgdex export clusters --format json --out clusters.json")]
    Clusters {
        /// csv: path,cluster rows; json: the same rows as an array of objects.
        #[arg(long, value_enum, default_value_t = ClustersFormat::Csv)]
        format: ClustersFormat,
        /// Write to this file instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Hashes, histograms and embeddings of the stored images.
    #[command(after_help = "Examples:
  imgdex export features --out features.csv
  imgdex export features --format npy --out emb.npy    # emb.npy.paths.txt beside it
  imgdex export features --format parquet --out features.parquet")]
    Features {
        /// csv: one row per image; npy: one feature as a matrix, with the
        /// row paths in FILE.paths.txt beside it; parquet: one row per image
        /// with every feature and the cluster label (DuckDB, Polars, Spark).
        #[arg(long, value_enum, default_value_t = FeaturesFormat::Csv)]
        format: FeaturesFormat,
        /// Feature to write [default: all for csv, embedding for npy].
        #[arg(long, value_enum)]
        feature: Option<FeatureArg>,
        /// Write to this file instead of stdout (required for npy, parquet).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Every stored record as a shard: Parquet that `imgdex ingest` (here or
    /// on another machine) rebuilds a store from, without decoding images.
    #[command(after_help = "Examples:
  imgdex export shard --out store.parquet
  imgdex --db other.db ingest store.parquet   # the same records in another store")]
    Shard {
        /// The Parquet file to write (every record, complete enough for `ingest`).
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ClustersFormat {
    Csv,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FeaturesFormat {
    Csv,
    Npy,
    Parquet,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FeatureArg {
    All,
    Hash,
    Histogram,
    Embedding,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  imgdex classify train                    # labels: each stored image's folder name
  imgdex classify predict new/             # label the images under new/")]
pub struct ClassifyArgs {
    #[command(subcommand)]
    pub action: ClassifyCommand,
}

#[derive(Debug, Subcommand)]
pub enum ClassifyCommand {
    /// Train a classifier on the embeddings of labelled stored images and save it in the store.
    Train(TrainArgs),
    /// Label image files or folders with the saved classifier (images need not be indexed).
    #[command(after_help = "Examples:
  imgdex classify predict new/ photo.jpg
  imgdex classify predict new/ --json")]
    Predict {
        /// Image files and folders to label (folders recursively).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        decode: DecodeArgs,
        #[command(flatten)]
        model: ModelArgs,
        /// Print the labels as JSON on stdout (for scripts) instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  imgdex classify train                              # folder names as labels, 20% held out
  imgdex classify train --labels labels.csv --method knn
  imgdex classify train --split split.csv --json")]
pub struct TrainArgs {
    /// "folder" (each image's parent folder name) or a CSV with path,label columns.
    #[arg(long, default_value = "folder", value_name = "folder|FILE.csv")]
    pub labels: String,
    /// Fraction of each class held out for validation (stratified).
    #[arg(long, default_value_t = 0.2, conflicts_with = "split")]
    pub val_fraction: f64,
    /// Use this split instead: a CSV with path,split (train/val) columns.
    #[arg(long, value_name = "FILE.csv")]
    pub split: Option<PathBuf>,
    /// Classifier: auto (train logistic regression and kNN, keep the one
    /// better on validation), logistic or knn.
    #[arg(long, value_enum, default_value_t = MethodArg::Auto)]
    pub method: MethodArg,
    /// L2 penalty of the logistic regression (1/C in scikit-learn terms).
    #[arg(long, default_value_t = 1.0)]
    pub alpha: f64,
    /// L-BFGS iterations of the logistic regression.
    #[arg(long, default_value_t = 100)]
    pub max_iter: u64,
    /// Do not standardise the embedding dimensions before the logistic regression.
    #[arg(long)]
    pub no_standardize: bool,
    /// Seed of the split and of every other random choice.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print the report as JSON on stdout (for scripts) instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MethodArg {
    Auto,
    Logistic,
    Knn,
}

impl From<ClusterByArg> for FeatureKind {
    fn from(a: ClusterByArg) -> Self {
        match a {
            ClusterByArg::Embedding => FeatureKind::Embedding,
            ClusterByArg::Histogram => FeatureKind::Histogram,
        }
    }
}

impl From<ClustersFormat> for ExportFormat {
    fn from(a: ClustersFormat) -> Self {
        match a {
            ClustersFormat::Csv => ExportFormat::Csv,
            ClustersFormat::Json => ExportFormat::Json,
        }
    }
}

impl From<FeaturesFormat> for ExportFormat {
    fn from(a: FeaturesFormat) -> Self {
        match a {
            FeaturesFormat::Csv => ExportFormat::Csv,
            FeaturesFormat::Npy => ExportFormat::Npy,
            FeaturesFormat::Parquet => ExportFormat::Parquet,
        }
    }
}

impl From<FeatureArg> for FeatureChoice {
    fn from(a: FeatureArg) -> Self {
        match a {
            FeatureArg::All => FeatureChoice::All,
            FeatureArg::Hash => FeatureChoice::Hash,
            FeatureArg::Histogram => FeatureChoice::Histogram,
            FeatureArg::Embedding => FeatureChoice::Embedding,
        }
    }
}

impl From<MethodArg> for MethodChoice {
    fn from(a: MethodArg) -> Self {
        match a {
            MethodArg::Auto => MethodChoice::Auto,
            MethodArg::Logistic => MethodChoice::Only(Method::Logistic),
            MethodArg::Knn => MethodChoice::Only(Method::Knn),
        }
    }
}
