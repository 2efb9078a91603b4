//! The row-by-row PNG path must give the working image that decoding the
//! whole picture gives, byte for byte, for every PNG layout (stores keep
//! the features computed either way).

use std::path::Path;

use imgdex::decode::{decode, DecodeConfig, Decoded};

/// Deterministic bytes.
fn noise(seed: u64) -> impl FnMut() -> u8 {
    let mut state = seed | 1;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 24) as u8
    }
}

/// A picture with flat areas, noise, a transparent frame and soft alpha
/// edges (alpha ignored by layouts without it).
fn pixel(x: u32, y: u32, w: u32, h: u32, rnd: &mut impl FnMut() -> u8) -> [u8; 4] {
    let edge = x.min(y).min(w - 1 - x).min(h - 1 - y);
    let a = match edge {
        0..8 => 0,
        8..40 => (edge * 6) as u8,
        _ => 255,
    };
    let c = if (x / 37 + y / 23).is_multiple_of(3) {
        [rnd(), rnd(), rnd()]
    } else {
        [(x % 256) as u8, (y % 256) as u8, 90]
    };
    [c[0], c[1], c[2], a]
}

fn encode(w: u32, h: u32, colour: png::ColorType, depth: png::BitDepth) -> Vec<u8> {
    let mut rnd = noise(u64::from(w * 31 + h));
    let mut data = Vec::new();
    let levels = 1u32 << (depth as u8).min(8);
    for y in 0..h {
        for x in 0..w {
            let p = pixel(x, y, w, h, &mut rnd);
            let grey = ((u32::from(p[0]) + u32::from(p[1]) * 2) / 3) as u8;
            match colour {
                png::ColorType::Rgba => data.extend_from_slice(&p),
                png::ColorType::Rgb => data.extend_from_slice(&p[..3]),
                png::ColorType::GrayscaleAlpha => data.extend_from_slice(&[grey, p[3]]),
                png::ColorType::Grayscale => {
                    data.push((u32::from(grey) * levels / 256) as u8);
                }
                png::ColorType::Indexed => data.push(grey / 16),
            }
        }
    }
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(colour);
    enc.set_depth(png::BitDepth::Eight);
    if colour == png::ColorType::Indexed {
        enc.set_palette(
            (0..16u8)
                .flat_map(|i| [i * 16, 255 - i * 16, i * 7])
                .collect::<Vec<_>>(),
        );
        enc.set_trns(
            (0..16u8)
                .map(|i| if i == 0 { 0 } else { 255 - i })
                .collect::<Vec<_>>(),
        );
    }
    if depth != png::BitDepth::Eight {
        enc.set_depth(depth);
        data = pack(&data, w, depth as u8);
    }
    let mut writer = enc.write_header().unwrap();
    writer.write_image_data(&data).unwrap();
    writer.finish().unwrap();
    out
}

/// Grey samples of `bits` bits packed into bytes, rows padded.
fn pack(samples: &[u8], w: u32, bits: u8) -> Vec<u8> {
    let per = 8 / bits as usize;
    samples
        .chunks(w as usize)
        .flat_map(|row| {
            row.chunks(per).map(move |c| {
                c.iter()
                    .enumerate()
                    .fold(0u8, |b, (i, &s)| b | (s << (8 - bits as usize * (i + 1))))
            })
        })
        .collect()
}

/// The PNG decoded by the row path (its stream inflated by libdeflate when
/// small) and by the general path, after checking that the row path gives
/// the same with the png crate's own inflater.
fn both_ways(bytes: &[u8]) -> (Decoded, Decoded) {
    let path = Path::new("t.png");
    let streamed = decode(path, bytes, &DecodeConfig::default()).unwrap();
    let png_crate = DecodeConfig {
        inflate_png: false,
        ..DecodeConfig::default()
    };
    let png_crate = decode(path, bytes, &png_crate).unwrap();
    assert_same(
        &streamed,
        &png_crate,
        "libdeflate against the png crate's rows",
    );
    let whole = DecodeConfig {
        streamed_png: false,
        ..DecodeConfig::default()
    };
    (streamed, decode(path, bytes, &whole).unwrap())
}

fn assert_same(a: &Decoded, b: &Decoded, what: &str) {
    assert_eq!((a.width, a.height), (b.width, b.height), "{what}");
    assert_eq!(a.image.dimensions(), b.image.dimensions(), "{what}");
    assert!(
        a.image.as_raw() == b.image.as_raw(),
        "{what}: working images differ"
    );
    assert_eq!(a.cutout, b.cutout, "{what}");
    assert_eq!(a.content, b.content, "{what}");
}

