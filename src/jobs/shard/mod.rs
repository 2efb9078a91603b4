//! Shards: a store's image records as one self-describing Apache Parquet
//! file, so that feature extraction can run anywhere (other machines, Ray or
//! Spark workers, the Python package) and `ingest` can rebuild a store from
//! the files without decoding a single image. A shard holds the columns of
//! `export features --format parquet` plus everything a record needs (raw
//! path bytes, size, mtime, the dupe vector), and names in its key-value
//! metadata the format version and the feature fingerprints its columns were
//! made under, so mixing features of different models or settings is caught.
//!
//! Layout, format version [`VERSION`] (frozen fixtures:
//! `tests/fixtures/formats/shard_v1.parquet`, `shard_v2.parquet`; version 1
//! had no `signature` column and is still read):
//!
//! | column | type | notes |
//! | --- | --- | --- |
//! | `path` | Utf8 | display form (lossy UTF-8), as `export` writes it |
//! | `digest` | Utf8 | BLAKE3 of the file, 64 hex digits |
//! | `width`, `height` | UInt32 | original pixel size |
//! | `format` | Utf8 | decoder name (`png`, `jpeg`, ...) |
//! | `phash`, `dhash`, `ahash` | UInt64, nullable | null: no hashes |
//! | `histogram` | FixedSizeList<Float32>[3·bins], nullable | |
//! | `embedding` | FixedSizeList<Float32>[dim], nullable | f16 values as stored, widened exactly |
//! | `path_bytes` | Binary | the path's raw OS bytes (what `ingest` uses) |
//! | `size` | UInt64 | file size in bytes |
//! | `mtime_ns` | Int64 | modification time, ns since the epoch |
//! | `dupe` | FixedSizeList<Float32>[d], nullable | the model's separate dupe vector, when it has one |
//! | `signature` | Binary, nullable | the copy signature record `dupes` verifies pairs with, as stored (versioned, carrying its own fingerprint) |
//!
//! `histogram`, `embedding` and `dupe` are left out when no row has one.
//! Metadata keys: [`KEY_VERSION`], `imgdex.fingerprint.<feature>` for
//! `hash`, `histogram` and (with embeddings) `embedding`, and [`KEY_ROOTS`]
//! (a JSON list of the folders the rows were indexed under).

use std::collections::HashMap;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef};

use crate::error::Result;
use crate::store::record::fingerprint_code;
use crate::store::signatures::SignatureRecord;
use crate::store::{EmbeddingRecord, ImageRecord, Store};

mod read;
mod write;

pub use read::{read_rows, ShardFile};
pub use write::{store_batches, to_batch, write_file, write_store, ROW_GROUP};

/// The shard format version this build writes and reads.
pub const VERSION: u32 = 2;
/// The oldest shard format version this build reads.
pub const OLDEST: u32 = 1;
/// Metadata key of the format version.
pub const KEY_VERSION: &str = "imgdex.shard.version";
/// Metadata key prefix of the feature fingerprints.
pub const KEY_FINGERPRINT: &str = "imgdex.fingerprint.";
/// Metadata key of the roots (JSON list of strings).
pub const KEY_ROOTS: &str = "imgdex.roots";

/// One image as a shard row: its record and, if it has them, its
/// embedding and its copy signature.
pub type Row = (
    ImageRecord,
    Option<EmbeddingRecord>,
    Option<SignatureRecord>,
);

/// The feature fingerprint strings a shard's columns were made under.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fingerprints {
    pub hash: Option<String>,
    pub histogram: Option<String>,
    pub embedding: Option<String>,
}

impl Fingerprints {
    /// The store's current fingerprints.
    pub fn of_store(store: &Store) -> Result<Fingerprints> {
        Ok(Fingerprints {
            hash: store.fingerprint("hash")?,
            histogram: store.fingerprint("histogram")?,
            embedding: store.fingerprint("embedding")?,
        })
    }

    /// (feature, fingerprint) pairs that are set.
    pub fn named(&self) -> Vec<(&'static str, &str)> {
        [
            ("hash", &self.hash),
            ("histogram", &self.histogram),
            ("embedding", &self.embedding),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
        .collect()
    }

    fn code(s: &Option<String>) -> Option<u32> {
        s.as_deref().map(fingerprint_code)
    }

    pub(crate) fn codes(&self) -> [Option<u32>; 3] {
        [
            Self::code(&self.hash),
            Self::code(&self.histogram),
            Self::code(&self.embedding),
        ]
    }
}

/// What a shard's metadata says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShardMeta {
    pub fingerprints: Fingerprints,
    /// Folders the rows were indexed under (display form).
    pub roots: Vec<String>,
}

impl ShardMeta {
    /// As key-value metadata.
    pub fn to_kv(&self) -> HashMap<String, String> {
        let mut kv = HashMap::new();
        kv.insert(KEY_VERSION.to_string(), VERSION.to_string());
        for (k, v) in self.fingerprints.named() {
            kv.insert(format!("{KEY_FINGERPRINT}{k}"), v.to_string());
        }
        let roots = serde_json::to_string(&self.roots).expect("strings serialise");
        kv.insert(KEY_ROOTS.to_string(), roots);
        kv
    }
}

/// Lengths of the list columns (0: column left out).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shape {
    pub bins: usize,
    pub dim: usize,
    pub dupe: usize,
}

impl Shape {
    /// Read off the first row that has each list.
    pub fn of_rows(rows: &[Row]) -> Shape {
        let mut s = Shape::default();
        for (r, e, _) in rows {
            if s.bins == 0 {
                s.bins = r.histogram.as_ref().map_or(0, |h| h.value.values.len());
            }
            if let (0, Some(e)) = (s.dim, e) {
                s.dim = e.data.len();
                s.dupe = e.dupe.len();
            }
        }
        s
    }

    /// The Arrow schema of a shard of this shape with `meta` attached.
    pub fn schema(&self, meta: &ShardMeta) -> SchemaRef {
        let mut fields = crate::jobs::export::base_fields();
        for (name, n) in [("histogram", self.bins), ("embedding", self.dim)] {
            if n > 0 {
                fields.push(Field::new(name, list_type(n), true));
            }
        }
        fields.push(Field::new("path_bytes", DataType::Binary, false));
        fields.push(Field::new("size", DataType::UInt64, false));
        fields.push(Field::new("mtime_ns", DataType::Int64, false));
        if self.dupe > 0 {
            fields.push(Field::new("dupe", list_type(self.dupe), true));
        }
        fields.push(Field::new("signature", DataType::Binary, true));
        Arc::new(Schema::new(fields).with_metadata(meta.to_kv()))
    }
}

pub(crate) fn list_type(n: usize) -> DataType {
    DataType::FixedSizeList(
        Arc::new(Field::new("item", DataType::Float32, false)),
        n as i32,
    )
}
