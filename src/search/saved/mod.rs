//! The saved HNSW graph, kept beside the sled store in `<db>/ann/g<N>/`
//! (one directory per generation; named apart from `store`, the sled
//! store itself). The store stays the source of truth: the index is
//! derived data, named and checksummed in the store's `meta` tree (`ann`
//! key), fingerprinted with the search space (the embedding model and the
//! store's whitening, see `space`), the graph parameters and the
//! dimension, and rebuilt whenever it is missing, stale or corrupt.
//! `hnsw_rs` dumps have no checksum and may pick a new basename, so a dump
//! is written to a temporary directory, hashed, renamed into place and
//! only then recorded in `meta`; a crash at any point leaves the previous
//! generation in use.
//!
//! This module saves generations (`refresh`: extend or rebuild, then
//! `save`); `generation` is one saved generation and its derived files,
//! `open` gives each caller its `Searcher`. Every search runs on the
//! generation's flat file (`search::flatgraph`); the dump is loaded only
//! to extend the graph or to write a flat or edge file again that is
//! missing or does not check out, within the scope of that one job (the
//! loaded graph borrows from its loader).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use hnsw_rs::api::AnnT;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::search::ann::{AnnWrite, HnswIndex, HnswParams, MemoryVectors};
pub use crate::search::searcher::{Rerank, Searcher};
pub use crate::search::space::Space;
use crate::store::record;
use crate::store::{ImageId, Store};

mod dump;
mod generation;
mod meta;
mod open;
pub use dump::with_loaded_graph;
use dump::{checksum, with_saved_graph};
use generation::{generation_dir, write_companions};
pub use generation::{rejected_files as rejected, Generation, RejectedFile};
use meta::{full_fingerprint, read_meta};
pub use open::{edges_for, open, open_for_dupes, open_for_query, open_resident};

/// Rebuild the graph when more than this fraction of it is hidden.
pub const REBUILD_HIDDEN_FRACTION: f64 = 0.2;
const META_KEY: &str = "ann";
/// Present while an `index` run may have changed embeddings the saved graph
/// does not reflect yet (set before the change, cleared by a save/check).
const DIRTY_KEY: &str = "ann-dirty";
const BASENAME: &str = "imgdex";

/// What `meta/ann` records about the current graph files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnnMeta {
    pub generation: u64,
    pub basename: String,
    pub fingerprint: String,
    /// BLAKE3 over the graph file then the data file.
    pub checksum: [u8; 32],
    pub ids: Vec<u64>,
    pub removed: Vec<u64>,
}

impl AnnMeta {
    /// The hidden graph positions, as the graph files' readers take them.
    pub(crate) fn removed_positions(&self) -> HashSet<usize> {
        self.removed.iter().map(|p| *p as usize).collect()
    }
}

/// Versioned envelope of [`AnnMeta`] (its layout is pinned by a fixture).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum StoredAnnMeta {
    V1(AnnMeta),
}

/// All embeddings made by the model with fingerprint `fp`, in the store's
/// search space (whitened when the store has a transform for them).
pub fn live_vectors(store: &Store, fp: &str) -> Result<MemoryVectors> {
    crate::search::space::vectors(store, &Space::load(store, fp)?)
}

/// Write the current generation's flat graph and edge files again from
/// `h` (its graph, reloaded from the dump) when they do not check out.
pub fn ensure_files(store: &Store, h: &HnswIndex<'_>) -> Result<()> {
    match Generation::current(store)? {
        Some(g) => g.ensure_files(h),
        None => Ok(()),
    }
}

fn ann_root(store: &Store) -> PathBuf {
    store.dir().join("ann")
}

/// Called by `index` before it changes any embedding.
pub fn mark_dirty(store: &Store) -> Result<()> {
    if store.meta_get(META_KEY)?.is_some() && store.meta_get(DIRTY_KEY)?.is_none() {
        store.meta_put(DIRTY_KEY, &[1])?;
        store.flush()?;
    }
    Ok(())
}

/// Clear the marker `mark_dirty` set; whether it was set.
fn clear_dirty(store: &Store) -> Result<bool> {
    if store.meta_get(DIRTY_KEY)?.is_some() {
        store.meta_remove(DIRTY_KEY)?;
        store.flush()?;
        return Ok(true);
    }
    Ok(false)
}

