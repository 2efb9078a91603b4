//! Nearest-neighbour structures over stored features. Near pairs of 64-bit
//! hashes come from multi-index hashing, checked against an exact popcount
//! scan (the fallback for wide radii and small collections); union-find
//! merges pairwise matches into groups. Embeddings are searched through an
//! HNSW graph built by `hnsw_rs` and saved beside the store (`saved`), with
//! its companions: a flat copy of the graph, which every search maps and
//! runs on, f16 re-rank vectors for the server, and the union of each
//! point's neighbour lists, which `dupes` reads (one shared header for the
//! three: `header`). Every search goes through a `searcher::Searcher`.

pub mod ann;
pub mod edges;
pub mod flatgraph;
pub mod hamming;
pub mod header;
pub mod mih;
pub mod rerank;
pub mod saved;
pub mod searcher;
pub mod space;
pub mod unionfind;
pub mod whiten;
