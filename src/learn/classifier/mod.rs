//! Classifiers over feature vectors (in practice, frozen CNN embeddings):
//! a multinomial logistic regression fitted by L-BFGS ([`softmax`],
//! L2 penalty `alpha`, optional per-feature standardisation), and a cosine
//! k-nearest-neighbour vote whose k is picked by leave-one-out accuracy on
//! the training set. A trained [`Model`] is plain data (it is stored in the
//! store's `results` tree as part of a versioned record, so its layout is
//! part of the on-disk format) and scores any matrix of the same width.

use ndarray::{Array1, Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

mod knn;
mod logistic;

use knn::{predict_knn, train_knn};
use logistic::{predict_logistic, train_logistic};

/// Which classifier to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Logistic,
    Knn,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Logistic => "logistic",
            Method::Knn => "knn",
        }
    }
}

/// Training settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOptions {
    /// L2 penalty of the logistic regression (on the summed log-loss, so
    /// `alpha` = 1/C in scikit-learn's terms).
    pub alpha: f64,
    /// L-BFGS iterations.
    pub max_iter: u64,
    /// Standardise each feature (zero mean, unit variance) before the
    /// logistic regression.
    pub standardize: bool,
    /// Neighbour counts the k-NN vote chooses from.
    pub knn_ks: Vec<usize>,
    pub seed: u64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            alpha: 1.0,
            max_iter: 100,
            standardize: true,
            knn_ks: vec![1, 3, 5, 7, 11, 15],
            seed: 0,
        }
    }
}

/// Per-feature affine map `(x − mean) × scale`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standardizer {
    pub mean: Vec<f32>,
    pub scale: Vec<f32>,
}

impl Standardizer {
    pub fn fit(x: ArrayView2<f32>) -> Self {
        let mean = x
            .mean_axis(Axis(0))
            .unwrap_or_else(|| Array1::zeros(x.ncols()));
        let std = x.std_axis(Axis(0), 0.0);
        Standardizer {
            mean: mean.to_vec(),
            scale: std
                .iter()
                .map(|&s| if s > 1e-12 { 1.0 / s } else { 1.0 })
                .collect(),
        }
    }

    pub fn apply(&self, x: ArrayView2<f32>) -> Array2<f32> {
        let mut out = x.to_owned();
        for mut row in out.rows_mut() {
            for ((v, m), s) in row.iter_mut().zip(&self.mean).zip(&self.scale) {
                *v = (*v - m) * s;
            }
        }
        out
    }
}

/// Multinomial logistic regression: `softmax(x·W + b)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticModel {
    pub dim: usize,
    pub classes: usize,
    /// `dim × classes`, row-major.
    pub weights: Vec<f32>,
    pub intercept: Vec<f32>,
    pub standardizer: Option<Standardizer>,
}

/// Cosine k-nearest-neighbour vote over the training vectors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnnModel {
    pub k: usize,
    pub dim: usize,
    pub classes: usize,
    /// Training vectors, L2-normalised, `n × dim` row-major.
    pub vectors: Vec<f32>,
    pub labels: Vec<u32>,
}

/// A trained classifier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Model {
    Logistic(LogisticModel),
    Knn(KnnModel),
}

/// Train `method` on rows `x` with class indices `y` in `0..classes`.
pub fn train(
    method: Method,
    x: ArrayView2<f32>,
    y: &[u32],
    classes: usize,
    opts: &TrainOptions,
) -> Result<Model> {
    if x.nrows() != y.len() || x.nrows() == 0 {
        return Err(Error::Dimension {
            what: "training labels".into(),
            expected: x.nrows(),
            got: y.len(),
        });
    }
    match method {
        Method::Logistic => train_logistic(x, y, classes, opts).map(Model::Logistic),
        Method::Knn => Ok(Model::Knn(train_knn(x, y, classes, opts))),
    }
}

impl Model {
    pub fn method(&self) -> Method {
        match self {
            Model::Logistic(_) => Method::Logistic,
            Model::Knn(_) => Method::Knn,
        }
    }

    pub fn dim(&self) -> usize {
        match self {
            Model::Logistic(m) => m.dim,
            Model::Knn(m) => m.dim,
        }
    }

    /// What is inconsistent in this model's shapes, if anything (a stored
    /// model is data read from disk: it is checked before use).
    pub fn shape_problem(&self) -> Option<String> {
        match self {
            Model::Logistic(m) => {
                let std_ok = m
                    .standardizer
                    .as_ref()
                    .is_none_or(|s| s.mean.len() == m.dim && s.scale.len() == m.dim);
                if m.classes == 0 || m.weights.len() != m.dim * m.classes {
                    Some(format!(
                        "logistic weights hold {} values for {} dimensions × {} classes",
                        m.weights.len(),
                        m.dim,
                        m.classes
                    ))
                } else if m.intercept.len() != m.classes {
                    Some(format!(
                        "logistic intercept holds {} values for {} classes",
                        m.intercept.len(),
                        m.classes
                    ))
                } else {
                    (!std_ok).then(|| "standardizer does not match the dimension".to_string())
                }
            }
            Model::Knn(m) => {
                if m.vectors.len() != m.labels.len() * m.dim {
                    Some(format!(
                        "k-NN vectors hold {} values for {} labels × {} dimensions",
                        m.vectors.len(),
                        m.labels.len(),
                        m.dim
                    ))
                } else if m.labels.iter().any(|&l| l as usize >= m.classes) {
                    Some(format!("k-NN label outside the {} classes", m.classes))
                } else {
                    None
                }
            }
        }
    }

    /// Best class and its score (probability, or the neighbours' vote
    /// share for k-NN) for every row of `x`.
    pub fn predict(&self, x: ArrayView2<f32>) -> Result<Vec<(u32, f32)>> {
        if let Some(reason) = self.shape_problem() {
            return Err(Error::InvalidModel {
                what: "classifier",
                reason,
            });
        }
        if x.ncols() != self.dim() {
            return Err(Error::Dimension {
                what: "classifier input".into(),
                expected: self.dim(),
                got: x.ncols(),
            });
        }
        match self {
            Model::Logistic(m) => predict_logistic(m, x),
            Model::Knn(m) => predict_knn(m, x),
        }
    }
}

fn shape_error(e: ndarray::ShapeError) -> Error {
    Error::InvalidModel {
        what: "classifier",
        reason: e.to_string(),
    }
}
