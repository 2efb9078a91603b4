//! Stale records: an image whose features could not be recomputed (a
//! decoder or the model failed on it) keeps its previous record rather
//! than disappearing from the store, and is marked stale here with the
//! reason, so `info` can count such records and the next successful
//! analysis clears the mark. The `stale` tree maps an image id to a
//! [`StaleMark`] in the store's record envelope; a mark whose image is
//! gone means nothing and is dropped with the image.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::{key_to_id, record, ImageId, Store};
use crate::error::Result;

/// Tree name.
pub const STALE: &str = "stale";

/// Why an image's record is stale (its features are from an earlier run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StaleMark {
    V1 { reason: String },
}

impl Store {
    fn stale_tree(&self) -> Result<sled::Tree> {
        self.db.open_tree(STALE).map_err(|e| self.err(e))
    }

    /// Mark image `id`'s record stale (its recomputation failed).
    pub fn mark_stale(&self, id: ImageId, reason: &str) -> Result<()> {
        let mark = StaleMark::V1 {
            reason: reason.to_string(),
        };
        self.stale_tree()?
            .insert(id.to_be_bytes(), record::encode(&mark))
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Drop image `id`'s stale mark, if it has one.
    pub fn clear_stale(&self, id: ImageId) -> Result<()> {
        self.stale_tree()?
            .remove(id.to_be_bytes())
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The ids of every stale record.
    pub fn stale_ids(&self) -> Result<HashSet<ImageId>> {
        let mut out = HashSet::new();
        for kv in self.stale_tree()?.iter() {
            let (k, _) = kv.map_err(|e| self.err(e))?;
            out.insert(key_to_id(&k));
        }
        Ok(out)
    }

    /// Stale records whose image is still in the store.
    pub fn stale_count(&self) -> Result<usize> {
        let ids = self.stale_ids()?;
        let mut n = 0;
        for id in ids {
            n += usize::from(self.get_image(id).ok().flatten().is_some());
        }
        Ok(n)
    }
}
