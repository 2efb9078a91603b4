//! The store's `meta` tree: the feature fingerprints a store was indexed
//! with, the roots `index` has been run on, and raw bookkeeping values for
//! other derived data (the ANN index's state).

use std::path::{Path, PathBuf};

use super::{record, Store, META, ROOTS_FILE, ROOTS_KEY};
use crate::error::{Error, Result};

impl Store {
    /// The fingerprint string last recorded for `feature`.
    pub fn fingerprint(&self, feature: &str) -> Result<Option<String>> {
        let key = format!("fingerprint/{feature}");
        let v = self.meta.get(key).map_err(|e| self.err(e))?;
        Ok(v.map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    pub fn set_fingerprint(&self, feature: &str, value: &str) -> Result<()> {
        let key = format!("fingerprint/{feature}");
        self.meta
            .insert(key, value.as_bytes())
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// All recorded fingerprints, by feature name.
    pub fn fingerprints(&self) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for kv in self.meta.scan_prefix(b"fingerprint/") {
            let (k, v) = kv.map_err(|e| self.err(e))?;
            let k = String::from_utf8_lossy(&k["fingerprint/".len()..]).into_owned();
            out.push((k, String::from_utf8_lossy(&v).into_owned()));
        }
        Ok(out)
    }

    /// A raw value of the `meta` tree (derived-data bookkeeping).
    pub fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .meta
            .get(key)
            .map_err(|e| self.err(e))?
            .map(|v| v.to_vec()))
    }

    pub fn meta_put(&self, key: &str, value: &[u8]) -> Result<()> {
        self.meta.insert(key, value).map_err(|e| self.err(e))?;
        Ok(())
    }

    pub fn meta_remove(&self, key: &str) -> Result<()> {
        self.meta.remove(key).map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The roots `index` has been run on (canonical paths), oldest first.
    pub fn roots(&self) -> Result<Vec<PathBuf>> {
        let Some(bytes) = self.meta_get(ROOTS_KEY)? else {
            return Ok(Vec::new());
        };
        let roots: Vec<Vec<u8>> = record::decode(&bytes).map_err(|e| Error::CorruptRecord {
            tree: META,
            key: ROOTS_KEY.into(),
            reason: e.to_string(),
        })?;
        Ok(roots.iter().map(|r| crate::paths::from_bytes(r)).collect())
    }

    /// Record `roots` (the ones not recorded yet) for later re-indexing.
    pub fn add_roots(&self, roots: &[PathBuf]) -> Result<()> {
        let mut all = self.roots().unwrap_or_default();
        let before = all.len();
        for r in roots {
            if !all.contains(r) {
                all.push(r.clone());
            }
        }
        let bytes: Vec<Vec<u8>> = all.iter().map(|p| crate::paths::to_bytes(p)).collect();
        let encoded = record::encode(&bytes);
        if all.len() != before {
            self.meta_put(ROOTS_KEY, &encoded)?;
        }
        let side = self.dir.join(ROOTS_FILE);
        if all.len() != before || !side.exists() {
            write_atomic(&side, &encoded)?;
        }
        Ok(())
    }
}

/// The roots kept in a store's side file (`None` when absent or damaged).
pub fn read_roots_file(path: &Path) -> Option<Vec<PathBuf>> {
    let bytes = std::fs::read(path).ok()?;
    let roots: Vec<Vec<u8>> = record::decode(&bytes).ok()?;
    Some(roots.iter().map(|r| crate::paths::from_bytes(r)).collect())
}

/// Replace `path` with `bytes` by writing a temporary file and renaming it.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}
