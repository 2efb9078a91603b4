//! The rows of a small PNG, sooner: its compressed stream is inflated in
//! one call to libdeflate, which on clip art takes about a quarter less
//! time than the png crate's streaming inflater, and the rows are
//! unfiltered in place. Only 8-bit, non-interlaced pictures whose filtered
//! data fits in [`WHOLE_LIMIT`] and compresses at least 2:1 come here;
//! larger ones keep the png crate's row-by-row reading, which never holds
//! the whole picture, and photographs its faster decoding of literals.
//!
//! Anything this reader does not expect (a bad checksum, a stream of the
//! wrong length, an unknown filter, a missing or ragged palette) hands the
//! file back to the png crate, so damaged files fail as they always did.
//! One exception: a stream with valid CRCs that uses codes deflate forbids
//! (distance codes 30–31, length symbols 286–287, over-long code-length
//! headers, some incomplete Huffman codes) is decoded by libdeflate where
//! the png crate refuses it; only a crafted file or a broken encoder writes
//! one. The rows are the png crate's, byte for byte.

use png::{BitDepth, ColorType, Info};

use super::unfilter::{unfilter, Palette};

/// The most filtered bytes inflated at once (16 MiB: four megapixels of
/// RGBA). Nearly every picture under the pixel limit fits, and larger ones
/// would make a worker hold that much memory.
pub(super) const WHOLE_LIMIT: usize = 16 << 20;

/// The largest inflate buffer a worker thread keeps for its next picture
/// (4 MiB: most clip art), so that most pictures need no fresh zeroed
/// allocation (that zeroing cost 3% of indexing clip art).
const KEPT: usize = 4 << 20;

