//! The memory-mapped companions of the saved graph, kept in its
//! generation directory: the flat graph a one-shot `query` searches in
//! place, and the re-rank vectors the server reads instead of store
//! records. Both are derived from, and bound to, the current generation.

use std::path::PathBuf;

use super::{generation_dir, matching_meta, read_meta};
use crate::error::{Error, Result};
use crate::index::ann::{HnswIndex, HnswParams, MemoryVectors};
use crate::index::flatgraph::{self, FlatGraph};
use crate::index::rerank::{self, RerankFile};
use crate::index::space::Space;
use crate::store::Store;

/// The current generation's flat graph file, when it checks out.
pub(super) fn open_flat(
    store: &Store,
    space: &Space,
    params: &HnswParams,
    dim: usize,
) -> Result<Option<FlatGraph>> {
    let Some(meta) = matching_meta(store, space, params, dim)? else {
        return Ok(None);
    };
    let path = generation_dir(store, meta.generation).join(flatgraph::FILE_NAME);
    let removed = meta.removed.iter().map(|p| *p as usize).collect();
    FlatGraph::open(&path, &meta.checksum, meta.ids, removed, *params, dim)
}

/// The current generation's re-rank file, rewritten from the store when it
/// does not check out. `None` only when there is no saved graph.
pub(super) fn resident_rerank(
    store: &Store,
    space: &Space,
    dim: usize,
) -> Result<Option<RerankFile>> {
    let Some((dir, sum)) = current_generation(store)? else {
        return Ok(None);
    };
    rerank::open_or_write(&dir, &sum, dim, || {
        crate::index::space::vectors(store, space)
    })
    .map(Some)
}

/// Write the current generation's re-rank file from `live` and map it.
pub(super) fn rewrite_rerank(store: &Store, live: &MemoryVectors) -> Result<Option<RerankFile>> {
    let Some((dir, sum)) = current_generation(store)? else {
        return Ok(None);
    };
    rerank::rewrite(&dir, &sum, live).map(Some)
}

/// Directory and graph checksum of the saved generation.
fn current_generation(store: &Store) -> Result<Option<(PathBuf, [u8; 32])>> {
    Ok(read_meta(store)?.map(|m| (generation_dir(store, m.generation), m.checksum)))
}

/// Write the current generation's flat graph file from `h` when it has
/// none (a graph saved by an older imgdex), so the next one-shot query can
/// search in place.
pub(super) fn ensure_flat(store: &Store, h: &HnswIndex) -> Result<()> {
    let Some((dir, sum)) = current_generation(store)? else {
        return Ok(());
    };
    let path = dir.join(flatgraph::FILE_NAME);
    if path.exists() {
        return Ok(());
    }
    let tmp = path.with_extension("tmp");
    flatgraph::write(&tmp, h, &sum)?;
    std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))
}
