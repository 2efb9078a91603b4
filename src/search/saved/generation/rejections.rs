//! The record of generation files that were rejected and written again,
//! kept in the store's `meta` tree (`ann-rejected`) so `info` can show
//! what was repaired after the warning has scrolled away. The last
//! [`KEEP`] are kept.
//!
//! Format (version 1): UTF-8 text, the line `imgdex rejected graph files
//! v1`, then one line per rejection: `g<N>`, the file name and the reason,
//! separated by tabs. An unreadable record reads as empty.

use serde::Serialize;

use crate::error::Result;
use crate::search::header::{Kind, Rejected};
use crate::store::Store;

const KEY: &str = "ann-rejected";
const FIRST_LINE: &str = "imgdex rejected graph files v1";
/// How many rejections are kept.
pub const KEEP: usize = 10;

/// One rejected file, as `info` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedFile {
    pub generation: u64,
    pub file: String,
    pub reason: String,
}

/// The generation files rejected (and written again) lately, oldest first.
pub fn rejected_files(store: &Store) -> Result<Vec<RejectedFile>> {
    let Some(bytes) = store.meta_get(KEY)? else {
        return Ok(Vec::new());
    };
    let text = String::from_utf8_lossy(&bytes);
    let mut lines = text.lines();
    if lines.next() != Some(FIRST_LINE) {
        return Ok(Vec::new());
    }
    Ok(lines.filter_map(parse).collect())
}

fn parse(line: &str) -> Option<RejectedFile> {
    let mut f = line.splitn(3, '\t');
    let generation = f.next()?.strip_prefix('g')?.parse().ok()?;
    Some(RejectedFile {
        generation,
        file: f.next()?.to_string(),
        reason: f.next()?.to_string(),
    })
}

/// Add a rejection, dropping the oldest beyond [`KEEP`].
pub(super) fn record(store: &Store, generation: u64, kind: Kind, why: &Rejected) -> Result<()> {
    let mut all = rejected_files(store)?;
    all.push(RejectedFile {
        generation,
        file: kind.file_name().to_string(),
        reason: why.to_string(),
    });
    let skip = all.len().saturating_sub(KEEP);
    let mut text = String::from(FIRST_LINE);
    for r in &all[skip..] {
        text.push_str(&format!("\ng{}\t{}\t{}", r.generation, r.file, r.reason));
    }
    store.meta_put(KEY, text.as_bytes())?;
    store.flush()
}
