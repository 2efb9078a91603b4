//! CNN embeddings: an ONNX image model (by default ImageNet-pretrained
//! EfficientNet-Lite0, converted by `scripts/setup`) run through ONNX
//! Runtime with the `ort` crate. The model is described by a JSON sidecar
//! (input size, crop, normalisation, output names) so another ONNX image
//! encoder can be plugged in; its digest is part of the embedding
//! fingerprint, so switching models recomputes embeddings. ONNX Runtime is
//! loaded dynamically from the library that `scripts/setup` installs.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use image::RgbImage;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::Tensor;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// File name of the default model inside the models directory.
pub const DEFAULT_MODEL: &str = "efficientnet-lite0.onnx";
/// File name of the ONNX Runtime library inside the models directory.
pub const ORT_LIBRARY: &str = "libonnxruntime.so";

/// The model's sidecar (`<model>.json`): how to feed it and what it returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    pub name: String,
    /// Input tensor name; NCHW float32 of `[N, 3, input_size, input_size]`.
    pub input: String,
    pub input_size: u32,
    /// The centre crop covers `input_size / resize_short` of the short side
    /// (224/256 for the TF/torchvision evaluation recipe).
    pub resize_short: u32,
    /// Per-channel mean, in 0–255 pixel units.
    pub mean: [f32; 3],
    /// Per-channel standard deviation, in 0–255 pixel units ...
    #[serde(default)]
    pub std: Option<[f32; 3]>,
    /// ... or one scale factor: input = (pixel − mean) × scale.
    #[serde(default)]
    pub scale: Option<f32>,
    pub embedding_output: String,
    #[serde(default)]
    pub logits_output: Option<String>,
    pub embedding_dim: usize,
}

/// Where the model and ONNX Runtime are, and how to run them.
#[derive(Debug, Clone)]
pub struct EmbedConfig {
    pub model: PathBuf,
    /// ONNX Runtime shared library; default: `libonnxruntime.so` beside the model.
    pub ort_library: Option<PathBuf>,
    /// Intra-op threads per ONNX Runtime session (0 = automatic: one per
    /// core for a single session, cores ÷ sessions when indexing).
    pub threads: usize,
    /// Sessions `index` runs side by side, each on its own batches
    /// (0 = automatic, see [`EmbedConfig::session_layout`]).
    pub sessions: usize,
    /// Images per inference call.
    pub batch: usize,
}

impl EmbedConfig {
    /// The model in `dir`, with default settings.
    pub fn in_dir(dir: &Path) -> Self {
        EmbedConfig {
            model: dir.join(DEFAULT_MODEL),
            ort_library: None,
            threads: 0,
            sessions: 0,
            batch: 8,
        }
    }

    /// The models directory: `$IMGDEX_MODELS`, else the one `scripts/setup`
    /// fills in the source tree this binary was built from.
    pub fn default_dir() -> PathBuf {
        std::env::var_os("IMGDEX_MODELS")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("models"))
    }

    /// Sessions and intra-op threads per session for batch indexing.
    ///
    /// By default one single-threaded session per core (at most
    /// [`MAX_AUTO_SESSIONS`]): on a 2-core machine two 1-thread sessions
    /// embed more images per second than one 2-thread session, because a
    /// session's threads meet at a barrier after every operator, and one
    /// thread preempted by a decode worker stalls the other.
    pub fn session_layout(&self) -> (usize, usize) {
        let cores = num_cores();
        let sessions = match (self.sessions, self.threads) {
            (0, 0) => cores.min(MAX_AUTO_SESSIONS),
            (0, t) => (cores / t).clamp(1, MAX_AUTO_SESSIONS),
            (s, _) => s,
        };
        let threads = match self.threads {
            0 => (cores / sessions).max(1),
            t => t,
        };
        (sessions, threads)
    }

    pub fn sidecar(&self) -> PathBuf {
        self.model.with_extension("json")
    }

    pub fn library(&self) -> PathBuf {
        if let Some(p) = &self.ort_library {
            return p.clone();
        }
        if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
            return PathBuf::from(p);
        }
        self.model
            .parent()
            .unwrap_or(Path::new("."))
            .join(ORT_LIBRARY)
    }
}

