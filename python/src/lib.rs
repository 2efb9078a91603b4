//! The `imgdex._imgdex` native module: the imgdex library as seen from
//! Python, kept thin on purpose. Every call releases the GIL while the
//! library works, returns JSON text (parsed by the pure-Python layer in
//! `imgdex/__init__.py`) or Arrow record batches handed over through the
//! Arrow C stream interface (`__arrow_c_stream__`, zero-copy into pyarrow),
//! and turns a library error into `ImgdexError` carrying the library's
//! message. The models are loaded once per process and reused: the
//! analyser's by `analyse`, the query model by every `Store.query`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_array::{RecordBatch, RecordBatchIterator};
use arrow_schema::SchemaRef;
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use imgdex::features::embedding::{EmbedConfig, Embedder, MAX_AUTO_SESSIONS};
use imgdex::features::FeatureConfig;
use imgdex::jobs::analyse::{AnalyseConfig, Analyser};
use imgdex::jobs::{dupes, info, ingest, query, shard};
use imgdex::store::{Store as LibStore, StoreOptions};

create_exception!(
    _imgdex,
    ImgdexError,
    PyException,
    "An error reported by the imgdex library; its message names the file, record or setting."
);

fn err(e: imgdex::Error) -> PyErr {
    ImgdexError::new_err(e.to_string())
}

fn json<T: serde::Serialize>(v: &T) -> PyResult<String> {
    serde_json::to_string(v).map_err(|e| ImgdexError::new_err(e.to_string()))
}

/// Record batches for pyarrow, through the Arrow C stream interface (once).
#[pyclass(module = "imgdex._imgdex")]
struct ArrowBatches {
    schema: SchemaRef,
    batches: Option<Vec<RecordBatch>>,
}

#[pymethods]
impl ArrowBatches {
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &mut self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema; // the shard schema is the only one offered
        let batches = self
            .batches
            .take()
            .ok_or_else(|| ImgdexError::new_err("these record batches were already read"))?;
        let reader = RecordBatchIterator::new(batches.into_iter().map(Ok), self.schema.clone());
        let stream = FFI_ArrowArrayStream::new(Box::new(reader));
        PyCapsule::new_with_value(py, stream, c"arrow_array_stream")
    }
}

/// The process's analyser and the settings it was loaded with.
type Loaded = (Option<PathBuf>, bool, usize, Analyser);
static ANALYSER: Mutex<Option<Loaded>> = Mutex::new(None);

/// The process's query model (loaded by the first query that needs it)
/// and the model file it came from; shared by every `Store`.
static QUERY_MODEL: Mutex<(Option<PathBuf>, Option<Embedder>)> = Mutex::new((None, None));

/// Models this process has loaded (analyser and query), for tests.
static MODEL_LOADS: AtomicUsize = AtomicUsize::new(0);

/// How many times this process has loaded a CNN model (the analyser's or
/// the query model); a test's evidence that calls reuse one.
#[pyfunction]
fn _model_loads() -> usize {
    MODEL_LOADS.load(Ordering::SeqCst)
}

fn embed_config(model: Option<PathBuf>, threads: usize) -> EmbedConfig {
    let mut cfg = EmbedConfig::in_dir(&EmbedConfig::default_dir());
    if let Some(m) = model {
        cfg = cfg.with_model(m);
    }
    cfg.threads = threads;
    cfg
}

/// The analyser's sessions, laid out as `index` lays them out on a machine
/// of `threads` cores (0: this machine's): one single-threaded session per
/// core, at most `MAX_AUTO_SESSIONS` sessions sharing the cores, beside
/// `threads` decode workers.
fn analyse_embed_config(model: Option<PathBuf>, threads: usize) -> EmbedConfig {
    let mut cfg = embed_config(model, 0);
    if threads > 0 {
        cfg.sessions = threads.min(MAX_AUTO_SESSIONS);
        cfg.threads = (threads / cfg.sessions).max(1);
    }
    cfg
}

/// Analyse image files and folders into shard rows; returns the batches
/// and the (path, reason) of every file that failed.
#[pyfunction]
#[pyo3(signature = (paths, embed=true, threads=None, roots=None, model=None))]
fn analyse(
    py: Python<'_>,
    paths: Vec<PathBuf>,
    embed: bool,
    threads: Option<usize>,
    roots: Option<Vec<PathBuf>>,
    model: Option<PathBuf>,
) -> PyResult<(ArrowBatches, Vec<(String, String)>)> {
    let threads = threads.unwrap_or(0);
    let result = py.detach(|| -> imgdex::Result<_> {
        let mut slot = ANALYSER.lock().unwrap_or_else(|p| p.into_inner());
        let fresh = match &*slot {
            Some((m, e, t, _)) => *m != model || *e != embed || *t != threads,
            None => true,
        };
        if fresh {
            *slot = None; // free the old model first
            let cfg = embed.then(|| analyse_embed_config(model.clone(), threads));
            *slot = Some((model.clone(), embed, threads, Analyser::new(cfg.as_ref())?));
            MODEL_LOADS.fetch_add(usize::from(embed), Ordering::SeqCst);
        }
        let analyser = &mut slot.as_mut().expect("loaded above").3;
        let mut cfg = AnalyseConfig::new(paths);
        cfg.jobs = threads;
        cfg.roots = roots;
        let a = analyser.run(&cfg)?;
        let batch = a.to_batch()?;
        let failed = a.failed.into_iter().map(|f| (f.path, f.error)).collect();
        Ok((batch, failed))
    });
    let (batch, failed) = result.map_err(err)?;
    let schema = batch.schema();
    Ok((
        ArrowBatches {
            schema,
            batches: Some(vec![batch]),
        },
        failed,
    ))
}

