//! The `query` job: the stored images nearest to a given image, which need
//! not be in the store itself. The query image goes through the same decode
//! and feature code as indexed images. Ranking is one function, [`rank`],
//! over a [`Corpus`] (records, and an ANN index with its vectors): the CLI
//! builds a corpus for one query, the resident server keeps one loaded.

use std::path::{Path, PathBuf};

use serde::Serialize;

mod probe;
mod request;

pub use probe::Probe;
pub use request::{QueryRequest, QuerySettings, DEFAULT_K};

use crate::decode;
use crate::decode::DecodeConfig;
use crate::error::{Error, Result};
use crate::features::embedding::{EmbedConfig, Embedder};
use crate::features::FeatureConfig;
use crate::features::{self, histogram, Features};
use crate::paths;
use crate::search::ann::HnswParams;
use crate::search::hamming;
use crate::search::saved;
use crate::search::searcher::Searcher;
use crate::store::record::fingerprint_code;
use crate::store::{ImageId, ImageRecord, Store};

/// The task [`Error::NoModel`] names when a query by embedding has no model.
pub const QUERY_BY_EMBEDDING: &str = "a query by embedding";

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

impl QueryBy {
    /// Whether a query of this kind may use the CNN (so a caller can start
    /// loading it early, see [`PendingModel`]).
    pub fn may_embed(self) -> bool {
        matches!(self, QueryBy::Auto | QueryBy::Embedding)
    }

    /// `Auto` resolved: embeddings when they can be used, else hashes.
    pub fn resolve(self, embeddings_usable: bool) -> QueryBy {
        match self {
            QueryBy::Auto if embeddings_usable => QueryBy::Embedding,
            QueryBy::Auto => QueryBy::Hash,
            other => other,
        }
    }
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
    /// The stored image's id (what the server's `/api/thumb/{id}` takes).
    pub id: ImageId,
    pub path: String,
    pub distance: f64,
}

/// What a query ranks against.
pub struct Corpus<'a> {
    pub store: &'a Store,
    /// Records scanned by hash and histogram queries.
    pub records: &'a [(ImageId, ImageRecord)],
    /// Fingerprint code of the hashes `records` must carry.
    pub hash_code: u32,
    /// The embedding search, when the store has embeddings.
    pub searcher: Option<&'a Searcher>,
}

/// Decode and analyse an image that is not (necessarily) in the store.
pub fn analyse_file(
    path: &Path,
    dcfg: &DecodeConfig,
    fcfg: &FeatureConfig,
) -> Result<(decode::Decoded, Features)> {
    let a = features::analyse(path, dcfg, fcfg)?;
    Ok((a.decoded, a.features))
}

/// Decode and analyse image bytes (an upload); `name` only labels errors.
pub fn analyse_bytes(
    name: &Path,
    bytes: &[u8],
    dcfg: &DecodeConfig,
    fcfg: &FeatureConfig,
) -> Result<(decode::Decoded, Features)> {
    if bytes.is_empty() {
        return Err(Error::Decode {
            path: name.into(),
            reason: "file is empty".into(),
        });
    }
    if bytes.len() as u64 > dcfg.max_file_bytes {
        return Err(Error::FileTooLarge {
            path: name.into(),
            size: bytes.len() as u64,
            limit: dcfg.max_file_bytes,
        });
    }
    let a = features::analyse_bytes(name, bytes, dcfg, fcfg)?;
    Ok((a.decoded, a.features))
}

/// The CNN embedding of a decoded query image.
pub fn embed_decoded(embedder: &mut Embedder, decoded: &decode::Decoded) -> Result<Vec<f32>> {
    let input = embedder.preprocess_decoded(decoded);
    let mut out = embedder.embed(input, 1)?;
    Ok(out.remove(0).vector)
}

/// Error unless the store's embeddings were made by this model.
pub fn check_model(store: &Store, embedder: &Embedder) -> Result<()> {
    if store.fingerprint("embedding")?.as_deref() != Some(embedder.fingerprint()) {
        return Err(Error::InvalidArgument(format!(
            "the store has no embeddings from model {}; run `imgdex index` with this model first",
            embedder.spec().name
        )));
    }
    Ok(())
}

