//! Writing shards: rows to Arrow record batches (also what the Python
//! package hands to pyarrow), and a store streamed to a Parquet file in row
//! groups of [`ROW_GROUP`] images, so memory stays flat in the store's size.
//! Only features made under the shard's fingerprints are written; any other
//! is a null, as in the Parquet export.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use ::parquet::arrow::ArrowWriter;
use ::parquet::basic::Compression;
use ::parquet::file::properties::WriterProperties;
use arrow_array::builder::{
    BinaryBuilder, Int64Builder, StringBuilder, UInt32Builder, UInt64Builder,
};
use arrow_array::{ArrayRef, FixedSizeListArray, Float32Array, RecordBatch};
use arrow_schema::{DataType, Field, SchemaRef};

use super::{Fingerprints, Row, Shape, ShardMeta};
use crate::error::{Error, Result};
use crate::jobs::export::ExportReport;
use crate::paths;
use crate::store::record;
use crate::store::signatures::StoredSignature;
use crate::store::{EmbeddingRecord, Store};

/// Images per row group when a store is written.
pub const ROW_GROUP: usize = 4096;

/// `rows` as one record batch of `schema` (made by `shape.schema`).
pub fn to_batch(
    rows: &[Row],
    shape: Shape,
    schema: &SchemaRef,
    fps: &Fingerprints,
) -> Result<RecordBatch> {
    let mut b = Columns::new(rows.len());
    let codes = fps.codes();
    for (r, e, s) in rows {
        b.push(r, e.as_ref(), codes, shape);
        match s {
            Some(s) => b
                .signature
                .append_value(record::encode(&StoredSignature::V2(s.clone()))),
            None => b.signature.append_null(),
        }
    }
    b.finish(schema, shape)
}

/// Write `batches` (all of `schema`) to `out` through a temporary file.
pub fn write_file(
    out: &Path,
    schema: &SchemaRef,
    batches: impl IntoIterator<Item = Result<RecordBatch>>,
) -> Result<()> {
    let tmp = out.with_extension("parquet.tmp");
    let file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let kv = schema
        .metadata()
        .iter()
        .map(|(k, v)| ::parquet::file::metadata::KeyValue::new(k.clone(), v.clone()))
        .collect();
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_key_value_metadata(Some(kv))
        .build();
    let pq = |e: ::parquet::errors::ParquetError| Error::Export {
        path: out.to_path_buf(),
        reason: e.to_string(),
    };
    let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(pq)?;
    for batch in batches {
        writer.write(&batch?).map_err(pq)?;
        writer.flush().map_err(pq)?; // one row group per batch
    }
    writer.close().map_err(pq)?;
    std::fs::rename(&tmp, out).map_err(|e| Error::io(out, e))
}

/// `export shard`: every image of `store` as a shard at `out`.
pub fn write_store(store: &Store, out: &Path) -> Result<ExportReport> {
    let (schema, batches) = store_batches(store)?;
    write_file(out, &schema, batches)?;
    Ok(ExportReport {
        rows: store.image_count(),
        files: vec![out.to_string_lossy().into_owned()],
        text: None,
    })
}

/// Every image of `store` as shard record batches of [`ROW_GROUP`] rows,
/// streamed (an empty store gives one empty batch), and their schema.
pub fn store_batches(
    store: &Store,
) -> Result<(SchemaRef, impl Iterator<Item = Result<RecordBatch>> + '_)> {
    let fps = Fingerprints::of_store(store)?;
    let roots = store.roots()?;
    let meta = ShardMeta {
        fingerprints: fps.clone(),
        roots: roots
            .iter()
            .map(|r| paths::display(&paths::to_bytes(r)))
            .collect(),
    };
    let shape = probe(store, &fps)?;
    let schema = shape.schema(&meta);
    let out = schema.clone();
    let mut started = false;
    let mut images = store.iter_images().peekable();
    let batches = std::iter::from_fn(move || {
        if images.peek().is_none() && started {
            return None;
        }
        started = true;
        let mut chunk = Vec::new();
        while chunk.len() < ROW_GROUP {
            let Some(item) = images.next() else { break };
            let row = item.and_then(|(id, r)| {
                let signature = store.signature_record(id)?;
                Ok((r, store.get_embedding(id).ok().flatten(), signature))
            });
            match row {
                Ok(row) => chunk.push(row),
                Err(e) => return Some(Err(e)),
            }
        }
        Some(to_batch(&chunk, shape, &schema, &fps))
    });
    Ok((out, batches))
}

