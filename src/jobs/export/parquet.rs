//! `export features --format parquet`: the store as one Apache Parquet file
//! for the engines users already run past one machine (DuckDB, Polars,
//! Spark, pandas). One row per image: path, digest, dimensions, the three
//! hashes as `UInt64`, the histogram and the embedding as fixed-size lists
//! of `Float32`, and the saved cluster label. The store is streamed: rows
//! go out in row groups of [`ROW_GROUP`] images, so memory stays flat in the
//! number of images (the one per-image structure held is the saved
//! clustering's id → label map, 12 bytes an image). Only features made
//! under the store's current fingerprints are written; others are nulls.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use ::parquet::arrow::ArrowWriter;
use ::parquet::basic::Compression;
use ::parquet::file::properties::WriterProperties;
use arrow_array::builder::{StringBuilder, UInt32Builder, UInt64Builder};
use arrow_array::{ArrayRef, FixedSizeListArray, Float32Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use super::{Current, ExportReport};
use crate::error::{Error, Result};
use crate::paths;
use crate::store::{ImageId, ImageRecord, Store};

/// Images per row group (and per in-memory batch): ~21 MB of embeddings at
/// 1280 dimensions, small enough to stream, large enough for fast scans.
pub const ROW_GROUP: usize = 4096;

/// Write every image of `store` to `out` as Parquet.
pub fn write(store: &Store, out: &Path) -> Result<ExportReport> {
    let cur = Current::of(store)?;
    let emb_fp = store.fingerprint("embedding")?;
    let clusters = cluster_labels(store)?;
    let shape = Shape::probe(store, &cur, emb_fp.as_deref())?;
    let schema = shape.schema(clusters.is_some());
    let tmp = out.with_extension("parquet.tmp");
    let file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let pq = |e: ::parquet::errors::ParquetError| Error::Export {
        path: out.to_path_buf(),
        reason: e.to_string(),
    };
    let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(pq)?;
    let mut batch = Batch::new(&shape, clusters.is_some());
    let mut rows = 0;
    let flush = |batch: &mut Batch, writer: &mut ArrowWriter<File>| -> Result<()> {
        let b = std::mem::replace(batch, Batch::new(&shape, clusters.is_some()));
        writer.write(&b.finish(&schema, &shape, out)?).map_err(pq)?;
        writer.flush().map_err(pq) // one row group per batch: bounded buffering
    };
    for item in store.iter_images() {
        let (id, r) = item?;
        let emb = match &emb_fp {
            Some(fp) => store.current_embedding(id, fp)?,
            None => None,
        };
        let label = clusters.as_ref().and_then(|c| c.get(&id).copied());
        batch.push(&r, &cur, emb.as_deref(), label, &shape);
        rows += 1;
        if batch.len == ROW_GROUP {
            flush(&mut batch, &mut writer)?;
        }
    }
    if batch.len > 0 || rows == 0 {
        flush(&mut batch, &mut writer)?;
    }
    writer.close().map_err(pq)?;
    std::fs::rename(&tmp, out).map_err(|e| Error::io(out, e))?;
    Ok(ExportReport {
        rows,
        files: vec![out.to_string_lossy().into_owned()],
        text: None,
    })
}

/// The saved clustering as id → label, if there is one.
fn cluster_labels(store: &Store) -> Result<Option<HashMap<ImageId, u32>>> {
    Ok(store.clustering()?.map(|c| {
        c.ids
            .iter()
            .copied()
            .zip(c.labels.iter().copied())
            .collect()
    }))
}

/// Lengths of the list columns, read off the first record that has each.
struct Shape {
    bins: usize,
    dim: usize,
}

impl Shape {
    /// Stops at the first image that has both; a store without one of
    /// them is read through once (records only, nothing kept).
    fn probe(store: &Store, cur: &Current, emb_fp: Option<&str>) -> Result<Shape> {
        let mut shape = Shape { bins: 0, dim: 0 };
        for item in store.iter_images() {
            let (id, r) = item?;
            if shape.bins == 0 {
                shape.bins = cur.histogram(&r).map_or(0, <[f32]>::len);
            }
            if let (0, Some(fp)) = (shape.dim, emb_fp) {
                shape.dim = store.current_embedding(id, fp)?.map_or(0, |v| v.len());
            }
            if shape.bins > 0 && (shape.dim > 0 || emb_fp.is_none()) {
                break;
            }
        }
        Ok(shape)
    }

    fn schema(&self, clusters: bool) -> SchemaRef {
        let list = |n: usize| {
            DataType::FixedSizeList(
                Arc::new(Field::new("item", DataType::Float32, false)),
                n as i32,
            )
        };
        let mut fields = base_fields();
        if self.bins > 0 {
            fields.push(Field::new("histogram", list(self.bins), true));
        }
        if self.dim > 0 {
            fields.push(Field::new("embedding", list(self.dim), true));
        }
        if clusters {
            fields.push(Field::new("cluster", DataType::UInt32, true));
        }
        Arc::new(Schema::new(fields))
    }
}

/// Column builders for one row group.
struct Batch {
    len: usize,
    path: StringBuilder,
    digest: StringBuilder,
    width: UInt32Builder,
    height: UInt32Builder,
    format: StringBuilder,
    hashes: [UInt64Builder; 3],
    histogram: Vec<f32>,
    histogram_valid: Vec<bool>,
    embedding: Vec<f32>,
    embedding_valid: Vec<bool>,
    cluster: Option<UInt32Builder>,
}

impl Batch {
    fn new(shape: &Shape, clusters: bool) -> Batch {
        Batch {
            len: 0,
            path: StringBuilder::new(),
            digest: StringBuilder::new(),
            width: UInt32Builder::new(),
            height: UInt32Builder::new(),
            format: StringBuilder::new(),
            hashes: std::array::from_fn(|_| UInt64Builder::new()),
            histogram: Vec::with_capacity(shape.bins * ROW_GROUP),
            histogram_valid: Vec::with_capacity(ROW_GROUP),
            embedding: Vec::with_capacity(shape.dim * ROW_GROUP),
            embedding_valid: Vec::with_capacity(ROW_GROUP),
            cluster: clusters.then(UInt32Builder::new),
        }
    }

    fn push(
        &mut self,
        r: &ImageRecord,
        cur: &Current,
        emb: Option<&[f32]>,
        label: Option<u32>,
        shape: &Shape,
    ) {
        self.len += 1;
        self.path.append_value(paths::display(&r.path));
        self.digest
            .append_value(blake3::Hash::from(r.digest).to_hex().as_str());
        self.width.append_value(r.width);
        self.height.append_value(r.height);
        self.format.append_value(&r.format);
        let h = cur.hashes(r);
        for (i, b) in self.hashes.iter_mut().enumerate() {
            b.append_option(h.map(|h| h[i]));
        }
        let hist = cur.histogram(r).filter(|v| v.len() == shape.bins);
        push_list(
            &mut self.histogram,
            &mut self.histogram_valid,
            hist,
            shape.bins,
        );
        let emb = emb.filter(|v| v.len() == shape.dim);
        push_list(
            &mut self.embedding,
            &mut self.embedding_valid,
            emb,
            shape.dim,
        );
        if let Some(c) = &mut self.cluster {
            c.append_option(label);
        }
    }

    fn finish(mut self, schema: &SchemaRef, shape: &Shape, out: &Path) -> Result<RecordBatch> {
        let [p, d, a] = &mut self.hashes;
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(self.path.finish()),
            Arc::new(self.digest.finish()),
            Arc::new(self.width.finish()),
            Arc::new(self.height.finish()),
            Arc::new(self.format.finish()),
            Arc::new(p.finish()),
            Arc::new(d.finish()),
            Arc::new(a.finish()),
        ];
        if shape.bins > 0 {
            cols.push(list_array(self.histogram, self.histogram_valid, shape.bins));
        }
        if shape.dim > 0 {
            cols.push(list_array(self.embedding, self.embedding_valid, shape.dim));
        }
        if let Some(mut c) = self.cluster {
            cols.push(Arc::new(c.finish()));
        }
        RecordBatch::try_new(schema.clone(), cols).map_err(|e| Error::Export {
            path: out.to_path_buf(),
            reason: e.to_string(),
        })
    }
}

