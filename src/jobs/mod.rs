//! The operations imgdex offers, each a function from a validated config
//! (and an open store) to a serialisable report. The CLI prints the report;
//! other callers can use it directly.

pub mod analyse;
pub mod apply;
pub mod classify;
pub mod cluster;
pub mod decide;
pub mod dupes;
pub mod export;
pub mod index;
pub mod info;
pub mod ingest;
pub mod inspect;
pub(crate) mod progress;
pub mod query;
pub mod repair;
pub mod shard;

use serde::Serialize;
use std::path::Path;

use crate::error::Error;

/// A file that could not be used, and why.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FileIssue {
    pub path: String,
    pub error: String,
}

impl FileIssue {
    pub fn new(path: &Path, reason: impl Into<String>) -> Self {
        FileIssue {
            path: path.to_string_lossy().into_owned(),
            error: reason.into(),
        }
    }

    /// From a library error, without repeating the path in the message.
    pub fn from_error(path: &Path, err: &Error) -> Self {
        let msg = err.to_string();
        let prefix = format!("{}: ", path.display());
        let reason = msg.strip_prefix(&prefix).unwrap_or(&msg).to_string();
        FileIssue::new(path, reason)
    }
}
