//! `repair`: the way back from a damaged store. A sled file that fails its
//! checks makes every command refuse the store; rather than leave the user
//! stuck, this moves the damaged database (and the graph files derived from
//! it) aside into `damaged-<time>/`, carries over every record that can
//! still be read from it (so unchanged files need no re-analysis), and
//! re-indexes the roots into a fresh store. The apply journals
//! (`journal/`) are kept where they are, so `undo` still works.

use std::fs;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::jobs::apply::utc_timestamp;
use crate::jobs::index::{self, IndexConfig, IndexSummary};
use crate::paths;
use crate::store::record::{self, EmbeddingRecord, ImageRecord, StoredEmbedding, StoredImage};
use crate::store::{self, ImageId, Store, StoreOptions};

/// What `repair` did.
#[derive(Debug, Serialize)]
pub struct RepairReport {
    /// Where the damaged database and its derived files were moved.
    pub moved_aside: String,
    /// Records read from the damaged database and carried over.
    pub carried_over: usize,
    /// Why the damaged database could not be read (further), if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
    /// The folders re-indexed.
    pub roots: Vec<String>,
    /// The re-index of those folders into the fresh store.
    pub index: IndexSummary,
}

/// What could still be read from the damaged database.
#[derive(Default)]
struct Salvage {
    roots: Vec<PathBuf>,
    records: Vec<(ImageId, ImageRecord, Option<EmbeddingRecord>)>,
    unreadable: Option<String>,
}

/// Rebuild the store in `dir`. `cfg.roots` may be empty: then the roots
/// recorded in the damaged store (or its `roots` side file) are used.
pub fn run(dir: &Path, cfg: &IndexConfig) -> Result<RepairReport> {
    let aside = move_aside(dir)?;
    let salvage = salvage(&aside.join("sled"));
    let mut cfg = cfg.clone();
    if cfg.roots.is_empty() {
        cfg.roots = salvage.roots.clone();
    }
    if cfg.roots.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "the damaged store's indexed folders could not be read (it was moved to {}); \
             name the folders to index",
            aside.display()
        )));
    }
    cfg.validate()?;
    let store = Store::open(dir, &StoreOptions::default())?;
    let carried_over = carry_over(&store, &salvage)?;
    let summary = index::run(&store, &cfg)?;
    Ok(RepairReport {
        moved_aside: aside.display().to_string(),
        carried_over,
        unreadable: salvage.unreadable,
        roots: cfg.roots.iter().map(|r| r.display().to_string()).collect(),
        index: summary,
    })
}

/// Move everything but the journals and the lock file into
/// `dir/damaged-<UTC time>/`, holding the store's lock meanwhile.
fn move_aside(dir: &Path) -> Result<PathBuf> {
    let _lock = store::lock_dir(dir, false)?;
    let aside = dir.join(format!("damaged-{}", utc_timestamp(true)));
    fs::create_dir(&aside).map_err(|e| Error::io(&aside, e))?;
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        let keep = name == "journal"
            || name == "imgdex.lock"
            || name.to_string_lossy().starts_with("damaged-");
        if !keep {
            let to = aside.join(&name);
            fs::rename(entry.path(), &to).map_err(|e| Error::io(&to, e))?;
        }
    }
    Ok(aside)
}

/// Read what can be read from the damaged sled database at `old` (never
/// fatal: a panic or error ends the salvage with what was read so far).
fn salvage(old: &Path) -> Salvage {
    let mut out = Salvage::default();
    if let Some(side) = old.parent().map(|p| p.join(store::ROOTS_FILE)) {
        out.roots = store::read_roots_file(&side).unwrap_or_default();
    }
    let read = std::panic::catch_unwind(AssertUnwindSafe(|| read_db(old, &mut out)));
    match read {
        Ok(Ok(())) => {}
        Ok(Err(e)) => out.unreadable = Some(e.to_string()),
        Err(_) => out.unreadable = Some("reading it panicked".into()),
    }
    out
}

fn read_db(old: &Path, out: &mut Salvage) -> sled::Result<()> {
    let db = sled::Config::new().path(old).open()?;
    let meta = db.open_tree(store::META)?;
    if let Some(v) = meta.get("roots")? {
        if let Ok(roots) = record::decode::<Vec<Vec<u8>>>(&v) {
            out.roots = roots.iter().map(|r| paths::from_bytes(r)).collect();
        }
    }
    let embeddings = db.open_tree(store::EMBEDDINGS)?;
    for kv in db.open_tree(store::IMAGES)?.iter() {
        let (k, v) = kv?;
        let Ok(rec) = record::decode::<StoredImage>(&v) else {
            continue;
        };
        let emb = embeddings
            .get(&k)
            .ok()
            .flatten()
            .and_then(|e| record::decode::<StoredEmbedding>(&e).ok())
            .map(Into::into);
        out.records.push((store::key_to_id(&k), rec.into(), emb));
    }
    Ok(())
}

/// Write the salvaged records into the fresh store, keeping their ids.
fn carry_over(store: &Store, salvage: &Salvage) -> Result<usize> {
    let max_id = salvage.records.iter().map(|r| r.0).max();
    if let Some(max) = max_id {
        // New images must never get a carried-over (or journalled) id.
        while store.next_id()? <= max {}
    }
    for (id, rec, emb) in &salvage.records {
        store.put_image(*id, rec, emb.as_ref())?;
    }
    store.flush()?;
    Ok(salvage.records.len())
}
