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
    let ahead = match keeper_by {
        KeeperBy::Rule => ranker.ahead_of_each(k, group),
        _ => vec![None; group.len()],
    };
    let members = group
        .iter()
        .zip(&ahead)
        .map(|(&i, ahead)| {
            let r = &records[i as usize].1;
            let mut reason = reason(i, k, keeper_by, group, ranker, evidence);
            if let Some(rule) = ahead {
                reason.push_str(&format!("; the keeper wins by {rule}"));
            }
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

/// Why member `i` is in the group of keeper `k`.
fn reason(
    i: u32,
    k: u32,
    keeper_by: KeeperBy,
    group: &[u32],
    ranker: &Ranker,
    evidence: &Evidence,
) -> String {
    let records = ranker.records;
    let (r, kr) = (&records[i as usize].1, &records[k as usize].1);
    if i == k {
        match keeper_by {
            KeeperBy::Rule => ranker.reason(k, group),
            KeeperBy::Decision => "chosen keeper (a stored decision)".to_string(),
            KeeperBy::Reference => "keeper: under a reference folder".to_string(),
        }
    } else {
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
}
