//! The library's single error type. Every variant names the file, record or
//! dimension involved so that a message printed to a user says what to fix;
//! the binary wraps these in `anyhow` only at the very top.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("store {path} is locked by another imgdex process (an `imgdex serve` holds its store for as long as it runs: use its API, or stop it first)")]
    StoreLocked { path: PathBuf },

    #[error("store {path}: {source}")]
    Store {
        path: PathBuf,
        #[source]
        source: sled::Error,
    },

    #[error("store {} is damaged ({detail}); `imgdex repair` moves the damaged files aside and rebuilds the store from the image files, keeping the apply journals", path.display())]
    StoreDamaged { path: PathBuf, detail: String },

    #[error("store {path} has schema version {found}, but this imgdex supports up to {supported}; upgrade imgdex")]
    SchemaTooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
    },

    /// (`error` is in the message and deliberately not a `#[source]`, so an
    /// `anyhow` chain prints it once, as before it was typed.)
    #[error("migration {step} on store {path} failed: {error}")]
    Migration {
        path: PathBuf,
        step: &'static str,
        error: sled::Error,
    },

    #[error("corrupt value in tree `{tree}` at key {key}: {reason}")]
    CorruptRecord {
        tree: &'static str,
        key: String,
        reason: String,
    },

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{}: not a regular file ({kind})", path.display())]
    NotAFile { path: PathBuf, kind: &'static str },

    #[error("{}: file is {size} bytes, over the {limit}-byte limit", path.display())]
    FileTooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },

    #[error("{}: unsupported format ({format})", path.display())]
    Unsupported { path: PathBuf, format: String },

    #[error("{}: {width}x{height} pixels is over the limit of {limit} pixels (possible decompression bomb)", path.display())]
    TooManyPixels {
        path: PathBuf,
        width: u32,
        height: u32,
        limit: u64,
    },

    #[error("{}: cannot decode: {reason}", path.display())]
    Decode { path: PathBuf, reason: String },

    #[error("{}: {stage} panicked on this file", path.display())]
    Panicked { path: PathBuf, stage: &'static str },

    #[error("inconsistent {what}: {reason}")]
    InvalidModel { what: &'static str, reason: String },

    #[error("{what}: expected dimension {expected}, got {got}")]
    Dimension {
        what: String,
        expected: usize,
        got: usize,
    },

    /// Bad input from the user (a flag, a request parameter, a query
    /// image without the needed feature); nothing else.
    #[error("{0}")]
    InvalidArgument(String),

    /// A request's setting out of range or unknown, named as the library
    /// names it (`max_histogram`); the CLI words it as its flag.
    #[error("{setting} {reason}")]
    InvalidSetting {
        setting: &'static str,
        reason: String,
    },

    /// An apply journal of another store: undo it with that store open.
    #[error("journal {}: written for store {db}, not {here}; undo it on that store", path.display())]
    JournalOfOtherStore {
        path: PathBuf,
        db: String,
        here: String,
    },

    /// No store in the directory a request opened (and it may not create one).
    #[error("no imgdex store at {}; run `imgdex index <DIR>` first", path.display())]
    NoStore { path: PathBuf },

    /// A task needs the CNN model and the request turned embedding off.
    #[error("{task} needs the CNN model, and embedding is off")]
    NoModel { task: &'static str },

    /// The store was indexed with embedding off and the request needs
    /// embeddings.
    #[error("the store has no embeddings; index it with embedding on")]
    NoEmbeddings,

    #[error("cannot start worker threads: {reason}")]
    ThreadPool { reason: String },

    #[error("cannot write CSV: {reason}")]
    Csv { reason: String },

    #[error("no trash: neither XDG_DATA_HOME nor HOME is set")]
    NoTrash,

    /// The resident session pool is closed (the server is shutting down).
    #[error("no ONNX Runtime session")]
    NoSession,

    /// A state the code rules out was reached: a bug, not bad input.
    #[error("{0}")]
    Internal(&'static str),

    #[error("{}: {reason}", path.display())]
    Model { path: PathBuf, reason: String },

    #[error("{}: cannot draw plot: {reason}", path.display())]
    Plot { path: PathBuf, reason: String },

    #[error("{}: cannot write the export: {reason}", path.display())]
    Export { path: PathBuf, reason: String },

    #[error("store {} has no {feature} features{hint}", path.display())]
    NoFeatures {
        path: PathBuf,
        feature: &'static str,
        hint: String,
    },

    #[error("k = {k} is more than the {n} {what} there are to cluster")]
    TooFewSamples { what: String, k: usize, n: usize },

    #[error("{}{}: {reason}", path.display(), line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Table {
        path: PathBuf,
        line: Option<u64>,
        reason: String,
    },

    #[error("{}: no column `{column}` (the columns are: {available})", path.display())]
    UnknownColumn {
        path: PathBuf,
        column: String,
        available: String,
    },

    #[error("classification needs at least two labels, but all {n} labelled images have the label `{label}`")]
    SingleLabel { label: String, n: usize },

    #[error("cannot fit {what}: {reason}")]
    Fit { what: String, reason: String },

    #[error("{what} is not in the store")]
    NotInStore { what: String },

    #[error("{}: not an indexed image of this store (a decision names indexed images; index the file first)", path.display())]
    NotIndexed { path: PathBuf },

    #[error("{}: outside the store's indexed roots; not served", path.display())]
    OutsideRoots { path: PathBuf },

    #[error("{}: {reason} since it was indexed; not served (re-index first)", path.display())]
    FileChanged { path: PathBuf, reason: String },

    #[error("{}: {reason}; left untouched", path.display())]
    NotTouched { path: PathBuf, reason: String },

    #[error("the store is busy ({task} is running); try again when it has finished")]
    Busy { task: &'static str },

    /// (The CLI words it as its flag, `--yes`.)
    #[error("`{action}` cannot be undone; confirm it with yes: true")]
    NeedsConfirmation { action: &'static str },

    #[error("journal {}{}: {reason}", path.display(), line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Journal {
        path: PathBuf,
        line: Option<u64>,
        reason: String,
    },

    #[error("store {} has no saved {what}; run `imgdex {command}` first", path.display())]
    NoResult {
        path: PathBuf,
        what: &'static str,
        command: &'static str,
    },

    #[error("{}: not an imgdex shard: {reason}", path.display())]
    Shard { path: PathBuf, reason: String },

    /// Two feature sources (shards, a store) made under different settings.
    #[error("{feature} fingerprints differ: {left} has `{left_value}`, {right} has `{right_value}`; features made under different settings cannot share a store")]
    FingerprintMismatch {
        feature: String,
        left: String,
        left_value: String,
        right: String,
        right_value: String,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// Why stored bytes are not a valid record envelope (see
/// `store::record::decode`); the store reports it as the `reason` of an
/// [`Error::CorruptRecord`] naming the tree and key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("value is {len} bytes, too short")]
    TooShort { len: usize },
    #[error("checksum mismatch (stored {stored:08x}, computed {computed:08x})")]
    Checksum { stored: u32, computed: u32 },
    #[error("cannot decode (version byte {version}): {reason}")]
    Layout { version: u8, reason: String },
}

impl RecordError {
    /// Whether the message contains `needle`: the check callers made on
    /// the plain-string reason this type replaced.
    pub fn contains(&self, needle: &str) -> bool {
        self.to_string().contains(needle)
    }
}
