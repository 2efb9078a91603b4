//! The one header every derived file of a saved graph generation starts
//! with (`graph.flat`, `graph.edges`, `vectors.f16`), and the one way they
//! are checked: what kind of file it is, its format version, the
//! generation it belongs to (the checksum of that generation's `hnsw_rs`
//! dump), its shape, and a checksum of everything after the header. A file
//! that fails any check is not used; the reason ([`Rejected`]) is what the
//! graph layer reports before writing the file again (see `search::saved`).
//!
//! Layout (format version 2), little-endian, [`LEN`] bytes:
//!
//! | offset | bytes | field |
//! | ---: | ---: | --- |
//! | 0 | 8 | magic `IMGDXANN` |
//! | 8 | 4 | format version (2) |
//! | 12 | 4 | kind: 1 flat graph, 2 edges, 3 re-rank vectors |
//! | 16 | 32 | shape: four u64, per kind (see each file's module) |
//! | 48 | 32 | binding: BLAKE3 of the generation's `hnsw_rs` dump |
//! | 80 | 32 | payload checksum: BLAKE3 of every byte after the header |
//!
//! Version 1 (until 2026-12-07) gave each file its own header and magic
//! (`IMGDXGF1`, `IMGDXGE1`, `IMGDXRV1`); such a file is recognised,
//! rejected as an older format and written again.

use std::fmt;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use crate::error::{Error, Result};

pub const MAGIC: &[u8; 8] = b"IMGDXANN";
pub const VERSION: u32 = 2;
/// Header length; the payload starts here.
pub const LEN: usize = 112;
/// Where the payload checksum sits in the header.
pub const PAYLOAD_SUM: std::ops::Range<usize> = 80..112;
const V1_MAGICS: [&[u8; 8]; 3] = [b"IMGDXGF1", b"IMGDXGE1", b"IMGDXRV1"];

/// Which file of the generation a header belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    FlatGraph = 1,
    Edges = 2,
    Rerank = 3,
}

impl Kind {
    pub fn file_name(self) -> &'static str {
        match self {
            Kind::FlatGraph => "graph.flat",
            Kind::Edges => "graph.edges",
            Kind::Rerank => "vectors.f16",
        }
    }

    fn from_code(code: u32) -> Option<Kind> {
        [Kind::FlatGraph, Kind::Edges, Kind::Rerank]
            .into_iter()
            .find(|k| *k as u32 == code)
    }
}

/// Why a generation file was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejected {
    /// Not there (a graph saved by an older imgdex, or removed).
    Missing,
    /// Does not start with an imgdex graph-file magic (or is shorter
    /// than one).
    Foreign,
    /// Another format version of this file.
    Version(u32),
    /// Holds another of the generation's files.
    Kind(Option<Kind>),
    /// Written for another generation (another dump).
    Stale,
    /// Its shape (point count, dimension) is not the graph's.
    Shape(&'static str),
    /// The payload does not match its checksum.
    Payload,
    /// Header and checksum fine, contents out of bounds.
    Damaged(&'static str),
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejected::Missing => write!(f, "missing"),
            Rejected::Foreign => write!(f, "not an imgdex graph file"),
            Rejected::Version(v) => write!(f, "format version {v}, this imgdex reads {VERSION}"),
            Rejected::Kind(Some(k)) => write!(f, "holds {} instead", k.file_name()),
            Rejected::Kind(None) => write!(f, "unknown kind of graph file"),
            Rejected::Stale => write!(f, "written for another graph generation"),
            Rejected::Shape(what) => write!(f, "{what} does not match the graph"),
            Rejected::Payload => write!(f, "contents do not match their checksum"),
            Rejected::Damaged(what) => write!(f, "damaged: {what}"),
        }
    }
}