/// Most sessions [`EmbedConfig::session_layout`] starts on its own (each
/// holds its own activation buffers).
pub const MAX_AUTO_SESSIONS: usize = 4;

/// One image's model outputs.
#[derive(Debug, Clone)]
pub struct Embedding {
    /// L2-normalised embedding.
    pub vector: Vec<f32>,
    /// L2 norm of the raw model output (`vector * norm` is the raw output).
    pub norm: f32,
    /// Raw class scores, when the model has a logits output.
    pub logits: Option<Vec<f32>>,
}

/// A loaded model, ready to embed batches of preprocessed images.
pub struct Embedder {
    session: Session,
    spec: ModelSpec,
    fingerprint: String,
    batch: usize,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

fn setup_hint() -> &'static str {
    "run `bash scripts/setup` in the imgdex source tree, pass --model, or use --no-embed"
}

/// ONNX Runtime allows one library and one environment per process. Only
/// a success is kept: a failed attempt is retried by the next call (with
/// whatever library it names), and a call naming a different library than
/// the one loaded gets its own error instead of silently using the first.
fn environment(lib: &Path) -> Result<&'static ort::environment::Environment> {
    static LOADED_LIB: OnceLock<PathBuf> = OnceLock::new();
    static ENV: OnceLock<ort::environment::Environment> = OnceLock::new();
    static INIT: Mutex<()> = Mutex::new(());
    let _guard = INIT.lock().unwrap_or_else(|p| p.into_inner());
    let wanted = std::fs::canonicalize(lib).unwrap_or_else(|_| lib.to_path_buf());
    let fail = |reason: String| Error::Model {
        path: lib.to_path_buf(),
        reason,
    };
    if let Some(loaded) = LOADED_LIB.get().filter(|l| **l != wanted) {
        return Err(fail(format!(
            "ONNX Runtime is already loaded from {} in this process; one library per process",
            loaded.display()
        )));
    }
    // Loads the library on the first success; a no-op once it is loaded.
    let builder = ort::init_from(lib)
        .map_err(|e| fail(format!("cannot load ONNX Runtime: {e}; {}", setup_hint())))?;
    let _ = LOADED_LIB.set(wanted);
    if let Some(env) = ENV.get() {
        return Ok(env);
    }
    let env = builder
        .with_name("imgdex")
        .build()
        .map_err(|e| fail(format!("cannot start ONNX Runtime: {e}")))?;
    Ok(ENV.get_or_init(|| env))
}

impl Embedder {
    /// Load the model and its sidecar into one session (intra-op threads:
    /// `cfg.threads`, or one per core); clear errors name the missing file.
    pub fn load(cfg: &EmbedConfig) -> Result<Embedder> {
        let threads = if cfg.threads == 0 {
            num_cores()
        } else {
            cfg.threads
        };
        let mut sessions = Self::load_n(cfg, 1, threads)?;
        Ok(sessions.remove(0))
    }

    /// The sessions of [`EmbedConfig::session_layout`], for batch indexing.
    pub fn load_sessions(cfg: &EmbedConfig) -> Result<Vec<Embedder>> {
        let (sessions, threads) = cfg.session_layout();
        Self::load_n(cfg, sessions.max(1), threads)
    }

