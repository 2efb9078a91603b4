//! The re-rank file: every live embedding of a saved graph generation as
//! flat f16 rows (`<db>/ann/g<N>/vectors.f16`), memory-mapped by a
//! long-lived searcher so re-ranking an HNSW shortlist reads mapped pages
//! instead of decoding 80 sled records per query. The rows hold exactly the
//! f16 bits of the store's embedding records, so distances are the same as
//! when re-ranking from the store.
//!
//! It is derived data: bound to one graph generation by that graph's
//! checksum, checked whole (BLAKE3) when opened, and simply not used (the
//! store is read instead) when missing, stale or damaged.
//!
//! Layout v1, little-endian: magic `IMGDXRV1` (8 bytes), dim u32, reserved
//! u32 (0), n u64, graph checksum [32], payload checksum [32] (BLAKE3 of
//! everything after the header), then n ids (u64), then n × dim f16 bits.

use std::collections::HashMap;
use std::path::Path;

use half::f16;
use memmap2::Mmap;

use crate::error::{Error, Result};
use crate::search::ann::{MemoryVectors, Vectors};
use crate::vecmath::cosine_distance;

pub const FILE_NAME: &str = "vectors.f16";
const MAGIC: &[u8; 8] = b"IMGDXRV1";
const HEADER: usize = 8 + 4 + 4 + 8 + 32 + 32;

/// Write the re-rank file for `live` (ids in `live`'s order) bound to the
/// graph whose checksum is `graph`.
pub fn write(path: &Path, live: &MemoryVectors, graph: &[u8; 32]) -> Result<()> {
    let mut head = Vec::with_capacity(HEADER);
    head.extend_from_slice(MAGIC);
    head.extend_from_slice(&(live.dim as u32).to_le_bytes());
    head.extend_from_slice(&0u32.to_le_bytes());
    head.extend_from_slice(&(live.len() as u64).to_le_bytes());
    head.extend_from_slice(graph);
    super::write_checked(path, &head, |w| {
        for (id, _) in live.iter() {
            w.write_all(&id.to_le_bytes())?;
        }
        let mut row = Vec::with_capacity(2 * live.dim);
        for (_, v) in live.iter() {
            row.clear();
            row.extend(
                v.iter()
                    .flat_map(|&x| f16::from_f32(x).to_bits().to_le_bytes()),
            );
            w.write_all(&row)?;
        }
        Ok(())
    })
}

/// Map `dir`'s re-rank file, first writing it from `live()` when it is
/// missing or does not check out.
pub fn open_or_write(
    dir: &Path,
    graph: &[u8; 32],
    dim: usize,
    live: impl FnOnce() -> Result<MemoryVectors>,
) -> Result<RerankFile> {
    match RerankFile::open(&dir.join(FILE_NAME), graph, dim)? {
        Some(r) => Ok(r),
        None => rewrite(dir, graph, &live()?),
    }
}

/// Write `dir`'s re-rank file from `live` (atomically: temporary file,
/// then rename) and map it.
pub fn rewrite(dir: &Path, graph: &[u8; 32], live: &MemoryVectors) -> Result<RerankFile> {
    let path = dir.join(FILE_NAME);
    let tmp = path.with_extension("tmp");
    write(&tmp, live, graph)?;
    std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
    RerankFile::open(&path, graph, live.dim)?.ok_or_else(|| {
        Error::io(
            &path,
            std::io::Error::other("does not check out right after writing it"),
        )
    })
}

/// A mapped re-rank file.
pub struct RerankFile {
    map: Mmap,
    dim: usize,
    rows: HashMap<u64, usize>,
}

impl RerankFile {
    /// Map and check the file: `Ok(None)` when it is missing, belongs to
    /// another graph or dimension, or fails its checksum.
    pub fn open(path: &Path, graph: &[u8; 32], dim: usize) -> Result<Option<RerankFile>> {
        let file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(path, e)),
        };
        // SAFETY: the file is written once into a fresh generation
        // directory and never modified in place; a generation is removed
        // only after a newer one is recorded, by the process that holds
        // the store lock (this one, while it serves).
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        Ok(Self::check(map, graph, dim))
    }

    fn check(map: Mmap, graph: &[u8; 32], dim: usize) -> Option<RerankFile> {
        let head = map.get(..HEADER)?;
        let u32_at = |o: usize| u32::from_le_bytes(head[o..o + 4].try_into().unwrap());
        let n = u64::from_le_bytes(head[16..24].try_into().unwrap()) as usize;
        let ok = &head[..8] == MAGIC
            && u32_at(8) as usize == dim
            && &head[24..56] == graph
            && n.checked_mul(8 + 2 * dim)?.checked_add(HEADER)? == map.len()
            && blake3::hash(&map[HEADER..]).as_bytes() == &head[56..88];
        if !ok {
            return None;
        }
        let rows = map[HEADER..HEADER + 8 * n]
            .chunks_exact(8)
            .enumerate()
            .map(|(row, b)| (u64::from_le_bytes(b.try_into().unwrap()), row))
            .collect();
        Some(RerankFile { map, dim, rows })
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

impl Vectors for RerankFile {
    fn vector(&self, id: u64) -> Option<Vec<f32>> {
        let row = *self.rows.get(&id)?;
        let start = HEADER + 8 * self.rows.len() + row * 2 * self.dim;
        let bytes = &self.map[start..start + 2 * self.dim];
        Some(
            bytes
                .chunks_exact(2)
                .map(|b| f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32())
                .collect(),
        )
    }

    fn distance(&self, id: u64, q: &[f32]) -> Option<f32> {
        self.vector(id).map(|v| cosine_distance(q, &v))
    }
}
