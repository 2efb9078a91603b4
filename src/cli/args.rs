//! Command-line syntax (clap derive). Nothing here knows how jobs run; the
//! parent module converts these into library configs.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use super::common_args::{DecodeArgs, ModelArgs};
use imgdex::jobs::dupes::{DupesBy, Neighbours};
use imgdex::jobs::query::QueryBy;

#[derive(Debug, Parser)]
#[command(
    name = "imgdex",
    version,
    about = "Index a folder of images; find near-duplicates and similar images.",
    after_help = "Examples:
  imgdex index ~/Pictures                      # build or update the store (./imgdex.db)
  imgdex dupes --report dupes.html             # groups of near-duplicates, a page to review
  imgdex decide not-duplicate a.jpg b.jpg      # never group these two again
  imgdex dupes --reference ~/Pictures/Camera --apply trash --dry-run
  imgdex query photo.jpg -k 5                  # the 5 most similar stored images
  imgdex serve --open                          # the web UI: search, review, apply, undo"
)]
pub struct Args {
    /// Store directory [default: imgdex.db; for `undo`, the store the
    /// journal was written for].
    #[arg(long, global = true, env = "IMGDEX_DB")]
    pub db: Option<PathBuf>,
    /// No progress bar or notices on stderr.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Index (or re-index) image files and folders.
    Index(IndexArgs),
    /// Summarise the store.
    Info(InfoArgs),
    /// Stored images nearest to IMAGE (which need not be indexed).
    Query(QueryArgs),
    /// Groups of near-duplicate images in the store (and acting on them with --apply).
    Dupes(DupesArgs),
    /// Record review decisions `dupes` honours: not duplicates, a chosen keeper, reviewed.
    Decide(super::decide::DecideArgs),
    /// Reverse the actions recorded in a `dupes --apply` journal.
    Undo(UndoArgs),
    /// Rebuild a damaged store: move its files aside, keep what can still
    /// be read, re-index its folders (apply journals are kept).
    Repair(RepairArgs),
    /// Hashes and histogram of one image.
    Inspect(InspectArgs),
    /// Serve the store over HTTP: a JSON API and a web UI to search and review duplicates.
    Serve(ServeArgs),
    /// K-means clusters of the stored images (or of a CSV table's rows), k chosen by the elbow.
    Cluster(super::learn_args::ClusterArgs),
    /// Write the saved clusters, or the stored features, for other tools.
    Export(super::learn_args::ExportArgs),
    /// Train a classifier on labelled stored images, or label image files with it.
    Classify(super::learn_args::ClassifyArgs),
    /// Build or update the store from shards (`export shard`, the Python package, a cluster) without decoding images.
    Ingest(super::shard::IngestArgs),
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  imgdex index ~/Pictures ~/Downloads      # index (or update) two folders
  imgdex index --no-embed photos/          # hashes and histograms only, no CNN model")]
pub struct IndexArgs {
    /// Image files and folders to index (folders recursively).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub opts: IndexOpts,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  imgdex repair                            # rebuild from the folders the store had indexed
  imgdex repair ~/Pictures --no-embed      # rebuild from this folder, without the CNN model")]
pub struct RepairArgs {
    /// Folders to index into the fresh store (default: the folders the
    /// damaged store had indexed).
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub opts: IndexOpts,
}

/// How to index: shared by `index` and `repair`.
#[derive(Debug, clap::Args)]
pub struct IndexOpts {
    /// Worker threads (default: one per core).
    #[arg(long, short = 'j', default_value_t = 0)]
    pub jobs: usize,
    /// Histogram bins per colour channel.
    #[arg(long, default_value_t = 32)]
    pub bins: u16,
    /// Images per inference batch.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// ONNX Runtime intra-op threads per session (default: cores ÷ sessions).
    #[arg(long, default_value_t = 0, hide = true)]
    pub ort_threads: usize,
    /// ONNX Runtime sessions embedding batches side by side (default: one
    /// per core, at most 4; or cores ÷ --ort-threads).
    #[arg(long, default_value_t = 0, hide = true)]
    pub ort_sessions: usize,
    #[command(flatten)]
    pub decode: DecodeArgs,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Print the report as JSON on stdout (for scripts) instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  imgdex info                              # roots, counts, sizes, failures of ./imgdex.db
  imgdex --db ~/photos.db info --json      # the same as JSON, for scripts")]
pub struct InfoArgs {
    /// Print the report as JSON on stdout (for scripts) instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  imgdex query photo.jpg                   # by CNN embedding when the store has them
  imgdex query photo.jpg --by hash -k 20   # by perceptual hash, 20 results")]
pub struct QueryArgs {
    /// The query image file (it need not be indexed).
    pub image: PathBuf,
    /// How many nearest stored images to list.
    #[arg(short, default_value_t = 10)]
    pub k: usize,
    /// auto: by CNN embedding when the store has embeddings, else by hash.
    #[arg(long, value_enum, default_value_t = QueryByArg::Auto)]
    pub by: QueryByArg,
    #[command(flatten)]
    pub decode: DecodeArgs,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Print the report as JSON on stdout (for scripts) instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  imgdex dupes                                         # list the groups and their keepers
  imgdex dupes --preset strict --report review.html    # fewer, surer groups; a review page
  imgdex dupes --reference ~/Pictures/Camera --apply move:/tmp/dupes --dry-run
  imgdex dupes --apply trash                           # then: imgdex undo JOURNAL
Decisions stored with `imgdex decide` (not duplicates, a chosen keeper) are honoured.")]
pub struct DupesArgs {
    /// Thresholds preset: exact (identical bytes), strict (re-encodes,
    /// resizes, small edits), default, loose; explicit threshold flags override it.
    #[arg(long, value_parser = parse_preset)]
    pub preset: Option<imgdex::jobs::dupes::Preset>,
    /// auto: CNN embeddings fused with hashes when the store has embeddings
    /// [default: auto, or exact with --preset exact].
    #[arg(long, value_enum)]
    pub by: Option<DupesByArg>,
    /// Maximum pHash Hamming distance (bits of 64); also the dHash limit unless --dhash-threshold is given [default: 12, or the preset's].
    #[arg(long)]
    pub threshold: Option<u32>,
    /// Maximum dHash Hamming distance (bits of 64) [default: 12, or the preset's].
    #[arg(long)]
    pub dhash_threshold: Option<u32>,
    /// CNN cosine distance at or below which a pair is a duplicate on its own [default: 0.08, or the preset's].
    #[arg(long)]
    pub max_cosine: Option<f32>,
    /// CNN cosine distance within which a pair is a duplicate if its pHash is within --weak-phash bits [default: 0.14, or the preset's].
    #[arg(long)]
    pub weak_cosine: Option<f32>,
    /// pHash distance (bits of 64) within which a pair within --weak-cosine
    /// is a duplicate [default: 22, or the preset's].
    #[arg(long)]
    pub weak_phash: Option<u32>,
    /// Also require colour histograms within this Hellinger distance (0..1; strict: 0.08).
    #[arg(long)]
    pub max_histogram: Option<f32>,
    /// How embedding neighbours are found: auto (exact scan below 10,000
    /// images, else the HNSW graph's neighbour lists), exact, graph, or
    /// search (one HNSW search per image: slower, for comparison).
    #[arg(long, value_enum, default_value_t = DupesAnnArg::Auto)]
    pub ann: DupesAnnArg,
    /// Include every candidate pair with its evidence in the JSON output.
    #[arg(long)]
    pub pairs: bool,
    /// Write a self-contained HTML page with thumbnails per group for review.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Reference folder (repeatable): its files win the keeper choice and
    /// are never acted on, with --apply or otherwise.
    #[arg(long, value_name = "DIR")]
    pub reference: Vec<PathBuf>,
    #[command(flatten)]
    pub act: super::apply::ApplyArgs,
    /// Print the report as JSON on stdout (for scripts) instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  imgdex undo imgdex.db/journal/20261206T220234Z-move.jsonl   # put the moved files back
  imgdex undo JOURNAL --json                                  # the same, report as JSON")]
pub struct UndoArgs {
    /// The journal a `dupes --apply` run wrote (its path is in that run's report).
    pub journal: PathBuf,
    /// Print the report as JSON on stdout (for scripts) instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  imgdex inspect photo.jpg                 # its hashes and colour histogram
  imgdex inspect photo.jpg --plot hist.png # and its three channel histograms drawn")]
pub struct InspectArgs {
    /// The image file to analyse (no store needed).
    pub image: PathBuf,
    /// Draw the three channel histograms to this PNG file.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    #[command(flatten)]
    pub decode: DecodeArgs,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Print the report as JSON on stdout (for scripts) instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  imgdex serve --open                              # http://127.0.0.1:7878 in the browser
  imgdex serve --reference ~/Pictures/Camera       # Camera/ files are never acted on")]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the first line of
    /// stdout says which).
    #[arg(long, default_value = "127.0.0.1:7878")]
    pub addr: std::net::SocketAddr,
    /// Open the UI in the default browser (xdg-open).
    #[arg(long)]
    pub open: bool,
    /// ONNX Runtime sessions for uploaded query images (each ~160 MiB with the float model, less with the int8 one).
    #[arg(long, default_value_t = 2)]
    pub sessions: usize,
    /// Thumbnail cache bound, in MiB.
    #[arg(long, default_value_t = 64)]
    pub thumb_cache_mb: usize,
    /// Largest accepted upload (query image), in MiB.
    #[arg(long, default_value_t = 64)]
    pub max_upload_mb: usize,
    /// Also answer requests whose Host header is NAME (repeatable); by
    /// default only the bound address and localhost are answered.
    #[arg(long, value_name = "NAME")]
    pub allow_host: Vec<String>,
    /// Allow an --addr other than loopback (the server can then be reached
    /// from other machines).
    #[arg(long)]
    pub allow_remote: bool,
    /// Write the API token to FILE (mode 0600) for scripts, besides printing it.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Reference folder (repeatable): its files win the keeper choice in
    /// the Duplicates tab and are never acted on.
    #[arg(long, value_name = "DIR")]
    pub reference: Vec<PathBuf>,
    #[command(flatten)]
    pub decode: DecodeArgs,
    #[command(flatten)]
    pub model: ModelArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum QueryByArg {
    Auto,
    Hash,
    Histogram,
    Embedding,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DupesAnnArg {
    Auto,
    Exact,
    Graph,
    Search,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DupesByArg {
    Auto,
    Embedding,
    Hash,
    Exact,
}

fn parse_preset(s: &str) -> Result<imgdex::jobs::dupes::Preset, imgdex::Error> {
    s.parse()
}

impl From<QueryByArg> for QueryBy {
    fn from(a: QueryByArg) -> Self {
        match a {
            QueryByArg::Auto => QueryBy::Auto,
            QueryByArg::Hash => QueryBy::Hash,
            QueryByArg::Histogram => QueryBy::Histogram,
            QueryByArg::Embedding => QueryBy::Embedding,
        }
    }
}

impl From<DupesByArg> for DupesBy {
    fn from(a: DupesByArg) -> Self {
        match a {
            DupesByArg::Auto => DupesBy::Auto,
            DupesByArg::Embedding => DupesBy::Embedding,
            DupesByArg::Hash => DupesBy::Hash,
            DupesByArg::Exact => DupesBy::Exact,
        }
    }
}

impl From<DupesAnnArg> for Neighbours {
    fn from(a: DupesAnnArg) -> Self {
        match a {
            DupesAnnArg::Auto => Neighbours::Auto,
            DupesAnnArg::Exact => Neighbours::Exact,
            DupesAnnArg::Graph => Neighbours::Graph,
            DupesAnnArg::Search => Neighbours::Search,
        }
    }
}
