//! Per-group presentation: the suggested keeper and each member's reason,
//! and the rule that files sharing one inode (hard links of each other,
//! e.g. after `dupes --apply hardlink`) are listed once, since they take no
//! extra space and there is nothing left to do about them.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;

use super::decisions::{KeeperBy, Review};
use super::evidence;
use super::keeper::Ranker;
use super::series::Verdicts;
use super::{hash_distances, Evidence, GroupDetail, Member};
use crate::features::signature::Signature;
use crate::paths;
use crate::store::{ImageId, ImageRecord};

/// Drop all but the first (the keeper, else by path) of the members that are the same
/// inode; groups left with one member vanish. Files that cannot be
/// examined stay listed.
pub(super) fn drop_shared_inodes(
    groups: Vec<Vec<u32>>,
    records: &[(ImageId, ImageRecord)],
) -> Vec<Vec<u32>> {
    groups
        .into_iter()
        .map(|g| {
            let mut seen = HashSet::new();
            g.into_iter()
                .filter(|&i| {
                    let path = paths::from_bytes(&records[i as usize].1.path);
                    match std::fs::metadata(&path) {
                        Ok(m) => seen.insert((m.dev(), m.ino())),
                        Err(_) => true,
                    }
                })
                .collect::<Vec<u32>>()
        })
        .filter(|g| g.len() > 1)
        .collect()
}

/// The detail of one group, `group[0]` its keeper.
pub(super) fn group_detail(
    group: &[u32],
    ranker: &Ranker,
    signatures: &HashMap<u32, Signature>,
    evidence: &Evidence,
    verdicts: &Verdicts,
    review: &Review,
) -> GroupDetail {
    let records = ranker.records;
    let k = group[0];
    let keeper_by = review.keeper_by(k);
    let kr = &records[k as usize].1;
    let members = group
        .iter()
        .zip(reasons(group, keeper_by, ranker, evidence))
        .map(|(&i, reason)| {
            let r = &records[i as usize].1;
            Member {
                id: records[i as usize].0,
                path: paths::display(&r.path),
                file: paths::from_bytes(&r.path),
                width: r.width,
                height: r.height,
                bytes: r.size,
                format: r.format.clone(),
                modified: r.mtime_ns.div_euclid(1_000_000_000),
                taken: r.taken.clone(),
                reason,
                reference: review.is_reference(i),
                kept: review.is_kept(i),
                evidence: (i != k).then(|| {
                    let sig = |x: u32| signatures.get(&x);
                    let known = verdicts.get(&(k.min(i), k.max(i))).copied();
                    evidence::compare((kr, sig(k)), (r, sig(i)), known)
                }),
            }
        })
        .collect::<Vec<Member>>();
    GroupDetail {
        keeper: paths::display(&kr.path),
        keeper_file: paths::from_bytes(&kr.path),
        keeper_by,
        reviewed: review.is_reviewed(group),
        reclaim_bytes: members
            .iter()
            .filter(|m| m.id != records[k as usize].0 && !m.reference && !m.kept)
            .map(|m| m.bytes)
            .sum(),
        members,
    }
}

/// Each member's reason, in `group`'s order (`group[0]` the keeper): the
/// keeper's, and for each other member why it is in the group and (keeper
/// by the rules) the rule by which the keeper wins.
fn reasons(
    group: &[u32],
    keeper_by: KeeperBy,
    ranker: &Ranker,
    evidence: &Evidence,
) -> Vec<String> {
    let k = group[0];
    let (keeper_reason, ahead) = match keeper_by {
        KeeperBy::Rule => ranker.explain(k, group),
        KeeperBy::Decision => ("chosen keeper (a stored decision)".into(), vec![]),
        KeeperBy::Reference => ("keeper: under a reference folder".into(), vec![]),
    };
    let of = |at: usize, i: u32| {
        if i == k {
            return keeper_reason.clone();
        }
        let mut reason = member_reason(i, k, ranker, evidence);
        if let Some(Some(rule)) = ahead.get(at) {
            reason.push_str(&format!("; the keeper wins by {rule}"));
        }
        reason
    };
    group.iter().enumerate().map(|(at, &i)| of(at, i)).collect()
}

/// Why member `i` (not the keeper) is in the group of keeper `k`.
fn member_reason(i: u32, k: u32, ranker: &Ranker, evidence: &Evidence) -> String {
    let records = ranker.records;
    let (r, kr) = (&records[i as usize].1, &records[k as usize].1);
    let (ph, dh) = hash_distances(kr, r);
    let cos = evidence.get(&(i.min(k), i.max(k))).copied().flatten();
    let mut s = if r.digest == kr.digest {
        "identical bytes".to_string()
    } else {
        format!("pHash {ph}/64 bits, dHash {dh}/64 bits from keeper")
    };
    if let Some(c) = cos {
        s.push_str(&format!(", CNN cosine distance {c:.3}"));
    }
    if r.width != kr.width || r.height != kr.height {
        s.push_str(&format!(
            ", {}x{} vs {}x{}",
            r.width, r.height, kr.width, kr.height
        ));
    }
    s
}
