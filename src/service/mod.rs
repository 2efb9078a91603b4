//! The resident state behind `imgdex serve`: one open store (holding its
//! lock for the process's lifetime), an in-memory catalogue of its records,
//! the loaded ANN index, a small pool of ONNX Runtime sessions and a bounded
//! thumbnail cache. It answers the same questions as the CLI jobs, with the
//! same serialisable reports, without reopening anything per request; the
//! HTTP layer (`src/cli/serve/`) is a thin shell over it. Every method is
//! blocking: async callers run them on a blocking thread. It sits beside
//! `jobs`, not inside it: jobs are "config in, report out", this module
//! holds state across them.

mod catalog;
mod decide;
mod files;
mod pool;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use crate::decode::DecodeConfig;
use crate::error::{Error, Result};
use crate::features::embedding::EmbedConfig;
use crate::features::FeatureConfig;
use crate::jobs::dupes::{self, DupesConfig, DupesReport};
use crate::jobs::index::IndexConfig;
use crate::jobs::index::{self, IndexSummary};
use crate::jobs::info::{self, InfoReport};
use crate::jobs::query::{self, Corpus, Hit, Probe, QueryBy};
use crate::store::record::fingerprint_code;
use crate::store::Store;

pub use catalog::{ClusterMembers, ClusterSummary, ClustersView, Snapshot};
pub use decide::{IndexProgress, MemberEvidence};
pub use files::{FileIdentity, Original, ThumbCache};
use pool::EmbedderPool;

/// How the resident state analyses query images and bounds its memory.
#[derive(Debug, Clone)]
pub struct ResidentConfig {
    pub decode: DecodeConfig,
    pub features: FeatureConfig,
    /// CNN model for uploaded query images and re-indexing (`None`: no CNN).
    pub embed: Option<EmbedConfig>,
    /// ONNX Runtime sessions for query images (each ~160 MiB with the float model, less with the int8 one).
    pub sessions: usize,
    /// Bound on the thumbnail cache, in bytes of encoded JPEG.
    pub thumb_cache_bytes: usize,
    /// Longest side of a thumbnail, in pixels.
    pub thumb_side: u32,
    /// Reference folders (canonical) every `dupes` and apply honours:
    /// their files win the keeper choice and are never acted on.
    pub reference: Vec<PathBuf>,
}

impl ResidentConfig {
    pub fn validate(&self) -> Result<()> {
        self.features.validate()?;
        if !(1..=16).contains(&self.sessions) {
            return Err(Error::InvalidArgument(format!(
                "sessions must be between 1 and 16, got {}",
                self.sessions
            )));
        }
        if !(16..=1024).contains(&self.thumb_side) {
            return Err(Error::InvalidArgument(format!(
                "thumbnail side must be between 16 and 1024 pixels, got {}",
                self.thumb_side
            )));
        }
        Ok(())
    }
}

/// What a write job (index, apply) returns: its report, and the error of
/// the reload after it if that failed. The job's changes are in the store
/// either way; only the server's loaded view may be older than the store.
#[derive(Debug)]
pub struct Written<T> {
    pub report: T,
    pub reload_error: Option<Error>,
}

/// The store and everything kept loaded from it.
pub struct Resident {
    store: Store,
    cfg: ResidentConfig,
    snapshot: RwLock<Arc<Snapshot>>,
    embedders: Option<EmbedderPool>,
    /// Why there are no embedders, when there are none.
    embed_note: Option<String>,
    thumbs: Mutex<ThumbCache>,
    dupes: Mutex<HashMap<String, Arc<DupesReport>>>,
    info: Mutex<Option<Arc<InfoReport>>>,
    /// Held by the one write job (index, apply) allowed at a time.
    writer: Mutex<()>,
    /// The running re-index's progress, while one runs.
    indexing: Mutex<Option<indicatif::ProgressBar>>,
}

