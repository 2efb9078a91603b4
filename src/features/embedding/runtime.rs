//! ONNX Runtime itself: loading the shared library once per process (a
//! later call naming another library gets its own error) and building
//! sessions from the model bytes.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;

use crate::error::{Error, Result};

/// The other ways out of a missing model or runtime, in the library's
/// words (the CLI names them as its flags).
pub const MODEL_CHOICES: &str = "name another model file, or turn embedding off";

pub(super) fn setup_hint() -> String {
    format!("run `bash scripts/setup` in the imgdex source tree, {MODEL_CHOICES}")
}

/// ONNX Runtime allows one library and one environment per process. Only
/// a success is kept: a failed attempt is retried by the next call (with
/// whatever library it names), and a call naming a different library than
/// the one loaded gets its own error instead of silently using the first.
pub(super) fn environment(lib: &Path) -> Result<&'static ort::environment::Environment> {
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

pub(super) fn build_session(
    env: &ort::environment::Environment,
    model: &[u8],
    threads: usize,
    model_path: &Path,
) -> Result<Session> {
    let builder = Session::builder(env).map_err(|e| model_error(model_path, e))?;
    let mut builder = builder
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(|e| model_error(model_path, e))?
        .with_intra_threads(threads)
        .map_err(|e| model_error(model_path, e))?
        // Decode workers share the cores: idle ORT threads must sleep, not spin.
        .with_intra_op_spinning(false)
        .map_err(|e| model_error(model_path, e))?;
    builder
        .commit_from_memory(model)
        .map_err(|e| model_error(model_path, e))
}

fn model_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Model {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}
