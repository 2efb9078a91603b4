//! The `export` job: what the store knows, in formats other tools read.
//! `clusters` writes the saved clustering as `path,cluster` CSV rows or a
//! JSON list; `features` writes hashes (hex, like `inspect`), histograms
//! and embeddings as one CSV row per image, or one of them as a NumPy
//! `.npy` matrix with the image paths, one per line and in row order, in a
//! sidecar text file (`X.npy` → `X.paths.txt`). Only features made under
//! the store's current fingerprints are exported.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::features::hash::to_hex;
use crate::learn::dataset::{self, FeatureKind};
use crate::learn::npy;
use crate::paths;
use crate::store::record::fingerprint_code;
use crate::store::{ImageRecord, Store};

mod parquet;
pub(crate) use parquet::base_fields;
pub use parquet::ROW_GROUP as PARQUET_ROW_GROUP;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Json,
    Npy,
    /// Apache Parquet, every feature in one file (`features` only).
    Parquet,
}

/// Which features `export features` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureChoice {
    /// Hashes, histogram and embedding (CSV only).
    All,
    Hash,
    Histogram,
    Embedding,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportWhat {
    Clusters,
    /// `None`: everything for CSV, the embeddings for `.npy`.
    Features(Option<FeatureChoice>),
}

#[derive(Debug, Clone)]
pub struct ExportConfig {
    pub what: ExportWhat,
    pub format: ExportFormat,
    /// Write here; `None` returns the text (CSV and JSON only).
    pub out: Option<PathBuf>,
}

impl ExportConfig {
    pub fn validate(&self) -> Result<()> {
        use ExportFormat::*;
        match (self.what, self.format) {
            (ExportWhat::Clusters, Npy) => Err(Error::InvalidArgument(
                "export clusters writes csv or json, not npy".into(),
            )),
            (ExportWhat::Features(_), Json) => Err(Error::InvalidArgument(
                "export features writes csv or npy, not json".into(),
            )),
            (ExportWhat::Features(Some(FeatureChoice::All)), Npy) => Err(Error::InvalidSetting {
                setting: "feature",
                reason:
                    "must be hash, histogram or embedding for npy (an .npy file holds one matrix)"
                        .into(),
            }),
            (_, Npy) if self.out.is_none() => Err(Error::InvalidSetting {
                setting: "out",
                reason: "must name a FILE.npy: npy is written to a file".into(),
            }),
            (ExportWhat::Clusters, Parquet) => Err(Error::InvalidArgument(
                "export clusters writes csv or json; a Parquet export of the features \
                 carries the cluster labels"
                    .into(),
            )),
            (ExportWhat::Features(Some(f)), Parquet) if f != FeatureChoice::All => {
                Err(Error::InvalidSetting {
                    setting: "feature",
                    reason: "cannot be chosen for Parquet (a Parquet export holds every feature)"
                        .into(),
                })
            }
            (_, Parquet) if self.out.is_none() => Err(Error::InvalidSetting {
                setting: "out",
                reason: "must name a FILE.parquet: Parquet is written to a file".into(),
            }),
            _ => Ok(()),
        }
    }
}

/// One image's cluster, as exported.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClusterRow {
    pub path: String,
    pub cluster: u32,
}

#[derive(Debug, Serialize)]
pub struct ExportReport {
    pub rows: usize,
    /// Files written.
    pub files: Vec<String>,
    /// The export itself when no `out` was given.
    #[serde(skip)]
    pub text: Option<String>,
}