/// A store on disk, opened for each call (so the CLI can use it between calls).
#[pyclass(module = "imgdex._imgdex")]
struct Store {
    path: PathBuf,
}

fn open(path: &std::path::Path, create: bool) -> imgdex::Result<LibStore> {
    let opts = StoreOptions {
        create,
        ..StoreOptions::default()
    };
    LibStore::open(path, &opts)
}

fn query_by(by: &str) -> PyResult<query::QueryBy> {
    Ok(match by {
        "auto" => query::QueryBy::Auto,
        "hash" => query::QueryBy::Hash,
        "histogram" => query::QueryBy::Histogram,
        "embedding" => query::QueryBy::Embedding,
        _ => {
            return Err(ImgdexError::new_err(format!(
                "by must be one of auto, hash, histogram, embedding; got `{by}`"
            )))
        }
    })
}

#[pymethods]
impl Store {
    #[new]
    fn new(path: PathBuf) -> Self {
        Store { path }
    }

    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    fn info(&self, py: Python<'_>) -> PyResult<String> {
        let r = py
            .detach(|| info::run(&open(&self.path, false)?))
            .map_err(err)?;
        json(&r)
    }

    #[pyo3(signature = (image, k=10, by="auto"))]
    fn query(&self, py: Python<'_>, image: PathBuf, k: usize, by: &str) -> PyResult<String> {
        let by = query_by(by)?;
        let hits = py
            .detach(|| {
                let store = open(&self.path, false)?;
                let stored = store.fingerprint("histogram")?;
                let ecfg = embed_config(None, 0);
                let mut model = QUERY_MODEL.lock().unwrap_or_else(|p| p.into_inner());
                if model.0.as_ref() != Some(&ecfg.model) {
                    *model = (Some(ecfg.model.clone()), None); // $IMGDEX_MODELS changed
                }
                let cfg = query::QueryConfig {
                    image,
                    k,
                    by,
                    embed: Some(ecfg),
                    decode: Default::default(),
                    features: stored
                        .as_deref()
                        .and_then(FeatureConfig::from_histogram_fingerprint)
                        .unwrap_or_default(),
                };
                let loaded = |m: &Option<Embedder>| m.as_ref().map(|e| e.model().to_path_buf());
                let before = loaded(&model.1);
                let hits = query::run_cached(&store, &cfg, &mut model.1);
                let after = loaded(&model.1);
                MODEL_LOADS.fetch_add(
                    usize::from(after.is_some() && after != before),
                    Ordering::SeqCst,
                );
                hits
            })
            .map_err(err)?;
        json(&hits)
    }

    #[pyo3(signature = (preset="default"))]
    fn dupes(&self, py: Python<'_>, preset: &str) -> PyResult<String> {
        let preset: dupes::Preset = preset.parse().map_err(err)?;
        let report = py
            .detach(|| {
                let store = LibStore::open(&self.path, &StoreOptions::for_scans())?;
                let cfg = dupes::DupesConfig::preset(preset);
                cfg.validate()?;
                dupes::run(&store, &cfg)
            })
            .map_err(err)?;
        json(&report)
    }

    fn features(&self, py: Python<'_>) -> PyResult<ArrowBatches> {
        let (schema, batches) = py
            .detach(|| {
                let store = open(&self.path, false)?;
                let (schema, batches) = shard::store_batches(&store)?;
                Ok((schema, batches.collect::<imgdex::Result<Vec<_>>>()?))
            })
            .map_err(err)?;
        Ok(ArrowBatches {
            schema,
            batches: Some(batches),
        })
    }

    #[pyo3(signature = (shards, map_prefix=Vec::new()))]
    fn ingest(
        &self,
        py: Python<'_>,
        shards: Vec<PathBuf>,
        map_prefix: Vec<(String, String)>,
    ) -> PyResult<String> {
        let s = py
            .detach(|| {
                let mut cfg = ingest::IngestConfig::new(shards);
                cfg.map_prefix = map_prefix;
                cfg.validate()?;
                ingest::run(&open(&self.path, true)?, &cfg)
            })
            .map_err(err)?;
        json(&s)
    }

    fn export_shard(&self, py: Python<'_>, out: PathBuf) -> PyResult<usize> {
        let r = py
            .detach(|| shard::write_store(&open(&self.path, false)?, &out))
            .map_err(err)?;
        Ok(r.rows)
    }
}

#[pymodule]
fn _imgdex(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("ImgdexError", m.py().get_type::<ImgdexError>())?;
    m.add_class::<Store>()?;
    m.add_class::<ArrowBatches>()?;
    m.add_function(wrap_pyfunction!(analyse, m)?)?;
    m.add_function(wrap_pyfunction!(_model_loads, m)?)?;
    m.add("SHARD_VERSION", shard::VERSION)?;
    Ok(())
}
