//! The `dupes` job: every group of near-duplicate images in the store.
//! Pairs come from an exact Hamming scan over the perceptual hashes (or
//! from equal content digests), and union-find merges them into groups.

use std::collections::HashMap;

use serde::Serialize;

use crate::error::Result;
use crate::index::hamming::{self, HashRule};
use crate::index::unionfind::UnionFind;
use crate::paths;
use crate::store::Store;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DupesBy {
    /// Perceptual hashes within a Hamming threshold.
    Hash,
    /// Byte-identical files (equal BLAKE3 digests).
    Exact,
}

#[derive(Debug, Clone)]
pub struct DupesConfig {
    pub by: DupesBy,
    pub rule: HashRule,
}

/// Default thresholds, chosen on the development set (see README).
pub const DEFAULT_RULE: HashRule = HashRule { max_phash: 12, max_dhash: 12 };

impl Default for DupesConfig {
    fn default() -> Self {
        DupesConfig { by: DupesBy::Hash, rule: DEFAULT_RULE }
    }
}

#[derive(Debug, Serialize)]
pub struct DupesReport {
    pub groups: Vec<Vec<String>>,
}

pub fn run(store: &Store, cfg: &DupesConfig) -> Result<DupesReport> {
    let records = store.scan_images()?.records;
    let mut uf = UnionFind::new(records.len());
    match cfg.by {
        DupesBy::Exact => {
            let mut first: HashMap<[u8; 32], u32> = HashMap::new();
            for (i, (_, r)) in records.iter().enumerate() {
                let i = i as u32;
                let f = *first.entry(r.digest).or_insert(i);
                uf.union(f, i);
            }
        }
        DupesBy::Hash => {
            let (idx, hashes): (Vec<u32>, Vec<_>) = records
                .iter()
                .enumerate()
                .filter_map(|(i, (_, r))| r.hashes.as_ref().map(|t| (i as u32, t.value)))
                .unzip();
            for (a, b) in hamming::pairs(&hashes, cfg.rule) {
                uf.union(idx[a as usize], idx[b as usize]);
            }
        }
    }
    let mut groups: Vec<Vec<String>> = uf
        .groups()
        .into_iter()
        .map(|g| {
            let mut paths: Vec<String> = g.iter().map(|&i| paths::display(&records[i as usize].1.path)).collect();
            paths.sort();
            paths
        })
        .collect();
    groups.sort();
    Ok(DupesReport { groups })
}
