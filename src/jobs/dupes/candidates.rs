//! Candidate pairs for `dupes`: the cheap stage, which proposes pairs
//! for the decision rule and verification to judge. Two sources: an exact
//! Hamming scan over the perceptual hashes, and a k-nearest-neighbour pass
//! over the CNN embeddings (HNSW or exact, see `search::saved`), which
//! finds the copies hashes miss (crops, flips, rotations, borders,
//! captions); with `--by exact`, files with identical bytes only.

use std::collections::HashMap;

use rayon::prelude::*;

use super::decisions::Review;
use super::{judged, DupesBy, DupesConfig, Evidence, Neighbours};
use crate::error::{Error, Result};
use crate::search::ann::HnswParams;
use crate::search::ann::DUPES_SEARCH;
use crate::search::hamming::{self, HashRule};
use crate::search::saved;
use crate::store::{ImageId, ImageRecord, Store};

/// Gather candidate pairs into `evidence` (exact duplicates go straight
/// into `accepted`, unless a decision keeps them apart); returns what
/// produced them.
pub(super) fn candidates(
    store: &Store,
    cfg: &DupesConfig,
    records: &[(ImageId, ImageRecord)],
    accepted: &mut Vec<(u32, u32)>,
    evidence: &mut Evidence,
    review: &Review,
) -> Result<String> {
    let mut method = String::new();
    if cfg.by == DupesBy::Exact {
        method.push_str("exact");
        let mut first: HashMap<[u8; 32], u32> = HashMap::new();
        for (i, (_, r)) in records.iter().enumerate() {
            let f = *first.entry(r.digest).or_insert(i as u32);
            if f != i as u32 && review.allows(f, i as u32) {
                accepted.push((f, i as u32));
            }
        }
        return Ok(method);
    }
    let by = cfg.by;
    if by != DupesBy::Embedding {
        method.push_str("hash");
        for p in hash_pairs(records, cfg.rule) {
            evidence.insert(p, None);
        }
    }
    let fp = store.fingerprint("embedding")?;
    let use_embeddings = by == DupesBy::Embedding || (by == DupesBy::Auto && fp.is_some());
    if let (true, Some(fp)) = (use_embeddings, fp) {
        let kind = embedding_pairs(store, &fp, cfg, records, evidence)?;
        if !method.is_empty() {
            method.push('+');
        }
        method.push_str(&format!("{kind}-knn"));
    } else if by == DupesBy::Embedding {
        return Err(crate::Error::NoEmbeddings);
    }
    Ok(method)
}

fn hash_pairs(records: &[(ImageId, ImageRecord)], rule: HashRule) -> Vec<(u32, u32)> {
    let (idx, hashes): (Vec<u32>, Vec<_>) = records
        .iter()
        .enumerate()
        .filter_map(|(i, (_, r))| r.hashes.as_ref().map(|t| (i as u32, t.value)))
        .unzip();
    hamming::pairs(&hashes, rule)
        .into_iter()
        .map(|(a, b)| (idx[a as usize], idx[b as usize]))
        .collect()
}

/// The graph parameters, with `exact_below` forced by `--neighbours`.
fn ann_params(cfg: &DupesConfig) -> HnswParams {
    match cfg.neighbours {
        Neighbours::Auto => cfg.ann,
        Neighbours::Exact => HnswParams {
            exact_below: usize::MAX,
            ..cfg.ann
        },
        Neighbours::Graph | Neighbours::Search => HnswParams {
            exact_below: 0,
            ..cfg.ann
        },
    }
}

/// Each image's neighbours with a distance each (the search space's, then
/// the judged one), by id.
type Hits = Vec<(u64, Vec<(u64, f32)>)>;

/// k-NN over the embeddings: every pair within the weak cosine radius
/// becomes a candidate with its exact cosine distance. The neighbours come
/// from the store's search space (whitened when it has a transform, see
/// `search::whiten`); the distance the rules judge is that of the judged
/// vectors (the head's, see [`judged`]), so the thresholds do not depend
/// on a store-fitted map.
fn embedding_pairs(
    store: &Store,
    fp: &str,
    cfg: &DupesConfig,
    records: &[(ImageId, ImageRecord)],
    evidence: &mut Evidence,
) -> Result<&'static str> {
    let index_of: HashMap<ImageId, u32> = records
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (*id, i as u32))
        .collect();
    let (kind, hits) = neighbours(store, fp, cfg)?;
    let judged = judged::Judged::load(store, fp)?;
    let radius = cfg.embedding.weak_cosine.max(cfg.embedding.max_cosine);
    let found: Hits = hits
        .into_par_iter()
        .map(|(id, hits)| (id, judged::judge(judged.as_ref(), id, hits, radius)))
        .collect();
    for (id, hits) in found {
        let Some(&a) = index_of.get(&id) else {
            continue;
        };
        for (other, d) in hits {
            let Some(&b) = index_of.get(&other) else {
                continue;
            };
            evidence.insert((a.min(b), a.max(b)), Some(d));
        }
    }
    Ok(kind)
}

/// Each embedded image's `k` nearest neighbours (itself possibly among
/// them), and how they were found. Off the graph's lists, the saved edge
/// file is read when it is current, so the `hnsw_rs` graph is not loaded;
/// else the graph is (rebuilt if needed, and its edge file written).
fn neighbours(store: &Store, fp: &str, cfg: &DupesConfig) -> Result<(&'static str, Hits)> {
    let params = ann_params(cfg);
    let k = cfg.embedding.k;
    if matches!(cfg.neighbours, Neighbours::Auto | Neighbours::Graph) {
        if let Some((edges, live)) = saved::open_for_dupes(store, fp, &params)? {
            return Ok(("hnsw-graph", edges.edge_knn(k, &live)));
        }
    }
    // Rebuilt, or its flat and edge files written again, if needed.
    let mut searcher = saved::open(store, fp, params)?;
    let graph = searcher.kind() == "flat";
    if graph && matches!(cfg.neighbours, Neighbours::Auto | Neighbours::Graph) {
        let live = searcher
            .live()
            .ok_or(Error::Internal("open holds no live vectors"))?;
        if let Some(edges) = saved::edges_for(store, fp, &params, live)? {
            return Ok(("hnsw-graph", edges.edge_knn(k, live)));
        }
    }
    searcher.set_search_params(DUPES_SEARCH.0, DUPES_SEARCH.1);
    let kind = if graph { "hnsw-search" } else { "exact" };
    // One extra: the image itself comes back first.
    let hits = searcher
        .neighbours_of_live(store, k + 1)
        .ok_or(Error::Internal("open holds no live vectors"))?;
    Ok((kind, hits))
}