/// The store's list lengths, read off the first records with current features.
fn probe(store: &Store, fps: &Fingerprints) -> Result<Shape> {
    let hist = fps.codes()[1];
    let mut s = Shape::default();
    for item in store.iter_images() {
        let (_, r) = item?;
        if let Some(h) = r.histogram.filter(|h| Some(h.fingerprint) == hist) {
            s.bins = h.value.values.len();
            break;
        }
    }
    if let Some(fp) = &fps.embedding {
        if let Some(e) = store.first_embedding(fp)? {
            s.dim = e.data.len();
            s.dupe = e.dupe.len();
        }
    }
    Ok(s)
}

/// Column builders for one batch.
struct Columns {
    path: StringBuilder,
    digest: StringBuilder,
    width: UInt32Builder,
    height: UInt32Builder,
    format: StringBuilder,
    hashes: [UInt64Builder; 3],
    lists: [(Vec<f32>, Vec<bool>); 3],
    path_bytes: BinaryBuilder,
    size: UInt64Builder,
    mtime: Int64Builder,
    signature: BinaryBuilder,
}

impl Columns {
    fn new(n: usize) -> Columns {
        Columns {
            path: StringBuilder::with_capacity(n, 64 * n),
            digest: StringBuilder::with_capacity(n, 64 * n),
            width: UInt32Builder::with_capacity(n),
            height: UInt32Builder::with_capacity(n),
            format: StringBuilder::new(),
            hashes: std::array::from_fn(|_| UInt64Builder::with_capacity(n)),
            lists: Default::default(),
            path_bytes: BinaryBuilder::with_capacity(n, 64 * n),
            size: UInt64Builder::with_capacity(n),
            mtime: Int64Builder::with_capacity(n),
            signature: BinaryBuilder::with_capacity(n, 4400 * n),
        }
    }

    fn push(
        &mut self,
        r: &crate::store::ImageRecord,
        e: Option<&EmbeddingRecord>,
        codes: [Option<u32>; 3],
        shape: Shape,
    ) {
        self.path.append_value(paths::display(&r.path));
        self.digest
            .append_value(blake3::Hash::from(r.digest).to_hex().as_str());
        self.width.append_value(r.width);
        self.height.append_value(r.height);
        self.format.append_value(&r.format);
        let h = r
            .hashes
            .as_ref()
            .filter(|t| Some(t.fingerprint) == codes[0]);
        let h = h.map(|t| [t.value.phash, t.value.dhash, t.value.ahash]);
        for (i, b) in self.hashes.iter_mut().enumerate() {
            b.append_option(h.map(|h| h[i]));
        }
        let hist = r
            .histogram
            .as_ref()
            .filter(|t| Some(t.fingerprint) == codes[1]);
        push_list(
            &mut self.lists[0],
            hist.map(|t| t.value.values.clone()),
            shape.bins,
        );
        let e = e.filter(|e| Some(e.fingerprint) == codes[2]);
        push_list(
            &mut self.lists[1],
            e.map(EmbeddingRecord::to_f32),
            shape.dim,
        );
        let dupe = e
            .filter(|e| !e.dupe.is_empty())
            .map(EmbeddingRecord::dupe_f32);
        push_list(&mut self.lists[2], dupe, shape.dupe);
        self.path_bytes.append_value(&r.path);
        self.size.append_value(r.size);
        self.mtime.append_value(r.mtime_ns);
    }

    fn finish(mut self, schema: &SchemaRef, shape: Shape) -> Result<RecordBatch> {
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
        let [hist, emb, dupe] = self.lists;
        for (list, n) in [(hist, shape.bins), (emb, shape.dim)] {
            if n > 0 {
                cols.push(list_array(list, n));
            }
        }
        cols.push(Arc::new(self.path_bytes.finish()));
        cols.push(Arc::new(self.size.finish()));
        cols.push(Arc::new(self.mtime.finish()));
        if shape.dupe > 0 {
            cols.push(list_array(dupe, shape.dupe));
        }
        cols.push(Arc::new(self.signature.finish()));
        RecordBatch::try_new(schema.clone(), cols).map_err(|e| Error::Shard {
            path: "(record batch)".into(),
            reason: e.to_string(),
        })
    }
}

/// Append one fixed-size list value; a missing one or one of another
/// length is a null (zeros underneath, as Arrow expects).
fn push_list(list: &mut (Vec<f32>, Vec<bool>), v: Option<Vec<f32>>, n: usize) {
    if n == 0 {
        return;
    }
    match v.filter(|v| v.len() == n) {
        Some(v) => {
            list.0.extend_from_slice(&v);
            list.1.push(true);
        }
        None => {
            list.0.resize(list.0.len() + n, 0.0);
            list.1.push(false);
        }
    }
}

fn list_array((values, valid): (Vec<f32>, Vec<bool>), n: usize) -> ArrayRef {
    let item = Arc::new(Field::new("item", DataType::Float32, false));
    Arc::new(FixedSizeListArray::new(
        item,
        n as i32,
        Arc::new(Float32Array::from(values)),
        Some(valid.into()),
    ))
}
