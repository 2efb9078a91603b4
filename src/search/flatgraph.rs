//! The saved HNSW graph in a flat, memory-mapped layout
//! (`<db>/ann/g<N>/graph.flat`), searched by imgdex's own code, so a
//! one-shot `query` costs a map and a few hundred page reads instead of
//! `hnsw_rs` rebuilding one heap object per point (seconds at 200k).
//!
//! Written from the built `hnsw_rs` graph with each save, beside its dump,
//! and bound to it by the generation header (`search::header`); its
//! payload checksum and bounds are checked when it is opened. A missing,
//! stale or damaged file is written again from the dump (see
//! `search::saved`).
//!
//! Format version 2, little-endian: the generation header (kind 1, shape
//! n, pdim, layers, entry position), then n level bytes padded to 4; per
//! layer, n + 1 offsets (u32) and its neighbour positions (u32); zeros up
//! to a multiple of 64 bytes; n × pdim projected vectors (f32). A position is the point's index in the
//! graph's id list (`AnnMeta::ids`).

use std::collections::{BinaryHeap, HashSet};
use std::path::Path;

use memmap2::Mmap;

pub mod checked;

use crate::error::{Error, Result};
use crate::search::ann::{
    rerank, AnnSearch, GraphPoint, HnswIndex, HnswParams, Neighbour, Projection, Vectors,
};
use crate::search::header::{self, Header, Kind, Rejected};

pub const FILE_NAME: &str = "graph.flat";
/// The vector section starts on a cache-line boundary.
const ROW_ALIGN: usize = 64;

