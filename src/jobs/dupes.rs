//! The `dupes` job: every group of near-duplicate images in the store.
//! Candidate pairs come from two sources: an exact Hamming scan over the
//! perceptual hashes, and a k-nearest-neighbour pass over the CNN
//! embeddings (HNSW or exact, see `index::stored`), which finds the copies
//! hashes miss (crops, flips, rotations, borders, captions). A decision rule
//! fuses the evidence of each pair; union-find merges accepted pairs into
//! groups; each group gets a suggested keeper and per-image reasons. Nothing
//! is ever deleted or moved.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use rayon::prelude::*;
use serde::Serialize;

use crate::error::Result;
use crate::features::hash::hamming;
use crate::features::histogram;
use crate::index::ann::HnswParams;
use crate::index::ann::DUPES_SEARCH;
use crate::index::hamming::{self, HashRule};
use crate::index::stored;
use crate::index::unionfind::UnionFind;
use crate::paths;
use crate::store::{ImageId, ImageRecord, Store};

mod config;
mod decisions;
mod detail;
mod judged;
mod preset;
pub use config::{
    DupesBy, DupesConfig, EmbeddingRule, Neighbours, DEFAULT_EMBEDDING_RULE, DEFAULT_RULE,
};
pub use decisions::{canonical_folders, under_reference, DecisionEffect, KeeperBy};
pub use preset::*;

