//! Deciding what `index` has to do: the store's current records by path,
//! which walked files are new, changed or unchanged, and which records
//! belong to files that are gone.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use super::{Codes, IndexSummary, Work};
use crate::error::Result;
use crate::paths;
use crate::store::{ImageId, ImageRecord, Store};
use crate::walk::{self, Candidate};

pub(super) type Existing = HashMap<Vec<u8>, (ImageId, ImageRecord)>;

/// What the store holds beside the image records: each image's embedding
/// fingerprint, and the images whose copy signature is current (an image
/// without one is analysed again, so `dupes` can verify its pairs).
pub(super) struct Derived {
    pub embeddings: HashMap<ImageId, u32>,
    pub signed: HashSet<ImageId>,
}

/// Current records by path, and what is derived from them ([`Derived`]).
/// Corrupt records are dropped here so that their files are re-indexed.
pub(super) fn load_existing(
    store: &Store,
    summary: &mut IndexSummary,
) -> Result<(Existing, Derived)> {
    let scan = store.scan_images()?;
    for (id, _) in &scan.corrupt {
        store.remove_image(*id)?;
    }
    let (embeddings, corrupt_emb) = store.scan_embeddings()?;
    for (id, _) in &corrupt_emb {
        store.remove_embedding(*id)?;
    }
    summary.repaired = scan.corrupt.len() + corrupt_emb.len();
    let existing = scan
        .records
        .into_iter()
        .map(|(id, r)| (r.path.clone(), (id, r)))
        .collect();
    let codes = embeddings
        .into_iter()
        .map(|(id, e)| (id, e.fingerprint))
        .collect();
    let signed = store.signature_ids(&crate::features::signature::fingerprint())?;
    Ok((
        existing,
        Derived {
            embeddings: codes,
            signed,
        },
    ))
}

/// Split candidates into work and unchanged files. Entries matched to a
/// candidate are taken out of `existing`, leaving only records whose file
/// was not seen by this walk.
pub(super) fn plan(
    candidates: Vec<Candidate>,
    existing: &mut Existing,
    derived: &Derived,
    codes: Codes,
) -> (Vec<Work>, usize) {
    let mut work = Vec::new();
    let mut unchanged = 0;
    for c in candidates {
        let old = existing.remove(&paths::to_bytes(&c.path));
        let old_embedding_current = match (&old, codes.embedding) {
            (_, None) => true,
            (Some((id, _)), Some(code)) => derived.embeddings.get(id) == Some(&code),
            (None, Some(_)) => false,
        };
        let old_signed = old
            .as_ref()
            .is_some_and(|(id, _)| derived.signed.contains(id));
        match old {
            Some((_, ref r))
                if r.size == c.size
                    && old_signed
                    && r.mtime_ns == c.mtime_ns
                    && old_embedding_current
                    && features_current(r, codes) =>
            {
                unchanged += 1
            }
            _ => work.push(Work {
                candidate: c,
                old,
                old_embedding_current,
                old_signed,
            }),
        }
    }
    (work, unchanged)
}

pub(super) fn features_current(r: &ImageRecord, codes: Codes) -> bool {
    r.hashes.as_ref().map(|t| t.fingerprint) == Some(codes.hash)
        && r.histogram.as_ref().map(|t| t.fingerprint) == Some(codes.histogram)
}

/// Remove records under the walked roots whose file no longer exists or is
/// no longer an image candidate (e.g. replaced by text or a directory), and
/// records of alias paths (the file is indexed under its real path).
/// Records the walk merely could not reach (unreadable folders) are kept.
pub(super) fn remove_gone(
    store: &Store,
    roots: &[PathBuf],
    unseen: &Existing,
    aliases: &[PathBuf],
) -> Result<usize> {
    let mut removed = 0;
    for (path_bytes, (id, _)) in unseen {
        let path = paths::from_bytes(path_bytes);
        let under_root = roots.iter().any(|r| path.starts_with(r));
        let gone = std::fs::metadata(&path).is_err()
            || !walk::is_candidate(&path)
            || aliases.contains(&path);
        let root_given_as_file = roots.contains(&path);
        if under_root && gone && !root_given_as_file {
            store.remove_image(*id)?;
            removed += 1;
        }
    }
    Ok(removed)
}
