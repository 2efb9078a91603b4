//! The values kept in the store and their on-disk envelope. Every value is
//! `[postcard-encoded versioned enum][CRC32 little-endian]`: the enum's
//! variant index is the first byte and doubles as the format version, and the
//! checksum turns silent corruption into a reported, repairable error.
//! Records only ever gain variants (`V1`, later `V2`, ...): postcard does not
//! tolerate appended fields, so a new layout is a new variant, and frozen
//! old layouts live in `migrations/`.

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::error::RecordError;
use crate::features::{Hashes, Histogram};
pub use crate::store::migrations::m008_capture_date::ImageRecordV1;

/// A derived feature together with the fingerprint (CRC32 of the config's
/// fingerprint string) it was computed under.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tagged<T> {
    pub fingerprint: u32,
    pub value: T,
}

/// Everything the store knows about one image file. Pixels are never stored:
/// the image file is the source of truth and a record can always be rebuilt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// Absolute path as raw OS bytes.
    pub path: Vec<u8>,
    pub size: u64,
    pub mtime_ns: i64,
    /// BLAKE3 of the file content.
    pub digest: [u8; 32],
    pub width: u32,
    pub height: u32,
    pub format: String,
    pub hashes: Option<Tagged<Hashes>>,
    pub histogram: Option<Tagged<Histogram>>,
    /// When the picture was taken: the EXIF DateTimeOriginal as
    /// `YYYY-MM-DDTHH:MM:SS` (the camera's local time; EXIF names no zone),
    /// `None` when the file has none or was indexed before schema 8.
    pub taken: Option<String>,
}

/// Versioned envelope for image records. V1 (schemas 1 to 7, frozen in
/// `migrations/m008_capture_date.rs`) has no `taken`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum StoredImage {
    V1(ImageRecordV1),
    V2(ImageRecord),
}

impl From<StoredImage> for ImageRecord {
    fn from(s: StoredImage) -> Self {
        match s {
            StoredImage::V1(r) => r.into(),
            StoredImage::V2(r) => r,
        }
    }
}

/// One image's CNN embedding, L2-normalised, stored as IEEE half floats
/// (2 bytes per dimension; the rounding error, < 1e-3 relative, is far below
/// the distances that matter for ranking).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingRecord {
    pub fingerprint: u32,
    /// The search embedding.
    pub data: Vec<u16>,
    /// The vector `dupes` judges by, when the model has one apart from the
    /// search embedding (empty: `dupes` uses `data`).
    pub dupe: Vec<u16>,
}

/// The embedding record of stores written before the dupe vector (frozen:
/// version 1 of [`StoredEmbedding`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingRecordV1 {
    pub fingerprint: u32,
    pub data: Vec<u16>,
}

impl From<EmbeddingRecordV1> for EmbeddingRecord {
    fn from(r: EmbeddingRecordV1) -> Self {
        EmbeddingRecord {
            fingerprint: r.fingerprint,
            data: r.data,
            dupe: Vec::new(),
        }
    }
}

fn to_f16(v: &[f32]) -> Vec<u16> {
    v.iter()
        .map(|&x| half::f16::from_f32(x).to_bits())
        .collect()
}

fn from_f16(v: &[u16]) -> Vec<f32> {
    v.iter()
        .map(|&b| half::f16::from_bits(b).to_f32())
        .collect()
}

impl EmbeddingRecord {
    /// A record without a separate dupe vector.
    pub fn from_f32(fingerprint: u32, v: &[f32]) -> Self {
        Self::with_dupe(fingerprint, v, None)
    }

    /// A record of search embedding `v` and, when given, dupe vector `dupe`.
    pub fn with_dupe(fingerprint: u32, v: &[f32], dupe: Option<&[f32]>) -> Self {
        EmbeddingRecord {
            fingerprint,
            data: to_f16(v),
            dupe: dupe.map(to_f16).unwrap_or_default(),
        }
    }

    /// The search embedding.
    pub fn to_f32(&self) -> Vec<f32> {
        from_f16(&self.data)
    }

    /// The f16 bits of [`EmbeddingRecord::dupe_f32`], as stored.
    pub fn dupe_bits(&self) -> Vec<u16> {
        if self.dupe.is_empty() {
            self.data.clone()
        } else {
            self.dupe.clone()
        }
    }

    /// The vector `dupes` judges by: the dupe vector, else the embedding.
    pub fn dupe_f32(&self) -> Vec<f32> {
        if self.dupe.is_empty() {
            self.to_f32()
        } else {
            from_f16(&self.dupe)
        }
    }
}

/// Versioned envelope for embedding records.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum StoredEmbedding {
    V1(EmbeddingRecordV1),
    V2(EmbeddingRecord),
}

impl From<StoredEmbedding> for EmbeddingRecord {
    fn from(s: StoredEmbedding) -> Self {
        match s {
            StoredEmbedding::V1(r) => r.into(),
            StoredEmbedding::V2(r) => r,
        }
    }
}

/// CRC32 of a fingerprint string, as stored in [`Tagged`].
pub fn fingerprint_code(s: &str) -> u32 {
    crc32fast::hash(s.as_bytes())
}

/// Encode a value: postcard bytes followed by their CRC32.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut bytes = postcard::to_stdvec(value).expect("postcard encoding of an owned value");
    let crc = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    bytes
}

/// Decode a value written by [`encode`], checking its CRC32.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, RecordError> {
    if bytes.len() < 5 {
        return Err(RecordError::TooShort { len: bytes.len() });
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    let stored = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    let computed = crc32fast::hash(body);
    if stored != computed {
        return Err(RecordError::Checksum { stored, computed });
    }
    postcard::from_bytes(body).map_err(|e| RecordError::Layout {
        version: body[0],
        reason: e.to_string(),
    })
}