pub fn run(store: &Store, cfg: &ExportConfig) -> Result<ExportReport> {
    cfg.validate()?;
    match cfg.what {
        ExportWhat::Clusters => {
            let rows = cluster_rows(store)?;
            let text = match cfg.format {
                ExportFormat::Json => {
                    serde_json::to_string_pretty(&rows).expect("rows serialise") + "\n"
                }
                _ => csv_text(
                    &["path", "cluster"],
                    rows.iter()
                        .map(|r| vec![r.path.clone(), r.cluster.to_string()]),
                )?,
            };
            finish(rows.len(), text, cfg.out.as_deref())
        }
        ExportWhat::Features(choice) => match cfg.format {
            ExportFormat::Parquet => parquet::write(
                store,
                cfg.out
                    .as_deref()
                    .expect("validated: parquet has an output file"),
            ),
            ExportFormat::Npy => {
                let out = cfg
                    .out
                    .as_deref()
                    .expect("validated: npy has an output file");
                export_npy(store, choice.unwrap_or(FeatureChoice::Embedding), out)
            }
            _ => {
                let (rows, text) = features_csv(store, choice.unwrap_or(FeatureChoice::All))?;
                finish(rows, text, cfg.out.as_deref())
            }
        },
    }
}

fn finish(rows: usize, text: String, out: Option<&Path>) -> Result<ExportReport> {
    match out {
        None => Ok(ExportReport {
            rows,
            files: vec![],
            text: Some(text),
        }),
        Some(p) => {
            std::fs::write(p, text).map_err(|e| Error::io(p, e))?;
            Ok(ExportReport {
                rows,
                files: vec![p.to_string_lossy().into_owned()],
                text: None,
            })
        }
    }
}

/// The saved clustering, by path (images removed since are left out).
pub fn cluster_rows(store: &Store) -> Result<Vec<ClusterRow>> {
    let saved = store.clustering()?.ok_or_else(|| Error::NoResult {
        path: store.dir().to_path_buf(),
        what: "clustering",
        command: "cluster",
    })?;
    let paths: HashMap<u64, Vec<u8>> = store
        .scan_images()?
        .records
        .into_iter()
        .map(|(id, r)| (id, r.path))
        .collect();
    let mut rows: Vec<ClusterRow> = saved
        .ids
        .iter()
        .zip(&saved.labels)
        .filter_map(|(id, &cluster)| {
            Some(ClusterRow {
                path: paths::display(paths.get(id)?),
                cluster,
            })
        })
        .collect();
    rows.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(rows)
}

fn csv_text(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| Error::Csv {
        reason: e.to_string(),
    };
    w.write_record(header).map_err(err)?;
    for r in rows {
        w.write_record(&r).map_err(err)?;
    }
    let bytes = w.into_inner().map_err(|e| Error::Csv {
        reason: e.to_string(),
    })?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Current-fingerprint hashes and histograms of a record.
struct Current {
    hash: Option<u32>,
    histogram: Option<u32>,
}

impl Current {
    fn of(store: &Store) -> Result<Current> {
        let code = |f: &str| -> Result<Option<u32>> {
            Ok(store.fingerprint(f)?.map(|s| fingerprint_code(&s)))
        };
        Ok(Current {
            hash: code("hash")?,
            histogram: code("histogram")?,
        })
    }

    fn hashes(&self, r: &ImageRecord) -> Option<[u64; 3]> {
        let t = r
            .hashes
            .as_ref()
            .filter(|t| Some(t.fingerprint) == self.hash)?;
        Some([t.value.phash, t.value.dhash, t.value.ahash])
    }

    fn histogram<'a>(&self, r: &'a ImageRecord) -> Option<&'a [f32]> {
        let t = r
            .histogram
            .as_ref()
            .filter(|t| Some(t.fingerprint) == self.histogram)?;
        Some(&t.value.values)
    }
}

