//! imgdex integration tests, one test binary: `cargo test --release --test it`.
//!
//! Every test builds its own input in a temporary directory (images are
//! generated from seeds; broken files are written byte by byte), runs the
//! real `imgdex` binary against a store in that directory and checks its
//! `--json` reports and exit codes; `store` also calls the library directly.

mod access;
mod aliases;
mod ann;
// out-of-index queries and hidden ids against exact search (issue 29)
mod ann_recall;
mod apply;
mod bad_input;
mod classify;
mod cli;
mod cluster;
mod crash;
mod damaged;
mod decisions;
mod decoding;
mod defects;
mod dupes;
mod edges;
mod embedding;
mod fastpath;
mod features;
mod formats;
mod graph_files;
mod hamming;
mod heif;
mod incremental;
mod keeper;
mod migration;
mod parquet;
mod safety;
mod series;
mod serve;
mod serve_decisions;
mod serve_review;
mod server;
// the resident state: write jobs and reloads (issue 29)
mod service;
mod store;
mod taken;
// shards and ingest (issue 30)
mod shard;
mod shard_format;
// guards for the vendored sled patches (issue 29)
mod sled_patches;
mod util;
