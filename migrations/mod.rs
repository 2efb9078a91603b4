//! Schema migrations: named, ordered steps that bring a store written by an
//! older imgdex up to the current schema when it is opened. One file per
//! step; each step says what it does, is idempotent (a crash mid-step is
//! repaired by running it again) and ends by recording its version. A store
//! newer than this code refuses to open instead of being misread.
//!
//! Record layouts that a step replaces are frozen in that step's file
//! (`RecordV1` + `From`), so old bytes can always be read.

use std::path::Path;

use super::{read_schema_version, store_err, write_schema_version};
use crate::error::{Error, Result};

pub mod m001_initial;
pub mod m002_embeddings;
pub mod m003_results;
pub mod m004_stale;
pub mod m005_signatures;
pub mod m006_decisions;
pub mod m007_keep_decisions;
pub mod m008_capture_date;

/// One schema step: applying it to a store at `version - 1` yields `version`.
pub struct Step {
    pub version: u32,
    pub name: &'static str,
    pub description: &'static str,
    pub run: fn(&sled::Db) -> sled::Result<()>,
}

/// Every step, in order.
pub const STEPS: &[Step] = &[
    m001_initial::STEP,
    m002_embeddings::STEP,
    m003_results::STEP,
    m004_stale::STEP,
    m005_signatures::STEP,
    m006_decisions::STEP,
    m007_keep_decisions::STEP,
    m008_capture_date::STEP,
];

/// The schema version this build writes.
pub const CURRENT_VERSION: u32 = STEPS[STEPS.len() - 1].version;

/// Run every pending step on `db` (located at `dir`, for messages).
/// Returns the version the store had before.
pub fn upgrade(db: &sled::Db, dir: &Path) -> Result<u32> {
    let found = read_schema_version(db).map_err(|e| store_err(dir, e))?;
    if found > CURRENT_VERSION {
        return Err(Error::SchemaTooNew {
            path: dir.to_path_buf(),
            found,
            supported: CURRENT_VERSION,
        });
    }
    for step in STEPS.iter().filter(|s| s.version > found) {
        (step.run)(db).map_err(|error| Error::Migration {
            path: dir.to_path_buf(),
            step: step.name,
            error,
        })?;
        write_schema_version(db, step.version).map_err(|e| store_err(dir, e))?;
        db.flush().map_err(|e| store_err(dir, e))?;
    }
    Ok(found)
}