#[test]
fn png_rows_give_the_whole_picture_s_working_image() {
    use png::{BitDepth as D, ColorType as C};
    let cases = [
        (C::Rgba, D::Eight, 700, 500),
        (C::Rgba, D::Eight, 257, 9000), // long side capped
        (C::Rgba, D::Eight, 300, 200),  // already at working size
        (C::Rgb, D::Eight, 900, 301),
        (C::Rgb, D::Eight, 255, 255),
        (C::GrayscaleAlpha, D::Eight, 520, 800),
        (C::Grayscale, D::Eight, 1000, 999),
        (C::Grayscale, D::One, 640, 480),
        (C::Grayscale, D::Four, 100, 90),
        (C::Indexed, D::Eight, 611, 577), // palette with transparency
        (C::Rgba, D::Sixteen, 400, 300),  // the whole-picture path's
        // Windows of about 20 and 40 rows: past the on-stack row lists.
        (C::Rgb, D::Eight, 150, 20000),
        (C::Grayscale, D::Eight, 200, 40000),
    ];
    for (colour, depth, w, h) in cases {
        let what = format!("{colour:?} {depth:?} {w}x{h}");
        let bytes = if depth == D::Sixteen {
            let img = image::DynamicImage::ImageRgba8(image::RgbaImage::from_fn(w, h, |x, y| {
                image::Rgba(pixel(x, y, w, h, &mut noise(7)))
            }));
            let mut out = Vec::new();
            image::DynamicImage::ImageRgba16(img.to_rgba16())
                .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
                .unwrap();
            out
        } else {
            encode(w, h, colour, depth)
        };
        let (streamed, whole) = both_ways(&bytes);
        assert_same(&streamed, &whole, &what);
        if colour == C::Rgba || colour == C::GrayscaleAlpha {
            assert!(streamed.cutout, "{what}: transparent corners");
        }
    }
}

#[test]
fn a_truncated_png_fails_the_same_way_on_both_paths() {
    let bytes = encode(800, 600, png::ColorType::Rgb, png::BitDepth::Eight);
    let cut = &bytes[..bytes.len() / 2];
    let path = Path::new("cut.png");
    let streamed = decode(path, cut, &DecodeConfig::default()).unwrap_err();
    let whole = DecodeConfig {
        streamed_png: false,
        ..DecodeConfig::default()
    };
    let whole = decode(path, cut, &whole).unwrap_err();
    assert_eq!(streamed.to_string(), whole.to_string());
    assert!(streamed.to_string().contains("cut.png"), "{streamed}");
}

/// Damage anywhere in a PNG (flipped bytes, cuts) gives the same outcome
/// whether its stream is inflated by libdeflate or by the png crate: the
/// same working image, or the same error. The libdeflate reader must hand
/// every file it finds wrong back to the png crate rather than decide.
/// (Not quite every one: libdeflate decodes a few codes deflate forbids,
/// which fdeflate refuses; a review found them in 0.4% of single-bit flips
/// with the CRCs recomputed. None occurs among these seeded mutants.)
#[test]
fn damaged_pngs_decode_or_fail_alike_with_either_inflater() {
    use png::{BitDepth as D, ColorType as C};
    let path = Path::new("damaged.png");
    let png_crate = DecodeConfig {
        inflate_png: false,
        ..DecodeConfig::default()
    };
    let mut rnd = noise(2024);
    let (mut decoded, mut failed) = (0, 0);
    for colour in [C::Rgba, C::Rgb, C::Indexed] {
        let good = encode(300, 200, colour, D::Eight);
        for round in 0..150 {
            let mut bytes = good.clone();
            if round % 5 == 4 {
                let cut = 33 + (usize::from(rnd()) << 8 | usize::from(rnd())) % (good.len() - 33);
                bytes.truncate(cut);
            } else {
                for _ in 0..=round % 3 {
                    let at = 8 + (usize::from(rnd()) << 8 | usize::from(rnd())) % (good.len() - 8);
                    bytes[at] ^= rnd() | 1;
                }
                // Mostly with the CRCs made right again, so the damage
                // reaches the inflaters instead of stopping at a checksum.
                if round % 5 != 3 {
                    fix_crcs(&mut bytes);
                }
            }
            let ours = decode(path, &bytes, &DecodeConfig::default());
            let theirs = decode(path, &bytes, &png_crate);
            let what = format!("{colour:?} round {round}");
            match (ours, theirs) {
                (Ok(a), Ok(b)) => {
                    assert_same(&a, &b, &what);
                    decoded += 1;
                }
                (Err(a), Err(b)) => {
                    assert_eq!(a.to_string(), b.to_string(), "{what}");
                    failed += 1;
                }
                (a, b) => panic!("{what}: {:?} against {:?}", a.err(), b.err()),
            }
        }
    }
    // Both outcomes occur, or the comparison proves little.
    assert!(
        decoded > 20 && failed > 20,
        "{decoded} decoded, {failed} failed"
    );
}

