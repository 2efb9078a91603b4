//! Validated settings for every stage, in one place for callers: each stage
//! owns its config beside its code ([`DecodeConfig`] in `decode`,
//! [`FeatureConfig`] and its fingerprints in `features`, [`IndexConfig`] in
//! `jobs::index`) and this module only re-exports them. The CLI (or any
//! other caller) builds these; the library never parses command-line
//! arguments itself.

pub use crate::decode::DecodeConfig;
pub use crate::features::FeatureConfig;
pub use crate::jobs::index::IndexConfig;
