//! The feature stage's settings and the fingerprints that name them: a
//! fingerprint is stored with every feature record, and when it changes the
//! features it covers are recomputed on the next `index`. The histogram
//! fingerprint is also parsed back, so a store says how it was indexed.

use crate::decode::WORKING_IMAGE;
use crate::error::{Error, Result};

/// Which features to compute and with which parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureConfig {
    /// Bins per colour channel of the RGB histogram.
    pub histogram_bins: u16,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        FeatureConfig { histogram_bins: 32 }
    }
}

impl FeatureConfig {
    pub fn validate(&self) -> Result<()> {
        if !(2..=256).contains(&self.histogram_bins) {
            return Err(Error::InvalidArgument(format!(
                "histogram bins must be between 2 and 256, got {}",
                self.histogram_bins
            )));
        }
        Ok(())
    }

    /// Identifies the hash algorithms and sizes; part of every hash record.
    pub fn hash_fingerprint(&self) -> String {
        super::hash::fingerprint()
    }

    /// Identifies the histogram layout and the working image it is counted
    /// on; part of every histogram record.
    pub fn histogram_fingerprint(&self) -> String {
        format!("rgb-{}-l1norm-v2/{WORKING_IMAGE}", self.histogram_bins)
    }

    /// The settings a store was indexed with, read back from its histogram
    /// fingerprint (`rgb-<bins>-l1norm-v<n>[/<working image>]`, as
    /// [`Self::histogram_fingerprint`] writes it and older versions wrote
    /// it), so a query image is analysed the same way. `None` for a
    /// fingerprint of another layout.
    pub fn from_histogram_fingerprint(fp: &str) -> Option<FeatureConfig> {
        let rest = fp.strip_prefix("rgb-")?;
        let (bins, layout) = rest.split_once('-')?;
        if bins.is_empty() || !bins.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        layout.strip_prefix("l1norm-v")?;
        Some(FeatureConfig {
            histogram_bins: bins.parse().ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::FeatureConfig;

    #[test]
    fn histogram_fingerprint_round_trips() {
        for bins in [2u16, 16, 32, 256] {
            let cfg = FeatureConfig {
                histogram_bins: bins,
            };
            let back = FeatureConfig::from_histogram_fingerprint(&cfg.histogram_fingerprint());
            assert_eq!(back, Some(cfg));
        }
        // As stores indexed before the working image was named wrote them.
        for (fp, bins) in [("rgb-16-l1norm-v2", 16), ("rgb-32-l1norm-v1", 32)] {
            let back = FeatureConfig::from_histogram_fingerprint(fp);
            assert_eq!(back.map(|c| c.histogram_bins), Some(bins), "{fp}");
        }
        for fp in [
            "",
            "rgb-",
            "rgb--l1norm-v1",
            "rgb-x-l1norm-v1",
            "hsv-32-l1norm-v1",
            "rgb-32-l2-v1",
            "rgb-99999-l1norm-v1",
        ] {
            assert_eq!(FeatureConfig::from_histogram_fingerprint(fp), None, "{fp}");
        }
    }
}
