//! The `analyse` job: image files to shard rows without a store, the unit
//! of work a cluster worker (or the Python package's `imgdex.analyse`)
//! runs. Files go through the analysis stages `index` runs (`index::stages`:
//! decoding on worker threads overlapped with batched CNN inference, the same
//! record-building code), so a row equals the record `index` stores for the
//! file. An [`Analyser`] loads the model's sessions once and keeps them, so
//! repeated calls (one per batch of a Ray or Spark task) pay for the model
//! once. A broken file is listed in [`Analysis::failed`]; it never stops the
//! run.

use std::collections::HashMap;
use std::path::PathBuf;

use arrow_array::RecordBatch;

use crate::decode::DecodeConfig;
use crate::error::Result;
use crate::features::embedding::{EmbedConfig, Embedder};
use crate::features::FeatureConfig;
use crate::jobs::index::stages::{run_stages, Stages};
use crate::jobs::index::{Codes, Outcome, Work};
use crate::jobs::shard::{self, Fingerprints, Row, Shape, ShardMeta};
use crate::jobs::FileIssue;
use crate::paths;
use crate::store::record::fingerprint_code;
use crate::walk;

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

/// The model's sessions (or none), kept across calls.
#[derive(Debug)]
pub struct Analyser {
    embedders: Vec<Embedder>,
}

impl Analyser {
    /// Load the sessions `embed` lays out ([`EmbedConfig::session_layout`],
    /// as `index` does; `None`: hashes and histograms only).
    pub fn new(embed: Option<&EmbedConfig>) -> Result<Analyser> {
        Ok(Analyser {
            embedders: embed
                .map(Embedder::load_sessions)
                .transpose()?
                .unwrap_or_default(),
        })
    }

    /// Whether this analyser embeds.
    pub fn embeds(&self) -> bool {
        !self.embedders.is_empty()
    }

    /// Analyse `cfg.inputs`: rows and failures in the walk's order.
    pub fn run(&mut self, cfg: &AnalyseConfig) -> Result<Analysis> {
        cfg.features.validate()?;
        let walked = walk::walk(&cfg.inputs, &[]);
        let mut failed: Vec<FileIssue> = walked
            .failed
            .iter()
            .map(|n| FileIssue::new(&n.path, &n.reason))
            .collect();
        let embedding = self.embedders.first().map(|e| e.fingerprint().to_string());
        let fingerprints = Fingerprints {
            hash: Some(cfg.features.hash_fingerprint()),
            histogram: Some(cfg.features.histogram_fingerprint()),
            embedding,
        };
        let stages = Stages {
            jobs: cfg.jobs,
            decode: &cfg.decode,
            features: &cfg.features,
            codes: Codes {
                hash: fingerprint_code(&cfg.features.hash_fingerprint()),
                histogram: fingerprint_code(&cfg.features.histogram_fingerprint()),
                embedding: fingerprints.embedding.as_deref().map(fingerprint_code),
            },
        };
        let order: HashMap<Vec<u8>, usize> = (walked.candidates.iter().enumerate())
            .map(|(i, c)| (paths::to_bytes(&c.path), i))
            .collect();
        let work = walked.candidates.into_iter().map(Work::new_file).collect();
        let mut rows: Vec<Row> = Vec::with_capacity(order.len());
        let mut stage_failed = Vec::new();
        run_stages(&stages, work, &mut self.embedders, |outcome| {
            match outcome {
                Outcome::Analysed(a) => rows.push((a.record, a.embedding, Some(a.signature))),
                Outcome::Failed(_, path, issue, _) => stage_failed.push((path, issue)),
                Outcome::Touched(..) => {} // only for files with a record
            }
            Ok(())
        })?;
        rows.sort_by_key(|r| order.get(&r.0.path).copied());
        stage_failed.sort_by_key(|(p, _)| order.get(&paths::to_bytes(p)).copied());
        failed.extend(stage_failed.into_iter().map(|(_, issue)| issue));
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
}
