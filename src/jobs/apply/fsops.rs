//! The filesystem steps `dupes --apply` and `undo` are built from, each
//! chosen so that a crash between any two system calls leaves every file
//! under at least one of its names: a move is a hard link to the new name
//! then an unlink of the old (or, across filesystems, an exclusive-create
//! copy that is fsync'd before the original goes), nothing ever overwrites
//! an existing name except the final atomic rename of a hard link, and
//! directories are fsync'd after names change. Also the freedesktop.org
//! trash layout (`files/`, `info/*.trashinfo`).

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// fsync a directory (so a rename or unlink in it is durable).
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(dir, e))
}

pub fn sync_parent(path: &Path) -> Result<()> {
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(p) => sync_dir(p),
        None => Ok(()),
    }
}

/// (device, inode) of a file, not following a final symlink.
pub fn file_id(path: &Path) -> Option<(u64, u64)> {
    fs::symlink_metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// BLAKE3 of a file's bytes, read in a streaming fashion.
pub fn digest(path: &Path) -> Result<[u8; 32]> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = blake3::Hasher::new();
    h.update_reader(file).map_err(|e| Error::io(path, e))?;
    Ok(*h.finalize().as_bytes())
}

pub fn exists(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

fn create_parent(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    Ok(())
}

/// Move `src` to the new name `dst`, never replacing an existing `dst`.
/// Within a filesystem: hard link then unlink (the inode, and so its
/// bytes and mtime, are kept). Across filesystems: copy then unlink.
pub fn move_no_replace(src: &Path, dst: &Path) -> Result<()> {
    create_parent(dst)?;
    match fs::hard_link(src, dst) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(Error::io(dst, e));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound && !exists(src) => {
            return Err(Error::io(src, e));
        }
        // EXDEV, or a filesystem without hard links: copy instead.
        Err(_) => copy_preserving(src, dst)?,
    }
    sync_parent(dst)?;
    fs::remove_file(src).map_err(|e| Error::io(src, e))?;
    sync_parent(src)
}

/// Copy `src` to the new file `dst` (exclusive create), with its
/// permissions and modification time, fsync'd.
pub fn copy_preserving(src: &Path, dst: &Path) -> Result<()> {
    let meta = fs::metadata(src).map_err(|e| Error::io(src, e))?;
    let mut from = File::open(src).map_err(|e| Error::io(src, e))?;
    let mut to = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dst)
        .map_err(|e| Error::io(dst, e))?;
    io::copy(&mut from, &mut to).map_err(|e| Error::io(dst, e))?;
    to.set_permissions(meta.permissions())
        .map_err(|e| Error::io(dst, e))?;
    if let Ok(mtime) = meta.modified() {
        to.set_modified(mtime).map_err(|e| Error::io(dst, e))?;
    }
    to.sync_all().map_err(|e| Error::io(dst, e))
}

/// `path`, or `stem-2.ext`, `stem-3.ext`, ... : the first name that neither
/// exists nor is in `taken` (names planned earlier in the same run).
pub fn unique_name(path: &Path, taken: &HashSet<PathBuf>) -> PathBuf {
    let free = |p: &Path| !exists(p) && !taken.contains(p);
    if free(path) {
        return path.to_path_buf();
    }
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    (2u64..)
        .map(|n| path.with_file_name(format!("{stem}-{n}{ext}")))
        .find(|p| free(p))
        .unwrap_or_else(|| path.to_path_buf())
}

/// The home trash: `$XDG_DATA_HOME/Trash`, else `~/.local/share/Trash`.
pub fn trash_dir() -> Result<PathBuf> {
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .map(|h| h.join(".local/share"))
        })
        .ok_or(Error::NoTrash)?;
    Ok(data.join("Trash"))
}

