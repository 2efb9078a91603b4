//! What a client asks `dupes` for, before it is checked: a preset and the
//! settings that override it, as the CLI's flags (`src/cli/dupes.rs`) and
//! the HTTP API's query (`GET /api/dupes`, `POST /api/dupes/apply`) give
//! them. Both fill a [`DupesRequest`] and call [`DupesRequest::config`],
//! the one place that merges and validates it into a [`DupesConfig`]
//! (ripgrep's low-level args → high-level args). Errors name the setting
//! (`Error::InvalidSetting`), never a flag: the CLI words it as its flag.

use std::path::PathBuf;
use std::str::FromStr;

use super::{canonical_folders, DupesBy, DupesConfig, Neighbours, Preset};
use crate::error::{Error, Result};
use crate::search::hamming::HashRule;

/// A `dupes` request: each `None` keeps the preset's value.
#[derive(Debug, Clone, Default)]
pub struct DupesRequest {
    /// The preset the settings start from (default: `Preset::Default`).
    pub preset: Option<Preset>,
    pub by: Option<DupesBy>,
    /// Most pHash bits apart for a hash duplicate (and dHash, unless
    /// `dhash_threshold` is given).
    pub threshold: Option<u32>,
    pub dhash_threshold: Option<u32>,
    pub max_cosine: Option<f32>,
    pub weak_cosine: Option<f32>,
    pub weak_phash: Option<u32>,
    pub max_histogram: Option<f32>,
    pub neighbours: Option<Neighbours>,
    /// Also report every candidate pair with its evidence.
    pub with_pairs: bool,
    /// Reference folders, as given (resolved by [`canonical_folders`]).
    pub reference: Vec<PathBuf>,
}

impl DupesRequest {
    /// The checked configuration: the preset, each given setting over it,
    /// range-checked, then the reference folders resolved (an error there
    /// is the folder's own, naming it).
    pub fn config(&self) -> Result<DupesConfig> {
        let mut cfg = DupesConfig::preset(self.preset.unwrap_or(Preset::Default));
        if let Some(by) = self.by {
            cfg.by = by;
        }
        if let Some(v) = self.max_histogram {
            cfg.max_histogram = Some(v);
        }
        if let Some(t) = self.threshold {
            cfg.rule = HashRule {
                max_phash: t,
                max_dhash: t,
            };
        }
        if let Some(t) = self.dhash_threshold {
            cfg.rule.max_dhash = t;
        }
        let e = &mut cfg.embedding;
        e.max_cosine = self.max_cosine.unwrap_or(e.max_cosine);
        e.weak_cosine = self.weak_cosine.unwrap_or(e.weak_cosine);
        e.weak_phash = self.weak_phash.unwrap_or(e.weak_phash);
        if let Some(n) = self.neighbours {
            cfg.neighbours = n;
        }
        cfg.with_pairs = self.with_pairs;
        cfg.validate()?;
        cfg.reference = canonical_folders(&self.reference)?;
        Ok(cfg)
    }
}

impl FromStr for DupesBy {
    type Err = Error;

    fn from_str(s: &str) -> Result<DupesBy> {
        match s {
            "auto" => Ok(DupesBy::Auto),
            "embedding" => Ok(DupesBy::Embedding),
            "hash" => Ok(DupesBy::Hash),
            "exact" => Ok(DupesBy::Exact),
            other => Err(Error::InvalidSetting {
                setting: "by",
                reason: format!("must be auto, embedding, hash or exact, got `{other}`"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_override_the_preset_and_are_checked_by_name() {
        let req = DupesRequest {
            threshold: Some(7),
            weak_phash: Some(20),
            ..DupesRequest::default()
        };
        let cfg = req.config().unwrap();
        assert_eq!((cfg.rule.max_phash, cfg.rule.max_dhash), (7, 7));
        assert_eq!(cfg.embedding.weak_phash, 20);
        let bad = DupesRequest {
            max_histogram: Some(1.5),
            ..DupesRequest::default()
        };
        let err = bad.config().unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidSetting {
                    setting: "max_histogram",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(!err.to_string().contains("--"), "{err}");
        assert!("sideways".parse::<DupesBy>().is_err());
        assert_eq!("hash".parse::<DupesBy>().unwrap(), DupesBy::Hash);
    }
}
