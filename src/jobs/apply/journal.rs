//! The journal of a `dupes --apply` run: JSON lines, appended and fsync'd
//! *before* each action (`intent`) and after it (`done` / `failed`), so that
//! after a crash at any point `undo` knows every file that may have been
//! touched and where it may be. `undo` appends `undone` lines to the same
//! file, which makes a second `undo` harmless. Each intent carries the
//! file's store record (with its embedding and copy signature: about 14.6 KB a
//! line) so `undo` can put it back without re-indexing.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::store::record::{self, EmbeddingRecord, ImageRecord, StoredEmbedding, StoredImage};
use crate::store::signatures::{SignatureRecord, StoredSignature};
use crate::store::ImageId;

/// 2: intents record the (device, inode) of the file and of its keeper,
/// which `undo` of a hard link needs to tell them apart (an imgdex that
/// reads only version 1 must not undo such a journal).
pub const VERSION: u32 = 2;

/// One line of the journal.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Entry {
    /// First line: what run wrote this journal.
    Start {
        version: u32,
        action: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dir: Option<String>,
        db: String,
        created: String,
    },
    Intent(Box<Intent>),
    Done {
        seq: u64,
    },
    Failed {
        seq: u64,
        error: String,
    },
    /// Written by `undo` once an intent has been reversed (or found untouched).
    Undone {
        seq: u64,
        status: String,
    },
}

/// What is about to happen to one file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Intent {
    pub seq: u64,
    /// move | trash | hardlink | delete
    pub op: String,
    pub path: String,
    /// Where the file goes (move, trash), or the keeper it is linked to (hardlink).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub keeper: String,
    /// Trash: the `.trashinfo` file written before the move.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<String>,
    /// Hardlink: where the duplicate's own inode is kept, and the temporary
    /// link name used for the atomic replace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmp: Option<String>,
    /// (device, inode) of the file and of its keeper when the intent was
    /// written (absent in version-1 journals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<(u64, u64)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keeper_file: Option<(u64, u64)>,
    pub id: ImageId,
    pub size: u64,
    pub mtime_ns: i64,
    /// base64 of the store's encoded `StoredImage` (with its CRC).
    pub record: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<String>,
    /// base64 of the store's encoded copy signature (absent in journals
    /// written before it was saved; `undo` then leaves it to `index`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

impl Intent {
    pub fn encode_record(rec: &ImageRecord) -> String {
        b64(&record::encode(&StoredImage::V2(rec.clone())))
    }

    pub fn encode_embedding(emb: &EmbeddingRecord) -> String {
        b64(&record::encode(&StoredEmbedding::V2(emb.clone())))
    }

    pub fn encode_signature(sig: &SignatureRecord) -> String {
        b64(&record::encode(&StoredSignature::V2(sig.clone())))
    }

    pub fn decode_record(&self) -> std::result::Result<ImageRecord, String> {
        let bytes = unb64(&self.record)?;
        record::decode::<StoredImage>(&bytes)
            .map(Into::into)
            .map_err(|e| e.to_string())
    }

    pub fn decode_embedding(&self) -> std::result::Result<Option<EmbeddingRecord>, String> {
        match &self.embedding {
            None => Ok(None),
            Some(s) => {
                let bytes = unb64(s)?;
                record::decode::<StoredEmbedding>(&bytes)
                    .map(|e| Some(e.into()))
                    .map_err(|e| e.to_string())
            }
        }
    }

    pub fn decode_signature(&self) -> std::result::Result<Option<SignatureRecord>, String> {
        let Some(s) = &self.signature else {
            return Ok(None);
        };
        let bytes = unb64(s)?;
        record::decode::<StoredSignature>(&bytes)
            .map(|s| Some(s.into_record()))
            .map_err(|e| e.to_string())
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(s: &str) -> std::result::Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| format!("bad base64: {e}"))
}

/// An open journal, appended to line by line.
pub struct Journal {
    path: PathBuf,
    file: File,
}

impl Journal {
    /// Create a new journal; refuses to overwrite an existing file.
    pub fn create(path: &Path) -> Result<Journal> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        crate::jobs::apply::fsops::sync_parent(path)?;
        Ok(Journal {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Open an existing journal for appending (`undo`).
    pub fn append_to(path: &Path) -> Result<Journal> {
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        Ok(Journal {
            path: path.to_path_buf(),
            file,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one entry and make it durable before returning.
    pub fn write(&mut self, entry: &Entry) -> Result<()> {
        let mut line = serde_json::to_vec(entry).map_err(|e| Error::Journal {
            path: self.path.clone(),
            line: None,
            reason: e.to_string(),
        })?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|_| self.file.sync_data())
            .map_err(|e| Error::io(&self.path, e))
    }
}

/// The store a journal was written for (its first line's), when it says.
pub fn store_of(path: &Path) -> Result<Option<PathBuf>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut first = String::new();
    BufReader::new(file)
        .read_line(&mut first)
        .map_err(|e| Error::io(path, e))?;
    Ok(match serde_json::from_str::<Entry>(&first) {
        Ok(Entry::Start { db, .. }) => Some(PathBuf::from(db)),
        _ => None,
    })
}

/// Every entry of a journal. A last line cut short by a crash is ignored;
/// any other unreadable line is an error.
pub fn read(path: &Path) -> Result<Vec<Entry>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let lines: Vec<String> = BufReader::new(file)
        .lines()
        .collect::<std::io::Result<_>>()
        .map_err(|e| Error::io(path, e))?;
    let mut out = Vec::with_capacity(lines.len());
    let last = lines.len();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Entry>(line) {
            Ok(e) => out.push(e),
            Err(_) if i + 1 == last => break,
            Err(e) => {
                return Err(Error::Journal {
                    path: path.to_path_buf(),
                    line: Some(i as u64 + 1),
                    reason: e.to_string(),
                })
            }
        }
    }
    match out.first() {
        Some(Entry::Start { version, .. }) if *version <= VERSION => Ok(out),
        Some(Entry::Start { version, .. }) => Err(Error::Journal {
            path: path.to_path_buf(),
            line: Some(1),
            reason: format!("journal version {version} is newer than this imgdex ({VERSION})"),
        }),
        _ => Err(Error::Journal {
            path: path.to_path_buf(),
            line: Some(1),
            reason: "not an imgdex journal (no start line)".into(),
        }),
    }
}
