//! Fault injection for tests: the guards that keep one bad file from
//! stopping a run (a panicking decoder, a panicking inference thread) can
//! only be tested if something panics on demand. Setting
//! `IMGDEX_TEST_PANIC=STAGE:NAME` (STAGE `decode` or `inference`) makes that
//! stage panic on any file whose path contains NAME. Unset, it costs one
//! environment lookup per file and does nothing.

use std::path::Path;

/// The environment variable that arms the fault.
pub const ENV: &str = "IMGDEX_TEST_PANIC";

/// Panic if the fault for `stage` is armed and `path` matches it.
pub fn inject(stage: &str, path: &Path) {
    let Some(spec) = std::env::var_os(ENV) else {
        return;
    };
    let spec = spec.to_string_lossy();
    let Some((want, name)) = spec.split_once(':') else {
        return;
    };
    if want == stage && !name.is_empty() && path.to_string_lossy().contains(name) {
        panic!("{ENV}: injected {stage} panic on {}", path.display());
    }
}
