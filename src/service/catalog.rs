//! One consistent view of the store for serving: every record, by id and
//! by path, the canonical roots, and the loaded ANN index with the model
//! fingerprint it serves. Rebuilt whole after the store changes, so a
//! request always sees one state.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::error::Result;
use crate::paths;
use crate::search::ann::HnswParams;
use crate::search::saved::{self, Searcher};
use crate::store::{ImageId, ImageRecord, Store};

pub struct Snapshot {
    pub records: Vec<(ImageId, ImageRecord)>,
    by_id: HashMap<ImageId, usize>,
    by_path: HashMap<Vec<u8>, usize>,
    /// Recorded index roots, canonicalised (those that still exist).
    pub roots: Vec<PathBuf>,
    /// The embedding search (re-ranking from the saved graph's mapped
    /// re-rank file when it has one), when the store has embeddings.
    pub searcher: Option<Searcher>,
}

impl Snapshot {
    pub fn load(store: &Store) -> Result<Snapshot> {
        let records = store.scan_images()?.records;
        let by_id = records
            .iter()
            .enumerate()
            .map(|(i, (id, _))| (*id, i))
            .collect();
        let by_path = records
            .iter()
            .enumerate()
            .map(|(i, (_, r))| (r.path.clone(), i))
            .collect();
        let roots = store
            .roots()?
            .iter()
            .filter_map(|r| std::fs::canonicalize(r).ok())
            .collect();
        let searcher = match store.fingerprint("embedding")? {
            Some(fp) => Some(saved::open_resident(store, &fp, HnswParams::default())?),
            None => None,
        };
        Ok(Snapshot {
            records,
            by_id,
            by_path,
            roots,
            searcher,
        })
    }

    pub fn get(&self, id: ImageId) -> Option<&ImageRecord> {
        self.by_id.get(&id).map(|&i| &self.records[i].1)
    }

    pub fn by_path(&self, path: &[u8]) -> Option<(ImageId, &ImageRecord)> {
        self.by_path.get(path).map(|&i| {
            let (id, r) = &self.records[i];
            (*id, r)
        })
    }
}

/// One cluster of the saved clustering, with a few member ids to show.
#[derive(Debug, Serialize)]
pub struct ClusterSummary {
    pub cluster: u32,
    pub size: usize,
    pub sample: Vec<ImageId>,
}

#[derive(Debug, Serialize)]
pub struct ClustersView {
    pub feature: String,
    pub k: u32,
    pub created_unix: u64,
    /// Largest first.
    pub clusters: Vec<ClusterSummary>,
}

#[derive(Debug, Serialize)]
pub struct ClusterMember {
    pub id: ImageId,
    pub path: String,
}

#[derive(Debug, Serialize)]
pub struct ClusterMembers {
    pub cluster: u32,
    pub size: usize,
    pub offset: usize,
    pub members: Vec<ClusterMember>,
}

fn saved(store: &Store) -> Result<crate::learn::results::ClusterResult> {
    store.clustering()?.ok_or_else(|| crate::Error::NoResult {
        path: store.dir().to_path_buf(),
        what: "clustering",
        command: "cluster",
    })
}

/// Members of each cluster that are still in the store, in id order.
fn members(
    store: &Store,
    snap: &Snapshot,
) -> Result<(crate::learn::results::ClusterResult, Vec<Vec<ImageId>>)> {
    let c = saved(store)?;
    let mut out = vec![Vec::new(); c.k as usize];
    for (&id, &l) in c.ids.iter().zip(&c.labels) {
        if let (Some(list), Some(_)) = (out.get_mut(l as usize), snap.get(id)) {
            list.push(id);
        }
    }
    Ok((c, out))
}

pub fn clusters(store: &Store, snap: &Snapshot, sample: usize) -> Result<ClustersView> {
    let (c, lists) = members(store, snap)?;
    let mut clusters: Vec<ClusterSummary> = lists
        .iter()
        .enumerate()
        .map(|(i, ids)| ClusterSummary {
            cluster: i as u32,
            size: ids.len(),
            sample: ids.iter().take(sample).copied().collect(),
        })
        .collect();
    clusters.sort_by(|a, b| b.size.cmp(&a.size).then(a.cluster.cmp(&b.cluster)));
    Ok(ClustersView {
        feature: c.feature,
        k: c.k,
        created_unix: c.created_unix,
        clusters,
    })
}

pub fn cluster_members(
    store: &Store,
    snap: &Snapshot,
    cluster: u32,
    offset: usize,
    limit: usize,
) -> Result<ClusterMembers> {
    let (_, lists) = members(store, snap)?;
    let ids = lists
        .get(cluster as usize)
        .ok_or_else(|| crate::Error::NotInStore {
            what: format!("cluster {cluster}"),
        })?;
    let members = ids
        .iter()
        .skip(offset)
        .take(limit)
        .filter_map(|&id| {
            Some(ClusterMember {
                id,
                path: paths::display(&snap.get(id)?.path),
            })
        })
        .collect();
    Ok(ClusterMembers {
        cluster,
        size: ids.len(),
        offset,
        members,
    })
}
