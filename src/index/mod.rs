//! Nearest-neighbour structures over stored features. For 64-bit hashes a
//! brute-force popcount scan is exact and fast enough for collections of
//! ~100k images; union-find merges pairwise matches into groups.

pub mod ann;
pub mod flatgraph;
pub mod hamming;
pub mod rerank;
pub mod searcher;
pub mod stored;
pub mod unionfind;
