//! Where the labels of stored images come from: each image's parent folder
//! name, or a CSV file with a `path` column and a value column (`label`,
//! or `split` for a given train/validation split). CSV paths may be
//! absolute or relative to the CSV file's folder; they are matched to the
//! stored (canonical, absolute) paths after canonicalisation.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::paths;

/// How to label images.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelSource {
    /// The name of the folder that holds the image.
    Folder,
    /// A CSV file with `path,label` columns.
    Csv(PathBuf),
}

/// The label of each stored path (raw path bytes) that has one.
pub fn assign(source: &LabelSource, stored: &[Vec<u8>]) -> Result<HashMap<Vec<u8>, String>> {
    match source {
        LabelSource::Folder => Ok(stored
            .iter()
            .filter_map(|p| {
                let path = paths::from_bytes(p);
                let name = folder_label(path.parent()?.file_name()?);
                Some((p.clone(), name))
            })
            .collect()),
        LabelSource::Csv(file) => read_path_csv(file, "label"),
    }
}

/// A folder name as a class label: the name itself when it is UTF-8; else
/// each invalid byte written as `\xNN` (so two names that differ only in
/// invalid bytes stay two classes, which a lossy conversion would merge).
fn folder_label(name: &std::ffi::OsStr) -> String {
    use std::fmt::Write as _;
    use std::os::unix::ffi::OsStrExt;
    if let Some(s) = name.to_str() {
        return s.to_string();
    }
    let mut out = String::new();
    for chunk in name.as_bytes().utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// `path → value` from a CSV file with a header naming `path` and `column`.
/// Paths are resolved against the CSV's folder and canonicalised.
pub fn read_path_csv(file: &Path, column: &str) -> Result<HashMap<Vec<u8>, String>> {
    let table_err = |line: Option<u64>, reason: String| Error::Table {
        path: file.to_path_buf(),
        line,
        reason,
    };
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(file)
        .map_err(|e| table_err(None, e.to_string()))?;
    let headers = rdr
        .headers()
        .map_err(|e| table_err(Some(1), e.to_string()))?
        .clone();
    let find = |name: &str| {
        headers
            .iter()
            .position(|h| h.eq_ignore_ascii_case(name))
            .ok_or_else(|| Error::UnknownColumn {
                path: file.to_path_buf(),
                column: name.to_string(),
                available: headers.iter().collect::<Vec<_>>().join(", "),
            })
    };
    let (pi, vi) = (find("path")?, find(column)?);
    let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut out = HashMap::new();
    for row in rdr.records() {
        let row = row.map_err(|e| table_err(e.position().map(|p| p.line()), e.to_string()))?;
        let (Some(p), Some(v)) = (row.get(pi), row.get(vi)) else {
            continue;
        };
        if p.is_empty() || v.is_empty() {
            continue;
        }
        out.insert(paths::to_bytes(&resolve(&base, p)), v.to_string());
    }
    Ok(out)
}

fn resolve(base: &Path, p: &str) -> PathBuf {
    let joined = base.join(p);
    std::fs::canonicalize(&joined).unwrap_or(joined)
}