thread_local! {
    static BUFFER: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Call `row` with each unfiltered row of the picture in `bytes` (8-bit
/// samples; palette indices expanded to RGB, or RGBA when it has a tRNS
/// chunk, as the png crate's `EXPAND` does). `false`, before any call, when
/// the picture is not one this reader takes or its data is not as expected.
/// At most `limit` bytes (the decoding allocation bound) are inflated.
pub(super) fn inflated_rows(bytes: &[u8], info: &Info, limit: u64, row: impl FnMut(&[u8])) -> bool {
    let Some(channels) = raw_channels(info) else {
        return false;
    };
    let (w, h) = (info.width as usize, info.height as usize);
    let stride = w * channels;
    let limit = usize::try_from(limit).map_or(WHOLE_LIMIT, |l| l.min(WHOLE_LIMIT));
    let Some(size) = (stride + 1).checked_mul(h).filter(|&n| n <= limit) else {
        return false;
    };
    let mut buffer = BUFFER.take();
    let taken =
        inflate(bytes, size, &mut buffer) && rows(&mut buffer[..size], stride, channels, info, row);
    if buffer.capacity() <= KEPT {
        BUFFER.set(buffer);
    }
    taken
}

/// Unfilter the inflated `data` row by row, calling `row` with each, or
/// `false` before any call if a row names no filter PNG has.
fn rows(
    data: &mut [u8],
    stride: usize,
    channels: usize,
    info: &Info,
    mut row: impl FnMut(&[u8]),
) -> bool {
    if data.chunks_exact(stride + 1).any(|r| r[0] > 4) {
        return false;
    }
    let palette = (info.color_type == ColorType::Indexed).then(|| Palette::of(info));
    let mut expanded = Vec::new();
    let zero = vec![0u8; stride];
    let mut prev: &[u8] = &zero;
    for line in data.chunks_exact_mut(stride + 1) {
        let (filter, cur) = line.split_first_mut().expect("non-empty row");
        unfilter(*filter, channels, prev, cur);
        match &palette {
            Some(p) => row(p.expand(cur, &mut expanded)),
            None => row(cur),
        }
        prev = cur;
    }
    true
}

/// Samples per pixel of the filtered data, for the pictures read here.
fn raw_channels(info: &Info) -> Option<usize> {
    if info.bit_depth != BitDepth::Eight || info.interlaced {
        return None;
    }
    // tRNS on grey or RGB turns a colour key into alpha: the png crate's.
    if info.trns.is_some() && info.color_type != ColorType::Indexed {
        return None;
    }
    // A missing or ragged palette is the png crate's to refuse (it fails or
    // panics on one; decoding it as black would hide the damage).
    let palette = info.palette.as_deref().map_or(0, <[u8]>::len);
    if info.color_type == ColorType::Indexed && (palette == 0 || !palette.is_multiple_of(3)) {
        return None;
    }
    match info.color_type {
        ColorType::Grayscale | ColorType::Indexed => Some(1),
        ColorType::GrayscaleAlpha => Some(2),
        ColorType::Rgb => Some(3),
        ColorType::Rgba => Some(4),
    }
}

/// Whether the zlib stream of the picture's consecutive IDAT chunks
/// inflates to exactly `size` bytes, written to the start of `out` (grown
/// to fit).
fn inflate(bytes: &[u8], size: usize, out: &mut Vec<u8>) -> bool {
    let Some(stream) = image_data(bytes, max_stream(size)) else {
        return false;
    };
    let Some(deflate) = zlib_body(&stream) else {
        return false;
    };
    if out.len() < size {
        out.resize(size, 0);
    }
    let mut d = libdeflater::Decompressor::new();
    // Trailing bytes (the Adler-32, which the png crate does not check
    // either) are left unread.
    matches!(d.deflate_decompress(deflate, &mut out[..size]), Ok(n) if n == size)
}

/// The longest image data taken here for `size` inflated bytes: half of
/// them. A stream that compresses less than 2:1 (a photograph) is mostly
/// literals, which the png crate's inflater decodes faster (per-stream
/// timings on openclipart and the neardup PNGs: libdeflate took 1.12–1.21×
/// fdeflate's time below 2:1, 0.69–0.90× above). It also bounds the copy
/// of the IDAT run, however much junk follows the stream.
fn max_stream(size: usize) -> usize {
    size / 2
}

/// The concatenated data of the first run of IDAT chunks, each checked
/// against its CRC (as the png crate does), if no longer than `max`.
fn image_data(bytes: &[u8], max: usize) -> Option<std::borrow::Cow<'_, [u8]>> {
    let mut rest = bytes.get(8..)?;
    let mut parts: Vec<&[u8]> = Vec::new();
    let mut total = 0usize;
    while rest.len() >= 12 {
        let len = usize::try_from(u32::from_be_bytes(rest[..4].try_into().ok()?)).ok()?;
        let end = len.checked_add(12)?;
        let body = rest.get(4..end - 4)?;
        let crc = u32::from_be_bytes(rest.get(end - 4..end)?.try_into().ok()?);
        let (kind, data) = body.split_at(4);
        if kind == b"IDAT" {
            if crc32fast::hash(body) != crc {
                return None;
            }
            total += data.len();
            if total > max {
                return None;
            }
            parts.push(data);
        } else if !parts.is_empty() {
            break;
        }
        rest = &rest[end..];
    }
    match parts.as_slice() {
        [] => None,
        [one] => Some((*one).into()),
        many => Some(many.concat().into()),
    }
}

/// The deflate data inside a zlib stream: a two-byte header naming deflate,
/// a valid check value, no preset dictionary.
fn zlib_body(stream: &[u8]) -> Option<&[u8]> {
    let (&[cmf, flg], body) = stream.split_first_chunk::<2>()?;
    let valid = cmf & 0x0f == 8 && cmf >> 4 <= 7 && flg & 0x20 == 0;
    (valid && (u16::from(cmf) << 8 | u16::from(flg)) % 31 == 0).then_some(body)
}

#[cfg(test)]
mod tests {
    use super::{inflated_rows, WHOLE_LIMIT};
    use png::{BitDepth, ColorType, Filter, Transformations};

    /// A `w`×`h` PNG of random 8×8 blocks, every row filtered with `filter`.
    fn encode(w: u32, h: u32, colour: ColorType, filter: Filter, trns: bool) -> Vec<u8> {
        // Random values in 8×8-pixel blocks: varied bytes for the filters'
        // arithmetic, repeated enough to compress over 2:1 like clip art.
        let mut seed = 0x9e37_79b9_u32;
        let table: Vec<u8> = (0..256)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                seed as u8
            })
            .collect();
        let n = colour.samples();
        let data: Vec<u8> = (0..w as usize * h as usize * n)
            .map(|i| {
                let (x, y, c) = (i / n % w as usize, i / n / w as usize, i % n);
                table[(x / 8 * 31 + y / 8 * 17 + c * 5) % 256]
            })
            .collect();
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(colour);
        enc.set_depth(BitDepth::Eight);
        enc.set_filter(filter);
        if colour == ColorType::Indexed {
            enc.set_palette(
                (0..=255u8)
                    .flat_map(|i| [i, 255 - i, i / 2])
                    .collect::<Vec<_>>(),
            );
            if trns {
                enc.set_trns((0..100u8).map(|i| i * 2).collect::<Vec<_>>());
            }
        }
        let mut writer = enc.write_header().unwrap();
        writer.write_image_data(&data).unwrap();
        writer.finish().unwrap();
        out
    }

    /// The png crate's rows with `EXPAND`, and this module's.
    fn both(bytes: &[u8]) -> (Vec<Vec<u8>>, Option<Vec<Vec<u8>>>) {
        let mut dec = png::Decoder::new(std::io::Cursor::new(bytes));
        dec.set_transformations(Transformations::EXPAND);
        let mut reader = dec.read_info().unwrap();
        let mut theirs = Vec::new();
        while let Ok(Some(row)) = reader.next_row() {
            theirs.push(row.data().to_vec());
        }
        let mut ours = Vec::new();
        let taken = inflated_rows(bytes, reader.info(), u64::MAX, |r| ours.push(r.to_vec()));
        (theirs, taken.then_some(ours))
    }

    #[test]
    fn rows_are_the_png_crate_s_for_every_filter_and_layout() {
        use ColorType as C;
        let layouts = [
            (C::Grayscale, false),
            (C::GrayscaleAlpha, false),
            (C::Rgb, false),
        ];
        let layouts =
            layouts
                .into_iter()
                .chain([(C::Rgba, false), (C::Indexed, false), (C::Indexed, true)]);
        for (colour, trns) in layouts {
            for filter in [
                Filter::NoFilter,
                Filter::Sub,
                Filter::Up,
                Filter::Avg,
                Filter::Paeth,
                Filter::Adaptive,
            ] {
                let what = format!("{colour:?} trns {trns} {filter:?}");
                let (theirs, ours) = both(&encode(97, 61, colour, filter, trns));
                let ours = ours.unwrap_or_else(|| panic!("{what}: not taken"));
                assert_eq!(theirs.len(), 61, "{what}");
                assert!(theirs == ours, "{what}: rows differ");
            }
        }
    }

    #[test]
    fn unexpected_data_is_left_to_the_png_crate() {
        let good = encode(64, 48, ColorType::Rgb, Filter::Paeth, false);
        assert!(both(&good).1.is_some());
        // A flipped bit in the IDAT's CRC (the data itself intact).
        let idat = good.windows(4).position(|w| w == b"IDAT").unwrap();
        let len = u32::from_be_bytes(good[idat - 4..idat].try_into().unwrap()) as usize;
        let mut bad_crc = good.clone();
        bad_crc[idat + 4 + len] ^= 0x10;
        // Rows one byte narrower than the stream: it inflates too long.
        let mut narrow = good.clone();
        narrow[19] -= 1;
        let crc = crc32fast::hash(&narrow[12..29]);
        narrow[29..33].copy_from_slice(&crc.to_be_bytes());
        for (what, bytes) in [("bad crc", &bad_crc), ("narrow", &narrow)] {
            let dec = png::Decoder::new(std::io::Cursor::new(bytes.as_slice()));
            let reader = dec.read_info().unwrap();
            assert!(
                !inflated_rows(bytes, reader.info(), u64::MAX, |_| panic!("{what}: a row")),
                "{what}"
            );
        }
        // A picture past the limit keeps the png crate's streaming reader.
        let tall = (WHOLE_LIMIT / (3 * 64 + 1) + 1) as u32;
        assert!(both(&encode(64, tall, ColorType::Rgb, Filter::Up, false))
            .1
            .is_none());
    }

    /// A PNG of `chunks` between the signature and IEND, CRCs computed.
    fn craft(chunks: &[(&[u8; 4], Vec<u8>)]) -> Vec<u8> {
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        for (kind, data) in chunks.iter().chain(&[(b"IEND", Vec::new())]) {
            out.extend((data.len() as u32).to_be_bytes());
            let start = out.len();
            out.extend(kind.as_slice());
            out.extend(data);
            let crc = crc32fast::hash(&out[start..]);
            out.extend(crc.to_be_bytes());
        }
        out
    }

    /// IHDR and zlib data of a `w`×`h` 8-bit picture of `colour` (a PNG
    /// colour type) whose rows are all `row` (filter byte included).
    fn header_and_data(w: u32, h: u32, colour: u8, row: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let mut ihdr = w.to_be_bytes().to_vec();
        ihdr.extend(h.to_be_bytes());
        ihdr.extend([8, colour, 0, 0, 0]);
        let raw = row.repeat(h as usize);
        let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::default());
        let mut z = vec![0; c.zlib_compress_bound(raw.len())];
        let n = c.zlib_compress(&raw, &mut z).unwrap();
        z.truncate(n);
        (ihdr, z)
    }

    fn taken(bytes: &[u8]) -> bool {
        let reader = png::Decoder::new(std::io::Cursor::new(bytes))
            .read_info()
            .unwrap();
        inflated_rows(bytes, reader.info(), u64::MAX, |_| {})
    }

    #[test]
    fn palettes_and_streams_the_png_crate_refuses_are_left_to_it() {
        let row: Vec<u8> = std::iter::once(0).chain(0..16).collect();
        let (ihdr, z) = header_and_data(16, 4, 3, &row);
        let plte = |n: usize| (b"PLTE", (0..n as u8).collect::<Vec<u8>>());
        let good = craft(&[(b"IHDR", ihdr.clone()), plte(48), (b"IDAT", z.clone())]);
        assert!(taken(&good), "a 16-entry palette");
        // No palette: the png crate fails; read as black it would pass.
        assert!(!taken(&craft(&[
            (b"IHDR", ihdr.clone()),
            (b"IDAT", z.clone())
        ])));
        // A palette of 4 bytes: the png crate panics on it.
        assert!(!taken(&craft(&[
            (b"IHDR", ihdr.clone()),
            plte(4),
            (b"IDAT", z.clone())
        ])));
        // Junk after the stream in further IDATs is not copied (nor is a
        // stream compressing less than 2:1).
        let (ihdr, z) = header_and_data(16, 4, 0, &row);
        let junk = vec![7u8; 4096];
        let bytes = craft(&[(b"IHDR", ihdr), (b"IDAT", z), (b"IDAT", junk)]);
        assert!(!taken(&bytes), "4 KiB of image data for 68 bytes");
    }
}
