//! Nearest-neighbour structures over stored features. For 64-bit hashes a
//! brute-force popcount scan is exact and fast enough for collections of
//! ~100k images; union-find merges pairwise matches into groups. Embeddings
//! are searched through an HNSW graph saved beside the store, with two
//! memory-mapped companions: a flat copy of the graph searched in place by
//! one-shot queries, and f16 re-rank vectors for the server.

pub mod ann;
pub mod flatgraph;
pub mod hamming;
pub mod rerank;
pub mod searcher;
pub mod stored;
pub mod unionfind;

/// Write `head`, the BLAKE3 of `payload`, then `payload` to a new file at
/// `path`, and fsync it: the layout of the mapped files beside the graph.
pub(crate) fn write_checked(
    path: &std::path::Path,
    mut head: Vec<u8>,
    payload: &[u8],
) -> crate::Result<()> {
    use std::io::Write;
    head.extend_from_slice(blake3::hash(payload).as_bytes());
    let io = |e| crate::error::Error::io(path, e);
    let mut f = std::fs::File::create(path).map_err(io)?;
    f.write_all(&head)
        .and_then(|_| f.write_all(payload))
        .and_then(|_| f.sync_all())
        .map_err(io)
}
