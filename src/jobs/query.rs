//! The `query` job: the stored images nearest to a given image, which need
//! not be in the store itself. The query image goes through the same decode
//! and feature code as indexed images.

use std::path::PathBuf;

use serde::Serialize;

use crate::config::{DecodeConfig, FeatureConfig};
use crate::decode;
use crate::error::{Error, Result};
use crate::features::{self, histogram, Features};
use crate::index::hamming;
use crate::paths;
use crate::store::record::fingerprint_code;
use crate::store::Store;

/// Which feature ranks the results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryBy {
    /// Mean of pHash and dHash Hamming distance (bits).
    Hash,
    /// Hellinger distance between RGB histograms (0..1).
    Histogram,
}

#[derive(Debug, Clone)]
pub struct QueryConfig {
    pub image: PathBuf,
    pub k: usize,
    pub by: QueryBy,
    pub decode: DecodeConfig,
    pub features: FeatureConfig,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Hit {
    pub path: String,
    pub distance: f64,
}

/// Decode and analyse an image that is not (necessarily) in the store.
pub fn analyse_file(path: &std::path::Path, dcfg: &DecodeConfig, fcfg: &FeatureConfig) -> Result<(decode::Decoded, Features)> {
    let bytes = decode::read_file(path, dcfg)?;
    let decoded = decode::decode(path, &bytes, dcfg)?;
    let f = features::compute(&decoded.image, fcfg);
    Ok((decoded, f))
}

pub fn run(store: &Store, cfg: &QueryConfig) -> Result<Vec<Hit>> {
    if cfg.k == 0 {
        return Err(Error::InvalidArgument("-k must be at least 1".into()));
    }
    let (_, f) = analyse_file(&cfg.image, &cfg.decode, &cfg.features)?;
    let self_path = std::fs::canonicalize(&cfg.image).ok().map(|p| paths::to_bytes(&p));
    let records: Vec<_> = store
        .scan_images()?
        .records
        .into_iter()
        .filter(|(_, r)| Some(&r.path) != self_path.as_ref())
        .collect();
    let mut hits: Vec<Hit> = match cfg.by {
        QueryBy::Hash => {
            let code = fingerprint_code(&cfg.features.hash_fingerprint());
            let (ids, hashes): (Vec<_>, Vec<_>) = records
                .iter()
                .filter_map(|(_, r)| r.hashes.as_ref().filter(|t| t.fingerprint == code).map(|t| (&r.path, t.value)))
                .unzip();
            hamming::nearest(&hashes, &f.hashes, cfg.k)
                .into_iter()
                .map(|(i, d)| Hit { path: paths::display(ids[i as usize]), distance: d })
                .collect()
        }
        QueryBy::Histogram => records
            .iter()
            .filter_map(|(_, r)| {
                let h = &r.histogram.as_ref()?.value;
                let d = histogram::distance(&f.histogram, h)?;
                Some(Hit { path: paths::display(&r.path), distance: f64::from(d) })
            })
            .collect(),
    };
    hits.sort_by(|a, b| a.distance.total_cmp(&b.distance).then_with(|| a.path.cmp(&b.path)));
    hits.truncate(cfg.k);
    Ok(hits)
}
