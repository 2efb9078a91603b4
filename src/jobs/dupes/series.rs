//! Between the candidate rule and the groups: every accepted pair is
//! verified (`verify`) on the stored signatures of its two images, and
//! sorted into *copies* (they make the groups) and *series* pairs (two
//! captures of one scene, or colour variants of one design: similar
//! pictures, reported apart and never acted on). Signatures are read
//! round by round of pairs and dropped after it; what the keeper rules
//! need of them (`keeper::Traits`, a few bytes) is kept per image.

use rayon::prelude::*;
use std::collections::HashMap;

use serde::Serialize;

use super::keeper::{Ranker, Traits};
use super::verify::{self, Verdict};
use super::DupesConfig;
use crate::error::Result;
use crate::features::signature::{self, Signature};
use crate::jobs::progress::progress_bar;
use crate::paths;
use crate::search::unionfind::UnionFind;
use crate::store::{ImageId, ImageRecord, Store};

/// A set of similar shots: separate captures of one scene, each the
/// keeper of its copies (or a lone image), with a suggested best shot.
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    /// The suggested best shot (the most original, least compressed, largest).
    pub best: String,
    pub reason: String,
    /// One image per capture, sorted.
    pub shots: Vec<String>,
    /// Their stored ids, in the order of `shots`.
    pub ids: Vec<ImageId>,
}

/// Verification verdicts by pair of record indices (lower first).
pub(super) type Verdicts = HashMap<(u32, u32), Verdict>;

/// The records' stored signatures, read when needed: at 6.2 KB each they
/// would take 1.3 GB held together for 210k images.
pub(super) struct SignatureReader<'a> {
    store: &'a Store,
    records: &'a [(ImageId, ImageRecord)],
    fingerprint: String,
}

impl<'a> SignatureReader<'a> {
    pub fn new(store: &'a Store, records: &'a [(ImageId, ImageRecord)]) -> SignatureReader<'a> {
        SignatureReader {
            store,
            records,
            fingerprint: signature::fingerprint(),
        }
    }

    /// Record `i`'s current signature (none when missing or stale).
    pub fn read(&self, i: u32) -> Result<Option<Signature>> {
        self.store
            .current_signature(self.records[i as usize].0, &self.fingerprint)
    }

    /// The current signatures of `ids`. Read on one thread: read on
    /// every core, their buffers would sit in each thread's allocator
    /// arena (52 MB more peak memory at 20k images).
    pub fn read_all(&self, ids: &[u32]) -> Result<HashMap<u32, Signature>> {
        let mut out = HashMap::with_capacity(ids.len());
        for &i in ids {
            if let Some(s) = self.read(i)? {
                out.insert(i, s);
            }
        }
        Ok(out)
    }
}

/// The accepted pairs, sorted by verification.
pub(super) struct Verified {
    pub copies: Vec<(u32, u32)>,
    pub series: Vec<(u32, u32)>,
    /// Verdict per pair (only pairs both of whose images had a signature).
    pub verdicts: Verdicts,
    /// What the keeper rules read, per image with a signature.
    pub traits: HashMap<u32, Traits>,
    /// Images of accepted pairs (other than identical bytes, which need no
    /// verifying) without a current signature: those pairs stay copies
    /// unverified.
    pub unsigned: usize,
}

impl Verified {
    /// Whether `a` and `b`, two images of one component that the
    /// candidate stage did not pair (or paired and rejected), are copies
    /// by verification alone: a keeper takes every member that is a
    /// verified copy of *it*, whether or not the candidates linked the two
    /// directly (the cheap stage misses some pairs that a third image
    /// bridges). A pair already judged keeps its verdict.
    pub fn copies_on_sight(
        &self,
        reader: &SignatureReader,
        a: u32,
        b: u32,
        colour_variants_apart: bool,
    ) -> Result<bool> {
        if let Some(v) = self.verdicts.get(&(a.min(b), a.max(b))) {
            return Ok(v.copy(colour_variants_apart));
        }
        if !self.traits.contains_key(&a) || !self.traits.contains_key(&b) {
            return Ok(false);
        }
        Ok(match (reader.read(a)?, reader.read(b)?) {
            (Some(x), Some(y)) => verify::verify(&x, &y)
                .is_some_and(|v| v.detail.is_some() && v.copy(colour_variants_apart)),
            _ => false,
        })
    }
}

/// Pairs verified per round: the signatures of one round's images are
/// held together (at most 2 × 11,264 × 6.2 KB = 140 MB), then dropped.
const ROUND: usize = 11_264;

