//! Finding the files to index. Walks each root (following symlinks, with
//! walkdir's loop detection), keeps regular files that look like raster
//! images by extension or, failing that, by their first bytes, and reports
//! everything it had to leave out with its path and reason. A file reached
//! under several paths through symlinks is one candidate, under its
//! symlink-free path. It reads no image data beyond a 32-byte sniff.

use std::fs::{self, File, Metadata};
use std::io::Read;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use walkdir::WalkDir;

/// A regular file that looks like an image, with the stat data used to
/// decide whether it changed since the last run.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub path: PathBuf,
    pub size: u64,
    pub mtime_ns: i64,
    /// (device, inode) of the file the path leads to.
    pub file: (u64, u64),
}

/// A path the walk could not use, and why.
#[derive(Debug, Clone)]
pub struct Notice {
    pub path: PathBuf,
    pub reason: String,
}

/// What a walk found.
#[derive(Debug, Default)]
pub struct WalkOutput {
    /// The roots that exist, canonicalised (records are keyed under these).
    pub roots: Vec<PathBuf>,
    pub candidates: Vec<Candidate>,
    /// Entries that are broken (dangling links, unreadable): count as failures.
    pub failed: Vec<Notice>,
    /// Entries left out on purpose (vector images, FIFOs, symlink loops).
    pub skipped: Vec<Notice>,
    /// Paths that reach, through a symlink, a file also reached under
    /// another path (the one in `candidates`): the same image, left out.
    pub aliases: Vec<PathBuf>,
}

/// Extensions of raster formats the decoder handles.
const RASTER_EXTENSIONS: &[&str] = &[
    "jpg", "jpeg", "jpe", "jfif", "png", "apng", "gif", "webp", "bmp", "dib", "tif", "tiff", "ico",
    "pbm", "pgm", "ppm", "pnm", "pam", "tga", "qoi", "heic", "heif", "hif", "avif",
];
/// Extensions of image formats that are deliberately not indexed.
const VECTOR_EXTENSIONS: &[&str] = &["svg", "svgz", "eps", "ai", "pdf"];

/// Walk `roots`, never descending into any path in `exclude` (the store itself).
pub fn walk(roots: &[PathBuf], exclude: &[PathBuf]) -> WalkOutput {
    let mut out = WalkOutput::default();
    for root in roots {
        walk_root(root, exclude, &mut out);
    }
    out.candidates.sort_by(|a, b| a.path.cmp(&b.path));
    out.candidates.dedup_by(|a, b| a.path == b.path);
    out.aliases = drop_aliases(&mut out.candidates);
    out
}

/// One file reached under several paths through symlinks (a symlinked
/// folder, a link to an image beside it: one device and inode) is one
/// image, kept under its symlink-free path; the other paths are removed
/// and returned. When no path is free of symlinks, the first by path is
/// kept. Hard links (several real paths) all stay: each is a file name a
/// user may act on.
fn drop_aliases(candidates: &mut Vec<Candidate>) -> Vec<PathBuf> {
    let mut by_file: std::collections::HashMap<(u64, u64), Vec<usize>> = Default::default();
    for (i, c) in candidates.iter().enumerate() {
        by_file.entry(c.file).or_default().push(i);
    }
    let mut drop = vec![false; candidates.len()];
    for same in by_file.values().filter(|v| v.len() > 1) {
        let real: Vec<bool> = same
            .iter()
            .map(|&i| fs::canonicalize(&candidates[i].path).is_ok_and(|c| c == candidates[i].path))
            .collect();
        let none_real = !real.contains(&true);
        for (k, &i) in same.iter().enumerate() {
            drop[i] = if none_real { k > 0 } else { !real[k] };
        }
    }
    let mut aliases = Vec::new();
    let mut keep = drop.iter().map(|d| !d);
    candidates.retain(|c| {
        let kept = keep.next().unwrap_or(true);
        if !kept {
            aliases.push(c.path.clone());
        }
        kept
    });
    aliases
}

/// The absolute, symlink-free form of a root, as records are keyed by it.
pub fn canonical_root(root: &Path) -> std::io::Result<PathBuf> {
    fs::canonicalize(root)
}

