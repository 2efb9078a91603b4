//! The sled-backed store of derived data. One process owns a store at a
//! time (an advisory lock file guards it, so a second imgdex gets a clear
//! error instead of sled's). Each image is one record written with a single
//! atomic operation, and the store is flushed at commit points, so a crash
//! loses at most the last uncommitted images and never leaves a half record.
//! The schema version lives in the `meta` tree and `migrations/` brings older
//! stores up to date when they are opened.

mod meta;
// The step files stay in the top-level `migrations/` directory (one file
// per step, as the design asks); the module lives under `store` because it
// is part of opening a store and uses the store's schema-version helpers.
mod decisions;
#[path = "../../migrations/mod.rs"]
pub mod migrations;
pub mod record;
pub mod signatures;
mod stale;
mod vectors;

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
pub use decisions::{Decision, StoredDecision, DECISIONS};
pub use meta::read_roots_file;
pub use record::{EmbeddingRecord, ImageRecord, StoredEmbedding, StoredImage, Tagged};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;
pub use stale::{StaleMark, STALE};

/// Image ids are sled-generated, monotonically increasing integers.
pub type ImageId = u64;

/// Tree names.
pub const META: &str = "meta";
pub const IMAGES: &str = "images";
pub const EMBEDDINGS: &str = "embeddings";

const SCHEMA_KEY: &[u8] = b"schema_version";
/// `meta` key of the recorded index roots.
const ROOTS_KEY: &str = "roots";
/// A copy of the recorded roots outside sled, so that a store whose
/// database cannot be read any more still says what to re-index.
pub const ROOTS_FILE: &str = "roots.bin";

/// How to open a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Create the store when it does not exist (writers); readers refuse.
    pub create: bool,
    /// sled page cache size in bytes.
    pub cache_capacity: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            create: true,
            cache_capacity: 256 * 1024 * 1024,
        }
    }
}

impl StoreOptions {
    /// For a reader that goes through every record once (`dupes`): a small
    /// page cache, which a scan never hits again. On the 1M-image synthetic
    /// store the default cache added 0.23 GB to the peak of `dupes`.
    pub fn for_scans() -> Self {
        StoreOptions {
            create: false,
            cache_capacity: 32 * 1024 * 1024,
        }
    }
}

/// What a full scan of the image tree found.
#[derive(Debug, Default)]
pub struct Scan {
    pub records: Vec<(ImageId, ImageRecord)>,
    /// Records whose bytes failed their checksum or did not decode.
    pub corrupt: Vec<(ImageId, String)>,
}

/// An open store.
pub struct Store {
    dir: PathBuf,
    db: sled::Db,
    meta: sled::Tree,
    images: sled::Tree,
    embeddings: sled::Tree,
    _lock: File,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("dir", &self.dir).finish()
    }
}