/// Open and map a generation file: `Rejected::Missing` when it is not
/// there.
pub fn map(path: &Path) -> Result<std::result::Result<(std::fs::File, memmap2::Mmap), Rejected>> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Err(Rejected::Missing)),
        Err(e) => return Err(Error::io(path, e)),
    };
    // SAFETY: a generation file is written once (to a temporary name,
    // then renamed into place) and never modified in place; a generation
    // directory is removed only after a newer one is recorded, by the
    // process that holds the store lock. A damaged file is caught by its
    // checks, not by the mapping.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
    Ok(Ok((file, map)))
}

/// The header fields a file is written with.
pub struct Header<'a> {
    pub kind: Kind,
    pub shape: [u64; 4],
    pub binding: &'a [u8; 32],
}

/// Write the header, then the payload `fill` streams, to a new file at
/// `path`, and fsync it. The payload is hashed as it is written (memory
/// stays flat) and its checksum filled in at the end.
pub fn write(
    path: &Path,
    h: &Header,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let io = |e| Error::io(path, e);
    let file = std::fs::File::create(path).map_err(io)?;
    let mut w = Hashing {
        inner: std::io::BufWriter::with_capacity(1 << 20, file),
        hasher: blake3::Hasher::new(),
    };
    w.inner.write_all(&encode(h)).map_err(io)?;
    fill(&mut w).map_err(io)?;
    let sum = w.hasher.finalize();
    let mut file = w.inner.into_inner().map_err(|e| io(e.into_error()))?;
    file.seek(SeekFrom::Start(PAYLOAD_SUM.start as u64))
        .and_then(|_| file.write_all(sum.as_bytes()))
        .and_then(|_| file.sync_all())
        .map_err(io)
}

/// The header bytes, the payload checksum zeroed.
fn encode(h: &Header) -> Vec<u8> {
    let mut b = Vec::with_capacity(LEN);
    b.extend_from_slice(MAGIC);
    b.extend_from_slice(&VERSION.to_le_bytes());
    b.extend_from_slice(&(h.kind as u32).to_le_bytes());
    for x in h.shape {
        b.extend_from_slice(&x.to_le_bytes());
    }
    b.extend_from_slice(h.binding);
    b.extend_from_slice(&[0; 32]);
    b
}

/// Check `bytes`' header: magic, version, kind and binding. Returns its
/// shape fields; the payload is not checked (see [`check_payload`]).
pub fn read(
    bytes: &[u8],
    kind: Kind,
    binding: &[u8; 32],
) -> std::result::Result<[u64; 4], Rejected> {
    let magic = bytes.get(..8).ok_or(Rejected::Foreign)?;
    if V1_MAGICS.iter().any(|m| magic == *m) {
        return Err(Rejected::Version(1));
    }
    if magic != MAGIC {
        return Err(Rejected::Foreign);
    }
    if bytes.len() < LEN {
        return Err(Rejected::Damaged("shorter than its header"));
    }
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
    if u32_at(8) != VERSION {
        return Err(Rejected::Version(u32_at(8)));
    }
    if u32_at(12) != kind as u32 {
        return Err(Rejected::Kind(Kind::from_code(u32_at(12))));
    }
    if &bytes[48..80] != binding {
        return Err(Rejected::Stale);
    }
    let mut shape = [0u64; 4];
    for (i, x) in shape.iter_mut().enumerate() {
        *x = u64::from_le_bytes(bytes[16 + 8 * i..24 + 8 * i].try_into().unwrap());
    }
    Ok(shape)
}

/// Whether the payload matches the checksum in the header (`bytes` holds
/// a header that [`read`] accepted).
pub fn check_payload(bytes: &[u8]) -> std::result::Result<(), Rejected> {
    let sum = blake3::hash(&bytes[LEN..]);
    (sum.as_bytes() == &bytes[PAYLOAD_SUM])
        .then_some(())
        .ok_or(Rejected::Payload)
}

/// A writer that hashes what passes through it.
struct Hashing<W> {
    inner: W,
    hasher: blake3::Hasher,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