fn walk_root(root: &Path, exclude: &[PathBuf], out: &mut WalkOutput) {
    let root = match canonical_root(root) {
        Ok(r) => r,
        Err(e) => {
            out.failed.push(notice(root, format!("cannot open: {e}")));
            return;
        }
    };
    out.roots.push(root.clone());
    let walker = WalkDir::new(&root)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| !exclude.iter().any(|x| e.path() == x));
    for entry in walker {
        match entry {
            Ok(entry) => visit(entry.path(), entry.path() == root, out),
            Err(err) => record_walk_error(err, out),
        }
    }
}

fn record_walk_error(err: walkdir::Error, out: &mut WalkOutput) {
    let path = err.path().map(Path::to_path_buf).unwrap_or_default();
    if let Some(ancestor) = err.loop_ancestor() {
        let reason = format!("symlink loop back to {}; not followed", ancestor.display());
        out.skipped.push(notice(&path, reason));
        return;
    }
    let reason = match err.io_error() {
        Some(io) if io.kind() == std::io::ErrorKind::NotFound => {
            "dangling symlink or file vanished during the walk".to_string()
        }
        Some(io) => io.to_string(),
        None => err.to_string(),
    };
    out.failed.push(notice(&path, reason));
}

fn visit(path: &Path, is_root: bool, out: &mut WalkOutput) {
    // Follow symlinks: a link to an image is indexed under the link's path.
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            out.failed.push(notice(path, e.to_string()));
            return;
        }
    };
    let ft = meta.file_type();
    if ft.is_dir() {
        return;
    }
    if !ft.is_file() {
        let kind = if ft.is_fifo() {
            "named pipe"
        } else if ft.is_socket() {
            "socket"
        } else {
            "device"
        };
        out.skipped
            .push(notice(path, format!("not a regular file ({kind})")));
        return;
    }
    match classify(path, is_root) {
        Kind::Raster => out.candidates.push(candidate(path, &meta)),
        Kind::Vector(ext) => out.skipped.push(notice(
            path,
            format!("{ext} is a vector format; only raster images are indexed"),
        )),
        Kind::Other => {}
    }
}

enum Kind {
    Raster,
    Vector(String),
    Other,
}

/// True when `path` is a regular file the walk would index (used to drop
/// records of files that changed into something else).
pub fn is_candidate(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file()) && matches!(classify(path, false), Kind::Raster)
}

fn classify(path: &Path, explicit: bool) -> Kind {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    if let Some(ext) = ext.as_deref() {
        if RASTER_EXTENSIONS.contains(&ext) {
            return Kind::Raster;
        }
        if VECTOR_EXTENSIONS.contains(&ext) {
            return Kind::Vector(ext.to_ascii_uppercase());
        }
    }
    // A file named on the command line is always tried; others need to look
    // like an image from their first bytes.
    if explicit || sniff(path) {
        Kind::Raster
    } else {
        Kind::Other
    }
}

/// True when the first bytes of `path` match a known raster format.
fn sniff(path: &Path) -> bool {
    let mut buf = [0u8; 64];
    let Ok(mut f) = File::open(path) else {
        return false;
    };
    let n = f.read(&mut buf).unwrap_or(0);
    n >= 4
        && (image::guess_format(&buf[..n]).is_ok()
            || crate::decode::heif::sniff(&buf[..n]).is_some())
}

fn candidate(path: &Path, meta: &Metadata) -> Candidate {
    use std::os::unix::fs::MetadataExt;
    Candidate {
        path: path.to_path_buf(),
        size: meta.len(),
        mtime_ns: mtime_ns(meta),
        file: (meta.dev(), meta.ino()),
    }
}

/// Modification time in nanoseconds since the epoch (0 when unavailable).
pub fn mtime_ns(meta: &Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos().min(i64::MAX as u128) as i64)
        .unwrap_or(0)
}

fn notice(path: &Path, reason: String) -> Notice {
    Notice {
        path: path.to_path_buf(),
        reason,
    }
}
