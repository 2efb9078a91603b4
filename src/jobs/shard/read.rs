//! Reading shards back: the metadata first (version, fingerprints, roots),
//! so `ingest` can check every file before it writes anything, then the rows
//! batch by batch as store records. Lenient about what other writers
//! (pyarrow, Ray, Spark) may have done to the column types: large
//! strings and binaries and variable-size lists are read as well.

use std::fs::File;
use std::path::{Path, PathBuf};

use ::parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Int64Type, UInt32Type, UInt64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;

use super::{
    Fingerprints, Row, ShardMeta, KEY_FINGERPRINT, KEY_ROOTS, KEY_VERSION, OLDEST, VERSION,
};
use crate::error::{Error, Result};
use crate::features::{Hashes, Histogram};
use crate::store::record;
use crate::store::signatures::StoredSignature;
use crate::store::{EmbeddingRecord, ImageRecord, Tagged};

/// An opened shard: its metadata, and its rows still on disk.
pub struct ShardFile {
    pub path: PathBuf,
    pub meta: ShardMeta,
    pub rows: usize,
    builder: ParquetRecordBatchReaderBuilder<File>,
}

impl ShardFile {
    /// Open `path` and read its metadata; refuses files that are not
    /// shards of a version this build reads.
    pub fn open(path: &Path) -> Result<ShardFile> {
        let bad = |reason: String| Error::Shard {
            path: path.to_path_buf(),
            reason,
        };
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| bad(e.to_string()))?;
        let md = builder.metadata().file_metadata();
        let get = |k: &str| {
            md.key_value_metadata()
                .and_then(|kv| kv.iter().find(|e| e.key == k))
                .and_then(|e| e.value.clone())
        };
        let version =
            get(KEY_VERSION).ok_or_else(|| bad(format!("no `{KEY_VERSION}` metadata")))?;
        if !version
            .trim()
            .parse::<u32>()
            .is_ok_and(|v| (OLDEST..=VERSION).contains(&v))
        {
            return Err(bad(format!(
                "shard format version {version}, this imgdex reads versions {OLDEST} to {VERSION}"
            )));
        }
        let fp = |f: &str| get(&format!("{KEY_FINGERPRINT}{f}"));
        let roots = match get(KEY_ROOTS) {
            Some(s) => serde_json::from_str(&s).map_err(|e| bad(format!("`{KEY_ROOTS}`: {e}")))?,
            None => Vec::new(),
        };
        let meta = ShardMeta {
            fingerprints: Fingerprints {
                hash: fp("hash"),
                histogram: fp("histogram"),
                embedding: fp("embedding"),
            },
            roots,
        };
        let rows = md.num_rows().max(0) as usize;
        Ok(ShardFile {
            path: path.to_path_buf(),
            meta,
            rows,
            builder,
        })
    }

    /// The record batches, in file order.
    pub fn batches(self) -> Result<(PathBuf, ShardMeta, ParquetRecordBatchReader)> {
        let reader = self.builder.build().map_err(|e| Error::Shard {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        Ok((self.path, self.meta, reader))
    }
}

/// The columns of one batch, each as one value per row.
struct Cols {
    paths: Vec<Option<Vec<u8>>>,
    digest: Vec<Option<Vec<u8>>>,
    format: Vec<Option<Vec<u8>>>,
    width: Vec<Option<u32>>,
    height: Vec<Option<u32>>,
    size: Vec<Option<u64>>,
    mtime: Vec<Option<i64>>,
    hashes: [Vec<Option<u64>>; 3],
    /// histogram, embedding, dupe
    lists: Vec<Vec<Option<Vec<f32>>>>,
    /// Encoded signature records (all `None` in a version 1 shard).
    signatures: Vec<Option<Vec<u8>>>,
}

impl Cols {
    fn of(batch: &RecordBatch, path: &Path) -> Result<Cols> {
        let bad = |reason: String| Error::Shard {
            path: path.to_path_buf(),
            reason,
        };
        let n = batch.num_rows();
        let col = |name: &str| -> Result<&ArrayRef> {
            batch
                .column_by_name(name)
                .ok_or_else(|| bad(format!("no column `{name}`")))
        };
        let bytes = |name: &str| -> Result<Vec<Option<Vec<u8>>>> {
            binary(col(name)?)
                .ok_or_else(|| bad(format!("`{name}` is not a string or binary column")))
        };
        let prim = |name: &str, want: DataType, optional: bool| -> Result<Option<&ArrayRef>> {
            match batch.column_by_name(name) {
                None if optional => Ok(None),
                None => Err(bad(format!("no column `{name}`"))),
                Some(c) if c.data_type() == &want => Ok(Some(c)),
                Some(c) => Err(bad(format!(
                    "`{name}` is {}, expected {want}",
                    c.data_type()
                ))),
            }
        };
        let u32s = |name: &str| -> Result<Vec<Option<u32>>> {
            let c = prim(name, DataType::UInt32, false)?.expect("required");
            Ok(c.as_primitive::<UInt32Type>().iter().collect())
        };
        let u64s = |name: &str, optional: bool| -> Result<Vec<Option<u64>>> {
            Ok(match prim(name, DataType::UInt64, optional)? {
                Some(c) => c.as_primitive::<UInt64Type>().iter().collect(),
                None => vec![None; n],
            })
        };
        let mtime = prim("mtime_ns", DataType::Int64, false)?.expect("required");
        let lists = float_lists(batch, &bad)?;
        Ok(Cols {
            paths: bytes(if batch.column_by_name("path_bytes").is_some() {
                "path_bytes"
            } else {
                "path"
            })?,
            digest: bytes("digest")?,
            format: bytes("format")?,
            width: u32s("width")?,
            height: u32s("height")?,
            size: u64s("size", false)?,
            mtime: mtime.as_primitive::<Int64Type>().iter().collect(),
            hashes: [
                u64s("phash", true)?,
                u64s("dhash", true)?,
                u64s("ahash", true)?,
            ],
            lists,
            signatures: signatures(batch, &bad)?,
        })
    }
}

/// The encoded signature records (all `None` in a version 1 shard).
fn signatures(batch: &RecordBatch, bad: &impl Fn(String) -> Error) -> Result<Vec<Option<Vec<u8>>>> {
    match batch.column_by_name("signature") {
        Some(c) => binary(c).ok_or_else(|| bad("`signature` is not a binary column".into())),
        None => Ok(vec![None; batch.num_rows()]),
    }
}

/// The histogram, embedding and dupe columns (all `None` when absent).
fn float_lists(
    batch: &RecordBatch,
    bad: &dyn Fn(String) -> Error,
) -> Result<Vec<Vec<Option<Vec<f32>>>>> {
    let n = batch.num_rows();
    let mut lists = Vec::with_capacity(3);
    for name in ["histogram", "embedding", "dupe"] {
        lists.push(match batch.column_by_name(name) {
            None => vec![None; n],
            Some(c) => {
                floats(c).ok_or_else(|| bad(format!("`{name}` is not a list of Float32")))?
            }
        });
    }
    Ok(lists)
}

/// The rows of one batch as store records, tagged with `meta`'s fingerprints.
pub fn read_rows(batch: &RecordBatch, meta: &ShardMeta, path: &Path) -> Result<Vec<Row>> {
    let c = Cols::of(batch, path)?;
    (0..batch.num_rows())
        .map(|i| row(&c, i, meta.fingerprints.codes()))
        .collect::<Option<Vec<Row>>>()
        .ok_or_else(|| Error::Shard {
            path: path.to_path_buf(),
            reason: "a row has a null path, digest, size, mtime or dimension, or a bad digest"
                .into(),
        })
}

/// Row `i` (`None`: a required value is missing or malformed).
fn row(c: &Cols, i: usize, [hc, gc, ec]: [Option<u32>; 3]) -> Option<Row> {
    let hashes = match (hc, c.hashes[0][i], c.hashes[1][i], c.hashes[2][i]) {
        (Some(fingerprint), Some(phash), Some(dhash), Some(ahash)) => Some(Tagged {
            fingerprint,
            value: Hashes {
                phash,
                dhash,
                ahash,
            },
        }),
        _ => None,
    };
    let histogram = gc
        .zip(c.lists[0][i].clone())
        .map(|(fingerprint, values)| Tagged {
            fingerprint,
            value: Histogram {
                bins: (values.len() / 3) as u16,
                values,
            },
        });
    let embedding = ec
        .zip(c.lists[1][i].as_deref())
        .map(|(code, v)| EmbeddingRecord::with_dupe(code, v, c.lists[2][i].as_deref()));
    let record = ImageRecord {
        taken: None,
        path: c.paths[i].clone()?,
        size: c.size[i]?,
        mtime_ns: c.mtime[i]?,
        digest: parse_digest(c.digest[i].as_deref()?)?,
        width: c.width[i]?,
        height: c.height[i]?,
        format: String::from_utf8_lossy(c.format[i].as_deref().unwrap_or_default()).into_owned(),
        hashes,
        histogram,
    };
    let signature = c.signatures[i].as_deref().and_then(|b| {
        record::decode::<StoredSignature>(b)
            .ok()
            .map(StoredSignature::into_record)
    });
    Some((record, embedding, signature))
}

/// A string or binary column of any offset width as byte strings.
fn binary(c: &ArrayRef) -> Option<Vec<Option<Vec<u8>>>> {
    let v = match c.data_type() {
        DataType::Binary => c
            .as_binary::<i32>()
            .iter()
            .map(|b| b.map(<[u8]>::to_vec))
            .collect(),
        DataType::LargeBinary => c
            .as_binary::<i64>()
            .iter()
            .map(|b| b.map(<[u8]>::to_vec))
            .collect(),
        DataType::Utf8 => c
            .as_string::<i32>()
            .iter()
            .map(|s| s.map(|s| s.as_bytes().to_vec()))
            .collect(),
        DataType::LargeUtf8 => c
            .as_string::<i64>()
            .iter()
            .map(|s| s.map(|s| s.as_bytes().to_vec()))
            .collect(),
        DataType::Utf8View => c
            .as_string_view()
            .iter()
            .map(|s| s.map(|s| s.as_bytes().to_vec()))
            .collect(),
        DataType::BinaryView => c
            .as_binary_view()
            .iter()
            .map(|b| b.map(<[u8]>::to_vec))
            .collect(),
        _ => return None,
    };
    Some(v)
}

/// A fixed- or variable-size list of Float32 as one vector per row.
fn floats(c: &ArrayRef) -> Option<Vec<Option<Vec<f32>>>> {
    let values = |a: Option<ArrayRef>| -> Option<Option<Vec<f32>>> {
        match a {
            None => Some(None),
            Some(a) if a.data_type() == &DataType::Float32 => {
                Some(Some(a.as_primitive::<Float32Type>().values().to_vec()))
            }
            Some(_) => None,
        }
    };
    match c.data_type() {
        DataType::FixedSizeList(..) => c.as_fixed_size_list().iter().map(values).collect(),
        DataType::List(_) => c.as_list::<i32>().iter().map(values).collect(),
        DataType::LargeList(_) => c.as_list::<i64>().iter().map(values).collect(),
        _ => None,
    }
}

fn parse_digest(hex: &[u8]) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in hex.chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}
