//! Progress bars on stderr for the long jobs (cluster, classify, dupes): a
//! counted bar when the number of steps is known, else a spinner; hidden
//! when the caller asks for no progress (not a terminal, or `--quiet`).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar of `len` steps (a spinner for `None`) labelled `message`.
pub fn progress_bar(len: Option<u64>, visible: bool, message: String) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr());
    let template = if len.is_some() {
        "{spinner} {msg} {pos}/{len} [{elapsed_precise}] {wide_bar} eta {eta}"
    } else {
        "{spinner} {msg} [{elapsed_precise}]"
    };
    pb.set_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.set_message(message);
    pb.enable_steady_tick(std::time::Duration::from_millis(200));
    pb
}
