//! Where the CNN model and ONNX Runtime are and how many sessions and
//! threads run them: the embedding stage's settings, with the session
//! layout that batch indexing uses and the range checks callers share.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// File name of the default model inside the models directory: the int8
/// quantisation of [`FLOAT_MODEL`] (`scripts/quantize_model.py`): inference
/// about 2× faster, a full index 1.5–1.8×, duplicate and search quality
/// within the tolerances README's "The int8 model" lists.
pub const DEFAULT_MODEL: &str = "efficientnet-lite0-int8.onnx";

/// File name of the float model the int8 one is made from.
pub const FLOAT_MODEL: &str = "efficientnet-lite0.onnx";

/// File name of the ONNX Runtime library inside the models directory.
pub const ORT_LIBRARY: &str = "libonnxruntime.so";

/// Where the model and ONNX Runtime are, and how to run them.
#[derive(Debug, Clone)]
pub struct EmbedConfig {
    pub model: PathBuf,
    /// The model was not named by the caller: reading a store whose
    /// embeddings another model beside it made, use that one
    /// ([`EmbedConfig::for_store`]).
    pub follow_store: bool,
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
            follow_store: true,
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

    /// Range checks on the session layout (each session holds its own
    /// buffers, ~160 MiB for the float model, less for the int8 one).
    pub fn validate(&self) -> Result<()> {
        if self.sessions > 64 {
            return Err(Error::InvalidSetting {
                setting: "ort_sessions",
                reason: format!("must be at most 64, got {}", self.sessions),
            });
        }
        if self.threads > 256 {
            return Err(Error::InvalidSetting {
                setting: "ort_threads",
                reason: format!("must be at most 256, got {}", self.threads),
            });
        }
        Ok(())
    }

    /// The model `model` with this config's other settings; it does not
    /// follow a store's model.
    pub fn with_model(&self, model: PathBuf) -> EmbedConfig {
        EmbedConfig {
            model,
            follow_store: false,
            ..self.clone()
        }
    }

    /// The config that embeds like a store whose embedding fingerprint is
    /// `store_fingerprint`: this one, unless it was not named and the
    /// store's model (named by the fingerprint) lies beside it with its
    /// sidecar. So a store indexed before the default model changed is
    /// still queried with the model that made it.
    pub fn for_store(&self, store_fingerprint: Option<&str>) -> EmbedConfig {
        let other = store_fingerprint
            .map(super::model_name)
            .filter(|name| is_plain_name(name) && self.follows_store())
            .and_then(|name| Some(self.model.parent()?.join(format!("{name}.onnx"))))
            .filter(|m| *m != self.model && m.is_file() && m.with_extension("json").is_file());
        match other {
            Some(model) => EmbedConfig {
                model,
                ..self.clone()
            },
            None => self.clone(),
        }
    }

    /// Whether [`EmbedConfig::for_store`] may replace the model: it was not
    /// named, and it is still the default file (a caller that set `model`
    /// directly named it).
    fn follows_store(&self) -> bool {
        self.follow_store && self.model.file_name() == Some(DEFAULT_MODEL.as_ref())
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

/// A model name usable as a file name in the models directory (no path
/// separators, not hidden): store fingerprints are data, not paths.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Most sessions [`EmbedConfig::session_layout`] starts on its own (each
/// holds its own activation buffers).
pub const MAX_AUTO_SESSIONS: usize = 4;

pub(super) fn num_cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A models directory holding the default model and `other`, each
    /// with a sidecar (empty files: only their presence is read here).
    fn models(other: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for name in [DEFAULT_MODEL, other] {
            let model = dir.path().join(name);
            std::fs::write(&model, b"").unwrap();
            std::fs::write(model.with_extension("json"), b"{}").unwrap();
        }
        dir
    }

    #[test]
    fn a_default_config_follows_the_store_model_beside_it() {
        let dir = models("efficientnet-lite0.onnx");
        let cfg = EmbedConfig::in_dir(dir.path());
        let fp = "efficientnet-lite0/blake3:00/crop256/v2";
        assert_eq!(
            cfg.for_store(Some(fp)).model,
            dir.path().join("efficientnet-lite0.onnx")
        );
        // Named, missing, absent or not a plain file name: unchanged.
        let named = cfg.with_model(dir.path().join(DEFAULT_MODEL));
        assert_eq!(named.for_store(Some(fp)).model, named.model);
        let set = EmbedConfig {
            model: dir.path().join("efficientnet-lite0-copy.onnx"),
            ..cfg.clone()
        };
        assert_eq!(set.for_store(Some(fp)).model, set.model);
        for fp in [
            None,
            Some("missing-model/blake3:00"),
            Some("../efficientnet-lite0/blake3:00"),
            Some(".hidden/blake3:00"),
            Some(""),
        ] {
            assert_eq!(cfg.for_store(fp).model, cfg.model, "{fp:?}");
        }
    }
}
