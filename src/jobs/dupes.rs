//! The `dupes` job: every group of near-duplicate images in the store.
//! Candidate pairs come from two sources (`candidates`): an exact Hamming
//! scan over the perceptual hashes, and a k-nearest-neighbour pass over the
//! CNN embeddings, which finds the copies hashes miss (crops, flips,
//! rotations, borders, captions). A decision rule fuses the evidence of
//! each pair, and review decisions may keep a pair apart (`decisions`);
//! each accepted pair is then verified on the stored signatures
//! (`verify`, `colour`, `palette`): copies of one capture make groups
//! around a keeper, without chaining (`grouping`), and pairs of separate
//! captures are reported as series (`series`). Each group gets the most
//! original member as suggested keeper (`keeper`) unless a chosen keeper or
//! a reference file takes its place, and per-image reasons. Nothing moves.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::error::Result;
use crate::features::hash::hamming;
use crate::features::histogram;
use crate::paths;
use crate::store::{ImageId, ImageRecord, Store};

mod align;
mod bandpass;
mod candidates;
mod colour;
mod config;
mod decisions;
mod detail;
pub mod evidence;
mod grid;
mod grouping;
mod judged;
mod keeper;
mod palette;
mod preset;
mod request;
mod residual;
mod series;
pub mod verify;
pub use config::{
    DupesBy, DupesConfig, EmbeddingRule, Neighbours, DEFAULT_EMBEDDING_RULE, DEFAULT_RULE,
};
pub use decisions::{canonical_folders, under_reference, DecisionEffect, KeeperBy};
pub use preset::*;
pub use request::DupesRequest;
pub use series::Series;

