//! The saved HNSW graph, kept beside the sled store in `<db>/ann/g<N>/`
//! (one directory per generation; named apart from `store`, the sled
//! store itself). The
//! store stays the source of truth: the index is derived data, named and
//! checksummed in the store's `meta` tree (`ann` key), fingerprinted with
//! the search space (the embedding model and the store's whitening, see
//! `space`), the graph parameters and the dimension, and rebuilt
//! whenever it is missing, stale or corrupt. `hnsw_rs` dumps have no
//! checksum and may pick a new basename, so a dump is written to a temporary
//! directory, hashed, renamed into place and only then recorded in `meta`;
//! a crash at any point leaves the previous generation in use.
//!
//! Every search runs on the generation's flat file (`search::flatgraph`);
//! the dump is loaded only to extend the graph or to write a flat or edge
//! file again that is missing or does not check out, within the scope of
//! that one job (the loaded graph borrows from its loader).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use hnsw_rs::api::AnnT;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::search::ann::{same_live_ids, AnnWrite, HnswIndex, HnswParams, MemoryVectors};
use crate::search::flatgraph::FlatGraph;
use crate::search::rerank::RerankFile;
pub use crate::search::searcher::{Rerank, Searcher, StoreVectors};
pub use crate::search::space::Space;
use crate::store::record;
use crate::store::{ImageId, Store};

mod dump;
mod mapped;
mod meta;
pub use dump::with_loaded_graph;
use dump::{checksum, dump_checks_out, with_saved_graph};
pub use mapped::ensure_files;
pub use mapped::{edges_for, open_for_dupes};
use mapped::{open_edges, open_flat, resident_rerank, rewrite_rerank, write_companions};
use meta::{current_meta, full_fingerprint, matching_meta, read_meta};

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

fn ann_root(store: &Store) -> PathBuf {
    store.dir().join("ann")
}

/// Open the index for searching, with every live vector of the space in
/// memory ([`Searcher::live`]): exact for small collections, else the
/// saved graph's flat file (the graph rebuilt first if missing, stale or
/// corrupt; a flat or edge file that does not check out written again
/// from the dump).
pub fn open(store: &Store, fp: &str, params: HnswParams) -> Result<Searcher> {
    open_in(store, Space::load(store, fp)?, params)
}

fn open_in(store: &Store, space: Space, params: HnswParams) -> Result<Searcher> {
    let live = crate::search::space::vectors(store, &space)?;
    if live.len() < params.exact_below {
        return Ok(Searcher::exact(space, live));
    }
    let current = match matching_meta(store, &space, &params, live.dim)? {
        Some(meta) if same_ids(&meta, &live) && dump_checks_out(store, &meta) => {
            current_flat(store, &space, &params, &meta, live.dim)?
        }
        _ => None,
    };
    let flat = match current {
        Some(flat) => {
            clear_dirty(store)?;
            flat
        }
        None => {
            rebuild(store, &space, params, &live)?;
            let meta = read_meta(store)?
                .ok_or(Error::Internal("the graph just saved has no meta record"))?;
            open_flat(store, &params, live.dim, meta)?.ok_or(Error::Internal(
                "the flat graph just written does not check out",
            ))?
        }
    };
    Ok(Searcher::flat(space, flat, Rerank::Memory(live)))
}

/// The generation's flat graph, once it and the edge file check out
/// (written again from the dump when they do not); `None` when the dump
/// cannot be loaded either (the graph is then rebuilt).
fn current_flat(
    store: &Store,
    space: &Space,
    params: &HnswParams,
    meta: &AnnMeta,
    dim: usize,
) -> Result<Option<FlatGraph>> {
    if open_edges(store, meta)?.is_some() {
        if let Some(flat) = open_flat(store, params, dim, meta.clone())? {
            return Ok(Some(flat));
        }
    }
    match with_saved_graph(store, space, params, dim, |h| ensure_files(store, &h))? {
        Some(written) => written.and_then(|()| open_flat(store, params, dim, meta.clone())),
        None => Ok(None),
    }
}

/// For one query: the saved graph, re-ranking with vectors read from the
/// store, when it is known to be current (no `index` run has touched the
/// embeddings since it was saved), so nothing is loaded up front; else
/// `open`, which checks every id (and rebuilds if needed).
pub fn open_for_query(store: &Store, fp: &str, params: HnswParams) -> Result<Searcher> {
    let space = Space::load(store, fp)?;
    if let Some((meta, dim)) = current_meta(store, &space, &params)? {
        if let Some(g) = open_flat(store, &params, dim, meta)? {
            return Ok(Searcher::flat(space, g, Rerank::Store));
        }
    }
    open_in(store, space, params)
}

/// For a long-lived searcher (the server): the saved graph when it is
/// current, as its mapped flat file; otherwise [`open`], which checks
/// every id and rebuilds or rewrites what is needed. An exact index holds
/// its vectors.
///
/// A graph re-ranks from its generation's mapped re-rank file (written
/// first if it is missing or damaged, e.g. by an older imgdex): re-ranking
/// then reads no store records.
pub fn open_resident(store: &Store, fp: &str, params: HnswParams) -> Result<Searcher> {
    let space = Space::load(store, fp)?;
    if let Some((meta, dim)) = current_meta(store, &space, &params)? {
        if let Some(g) = open_flat(store, &params, dim, meta)? {
            let rerank = resident_rerank(store, &space, dim)?;
            return Ok(with_file(Searcher::flat(space, g, Rerank::Store), rerank));
        }
    }
    // The embeddings may have changed since the file was written (an
    // `index` run stopped part way): write it again from the live vectors.
    let searcher = open_in(store, space, params)?;
    let rerank = match (searcher.kind(), searcher.live()) {
        ("flat", Some(live)) => rewrite_rerank(store, live)?,
        _ => return Ok(searcher),
    };
    Ok(with_file(searcher, rerank))
}

/// `searcher` re-ranking from `file` when there is one.
fn with_file(searcher: Searcher, file: Option<RerankFile>) -> Searcher {
    match file {
        Some(file) => searcher.with_rerank(Rerank::File(file)),
        None => searcher,
    }
}

/// Called by `index` before it changes any embedding.
pub fn mark_dirty(store: &Store) -> Result<()> {
    if store.meta_get(META_KEY)?.is_some() && store.meta_get(DIRTY_KEY)?.is_none() {
        store.meta_put(DIRTY_KEY, &[1])?;
        store.flush()?;
    }
    Ok(())
}

fn clear_dirty(store: &Store) -> Result<()> {
    if store.meta_get(DIRTY_KEY)?.is_some() {
        store.meta_remove(DIRTY_KEY)?;
        store.flush()?;
    }
    Ok(())
}

/// Whether the graph's live ids (those at positions not removed) are
/// exactly those of `live`.
fn same_ids(meta: &AnnMeta, live: &MemoryVectors) -> bool {
    same_live_ids(&meta.ids, &meta.removed_positions(), live)
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
        return clear_dirty(store);
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

/// Directory of saved generation `generation`.
fn generation_dir(store: &Store, generation: u64) -> PathBuf {
    ann_root(store).join(format!("g{generation}"))
}

/// Dump to a temporary directory, checksum, write the companion files
/// beside it (see `mapped`), rename into place, record.
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
