//! Groups without chaining. Union-find over accepted pairs makes
//! single-link groups: A~B and B~C put A and C together however far apart
//! they are, so a pan or a burst of similar shots becomes one group. Here
//! a group is a star around its keeper: the connected components of the
//! accepted pairs only bound the search, and inside each one the best
//! keeper left takes every remaining image linked to it *directly*; the
//! rest start over with their own best keeper. Every member is thus
//! verified against the group's keeper, never joined through a third image.

use std::collections::{HashMap, HashSet};

use crate::search::unionfind::UnionFind;

/// Components up to this size also consult `linked` (each call may run a
/// verification); larger ones are split along their edges only, so a
/// pathological component costs edges, not size².
pub(super) const LINKED_UP_TO: usize = 64;

/// Star groups (two or more images each) over `n` images, from the
/// accepted pairs `edges` (plus `linked`, for pairs known to match without
/// an edge: identical bytes, a verified copy the candidates did not pair;
/// consulted in components of up to [`LINKED_UP_TO`] images). `rank`
/// orders a component best keeper first. Each group lists its keeper
/// first.
pub(super) fn star_groups(
    n: usize,
    edges: &[(u32, u32)],
    linked: impl Fn(u32, u32) -> bool,
    rank: impl Fn(&[u32]) -> Vec<u32>,
) -> Vec<Vec<u32>> {
    let mut uf = UnionFind::new(n);
    let mut adjacent: HashSet<(u32, u32)> = HashSet::with_capacity(edges.len());
    for &(a, b) in edges {
        uf.union(a, b);
        adjacent.insert((a.min(b), a.max(b)));
    }
    let mut components: HashMap<u32, Vec<u32>> = HashMap::new();
    for &(a, _) in edges {
        components.entry(uf.find(a)).or_default();
    }
    for i in 0..n as u32 {
        if let Some(c) = components.get_mut(&uf.find(i)) {
            c.push(i);
        }
    }
    let mut groups = Vec::new();
    for members in components.into_values() {
        let small = members.len() <= LINKED_UP_TO;
        let members = rank(&members);
        let is_linked =
            |a: u32, b: u32| adjacent.contains(&(a.min(b), a.max(b))) || (small && linked(a, b));
        split(members, &is_linked, &mut groups);
    }
    groups.sort();
    groups
}

/// Split one component, `members` sorted best keeper first, into stars.
fn split(mut members: Vec<u32>, linked: &impl Fn(u32, u32) -> bool, out: &mut Vec<Vec<u32>>) {
    while members.len() > 1 {
        let keeper = members[0];
        let (star, rest): (Vec<u32>, Vec<u32>) =
            members[1..].iter().partition(|&&m| linked(keeper, m));
        if !star.is_empty() {
            let mut group = Vec::with_capacity(star.len() + 1);
            group.push(keeper);
            group.extend(star);
            out.push(group);
        }
        members = rest;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_index(m: &[u32]) -> Vec<u32> {
        let mut m = m.to_vec();
        m.sort();
        m
    }

    #[test]
    fn a_chain_is_not_one_group() {
        // 0~1, 1~2, 2~3: 0 and 2 are not copies, nor 1 and 3.
        let groups = star_groups(5, &[(0, 1), (1, 2), (2, 3)], |_, _| false, by_index);
        assert_eq!(groups, vec![vec![0, 1], vec![2, 3]]);
    }

    #[test]
    fn a_three_image_chain_keeps_the_ends_apart() {
        let groups = star_groups(3, &[(0, 1), (1, 2)], |_, _| false, by_index);
        assert_eq!(groups, vec![vec![0, 1]]);
        // With 1 the better keeper, both ends are its copies.
        let prefer_1 = |m: &[u32]| {
            let mut m = m.to_vec();
            m.sort_by_key(|&i| (i != 1, i));
            m
        };
        let groups = star_groups(3, &[(0, 1), (1, 2)], |_, _| false, prefer_1);
        assert_eq!(groups, vec![vec![1, 0, 2]]);
    }

    #[test]
    fn every_member_is_linked_to_the_keeper() {
        let edges = [(0, 1), (0, 2), (1, 2), (2, 3), (3, 4), (5, 6)];
        let set: HashSet<_> = edges.iter().copied().collect();
        for g in star_groups(8, &edges, |_, _| false, by_index) {
            for &m in &g[1..] {
                assert!(set.contains(&(g[0].min(m), g[0].max(m))), "{g:?}");
            }
        }
    }

    #[test]
    fn linked_pairs_join_without_an_edge() {
        let chain = [(0, 1), (1, 2)];
        let groups = star_groups(3, &chain, |a, b| a + b == 2, by_index);
        assert_eq!(groups, vec![vec![0, 1, 2]]);
    }
}