/// The evidence about one candidate pair.
#[derive(Debug, Clone, Serialize)]
pub struct Pair {
    #[serde(skip)]
    i: u32,
    #[serde(skip)]
    j: u32,
    pub a: String,
    pub b: String,
    pub cosine: Option<f32>,
    pub phash: u32,
    pub dhash: u32,
    pub duplicate: bool,
    /// The verification score (`verify`: detail correlation, 1 = same
    /// detail), for pairs the rule accepted and verification could judge.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<f32>,
    /// Their colour distance, when both are colourful (`verify`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chroma: Option<f32>,
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
    /// Its format as indexed (`jpeg`, `png`, ...).
    pub format: String,
    /// Its file's modification time as indexed, in seconds since the Unix
    /// epoch.
    pub modified: i64,
    /// When it was taken (EXIF DateTimeOriginal, `YYYY-MM-DDTHH:MM:SS` in
    /// the camera's local time), `None` when the file has no such date.
    pub taken: Option<String>,
    /// Why this image is in the group (relative to the keeper).
    pub reason: String,
    /// Under a reference folder: never acted on.
    pub reference: bool,
    /// Kept in its group by a decision (`decide keep`): never acted on.
    pub kept: bool,
    /// What it is against the keeper, in words and numbers (`None` for
    /// the keeper itself).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<evidence::Evidence>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupDetail {
    /// Suggested image to keep: the most original copy (see `keeper`).
    pub keeper: String,
    #[serde(skip)]
    pub keeper_file: PathBuf,
    pub members: Vec<Member>,
    /// Why the keeper is the keeper: the rule, a decision, a reference folder.
    pub keeper_by: KeeperBy,
    /// A "reviewed" decision covers every member.
    pub reviewed: bool,
    /// Bytes the members that would be acted on take (not the keeper, not
    /// reference or kept files).
    pub reclaim_bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct DupesReport {
    /// Each group's paths, sorted.
    pub groups: Vec<Vec<String>>,
    /// Same groups, in the same order, with keeper and reasons.
    pub details: Vec<GroupDetail>,
    /// Similar shots (separate captures of one scene): reported, never
    /// acted on by `--apply`.
    pub series: Vec<Series>,
    /// What produced the candidates ("hash", "hash+exact-knn", "hash+hnsw-knn", ...).
    pub method: String,
    /// What stored decisions and reference folders changed.
    pub decisions: DecisionEffect,
    /// Sum of the groups' `reclaim_bytes`.
    pub reclaim_bytes: u64,
    /// Images in candidate pairs without a current copy signature
    /// (indexed before signatures existed, or put back by `undo` from a
    /// journal that did not save one): their pairs are grouped as the
    /// candidate rule judged them, unverified, until `index` adds it.
    pub unverified_images: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pairs: Option<Vec<Pair>>,
}

/// Pairwise evidence, by record index.
type Evidence = BTreeMap<(u32, u32), Option<f32>>;

pub fn run(store: &Store, cfg: &DupesConfig) -> Result<DupesReport> {
    let Candidates {
        records,
        review,
        evidence,
        accepted,
        mut pairs,
        method,
    } = find_candidates(store, cfg)?;
    let reader = series::SignatureReader::new(store, &records);
    let verified = series::verify_pairs(&reader, &accepted, cfg)?;
    for p in pairs.iter_mut().flatten() {
        let v = verified.verdicts.get(&(p.i.min(p.j), p.i.max(p.j)));
        p.detail = v.and_then(|v| v.detail);
        p.chroma = v.and_then(|v| v.chroma());
    }
    let ranker = keeper::Ranker {
        records: &records,
        traits: &verified.traits,
    };
    // A signature that cannot be read while grouping ends the run with
    // its error (after the grouping, which cannot return one).
    let failed = std::cell::RefCell::new(None);
    let groups = grouping::star_groups(
        records.len(),
        &verified.copies,
        |a, b| {
            if review.apart(a, b) {
                return false;
            }
            if records[a as usize].1.digest == records[b as usize].1.digest {
                return true;
            }
            verified
                .copies_on_sight(&reader, a, b, cfg.colour_variants_apart)
                .unwrap_or_else(|e| {
                    failed.borrow_mut().get_or_insert(e);
                    false
                })
        },
        |m| review.order(ranker.rank(m)),
    );
    if let Some(e) = failed.into_inner() {
        return Err(e);
    }
    let series = series::series_report(&groups, &verified.series, &ranker);
    let mut report = report(
        groups,
        &ranker,
        &reader,
        &evidence,
        &verified.verdicts,
        &review,
    )?;
    report.series = series;
    report.unverified_images = verified.unsigned;
    report.method = method;
    report.pairs = pairs;
    Ok(report)
}

/// The cheap stage's output: the images, the review decisions, every
/// candidate pair's evidence, the pairs the rule accepted (for
/// verification), the pairs with their evidence when asked for, and what
/// produced the candidates.
struct Candidates {
    records: Vec<(ImageId, ImageRecord)>,
    review: decisions::Review,
    evidence: Evidence,
    accepted: Vec<(u32, u32)>,
    pairs: Option<Vec<Pair>>,
    method: String,
}

fn find_candidates(store: &Store, cfg: &DupesConfig) -> Result<Candidates> {
    // Half a minute at 200k images: a spinner until the verification's bar.
    let spinner = crate::jobs::progress::progress_bar(
        None,
        cfg.progress,
        "finding candidate pairs".to_string(),
    );
    let found = cheap_stage(store, cfg);
    spinner.finish_and_clear();
    found
}

fn cheap_stage(store: &Store, cfg: &DupesConfig) -> Result<Candidates> {
    let records = image_records(store, cfg)?;
    let review = decisions::Review::load(store, &cfg.reference, &records)?;
    let (mut accepted, mut evidence) = (Vec::new(), Evidence::new());
    let method =
        candidates::candidates(store, cfg, &records, &mut accepted, &mut evidence, &review)?;
    let pairs = judge(cfg, &records, &evidence, &review, &mut accepted);
    Ok(Candidates {
        records,
        review,
        evidence,
        accepted,
        pairs,
        method,
    })
}

/// Judge each candidate pair of `evidence` by the decision rule (and the
/// review decisions), pushing the duplicates onto `accepted`; returns the
/// pairs with their evidence when `cfg.with_pairs` asks for them.
fn judge(
    cfg: &DupesConfig,
    records: &[(ImageId, ImageRecord)],
    evidence: &Evidence,
    review: &decisions::Review,
    accepted: &mut Vec<(u32, u32)>,
) -> Option<Vec<Pair>> {
    let mut pairs = Vec::new();
    for (&(a, b), &cos) in evidence {
        let (ra, rb) = (&records[a as usize].1, &records[b as usize].1);
        let (ph, dh) = hash_distances(ra, rb);
        let dup = decide(cfg, cos, ph, dh) && colours_agree(cfg, ra, rb) && review.allows(a, b);
        if dup {
            accepted.push((a, b));
        }
        if cfg.with_pairs {
            pairs.push(Pair {
                i: a,
                j: b,
                detail: None,
                chroma: None,
                a: paths::display(&ra.path),
                b: paths::display(&rb.path),
                cosine: cos,
                phash: ph,
                dhash: dh,
                duplicate: dup,
            });
        }
    }
    cfg.with_pairs.then_some(pairs)
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

/// The `groups` (two or more images each, keeper first), sorted by path,
/// with their details and what the review decisions changed; `method`,
/// `series` and `pairs` are left for the caller.
fn report(
    groups: Vec<Vec<u32>>,
    ranker: &keeper::Ranker,
    reader: &series::SignatureReader,
    evidence: &Evidence,
    verdicts: &series::Verdicts,
    review: &decisions::Review,
) -> Result<DupesReport> {
    let records = ranker.records;
    let mut groups = detail::drop_shared_inodes(groups, records);
    for g in &mut groups {
        g[1..].sort_by_key(|&i| paths::display(&records[i as usize].1.path));
    }
    groups.sort_by_key(|g| paths::display(&records[g[0] as usize].1.path));
    let details: Vec<GroupDetail> = groups
        .iter()
        .map(|g| {
            let signatures = reader.read_all(g)?;
            Ok(detail::group_detail(
                g,
                ranker,
                &signatures,
                evidence,
                verdicts,
                review,
            ))
        })
        .collect::<Result<_>>()?;
    let effect: Vec<(KeeperBy, bool, usize)> = details
        .iter()
        .map(|d| {
            (
                d.keeper_by,
                d.reviewed,
                d.members.iter().filter(|m| m.kept).count(),
            )
        })
        .collect();
    Ok(DupesReport {
        groups: groups
            .iter()
            .map(|g| {
                let mut paths: Vec<String> = g
                    .iter()
                    .map(|&i| paths::display(&records[i as usize].1.path))
                    .collect();
                paths.sort();
                paths
            })
            .collect(),
        decisions: review.effect(&effect),
        reclaim_bytes: details.iter().map(|d| d.reclaim_bytes).sum(),
        unverified_images: 0,
        details,
        series: Vec::new(),
        method: String::new(),
        pairs: None,
    })
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
