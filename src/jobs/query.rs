//! The `query` job: the stored images nearest to a given image, which need
//! not be in the store itself. The query image goes through the same decode
//! and feature code as indexed images.

use std::path::PathBuf;

use serde::Serialize;

use crate::config::{DecodeConfig, FeatureConfig};
use crate::decode;
use crate::error::{Error, Result};
use crate::features::embedding::{cosine_distance, EmbedConfig, Embedder};
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
    /// Cosine distance between CNN embeddings (0..2), exact scan.
    Embedding,
}

#[derive(Debug, Clone)]
pub struct QueryConfig {
    pub image: PathBuf,
    pub k: usize,
    pub by: QueryBy,
    pub decode: DecodeConfig,
    pub features: FeatureConfig,
    /// Needed for `QueryBy::Embedding`.
    pub embed: Option<EmbedConfig>,
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
    let (decoded, f) = analyse_file(&cfg.image, &cfg.decode, &cfg.features)?;
    let query_image = decoded.image;
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
        QueryBy::Embedding => embedding_hits(store, cfg, &query_image, &records)?,
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

/// Exact cosine scan over the stored embeddings made by the same model.
fn embedding_hits(
    store: &Store,
    cfg: &QueryConfig,
    query_image: &image::RgbImage,
    records: &[(u64, crate::store::ImageRecord)],
) -> Result<Vec<Hit>> {
    let ecfg = cfg.embed.as_ref().ok_or_else(|| {
        Error::InvalidArgument("--by embedding needs the CNN model; drop --no-embed".into())
    })?;
    let mut embedder = Embedder::load(ecfg)?;
    let input = embedder.preprocess(query_image);
    let q = embedder.embed(input, 1)?.remove(0).vector;
    let code = fingerprint_code(embedder.fingerprint());
    let (stored, _) = store.scan_embeddings()?;
    if !stored.iter().any(|(_, e)| e.fingerprint == code) {
        return Err(Error::InvalidArgument(format!(
            "the store has no embeddings from model {}; run `imgdex index` with this model first",
            embedder.spec().name
        )));
    }
    let by_id: std::collections::HashMap<u64, &crate::store::ImageRecord> =
        records.iter().map(|(id, r)| (*id, r)).collect();
    Ok(stored
        .iter()
        .filter(|(_, e)| e.fingerprint == code)
        .filter_map(|(id, e)| {
            let r = by_id.get(id)?;
            let v = e.to_f32();
            Some(Hit { path: paths::display(&r.path), distance: f64::from(cosine_distance(&q, &v)) })
        })
        .collect())
}
