//! PNG's five row filters undone, and palette indices expanded, for the
//! rows [`super::png_inflate`] inflates itself. The png crate does both
//! but keeps them private; the loops here are its x86 form (one pixel's
//! channels side by side, the Paeth state kept as `i16`), which the
//! compiler vectorises across the channels of a pixel.

use png::Info;

/// Undo one row's filter (PNG filter types 0–4) in place; `prev` is the
/// unfiltered row above (zeros for the first).
pub(super) fn unfilter(filter: u8, channels: usize, prev: &[u8], cur: &mut [u8]) {
    match channels {
        1 => unfilter_n::<1>(filter, prev, cur),
        2 => unfilter_n::<2>(filter, prev, cur),
        3 => unfilter_n::<3>(filter, prev, cur),
        _ => unfilter_n::<4>(filter, prev, cur),
    }
}

fn unfilter_n<const N: usize>(filter: u8, prev: &[u8], cur: &mut [u8]) {
    match filter {
        1 => sub::<N>(cur),
        2 => cur
            .iter_mut()
            .zip(prev)
            .for_each(|(c, &b)| *c = c.wrapping_add(b)),
        3 => average::<N>(prev, cur),
        4 => paeth::<N>(prev, cur),
        _ => {}
    }
}

fn sub<const N: usize>(cur: &mut [u8]) {
    let mut a = [0u8; N];
    for px in cur.chunks_exact_mut(N) {
        for i in 0..N {
            px[i] = px[i].wrapping_add(a[i]);
        }
        a.copy_from_slice(px);
    }
}

fn average<const N: usize>(prev: &[u8], cur: &mut [u8]) {
    let mut a = [0u8; N];
    for (px, b) in cur.chunks_exact_mut(N).zip(prev.chunks_exact(N)) {
        for i in 0..N {
            let mean = (u16::from(a[i]) + u16::from(b[i])) / 2;
            px[i] = px[i].wrapping_add(mean as u8);
        }
        a.copy_from_slice(px);
    }
}

/// The Paeth filter, with the predictor in the png crate's x86 form (stb's
/// branch-free formulation, state kept as `i16` between pixels).
fn paeth<const N: usize>(prev: &[u8], cur: &mut [u8]) {
    let (mut a, mut c) = ([0i16; N], [0i16; N]);
    for (px, b) in cur.chunks_exact_mut(N).zip(prev.chunks_exact(N)) {
        for i in 0..N {
            px[i] = px[i].wrapping_add(paeth_predictor(a[i], i16::from(b[i]), c[i]));
            a[i] = i16::from(px[i]);
            c[i] = i16::from(b[i]);
        }
    }
}

/// Of left `a`, above `b` and upper-left `c`, the one closest to
/// `a + b - c` (ties: `a`, then `b`), as stb_image computes it.
fn paeth_predictor(a: i16, b: i16, c: i16) -> u8 {
    let thresh = c * 3 - (a + b);
    let (lo, hi) = (a.min(b), a.max(b));
    let t0 = if hi <= thresh { lo } else { c };
    let t1 = if thresh <= lo { hi } else { t0 };
    t1 as u8
}

/// A palette with its transparency, as RGBA entries (missing ones opaque
/// black), and the width its rows expand to.
pub(super) struct Palette {
    entries: [[u8; 4]; 256],
    channels: usize,
}

impl Palette {
    /// The png crate's rules: a tRNS longer than the palette is ignored,
    /// and its presence alone makes the output RGBA.
    pub(super) fn of(info: &Info) -> Palette {
        let plte = info.palette.as_deref().unwrap_or(&[]);
        let trns = info.trns.as_deref().unwrap_or(&[]);
        let trns = if trns.len() <= plte.len() / 3 {
            trns
        } else {
            &[]
        };
        let mut entries = [[0, 0, 0, 255]; 256];
        for (e, rgb) in entries.iter_mut().zip(plte.chunks_exact(3)) {
            e[..3].copy_from_slice(rgb);
        }
        for (e, &alpha) in entries.iter_mut().zip(trns) {
            e[3] = alpha;
        }
        let channels = if info.trns.is_some() { 4 } else { 3 };
        Palette { entries, channels }
    }

    pub(super) fn expand<'a>(&self, indices: &[u8], out: &'a mut Vec<u8>) -> &'a [u8] {
        out.resize(indices.len() * self.channels, 0);
        match self.channels {
            3 => self.expand_n::<3>(indices, out),
            _ => self.expand_n::<4>(indices, out),
        }
        out
    }

    /// With `N` known, each pixel is one fixed-size copy, not a `memcpy` call.
    fn expand_n<const N: usize>(&self, indices: &[u8], out: &mut [u8]) {
        for (px, &i) in out.chunks_exact_mut(N).zip(indices) {
            let entry = &self.entries[usize::from(i)];
            px.copy_from_slice(&entry[..N]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::paeth_predictor;

    /// The PNG specification's predictor, written as it states it.
    fn spec(a: u8, b: u8, c: u8) -> u8 {
        let p = i16::from(a) + i16::from(b) - i16::from(c);
        let (pa, pb, pc) = (
            (p - i16::from(a)).abs(),
            (p - i16::from(b)).abs(),
            (p - i16::from(c)).abs(),
        );
        if pa <= pb && pa <= pc {
            a
        } else if pb <= pc {
            b
        } else {
            c
        }
    }

    #[test]
    fn paeth_predictor_is_the_specification_s() {
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                for c in (0..=255u8).step_by(3) {
                    let got = paeth_predictor(a.into(), b.into(), c.into());
                    assert_eq!(got, spec(a, b, c), "a {a} b {b} c {c}");
                }
            }
        }
    }
}