/// The CNN of a query, loading on a thread of its own: a one-shot query
/// starts it before opening the store, so the two biggest fixed costs of a
/// cold `query` (building the ONNX Runtime session, ~75 ms; opening a
/// large sled store, ~95 ms at 1M images) overlap instead of adding up.
pub struct PendingModel {
    handle: Option<std::thread::JoinHandle<Result<Embedder>>>,
    /// The model file being loaded.
    model: std::path::PathBuf,
}

impl PendingModel {
    /// Start loading the model `cfg` names.
    pub fn start(cfg: &EmbedConfig) -> PendingModel {
        let model = cfg.model.clone();
        let cfg = cfg.clone();
        PendingModel {
            handle: Some(std::thread::spawn(move || Embedder::load(&cfg))),
            model,
        }
    }

    /// The loaded model, or the error loading it gave.
    pub fn wait(mut self) -> Result<Embedder> {
        let handle = self
            .handle
            .take()
            .ok_or(Error::Internal("model already taken"))?;
        handle
            .join()
            .map_err(|_| Error::Internal("the model loading thread panicked"))?
    }
}

impl Drop for PendingModel {
    /// A model not waited for (an error came first, or the store had no
    /// embeddings) is still joined, so no thread is inside ONNX Runtime
    /// while the process exits and the library's static destructors run.
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

pub fn run(store: &Store, cfg: &QueryConfig) -> Result<Vec<Hit>> {
    run_from(store, cfg, Model::Load)
}

/// [`run`] with the model already loading (see [`PendingModel`]); it must
/// come from `cfg.embed`. Without one, the model is loaded when needed.
pub fn run_with(store: &Store, cfg: &QueryConfig, model: Option<PendingModel>) -> Result<Vec<Hit>> {
    run_from(store, cfg, model.map_or(Model::Load, Model::Pending))
}

/// [`run`] for a caller that answers many queries in one process (the
/// Python package's `Store.query`): the model `cfg.embed` names is loaded
/// into `slot` the first time a query needs it and reused from there.
pub fn run_cached(
    store: &Store,
    cfg: &QueryConfig,
    slot: &mut Option<Embedder>,
) -> Result<Vec<Hit>> {
    run_from(store, cfg, Model::Cached(slot))
}

/// Where a query's CNN comes from.
enum Model<'a> {
    /// Loaded from `cfg.embed` when needed, dropped after.
    Load,
    /// Already loading on a thread of its own.
    Pending(PendingModel),
    /// Kept by the caller; loaded into the slot when it is empty.
    Cached(&'a mut Option<Embedder>),
}

impl<'a> Model<'a> {
    /// The model `ecfg` names ([`EmbedConfig::for_store`]: the one to embed
    /// with for this store), loaded: the caller's when it is that model,
    /// else loaded into `owned` (or the caller's slot). A pending load of
    /// another model is dropped, and its outcome (an error too) unused.
    fn get<'s>(
        self,
        ecfg: &EmbedConfig,
        owned: &'s mut Option<Embedder>,
    ) -> Result<&'s mut Embedder>
    where
        'a: 's,
    {
        let slot = match self {
            Model::Load => owned,
            Model::Pending(m) if m.model == ecfg.model => {
                *owned = Some(m.wait()?);
                owned
            }
            Model::Pending(_) => owned,
            Model::Cached(slot) => slot,
        };
        if slot.as_ref().is_none_or(|e| e.model() != ecfg.model) {
            *slot = Some(Embedder::load(ecfg)?);
        }
        slot.as_mut()
            .ok_or(Error::Internal("query model not loaded"))
    }
}

