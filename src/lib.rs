//! imgdex: an embedded-database image index and search engine.
//!
//! The pipeline runs in stages, one module each: [`walk`] finds candidate
//! files, [`decode`] turns bytes into one small working RGB image, [`features`]
//! derives perceptual hashes and colour histograms from it, [`store`] keeps the
//! derived records in a sled database, [`index`] answers nearest-neighbour
//! questions over them, and [`jobs`] strings the stages together into the
//! operations the CLI exposes (index, query, dupes, inspect, info), each
//! config in, report out. [`service`] is the one stateful part: what
//! `imgdex serve` keeps loaded between requests, answering with the jobs'
//! own reports. The CLI binary only turns arguments into the config types
//! defined here.

pub mod config;
pub mod decode;
pub mod error;
#[doc(hidden)]
pub mod fault;
pub mod features;
pub mod jobs;
pub mod learn;
pub mod paths;
pub mod plot;
pub mod report;
pub mod search;
pub mod service;
pub mod store;
pub mod vecmath;
pub mod walk;

/// Unit tests that cannot run on this machine (a CPU feature missing) say
/// so where it is seen, and fail instead under `IMGDEX_REQUIRE_ALL=1`, as
/// the integration tests' `util::skip` does.
#[cfg(test)]
pub(crate) fn skip_test(reason: &str) {
    if std::env::var_os("IMGDEX_REQUIRE_ALL").is_some_and(|v| v == "1") {
        panic!("{reason}, and IMGDEX_REQUIRE_ALL=1 forbids skipping");
    }
    // Straight to the process's stderr: the harness captures `eprintln!`.
    let test = std::thread::current().name().unwrap_or("?").to_string();
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("SKIPPED: {test}: {reason}\n").as_bytes(),
    );
}

pub use decode::heif;
pub use error::{Error, Result};
pub use store::migrations;