/// Append one fixed-size list value (zeros under a null, as Arrow expects).
fn push_list(values: &mut Vec<f32>, valid: &mut Vec<bool>, v: Option<&[f32]>, n: usize) {
    if n == 0 {
        return;
    }
    match v {
        Some(v) => values.extend_from_slice(v),
        None => values.resize(values.len() + n, 0.0),
    }
    valid.push(v.is_some());
}

fn list_array(values: Vec<f32>, valid: Vec<bool>, n: usize) -> ArrayRef {
    let item = Arc::new(Field::new("item", DataType::Float32, false));
    let values = Arc::new(Float32Array::from(values));
    Arc::new(FixedSizeListArray::new(
        item,
        n as i32,
        values,
        Some(valid.into()),
    ))
}

/// The columns every image row starts with, in the features export and in
/// shards alike: path, digest, dimensions, format and the three hashes.
pub(crate) fn base_fields() -> Vec<Field> {
    vec![
        Field::new("path", DataType::Utf8, false),
        Field::new("digest", DataType::Utf8, false),
        Field::new("width", DataType::UInt32, false),
        Field::new("height", DataType::UInt32, false),
        Field::new("format", DataType::Utf8, false),
        Field::new("phash", DataType::UInt64, true),
        Field::new("dhash", DataType::UInt64, true),
        Field::new("ahash", DataType::UInt64, true),
    ]
}