/// One CSV row per image: path, then the chosen features (empty cells
/// where an image lacks one).
fn features_csv(store: &Store, choice: FeatureChoice) -> Result<(usize, String)> {
    let cur = Current::of(store)?;
    let images = store.scan_images()?.records;
    let want = |f: FeatureChoice| choice == FeatureChoice::All || choice == f;
    let embeddings = if want(FeatureChoice::Embedding) {
        embedding_map(store)?
    } else {
        HashMap::new()
    };
    let bins = images
        .iter()
        .filter_map(|(_, r)| cur.histogram(r))
        .map(<[f32]>::len)
        .max()
        .unwrap_or(0);
    let dim = embeddings.values().map(Vec::len).max().unwrap_or(0);
    let mut header: Vec<String> = vec!["path".into()];
    if want(FeatureChoice::Hash) {
        header.extend(["phash", "dhash", "ahash"].map(String::from));
    }
    if want(FeatureChoice::Histogram) {
        header.extend((0..bins).map(|i| format!("h{i}")));
    }
    if want(FeatureChoice::Embedding) {
        header.extend((0..dim).map(|i| format!("e{i}")));
    }
    let mut rows = Vec::new();
    for (id, r) in &images {
        let h = cur.hashes(r).filter(|_| want(FeatureChoice::Hash));
        let hist = cur.histogram(r).filter(|_| want(FeatureChoice::Histogram));
        let emb = embeddings.get(id);
        if choice != FeatureChoice::All && h.is_none() && hist.is_none() && emb.is_none() {
            continue;
        }
        let mut row = vec![paths::display(&r.path)];
        if want(FeatureChoice::Hash) {
            row.extend((0..3).map(|i| h.map(|h| to_hex(h[i])).unwrap_or_default()));
        }
        if want(FeatureChoice::Histogram) {
            row.extend((0..bins).map(|i| {
                hist.and_then(|v| v.get(i))
                    .map(|x| x.to_string())
                    .unwrap_or_default()
            }));
        }
        if want(FeatureChoice::Embedding) {
            row.extend((0..dim).map(|i| {
                emb.and_then(|v| v.get(i))
                    .map(|x| x.to_string())
                    .unwrap_or_default()
            }));
        }
        rows.push(row);
    }
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    Ok((rows.len(), csv_text(&header, rows.into_iter())?))
}

/// Current-model embeddings by image id (empty when there are none).
fn embedding_map(store: &Store) -> Result<HashMap<u64, Vec<f32>>> {
    let Some(fp) = store.fingerprint("embedding")? else {
        return Ok(HashMap::new());
    };
    Ok(store.current_embeddings(&fp)?.into_iter().collect())
}

/// The sidecar listing the paths of an `.npy` export's rows.
pub fn paths_sidecar(npy: &Path) -> PathBuf {
    npy.with_extension("paths.txt")
}

fn export_npy(store: &Store, choice: FeatureChoice, out: &Path) -> Result<ExportReport> {
    let (paths, rows) = match choice {
        FeatureChoice::Hash => {
            let cur = Current::of(store)?;
            let mut paths = Vec::new();
            let mut data = Vec::new();
            for (_, r) in store.scan_images()?.records {
                if let Some(h) = cur.hashes(&r) {
                    data.extend(h);
                    paths.push(r.path);
                }
            }
            npy::write(out, paths.len(), 3, &data)?;
            let n = paths.len();
            (paths, n)
        }
        kind => {
            let kind = if kind == FeatureChoice::Histogram {
                FeatureKind::Histogram
            } else {
                FeatureKind::Embedding
            };
            let mut set = dataset::load(store, kind)?;
            if kind == FeatureKind::Histogram {
                set.x.mapv_inplace(|v| v * v); // undo the Hellinger square root
            }
            let data: Vec<f32> = set.x.iter().copied().collect();
            npy::write(out, set.x.nrows(), set.x.ncols(), &data)?;
            let n = set.len();
            (set.paths, n)
        }
    };
    let sidecar = paths_sidecar(out);
    let mut listing = String::new();
    for p in &paths {
        listing.push_str(&paths::display(p));
        listing.push('\n');
    }
    std::fs::write(&sidecar, listing).map_err(|e| Error::io(&sidecar, e))?;
    Ok(ExportReport {
        rows,
        files: vec![
            out.to_string_lossy().into_owned(),
            sidecar.to_string_lossy().into_owned(),
        ],
        text: None,
    })
}
