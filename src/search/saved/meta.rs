//! The saved graph's meta record (`meta/ann`: generation, fingerprint,
//! checksum, id list) as the openers read it: whether the saved graph is
//! current for a space and parameters, and the dimension of its vectors.

use std::collections::HashSet;

use super::{AnnMeta, StoredAnnMeta, DIRTY_KEY, META_KEY};
use crate::error::{Error, Result};
use crate::search::ann::HnswParams;
use crate::search::space::Space;
use crate::store::record;
use crate::store::Store;

pub(super) fn full_fingerprint(space: &Space, params: &HnswParams, dim: usize) -> String {
    format!("{}|{}", space.fingerprint(), params.fingerprint(dim))
}

/// The saved graph's meta and vector dimension when no `index` run has
/// touched the embeddings since it was saved and it was built for this
/// space and these parameters (the meta is read once: at 1M images its
/// id list is 8 MB).
pub(super) fn current_meta(
    store: &Store,
    space: &Space,
    params: &HnswParams,
) -> Result<Option<(AnnMeta, usize)>> {
    if store.meta_get(DIRTY_KEY)?.is_some() {
        return Ok(None);
    }
    let Some(meta) = read_meta(store)? else {
        return Ok(None);
    };
    let Some(dim) = store_dim(store, space, &meta)? else {
        return Ok(None);
    };
    let ok = meta.fingerprint == full_fingerprint(space, params, dim);
    Ok(ok.then_some((meta, dim)))
}

/// Dimension of the saved graph's vectors: the space's for the length of
/// one of its stored embeddings.
pub(super) fn store_dim(store: &Store, space: &Space, meta: &AnnMeta) -> Result<Option<usize>> {
    // The first live position: a removed one may have no record any more.
    let removed: HashSet<u64> = meta.removed.iter().copied().collect();
    let Some(id) = (0..meta.ids.len() as u64)
        .find(|p| !removed.contains(p))
        .map(|p| &meta.ids[p as usize])
    else {
        return Ok(None);
    };
    let code = space.code();
    let e = match store.get_embedding(*id) {
        Ok(e) => e,
        // A corrupt record is skipped (and repaired by the next `index`);
        // a failing store is an error.
        Err(Error::CorruptRecord { .. }) => None,
        Err(e) => return Err(e),
    };
    Ok(e.filter(|e| e.fingerprint == code)
        .map(|e| space.dim(e.to_f32().len())))
}

/// The saved graph's meta when it was built for this space, parameters
/// and dimension.
pub(super) fn matching_meta(
    store: &Store,
    space: &Space,
    params: &HnswParams,
    dim: usize,
) -> Result<Option<AnnMeta>> {
    let want = full_fingerprint(space, params, dim);
    Ok(read_meta(store)?.filter(|m| m.fingerprint == want))
}

pub(super) fn read_meta(store: &Store) -> Result<Option<AnnMeta>> {
    let Some(bytes) = store.meta_get(META_KEY)? else {
        return Ok(None);
    };
    match record::decode::<StoredAnnMeta>(&bytes) {
        Ok(StoredAnnMeta::V1(m)) => Ok(Some(m)),
        Err(_) => Ok(None), // corrupt: treated as missing, so rebuilt
    }
}