    /// `n` sessions of `threads` intra-op threads each, from one read of the
    /// model, its sidecar and its digest.
    fn load_n(cfg: &EmbedConfig, n: usize, threads: usize) -> Result<Vec<Embedder>> {
        let lib = cfg.library();
        if !lib.is_file() {
            return Err(Error::Model {
                path: lib,
                reason: format!("ONNX Runtime library not found; {}", setup_hint()),
            });
        }
        if !cfg.model.is_file() {
            return Err(Error::Model {
                path: cfg.model.clone(),
                reason: format!("model file not found; {}", setup_hint()),
            });
        }
        let spec = read_spec(&cfg.sidecar())?;
        let model_bytes = std::fs::read(&cfg.model).map_err(|e| Error::io(&cfg.model, e))?;
        let env = environment(&lib)?;
        let fingerprint = fingerprint(&spec, &model_bytes);
        (0..n)
            .map(|_| {
                let session =
                    build_session(env, &model_bytes, threads).map_err(|reason| Error::Model {
                        path: cfg.model.clone(),
                        reason,
                    })?;
                Ok(Embedder {
                    session,
                    spec: spec.clone(),
                    fingerprint: fingerprint.clone(),
                    batch: cfg.batch.max(1),
                })
            })
            .collect()
    }

    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// Identifies the model bytes and its preprocessing.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    pub fn batch_size(&self) -> usize {
        self.batch
    }

    /// Number of f32 values in one preprocessed image.
    pub fn input_len(&self) -> usize {
        let s = self.spec.input_size as usize;
        3 * s * s
    }

    /// Centre-crop, resize and normalise a working image into NCHW floats.
    pub fn preprocess(&self, img: &RgbImage) -> Vec<f32> {
        preprocess(img, &self.spec)
    }

    /// Run the model on `n` preprocessed images concatenated in `input`.
    pub fn embed(&mut self, input: Vec<f32>, n: usize) -> Result<Vec<Embedding>> {
        let s = self.spec.input_size as usize;
        if input.len() != n * 3 * s * s {
            return Err(Error::Dimension {
                what: format!("input batch of {n} images for model {}", self.spec.name),
                expected: n * 3 * s * s,
                got: input.len(),
            });
        }
        let name = self.spec.name.clone();
        let model_err = |e: ort::Error| Error::Model {
            path: PathBuf::from(&name),
            reason: e.to_string(),
        };
        let tensor = Tensor::from_array(([n, 3, s, s], input)).map_err(model_err)?;
        let outputs = self
            .session
            .run(ort::inputs![self.spec.input.as_str() => tensor])
            .map_err(model_err)?;
        let (_, emb) = outputs[self.spec.embedding_output.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(model_err)?;
        let dim = self.spec.embedding_dim;
        if emb.len() != n * dim {
            return Err(Error::Dimension {
                what: format!("embedding output `{}`", self.spec.embedding_output),
                expected: n * dim,
                got: emb.len(),
            });
        }
        let logits = match &self.spec.logits_output {
            Some(name) => {
                let (_, l) = outputs[name.as_str()]
                    .try_extract_tensor::<f32>()
                    .map_err(model_err)?;
                let c = l.len() / n.max(1);
                Some(
                    (0..n)
                        .map(|i| l[i * c..(i + 1) * c].to_vec())
                        .collect::<Vec<_>>(),
                )
            }
            None => None,
        };
        Ok((0..n)
            .map(|i| Embedding {
                vector: l2_normalised(&emb[i * dim..(i + 1) * dim]),
                norm: l2_norm(&emb[i * dim..(i + 1) * dim]),
                logits: logits.as_ref().map(|l| l[i].clone()),
            })
            .collect())
    }
}

fn num_cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn build_session(
    env: &ort::environment::Environment,
    model: &[u8],
    threads: usize,
) -> std::result::Result<Session, String> {
    let builder = Session::builder(env).map_err(|e| e.to_string())?;
    let mut builder = builder
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(|e| e.to_string())?
        .with_intra_threads(threads)
        .map_err(|e| e.to_string())?
        // Decode workers share the cores: idle ORT threads must sleep, not spin.
        .with_intra_op_spinning(false)
        .map_err(|e| e.to_string())?;
    builder.commit_from_memory(model).map_err(|e| e.to_string())
}

fn read_spec(path: &Path) -> Result<ModelSpec> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Model {
        path: path.to_path_buf(),
        reason: format!("cannot read model sidecar ({e}); {}", setup_hint()),
    })?;
    let spec: ModelSpec = serde_json::from_str(&text).map_err(|e| Error::Model {
        path: path.to_path_buf(),
        reason: format!("invalid model sidecar: {e}"),
    })?;
    if spec.std.is_some() == spec.scale.is_some() {
        return Err(Error::Model {
            path: path.to_path_buf(),
            reason: "sidecar needs exactly one of `std` (per channel) or `scale`".into(),
        });
    }
    if spec.input_size == 0 || spec.resize_short < spec.input_size || spec.embedding_dim == 0 {
        return Err(Error::Model {
            path: path.to_path_buf(),
            reason: "sidecar needs input_size > 0, resize_short >= input_size, embedding_dim > 0"
                .into(),
        });
    }
    Ok(spec)
}

