//! Lossless conversion between filesystem paths and the byte keys the store
//! uses. Paths are kept as raw OS bytes so that a non-UTF-8 file name survives
//! a round trip; only display goes through a lossy conversion.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The raw bytes of a path, as stored.
pub fn to_bytes(path: &Path) -> Vec<u8> {
    path.as_os_str().as_bytes().to_vec()
}

/// The path a stored byte string names.
pub fn from_bytes(bytes: &[u8]) -> PathBuf {
    PathBuf::from(OsStr::from_bytes(bytes))
}

/// A printable form of a stored path (lossy only for non-UTF-8 names).
pub fn display(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
