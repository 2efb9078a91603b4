//! The saved graph's neighbour lists as `dupes` reads them
//! (`<db>/ann/g<N>/graph.edges`): per point, the union of every list
//! `hnsw_rs` keeps for it. `dupes` re-ranks each image's graph neighbours
//! instead of searching ([`HnswIndex::edge_knn`]); with this file it does
//! so without loading the `hnsw_rs` dump (one heap object per point,
//! about 1 GB at 1M images). The flat graph (`flatgraph`) cannot stand in:
//! `hnsw_rs` also keeps lists on layers above a point's own level, which
//! the search skips but `edge_knn` uses, and the flat file stores lists up
//! to each point's level only.
//!
//! Written with each save beside the dump and bound to it by the
//! generation header (`search::header`); checked whole (payload checksum,
//! offsets, positions) when opened; missing, stale or damaged files are
//! not used (`dupes` loads the dump instead and writes the file again).
//!
//! Format version 2, little-endian: the generation header (kind 2, shape
//! n, 0, 0, 0), then n + 1 offsets (u32) and the neighbour positions (u32,
//! ascending per point). A position is the point's index in the graph's
//! id list (`AnnMeta::ids`).

use std::collections::HashSet;
use std::path::Path;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::search::ann::{
    nearest_of, same_live_ids, GraphPoint, HnswIndex, MemoryVectors, Neighbour,
};
use crate::search::flatgraph::u32_at;
use crate::search::header::{self, Header, Kind, Rejected};

pub const FILE_NAME: &str = "graph.edges";
/// Where the offsets start.
const OFFSETS: usize = header::LEN;

/// Write the edge file of `h`, bound to its dump's checksum `dump`.
pub fn write(path: &Path, h: &HnswIndex, dump: &[u8; 32]) -> Result<()> {
    let points = h.points_by_position();
    let union = |p: &Option<GraphPoint>| -> Vec<u32> {
        let mut all: Vec<u32> = match p {
            Some(p) => HnswIndex::all_neighbours(p).map(|pos| pos as u32).collect(),
            None => Vec::new(),
        };
        all.sort_unstable();
        all.dedup();
        all
    };
    let head = Header {
        kind: Kind::Edges,
        shape: [points.len() as u64, 0, 0, 0],
        binding: dump,
    };
    header::write(path, &head, |w| {
        let mut off = 0u32;
        w.write_all(&off.to_le_bytes())?;
        for p in &points {
            off += union(p).len() as u32;
            w.write_all(&off.to_le_bytes())?;
        }
        for p in &points {
            for nb in union(p) {
                w.write_all(&nb.to_le_bytes())?;
            }
        }
        Ok(())
    })
}

/// A checked edge file, read into memory (4 bytes per neighbour: 0.14 GB
/// at 1M images), with the graph's id bookkeeping.
pub struct GraphEdges {
    bytes: Vec<u8>,
    ids: Vec<u64>,
    removed: HashSet<usize>,
}

impl GraphEdges {
    /// Read and check the file; why it cannot be used when it is missing,
    /// bound to another dump or graph size, or damaged.
    pub fn open(
        path: &Path,
        dump: &[u8; 32],
        ids: Vec<u64>,
        removed: HashSet<usize>,
    ) -> Result<std::result::Result<GraphEdges, Rejected>> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Err(Rejected::Missing))
            }
            Err(e) => return Err(Error::io(path, e)),
        };
        Ok(check(&bytes, dump, ids.len()).map(|()| GraphEdges {
            bytes,
            ids,
            removed,
        }))
    }

    /// Whether the graph's live ids are exactly those of `live`.
    pub fn same_ids(&self, live: &MemoryVectors) -> bool {
        same_live_ids(&self.ids, &self.removed, live)
    }

    /// Neighbour positions of `pos` (checked on open).
    fn neighbours(&self, pos: usize) -> impl Iterator<Item = usize> + '_ {
        let n = self.ids.len();
        let (a, b) = (
            u32_at(&self.bytes, OFFSETS + 4 * pos),
            u32_at(&self.bytes, OFFSETS + 4 * pos + 4),
        );
        let list = OFFSETS + 4 * (n + 1);
        (a..b).map(move |i| u32_at(&self.bytes, list + 4 * i))
    }

    /// What [`HnswIndex::edge_knn`] returns for the graph this file was
    /// written from: every live id with its `k` nearest among its graph
    /// neighbours, re-ranked exactly with `vectors`.
    pub fn edge_knn(&self, k: usize, vectors: &MemoryVectors) -> Vec<(u64, Vec<Neighbour>)> {
        (0..self.ids.len())
            .into_par_iter()
            .filter(|p| !self.removed.contains(p))
            .filter_map(|p| {
                let id = self.ids[p];
                let v = vectors.slice(id)?;
                let others = self
                    .neighbours(p)
                    .filter(|nb| !self.removed.contains(nb))
                    .map(|nb| self.ids[nb]);
                Some((id, nearest_of(v, others, vectors, k)))
            })
            .collect()
    }
}

/// Header, sizes, payload checksum, and every offset and position of a
/// file for a graph of `n` positions bound to `dump`.
fn check(b: &[u8], dump: &[u8; 32], n: usize) -> std::result::Result<(), Rejected> {
    let [found_n, ..] = header::read(b, Kind::Edges, dump)?;
    if found_n != n as u64 {
        return Err(Rejected::Shape("its point count"));
    }
    let lists = OFFSETS + 4 * (n + 1);
    if b.len() < lists {
        return Err(Rejected::Damaged("shorter than its offset table"));
    }
    header::check_payload(b)?;
    let total = u32_at(b, lists - 4);
    let off = |i: usize| u32_at(b, OFFSETS + 4 * i);
    let fits = b.len() == lists + 4 * total
        && off(0) == 0
        && (0..n).all(|i| off(i) <= off(i + 1))
        && (0..total).all(|i| u32_at(b, lists + 4 * i) < n);
    fits.then_some(())
        .ok_or(Rejected::Damaged("offsets or positions out of range"))
}
