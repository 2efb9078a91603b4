//! The vectors `dupes` judges its k-NN pairs by (the head's, see
//! [`EmbeddingRecord::dupe`]), when they are not the search space's own.
//! Held as f32 they would be 5 GB at 1M images (1280-d), so they are
//! written once, as the store's f16 bits, to an unlinked temporary file in
//! the store's directory and read back one row at a time by positioned
//! reads: the kernel's page cache holds them, not the process. A row reads
//! back as exactly the f32 values the store's record decodes to (f16 to
//! f32 is exact), so distances are unchanged.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use half::f16;
use half::slice::{HalfBitsSliceExt, HalfFloatSliceExt};

use crate::error::{Error, Result};
use crate::search::ann::Neighbour;
use crate::search::saved::Space;
use crate::store::{EmbeddingRecord, Store};
use crate::vecmath::cosine_distance;

/// Judged vectors of every current embedding, by id, in a temporary file.
pub(super) struct Judged {
    file: File,
    dim: usize,
    rows: HashMap<u64, usize>,
}

impl Judged {
    /// The judged vectors of model `fp` (see [`EmbeddingRecord::dupe_f32`])
    /// when they differ from the search space's (a whitened space, or a
    /// model with a separate dupe output); `None`: judge the space's
    /// distances.
    pub(super) fn load(store: &Store, fp: &str) -> Result<Option<Judged>> {
        let space = Space::load(store, fp)?;
        let separate = store
            .first_embedding(fp)?
            .is_some_and(|e| !e.dupe.is_empty());
        if space.whitening.is_none() && !separate {
            return Ok(None);
        }
        let path = store
            .dir()
            .join(format!("dupes-{}.tmp", std::process::id()));
        let io = |e| Error::io(&path, e);
        // One imgdex process per store (the lock): a file of this name
        // can only be left by a crash right after creating it.
        let _ = std::fs::remove_file(&path);
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io)?;
        // Unlinked at once: the file lives as long as `file` is open.
        std::fs::remove_file(&path).map_err(io)?;
        let (dim, rows) = spill(store, fp, &file, &path)?;
        Ok(Some(Judged { file, dim, rows }))
    }

    /// The judged vector of `id`; `None` when it has none (or the read
    /// fails: the file is this process's own).
    fn row(&self, id: u64) -> Option<Vec<f32>> {
        let row = *self.rows.get(&id)?;
        let mut bytes = vec![0u8; 2 * self.dim];
        let at = (row * 2 * self.dim) as u64;
        self.file.read_exact_at(&mut bytes, at).ok()?;
        let bits: Vec<u16> = bytes
            .chunks_exact(2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .collect();
        let mut out = vec![0f32; self.dim];
        bits.reinterpret_cast::<f16>()
            .convert_to_f32_slice(&mut out);
        Some(out)
    }
}

/// Write every judged vector of model `fp` to `file` as f16 rows, in the
/// store's id order; their dimension and the row of each id.
fn spill(
    store: &Store,
    fp: &str,
    file: &File,
    path: &Path,
) -> Result<(usize, HashMap<u64, usize>)> {
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let (mut dim, mut rows, mut failed) = (0, HashMap::new(), None);
    let mut bytes = Vec::new();
    store.for_each_vector(fp, EmbeddingRecord::dupe_bits, |id, v| {
        dim = v.len();
        bytes.clear();
        bytes.extend(v.iter().flat_map(|b| b.to_le_bytes()));
        if failed.is_none() {
            match w.write_all(&bytes) {
                Ok(()) => drop(rows.insert(id, rows.len())),
                Err(e) => failed = Some(e),
            }
        }
    })?;
    match failed {
        Some(e) => Err(Error::io(path, e)),
        None => w
            .flush()
            .map(|_| (dim, rows))
            .map_err(|e| Error::io(path, e)),
    }
}

/// `id`'s hits with the distances the rules judge: the cosine distance of
/// the two judged vectors (infinite when either lacks one), or the search
/// space's own when there are no judged vectors; only those within
/// `radius` are kept.
pub(super) fn judge(
    judged: Option<&Judged>,
    id: u64,
    hits: Vec<Neighbour>,
    radius: f32,
) -> Vec<Neighbour> {
    let others = hits.into_iter().filter(|(o, _)| *o != id);
    let judged: Vec<Neighbour> = match judged {
        None => others.collect(),
        Some(j) => {
            let mine = j.row(id);
            others
                .map(|(o, _)| match (&mine, j.row(o)) {
                    (Some(x), Some(y)) => (o, cosine_distance(x, &y)),
                    _ => (o, f32::INFINITY),
                })
                .collect()
        }
    };
    judged.into_iter().filter(|(_, d)| *d <= radius).collect()
}
