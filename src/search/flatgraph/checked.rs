//! Remembering that a flat graph file checked out, so a one-shot `query`
//! does not hash the whole file on every run (650 MB at 1M images, the
//! largest part of a cold query's time). After a full check the file's
//! identity — device, inode, size, modification and change times — and its
//! payload checksum go into `graph.flat.ok` beside it; while they still
//! match, the next open skips the checksum and the full scan of offsets
//! (the search bounds every offset and position it reads anyway).
//!
//! Any write to the file changes its change time, so a damaged or replaced
//! file is checked in full again. As in git's "racy clean" rule, a file
//! changed less than [`SETTLE`] ago is not remembered: timestamps have a
//! coarse tick, and a write within the same tick would look unchanged.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a file must have been left alone before its check is kept.
pub const SETTLE: Duration = Duration::from_secs(2);

fn marker(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".ok");
    PathBuf::from(name)
}

/// The file's identity and the payload checksum its header names.
fn identity(stat: &Metadata, map: &[u8]) -> Option<String> {
    let sum = map.get(crate::search::header::PAYLOAD_SUM)?;
    Some(format!(
        "v2 {} {} {} {}.{} {}.{} {}",
        stat.dev(),
        stat.ino(),
        stat.size(),
        stat.mtime(),
        stat.mtime_nsec(),
        stat.ctime(),
        stat.ctime_nsec(),
        blake3::Hash::from_bytes(sum.try_into().ok()?).to_hex()
    ))
}

/// Whether the file at `path` (opened as `stat`, mapped as `map`) is the
/// one a full check passed for.
pub fn is_current(path: &Path, stat: &Metadata, map: &[u8]) -> bool {
    match (std::fs::read_to_string(marker(path)), identity(stat, map)) {
        (Ok(seen), Some(now)) => seen.trim_end() == now,
        _ => false,
    }
}

/// Record that the file passed a full check, when it has settled. Best
/// effort: a marker that cannot be written only costs the next open a
/// full check.
pub fn remember(path: &Path, stat: &Metadata, map: &[u8]) {
    let changed = UNIX_EPOCH + Duration::new(stat.ctime().max(0) as u64, 0);
    let settled = SystemTime::now()
        .duration_since(changed.max(stat.modified().unwrap_or(changed)))
        .is_ok_and(|age| age >= SETTLE + Duration::from_secs(1));
    let Some(id) = identity(stat, map) else {
        return;
    };
    if settled {
        let tmp = marker(path).with_extension("ok.tmp");
        if std::fs::write(&tmp, id + "\n").is_ok() {
            let _ = std::fs::rename(&tmp, marker(path));
        }
    }
}
