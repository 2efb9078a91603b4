//! Files under a reference folder, and files a decision keeps in their
//! group (`decide keep`), are never acted on: the groups a request or a
//! report hands to apply lose such members (a keeper stays, as it is not
//! acted on), and the plan refuses any that remain.

use super::GroupChoice;
use crate::jobs::dupes::DupesReport;

/// `groups` without the members `current` marks as under a reference
/// folder or kept (a keeper stays: it is not acted on).
pub fn without_reference(groups: Vec<GroupChoice>, current: &DupesReport) -> Vec<GroupChoice> {
    let locked: std::collections::HashSet<&str> = current
        .details
        .iter()
        .flat_map(|d| d.members.iter())
        .filter(|m| m.reference || m.kept)
        .map(|m| m.path.as_str())
        .collect();
    groups
        .into_iter()
        .map(|mut g| {
            let k = g.keeper.clone();
            g.members
                .retain(|m| *m == k || !locked.contains(m.as_str()));
            g
        })
        .collect()
}
