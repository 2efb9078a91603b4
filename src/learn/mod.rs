//! Learning from the derived features: k-means clustering with a choice of
//! k (elbow of the inertia curve, silhouette), and classifiers (multinomial
//! logistic regression, k nearest neighbours) trained on labelled
//! embeddings. Everything here works on plain `f32` matrices (one row per
//! sample), so the same code serves the store's embeddings and histograms,
//! a CSV table, or a matrix from another tool; [`dataset`] (training
//! data) and [`results`] (saved outcomes) are the parts that touch the
//! store. Every random choice goes through a seeded [`rng::Rng`], so a run
//! with the same seed gives the same result.

pub mod classifier;
pub mod dataset;
pub mod kmeans;
pub mod labels;
pub mod lloyd;
pub mod metrics;
pub mod npy;
pub mod results;
pub mod rng;
pub mod select;
pub mod softmax;
pub mod table;