impl Resident {
    /// Load everything from an open store.
    pub fn new(store: Store, mut cfg: ResidentConfig) -> Result<Resident> {
        cfg.validate()?;
        // Queries and re-indexing use the model that built the store, unless
        // the caller named one (a store from before the default changed).
        let store_fp = store.fingerprint("embedding")?;
        cfg.embed = cfg.embed.map(|e| e.for_store(store_fp.as_deref()));
        let snapshot = Snapshot::load(&store)?;
        let (embedders, embed_note) = match &cfg.embed {
            None => (
                None,
                Some("the server runs without the CNN model (embedding is off)".into()),
            ),
            Some(e) => match EmbedderPool::load(e, cfg.sessions) {
                Ok(p) => (Some(p), None),
                Err(err) => (None, Some(err.to_string())),
            },
        };
        let thumbs = Mutex::new(ThumbCache::new(cfg.thumb_cache_bytes));
        Ok(Resident {
            store,
            cfg,
            snapshot: RwLock::new(Arc::new(snapshot)),
            embedders,
            embed_note,
            thumbs,
            dupes: Mutex::new(HashMap::new()),
            info: Mutex::new(None),
            writer: Mutex::new(()),
            indexing: Mutex::new(None),
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Why uploaded images cannot be embedded, if they cannot.
    pub fn embed_note(&self) -> Option<&str> {
        self.embed_note.as_deref()
    }

    /// The current snapshot (cheap; stays valid across reloads).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.snapshot.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Re-read the store after it changed (index, apply).
    pub fn reload(&self) -> Result<()> {
        let fresh = Arc::new(Snapshot::load(&self.store)?);
        let old = std::mem::replace(
            &mut *self.snapshot.write().unwrap_or_else(|e| e.into_inner()),
            fresh,
        );
        // Tearing down a large graph takes as long as loading it.
        std::thread::spawn(move || drop(old));
        lock(&self.dupes).clear();
        *lock(&self.info) = None;
        lock(&self.thumbs).clear();
        Ok(())
    }

    /// `info --json`.
    pub fn info(&self) -> Result<Arc<InfoReport>> {
        if let Some(r) = lock(&self.info).as_ref() {
            return Ok(Arc::clone(r));
        }
        let r = Arc::new(info::run(&self.store)?);
        *lock(&self.info) = Some(Arc::clone(&r));
        Ok(r)
    }

    /// `query --json` for an uploaded image (bytes of any indexable format).
    pub fn query_bytes(&self, bytes: &[u8], k: usize, by: QueryBy) -> Result<Vec<Hit>> {
        let name = Path::new("uploaded image");
        let (decoded, f) = query::analyse_bytes(name, bytes, &self.cfg.decode, &self.cfg.features)?;
        let snap = self.snapshot();
        let usable = snap.searcher.is_some() && self.embedders.is_some();
        let by = by.resolve(usable);
        let mut probe = Probe::from(f);
        if by == QueryBy::Embedding {
            let pool = self.embedders.as_ref().ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "cannot embed the uploaded image: {}",
                    self.embed_note.as_deref().unwrap_or("no model")
                ))
            })?;
            let v = pool.with(|e| {
                query::check_model(&self.store, e)?;
                query::embed_decoded(e, &decoded)
            })?;
            probe.embedding = Some(v);
        }
        self.rank(&snap, &probe, by, k, &[])
    }

    /// `query --json` for an indexed file, from its stored features (the
    /// file itself is not read). `path` must be a stored path exactly.
    pub fn query_path(&self, path: &Path, k: usize, by: QueryBy) -> Result<Vec<Hit>> {
        let snap = self.snapshot();
        let key = crate::paths::to_bytes(path);
        let (id, rec) = snap.by_path(&key).ok_or_else(|| Error::NotInStore {
            what: format!("path {}", path.display()),
        })?;
        let by = by.resolve(snap.searcher.is_some());
        let mut probe = Probe {
            hashes: rec.hashes.as_ref().map(|t| t.value),
            histogram: rec.histogram.as_ref().map(|t| t.value.clone()),
            embedding: None,
        };
        if by == QueryBy::Embedding {
            let fp = snap.searcher.as_ref().map(|s| s.space().code());
            probe.embedding = self
                .store
                .get_embedding(id)?
                .filter(|e| Some(e.fingerprint) == fp)
                .map(|e| e.to_f32());
        }
        self.rank(&snap, &probe, by, k, &[key])
    }

    fn rank(
        &self,
        snap: &Snapshot,
        probe: &Probe,
        by: QueryBy,
        k: usize,
        exclude: &[Vec<u8>],
    ) -> Result<Vec<Hit>> {
        let corpus = Corpus {
            store: &self.store,
            records: &snap.records,
            hash_code: fingerprint_code(&self.cfg.features.hash_fingerprint()),
            searcher: snap.searcher.as_ref(),
        };
        query::rank(&corpus, probe, by, k, exclude)
    }

    /// `dupes --json`, computed once per configuration and store state
    /// (the server's reference folders added to the configuration's).
    pub fn dupes(&self, cfg: &DupesConfig) -> Result<Arc<DupesReport>> {
        let mut cfg = cfg.clone();
        cfg.reference.extend(self.cfg.reference.iter().cloned());
        let cfg = &cfg;
        let key = format!("{cfg:?}");
        if let Some(r) = lock(&self.dupes).get(&key) {
            return Ok(Arc::clone(r));
        }
        let r = Arc::new(dupes::run(&self.store, cfg)?);
        lock(&self.dupes).insert(key, Arc::clone(&r));
        Ok(r)
    }

    /// Re-index the store's recorded roots, then reload (see [`Self::write`]).
    pub fn index(&self) -> Result<Written<IndexSummary>> {
        let _w = self.writer.try_lock().map_err(|_| Error::Busy {
            task: "another index or apply",
        })?;
        let roots = self.store.roots()?;
        if roots.is_empty() {
            return Err(Error::InvalidArgument(
                "the store has no recorded roots; run `imgdex index DIR` once first".into(),
            ));
        }
        let mut cfg = IndexConfig::new(roots);
        cfg.decode = self.cfg.decode.clone();
        cfg.features = self.cfg.features.clone();
        cfg.embed = self.cfg.embed.clone();
        let bar = indicatif::ProgressBar::hidden();
        cfg.progress_to = Some(bar.clone());
        *lock(&self.indexing) = Some(bar);
        let summary = index::run(&self.store, &cfg);
        *lock(&self.indexing) = None;
        self.after_write(summary)
    }

    /// A JPEG thumbnail of stored image `id` (cached while its file keeps
    /// the identity it had when the thumbnail was made).
    pub fn thumb(&self, id: u64) -> Result<Arc<Vec<u8>>> {
        let snap = self.snapshot();
        let now = FileIdentity::current(&snap, id);
        if let Some(t) = lock(&self.thumbs).get(id, now) {
            return Ok(t);
        }
        let (t, made_from) = files::thumbnail(&snap, id, self.cfg.thumb_side)?;
        let t = Arc::new(t);
        lock(&self.thumbs).put(id, Arc::clone(&t), made_from);
        Ok(t)
    }

    /// Stored image `id`'s file, verified against the store and rewound.
    pub fn image(&self, id: u64) -> Result<Original> {
        files::original(&self.snapshot(), id)
    }

    /// The saved clustering, summarised per cluster.
    pub fn clusters(&self, sample: usize) -> Result<ClustersView> {
        catalog::clusters(&self.store, &self.snapshot(), sample)
    }

    /// One page of one cluster's members.
    pub fn cluster_members(&self, c: u32, offset: usize, limit: usize) -> Result<ClusterMembers> {
        catalog::cluster_members(&self.store, &self.snapshot(), c, offset, limit)
    }

    /// Run a write job (with the writer lock), then reload. A job that
    /// succeeded keeps its report even when the reload fails (the error
    /// comes with it); a job that failed returns its own error.
    pub fn write<T>(
        &self,
        task: &'static str,
        job: impl FnOnce(&Store) -> Result<T>,
    ) -> Result<Written<T>> {
        let _w = self.writer.try_lock().map_err(|_| Error::Busy { task })?;
        let out = job(&self.store);
        self.after_write(out)
    }

    fn after_write<T>(&self, out: Result<T>) -> Result<Written<T>> {
        let reload = self.reload();
        Ok(Written {
            report: out?,
            reload_error: reload.err(),
        })
    }

    /// The server's reference folders (canonical).
    pub fn reference(&self) -> &[PathBuf] {
        &self.cfg.reference
    }

    /// The recorded roots, canonical.
    pub fn roots(&self) -> Vec<PathBuf> {
        self.snapshot().roots.clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