/// Verify each of the `accepted` pairs. A pair lacking a signature on
/// either side (an image indexed before signatures existed) stays a copy,
/// as the candidate rule judged it.
pub(super) fn verify_pairs(
    reader: &SignatureReader,
    accepted: &[(u32, u32)],
    cfg: &DupesConfig,
) -> Result<Verified> {
    let records = reader.records;
    let colour_variants_apart = cfg.colour_variants_apart;
    let progress = progress_bar(
        Some(accepted.len() as u64),
        cfg.progress && !accepted.is_empty(),
        "verifying candidate pairs".into(),
    );
    let mut traits = HashMap::new();
    let mut found: Vec<Option<verify::Verdict>> = Vec::with_capacity(accepted.len());
    for round in accepted.chunks(ROUND) {
        let mut ids: Vec<u32> = round.iter().flat_map(|&(a, b)| [a, b]).collect();
        ids.sort_unstable();
        ids.dedup();
        let signatures = reader.read_all(&ids)?;
        for (&i, s) in &signatures {
            traits.entry(i).or_insert_with(|| Traits::of(s));
        }
        // Pairs are independent: verified on every core, results in pair order.
        found.par_extend(round.par_iter().map(|&(a, b)| {
            let same_bytes = records[a as usize].1.digest == records[b as usize].1.digest;
            let verdict = match (signatures.get(&a), signatures.get(&b)) {
                (Some(x), Some(y)) if !same_bytes => verify::verify(x, y),
                _ => None,
            };
            progress.inc(1);
            verdict
        }));
    }
    progress.finish_and_clear();
    let (mut copies, mut series, mut verdicts) = (Vec::new(), Vec::new(), HashMap::new());
    for (&(a, b), verdict) in accepted.iter().zip(found) {
        match verdict {
            None => copies.push((a, b)),
            Some(v) => {
                verdicts.insert((a.min(b), a.max(b)), v);
                if v.copy(colour_variants_apart) {
                    copies.push((a, b));
                } else {
                    series.push((a, b));
                }
            }
        }
    }
    let unsigned = unsigned(accepted, records, &traits);
    Ok(Verified {
        copies,
        series,
        verdicts,
        traits,
        unsigned,
    })
}

/// How many images of the `accepted` pairs (other than pairs of identical
/// bytes) have no signature (no `traits`).
fn unsigned(
    accepted: &[(u32, u32)],
    records: &[(ImageId, ImageRecord)],
    traits: &HashMap<u32, Traits>,
) -> usize {
    let same_bytes = |a: u32, b: u32| records[a as usize].1.digest == records[b as usize].1.digest;
    let mut ids: Vec<u32> = accepted
        .iter()
        .filter(|&&(a, b)| !same_bytes(a, b))
        .flat_map(|&(a, b)| [a, b])
        .filter(|i| !traits.contains_key(i))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids.len()
}

/// The series: sets of two or more captures (each a copy group's keeper
/// or a lone image) joined by series pairs; a capture's copies stay in its
/// group. Sorted by best shot.
pub(super) fn series_report(
    groups: &[Vec<u32>],
    series_pairs: &[(u32, u32)],
    ranker: &Ranker,
) -> Vec<Series> {
    let records = ranker.records;
    let mut capture_of: HashMap<u32, u32> = HashMap::new();
    for g in groups {
        for &m in g {
            capture_of.insert(m, g[0]);
        }
    }
    let cap = |i: u32| *capture_of.get(&i).unwrap_or(&i);
    let mut uf = UnionFind::new(records.len());
    for &(a, b) in series_pairs {
        uf.union(cap(a), cap(b));
    }
    let mut out: Vec<Series> = uf
        .groups()
        .into_iter()
        .filter(|s| s.iter().all(|&i| cap(i) == i))
        .map(|shots| {
            let best = ranker.rank(&shots)[0];
            let mut named: Vec<(String, ImageId)> = shots
                .iter()
                .map(|&i| {
                    (
                        paths::display(&records[i as usize].1.path),
                        records[i as usize].0,
                    )
                })
                .collect();
            named.sort();
            Series {
                best: paths::display(&records[best as usize].1.path),
                reason: ranker
                    .reason(best, &shots)
                    .replacen("suggested keeper", "best shot", 1),
                shots: named.iter().map(|n| n.0.clone()).collect(),
                ids: named.iter().map(|n| n.1).collect(),
            }
        })
        .collect();
    out.sort_by(|a, b| a.best.cmp(&b.best));
    out
}
