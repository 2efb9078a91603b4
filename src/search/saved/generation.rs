//! One saved graph generation, `<db>/ann/g<N>/`, as a type: its meta record
//! (`AnnMeta`: number, dump checksum, id list) and the files derived from
//! the `hnsw_rs` dump beside it, each under the shared generation header
//! (`search::header`): the flat graph every search maps, the edge file
//! `dupes` reads neighbour lists from, and the re-rank vectors the server
//! maps. Opening a file checks it; a file that is present but rejected is
//! reported — a warning in the log and a line in the store's `meta`
//! (`ann-rejected`, shown by `info`) — and written again.

use std::path::{Path, PathBuf};

use super::meta::read_meta;
use super::{ann_root, AnnMeta};
use crate::error::{Error, Result};
use crate::search::ann::{HnswIndex, HnswParams, MemoryVectors};
use crate::search::edges::{self, GraphEdges};
use crate::search::flatgraph::{self, FlatGraph};
use crate::search::header::{Kind, Rejected};
use crate::search::rerank::{self, RerankFile};
use crate::store::Store;

mod rejections;
pub use rejections::{rejected_files, RejectedFile};

/// A file's check: the file, or why it is not used.
pub type Checked<T> = std::result::Result<T, Rejected>;

/// The generation a meta record names, in its store.
pub struct Generation<'s> {
    store: &'s Store,
    pub meta: AnnMeta,
}

impl<'s> Generation<'s> {
    pub fn new(store: &'s Store, meta: AnnMeta) -> Self {
        Generation { store, meta }
    }

    /// The store's current generation, if a graph is saved.
    pub fn current(store: &'s Store) -> Result<Option<Self>> {
        Ok(read_meta(store)?.map(|m| Generation::new(store, m)))
    }

    pub fn store(&self) -> &'s Store {
        self.store
    }

    /// `ann/g<N>/`.
    pub fn dir(&self) -> PathBuf {
        generation_dir(self.store, self.meta.generation)
    }

    fn path(&self, kind: Kind) -> PathBuf {
        self.dir().join(kind.file_name())
    }

    /// The flat graph, checked, for vectors of `dim` dimensions.
    pub fn open_flat(&self, params: &HnswParams, dim: usize) -> Result<Checked<FlatGraph>> {
        let m = &self.meta;
        let removed = m.removed_positions();
        let path = self.path(Kind::FlatGraph);
        FlatGraph::open(&path, &m.checksum, m.ids.clone(), removed, *params, dim)
    }

    /// The edge file, checked.
    pub fn open_edges(&self) -> Result<Checked<GraphEdges>> {
        let m = &self.meta;
        let path = self.path(Kind::Edges);
        GraphEdges::open(&path, &m.checksum, m.ids.clone(), m.removed_positions())
    }

    /// The re-rank file, checked; when it does not check out, reported
    /// and written again from `live()`.
    pub fn rerank_or_write(
        &self,
        dim: usize,
        live: impl FnOnce() -> Result<MemoryVectors>,
    ) -> Result<RerankFile> {
        match RerankFile::open(&self.path(Kind::Rerank), &self.meta.checksum, dim)? {
            Ok(file) => Ok(file),
            Err(why) => self.repair(Kind::Rerank, &why, || {
                rerank::rewrite(&self.dir(), &self.meta.checksum, &live()?)
            }),
        }
    }

    /// Write the re-rank file from `live` (whose vectors may have changed
    /// since it was written) and map it; the file it replaces is reported
    /// if its header did not check out either (its contents are not
    /// hashed: they are replaced anyway).
    pub fn rewrite_rerank(&self, live: &MemoryVectors) -> Result<RerankFile> {
        let path = self.path(Kind::Rerank);
        let why = rerank::header_rejects(&path, &self.meta.checksum, live.dim)?;
        let write = || rerank::rewrite(&self.dir(), &self.meta.checksum, live);
        match why {
            Some(why) => self.repair(Kind::Rerank, &why, write),
            None => write(),
        }
    }

    /// Remove the re-rank file (its rows may be stale): the server writes
    /// it again from the store when it next opens this generation.
    pub fn forget_rerank(&self) -> Result<()> {
        let path = self.path(Kind::Rerank);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(&path, e)),
            _ => Ok(()),
        }
    }

    /// Write the flat graph and edge files again from `h` (this
    /// generation's graph, reloaded from its dump) when they do not check
    /// out, reporting those that were there but rejected.
    pub fn ensure_files(&self, h: &HnswIndex<'_>) -> Result<()> {
        let sum = self.meta.checksum;
        if let Err(why) = self.open_flat(&h.params, h.projection.from)? {
            let path = self.path(Kind::FlatGraph);
            self.repair(Kind::FlatGraph, &why, || {
                replace(&path, |p| flatgraph::write(p, h, &sum))
            })?;
        }
        if let Err(why) = self.open_edges()? {
            let path = self.path(Kind::Edges);
            self.repair(Kind::Edges, &why, || {
                replace(&path, |p| edges::write(p, h, &sum))
            })?;
        }
        Ok(())
    }

    /// Write a file that did not check out again with `write`: a file that
    /// was there is reported, a warning before and a record once it is
    /// written (a missing one is simply written).
    fn repair<T>(
        &self,
        kind: Kind,
        why: &Rejected,
        write: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        let report = *why != Rejected::Missing;
        if report {
            log::warn!("{}: {why}; writing it again", self.path(kind).display());
        }
        let done = write()?;
        if report {
            rejections::record(self.store, self.meta.generation, kind, why)?;
        }
        Ok(done)
    }
}

/// Directory of saved generation `generation`.
pub(super) fn generation_dir(store: &Store, generation: u64) -> PathBuf {
    ann_root(store).join(format!("g{generation}"))
}

/// Write `path` through a temporary file renamed over it.
fn replace(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let tmp = path.with_extension("tmp");
    write(&tmp)?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// Write the derived files of a graph being saved into its directory
/// `dir`, bound to its dump's checksum `sum`: re-rank vectors of `live`,
/// flat graph and edge file.
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
