//! NumPy `.npy` files (format version 1.0, little-endian, C order) for
//! handing feature matrices to other tools (`numpy.load`) and reading them
//! back (benchmarks, tests). Only 2-D `float32` and `uint64` arrays.

use std::io::Write;
use std::path::Path;

use ndarray::Array2;

use crate::error::{Error, Result};

const MAGIC: &[u8] = b"\x93NUMPY";

/// Element types this module writes.
pub trait Element: Copy {
    const DESCR: &'static str;
    fn le_bytes(self, out: &mut Vec<u8>);
}

impl Element for f32 {
    const DESCR: &'static str = "<f4";
    fn le_bytes(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl Element for u64 {
    const DESCR: &'static str = "<u8";
    fn le_bytes(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

/// The header, padded so that the data starts on a 64-byte boundary.
fn header(descr: &str, rows: usize, cols: usize) -> Vec<u8> {
    let dict =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    let unpadded = MAGIC.len() + 2 + 2 + dict.len() + 1;
    let pad = (64 - unpadded % 64) % 64;
    let text = format!("{dict}{}\n", " ".repeat(pad));
    let mut out = Vec::with_capacity(unpadded + pad);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(text.len() as u16).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    out
}

/// Write a `rows × cols` matrix given row-major.
pub fn write<T: Element>(path: &Path, rows: usize, cols: usize, data: &[T]) -> Result<()> {
    if data.len() != rows * cols {
        return Err(Error::Dimension {
            what: format!("matrix for {}", path.display()),
            expected: rows * cols,
            got: data.len(),
        });
    }
    let mut bytes = header(T::DESCR, rows, cols);
    bytes.reserve(std::mem::size_of_val(data));
    for &v in data {
        v.le_bytes(&mut bytes);
    }
    let mut f = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    f.write_all(&bytes).map_err(|e| Error::io(path, e))
}

/// Read a 2-D little-endian `float32` C-order matrix.
pub fn read_f32(path: &Path) -> Result<Array2<f32>> {
    let bad = |reason: &str| Error::Table {
        path: path.to_path_buf(),
        line: None,
        reason: format!("not a 2-D float32 .npy file: {reason}"),
    };
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(bad("bad magic"));
    }
    let (hlen, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        _ => return Err(bad("unknown version")),
    };
    let head = std::str::from_utf8(
        bytes
            .get(start..start + hlen)
            .ok_or_else(|| bad("truncated header"))?,
    )
    .map_err(|_| bad("header is not text"))?;
    if !head.contains("'<f4'") || head.contains("'fortran_order': True") {
        return Err(bad("dtype must be '<f4' in C order"));
    }
    let shape = head
        .split("'shape':")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| bad("no shape"))?;
    let dims: Vec<usize> = shape
        .trim()
        .trim_start_matches('(')
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().map_err(|_| bad("bad shape")))
        .collect::<Result<_>>()?;
    let [rows, cols] = dims[..] else {
        return Err(bad("array is not 2-D"));
    };
    let body = &bytes[start + hlen..];
    if body.len() != rows * cols * 4 {
        return Err(bad("data size does not match the shape"));
    }
    let data: Vec<f32> = body
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok(Array2::from_shape_vec((rows, cols), data).expect("sized from the shape"))
}
