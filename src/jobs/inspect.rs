//! The `inspect` job: the features of one image file, as the index would
//! compute them, with an optional PNG plot of its three colour-channel
//! histogram curves.

use std::path::PathBuf;

use serde::Serialize;

use crate::config::{DecodeConfig, FeatureConfig};
use crate::error::Result;
use crate::features::hash::to_hex;
use crate::jobs::query::analyse_file;
use crate::plot::{self, Chart, Series};

#[derive(Debug, Clone)]
pub struct InspectConfig {
    pub image: PathBuf,
    pub plot: Option<PathBuf>,
    pub decode: DecodeConfig,
    pub features: FeatureConfig,
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
}

pub fn run(cfg: &InspectConfig) -> Result<InspectReport> {
    let bytes = crate::decode::read_file(&cfg.image, &cfg.decode)?;
    let digest = blake3::hash(&bytes).to_hex().to_string();
    drop(bytes);
    let (decoded, f) = analyse_file(&cfg.image, &cfg.decode, &cfg.features)?;
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
    };
    if let Some(out) = &cfg.plot {
        plot_histogram(&report, out)?;
    }
    Ok(report)
}

fn plot_histogram(r: &InspectReport, out: &std::path::Path) -> Result<()> {
    let curve = |label: &str, color, vals: &[f32]| Series {
        label: label.into(),
        color,
        points: vals.iter().enumerate().map(|(i, &v)| (i as f64, f64::from(v))).collect(),
    };
    let name = std::path::Path::new(&r.path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let title = format!("Colour histogram of {name}");
    let chart = Chart {
        title: &title,
        x_label: "bin",
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
