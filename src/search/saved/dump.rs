//! The `hnsw_rs` dump of a saved generation: its checksum, and reloading
//! it for one job (extending the graph, or writing its flat and edge files
//! again). A reloaded graph borrows from its loader, so it is handed to a
//! closure and dropped with the loader when the job returns; nothing
//! searches it.

use std::path::Path;

use hnsw_rs::anndists::dist::DistL2;
use hnsw_rs::hnswio::{HnswIo, ReloadOptions};

use super::meta::{matching_meta, read_meta, store_dim};
use super::{generation_dir, AnnMeta};
use crate::error::Result;
use crate::search::ann::{HnswIndex, HnswParams, Projection};
use crate::search::space::Space;
use crate::store::Store;

/// Run `job` on the saved graph of `fp`'s space reloaded from its dump
/// (`None` when there is no valid one): for checks that compare the files
/// derived from a graph with the graph itself.
pub fn with_loaded_graph<R>(
    store: &Store,
    fp: &str,
    params: HnswParams,
    job: impl FnOnce(HnswIndex<'_>) -> R,
) -> Result<Option<R>> {
    let space = Space::load(store, fp)?;
    let Some(meta) = read_meta(store)? else {
        return Ok(None);
    };
    let Some(dim) = store_dim(store, &space, &meta)? else {
        return Ok(None);
    };
    with_saved_graph(store, &space, &params, dim, job)
}

/// Run `job` on the saved graph reloaded from its dump, if the dump exists,
/// matches its checksum and was built for this space and these parameters
/// (`None` otherwise). The graph borrows from its loader, which lives
/// here: the graph cannot outlive this call.
pub(super) fn with_saved_graph<R>(
    store: &Store,
    space: &Space,
    params: &HnswParams,
    dim: usize,
    job: impl FnOnce(HnswIndex<'_>) -> R,
) -> Result<Option<R>> {
    let Some(meta) = matching_meta(store, space, params, dim)? else {
        return Ok(None);
    };
    if !dump_checks_out(store, &meta) {
        return Ok(None);
    }
    with_checked_graph(store, &meta, params, dim, job)
}

/// [`with_saved_graph`] for a generation whose meta was already matched
/// and whose dump was already checked (the dump is not hashed again).
pub(super) fn with_checked_graph<R>(
    store: &Store,
    meta: &AnnMeta,
    params: &HnswParams,
    dim: usize,
    job: impl FnOnce(HnswIndex<'_>) -> R,
) -> Result<Option<R>> {
    let dir = generation_dir(store, meta.generation);
    // Vectors read into memory, not mapped: the graph may be extended.
    let options = ReloadOptions::default().set_mmap(false);
    let mut io = HnswIo::new_with_options(&dir, &meta.basename, options);
    // hnsw_rs asserts on malformed files: a panic is a corrupt graph.
    let io = &mut io;
    let loaded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let io = io; // moved in (no reborrow): the graph borrows for as long as `io` lives
        io.load_hnsw::<f32, DistL2>()
    }));
    let Ok(Ok(hnsw)) = loaded else {
        return Ok(None);
    };
    let mut h = HnswIndex::empty(
        hnsw,
        Projection::new(dim, params.projected_dim, params.seed),
        *params,
    );
    h.restore(meta.ids.clone(), meta.removed_positions());
    Ok(Some(job(h)))
}

/// Whether the generation's `hnsw_rs` dump matches its recorded checksum.
pub(super) fn dump_checks_out(store: &Store, meta: &AnnMeta) -> bool {
    let dir = generation_dir(store, meta.generation);
    checksum(&dir, &meta.basename).ok() == Some(meta.checksum)
}

pub(super) fn checksum(dir: &Path, basename: &str) -> std::io::Result<[u8; 32]> {
    let mut hasher = blake3::Hasher::new();
    for ext in ["hnsw.graph", "hnsw.data"] {
        let bytes = std::fs::read(dir.join(format!("{basename}.{ext}")))?;
        hasher.update(&bytes);
    }
    Ok(hasher.finalize().into())
}
