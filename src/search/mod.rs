//! Nearest-neighbour structures over stored features. Near pairs of 64-bit
//! hashes come from multi-index hashing, checked against an exact popcount
//! scan (the fallback for wide radii and small collections); union-find
//! merges pairwise matches into groups. Embeddings are searched through an
//! HNSW graph built by `hnsw_rs` and saved beside the store (`saved`), with
//! its companions: a flat copy of the graph, which every search maps and
//! runs on, f16 re-rank vectors for the server, and the union of each
//! point's neighbour lists, which `dupes` reads.

pub mod ann;
pub mod edges;
pub mod flatgraph;
pub mod hamming;
pub mod mih;
pub mod rerank;
pub mod saved;
pub mod searcher;
pub mod space;
pub mod unionfind;
pub mod whiten;

/// Write `head`, a BLAKE3 slot, then the payload `fill` streams, to a new
/// file at `path`, and fsync it: the layout of the mapped files beside the
/// graph. The payload is hashed as it is written (memory stays flat) and
/// the slot filled in at the end.
pub(crate) fn write_checked(
    path: &std::path::Path,
    head: &[u8],
    fill: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> crate::Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    let io = |e| crate::error::Error::io(path, e);
    let file = std::fs::File::create(path).map_err(io)?;
    let mut w = Hashing {
        inner: std::io::BufWriter::with_capacity(1 << 20, file),
        hasher: blake3::Hasher::new(),
    };
    w.inner
        .write_all(head)
        .and_then(|_| w.inner.write_all(&[0; 32]))
        .map_err(io)?;
    fill(&mut w).map_err(io)?;
    let sum = w.hasher.finalize();
    let mut file = w.inner.into_inner().map_err(|e| io(e.into_error()))?;
    file.seek(SeekFrom::Start(head.len() as u64))
        .and_then(|_| file.write_all(sum.as_bytes()))
        .and_then(|_| file.sync_all())
        .map_err(io)
}

/// A writer that hashes what passes through it.
struct Hashing<W> {
    inner: W,
    hasher: blake3::Hasher,
}

impl<W: std::io::Write> std::io::Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
