//! The memory-mapped companions of the saved graph, kept in its
//! generation directory: the flat graph a one-shot `query` searches in
//! place, and the re-rank vectors the server reads instead of store
//! records; and the edge file `dupes` re-ranks graph neighbours from
//! without loading the dump. All are derived from, and bound to, the
//! current generation.

use std::path::{Path, PathBuf};

use super::meta::{current_meta, read_meta};
use super::{generation_dir, AnnMeta};
use crate::error::{Error, Result};
use crate::search::ann::{HnswIndex, HnswParams, MemoryVectors};
use crate::search::edges::{self, GraphEdges};
use crate::search::flatgraph::{self, FlatGraph};
use crate::search::rerank::{self, RerankFile};
use crate::search::space::Space;
use crate::store::Store;

/// The current generation's flat graph file, when it checks out.
pub(super) fn open_flat(
    store: &Store,
    params: &HnswParams,
    dim: usize,
    meta: AnnMeta,
) -> Result<Option<FlatGraph>> {
    let path = generation_dir(store, meta.generation).join(flatgraph::FILE_NAME);
    let removed = meta.removed_positions();
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
        crate::search::space::vectors(store, space)
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

/// Write the companions of a graph being saved into its directory `dir`,
/// bound to its dump's checksum `sum`: re-rank vectors of `live`, flat
/// graph and edge file.
pub(super) fn write_companions(
    dir: &Path,
    h: &HnswIndex,
    live: &MemoryVectors,
    sum: &[u8; 32],
) -> Result<()> {
    rerank::write(&dir.join(rerank::FILE_NAME), live, sum)?;
    flatgraph::write(&dir.join(flatgraph::FILE_NAME), h, sum)?;
    edges::write(&dir.join(edges::FILE_NAME), h, sum)
}

/// For `dupes`: the saved graph's edge file and the live vectors of the
/// space, when the graph is known to be current (no `index` run has
/// touched embeddings since it was saved, and its live ids are exactly
/// the store's), was built for these parameters, holds at least
/// `params.exact_below` vectors, and the file checks out. `None`
/// otherwise: [`super::open`] then loads (or rebuilds) the graph.
pub fn open_for_dupes(
    store: &Store,
    fp: &str,
    params: &HnswParams,
) -> Result<Option<(GraphEdges, MemoryVectors)>> {
    let space = Space::load(store, fp)?;
    let Some((meta, dim)) = current_meta(store, &space, params)? else {
        return Ok(None);
    };
    let Some(g) = open_edges(store, &meta)? else {
        return Ok(None);
    };
    let live = crate::search::space::vectors(store, &space)?;
    Ok(usable(&g, &live, dim, params).then_some((g, live)))
}

/// [`open_for_dupes`] for the vectors `live` already loaded (after
/// [`super::open`]).
pub fn edges_for(
    store: &Store,
    fp: &str,
    params: &HnswParams,
    live: &MemoryVectors,
) -> Result<Option<GraphEdges>> {
    let space = Space::load(store, fp)?;
    let Some((meta, dim)) = current_meta(store, &space, params)? else {
        return Ok(None);
    };
    Ok(open_edges(store, &meta)?.filter(|g| usable(g, live, dim, params)))
}

fn usable(g: &GraphEdges, live: &MemoryVectors, dim: usize, params: &HnswParams) -> bool {
    live.len() >= params.exact_below && live.dim == dim && g.same_ids(live)
}

/// The generation's edge file, when it checks out.
pub(super) fn open_edges(store: &Store, meta: &AnnMeta) -> Result<Option<GraphEdges>> {
    let path = generation_dir(store, meta.generation).join(edges::FILE_NAME);
    GraphEdges::open(
        &path,
        &meta.checksum,
        meta.ids.clone(),
        meta.removed_positions(),
    )
}

/// Write the current generation's flat graph and edge files again from
/// `h` (the graph reloaded from its dump) when they do not check out:
/// missing (a graph saved by an older imgdex) or damaged.
pub fn ensure_files(store: &Store, h: &HnswIndex<'_>) -> Result<()> {
    let Some(meta) = read_meta(store)? else {
        return Ok(());
    };
    let dir = generation_dir(store, meta.generation);
    let sum = meta.checksum;
    if open_flat(store, &h.params, h.projection.from, meta.clone())?.is_none() {
        let path = dir.join(flatgraph::FILE_NAME);
        let tmp = path.with_extension("tmp");
        flatgraph::write(&tmp, h, &sum)?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
    }
    if open_edges(store, &meta)?.is_none() {
        let path = dir.join(edges::FILE_NAME);
        let tmp = path.with_extension("tmp");
        edges::write(&tmp, h, &sum)?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
    }
    Ok(())
}
