//! The re-rank file: every live embedding of a saved graph generation as
//! flat f16 rows (`<db>/ann/g<N>/vectors.f16`), memory-mapped by a
//! long-lived searcher so re-ranking an HNSW shortlist reads mapped pages
//! instead of decoding 80 sled records per query. The rows hold exactly the
//! f16 bits of the store's embedding records, so distances are the same as
//! when re-ranking from the store.
//!
//! It is derived data: bound to one graph generation by the generation
//! header (`search::header`), checked whole (BLAKE3) when opened, and
//! written again from the store when missing, stale or damaged.
//!
//! Format version 2, little-endian: the generation header (kind 3, shape
//! n, dim, 0, 0), then n ids (u64), zeros up to a multiple of 64 bytes,
//! then n × dim f16 bits.

use std::collections::HashMap;
use std::path::Path;

use half::f16;
use memmap2::Mmap;

use crate::error::{Error, Result};
use crate::search::ann::{MemoryVectors, Vectors};
use crate::search::header::{self, Header, Kind, Rejected, LEN as HEADER};
use crate::vecmath::cosine_distance;

pub const FILE_NAME: &str = "vectors.f16";

/// Where the rows of a file of `n` ids start: on a cache-line boundary.
fn rows_at(n: usize) -> Option<usize> {
    n.checked_mul(8)?
        .checked_add(HEADER)?
        .checked_next_multiple_of(64)
}

/// Write the re-rank file for `live` (ids in `live`'s order) bound to the
/// graph whose checksum is `graph`.
pub fn write(path: &Path, live: &MemoryVectors, graph: &[u8; 32]) -> Result<()> {
    let head = Header {
        kind: Kind::Rerank,
        shape: [live.len() as u64, live.dim as u64, 0, 0],
        binding: graph,
    };
    header::write(path, &head, |w| {
        for (id, _) in live.iter() {
            w.write_all(&id.to_le_bytes())?;
        }
        let ids_end = HEADER + 8 * live.len();
        w.write_all(&vec![0; ids_end.next_multiple_of(64) - ids_end])?;
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

/// Write `dir`'s re-rank file from `live` (atomically: temporary file,
/// then rename) and map it.
pub fn rewrite(dir: &Path, graph: &[u8; 32], live: &MemoryVectors) -> Result<RerankFile> {
    let path = dir.join(FILE_NAME);
    let tmp = path.with_extension("tmp");
    write(&tmp, live, graph)?;
    std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
    RerankFile::open(&path, graph, live.dim)?.map_err(|why| {
        Error::io(
            &path,
            std::io::Error::other(format!("right after writing it: {why}")),
        )
    })
}

/// Why the file at `path` would be rejected by its header alone (kind,
/// format, generation, dimension), if it would; its contents are not read.
pub fn header_rejects(path: &Path, graph: &[u8; 32], dim: usize) -> Result<Option<Rejected>> {
    use std::io::Read;
    let mut head = Vec::with_capacity(HEADER);
    match std::fs::File::open(path) {
        Ok(f) => f.take(HEADER as u64).read_to_end(&mut head),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Some(Rejected::Missing)),
        Err(e) => return Err(Error::io(path, e)),
    }
    .map_err(|e| Error::io(path, e))?;
    Ok(match header::read(&head, Kind::Rerank, graph) {
        Err(why) => Some(why),
        Ok([_, found, ..]) if found != dim as u64 => Some(Rejected::Shape("its vector dimension")),
        Ok(_) => None,
    })
}

/// A mapped re-rank file.
pub struct RerankFile {
    map: Mmap,
    dim: usize,
    rows: HashMap<u64, usize>,
    /// Byte offset of the first row.
    rows_at: usize,
}

impl RerankFile {
    /// Map and check the file; why it cannot be used when it is missing,
    /// belongs to another graph or dimension, or fails its checksum.
    pub fn open(
        path: &Path,
        graph: &[u8; 32],
        dim: usize,
    ) -> Result<std::result::Result<RerankFile, Rejected>> {
        Ok(header::map(path)?.and_then(|(_, map)| Self::check(map, graph, dim)))
    }

    fn check(map: Mmap, graph: &[u8; 32], dim: usize) -> std::result::Result<RerankFile, Rejected> {
        let [n, found_dim, ..] = header::read(&map, Kind::Rerank, graph)?;
        if found_dim != dim as u64 {
            return Err(Rejected::Shape("its vector dimension"));
        }
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        let size = n
            .checked_mul(2 * dim)
            .and_then(|b| b.checked_add(rows_at(n)?));
        if size != Some(map.len()) {
            return Err(Rejected::Damaged("its length is not its rows'"));
        }
        header::check_payload(&map)?;
        let rows = map[HEADER..HEADER + 8 * n]
            .chunks_exact(8)
            .enumerate()
            .map(|(row, b)| (u64::from_le_bytes(b.try_into().unwrap()), row))
            .collect();
        let rows_at = HEADER + 8 * n;
        Ok(RerankFile {
            map,
            dim,
            rows,
            rows_at: rows_at.next_multiple_of(64),
        })
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
        let start = self.rows_at + row * 2 * self.dim;
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
