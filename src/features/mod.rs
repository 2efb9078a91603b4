//! Features derived from one decoded working image: perceptual hashes for
//! near-duplicate detection and a colour histogram for colour similarity.
//! Each is a pure function of the working image and its config, so the
//! index job can compute them all from a single decode.

mod config;
pub mod embedding;
pub mod hash;
pub mod histogram;
pub mod palette;
pub mod signature;
pub mod taken;

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::time::Instant;

use crate::decode::{self, DecodeConfig, Decoded};
use crate::error::{Error, Result};

pub use config::FeatureConfig;
pub use hash::Hashes;
pub use histogram::Histogram;

/// Everything computed from one working image.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    pub hashes: Hashes,
    pub histogram: Histogram,
}

/// Compute every feature of a decoded image: hashes from its content view
/// (uniform border trimmed), the histogram from the whole working image.
pub fn compute(decoded: &Decoded, cfg: &FeatureConfig) -> Features {
    Features {
        hashes: hash::compute(decoded.content()),
        histogram: histogram::compute(&decoded.image, cfg.histogram_bins),
    }
}

/// One image file read once, decoded once and analysed: what every job
/// (index, query, inspect, classify, the review page) starts from.
#[derive(Debug, Clone)]
pub struct Analysed {
    pub decoded: Decoded,
    pub features: Features,
    /// BLAKE3 of the file bytes.
    pub digest: [u8; 32],
    /// Bytes read.
    pub size: u64,
    /// Seconds spent decoding (to the working image) and computing features.
    pub decode_s: f64,
    pub features_s: f64,
}

/// Read, decode and analyse the image at `path`. A decoder that panics on
/// the file becomes [`Error::Panicked`] naming it, like any other bad file.
pub fn analyse(path: &Path, dcfg: &DecodeConfig, fcfg: &FeatureConfig) -> Result<Analysed> {
    guarded(path, "decoder", || {
        let bytes = decode::read_file(path, dcfg)?;
        analyse_read(path, &bytes, dcfg, fcfg)
    })
}

/// [`analyse`] for bytes the caller already holds (an upload); `label`
/// names them in errors.
pub fn analyse_bytes(
    label: &Path,
    bytes: &[u8],
    dcfg: &DecodeConfig,
    fcfg: &FeatureConfig,
) -> Result<Analysed> {
    guarded(label, "decoder", || analyse_read(label, bytes, dcfg, fcfg))
}

/// [`analyse_bytes`] when the caller has already hashed the bytes (`index`
/// compares the digest before deciding to decode).
pub(crate) fn analyse_hashed(
    path: &Path,
    bytes: &[u8],
    digest: [u8; 32],
    dcfg: &DecodeConfig,
    fcfg: &FeatureConfig,
) -> Result<Analysed> {
    guarded(path, "decoder", || {
        analyse_digested(path, bytes, digest, dcfg, fcfg)
    })
}

fn analyse_read(
    path: &Path,
    bytes: &[u8],
    dcfg: &DecodeConfig,
    fcfg: &FeatureConfig,
) -> Result<Analysed> {
    analyse_digested(path, bytes, blake3::hash(bytes).into(), dcfg, fcfg)
}

fn analyse_digested(
    path: &Path,
    bytes: &[u8],
    digest: [u8; 32],
    dcfg: &DecodeConfig,
    fcfg: &FeatureConfig,
) -> Result<Analysed> {
    let t0 = Instant::now();
    let decoded = decode::decode(path, bytes, dcfg)?;
    let t1 = Instant::now();
    let features = compute(&decoded, fcfg);
    Ok(Analysed {
        decoded,
        features,
        digest,
        size: bytes.len() as u64,
        decode_s: (t1 - t0).as_secs_f64(),
        features_s: t1.elapsed().as_secs_f64(),
    })
}

/// Run `f` on the file at `path`; a panic inside becomes
/// [`Error::Panicked`] (`stage` says what panicked), so one hostile file
/// never takes a run, or a long-running process, down with it.
pub fn guarded<T>(path: &Path, stage: &'static str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(Error::Panicked {
            path: path.to_path_buf(),
            stage,
        })
    })
}