/// Model digest plus preprocessing: any change recomputes embeddings.
fn fingerprint(spec: &ModelSpec, model: &[u8]) -> String {
    let digest = blake3::hash(model).to_hex();
    format!(
        "{}/blake3:{}/trim-in{}-crop{}-mean{:?}-mul{:?}/{}/v1",
        spec.name,
        &digest[..16],
        spec.input_size,
        spec.resize_short,
        spec.mean,
        multipliers(spec),
        spec.embedding_output
    )
}

/// What each channel is multiplied by after subtracting the mean.
fn multipliers(spec: &ModelSpec) -> [f32; 3] {
    match (spec.std, spec.scale) {
        (Some(std), _) => [1.0 / std[0], 1.0 / std[1], 1.0 / std[2]],
        (None, Some(s)) => [s; 3],
        (None, None) => [1.0; 3],
    }
}

/// The evaluation preprocessing: a centre square covering
/// `input_size/resize_short` of the short side, bicubic-resized to
/// `input_size` (a no-op for a 256-short-side working image and 224/256),
/// then `(x - mean) / std` (or `× scale`) per channel, laid out NCHW.
pub fn preprocess(img: &RgbImage, spec: &ModelSpec) -> Vec<f32> {
    let (w, h) = img.dimensions();
    let short = w.min(h);
    let side = ((u64::from(short) * u64::from(spec.input_size)) / u64::from(spec.resize_short))
        .max(1) as u32;
    let (x0, y0) = ((w - side).div_ceil(2), (h - side).div_ceil(2));
    let s = spec.input_size;
    let resized;
    // The usual case (a 256-short-side working image, 224/256) needs no
    // resampling: read the centre square straight out of the image.
    let (src, x0, y0) = if side == s {
        (img, x0, y0)
    } else {
        let crop = image::imageops::crop_imm(img, x0, y0, side, side).to_image();
        resized = crate::decode::resize_rgb(&crop, s, s, crate::decode::Filter::Bicubic);
        (&resized, 0, 0)
    };
    let mul = multipliers(spec);
    let (s, stride) = (s as usize, src.width() as usize * 3);
    let plane = s * s;
    let mut out = vec![0f32; 3 * plane];
    let raw = src.as_raw();
    for y in 0..s {
        let row = &raw[(y0 as usize + y) * stride + x0 as usize * 3..][..s * 3];
        for (x, p) in row.chunks_exact(3).enumerate() {
            for c in 0..3 {
                out[c * plane + y * s + x] = (f32::from(p[c]) - spec.mean[c]) * mul[c];
            }
        }
    }
    out
}

pub fn l2_norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

pub fn l2_normalised(v: &[f32]) -> Vec<f32> {
    let n = l2_norm(v);
    if n > 0.0 {
        v.iter().map(|x| x / n).collect()
    } else {
        v.to_vec()
    }
}

/// Cosine distance (1 − dot) between two L2-normalised vectors, clamped at 0.
pub fn cosine_distance(a: &[f32], b: &[f32]) -> f32 {
    (1.0 - dot(a, b)).max(0.0)
}

/// Dot product with eight independent accumulators, so the compiler can
/// vectorise it (a plain iterator sum must keep the sequential order).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Indices and probabilities of the `k` highest-scoring classes.
pub fn top_k(logits: &[f32], k: usize) -> Vec<(usize, f32)> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = logits.iter().map(|x| (x - max).exp()).collect();
    let sum: f32 = exp.iter().sum();
    let mut idx: Vec<usize> = (0..logits.len()).collect();
    idx.sort_by(|&a, &b| exp[b].total_cmp(&exp[a]));
    idx.into_iter().take(k).map(|i| (i, exp[i] / sum)).collect()
}
