//! Argument groups that several commands flatten into their own
//! (`#[command(flatten)]`): decoding limits and the CNN model. They live
//! apart from `args` and `learn_args` so both can use them without
//! depending on each other, and each converts into its library config here.

use std::path::PathBuf;

use imgdex::decode::DecodeConfig;
use imgdex::features::embedding::EmbedConfig;

#[derive(Debug, Clone, clap::Args)]
pub struct DecodeArgs {
    /// Refuse images with more pixels than this (decompression-bomb guard).
    #[arg(long, default_value_t = 100_000_000)]
    pub max_pixels: u64,
    /// Decode JPEGs at full size instead of a reduced DCT scale.
    #[arg(long)]
    pub no_scaled_jpeg: bool,
    /// Decode PNGs whole before resizing them (the same pixels, with the
    /// full-size picture in memory; for comparison).
    #[arg(long, hide = true)]
    pub no_streamed_png: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ModelArgs {
    /// ONNX image model (a `.json` sidecar beside it describes its input);
    /// default: `$IMGDEX_MODELS/efficientnet-lite0-int8.onnx` (reading a
    /// store: the model that built it), installed by scripts/setup with the
    /// float `efficientnet-lite0.onnx`.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// ONNX Runtime shared library (default: $ORT_DYLIB_PATH, else libonnxruntime.so beside the model).
    #[arg(long, hide = true)]
    pub ort_lib: Option<PathBuf>,
    /// Skip CNN embeddings (no model or ONNX Runtime needed).
    #[arg(long)]
    pub no_embed: bool,
}

impl From<&DecodeArgs> for DecodeConfig {
    fn from(a: &DecodeArgs) -> Self {
        DecodeConfig {
            max_pixels: a.max_pixels,
            scaled_jpeg: !a.no_scaled_jpeg,
            streamed_png: !a.no_streamed_png,
            ..DecodeConfig::default()
        }
    }
}

impl ModelArgs {
    /// The embedding settings these flags name, `--no-embed` aside.
    pub fn embed_settings(&self) -> EmbedConfig {
        let mut cfg = match &self.model {
            Some(model) => {
                EmbedConfig::in_dir(&EmbedConfig::default_dir()).with_model(model.clone())
            }
            None => EmbedConfig::in_dir(&EmbedConfig::default_dir()),
        };
        cfg.ort_library = self.ort_lib.clone();
        cfg
    }

    /// The embedding settings, or `None` with `--no-embed`.
    pub fn embed_config(&self) -> Option<EmbedConfig> {
        (!self.no_embed).then(|| self.embed_settings())
    }
}