/// Open sled as `config` says. sled's own file lock is released by its
/// background threads, which a dropped `Db` does not wait for: a store
/// closed and opened again at once in one process (a Python session, a
/// test) can find it still held for a moment. [`Store::open`] holds
/// imgdex's lock file first, so no other imgdex has the store: a held sled
/// lock is waited for, up to two seconds.
pub fn open_sled(config: &sled::Config) -> sled::Result<sled::Db> {
    let mut tries = 0;
    loop {
        match config.open() {
            // sled reports a held lock only by this message (io kind Other).
            Err(sled::Error::Io(e))
                if tries < 40 && e.to_string().starts_with("could not acquire lock") =>
            {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

impl Store {
    /// Open (and if needed create and migrate) the store in `dir`.
    pub fn open(dir: &Path, opts: &StoreOptions) -> Result<Store> {
        let lock = acquire_lock(dir, opts.create)?;
        let config = sled::Config::new()
            .path(dir.join("sled"))
            .cache_capacity(opts.cache_capacity);
        let db = open_sled(&config).map_err(|source| store_err(dir, source))?;
        migrations::upgrade(&db, dir)?;
        let meta = db.open_tree(META).map_err(|e| store_err(dir, e))?;
        let images = db.open_tree(IMAGES).map_err(|e| store_err(dir, e))?;
        let embeddings = db.open_tree(EMBEDDINGS).map_err(|e| store_err(dir, e))?;
        Ok(Store {
            dir: dir.to_path_buf(),
            db,
            meta,
            images,
            embeddings,
            _lock: lock,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The underlying sled database (for migrations and other stores' trees).
    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    pub(crate) fn err(&self, source: sled::Error) -> Error {
        store_err(&self.dir, source)
    }

    pub fn schema_version(&self) -> Result<u32> {
        read_schema_version(&self.db).map_err(|e| self.err(e))
    }

    /// A fresh image id.
    pub fn next_id(&self) -> Result<ImageId> {
        self.db.generate_id().map_err(|e| self.err(e))
    }

    /// Write an image record, and its embedding if given, atomically.
    pub fn put_image(
        &self,
        id: ImageId,
        rec: &ImageRecord,
        emb: Option<&EmbeddingRecord>,
    ) -> Result<()> {
        let key = id.to_be_bytes();
        let img = record::encode(&StoredImage::V2(rec.clone()));
        let Some(emb) = emb else {
            // One tree: sled's insert is atomic without a transaction.
            self.images.insert(key, img).map_err(|e| self.err(e))?;
            return Ok(());
        };
        let emb = record::encode(&StoredEmbedding::V2(emb.clone()));
        (&self.images, &self.embeddings)
            .transaction(|(images, embeddings)| {
                images.insert(&key, img.as_slice())?;
                embeddings.insert(&key, emb.as_slice())?;
                Ok::<(), ConflictableTransactionError<()>>(())
            })
            .map_err(|e| self.tx_err(e))
    }

    /// Remove an image record and its embedding atomically (then its
    /// signature, stale mark and its part in review decisions, which mean
    /// nothing without the record).
    pub fn remove_image(&self, id: ImageId) -> Result<()> {
        let key = id.to_be_bytes();
        (&self.images, &self.embeddings)
            .transaction(|(images, embeddings)| {
                images.remove(&key)?;
                embeddings.remove(&key)?;
                Ok::<(), ConflictableTransactionError<()>>(())
            })
            .map_err(|e| self.tx_err(e))?;
        self.remove_signature(id)?;
        self.clear_stale(id)?;
        self.forget_in_decisions(id)
    }

    fn tx_err(&self, e: TransactionError<()>) -> Error {
        match e {
            TransactionError::Storage(s) => self.err(s),
            TransactionError::Abort(()) => {
                self.err(sled::Error::Unsupported("transaction aborted".into()))
            }
        }
    }

    /// Image `id`'s embedding if the model with fingerprint `fp` made it
    /// (a corrupt record counts as none).
    pub fn current_embedding(&self, id: ImageId, fp: &str) -> Result<Option<Vec<f32>>> {
        let e = match self.get_embedding(id) {
            Err(Error::CorruptRecord { .. }) => None,
            other => other?,
        };
        let code = record::fingerprint_code(fp);
        Ok(e.filter(|e| e.fingerprint == code).map(|e| e.to_f32()))
    }

    pub fn get_embedding(&self, id: ImageId) -> Result<Option<EmbeddingRecord>> {
        match self
            .embeddings
            .get(id.to_be_bytes())
            .map_err(|e| self.err(e))?
        {
            None => Ok(None),
            Some(v) => record::decode::<StoredEmbedding>(&v)
                .map(|s| Some(s.into()))
                .map_err(|e| Error::CorruptRecord {
                    tree: EMBEDDINGS,
                    key: id.to_string(),
                    reason: e.to_string(),
                }),
        }
    }

    /// Drop one embedding (e.g. a corrupt one) so the next index recomputes it.
    pub fn remove_embedding(&self, id: ImageId) -> Result<()> {
        self.embeddings
            .remove(id.to_be_bytes())
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    pub fn get_image(&self, id: ImageId) -> Result<Option<ImageRecord>> {
        match self.images.get(id.to_be_bytes()).map_err(|e| self.err(e))? {
            None => Ok(None),
            Some(v) => record::decode::<StoredImage>(&v)
                .map(|s| Some(s.into()))
                .map_err(|e| Error::CorruptRecord {
                    tree: IMAGES,
                    key: id.to_string(),
                    reason: e.to_string(),
                }),
        }
    }

    /// Every image record; corrupt ones are listed apart, never fatal.
    pub fn scan_images(&self) -> Result<Scan> {
        let mut scan = Scan::default();
        for kv in self.images.iter() {
            let (k, v) = kv.map_err(|e| self.err(e))?;
            let id = key_to_id(&k);
            match record::decode::<StoredImage>(&v) {
                Ok(s) => scan.records.push((id, s.into())),
                Err(e) => scan.corrupt.push((id, e.to_string())),
            }
        }
        Ok(scan)
    }

    /// Image records in id order, streamed rather than collected (for
    /// exports that must stay flat in memory); corrupt records are skipped,
    /// as `info` reports them and the next `index` repairs them.
    pub fn iter_images(&self) -> impl Iterator<Item = Result<(ImageId, ImageRecord)>> + '_ {
        self.images.iter().filter_map(move |kv| match kv {
            Err(e) => Some(Err(self.err(e))),
            Ok((k, v)) => record::decode::<StoredImage>(&v)
                .ok()
                .map(|s| Ok((key_to_id(&k), s.into()))),
        })
    }

    pub fn image_count(&self) -> usize {
        self.images.len()
    }

    /// Make everything written so far durable.
    pub fn flush(&self) -> Result<()> {
        self.db.flush().map_err(|e| self.err(e))?;
        Ok(())
    }
}

pub(crate) fn key_to_id(k: &[u8]) -> ImageId {
    let mut b = [0u8; 8];
    let n = k.len().min(8);
    b[8 - n..].copy_from_slice(&k[k.len() - n..]);
    u64::from_be_bytes(b)
}

pub(crate) fn store_err(dir: &Path, source: sled::Error) -> Error {
    let damaged = match &source {
        sled::Error::Corruption { .. } => true,
        sled::Error::Io(e) => matches!(
            e.kind(),
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidData
        ),
        _ => false,
    };
    if damaged {
        let text = source.to_string();
        return Error::StoreDamaged {
            path: dir.to_path_buf(),
            detail: text.trim_end_matches(" backtrace ()").to_string(),
        };
    }
    Error::Store {
        path: dir.to_path_buf(),
        source,
    }
}

/// Schema version recorded in `meta` (0 for a new, empty database).
pub fn read_schema_version(db: &sled::Db) -> sled::Result<u32> {
    let meta = db.open_tree(META)?;
    Ok(meta
        .get(SCHEMA_KEY)?
        .and_then(|v| <[u8; 4]>::try_from(v.as_ref()).ok())
        .map(u32::from_be_bytes)
        .unwrap_or(0))
}

pub fn write_schema_version(db: &sled::Db, version: u32) -> sled::Result<()> {
    let meta = db.open_tree(META)?;
    meta.insert(SCHEMA_KEY, &version.to_be_bytes())?;
    Ok(())
}

/// Hold the store's lock without opening its database (for `repair`).
pub fn lock_dir(dir: &Path, create: bool) -> Result<File> {
    acquire_lock(dir, create)
}

fn acquire_lock(dir: &Path, create: bool) -> Result<File> {
    if !dir.join("sled").exists() && !create {
        return Err(Error::NoStore {
            path: dir.to_path_buf(),
        });
    }
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let lock_path = dir.join("imgdex.lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| Error::io(&lock_path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::StoreLocked {
            path: dir.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io(&lock_path, e)),
    }
}
