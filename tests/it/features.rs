//! The hand-written fast paths in `features` must stay bit-for-bit equal to
//! the definitions their fingerprints name (stores keep the old values).

use image::{Rgb, RgbImage};
use imgdex::features::embedding::{Fit, ModelSpec};
use imgdex::features::{hash, histogram};

/// A deterministic image covering every byte value in every channel.
fn varied(w: u32, h: u32) -> RgbImage {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    RgbImage::from_fn(w, h, |_, _| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        image::Rgb([state as u8, (state >> 8) as u8, (state >> 16) as u8])
    })
}

#[test]
fn grayscale_matches_the_image_crate() {
    let img = varied(97, 61);
    assert_eq!(hash::grayscale(&img), image::imageops::grayscale(&img));
}

#[test]
fn histogram_matches_the_per_pixel_definition() {
    // Photo-like noise, and graphics: flat areas (black first, so a run
    // starts before any pixel was counted one by one), runs of every
    // length around the four-pixel steps, an odd width.
    let flat = RgbImage::from_fn(123, 37, |x, y| match (x * 7 + y * 3) / 41 {
        0 => Rgb([0, 0, 0]),
        1 => Rgb([255, 255, 255]),
        2 if x % 5 == 0 => Rgb([9, 200, 31]),
        n => Rgb([(n * 40) as u8, 17, (y % 3) as u8]),
    });
    for img in [
        varied(120, 80),
        flat,
        RgbImage::new(5, 3),
        RgbImage::new(1, 1),
    ] {
        for bins in [2u16, 7, 32, 100, 256] {
            let nb = usize::from(bins);
            let mut counts = vec![0u32; 3 * nb];
            for p in img.pixels() {
                for c in 0..3 {
                    counts[c * nb + usize::from(p[c]) * nb / 256] += 1;
                }
            }
            let n = (img.width() * img.height()) as f32;
            let expected: Vec<f32> = counts.iter().map(|&c| c as f32 / n).collect();
            let got = histogram::compute(&img, bins);
            assert_eq!(
                got.values,
                expected,
                "bins = {bins}, {:?}",
                img.dimensions()
            );
        }
    }
}

/// The straightforward CNN preprocessing: copy the centre square out, resize
/// it if needed, normalise pixel by pixel.
fn reference_preprocess(img: &RgbImage, spec: &ModelSpec) -> Vec<f32> {
    let (w, h) = img.dimensions();
    let side = (w.min(h) * spec.input_size / spec.resize_short).max(1);
    let crop = image::imageops::crop_imm(
        img,
        (w - side).div_ceil(2),
        (h - side).div_ceil(2),
        side,
        side,
    )
    .to_image();
    reference_square(crop, spec)
}

/// A square resized to the input (unless it is that size),
/// normalised pixel by pixel, NCHW.
fn reference_square(square: RgbImage, spec: &ModelSpec) -> Vec<f32> {
    let s = spec.input_size;
    let sq = if square.width() == s {
        square
    } else {
        imgdex::decode::resize_rgb(&square, s, s, imgdex::decode::Filter::Bicubic)
    };
    let plane = (s * s) as usize;
    let mut out = vec![0f32; 3 * plane];
    let scale = spec.scale.unwrap();
    for (i, p) in sq.pixels().enumerate() {
        for c in 0..3 {
            out[c * plane + i] = (f32::from(p[c]) - spec.mean[c]) * scale;
        }
    }
    out
}

/// The straightforward `fit = pad` preprocessing: paste the image pixel by
/// pixel into the middle of a white square 1 + margin times its long side,
/// resize that square, normalise pixel by pixel.
fn reference_pad(img: &RgbImage, spec: &ModelSpec) -> Vec<f32> {
    let (w, h) = img.dimensions();
    let side =
        ((f64::from(w.max(h)) * (1.0 + f64::from(spec.pad_margin))).round() as u32).max(w.max(h));
    let mut canvas = RgbImage::from_pixel(side, side, image::Rgb([255, 255, 255]));
    let (x0, y0) = ((side - w) / 2, (side - h) / 2);
    for (x, y, p) in img.enumerate_pixels() {
        canvas.put_pixel(x0 + x, y0 + y, *p);
    }
    reference_square(canvas, spec)
}

