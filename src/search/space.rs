//! The space a similarity search runs in: one model's stored embeddings,
//! whitened by the store's transform when it has one (see `whiten`). The
//! saved graph, its re-rank file and every query vector live in this space;
//! its fingerprint (the model's, plus the transform's) is part of the
//! graph's, so a refit rebuilds the graph.

use std::sync::Arc;

use crate::error::Result;
use crate::search::ann::MemoryVectors;
use crate::search::whiten::{self, Whitening};
use crate::store::record::fingerprint_code;
use crate::store::Store;

/// One model's embeddings, raw or whitened.
#[derive(Debug, Clone)]
pub struct Space {
    /// Fingerprint string of the model's embeddings.
    pub fp: String,
    pub whitening: Option<Arc<Whitening>>,
    fingerprint: String,
}

impl Space {
    /// The raw embeddings of model `fp`.
    pub fn raw(fp: &str) -> Space {
        Space {
            fp: fp.to_string(),
            whitening: None,
            fingerprint: fp.to_string(),
        }
    }

    /// Model `fp`'s embeddings in `store`, whitened when the store has a
    /// transform fitted on them.
    pub fn load(store: &Store, fp: &str) -> Result<Space> {
        Ok(match whiten::load(store, fp)? {
            Some(w) => Space {
                fp: fp.to_string(),
                fingerprint: format!("{fp}|{}", w.fingerprint()),
                whitening: Some(Arc::new(w)),
            },
            None => Space::raw(fp),
        })
    }

    /// Names the model and the transform.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The store's fingerprint code of the model's embedding records.
    pub fn code(&self) -> u32 {
        fingerprint_code(&self.fp)
    }

    /// A stored (or query) embedding brought into this space.
    pub fn apply(&self, v: &[f32]) -> Vec<f32> {
        match &self.whitening {
            Some(w) => w.apply(v),
            None => v.to_vec(),
        }
    }

    /// Dimension of this space for raw embeddings of `raw` dimensions.
    pub fn dim(&self, raw: usize) -> usize {
        self.whitening.as_ref().map_or(raw, |w| w.out_dim as usize)
    }
}

/// All embeddings of the space's model, brought into the space. Streamed
/// in blocks of [`BLOCK`] rows: only the space's vectors are held (at 1M
/// GeM embeddings, 0.5 GB whitened instead of 4.6 GB raw as well).
pub fn vectors(store: &Store, space: &Space) -> Result<MemoryVectors> {
    let mut out: Option<MemoryVectors> = None;
    let mut block: Vec<(u64, Vec<f32>)> = Vec::with_capacity(BLOCK);
    store.for_each_embedding(&space.fp, |id, v| {
        block.push((id, v));
        if block.len() == BLOCK {
            push_block(space, &mut out, &mut block);
        }
    })?;
    push_block(space, &mut out, &mut block);
    Ok(out.unwrap_or_else(|| MemoryVectors::new(0)))
}

/// Rows brought into the space per block.
pub const BLOCK: usize = 4096;

/// `block`'s rows into `out` (created at the first row's dimension), in
/// the space: whitened when the transform fits their length, else raw.
fn push_block(space: &Space, out: &mut Option<MemoryVectors>, block: &mut Vec<(u64, Vec<f32>)>) {
    let Some(raw_dim) = block.first().map(|(_, v)| v.len()) else {
        return;
    };
    match &space.whitening {
        Some(w) if w.dim as usize == raw_dim => {
            let rows: Vec<&[f32]> = block.iter().map(|(_, v)| v.as_slice()).collect();
            let out = out.get_or_insert_with(|| MemoryVectors::new(w.out_dim as usize));
            for ((id, _), v) in block.iter().zip(w.apply_many(&rows)) {
                out.push(*id, &v);
            }
        }
        _ => {
            let out = out.get_or_insert_with(|| MemoryVectors::new(raw_dim));
            for (id, v) in block.iter() {
                out.push(*id, v);
            }
        }
    }
    block.clear();
}
