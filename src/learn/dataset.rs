//! Feature matrices from the store: one row per stored image that has the
//! feature under the store's current fingerprint, in image-id order, with
//! the image ids and paths alongside. Embeddings are the L2-normalised CNN
//! vectors; histograms are the square roots of the normalised RGB
//! histograms, so that Euclidean distance between rows is the Hellinger
//! distance `query --by histogram` ranks by.

use std::collections::HashMap;

use ndarray::Array2;

use crate::error::{Error, Result};
use crate::store::record::fingerprint_code;
use crate::store::{ImageId, ImageRecord, Store};

/// Which stored feature becomes the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureKind {
    Embedding,
    Histogram,
}

impl FeatureKind {
    pub fn name(self) -> &'static str {
        match self {
            FeatureKind::Embedding => "embedding",
            FeatureKind::Histogram => "histogram",
        }
    }
}

/// Rows of one feature, with the image each row belongs to.
#[derive(Debug, Clone)]
pub struct FeatureSet {
    pub kind: FeatureKind,
    pub ids: Vec<ImageId>,
    /// Raw path bytes, as stored.
    pub paths: Vec<Vec<u8>>,
    /// `images × dim`.
    pub x: Array2<f32>,
    /// The feature's fingerprint string in the store's `meta` tree.
    pub fingerprint: String,
}

impl FeatureSet {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// Load `kind` for every image that has it under the current fingerprint.
pub fn load(store: &Store, kind: FeatureKind) -> Result<FeatureSet> {
    let images = store.scan_images()?.records;
    match kind {
        FeatureKind::Embedding => embeddings(store, images),
        FeatureKind::Histogram => histograms(store, images),
    }
}

fn missing(store: &Store, kind: FeatureKind) -> Error {
    let hint = match kind {
        FeatureKind::Embedding => "; index it with embedding on first",
        FeatureKind::Histogram => "; run `imgdex index <DIR>` first",
    };
    Error::NoFeatures {
        path: store.dir().to_path_buf(),
        feature: kind.name(),
        hint: hint.into(),
    }
}

fn embeddings(store: &Store, images: Vec<(ImageId, ImageRecord)>) -> Result<FeatureSet> {
    let fp = store
        .fingerprint("embedding")?
        .ok_or_else(|| missing(store, FeatureKind::Embedding))?;
    let paths: HashMap<ImageId, Vec<u8>> = images.into_iter().map(|(id, r)| (id, r.path)).collect();
    let stored = store.current_embeddings(&fp)?;
    let mut set = FeatureSet {
        kind: FeatureKind::Embedding,
        ids: vec![],
        paths: vec![],
        x: Array2::zeros((0, 0)),
        fingerprint: fp,
    };
    let mut data = Vec::new();
    let mut dim = 0;
    for (id, v) in stored {
        let Some(p) = paths.get(&id) else { continue };
        dim = v.len();
        set.ids.push(id);
        set.paths.push(p.clone());
        data.extend(v);
    }
    finish(store, set, data, dim)
}

fn histograms(store: &Store, images: Vec<(ImageId, ImageRecord)>) -> Result<FeatureSet> {
    let fp = store
        .fingerprint("histogram")?
        .ok_or_else(|| missing(store, FeatureKind::Histogram))?;
    let code = fingerprint_code(&fp);
    let mut set = FeatureSet {
        kind: FeatureKind::Histogram,
        ids: vec![],
        paths: vec![],
        x: Array2::zeros((0, 0)),
        fingerprint: fp,
    };
    let mut data = Vec::new();
    let mut dim = 0;
    for (id, r) in images {
        let Some(h) = r.histogram.as_ref().filter(|t| t.fingerprint == code) else {
            continue;
        };
        if dim == 0 {
            dim = h.value.values.len();
        }
        if h.value.values.len() != dim {
            continue;
        }
        data.extend(h.value.values.iter().map(|v| v.max(0.0).sqrt()));
        set.ids.push(id);
        set.paths.push(r.path);
    }
    finish(store, set, data, dim)
}

fn finish(store: &Store, mut set: FeatureSet, data: Vec<f32>, dim: usize) -> Result<FeatureSet> {
    if set.ids.is_empty() {
        return Err(missing(store, set.kind));
    }
    set.x = Array2::from_shape_vec((set.ids.len(), dim), data).expect("one row per image");
    Ok(set)
}
