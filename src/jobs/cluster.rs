//! The `cluster` job: k-means over the stored embeddings or histograms (or
//! over columns of a CSV table, with no store at all), with k given or
//! chosen by the elbow of the inertia curve over a range, a silhouette for
//! every candidate, an optional PNG of the elbow curve, and, for stored
//! images, the result saved in the store for `export clusters`.

use std::path::PathBuf;
use std::time::Instant;

use ndarray::ArrayView2;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::jobs::progress::progress_bar;
use crate::learn::dataset::{self, FeatureKind};
use crate::learn::kmeans::{self, Clustering, KMeansOptions};
use crate::learn::labels::{self, LabelSource};
use crate::learn::results::{now_unix, ClusterParams, ClusterResult};
use crate::learn::select::{self, Candidate};
use crate::learn::{metrics, table};
use crate::plot::{self, Chart, Series};
use crate::store::Store;

/// The k range searched when neither k nor a range is given (capped at the
/// number of rows).
pub const DEFAULT_K_RANGE: (usize, usize) = (2, 20);

/// How the elbow is found (reported as `chosen_by`).
pub const ELBOW_RULE: &str = "elbow (maximum distance to the chord of the inertia curve)";

/// A fixed k or an inclusive range to choose from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KChoice {
    Fixed(usize),
    Range(usize, usize),
}

/// How k is found and what is drawn; shared by store and table input.
#[derive(Debug, Clone)]
pub struct SearchConfig {
    /// `None`: [`DEFAULT_K_RANGE`].
    pub k: Option<KChoice>,
    pub kmeans: KMeansOptions,
    /// Draw the elbow curve to this PNG (needs a range).
    pub plot: Option<PathBuf>,
    pub progress: bool,
}

impl SearchConfig {
    pub fn validate(&self) -> Result<()> {
        if let Some(KChoice::Fixed(_)) = self.k {
            if self.plot.is_some() {
                return Err(Error::InvalidSetting {
                    setting: "plot",
                    reason: "draws the elbow curve of a range of k: set `k_range`, not `k`".into(),
                });
            }
        }
        match self.k {
            Some(KChoice::Fixed(0)) => Err(Error::InvalidSetting {
                setting: "k",
                reason: "must be at least 1".into(),
            }),
            Some(KChoice::Range(a, b)) if a < 1 || b < a + 2 => Err(Error::InvalidSetting {
                setting: "k_range",
                reason: format!("{a}..{b}: need 1 <= A and at least three values of k (A+2 <= B)"),
            }),
            _ => Ok(()),
        }
    }
}

/// Cluster stored images.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    pub by: FeatureKind,
    pub search: SearchConfig,
    /// Compare the clusters with these labels (normalised mutual information).
    pub labels: Option<LabelSource>,
}

/// Cluster rows of a CSV table.
#[derive(Debug, Clone)]
pub struct TableConfig {
    pub path: PathBuf,
    pub columns: Vec<String>,
    pub standardize: bool,
    pub search: SearchConfig,
}

/// One table row's cluster.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RowCluster {
    pub row: String,
    pub cluster: u32,
}

#[derive(Debug, Serialize)]
pub struct ClusterReport {
    /// `embedding`, `histogram` or `table`.
    pub source: String,
    pub rows: usize,
    pub dim: usize,
    pub k: usize,
    /// `fixed`, or the elbow rule.
    pub chosen_by: String,
    pub k_range: Option<(usize, usize)>,
    pub mini_batch: bool,
    pub seed: u64,
    /// Sum of squared distances to the nearest centroid, for the chosen k.
    pub inertia: f64,
    pub silhouette: Option<f64>,
    /// The candidate with the highest silhouette (for comparison).
    pub best_silhouette_k: Option<usize>,
    pub candidates: Vec<Candidate>,
    /// Rows per cluster.
    pub sizes: Vec<usize>,
    /// Normalised mutual information with `--labels`, over labelled images.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nmi: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labelled: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plot: Option<String>,
    /// Whether the clustering was saved in the store (stored images only).
    pub saved: bool,
    /// Table input: the column names and each centroid in their units.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub centroids: Option<Vec<Vec<f32>>>,
    /// Table input: each row's cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignments: Option<Vec<RowCluster>>,
    pub seconds: f64,
}

