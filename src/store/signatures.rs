//! The `signatures` tree: each image's copy signature
//! (`features::signature`), which `dupes` reads for the images of its
//! accepted pairs only. A tree of its own, so image records keep their
//! layout; a signature carries the fingerprint it was computed under and
//! one that does not match today's is treated as missing. Version 1
//! records (before the palette) are still read, as signatures without a
//! palette; their fingerprint is an older one, so `index` recomputes them.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::{record, ImageId, Store};
use crate::error::Result;
use crate::features::signature::{Edits, Signature};

/// Tree name.
pub const SIGNATURES: &str = "signatures";

/// A stored signature with the CRC32 of its fingerprint string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignatureRecord {
    pub fingerprint: u32,
    pub signature: Signature,
}

impl SignatureRecord {
    /// `signature` tagged with today's fingerprint, as `index` stores it.
    pub fn current(signature: Signature) -> Self {
        SignatureRecord {
            fingerprint: record::fingerprint_code(&crate::features::signature::fingerprint()),
            signature,
        }
    }
}

/// Versioned envelope for signature records.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum StoredSignature {
    V1(SignatureRecordV1),
    /// With the palette of a graphic.
    V2(SignatureRecord),
}

impl StoredSignature {
    /// The record as today's type.
    pub fn into_record(self) -> SignatureRecord {
        match self {
            StoredSignature::V1(r) => r.into(),
            StoredSignature::V2(r) => r,
        }
    }
}

/// A version-1 signature record (frozen layout: fingerprints up to
/// `.../edits/v4`, no palette).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignatureRecordV1 {
    pub fingerprint: u32,
    pub signature: SignatureV1,
}

/// The version-1 signature layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignatureV1 {
    #[serde(with = "serde_bytes")]
    pub luma: Vec<u8>,
    pub width: u32,
    pub height: u32,
    #[serde(with = "serde_bytes")]
    pub chroma: Vec<u8>,
    pub edits: Edits,
}

impl From<SignatureRecordV1> for SignatureRecord {
    fn from(r: SignatureRecordV1) -> Self {
        let s = r.signature;
        SignatureRecord {
            fingerprint: r.fingerprint,
            signature: Signature {
                luma: s.luma,
                width: s.width,
                height: s.height,
                chroma: s.chroma,
                edits: s.edits,
                palette: None,
            },
        }
    }
}

impl Store {
    fn signatures(&self) -> Result<sled::Tree> {
        self.db().open_tree(SIGNATURES).map_err(|e| self.err(e))
    }

    /// Write (or replace) image `id`'s signature.
    pub fn put_signature(&self, id: ImageId, rec: &SignatureRecord) -> Result<()> {
        let bytes = record::encode(&StoredSignature::V2(rec.clone()));
        self.signatures()?
            .insert(id.to_be_bytes(), bytes)
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Image `id`'s signature when it was made under fingerprint `fp`
    /// (a missing, stale or corrupt record counts as none).
    pub fn current_signature(&self, id: ImageId, fp: &str) -> Result<Option<Signature>> {
        let code = record::fingerprint_code(fp);
        match self
            .signatures()?
            .get(id.to_be_bytes())
            .map_err(|e| self.err(e))?
        {
            None => Ok(None),
            Some(v) => Ok(record::decode::<StoredSignature>(&v)
                .ok()
                .map(StoredSignature::into_record)
                .filter(|r| r.fingerprint == code)
                .map(|r| r.signature)),
        }
    }

    /// The images whose signature was made under fingerprint `fp`, read
    /// from each record's leading fields only (variant, fingerprint): one
    /// pass over the tree without decoding thumbnails. A record corrupt
    /// beyond them is caught when read in full, and counts as missing there.
    pub fn signature_ids(&self, fp: &str) -> Result<HashSet<ImageId>> {
        let code = record::fingerprint_code(fp);
        let mut ids = HashSet::new();
        for kv in self.signatures()?.iter() {
            let (k, v) = kv.map_err(|e| self.err(e))?;
            let current = postcard::take_from_bytes::<(u32, u32)>(&v)
                .is_ok_and(|((variant, fp), _)| variant <= 1 && fp == code);
            if let (true, Ok(key)) = (current, <[u8; 8]>::try_from(k.as_ref())) {
                ids.insert(ImageId::from_be_bytes(key));
            }
        }
        Ok(ids)
    }

    /// Image `id`'s signature record under whatever fingerprint it was
    /// made (for shards, which carry it as stored); a corrupt one is none.
    pub fn signature_record(&self, id: ImageId) -> Result<Option<SignatureRecord>> {
        let v = self
            .signatures()?
            .get(id.to_be_bytes())
            .map_err(|e| self.err(e))?;
        Ok(v.and_then(|v| record::decode::<StoredSignature>(&v).ok())
            .map(StoredSignature::into_record))
    }

    /// Drop image `id`'s signature (its record is gone).
    pub fn remove_signature(&self, id: ImageId) -> Result<()> {
        self.signatures()?
            .remove(id.to_be_bytes())
            .map(drop)
            .map_err(|e| self.err(e))
    }
}