fn spec(fit: Fit) -> ModelSpec {
    ModelSpec {
        name: "test".into(),
        input: "input".into(),
        input_size: 224,
        resize_short: 256,
        fit,
        pad_margin: if fit != Fit::Crop { 0.1 } else { 0.0 },
        mean: [127.0; 3],
        std: None,
        scale: Some(1.0 / 128.0),
        embedding_output: "embedding".into(),
        logits_output: None,
        embedding_dim: 1280,
        dupe_output: None,
        dupe_dim: 0,
    }
}

#[test]
fn cnn_preprocessing_matches_the_straightforward_version() {
    let spec = spec(Fit::Crop);
    // 256 short side: the centre square is read in place; the others resample.
    for (w, h) in [(256, 341), (341, 256), (256, 256), (300, 257), (180, 400)] {
        let img = varied(w, h);
        let got = imgdex::features::embedding::preprocess(&img, &spec);
        assert_eq!(got, reference_preprocess(&img, &spec), "{w}x{h}");
    }
}

/// Alpha flattening skips the blend for opaque and fully transparent
/// pixels: the bytes must equal the blend formula applied to every pixel.
#[test]
fn flatten_alpha_equals_the_blend_formula_for_every_pixel() {
    let (w, h) = (67u32, 41u32);
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let rgba = image::RgbaImage::from_fn(w, h, |_, _| {
        let r = next();
        let a = match r % 4 {
            0 => 0,
            1 => 255,
            _ => (r >> 8) as u8,
        };
        image::Rgba([(r >> 16) as u8, (r >> 24) as u8, (r >> 32) as u8, a])
    });
    let got = imgdex::decode::flatten_alpha(image::DynamicImage::ImageRgba8(rgba.clone()));
    for (x, y, p) in rgba.enumerate_pixels() {
        let a = u32::from(p[3]);
        let want: Vec<u8> = (0..3)
            .map(|c| ((u32::from(p[c]) * a + 255 * (255 - a) + 127) / 255) as u8)
            .collect();
        assert_eq!(
            &got.get_pixel(x, y).0[..],
            &want[..],
            "pixel ({x}, {y}) alpha {a}"
        );
    }
}

#[test]
fn pad_preprocessing_matches_the_straightforward_version() {
    let spec = spec(Fit::Pad);
    // 204 x 1.1 = 224.4: the square is the input size and is not resampled.
    for (w, h) in [
        (256, 341),
        (341, 256),
        (204, 150),
        (40, 40),
        (1, 300),
        (300, 257),
    ] {
        let img = varied(w, h);
        let got = imgdex::features::embedding::preprocess(&img, &spec);
        assert_eq!(got, reference_pad(&img, &spec), "{w}x{h}");
    }
}