fn run_from(store: &Store, cfg: &QueryConfig, model: Model) -> Result<Vec<Hit>> {
    request::check_k(cfg.k)?;
    let (decoded, f) = analyse_file(&cfg.image, &cfg.decode, &cfg.features)?;
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
    let store_fp = store.fingerprint("embedding")?;
    let usable = cfg.embed.is_some() && store_fp.is_some();
    let by = cfg.by.resolve(usable);
    let mut probe = Probe::from(f);
    let hash_code = fingerprint_code(&cfg.features.hash_fingerprint());
    if by != QueryBy::Embedding {
        // Hash and histogram queries scan every record.
        let records = store.scan_images()?.records;
        let corpus = Corpus {
            store,
            records: &records,
            hash_code,
            searcher: None,
        };
        return rank(&corpus, &probe, by, cfg.k, &self_paths);
    }
    let named = cfg.embed.as_ref().ok_or(Error::NoModel {
        task: QUERY_BY_EMBEDDING,
    })?;
    let ecfg = named.for_store(store_fp.as_deref());
    let mut owned = None;
    let embedder = model.get(&ecfg, &mut owned)?;
    probe.embedding = Some(embed_decoded(embedder, &decoded)?);
    check_model(store, embedder)?;
    let fp = embedder.fingerprint().to_string();
    let searcher = saved::open_for_query(store, &fp, HnswParams::default())?;
    let corpus = Corpus {
        store,
        records: &[],
        hash_code,
        searcher: Some(&searcher),
    };
    rank(&corpus, &probe, by, cfg.k, &self_paths)
}

/// The `k` stored images nearest to `probe` by `by` (resolved, not `Auto`),
/// leaving out the records whose path is in `exclude`; nearest first, ties
/// by path.
pub fn rank(
    corpus: &Corpus,
    probe: &Probe,
    by: QueryBy,
    k: usize,
    exclude: &[Vec<u8>],
) -> Result<Vec<Hit>> {
    if k == 0 {
        return Err(Error::InvalidArgument("k must be at least 1".into()));
    }
    let missing = |what: &str| Error::InvalidArgument(format!("the query image has no {what}"));
    let kept = || {
        corpus
            .records
            .iter()
            .filter(|(_, r)| !exclude.contains(&r.path))
    };
    let mut hits: Vec<Hit> = match by {
        QueryBy::Auto => return Err(Error::Internal("query by auto not resolved")),
        QueryBy::Hash => {
            let q = probe.hashes.as_ref().ok_or_else(|| missing("hashes"))?;
            let (recs, hashes): (Vec<_>, Vec<_>) = kept()
                .filter_map(|(id, r)| {
                    let t = r
                        .hashes
                        .as_ref()
                        .filter(|t| t.fingerprint == corpus.hash_code)?;
                    Some(((*id, &r.path), t.value))
                })
                .unzip();
            hamming::nearest(&hashes, q, k)
                .into_iter()
                .map(|(i, d)| hit(recs[i as usize].0, recs[i as usize].1, d))
                .collect()
        }
        QueryBy::Histogram => {
            let q = probe
                .histogram
                .as_ref()
                .ok_or_else(|| missing("histogram"))?;
            kept()
                .filter_map(|(id, r)| {
                    let d = histogram::distance(q, &r.histogram.as_ref()?.value)?;
                    Some(hit(*id, &r.path, f64::from(d)))
                })
                .collect()
        }
        QueryBy::Embedding => embedding_hits(corpus, probe, k, exclude)?,
    };
    hits.sort_by(|a, b| {
        a.distance
            .total_cmp(&b.distance)
            .then_with(|| a.path.cmp(&b.path))
    });
    hits.truncate(k);
    Ok(hits)
}

fn hit(id: ImageId, path: &[u8], distance: f64) -> Hit {
    Hit {
        id,
        path: paths::display(path),
        distance,
    }
}

/// Nearest stored embeddings: the ANN index's answer, with paths.
fn embedding_hits(
    corpus: &Corpus,
    probe: &Probe,
    k: usize,
    exclude: &[Vec<u8>],
) -> Result<Vec<Hit>> {
    let q = probe
        .embedding
        .as_ref()
        .ok_or_else(|| Error::InvalidArgument("the query image has no CNN embedding".into()))?;
    let searcher = corpus.searcher.ok_or_else(|| {
        Error::InvalidArgument("the store has no CNN embeddings to search".into())
    })?;
    // Extra neighbours in case excluded files come back.
    let found = searcher.search(corpus.store, q, k + exclude.len());
    let mut hits = Vec::new();
    for (id, d) in found {
        let Some(r) = corpus.store.get_image(id)? else {
            continue;
        };
        if !exclude.contains(&r.path) {
            hits.push(hit(id, &r.path, f64::from(d)));
        }
    }
    Ok(hits)
}