/// Cluster the store's images by `cfg.by` and save the result.
pub fn run(store: &Store, cfg: &ClusterConfig) -> Result<ClusterReport> {
    let start = Instant::now();
    cfg.search.validate()?;
    let set = dataset::load(store, cfg.by)?;
    let what = format!("images with {} features", cfg.by.name());
    let outcome = search(set.x.view(), &cfg.search, &what)?;
    let mut report = report(cfg.by.name(), set.x.view(), &cfg.search, &outcome);
    if let Some(source) = &cfg.labels {
        let (nmi, n) = compare(source, &set.paths, &outcome.chosen.labels)?;
        report.nmi = Some(nmi);
        report.labelled = Some(n);
    }
    store.put_clustering(&ClusterResult {
        feature: cfg.by.name().to_string(),
        feature_fingerprint: set.fingerprint.clone(),
        k: outcome.chosen.k as u32,
        ids: set.ids.clone(),
        labels: outcome.chosen.labels.clone(),
        dim: set.x.ncols() as u32,
        centroids: outcome.chosen.centroids.iter().copied().collect(),
        inertia: outcome.chosen.inertia,
        silhouette: report.silhouette,
        params: ClusterParams {
            k_range: outcome.range.map(|(a, b)| (a as u32, b as u32)),
            chosen_by: outcome.chosen_by.clone(),
            mini_batch: cfg.search.kmeans.mini_batch.is_some(),
            n_init: cfg.search.kmeans.n_init as u32,
            seed: cfg.search.kmeans.seed,
        },
        created_unix: now_unix(),
    })?;
    report.saved = true;
    report.seconds = start.elapsed().as_secs_f64();
    Ok(report)
}

/// Cluster the rows of a CSV table (nothing is saved).
pub fn run_table(cfg: &TableConfig) -> Result<ClusterReport> {
    let start = Instant::now();
    cfg.search.validate()?;
    let mut t = table::read_csv(&cfg.path, &cfg.columns)?;
    let scaling = cfg.standardize.then(|| table::standardize(&mut t.x));
    let outcome = search(t.x.view(), &cfg.search, "table rows")?;
    let mut report = report("table", t.x.view(), &cfg.search, &outcome);
    report.columns = Some(t.columns.clone());
    report.centroids = Some(
        outcome
            .chosen
            .centroids
            .rows()
            .into_iter()
            .map(|r| match &scaling {
                Some(s) => s.restore(&r.to_vec()),
                None => r.to_vec(),
            })
            .collect(),
    );
    report.assignments = Some(
        t.row_names
            .iter()
            .zip(&outcome.chosen.labels)
            .map(|(row, &cluster)| RowCluster {
                row: row.clone(),
                cluster,
            })
            .collect(),
    );
    report.seconds = start.elapsed().as_secs_f64();
    Ok(report)
}

/// The chosen clustering and how it was chosen.
struct Outcome {
    chosen: Clustering,
    candidates: Vec<Candidate>,
    chosen_by: String,
    range: Option<(usize, usize)>,
}

