//! The `query` job: the stored images nearest to a given image, which need
//! not be in the store itself. The query image goes through the same decode
//! and feature code as indexed images.

use std::path::PathBuf;

use serde::Serialize;

use crate::config::{DecodeConfig, FeatureConfig};
use crate::decode;
use crate::error::{Error, Result};
use crate::features::embedding::{EmbedConfig, Embedder};
use crate::features::{self, histogram, Features};
use crate::index::ann::HnswParams;
use crate::index::hamming;
use crate::index::stored;
use crate::paths;
use crate::store::record::fingerprint_code;
use crate::store::Store;

/// Which feature ranks the results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryBy {
    /// By embedding when the store has embeddings and a model is given, else by hash.
    Auto,
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
pub fn analyse_file(
    path: &std::path::Path,
    dcfg: &DecodeConfig,
    fcfg: &FeatureConfig,
) -> Result<(decode::Decoded, Features)> {
    let a = features::analyse(path, dcfg, fcfg)?;
    Ok((a.decoded, a.features))
}

pub fn run(store: &Store, cfg: &QueryConfig) -> Result<Vec<Hit>> {
    if cfg.k == 0 {
        return Err(Error::InvalidArgument("-k must be at least 1".into()));
    }
    let (decoded, f) = analyse_file(&cfg.image, &cfg.decode, &cfg.features)?;
    let query_image = decoded.content().clone();
    // The query file itself, under its canonical or its as-given absolute
    // path (an indexed symlink is stored under the link's path).
    let self_paths: Vec<Vec<u8>> = [
        std::fs::canonicalize(&cfg.image).ok(),
        std::path::absolute(&cfg.image).ok(),
    ]
    .into_iter()
    .flatten()
    .map(|p| paths::to_bytes(&p))
    .collect();
    let by = match cfg.by {
        QueryBy::Auto if cfg.embed.is_some() && store.fingerprint("embedding")?.is_some() => {
            QueryBy::Embedding
        }
        QueryBy::Auto => QueryBy::Hash,
        other => other,
    };
    // Hash and histogram queries scan every record; embedding queries only
    // read the records of their hits.
    let records: Vec<_> = match by {
        QueryBy::Embedding => Vec::new(),
        _ => store
            .scan_images()?
            .records
            .into_iter()
            .filter(|(_, r)| !self_paths.contains(&r.path))
            .collect(),
    };
    let mut hits: Vec<Hit> = match by {
        QueryBy::Auto => unreachable!("resolved above"),
        QueryBy::Hash => {
            let code = fingerprint_code(&cfg.features.hash_fingerprint());
            let (ids, hashes): (Vec<_>, Vec<_>) = records
                .iter()
                .filter_map(|(_, r)| {
                    r.hashes
                        .as_ref()
                        .filter(|t| t.fingerprint == code)
                        .map(|t| (&r.path, t.value))
                })
                .unzip();
            hamming::nearest(&hashes, &f.hashes, cfg.k)
                .into_iter()
                .map(|(i, d)| Hit {
                    path: paths::display(ids[i as usize]),
                    distance: d,
                })
                .collect()
        }
        QueryBy::Embedding => embedding_hits(store, cfg, &query_image, &self_paths)?,
        QueryBy::Histogram => records
            .iter()
            .filter_map(|(_, r)| {
                let h = &r.histogram.as_ref()?.value;
                let d = histogram::distance(&f.histogram, h)?;
                Some(Hit {
                    path: paths::display(&r.path),
                    distance: f64::from(d),
                })
            })
            .collect(),
    };
    hits.sort_by(|a, b| {
        a.distance
            .total_cmp(&b.distance)
            .then_with(|| a.path.cmp(&b.path))
    });
    hits.truncate(cfg.k);
    Ok(hits)
}

/// Nearest stored embeddings made by the same model: exact scan for small
/// stores, the HNSW index (re-ranked exactly) for large ones.
fn embedding_hits(
    store: &Store,
    cfg: &QueryConfig,
    query_image: &image::RgbImage,
    self_paths: &[Vec<u8>],
) -> Result<Vec<Hit>> {
    let ecfg = cfg.embed.as_ref().ok_or_else(|| {
        Error::InvalidArgument("--by embedding needs the CNN model; drop --no-embed".into())
    })?;
    let mut embedder = Embedder::load(ecfg)?;
    let input = embedder.preprocess(query_image);
    let q = embedder.embed(input, 1)?.remove(0).vector;
    let fp = embedder.fingerprint().to_string();
    if store.fingerprint("embedding")?.as_deref() != Some(fp.as_str()) {
        return Err(Error::InvalidArgument(format!(
            "the store has no embeddings from model {}; run `imgdex index` with this model first",
            embedder.spec().name
        )));
    }
    let (ann, vectors) = stored::open_for_query(store, &fp, HnswParams::default())?;
    // Extra neighbours in case the query file itself is stored (filtered out).
    let found = ann
        .as_search()
        .search(&q, cfg.k + self_paths.len(), vectors.as_ref());
    // Tearing down a large graph (one allocation per point) takes as long as
    // loading it: let a background thread do it (or process exit).
    std::thread::spawn(move || drop(ann));
    let mut hits = Vec::new();
    for (id, d) in found {
        let Some(r) = store.get_image(id)? else {
            continue;
        };
        if !self_paths.contains(&r.path) {
            hits.push(Hit {
                path: paths::display(&r.path),
                distance: f64::from(d),
            });
        }
    }
    Ok(hits)
}
