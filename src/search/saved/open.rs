//! Opening the saved graph for a search: the [`Searcher`] each caller
//! needs (the one-shot query, the server, `dupes`), on the current
//! generation's flat graph when it checks out, else after rebuilding the
//! graph or writing its files again (see [`Generation::ensure_files`]).

use super::dump::{dump_checks_out, with_checked_graph};
use super::generation::Generation;
use super::meta::{current_meta, matching_meta};
use super::{clear_dirty, rebuild, AnnMeta};
use crate::error::{Error, Result};
use crate::search::ann::{same_live_ids, HnswParams, MemoryVectors};
use crate::search::edges::GraphEdges;
use crate::search::flatgraph::FlatGraph;
use crate::search::rerank::RerankFile;
use crate::search::searcher::{Rerank, Searcher};
use crate::search::space::Space;
use crate::store::Store;

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
    let generation = matching_meta(store, &space, &params, live.dim)?
        .filter(|meta| same_ids(meta, &live) && dump_checks_out(store, meta))
        .map(|meta| Generation::new(store, meta));
    let current = match &generation {
        Some(g) => current_flat(g, &params, live.dim).map(|f| f.map(|f| (g, f)))?,
        None => None,
    };
    let flat = match current {
        Some((g, flat)) => {
            // An `index` run stopped part way may have changed embeddings
            // under the same ids: the re-rank file's rows may be old.
            if clear_dirty(store)? {
                g.forget_rerank()?;
            }
            flat
        }
        None => {
            rebuild(store, &space, params, &live)?;
            let generation = Generation::current(store)?
                .ok_or(Error::Internal("the graph just saved has no meta record"))?;
            generation
                .open_flat(&params, live.dim)?
                .map_err(|_| Error::Internal("the flat graph just written does not check out"))?
        }
    };
    Ok(Searcher::flat(space, flat, Rerank::Memory(live)))
}

/// The generation's flat graph, once it and the edge file check out
/// (written again from its dump, already checked, when they do not);
/// `None` when the dump cannot be loaded (the graph is then rebuilt).
fn current_flat(g: &Generation, params: &HnswParams, dim: usize) -> Result<Option<FlatGraph>> {
    if g.open_edges()?.is_ok() {
        if let Ok(flat) = g.open_flat(params, dim)? {
            return Ok(Some(flat));
        }
    }
    match with_checked_graph(g.store(), &g.meta, params, dim, |h| g.ensure_files(&h))? {
        Some(written) => {
            written?;
            Ok(g.open_flat(params, dim)?.ok())
        }
        None => Ok(None),
    }
}

/// The current generation's flat graph, when no `index` run has touched
/// the embeddings since it was saved, it was built for this space and
/// these parameters, and the file checks out; with its vector dimension.
fn current_graph<'s>(
    store: &'s Store,
    space: &Space,
    params: &HnswParams,
) -> Result<Option<(Generation<'s>, FlatGraph, usize)>> {
    let Some((meta, dim)) = current_meta(store, space, params)? else {
        return Ok(None);
    };
    let g = Generation::new(store, meta);
    Ok(g.open_flat(params, dim)?.ok().map(|flat| (g, flat, dim)))
}

/// For one query: the saved graph, re-ranking with vectors read from the
/// store, when it is known to be current (no `index` run has touched the
/// embeddings since it was saved), so nothing is loaded up front; else
/// `open`, which checks every id (and rebuilds if needed).
pub fn open_for_query(store: &Store, fp: &str, params: HnswParams) -> Result<Searcher> {
    let space = Space::load(store, fp)?;
    if let Some((_, flat, _)) = current_graph(store, &space, &params)? {
        return Ok(Searcher::flat(space, flat, Rerank::Store));
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
    if let Some((g, flat, dim)) = current_graph(store, &space, &params)? {
        let file = g.rerank_or_write(dim, || crate::search::space::vectors(store, &space))?;
        return Ok(Searcher::flat(space, flat, Rerank::File(file)));
    }
    // The embeddings may have changed since the file was written (an
    // `index` run stopped part way): write it again from the live vectors.
    let searcher = open_in(store, space, params)?;
    let file = match (searcher.kind(), searcher.live()) {
        ("flat", Some(live)) => rewrite_rerank(store, live)?,
        _ => return Ok(searcher),
    };
    Ok(searcher.with_rerank(Rerank::File(file)))
}

fn rewrite_rerank(store: &Store, live: &MemoryVectors) -> Result<RerankFile> {
    Generation::current(store)?
        .ok_or(Error::Internal("a graph was opened but has no meta record"))?
        .rewrite_rerank(live)
}

/// For `dupes`: the saved graph's edge file and the live vectors of the
/// space, when the graph is known to be current (no `index` run has
/// touched embeddings since it was saved, and its live ids are exactly
/// the store's), was built for these parameters, holds at least
/// `params.exact_below` vectors, and the file checks out. `None`
/// otherwise: [`open`] then loads (or rebuilds) the graph.
pub fn open_for_dupes(
    store: &Store,
    fp: &str,
    params: &HnswParams,
) -> Result<Option<(GraphEdges, MemoryVectors)>> {
    let Some((space, edges, dim)) = current_edges(store, fp, params)? else {
        return Ok(None);
    };
    let live = crate::search::space::vectors(store, &space)?;
    Ok(usable(&edges, &live, dim, params).then_some((edges, live)))
}

/// [`open_for_dupes`] for the vectors `live` already loaded (after
/// [`open`]).
pub fn edges_for(
    store: &Store,
    fp: &str,
    params: &HnswParams,
    live: &MemoryVectors,
) -> Result<Option<GraphEdges>> {
    Ok(current_edges(store, fp, params)?
        .filter(|(_, g, dim)| usable(g, live, *dim, params))
        .map(|(_, g, _)| g))
}

/// The current generation's edge file, when no `index` run has touched
/// the embeddings since it was saved, it was built for these parameters
/// and the file checks out; with the space and the vector dimension.
fn current_edges(
    store: &Store,
    fp: &str,
    params: &HnswParams,
) -> Result<Option<(Space, GraphEdges, usize)>> {
    let space = Space::load(store, fp)?;
    let Some((meta, dim)) = current_meta(store, &space, params)? else {
        return Ok(None);
    };
    let edges = Generation::new(store, meta).open_edges()?.ok();
    Ok(edges.map(|g| (space, g, dim)))
}

fn usable(g: &GraphEdges, live: &MemoryVectors, dim: usize, params: &HnswParams) -> bool {
    live.len() >= params.exact_below && live.dim == dim && g.same_ids(live)
}

/// Whether the graph's live ids (those at positions not removed) are
/// exactly those of `live`.
fn same_ids(meta: &AnnMeta, live: &MemoryVectors) -> bool {
    same_live_ids(&meta.ids, &meta.removed_positions(), live)
}
