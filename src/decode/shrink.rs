//! Shrinking a picture while its rows are still arriving: the vertical pass
//! of `fast_image_resize`'s convolution with the working filter, fed one
//! decoded row at a time, so a large PNG never exists in memory at full
//! size. The pass is fast_image_resize's own arithmetic ([`super::kernel`]),
//! and fast_image_resize itself does the horizontal pass afterwards: for
//! 8-bit pixels it too runs the vertical pass first, so the working image
//! comes out byte for byte as resizing the whole decoded picture would make
//! it.

use std::collections::VecDeque;

use super::kernel::{convolve, Kernel, Kind};

/// Vertical shrink of rows of `row_len` bytes (pixels × channels) from
/// `src_h` rows to `dst_h`, with the `kind` filter. Source rows are kept
/// only while an output row still needs them (a few: a window spans about
/// the scale, twice that for bilinear), and each output row is summed once,
/// in registers.
pub(super) struct RowShrink {
    kernel: Kernel,
    row_len: usize,
    /// Output rows, `dst_h` × `row_len` bytes.
    out: Vec<u8>,
    /// Source rows from number `first` on; the last one may be in the
    /// making ([`Self::line`]).
    rows: VecDeque<Vec<u8>>,
    first: usize,
    spare: Vec<Vec<u8>>,
    /// Next output row to sum, and the number of source rows pushed.
    next: usize,
    y: usize,
}

impl RowShrink {
    pub(super) fn new(kind: Kind, src_h: u32, dst_h: u32, row_len: usize) -> RowShrink {
        RowShrink {
            kernel: Kernel::new(kind, src_h, dst_h),
            row_len,
            // Zeroed once rather than a row at a time as rows are summed.
            out: vec![0; dst_h as usize * row_len],
            rows: VecDeque::new(),
            first: 0,
            spare: Vec::new(),
            next: 0,
            y: 0,
        }
    }

    /// The buffer to write the next source row into (`row_len` bytes, then
    /// [`Self::push_line`]); it may hold an earlier row's bytes.
    pub(super) fn line(&mut self) -> &mut Vec<u8> {
        if self.rows.len() == self.y - self.first {
            // A spare row keeps its old bytes: the caller overwrites them.
            let row = self.spare.pop().unwrap_or_default();
            self.rows.push_back(row);
        }
        self.rows.back_mut().expect("just pushed")
    }

    /// Take the row written into [`Self::line`]; sum every output row whose
    /// window it completes and forget the rows no later window needs.
    pub(super) fn push_line(&mut self) {
        self.y += 1;
        while let Some(w) = self.kernel.windows.get(self.next) {
            if w.start + w.weights.len() > self.y {
                break;
            }
            self.sum_row(self.next);
            self.next += 1;
        }
        let keep_from = self
            .kernel
            .windows
            .get(self.next)
            .map_or(self.y, |w| w.start);
        while self.first < keep_from.min(self.y) {
            let row = self.rows.pop_front().expect("row is kept");
            self.spare.push(row);
            self.first += 1;
        }
    }

    /// Sum output row `j` (rows are summed in order) onto the output.
    fn sum_row(&mut self, j: usize) {
        let w = &self.kernel.windows[j];
        let rows =
            (w.start..w.start + w.weights.len()).map(|y| self.rows[y - self.first].as_slice());
        // The window's rows on the stack (no allocation per output row)
        // unless it is unusually tall.
        let mut few: [&[u8]; 16] = [&[]; 16];
        let many: Vec<&[u8]>;
        let rows = if w.weights.len() <= few.len() {
            few.iter_mut().zip(rows).for_each(|(slot, row)| *slot = row);
            &few[..w.weights.len()]
        } else {
            many = rows.collect();
            &many[..]
        };
        let at = j * self.row_len;
        convolve(
            &mut self.out[at..at + self.row_len],
            rows,
            &w.weights,
            self.kernel.precision,
        );
    }

    /// The shrunk rows, once every source row was pushed (every window
    /// ends within the source, so all rows were summed).
    pub(super) fn finish(self) -> Vec<u8> {
        self.out
    }
}
