//! Serving image files, safely: only a file the store holds a record for
//! is ever read, found by its image id (never by a path from a request);
//! it must still resolve (symlinks followed) to a place inside one of the
//! store's indexed roots, and its bytes must still have the size and
//! BLAKE3 digest the store recorded, so what is served is exactly what was
//! indexed. Thumbnails are made on demand and kept in a byte-bounded LRU.

use std::path::Path;
use std::sync::Arc;

use lru::LruCache;

use crate::decode;
use crate::decode::DecodeConfig;
use crate::error::{Error, Result};
use crate::paths;
use crate::store::ImageRecord;

use super::Snapshot;

/// An original image file as stored.
#[derive(Debug)]
pub struct Original {
    pub bytes: Vec<u8>,
    /// MIME type from the stored format.
    pub content_type: &'static str,
    pub path: String,
}

/// The verified bytes of stored image `id`.
fn verified<'a>(
    snap: &'a Snapshot,
    id: u64,
    cfg: &DecodeConfig,
) -> Result<(Vec<u8>, &'a ImageRecord)> {
    let rec = snap.get(id).ok_or_else(|| Error::NotInStore {
        what: format!("image id {id}"),
    })?;
    let path = paths::from_bytes(&rec.path);
    let real = std::fs::canonicalize(&path).map_err(|e| Error::io(&path, e))?;
    if !snap.roots.iter().any(|r| real.starts_with(r)) {
        return Err(Error::OutsideRoots { path });
    }
    let bytes = decode::read_file(&real, cfg)?;
    if bytes.len() as u64 != rec.size {
        return Err(changed(&path, "its size changed"));
    }
    if *blake3::hash(&bytes).as_bytes() != rec.digest {
        return Err(changed(&path, "its content changed"));
    }
    Ok((bytes, rec))
}

fn changed(path: &Path, reason: &str) -> Error {
    Error::FileChanged {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

pub fn original(snap: &Snapshot, id: u64, cfg: &DecodeConfig) -> Result<Original> {
    let (bytes, rec) = verified(snap, id, cfg)?;
    Ok(Original {
        bytes,
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

/// A JPEG of at most `side` pixels on its long side.
pub fn thumbnail(snap: &Snapshot, id: u64, side: u32) -> Result<Vec<u8>> {
    let cfg = DecodeConfig {
        work_short_side: side,
        work_long_side_max: side * 8,
        ..DecodeConfig::default()
    };
    let (bytes, rec) = verified(snap, id, &cfg)?;
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
    Ok(out)
}

/// Thumbnails by image id, least recently used dropped first once their
/// total size passes the bound.
pub struct ThumbCache {
    lru: LruCache<u64, Arc<Vec<u8>>>,
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

    pub fn get(&mut self, id: u64) -> Option<Arc<Vec<u8>>> {
        self.lru.get(&id).cloned()
    }

    pub fn put(&mut self, id: u64, t: Arc<Vec<u8>>) {
        self.bytes += t.len();
        if let Some(old) = self.lru.put(id, t) {
            self.bytes -= old.len();
        }
        while self.bytes > self.limit {
            match self.lru.pop_lru() {
                Some((_, t)) => self.bytes -= t.len(),
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
