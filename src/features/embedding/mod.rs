//! CNN embeddings: an ONNX image model (by default ImageNet-pretrained
//! EfficientNet-Lite0, converted by `scripts/setup`) run through ONNX
//! Runtime with the `ort` crate. The model is described by a JSON sidecar
//! (input size, crop, normalisation, output names) so another ONNX image
//! encoder can be plugged in; its digest is part of the embedding
//! fingerprint, so switching models recomputes embeddings. ONNX Runtime is
//! loaded dynamically from the library that `scripts/setup` installs.

use std::path::PathBuf;

use image::RgbImage;
use ort::session::Session;
use ort::value::Tensor;

use crate::error::{Error, Result};

mod config;
mod runtime;
mod spec;

use config::num_cores;
pub use config::{EmbedConfig, DEFAULT_MODEL, FLOAT_MODEL, MAX_AUTO_SESSIONS, ORT_LIBRARY};
pub use runtime::MODEL_CHOICES;
use runtime::{build_session, environment, setup_hint};
use spec::{fingerprint, read_spec};
pub use spec::{model_name, pad_side, preprocess, preprocess_decoded, Fit, ModelSpec};
// The vector maths lived here before `vecmath`; these paths stay valid.
pub use crate::vecmath::{cosine_distance, dot, l2_norm, l2_normalised};

/// One image's model outputs.
#[derive(Debug, Clone)]
pub struct Embedding {
    /// L2-normalised embedding.
    pub vector: Vec<f32>,
    /// L2 norm of the raw model output (`vector * norm` is the raw output).
    pub norm: f32,
    /// The L2-normalised output `dupes` judges by, when the model names
    /// one apart from the embedding (`dupe_output` in its sidecar).
    pub dupe: Option<Vec<f32>>,
    /// Raw class scores, when the model has a logits output.
    pub logits: Option<Vec<f32>>,
}

/// A loaded model, ready to embed batches of preprocessed images.
pub struct Embedder {
    session: Session,
    model: PathBuf,
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
                let session = build_session(env, &model_bytes, threads, &cfg.model)?;
                Ok(Embedder {
                    session,
                    model: cfg.model.clone(),
                    spec: spec.clone(),
                    fingerprint: fingerprint.clone(),
                    batch: cfg.batch.max(1),
                })
            })
            .collect()
    }

    /// The model file this was loaded from.
    pub fn model(&self) -> &std::path::Path {
        &self.model
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

    /// Crop or pad, resize and normalise a working image into NCHW floats.
    pub fn preprocess(&self, img: &RgbImage) -> Vec<f32> {
        preprocess(img, &self.spec)
    }

    /// [`preprocess_decoded`] with this model's sidecar.
    pub fn preprocess_decoded(&self, d: &crate::decode::Decoded) -> Vec<f32> {
        preprocess_decoded(d, &self.spec)
    }

    /// Run the model once on a blank image and check its outputs against
    /// the sidecar, so a model that cannot work fails before anything is
    /// written rather than as a failure of every file.
    pub fn self_test(&mut self) -> Result<()> {
        let input = vec![0.0; self.input_len()];
        self.embed(input, 1).map(|_| ()).map_err(|e| Error::Model {
            path: PathBuf::from(&self.spec.name),
            reason: format!(
                "the model does not work as its sidecar describes \
                     (a test run on a blank image failed: {e}); nothing was changed"
            ),
        })
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
        let dim = self.spec.embedding_dim;
        let emb = output_rows(&outputs, &self.spec.embedding_output, n, Some(dim))?;
        let dupe = match &self.spec.dupe_output {
            Some(name) => Some(output_rows(&outputs, name, n, Some(self.spec.dupe_dim))?),
            None => None,
        };
        let logits = match &self.spec.logits_output {
            Some(name) => Some(output_rows(&outputs, name, n, None)?),
            None => None,
        };
        Ok((0..n)
            .map(|i| Embedding {
                vector: l2_normalised(emb[i]),
                norm: l2_norm(emb[i]),
                dupe: dupe.as_ref().map(|d| l2_normalised(d[i])),
                logits: logits.as_ref().map(|l| l[i].to_vec()),
            })
            .collect())
    }
}

/// Output `name` of a batch of `n`, split into its rows (of `dim` values
/// each, when given).
fn output_rows<'a>(
    outputs: &'a ort::session::SessionOutputs<'_>,
    name: &str,
    n: usize,
    dim: Option<usize>,
) -> Result<Vec<&'a [f32]>> {
    let (_, data) = outputs[name]
        .try_extract_tensor::<f32>()
        .map_err(|e| Error::Model {
            path: PathBuf::from(name),
            reason: e.to_string(),
        })?;
    let row = dim.unwrap_or(data.len() / n.max(1));
    if data.len() != n * row || row == 0 {
        return Err(Error::Dimension {
            what: format!("model output `{name}`"),
            expected: n * dim.unwrap_or(1),
            got: data.len(),
        });
    }
    Ok(data.chunks_exact(row).collect())
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
