//! Serving image files, safely: only a file the store holds a record for
//! is ever read, found by its image id (never by a path from a request);
//! it must still resolve (symlinks followed) to a place inside one of the
//! store's indexed roots, have the recorded size and modification time
//! (checked before a byte is read, so a file that grew to gigabytes costs
//! nothing), and its bytes must still have the BLAKE3 digest the store
//! recorded, so what is served is exactly what was indexed. Originals are
//! verified by a streaming hash and then streamed, never held whole.
//! Thumbnails are made on demand and kept in a byte-bounded LRU together
//! with the identity (device, inode, size, mtime) of the file they were
//! made from; a file whose identity changed is verified again.

use std::fs::File;
use std::io::{Read, Seek};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lru::LruCache;

use crate::decode;
use crate::decode::DecodeConfig;
use crate::error::{Error, Result};
use crate::paths;
use crate::store::ImageRecord;
use crate::walk;

use super::Snapshot;

/// An original image file as stored, open at its start and verified.
#[derive(Debug)]
pub struct Original {
    pub file: File,
    /// Its length in bytes (as recorded).
    pub len: u64,
    /// MIME type from the stored format.
    pub content_type: &'static str,
    pub path: String,
}

/// What identifies the file a thumbnail was made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileIdentity {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i64,
}

impl FileIdentity {
    fn of(meta: &std::fs::Metadata) -> Self {
        FileIdentity {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
            mtime_ns: walk::mtime_ns(meta),
        }
    }

    /// The identity of the file stored image `id` now resolves to.
    pub fn current(snap: &Snapshot, id: u64) -> Option<Self> {
        let rec = snap.get(id)?;
        let meta = std::fs::metadata(paths::from_bytes(&rec.path)).ok()?;
        Some(Self::of(&meta))
    }
}

/// Stored image `id`'s file, opened and checked against its record
/// (inside the roots, a regular file of the recorded size and mtime).
fn open_checked(snap: &Snapshot, id: u64) -> Result<(File, &ImageRecord, FileIdentity)> {
    let rec = snap.get(id).ok_or_else(|| Error::NotInStore {
        what: format!("image id {id}"),
    })?;
    let path = paths::from_bytes(&rec.path);
    let real = std::fs::canonicalize(&path).map_err(|e| Error::io(&path, e))?;
    if !snap.roots.iter().any(|r| real.starts_with(r)) {
        return Err(Error::OutsideRoots { path });
    }
    let file = File::open(&real).map_err(|e| Error::io(&path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(&path, e))?;
    if !meta.is_file() {
        return Err(Error::NotAFile {
            path,
            kind: "not a regular file",
        });
    }
    if meta.len() != rec.size {
        return Err(changed(&path, "its size changed"));
    }
    if walk::mtime_ns(&meta) != rec.mtime_ns {
        return Err(changed(&path, "its modification time changed"));
    }
    Ok((file, rec, FileIdentity::of(&meta)))
}

/// The verified bytes of stored image `id` (at most its recorded size).
fn verified(snap: &Snapshot, id: u64) -> Result<(Vec<u8>, &ImageRecord, FileIdentity)> {
    let (file, rec, ident) = open_checked(snap, id)?;
    let path = paths::from_bytes(&rec.path);
    let mut bytes = Vec::with_capacity(rec.size as usize);
    file.take(rec.size)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(&path, e))?;
    if *blake3::hash(&bytes).as_bytes() != rec.digest {
        return Err(changed(&path, "its content changed"));
    }
    Ok((bytes, rec, ident))
}

fn changed(path: &Path, reason: &str) -> Error {
    Error::FileChanged {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Stored image `id`'s file, verified by a streaming hash and rewound.
pub fn original(snap: &Snapshot, id: u64) -> Result<Original> {
    let (mut file, rec, _) = open_checked(snap, id)?;
    let path: PathBuf = paths::from_bytes(&rec.path);
    let mut h = blake3::Hasher::new();
    h.update_reader((&mut file).take(rec.size))
        .map_err(|e| Error::io(&path, e))?;
    if *h.finalize().as_bytes() != rec.digest {
        return Err(changed(&path, "its content changed"));
    }
    file.rewind().map_err(|e| Error::io(&path, e))?;
    Ok(Original {
        file,
        len: rec.size,
        content_type: mime(&rec.format),
        path: paths::display(&rec.path),
    })
}

/// MIME type of a stored format name.
pub fn mime(format: &str) -> &'static str {
    match format {
        "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "bmp" => "image/bmp",
        "tiff" => "image/tiff",
        "ico" => "image/x-icon",
        "tga" => "image/x-tga",
        "qoi" => "image/qoi",
        "pnm" => "image/x-portable-anymap",
        _ => "application/octet-stream",
    }
}

/// A JPEG of at most `side` pixels on its long side, and the identity of
/// the file it was made from.
pub fn thumbnail(snap: &Snapshot, id: u64, side: u32) -> Result<(Vec<u8>, FileIdentity)> {
    let cfg = DecodeConfig {
        work_short_side: side,
        work_long_side_max: side * 8,
        ..DecodeConfig::default()
    };
    let (bytes, rec, ident) = verified(snap, id)?;
    let path = paths::from_bytes(&rec.path);
    let img = decode::decode(&path, &bytes, &cfg)?.image;
    let (w, h) = img.dimensions();
    let s = f64::from(side) / f64::from(w.max(h));
    let img = if s < 1.0 {
        let nw = ((f64::from(w) * s).round() as u32).max(1);
        let nh = ((f64::from(h) * s).round() as u32).max(1);
        decode::resize_rgb(&img, nw, nh, decode::Filter::Bilinear)
    } else {
        img
    };
    let mut out = Vec::new();
    let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 82);
    img.write_with_encoder(enc).map_err(|e| Error::Decode {
        path,
        reason: format!("cannot encode thumbnail: {e}"),
    })?;
    Ok((out, ident))
}

/// Thumbnails by image id, least recently used dropped first once their
/// total size passes the bound.
pub struct ThumbCache {
    lru: LruCache<u64, (Arc<Vec<u8>>, FileIdentity)>,
    bytes: usize,
    limit: usize,
}

impl ThumbCache {
    pub fn new(limit: usize) -> Self {
        ThumbCache {
            lru: LruCache::unbounded(),
            bytes: 0,
            limit,
        }
    }

    /// The thumbnail of `id` if it was made from the file `now` identifies;
    /// one made from another file is dropped.
    pub fn get(&mut self, id: u64, now: Option<FileIdentity>) -> Option<Arc<Vec<u8>>> {
        let (t, made_from) = self.lru.get(&id)?.clone();
        if Some(made_from) == now {
            return Some(t);
        }
        if let Some((t, _)) = self.lru.pop(&id) {
            self.bytes -= t.len();
        }
        None
    }

    pub fn put(&mut self, id: u64, t: Arc<Vec<u8>>, made_from: FileIdentity) {
        self.bytes += t.len();
        if let Some((old, _)) = self.lru.put(id, (t, made_from)) {
            self.bytes -= old.len();
        }
        while self.bytes > self.limit {
            match self.lru.pop_lru() {
                Some((_, (t, _))) => self.bytes -= t.len(),
                None => break,
            }
        }
    }

    pub fn clear(&mut self) {
        self.lru.clear();
        self.bytes = 0;
    }

    /// Bytes currently held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.lru.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lru.is_empty()
    }
}
