//! The `info` job: what a store holds and under which schema and
//! feature fingerprints it was written.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::Result;
use crate::search::saved::{self, RejectedFile};
use crate::store::Store;

#[derive(Debug, Serialize)]
pub struct FeatureCounts {
    pub hash: usize,
    pub histogram: usize,
    pub embedding: usize,
}

#[derive(Debug, Serialize)]
pub struct InfoReport {
    pub images: usize,
    pub schema_version: u32,
    pub fingerprints: BTreeMap<String, String>,
    pub features: FeatureCounts,
    /// Records that failed their checksum (re-indexing repairs them).
    pub corrupt: usize,
    /// Records kept with features from an earlier run because recomputing
    /// them failed (the `index` summary said why).
    pub stale: usize,
    pub store_bytes: u64,
    /// Saved-graph files lately found damaged, stale or in an older format
    /// and written again, oldest first.
    pub rejected_graph_files: Vec<RejectedFile>,
}

pub fn run(store: &Store) -> Result<InfoReport> {
    let scan = store.scan_images()?;
    let features = FeatureCounts {
        hash: scan
            .records
            .iter()
            .filter(|(_, r)| r.hashes.is_some())
            .count(),
        histogram: scan
            .records
            .iter()
            .filter(|(_, r)| r.histogram.is_some())
            .count(),
        embedding: store.scan_embeddings()?.0.len(),
    };
    Ok(InfoReport {
        images: scan.records.len(),
        schema_version: store.schema_version()?,
        fingerprints: store.fingerprints()?.into_iter().collect(),
        features,
        corrupt: scan.corrupt.len(),
        stale: store.stale_count()?,
        store_bytes: store.db().size_on_disk().unwrap_or(0),
        rejected_graph_files: saved::rejected(store)?,
    })
}