/// Fit the requested k, or search the range and take the elbow; draw the plot.
fn search(x: ArrayView2<f32>, cfg: &SearchConfig, what: &str) -> Result<Outcome> {
    let n = x.nrows();
    let outcome = match cfg.k {
        Some(KChoice::Fixed(k)) => {
            if k > n {
                return Err(Error::TooFewSamples {
                    what: what.into(),
                    k,
                    n,
                });
            }
            let pb = progress_bar(None, cfg.progress, format!("k-means, k = {k}"));
            let chosen = kmeans::fit(x, k, &cfg.kmeans)?;
            pb.finish_and_clear();
            let candidates = vec![select::candidate(x, &chosen, cfg.kmeans.seed)];
            Outcome {
                chosen,
                candidates,
                chosen_by: "fixed".into(),
                range: None,
            }
        }
        choice => {
            let (lo, hi) = match choice {
                Some(KChoice::Range(a, b)) => (a, b),
                _ => (DEFAULT_K_RANGE.0, DEFAULT_K_RANGE.1.min(n)),
            };
            let ks = select::range_ks(lo, hi, n, what)?;
            let pb = progress_bar(
                Some(ks.len() as u64),
                cfg.progress,
                format!("k-means, k = {lo}..{hi}"),
            );
            let sel = select::search(x, &ks, &cfg.kmeans, &|_| pb.inc(1))?;
            pb.finish_and_clear();
            Outcome {
                chosen: sel.chosen,
                candidates: sel.candidates,
                chosen_by: ELBOW_RULE.into(),
                range: Some((lo, hi)),
            }
        }
    };
    if let Some(path) = &cfg.plot {
        plot_elbow(&outcome, path)?;
    }
    Ok(outcome)
}

fn report(source: &str, x: ArrayView2<f32>, cfg: &SearchConfig, o: &Outcome) -> ClusterReport {
    let chosen = o.candidates.iter().find(|c| c.k == o.chosen.k);
    let best_sil = o
        .candidates
        .iter()
        .filter_map(|c| c.silhouette.map(|s| (c.k, s)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(k, _)| k);
    ClusterReport {
        source: source.into(),
        rows: x.nrows(),
        dim: x.ncols(),
        k: o.chosen.k,
        chosen_by: o.chosen_by.clone(),
        k_range: o.range,
        mini_batch: cfg.kmeans.mini_batch.is_some(),
        seed: cfg.kmeans.seed,
        inertia: o.chosen.inertia,
        silhouette: chosen.and_then(|c| c.silhouette),
        best_silhouette_k: best_sil,
        candidates: o.candidates.clone(),
        sizes: o.chosen.sizes.clone(),
        nmi: None,
        labelled: None,
        plot: cfg.plot.as_ref().map(|p| p.to_string_lossy().into_owned()),
        saved: false,
        columns: None,
        centroids: None,
        assignments: None,
        seconds: 0.0,
    }
}

/// NMI between clusters and labels over the labelled rows, and their number.
fn compare(source: &LabelSource, paths: &[Vec<u8>], clusters: &[u32]) -> Result<(f64, usize)> {
    let by_path = labels::assign(source, paths)?;
    let mut names: std::collections::HashMap<&str, u32> = std::collections::HashMap::new();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for (p, &c) in paths.iter().zip(clusters) {
        if let Some(l) = by_path.get(p) {
            let next = names.len() as u32;
            b.push(*names.entry(l.as_str()).or_insert(next));
            a.push(c);
        }
    }
    if a.is_empty() {
        return Err(Error::InvalidSetting {
            setting: "labels",
            reason: "matched none of the clustered images".into(),
        });
    }
    Ok((metrics::nmi(&a, &b), a.len()))
}

fn plot_elbow(o: &Outcome, out: &std::path::Path) -> Result<()> {
    let points: Vec<(f64, f64)> = o
        .candidates
        .iter()
        .map(|c| (c.k as f64, c.inertia))
        .collect();
    let chart = Chart {
        title: "k-means elbow curve",
        x_label: "k (number of clusters)",
        y_label: "inertia (sum of squared distances)",
        series: vec![Series {
            label: "inertia".into(),
            color: (40, 70, 220),
            points,
        }],
        highlight: Some((
            o.chosen.k as f64,
            o.chosen.inertia,
            format!("chosen k = {}", o.chosen.k),
        )),
    };
    plot::draw(&chart, out)
}