/// A trash name for `original`: (`files/NAME`, `info/NAME.trashinfo`),
/// both free and not in `taken`.
pub fn trash_slot(trash: &Path, original: &Path, taken: &HashSet<PathBuf>) -> (PathBuf, PathBuf) {
    let name = original
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let files = trash.join("files");
    let info = trash.join("info");
    let free = |f: &Path, i: &Path| !exists(f) && !exists(i) && !taken.contains(f);
    let candidate = |n: u64| {
        let p = Path::new(&name);
        let n = if n == 1 {
            name.clone()
        } else {
            let stem = p
                .file_stem()
                .map(|s| s.to_string_lossy())
                .unwrap_or_default();
            match p.extension() {
                Some(e) => format!("{stem}.{n}.{}", e.to_string_lossy()),
                None => format!("{stem}.{n}"),
            }
        };
        (files.join(&n), info.join(format!("{n}.trashinfo")))
    };
    (1u64..)
        .map(candidate)
        .find(|(f, i)| free(f, i))
        .unwrap_or_else(|| candidate(1))
}

/// Write `info/NAME.trashinfo` for `original` (exclusive create: this
/// reserves the name, as the specification asks), fsync'd.
pub fn write_trashinfo(info: &Path, original: &Path) -> Result<()> {
    create_parent(info)?;
    if let Some(trash) = info.parent().and_then(Path::parent) {
        fs::create_dir_all(trash.join("files")).map_err(|e| Error::io(trash, e))?;
    }
    let body = format!(
        "[Trash Info]\nPath={}\nDeletionDate={}\n",
        percent_encode(original.as_os_str().as_bytes()),
        local_timestamp()
    );
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(info)
        .map_err(|e| Error::io(info, e))?;
    f.write_all(body.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io(info, e))?;
    sync_parent(info)
}

/// RFC 3986 percent-encoding of a path, keeping `/` and unreserved bytes.
pub fn percent_encode(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// Now as local time `YYYY-MM-DDThh:mm:ss` (the trash specification's format).
fn local_timestamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as libc::time_t)
        .unwrap_or(0);
    // SAFETY: `libc::tm` is plain integers (and, on glibc, a pointer that
    // may be null), so all-zero bytes are a valid value.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: localtime_r reads `now` and writes only into the `tm` we own.
    let ok = unsafe { !libc::localtime_r(&now, &mut tm).is_null() };
    if !ok {
        return utc_timestamp(false);
    }
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

/// Now in UTC: `20261202T161500Z` (compact, for file names) or
/// `2026-12-02T16:15:00Z`.
pub fn utc_timestamp(compact: bool) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (rem / 3600, rem % 3600 / 60, rem % 60);
    if compact {
        format!("{y:04}{m:02}{d:02}T{hh:02}{mm:02}{ss:02}Z")
    } else {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
    }
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Replace `dup` by a hard link to `keeper`: first keep `dup`'s own inode
/// at `backup` (a second hard link, or an fsync'd copy when `backup` is on
/// another filesystem), then link `keeper` to the temporary name `tmp` in
/// `dup`'s directory and rename it over `dup` (atomic).
pub fn hardlink_over(dup: &Path, keeper: &Path, backup: &Path, tmp: &Path) -> Result<()> {
    create_parent(backup)?;
    if fs::hard_link(dup, backup).is_err() {
        let mut partial = backup.as_os_str().to_os_string();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let _ = fs::remove_file(&partial);
        copy_preserving(dup, &partial)?;
        fs::rename(&partial, backup).map_err(|e| Error::io(backup, e))?;
    }
    sync_parent(backup)?;
    fs::hard_link(keeper, tmp).map_err(|e| Error::io(tmp, e))?;
    if let Err(e) = fs::rename(tmp, dup) {
        let _ = fs::remove_file(tmp);
        return Err(Error::io(dup, e));
    }
    sync_parent(dup)
}

/// Put `from` at `to`, replacing `to` (undo of a hard link): a rename, or
/// across filesystems a copy to a temporary name renamed over `to`.
pub fn replace_from(from: &Path, to: &Path) -> Result<()> {
    if fs::rename(from, to).is_err() {
        let name = to
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = to.with_file_name(format!(".{name}.imgdex-restore"));
        let _ = fs::remove_file(&tmp);
        copy_preserving(from, &tmp)?;
        fs::rename(&tmp, to).map_err(|e| Error::io(to, e))?;
        fs::remove_file(from).map_err(|e| Error::io(from, e))?;
    }
    sync_parent(to)
}