/// A small sprite on transparency: with `fit = pad` a mark in its corner
/// still reaches the model input (the centre crop cuts it off), and the
/// transparent background arrives as white.
#[test]
fn pad_keeps_a_sprites_corner_in_the_input() {
    let sprite = |mark: bool| {
        let mut rgba = image::RgbaImage::new(40, 40); // fully transparent
        for y in 8..32 {
            for x in 8..32 {
                rgba.put_pixel(x, y, image::Rgba([30, 90, 200, 255]));
            }
        }
        if mark {
            for y in 0..2 {
                for x in 0..2 {
                    rgba.put_pixel(x, y, image::Rgba([220, 20, 20, 255]));
                }
            }
        }
        // The working image: flattened over white, short side 256.
        let flat = imgdex::decode::flatten_alpha(image::DynamicImage::ImageRgba8(rgba));
        imgdex::decode::resize_rgb(&flat, 256, 256, imgdex::decode::Filter::Bilinear)
    };
    let (plain, marked) = (sprite(false), sprite(true));
    let pad = spec(Fit::Pad);
    let (a, b) = (
        imgdex::features::embedding::preprocess(&plain, &pad),
        imgdex::features::embedding::preprocess(&marked, &pad),
    );
    let changed = a.iter().zip(&b).filter(|(x, y)| x != y).count();
    assert!(
        changed > 100,
        "the corner mark changed {changed} input values"
    );
    // The margin is white: (255 - 127) / 128 in every channel.
    assert_eq!(a[0], 1.0);
    let crop = spec(Fit::Crop);
    assert_eq!(
        imgdex::features::embedding::preprocess(&plain, &crop),
        imgdex::features::embedding::preprocess(&marked, &crop),
        "the centre crop was expected to cut the corner off"
    );
}

/// `fit = auto` pads a cut-out (alpha channel, transparent corner) and
/// centre-crops anything else, decided from the file as decoded.
#[test]
fn auto_fit_pads_cut_outs_and_crops_scenes() {
    let png = |rgba: image::RgbaImage| {
        let mut out = Vec::new();
        image::DynamicImage::ImageRgba8(rgba)
            .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    };
    // Short side 256: no upsampling before the network (tested below).
    let scene = varied(384, 256);
    let opaque = image::RgbaImage::from_fn(384, 256, |x, y| {
        let p = scene.get_pixel(x, y);
        image::Rgba([p[0], p[1], p[2], 255])
    });
    let mut cutout = opaque.clone();
    cutout.put_pixel(0, 0, image::Rgba([0, 0, 0, 0]));
    let auto = spec(Fit::Auto);
    let cfg = imgdex::decode::DecodeConfig::default();
    for (name, rgba, want_pad) in [("opaque", opaque, false), ("cut-out", cutout, true)] {
        let bytes = png(rgba);
        let d = imgdex::decode::decode(std::path::Path::new(name), &bytes, &cfg).unwrap();
        assert_eq!(d.cutout, want_pad, "{name}: cut-out flag");
        let got = imgdex::features::embedding::preprocess_decoded(&d, &auto);
        let fit = if want_pad { Fit::Pad } else { Fit::Crop };
        let mut want_spec = spec(fit);
        want_spec.pad_margin = auto.pad_margin;
        let want = imgdex::features::embedding::preprocess(d.content(), &want_spec);
        assert_eq!(got, want, "{name}: auto is {fit:?}");
    }
    let jpeg_like = imgdex::features::embedding::preprocess(&scene, &auto);
    assert_eq!(jpeg_like, reference_preprocess(&scene, &spec(Fit::Crop)));
}

/// Decoding never upsamples: an image smaller than the working size keeps
/// its pixels, a larger one comes down to a 256 short side. Before the
/// network, a small image's content is brought up to the resize side with
/// the bilinear filter.
#[test]
fn small_images_keep_their_size_until_the_network_upsamples_them() {
    let cfg = imgdex::decode::DecodeConfig::default();
    let png = |img: &image::RgbImage| {
        let mut out = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    };
    for ((w, h), want) in [((100, 80), (100, 80)), ((1000, 800), (320, 256))] {
        let bytes = png(&varied(w, h));
        let d = imgdex::decode::decode(std::path::Path::new("x.png"), &bytes, &cfg).unwrap();
        assert_eq!(d.image.dimensions(), want, "{w}x{h}");
        assert_eq!((d.width, d.height), (w, h));
    }
    let small = varied(100, 80);
    let d = imgdex::decode::decode(std::path::Path::new("s.png"), &png(&small), &cfg).unwrap();
    let crop = spec(Fit::Crop);
    let up = imgdex::decode::resize_rgb(d.content(), 320, 256, imgdex::decode::Filter::Bilinear);
    let got = imgdex::features::embedding::preprocess_decoded(&d, &crop);
    assert_eq!(got, imgdex::features::embedding::preprocess(&up, &crop));
    assert_ne!(got, imgdex::features::embedding::preprocess(&small, &crop));
}

