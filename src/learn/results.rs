//! Outcomes of the learning jobs and how the store keeps them: the types
//! live here, beside the learning code, rather than in `store` (which would
//! then depend on `learn`, while `learn` reads its training data from the
//! store). They are kept in the store's `results` tree (added by
//! migration 003) so that `export` and later runs can use them: the last
//! clustering (key `clusters`) and the trained classifier (key
//! `classifier`). Values use the same versioned, checksummed envelope as
//! every other record; a layout change (including of the classifier
//! [`Model`] they embed) is a new `V2` variant, never an edit of `V1`.

use serde::{Deserialize, Serialize};

use super::classifier::Model;
use crate::error::{Error, Result};
use crate::store::{record, ImageId, Store};

/// Tree name.
pub const RESULTS: &str = "results";
const CLUSTERS_KEY: &str = "clusters";
const CLASSIFIER_KEY: &str = "classifier";

/// How a clustering was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterParams {
    /// The inclusive k range searched, when k was chosen by the elbow.
    pub k_range: Option<(u32, u32)>,
    /// `"fixed"` or the elbow rule used.
    pub chosen_by: String,
    pub mini_batch: bool,
    pub n_init: u32,
    pub seed: u64,
}

/// A saved clustering of stored images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterResult {
    /// `"embedding"` or `"histogram"`.
    pub feature: String,
    /// Fingerprint string of the feature the rows were made from.
    pub feature_fingerprint: String,
    pub k: u32,
    /// Image ids and their clusters, in the same order.
    pub ids: Vec<ImageId>,
    pub labels: Vec<u32>,
    pub dim: u32,
    /// `k × dim` centroids, row-major.
    pub centroids: Vec<f32>,
    pub inertia: f64,
    pub silhouette: Option<f64>,
    pub params: ClusterParams,
    pub created_unix: u64,
}

/// Versioned envelope for clusterings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum StoredClustering {
    V1(ClusterResult),
}

/// A saved image classifier over CNN embeddings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierResult {
    /// Class names; the model predicts indices into this list.
    pub classes: Vec<String>,
    /// Fingerprint string of the embeddings it was trained on.
    pub embedding_fingerprint: String,
    pub model: Model,
    /// Held-out scores measured before the final fit.
    pub val_accuracy: f64,
    pub val_macro_f1: f64,
    /// Labelled images the saved model was fitted on.
    pub trained_on: u64,
    pub created_unix: u64,
}

/// Versioned envelope for classifiers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum StoredClassifier {
    V1(ClassifierResult),
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Store {
    fn results_tree(&self) -> Result<sled::Tree> {
        self.db().open_tree(RESULTS).map_err(|e| self.err(e))
    }

    fn put_result<T: Serialize>(&self, key: &str, value: &T) -> Result<()> {
        self.results_tree()?
            .insert(key, record::encode(value))
            .map_err(|e| self.err(e))?;
        self.flush()
    }

    fn get_result<T: serde::de::DeserializeOwned>(&self, key: &'static str) -> Result<Option<T>> {
        match self.results_tree()?.get(key).map_err(|e| self.err(e))? {
            None => Ok(None),
            Some(v) => record::decode::<T>(&v)
                .map(Some)
                .map_err(|e| Error::CorruptRecord {
                    tree: RESULTS,
                    key: key.to_string(),
                    reason: e.to_string(),
                }),
        }
    }

    /// Replace the saved clustering.
    pub fn put_clustering(&self, r: &ClusterResult) -> Result<()> {
        self.put_result(CLUSTERS_KEY, &StoredClustering::V1(r.clone()))
    }

    /// The last saved clustering, if any.
    pub fn clustering(&self) -> Result<Option<ClusterResult>> {
        Ok(self
            .get_result::<StoredClustering>(CLUSTERS_KEY)?
            .map(|StoredClustering::V1(r)| r))
    }

    /// Replace the saved classifier.
    pub fn put_classifier(&self, r: &ClassifierResult) -> Result<()> {
        self.put_result(CLASSIFIER_KEY, &StoredClassifier::V1(r.clone()))
    }

    /// The saved classifier, if any.
    /// A model whose shapes do not fit together is a corrupt record.
    pub fn classifier(&self) -> Result<Option<ClassifierResult>> {
        let Some(StoredClassifier::V1(r)) = self.get_result::<StoredClassifier>(CLASSIFIER_KEY)?
        else {
            return Ok(None);
        };
        let problem = r.model.shape_problem().or_else(|| {
            (r.classes.len() < model_classes(&r.model)).then(|| {
                format!(
                    "{} class names for a {}-class model",
                    r.classes.len(),
                    model_classes(&r.model)
                )
            })
        });
        match problem {
            Some(reason) => Err(Error::CorruptRecord {
                tree: RESULTS,
                key: CLASSIFIER_KEY.to_string(),
                reason,
            }),
            None => Ok(Some(r)),
        }
    }
}

fn model_classes(m: &Model) -> usize {
    match m {
        Model::Logistic(m) => m.classes,
        Model::Knn(m) => m.classes,
    }
}