/// The evidence about one candidate pair.
#[derive(Debug, Clone, Serialize)]
pub struct Pair {
    pub a: String,
    pub b: String,
    pub cosine: Option<f32>,
    pub phash: u32,
    pub dhash: u32,
    pub duplicate: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Member {
    /// The stored image's id (what the server's `/api/thumb/{id}` takes).
    pub id: ImageId,
    pub path: String,
    /// The file itself (`path` is its display form, lossy for non-UTF-8 names).
    #[serde(skip)]
    pub file: PathBuf,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
    /// Why this image is in the group (relative to the keeper).
    pub reason: String,
    /// Under a reference folder: never acted on.
    pub reference: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupDetail {
    /// Suggested image to keep: largest resolution, then largest file, then oldest.
    pub keeper: String,
    #[serde(skip)]
    pub keeper_file: PathBuf,
    /// Why the keeper is the keeper: the rule, a decision, a reference folder.
    pub keeper_by: KeeperBy,
    /// A "reviewed" decision covers every member.
    pub reviewed: bool,
    /// Bytes the members that would be acted on take (not the keeper, not
    /// reference files).
    pub reclaim_bytes: u64,
    pub members: Vec<Member>,
}

#[derive(Debug, Serialize)]
pub struct DupesReport {
    /// Each group's paths, sorted.
    pub groups: Vec<Vec<String>>,
    /// Same groups, in the same order, with keeper and reasons.
    pub details: Vec<GroupDetail>,
    /// What produced the candidates ("hash", "hash+exact-knn", "hash+hnsw-knn", ...).
    pub method: String,
    /// What stored decisions and reference folders changed.
    pub decisions: DecisionEffect,
    /// Sum of the groups' `reclaim_bytes`.
    pub reclaim_bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pairs: Option<Vec<Pair>>,
}

/// Pairwise evidence, by record index.
type Evidence = BTreeMap<(u32, u32), Option<f32>>;

pub fn run(store: &Store, cfg: &DupesConfig) -> Result<DupesReport> {
    let records = image_records(store, cfg)?;
    let index_of: HashMap<ImageId, u32> = records
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (*id, i as u32))
        .collect();
    let mut uf = UnionFind::new(records.len());
    let mut evidence = Evidence::new();
    let review = decisions::Review::load(store, &cfg.reference, &records)?;
    let method = candidates(
        store,
        cfg,
        &records,
        &index_of,
        &mut uf,
        &mut evidence,
        &review,
    )?;
    let mut pairs = Vec::new();
    for (&(a, b), &cos) in &evidence {
        let (ra, rb) = (&records[a as usize].1, &records[b as usize].1);
        let (ph, dh) = hash_distances(ra, rb);
        let dup = decide(cfg, cos, ph, dh) && colours_agree(cfg, ra, rb) && review.allows(a, b);
        if dup {
            uf.union(a, b);
        }
        if cfg.with_pairs {
            pairs.push(Pair {
                a: paths::display(&ra.path),
                b: paths::display(&rb.path),
                cosine: cos,
                phash: ph,
                dhash: dh,
                duplicate: dup,
            });
        }
    }
    let mut report = report(uf, &records, &evidence, &review);
    report.method = method;
    report.pairs = cfg.with_pairs.then_some(pairs);
    Ok(report)
}

/// Every readable image record, in id order; without its colour histogram
/// unless the histogram gate needs it (0.4 KB of a record's 0.6: 0.4 GB
/// held at 1M images).
fn image_records(store: &Store, cfg: &DupesConfig) -> Result<Vec<(ImageId, ImageRecord)>> {
    store
        .iter_images()
        .map(|r| {
            r.map(|(id, mut rec)| {
                if cfg.max_histogram.is_none() {
                    rec.histogram = None;
                }
                (id, rec)
            })
        })
        .collect()
}

/// Gather candidate pairs into `evidence` (exact duplicates go straight
/// into `uf`); returns what produced them.
fn candidates(
    store: &Store,
    cfg: &DupesConfig,
    records: &[(ImageId, ImageRecord)],
    index_of: &HashMap<ImageId, u32>,
    uf: &mut UnionFind,
    evidence: &mut Evidence,
    review: &decisions::Review,
) -> Result<String> {
    let mut method = String::new();
    if cfg.by == DupesBy::Exact {
        method.push_str("exact");
        let mut first: HashMap<[u8; 32], u32> = HashMap::new();
        for (i, (_, r)) in records.iter().enumerate() {
            let f = *first.entry(r.digest).or_insert(i as u32);
            if f == i as u32 || review.allows(f, i as u32) {
                uf.union(f, i as u32);
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
        let kind = embedding_pairs(store, &fp, cfg, index_of, evidence)?;
        if !method.is_empty() {
            method.push('+');
        }
        method.push_str(&format!("{kind}-knn"));
    } else if by == DupesBy::Embedding {
        return Err(crate::Error::InvalidArgument(
            "the store has no embeddings; run `imgdex index` without --no-embed".into(),
        ));
    }
    Ok(method)
}

/// The groups `uf` holds (two or more images each), sorted by path, with
/// their details; `method` and `pairs` are left for the caller.
fn report(
    mut uf: UnionFind,
    records: &[(ImageId, ImageRecord)],
    evidence: &Evidence,
    review: &decisions::Review,
) -> DupesReport {
    let mut groups: Vec<Vec<u32>> = uf.groups();
    groups
        .iter_mut()
        .for_each(|g| g.sort_by_key(|&i| paths::display(&records[i as usize].1.path)));
    let mut groups = detail::drop_shared_inodes(groups, records);
    groups.sort_by_key(|g| paths::display(&records[g[0] as usize].1.path));
    let details: Vec<GroupDetail> = groups
        .iter()
        .map(|g| detail::group_detail(g, records, evidence, review))
        .collect();
    let effect: Vec<(KeeperBy, bool)> = details.iter().map(|d| (d.keeper_by, d.reviewed)).collect();
    DupesReport {
        groups: groups
            .iter()
            .map(|g| {
                g.iter()
                    .map(|&i| paths::display(&records[i as usize].1.path))
                    .collect()
            })
            .collect(),
        decisions: review.effect(&effect),
        reclaim_bytes: details.iter().map(|d| d.reclaim_bytes).sum(),
        details,
        method: String::new(),
        pairs: None,
    }
}

/// The fused decision rule.
fn decide(cfg: &DupesConfig, cos: Option<f32>, phash: u32, dhash: u32) -> bool {
    let by_hash = phash <= cfg.rule.max_phash && dhash <= cfg.rule.max_dhash;
    let e = cfg.embedding;
    let by_embedding = match cos {
        Some(c) => c <= e.max_cosine || (c <= e.weak_cosine && phash <= e.weak_phash),
        None => false,
    };
    match cfg.by {
        DupesBy::Hash => by_hash,
        _ => by_hash || by_embedding,
    }
}

/// The optional histogram gate of [`DupesConfig::max_histogram`]; a pair
/// lacking comparable histograms fails it.
fn colours_agree(cfg: &DupesConfig, a: &ImageRecord, b: &ImageRecord) -> bool {
    let Some(limit) = cfg.max_histogram else {
        return true;
    };
    match (&a.histogram, &b.histogram) {
        (Some(x), Some(y)) => histogram::distance(&x.value, &y.value).is_some_and(|d| d <= limit),
        _ => false,
    }
}

fn hash_distances(a: &ImageRecord, b: &ImageRecord) -> (u32, u32) {
    match (&a.hashes, &b.hashes) {
        (Some(x), Some(y)) => (
            hamming(x.value.phash, y.value.phash),
            hamming(x.value.dhash, y.value.dhash),
        ),
        _ => (64, 64),
    }
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
/// `index::whiten`); the distance the rules judge is that of the judged
/// vectors (the head's, see [`judged`]), so the thresholds do not depend
/// on a store-fitted map.
fn embedding_pairs(
    store: &Store,
    fp: &str,
    cfg: &DupesConfig,
    index_of: &HashMap<ImageId, u32>,
    evidence: &mut Evidence,
) -> Result<&'static str> {
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
        if let Some((edges, live)) = stored::open_for_dupes(store, fp, &params)? {
            return Ok(("hnsw-graph", edges.edge_knn(k, &live)));
        }
    }
    let (mut ann, live) = stored::open(store, fp, params)?;
    let kind = match (&ann, cfg.neighbours) {
        (stored::Ann::Exact(_), _) => "exact",
        (stored::Ann::Hnsw(_), Neighbours::Search) => "hnsw-search",
        _ => "hnsw-graph",
    };
    let hits = match &mut ann {
        stored::Ann::Hnsw(h) if cfg.neighbours != Neighbours::Search => {
            stored::ensure_files(store, h)?;
            h.edge_knn(k, &live)
        }
        _ => {
            if let stored::Ann::Hnsw(h) = &mut ann {
                h.set_search_params(DUPES_SEARCH.0, DUPES_SEARCH.1);
            }
            let (ids, queries): (Vec<u64>, Vec<&[f32]>) = live.iter().unzip();
            // One extra: the image itself comes back first.
            ids.into_iter()
                .zip(ann.as_search().search_many(&queries, k + 1, &live))
                .collect()
        }
    };
    Ok((kind, hits))
}