/// A large image with alpha is resized before it is flattened over white
/// (premultiplied, so hidden colours do not bleed): the working image is
/// the one flattening first would give, up to rounding.
#[test]
fn alpha_is_flattened_after_the_resize_with_the_same_picture() {
    let scene = varied(600, 400);
    let rgba = image::RgbaImage::from_fn(600, 400, |x, y| {
        let p = scene.get_pixel(x, y);
        // Transparent band with a loud hidden colour, soft edges, opaque rest.
        let a = match x {
            0..200 => 0,
            200..300 => ((x - 200) * 255 / 100) as u8,
            _ => 255,
        };
        let c = if a == 0 {
            [255, 0, 255]
        } else {
            [p[0], p[1], p[2]]
        };
        image::Rgba([c[0], c[1], c[2], a])
    });
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgba8(rgba.clone())
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .unwrap();
    let cfg = imgdex::decode::DecodeConfig::default();
    let d = imgdex::decode::decode(std::path::Path::new("a.png"), &bytes, &cfg).unwrap();
    let flat = imgdex::decode::flatten_alpha(image::DynamicImage::ImageRgba8(rgba));
    let filter = imgdex::decode::working_filter((600, 400), (384, 256));
    let want = imgdex::decode::resize_rgb(&flat, 384, 256, filter);
    assert_eq!(d.image.dimensions(), want.dimensions());
    let worst = d
        .image
        .as_raw()
        .iter()
        .zip(want.as_raw())
        .map(|(a, b)| a.abs_diff(*b))
        .max()
        .unwrap();
    assert!(worst <= 3, "largest channel difference {worst}");
    // The hidden magenta never shows: the transparent band is white.
    assert_eq!(d.image.get_pixel(20, 100).0, [255, 255, 255]);
}

/// The hashers get their input pre-resized with cached weights; the hashes
/// must be the ones image_hasher computes resizing by itself, for every
/// input size the hash input can have (1 to 32 on each side).
#[test]
fn hashes_equal_image_hasher_s_own_resizes() {
    use image_hasher::{HashAlg, HasherConfig};
    let base = || HasherConfig::with_bytes_type::<[u8; 8]>().hash_size(8, 8);
    let phash = base().hash_alg(HashAlg::Median).preproc_dct().to_hasher();
    let dhash = base().hash_alg(HashAlg::Gradient).to_hasher();
    let ahash = base().hash_alg(HashAlg::Mean).to_hasher();
    let u64_of =
        |h: image_hasher::ImageHash<[u8; 8]>| u64::from_be_bytes(h.as_bytes().try_into().unwrap());
    let mut checked = 0;
    for w in 1..=32u32 {
        for h in (1..=32u32).filter(|h| (w * 7 + h * 3) % 5 == 0 || w == *h) {
            // Smooth shapes plus noise, so the hashes have bits both ways.
            let rgb = varied(w, h);
            let grey = image::GrayImage::from_fn(w, h, |x, y| {
                let n = rgb.get_pixel(x, y)[0] / 4;
                image::Luma([((x * 200 / w + y * 40 / h) as u8).wrapping_add(n)])
            });
            let got = hash::hash_grey(&grey);
            let img = image::DynamicImage::ImageLuma8(grey);
            let want = (
                u64_of(phash.hash_image(&img)),
                u64_of(dhash.hash_image(&img)),
                u64_of(ahash.hash_image(&img)),
            );
            assert_eq!((got.phash, got.dhash, got.ahash), want, "{w}x{h}");
            checked += 1;
        }
    }
    assert!(checked > 200, "{checked} sizes");
}
