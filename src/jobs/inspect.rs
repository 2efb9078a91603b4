//! The `inspect` job: the features of one image file, as the index would
//! compute them, with an optional PNG plot of its three colour-channel
//! histogram curves.

use std::path::PathBuf;

use serde::Serialize;

use crate::decode::DecodeConfig;
use crate::error::Result;
use crate::features;
use crate::features::embedding::{top_k, EmbedConfig, Embedder};
use crate::features::hash::to_hex;
use crate::features::FeatureConfig;
use crate::plot::{self, Chart, Series};

#[derive(Debug, Clone)]
pub struct InspectConfig {
    pub image: PathBuf,
    pub plot: Option<PathBuf>,
    pub decode: DecodeConfig,
    pub features: FeatureConfig,
    /// Model for the CNN classes; `None` skips them.
    pub embed: Option<EmbedConfig>,
}

#[derive(Debug, Serialize)]
pub struct ClassScore {
    pub class: usize,
    pub label: String,
    pub probability: f32,
}

#[derive(Debug, Serialize)]
pub struct HashesHex {
    pub phash: String,
    pub dhash: String,
    pub ahash: String,
}

#[derive(Debug, Serialize)]
pub struct HistogramReport {
    pub bins: u16,
    pub r: Vec<f32>,
    pub g: Vec<f32>,
    pub b: Vec<f32>,
}

#[derive(Debug, Serialize)]
pub struct InspectReport {
    pub path: String,
    pub format: String,
    pub width: u32,
    pub height: u32,
    pub digest: String,
    pub hashes: HashesHex,
    pub histogram: HistogramReport,
    /// Top-5 classes from the model's logits (ImageNet for the default model).
    pub classes: Option<Vec<ClassScore>>,
    /// Why `classes` is missing, when the model could not be used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedding_error: Option<String>,
}

pub fn run(cfg: &InspectConfig) -> Result<InspectReport> {
    let a = features::analyse(&cfg.image, &cfg.decode, &cfg.features)?;
    let digest = blake3::Hash::from(a.digest).to_hex().to_string();
    let (decoded, f) = (a.decoded, a.features);
    let (classes, embedding_error) = match &cfg.embed {
        None => (None, None),
        Some(e) => match classify(e, &decoded) {
            Ok(c) => (c, None),
            Err(err) => (None, Some(err.to_string())),
        },
    };
    let nb = usize::from(f.histogram.bins);
    let v = &f.histogram.values;
    let report = InspectReport {
        path: std::fs::canonicalize(&cfg.image)
            .unwrap_or_else(|_| cfg.image.clone())
            .to_string_lossy()
            .into_owned(),
        format: decoded.format,
        width: decoded.width,
        height: decoded.height,
        digest,
        hashes: HashesHex {
            phash: to_hex(f.hashes.phash),
            dhash: to_hex(f.hashes.dhash),
            ahash: to_hex(f.hashes.ahash),
        },
        histogram: HistogramReport {
            bins: f.histogram.bins,
            r: v[..nb].to_vec(),
            g: v[nb..2 * nb].to_vec(),
            b: v[2 * nb..].to_vec(),
        },
        classes,
        embedding_error,
    };
    if let Some(out) = &cfg.plot {
        plot_histogram(&report, out)?;
    }
    Ok(report)
}

fn plot_histogram(r: &InspectReport, out: &std::path::Path) -> Result<()> {
    // Each bin at the centre of the channel values it holds (0-255), so
    // the axis reads the same whatever the number of bins.
    let curve = |label: &str, color, vals: &[f32]| Series {
        label: label.into(),
        color,
        points: vals
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let width = 256.0 / vals.len() as f64;
                ((i as f64 + 0.5) * width - 0.5, f64::from(v))
            })
            .collect(),
    };
    let name = std::path::Path::new(&r.path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let title = format!("Colour histogram of {name}");
    let chart = Chart {
        title: &title,
        x_label: "channel value (0-255)",
        y_label: "fraction of pixels",
        series: vec![
            curve("red", (220, 40, 40), &r.histogram.r),
            curve("green", (40, 160, 40), &r.histogram.g),
            curve("blue", (40, 70, 220), &r.histogram.b),
        ],
        highlight: None,
    };
    plot::draw(&chart, out)
}

/// Top-5 classes of the working image, labelled from `classes.txt` beside
/// the model when present.
fn classify(
    cfg: &EmbedConfig,
    decoded: &crate::decode::Decoded,
) -> Result<Option<Vec<ClassScore>>> {
    let mut embedder = Embedder::load(cfg)?;
    let input = embedder.preprocess_decoded(decoded);
    let out = embedder.embed(input, 1)?.remove(0);
    let Some(logits) = out.logits else {
        return Ok(None);
    };
    let labels: Vec<String> = cfg
        .model
        .parent()
        .map(|d| d.join("imagenet_classes.txt"))
        .and_then(|p| std::fs::read_to_string(p).ok())
        .map(|t| t.lines().map(str::to_string).collect())
        .unwrap_or_default();
    Ok(Some(
        top_k(&logits, 5)
            .into_iter()
            .map(|(class, probability)| ClassScore {
                class,
                label: labels
                    .get(class)
                    .cloned()
                    .unwrap_or_else(|| format!("class {class}")),
                probability,
            })
            .collect(),
    ))
}
