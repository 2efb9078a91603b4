//! The `analyse` job: image files to shard rows without a store, the unit
//! of work a cluster worker (or the Python package's `imgdex.analyse`)
//! runs. Each file is read, decoded and analysed once with the same
//! functions `index` uses, and its CNN input embedded by a model that an
//! [`Analyser`] loads once and keeps, so repeated calls (one per batch of a
//! Ray or Spark task) pay for the model once. Files go through in chunks, so
//! memory is bounded by the chunk's CNN inputs, not by the number of files.
//! A broken file is listed in [`Analysis::failed`]; it never stops the run.

use std::path::PathBuf;

use arrow_array::RecordBatch;
use rayon::prelude::*;

use crate::decode::DecodeConfig;
use crate::error::{Error, Result};
use crate::features::embedding::{EmbedConfig, Embedder};
use crate::features::{self, FeatureConfig};
use crate::jobs::shard::{self, Fingerprints, Row, Shape, ShardMeta};
use crate::jobs::FileIssue;
use crate::paths;
use crate::store::record::fingerprint_code;
use crate::store::signatures::SignatureRecord;
use crate::store::{EmbeddingRecord, ImageRecord, Tagged};
use crate::walk::{self, Candidate};

/// Files per chunk: decoded in parallel, then embedded.
const CHUNK: usize = 64;

/// What to analyse.
#[derive(Debug, Clone)]
pub struct AnalyseConfig {
    /// Files and folders (folders are walked like `index` walks them).
    pub inputs: Vec<PathBuf>,
    /// Worker threads for decoding (0 = one per core).
    pub jobs: usize,
    pub decode: DecodeConfig,
    pub features: FeatureConfig,
    /// The folders the rows belong under, recorded in the shard for
    /// `ingest` (default: the inputs, canonicalised).
    pub roots: Option<Vec<PathBuf>>,
}

impl AnalyseConfig {
    pub fn new(inputs: Vec<PathBuf>) -> Self {
        AnalyseConfig {
            inputs,
            jobs: 0,
            decode: DecodeConfig::default(),
            features: FeatureConfig::default(),
            roots: None,
        }
    }
}

/// The rows made, the files that failed, and the shard metadata.
#[derive(Debug)]
pub struct Analysis {
    pub rows: Vec<Row>,
    pub failed: Vec<FileIssue>,
    pub meta: ShardMeta,
}

impl Analysis {
    /// The rows as one shard record batch (its schema carries the metadata).
    pub fn to_batch(&self) -> Result<RecordBatch> {
        let shape = Shape::of_rows(&self.rows);
        let schema = shape.schema(&self.meta);
        shard::to_batch(&self.rows, shape, &schema, &self.meta.fingerprints)
    }
}

/// A loaded model (or none), kept across calls.
#[derive(Debug)]
pub struct Analyser {
    embedder: Option<Embedder>,
}

impl Analyser {
    /// Load the model `embed` names (`None`: hashes and histograms only).
    pub fn new(embed: Option<&EmbedConfig>) -> Result<Analyser> {
        Ok(Analyser {
            embedder: embed.map(Embedder::load).transpose()?,
        })
    }

    /// Whether this analyser embeds.
    pub fn embeds(&self) -> bool {
        self.embedder.is_some()
    }