/// Neighbour positions of `p` on `layer` (empty above its level).
fn neighbours_of(p: &Option<GraphPoint>, layer: usize) -> Vec<u32> {
    match p {
        Some(p) if usize::from(p.get_point_id().0) >= layer => p
            .get_neighborhood_id()
            .get(layer)
            .map(|l| l.iter().map(|nb| nb.d_id as u32).collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Write the flat file of `h`, bound to its dump's checksum `dump`,
/// streaming one section at a time.
pub fn write(path: &Path, h: &HnswIndex, dump: &[u8; 32]) -> Result<()> {
    let points = h.points_by_position();
    let levels: Vec<u8> = points
        .iter()
        .map(|p| p.as_ref().map_or(0, |p| p.get_point_id().0))
        .collect();
    let (n, pdim) = (points.len(), h.params.projected_dim);
    let top = levels.iter().copied().max().unwrap_or(0);
    let entry = levels.iter().position(|&l| l == top).unwrap_or(0);
    let layers = usize::from(top) + 1;
    let head = Header {
        kind: Kind::FlatGraph,
        shape: [n, pdim, layers, entry].map(|x| x as u64),
        binding: dump,
    };
    header::write(path, &head, |w| {
        w.write_all(&levels)?;
        w.write_all(&vec![0; n.next_multiple_of(4) - n])?;
        let mut at = header::LEN + n.next_multiple_of(4);
        for layer in 0..layers {
            let mut off = 0u32;
            w.write_all(&off.to_le_bytes())?;
            for p in &points {
                off += neighbours_of(p, layer).len() as u32;
                w.write_all(&off.to_le_bytes())?;
            }
            for p in &points {
                for nb in neighbours_of(p, layer) {
                    w.write_all(&nb.to_le_bytes())?;
                }
            }
            at += 4 * (n + 1) + 4 * off as usize;
        }
        w.write_all(&vec![0; at.next_multiple_of(ROW_ALIGN) - at])?;
        for p in &points {
            let v = p.as_ref().map(|p| p.get_v()).filter(|v| v.len() == pdim);
            let zeros = vec![0f32; pdim];
            for x in v.unwrap_or(&zeros) {
                w.write_all(&x.to_le_bytes())?;
            }
        }
        Ok(())
    })
}

/// A mapped flat graph, searchable like the `hnsw_rs` one it came from.
pub struct FlatGraph {
    map: Mmap,
    n: usize,
    pdim: usize,
    entry: usize,
    levels: usize,
    /// Byte offsets of each layer's offset table and neighbour array,
    /// and its number of neighbour entries.
    layers: Vec<(usize, usize, usize)>,
    vectors: usize,
    ids: Vec<u64>,
    removed: HashSet<usize>,
    projection: Projection,
    params: HnswParams,
}

/// The little-endian `u32` at byte `o` of `b` (the mapped files' integers).
pub(crate) fn u32_at(b: &[u8], o: usize) -> usize {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap()) as usize
}

impl FlatGraph {
    /// Map and check the file; why it cannot be used when it is missing,
    /// bound to another dump, for other parameters, or damaged.
    pub fn open(
        path: &Path,
        dump: &[u8; 32],
        ids: Vec<u64>,
        removed: HashSet<usize>,
        params: HnswParams,
        dim: usize,
    ) -> Result<std::result::Result<FlatGraph, Rejected>> {
        let (file, map) = match header::map(path)? {
            Ok(opened) => opened,
            Err(why) => return Ok(Err(why)),
        };
        let projection = Projection::new(dim, params.projected_dim, params.seed);
        let stat = file.metadata().map_err(|e| Error::io(path, e))?;
        let trusted = checked::is_current(path, &stat, &map);
        let found = layout(&map, dump, ids.len(), params.projected_dim, !trusted);
        if found.is_ok() && !trusted {
            checked::remember(path, &stat, &map);
        }
        Ok(found.map(|(entry, layers, vectors)| FlatGraph {
            n: ids.len(),
            pdim: params.projected_dim,
            entry,
            levels: header::LEN,
            layers,
            vectors,
            ids,
            removed,
            projection,
            params,
            map,
        }))
    }

    /// Change the search-time parameters (they do not shape the graph).
    pub fn set_search_params(&mut self, ef_search: usize, rerank: usize) {
        self.params.ef_search = ef_search;
        self.params.rerank = rerank;
    }

    fn level(&self, pos: usize) -> usize {
        usize::from(self.map[self.levels + pos])
    }

    /// Neighbour positions of `pos` on `layer`. Offsets and positions are
    /// bounded here too, so a file trusted without its full scan (see
    /// [`checked`]) can at worst give a poor answer, never read out of
    /// bounds.
    fn neighbours(&self, layer: usize, pos: usize) -> impl Iterator<Item = usize> + '_ {
        let (offs, nbrs, total) = self.layers[layer];
        let (a, b) = (
            u32_at(&self.map, offs + 4 * pos),
            u32_at(&self.map, offs + 4 * pos + 4),
        );
        let range = if a <= b && b <= total { a..b } else { 0..0 };
        range
            .map(move |i| u32_at(&self.map, nbrs + 4 * i))
            .filter(move |&p| p < self.n)
    }

    fn dist(&self, pq: &[f32], pos: usize) -> f32 {
        let start = self.vectors + 4 * self.pdim * pos;
        self.map[start..start + 4 * self.pdim]
            .chunks_exact(4)
            .zip(pq)
            .map(|(b, &x)| {
                let d = f32::from_le_bytes(b.try_into().unwrap()) - x;
                d * d
            })
            .sum()
    }

    /// Greedy descent through the upper layers, then a beam of `ef` on
    /// layer 0: the positions of the `n` nearest live points to `pq`.
    fn candidates(&self, pq: &[f32], n: usize) -> Vec<usize> {
        let (mut at, mut d) = (self.entry, self.dist(pq, self.entry));
        for layer in (1..self.layers.len().min(self.level(self.entry) + 1)).rev() {
            let mut moved = true;
            while moved {
                moved = false;
                for nb in self.neighbours(layer, at) {
                    let dn = self.dist(pq, nb);
                    if dn < d {
                        (at, d, moved) = (nb, dn, true);
                    }
                }
            }
        }
        self.beam(pq, at, d, self.params.ef_search.max(n))
            .into_iter()
            .filter(|p| !self.removed.contains(p))
            .take(n)
            .collect()
    }

    /// Layer-0 best-first search from `start`; all found positions,
    /// nearest first (removed ones included: they still route).
    fn beam(&self, pq: &[f32], start: usize, d0: f32, ef: usize) -> Vec<usize> {
        let mut seen = vec![false; self.n];
        seen[start] = true;
        let mut todo = BinaryHeap::from([std::cmp::Reverse(Scored(d0, start))]);
        let mut best = BinaryHeap::from([Scored(d0, start)]);
        while let Some(std::cmp::Reverse(Scored(d, pos))) = todo.pop() {
            if best.len() >= ef && d > best.peek().map_or(f32::INFINITY, |w| w.0) {
                break;
            }
            for nb in self.neighbours(0, pos) {
                if std::mem::replace(&mut seen[nb], true) {
                    continue;
                }
                let dn = self.dist(pq, nb);
                if best.len() < ef || dn < best.peek().map_or(f32::INFINITY, |w| w.0) {
                    todo.push(std::cmp::Reverse(Scored(dn, nb)));
                    best.push(Scored(dn, nb));
                    if best.len() > ef {
                        best.pop();
                    }
                }
            }
        }
        best.into_sorted_vec().into_iter().map(|s| s.1).collect()
    }
}

/// Per layer: byte offset of its offset table, byte offset of its neighbour
/// list, and the number of neighbour entries.
type Layers = Vec<(usize, usize, usize)>;

/// Check the file's header and sizes, and with `full` its payload checksum
/// and every offset and neighbour position; return the entry, per-layer
/// byte offsets and lengths, and the vector offset.
fn layout(
    map: &[u8],
    dump: &[u8; 32],
    n: usize,
    pdim: usize,
    full: bool,
) -> std::result::Result<(usize, Layers, usize), Rejected> {
    let [found_n, found_pdim, layers, entry] = header::read(map, Kind::FlatGraph, dump)?;
    if found_n != n as u64 {
        return Err(Rejected::Shape("its point count"));
    }
    if found_pdim != pdim as u64 {
        return Err(Rejected::Shape("its projected dimension"));
    }
    if full {
        header::check_payload(map)?;
    }
    let entry = usize::try_from(entry).unwrap_or(usize::MAX);
    if entry >= n.max(1) || layers == 0 || layers > 64 {
        return Err(Rejected::Damaged("entry point or layer count out of range"));
    }
    let short = Rejected::Damaged("shorter than its tables");
    let mut at = (header::LEN + n).next_multiple_of(4);
    let mut out = Vec::with_capacity(layers as usize);
    for _ in 0..layers {
        let (offs, nbrs, total) = layer_at(map, at, n).ok_or(short.clone())?;
        if full && !layer_in_bounds(map, offs, nbrs, total, n) {
            return Err(Rejected::Damaged(
                "neighbour offsets or positions out of range",
            ));
        }
        out.push((offs, nbrs, total));
        at = nbrs + 4 * total;
    }
    let at = at.next_multiple_of(ROW_ALIGN);
    let end = at.checked_add(4 * pdim * n).ok_or(short.clone())?;
    if map.len() != end {
        return Err(Rejected::Damaged(
            "its length is not its tables' and vectors'",
        ));
    }
    Ok((entry, out, at))
}

/// The layer whose offset table starts at byte `at`: offsets of its
/// table and neighbour list, and its neighbour count, when both fit.
fn layer_at(map: &[u8], at: usize, n: usize) -> Option<(usize, usize, usize)> {
    let table = map.get(at..at.checked_add(4 * (n + 1))?)?;
    let total = u32_at(table, 4 * n);
    let nbrs = at + 4 * (n + 1);
    map.get(nbrs..nbrs.checked_add(4 * total)?)?;
    Some((at, nbrs, total))
}

/// Offsets start at 0 and never decrease; every position is below `n`.
fn layer_in_bounds(map: &[u8], offs: usize, nbrs: usize, total: usize, n: usize) -> bool {
    let off = |i: usize| u32_at(map, offs + 4 * i);
    off(0) == 0
        && (0..n).all(|i| off(i) <= off(i + 1))
        && (0..total).all(|i| u32_at(map, nbrs + 4 * i) < n)
}

/// A distance and a position, ordered by distance (then position).
#[derive(PartialEq)]
struct Scored(f32, usize);

impl Eq for Scored {}

impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scored {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0).then(self.1.cmp(&other.1))
    }
}

impl AnnSearch for FlatGraph {
    fn search(&self, q: &[f32], k: usize, vectors: &dyn Vectors) -> Vec<Neighbour> {
        let found = self.candidates(&self.projection.apply(q), self.params.shortlist(k));
        rerank(found.into_iter().map(|pos| self.ids[pos]), q, k, vectors)
    }

    fn len(&self) -> usize {
        self.n - self.removed.len()
    }
}
