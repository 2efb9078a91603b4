//! The `ingest` job: build or update a store from shards (see
//! [`crate::jobs::shard`]) written by `export shard`, the Python package or
//! a cluster of workers, without decoding any image. Every shard is opened
//! and its fingerprints checked against the others' and the store's before
//! anything is written, so a mismatch leaves the store untouched. Rows are
//! upserted by path (after `--map-prefix` rewriting): a new path gets a new
//! record, a known one is replaced only by a row with a newer mtime. At the
//! end the whitening is refitted and the graph refreshed as `index` does, so
//! an ingested store answers every question like an indexed one.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::jobs::shard::{read_rows, Fingerprints, Row, ShardFile};
use crate::paths;
use crate::search::ann::HnswParams;
use crate::search::{saved, whiten};
use crate::store::{ImageId, Store};

/// What to ingest and how to rewrite its paths.
#[derive(Debug, Clone, Default)]
pub struct IngestConfig {
    pub shards: Vec<PathBuf>,
    /// (from, to) path prefixes: a path starting with `from` has it
    /// replaced by `to` (the first matching pair wins).
    pub map_prefix: Vec<(String, String)>,
}

impl IngestConfig {
    pub fn new(shards: Vec<PathBuf>) -> Self {
        IngestConfig {
            shards,
            map_prefix: Vec::new(),
        }
    }

    pub fn validate(&self) -> Result<()> {
        if self.shards.is_empty() {
            return Err(Error::InvalidArgument(
                "no shard to ingest was given".into(),
            ));
        }
        if let Some((f, _)) = self.map_prefix.iter().find(|(f, _)| f.is_empty()) {
            return Err(Error::InvalidArgument(format!(
                "a path prefix mapping needs a non-empty FROM (got `{f}=`)"
            )));
        }
        Ok(())
    }

    fn map(&self, path: &[u8]) -> Vec<u8> {
        for (from, to) in &self.map_prefix {
            if let Some(rest) = path.strip_prefix(from.as_bytes()) {
                let mut out = to.as_bytes().to_vec();
                out.extend_from_slice(rest);
                return out;
            }
        }
        path.to_vec()
    }
}

/// What an `ingest` run did.
#[derive(Debug, Default, Serialize)]
pub struct IngestSummary {
    pub shards: usize,
    /// Rows read from the shards.
    pub rows: usize,
    /// New paths.
    pub added: usize,
    /// Known paths replaced by a row with a newer mtime.
    pub updated: usize,
    /// Rows not newer than the store's record of their path.
    pub unchanged: usize,
    /// Rows written with an embedding.
    pub embedded: usize,
    /// Nearest-neighbour index now serving embedding queries ("exact" or "hnsw").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ann: Option<&'static str>,
    pub wall_s: f64,
}

/// Ingest `cfg.shards` into `store`.
pub fn run(store: &Store, cfg: &IngestConfig) -> Result<IngestSummary> {
    let start = Instant::now();
    cfg.validate()?;
    let files = cfg
        .shards
        .iter()
        .map(|p| ShardFile::open(p))
        .collect::<Result<Vec<_>>>()?;
    let fps = check_fingerprints(store, &files)?;
    let mut summary = IngestSummary {
        shards: files.len(),
        ..IngestSummary::default()
    };
    let mut roots: Vec<PathBuf> = Vec::new();
    for f in &files {
        for r in &f.meta.roots {
            let p = paths::from_bytes(&cfg.map(r.as_bytes()));
            if !roots.contains(&p) {
                roots.push(p);
            }
        }
    }
    saved::mark_dirty(store)?;
    let mut known = known_paths(store)?;
    let mut changed = Vec::new();
    for f in files {
        let (path, meta, reader) = f.batches()?;
        for batch in reader {
            let batch = batch.map_err(|e| Error::Shard {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            let rows = read_rows(&batch, &meta, &path)?;
            upsert(store, cfg, rows, &mut known, &mut changed, &mut summary)?;
            store.flush()?; // a commit point per record batch
        }
    }
    for (feature, fp) in fps.named() {
        store.set_fingerprint(feature, fp)?;
    }
    store.add_roots(&roots)?;
    if let Some(fp) = &fps.embedding {
        store.flush()?;
        whiten::update(store, fp, changed.len() + summary.added)?;
        summary.ann = Some(saved::refresh(store, fp, HnswParams::default(), &changed)?);
    }
    store.flush()?;
    summary.wall_s = start.elapsed().as_secs_f64();
    Ok(summary)
}

/// Every shard's fingerprints must agree with the first one that names
/// each feature, and with the store's; returns the combined set.
fn check_fingerprints(store: &Store, files: &[ShardFile]) -> Result<Fingerprints> {
    let theirs = Fingerprints::of_store(store)?;
    let store_name = format!("store {}", store.dir().display());
    let mut seen: HashMap<&'static str, (String, String)> = HashMap::new();
    if store.image_count() > 0 {
        for (feature, fp) in theirs.named() {
            seen.insert(feature, (store_name.clone(), fp.to_string()));
        }
    }
    let mut out = Fingerprints::default();
    for f in files {
        let name = format!("shard {}", f.path.display());
        for (feature, fp) in f.meta.fingerprints.named() {
            match seen.get(feature) {
                Some((left, lv)) if lv != fp => {
                    return Err(Error::FingerprintMismatch {
                        feature: feature.to_string(),
                        left: left.clone(),
                        left_value: lv.clone(),
                        right: name,
                        right_value: fp.to_string(),
                    })
                }
                Some(_) => {}
                None => {
                    seen.insert(feature, (name.clone(), fp.to_string()));
                }
            }
        }
        let g = &f.meta.fingerprints;
        out.hash = out.hash.or(g.hash.clone());
        out.histogram = out.histogram.or(g.histogram.clone());
        out.embedding = out.embedding.or(g.embedding.clone());
    }
    Ok(out)
}

/// The store's records as path → (id, mtime).
fn known_paths(store: &Store) -> Result<HashMap<Vec<u8>, (ImageId, i64)>> {
    let mut known = HashMap::with_capacity(store.image_count());
    for item in store.iter_images() {
        let (id, r) = item?;
        known.insert(r.path, (id, r.mtime_ns));
    }
    Ok(known)
}

fn upsert(
    store: &Store,
    cfg: &IngestConfig,
    rows: Vec<Row>,
    known: &mut HashMap<Vec<u8>, (ImageId, i64)>,
    changed: &mut Vec<ImageId>,
    summary: &mut IngestSummary,
) -> Result<()> {
    for (mut record, embedding, signature) in rows {
        summary.rows += 1;
        record.path = cfg.map(&record.path);
        let id = match known.get(&record.path) {
            Some(&(_, mtime)) if mtime >= record.mtime_ns => {
                summary.unchanged += 1;
                continue;
            }
            Some(&(id, _)) => {
                summary.updated += 1;
                if embedding.is_some() {
                    changed.push(id);
                } else {
                    store.remove_embedding(id)?;
                }
                id
            }
            None => {
                summary.added += 1;
                store.next_id()?
            }
        };
        summary.embedded += usize::from(embedding.is_some());
        store.put_image(id, &record, embedding.as_ref())?;
        match &signature {
            Some(s) => store.put_signature(id, s)?,
            None => store.remove_signature(id)?,
        }
        known.insert(record.path, (id, record.mtime_ns));
    }
    Ok(())
}