/// Recompute the CRC of every chunk whose length still fits the file.
fn fix_crcs(bytes: &mut [u8]) {
    let mut at = 8;
    while at + 12 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let Some(end) = (at + 12).checked_add(len).filter(|&e| e <= bytes.len()) else {
            return;
        };
        let crc = crc32fast::hash(&bytes[at + 4..end - 4]);
        bytes[end - 4..end].copy_from_slice(&crc.to_be_bytes());
        at = end;
    }
}

/// Grey pixels are widened to RGB by copying the value into each channel
/// (the PNG rows, the general path and grey JPEGs at reduced DCT scale);
/// that must stay what `image` itself computes for 8-bit grey.
#[test]
fn grey_widens_to_rgb_as_image_does() {
    let grey = image::GrayImage::from_fn(256, 1, |x, _| image::Luma([x as u8]));
    let rgb = image::DynamicImage::ImageLuma8(grey).to_rgb8();
    for (v, p) in rgb.pixels().enumerate() {
        assert_eq!(p.0, [v as u8; 3], "grey {v}");
    }
    // A grey JPEG large enough for the reduced-scale path stays grey.
    let big = image::GrayImage::from_fn(900, 600, |x, y| {
        image::Luma([((x * 7 + y * 3) % 256) as u8])
    });
    let mut bytes = Vec::new();
    image::DynamicImage::ImageLuma8(big)
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    let d = decode(Path::new("g.jpg"), &bytes, &DecodeConfig::default()).unwrap();
    assert!(d.image.width() < 900, "decoded at reduced scale");
    assert!(d.image.pixels().all(|p| p[0] == p[1] && p[1] == p[2]));
}

/// A picture at least twice its working size in both directions is box
/// averaged: stripes two pixels wide come out as sharp one-pixel stripes.
/// Just under twice, the bilinear filter blends neighbouring stripes. Both
/// decoding paths agree either way.
#[test]
fn box_from_twice_the_working_size_bilinear_below() {
    let stripes = |w: u32, h: u32| {
        let img =
            image::GrayImage::from_fn(w, h, |x, _| image::Luma([[0, 255][(x / 2 % 2) as usize]]));
        let mut out = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    };
    let levels = |d: &Decoded| {
        let mut v: Vec<u8> = d.image.as_raw().to_vec();
        v.sort_unstable();
        v.dedup();
        v
    };
    let (streamed, whole) = both_ways(&stripes(1024, 512));
    assert_same(&streamed, &whole, "1024x512");
    assert_eq!(streamed.image.dimensions(), (512, 256));
    assert_eq!(levels(&streamed), [0, 255], "box: sharp stripes");
    assert_eq!(streamed.image.get_pixel(0, 0).0, [0, 0, 0]);
    assert_eq!(streamed.image.get_pixel(1, 0).0, [255, 255, 255]);

    let (streamed, whole) = both_ways(&stripes(1020, 510));
    assert_same(&streamed, &whole, "1020x510");
    assert_eq!(streamed.image.dimensions(), (512, 256));
    // A box would average one or two pixels: 0, 128 or 255 only.
    assert!(levels(&streamed).len() > 3, "bilinear: blended stripes");
}

/// A uniform frame is trimmed whether it is exactly one colour or carries
/// a little noise (as a re-encoded border does); a margin that varies
/// across the whole tolerance (a texture, not an added frame) and a frame
/// missing on one side are no frame.
#[test]
fn a_uniform_frame_is_trimmed_exact_or_noisy() {
    let framed = |spread: u8, open_right: bool| {
        let mut rnd = noise(5);
        image::RgbImage::from_fn(200, 100, |x, y| {
            // An open side keeps its corners: the columns decide.
            let open = open_right && (20..80).contains(&y);
            let frame = x < 10 || !(10..90).contains(&y) || (x >= 190 && !open);
            if frame {
                let v = 250 - rnd() % (spread + 1);
                image::Rgb([v, v, 250])
            } else {
                image::Rgb([(x * 7) as u8, (y * 5) as u8, 40])
            }
        })
    };
    assert!(imgdex::decode::trim_border(&framed(20, false)).is_none());
    for spread in [0, 3] {
        let content = imgdex::decode::trim_border(&framed(spread, false));
        let dims = content.as_ref().map(|c| c.dimensions());
        assert_eq!(dims, Some((180, 80)), "spread {spread}");
        assert_eq!(content.unwrap().get_pixel(0, 0).0, [70, 50, 40]);
        assert!(imgdex::decode::trim_border(&framed(spread, true)).is_none());
    }
}
