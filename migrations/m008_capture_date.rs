//! Step 8, `capture_date`: image records gain `taken`, the EXIF capture
//! date (DateTimeOriginal) `index` reads from the file, so the values of
//! the `images` tree become `StoredImage::V2`. The V1 layout is frozen
//! here as [`ImageRecordV1`] and still reads (as a record without a
//! capture date): nothing is rewritten and nothing re-analysed; a file
//! gets its date the next time `index` reads it (changed or re-analysed).
//! The schema version keeps an older imgdex, which cannot read a V2
//! record, from opening the store.

use serde::{Deserialize, Serialize};

use super::Step;
use crate::features::{Hashes, Histogram};
use crate::store::{ImageRecord, Tagged};

pub const STEP: Step = Step {
    version: 8,
    name: "008_capture_date",
    description: "image records may carry the EXIF capture date; version 1 records still read",
    run,
};

/// An image record as schemas 1 to 7 stored it (`StoredImage::V1`), frozen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageRecordV1 {
    pub path: Vec<u8>,
    pub size: u64,
    pub mtime_ns: i64,
    pub digest: [u8; 32],
    pub width: u32,
    pub height: u32,
    pub format: String,
    pub hashes: Option<Tagged<Hashes>>,
    pub histogram: Option<Tagged<Histogram>>,
}

impl From<ImageRecordV1> for ImageRecord {
    fn from(r: ImageRecordV1) -> ImageRecord {
        ImageRecord {
            path: r.path,
            size: r.size,
            mtime_ns: r.mtime_ns,
            digest: r.digest,
            width: r.width,
            height: r.height,
            format: r.format,
            hashes: r.hashes,
            histogram: r.histogram,
            taken: None,
        }
    }
}

fn run(db: &sled::Db) -> sled::Result<()> {
    // Both layouts read; this step only records the version.
    db.open_tree("images")?;
    Ok(())
}