    /// Analyse `cfg.inputs`.
    pub fn run(&mut self, cfg: &AnalyseConfig) -> Result<Analysis> {
        cfg.features.validate()?;
        let walked = walk::walk(&cfg.inputs, &[]);
        let mut failed: Vec<FileIssue> = walked
            .failed
            .iter()
            .map(|n| FileIssue::new(&n.path, &n.reason))
            .collect();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(cfg.jobs)
            .build()
            .map_err(|e| Error::ThreadPool {
                reason: e.to_string(),
            })?;
        let fingerprints = Fingerprints {
            hash: Some(cfg.features.hash_fingerprint()),
            histogram: Some(cfg.features.histogram_fingerprint()),
            embedding: self.embedder.as_ref().map(|e| e.fingerprint().to_string()),
        };
        let mut rows = Vec::with_capacity(walked.candidates.len());
        for chunk in walked.candidates.chunks(CHUNK) {
            let spec = self.embedder.as_ref().map(|e| e.spec().clone());
            let done: Vec<_> = pool.install(|| {
                chunk
                    .par_iter()
                    .map(|c| analyse_one(c, cfg, spec.as_ref()))
                    .collect()
            });
            let mut ok = Vec::with_capacity(done.len());
            for (c, r) in chunk.iter().zip(done) {
                match r {
                    Ok(v) => ok.push(v),
                    Err(e) => failed.push(FileIssue::from_error(&c.path, &e)),
                }
            }
            self.embed(ok, &mut rows, &mut failed);
        }
        let roots = cfg.roots.clone().unwrap_or(walked.roots);
        let roots = roots
            .iter()
            .map(|r| paths::display(&paths::to_bytes(r)))
            .collect();
        Ok(Analysis {
            rows,
            failed,
            meta: ShardMeta {
                fingerprints,
                roots,
            },
        })
    }

    /// Embed the analysed records in the model's batches; a batch that
    /// fails makes each of its files a failure.
    fn embed(&mut self, ok: Vec<Analysed>, rows: &mut Vec<Row>, failed: &mut Vec<FileIssue>) {
        let Some(embedder) = self.embedder.as_mut() else {
            rows.extend(ok.into_iter().map(|(r, _, s)| (r, None, Some(s))));
            return;
        };
        let code = fingerprint_code(embedder.fingerprint());
        let size = embedder.batch_size();
        let mut ok = ok.into_iter().peekable();
        while ok.peek().is_some() {
            let batch: Vec<_> = ok.by_ref().take(size).collect();
            let n = batch.len();
            let mut input = Vec::with_capacity(n * embedder.input_len());
            for (_, t, _) in &batch {
                input.extend_from_slice(t.as_deref().unwrap_or_default());
            }
            match embedder.embed(input, n) {
                Ok(embs) if embs.len() == n => {
                    for ((r, _, s), e) in batch.into_iter().zip(embs) {
                        let rec = EmbeddingRecord::with_dupe(code, &e.vector, e.dupe.as_deref());
                        rows.push((r, Some(rec), Some(s)));
                    }
                }
                other => {
                    let reason = match other {
                        Err(e) => format!("inference failed: {e}"),
                        Ok(e) => {
                            format!("inference returned {} embeddings for {n} images", e.len())
                        }
                    };
                    for (r, _, _) in batch {
                        failed.push(FileIssue::new(&paths::from_bytes(&r.path), &reason));
                    }
                }
            }
        }
    }
}

/// One file's record, CNN input and copy signature.
type Analysed = (ImageRecord, Option<Vec<f32>>, SignatureRecord);

/// One file's record, CNN input and copy signature, as `index` makes them.
fn analyse_one(
    c: &Candidate,
    cfg: &AnalyseConfig,
    spec: Option<&features::embedding::ModelSpec>,
) -> Result<Analysed> {
    let bytes = crate::decode::read_file(&c.path, &cfg.decode)?;
    let digest: [u8; 32] = blake3::hash(&bytes).into();
    let a = features::analyse_hashed(&c.path, &bytes, digest, &cfg.decode, &cfg.features)?;
    let signature = SignatureRecord::current(features::signature::compute(&a.decoded, &bytes));
    drop(bytes);
    let tensor = spec.map(|s| features::embedding::preprocess_decoded(&a.decoded, s));
    let record = ImageRecord {
        path: paths::to_bytes(&c.path),
        size: c.size,
        mtime_ns: c.mtime_ns,
        digest: a.digest,
        width: a.decoded.width,
        height: a.decoded.height,
        format: a.decoded.format,
        hashes: Some(Tagged {
            fingerprint: fingerprint_code(&cfg.features.hash_fingerprint()),
            value: a.features.hashes,
        }),
        histogram: Some(Tagged {
            fingerprint: fingerprint_code(&cfg.features.histogram_fingerprint()),
            value: a.features.histogram,
        }),
    };
    Ok((record, tensor, signature))
}