/// Bring the saved graph up to date after an `index` run that (re)embedded
/// `changed` images. Returns which kind of index is now in use.
pub fn refresh(
    store: &Store,
    fp: &str,
    params: HnswParams,
    changed: &[ImageId],
) -> Result<&'static str> {
    let space = Space::load(store, fp)?;
    let live = crate::search::space::vectors(store, &space)?;
    if live.len() < params.exact_below {
        drop_saved(store)?;
        return Ok("exact");
    }
    let extended = with_saved_graph(store, &space, &params, live.dim, |h| {
        extend(store, &space, &live, h, changed)
    })?;
    match extended {
        Some(done) => done?,
        None => rebuild(store, &space, params, &live)?,
    }
    Ok("hnsw")
}

/// Bring the reloaded graph `h` to `live`: hide what is gone, insert what
/// changed or is new, then save (or rebuild when too much is hidden).
fn extend(
    store: &Store,
    space: &Space,
    live: &MemoryVectors,
    mut h: HnswIndex<'_>,
    changed: &[ImageId],
) -> Result<()> {
    let live_ids: HashSet<u64> = live.iter().map(|(id, _)| id).collect();
    let gone: Vec<u64> = h.live_ids().filter(|id| !live_ids.contains(id)).collect();
    let changed: HashSet<u64> = changed.iter().copied().collect();
    let add: Vec<(u64, &[f32])> = live
        .iter()
        .filter(|(id, _)| changed.contains(id) || !h.contains(*id))
        .collect();
    if gone.is_empty() && add.is_empty() {
        ensure_files(store, &h)?;
        return clear_dirty(store).map(drop);
    }
    for id in gone {
        h.remove(id);
    }
    h.insert_many(add);
    if h.hidden_fraction() > REBUILD_HIDDEN_FRACTION {
        rebuild(store, space, h.params(), live)
    } else {
        save(store, &h, space, live)
    }
}

/// Build a fresh graph over `live` (vectors of `space`) and save it.
fn rebuild(store: &Store, space: &Space, params: HnswParams, live: &MemoryVectors) -> Result<()> {
    save(store, &HnswIndex::build(live, params), space, live)
}

/// Dump to a temporary directory, checksum, write the companion files
/// beside it (see `generation`), rename into place, record.
fn save(store: &Store, h: &HnswIndex<'_>, space: &Space, live: &MemoryVectors) -> Result<()> {
    let root = ann_root(store);
    let generation = read_meta(store)?.map(|m| m.generation + 1).unwrap_or(1);
    let tmp = root.join(format!("tmp-{}-{generation}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let basename = h
        .hnsw
        .file_dump(&tmp, BASENAME)
        .map_err(|e| Error::io(&tmp, std::io::Error::other(e.to_string())))?;
    let sum = checksum(&tmp, &basename).map_err(|e| Error::io(&tmp, e))?;
    write_companions(&tmp, h, live, &sum)?;
    let dir = root.join(format!("g{generation}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::rename(&tmp, &dir).map_err(|e| Error::io(&dir, e))?;
    let meta = AnnMeta {
        generation,
        basename,
        fingerprint: full_fingerprint(space, &h.params(), h.projection.from),
        checksum: sum,
        ids: h.ids().to_vec(),
        removed: h.removed().iter().map(|p| *p as u64).collect(),
    };
    store.meta_put(META_KEY, &record::encode(&StoredAnnMeta::V1(meta)))?;
    store.meta_remove(DIRTY_KEY)?;
    store.flush()?;
    remove_other_generations(&root, generation);
    Ok(())
}

fn remove_other_generations(root: &Path, keep: u64) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    let keep = format!("g{keep}");
    for e in entries.flatten() {
        if e.file_name().to_string_lossy() != keep {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Forget the saved graph (collection became small).
fn drop_saved(store: &Store) -> Result<()> {
    if store.meta_get(META_KEY)?.is_some() {
        store.meta_remove(META_KEY)?;
        store.meta_remove(DIRTY_KEY)?;
        store.flush()?;
    }
    let _ = std::fs::remove_dir_all(ann_root(store));
    Ok(())
}

/// Generation number of the saved graph, if any (each save increments it).
pub fn saved_generation(store: &Store) -> Result<Option<u64>> {
    Ok(read_meta(store)?.map(|m| m.generation))
}

/// Directory holding the saved graph files of the current generation.
pub fn saved_dir(store: &Store) -> Result<Option<PathBuf>> {
    Ok(read_meta(store)?.map(|m| generation_dir(store, m.generation)))
}
