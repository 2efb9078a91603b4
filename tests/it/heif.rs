//! HEIC and AVIF (phone formats) through libheif: the shipped fixtures are
//! indexed with CNN embeddings and land next to the JPEG they were encoded
//! from; a build without the `heif` feature (or a config that turns it off,
//! which takes the same code path) skips them with a notice that says how to
//! enable them; a damaged file is reported and the run goes on.

use std::path::PathBuf;

use imgdex::config::DecodeConfig;
use imgdex::decode;
use imgdex::heif;

use crate::util::{self, Sandbox};

fn fixture(dir: &str, name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir)
        .join(name)
}

/// The cat photo as JPEG, HEIC and AVIF, plus an unrelated photo.
fn phone_folder(sb: &Sandbox) -> PathBuf {
    let dir = sb.dir("phone");
    for (d, n) in [
        ("models", "chelsea.jpg"),
        ("models", "coffee.jpg"),
        ("heif", "chelsea.heic"),
        ("heif", "chelsea.avif"),
        ("heif", "alpha.avif"),
    ] {
        std::fs::copy(fixture(d, n), dir.join(n)).expect("copy fixture");
    }
    dir
}

fn decode_fixture(name: &str, cfg: &DecodeConfig) -> imgdex::Result<decode::Decoded> {
    let path = fixture("heif", name);
    let bytes = decode::read_file(&path, cfg)?;
    decode::decode(&path, &bytes, cfg)
}

#[test]
fn heif_off_gives_a_notice_that_says_how_to_enable_it() {
    let cfg = DecodeConfig {
        heif: false,
        ..DecodeConfig::default()
    };
    for (name, format) in [("chelsea.heic", "HEIC"), ("chelsea.avif", "AVIF")] {
        let err = decode_fixture(name, &cfg).expect_err("HEIF decoding is off");
        assert!(
            matches!(err, imgdex::Error::Unsupported { .. }),
            "{name}: {err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains(name), "{msg}");
        assert!(msg.contains(format), "{msg}");
        assert!(msg.contains(heif::HOW_TO_ENABLE), "{msg}");
    }
}

#[test]
fn phone_formats_are_indexed_with_embeddings_or_skipped_with_the_notice() {
    if util::no_model() {
        return;
    }
    let sb = Sandbox::new();
    let dir = phone_folder(&sb);
    let (out, summary) = sb.index([&dir]);
    if !heif::BUILT_IN {
        // A build without the feature: the three HEIF files fail with the
        // notice, the JPEGs are indexed, and the run says so in its exit code.
        out.assert_code(1);
        assert_eq!(summary.indexed, 2, "{}", out.describe());
        for n in ["chelsea.heic", "chelsea.avif", "alpha.avif"] {
            let f = summary.failures_for(&dir.join(n));
            assert_eq!(f.len(), 1, "{n}: {}", out.describe());
            assert!(f[0].error.contains("--features heif"), "{}", f[0].error);
        }
        return;
    }
    out.assert_code(0);
    assert_eq!(summary.indexed, 5, "{}", out.describe());
    assert_eq!(sb.info().features.embedding, 5);
    // Query by the HEIC: the other two encodings of the cat come first.
    let hits = sb.query(&dir.join("chelsea.heic"), &["-k", "4"]);
    let top: Vec<&str> = hits.iter().take(2).map(|h| h.path.as_str()).collect();
    for n in ["chelsea.jpg", "chelsea.avif"] {
        assert!(top.contains(&util::disp(&dir.join(n)).as_str()), "{hits:?}");
    }
    assert!(hits[1].distance < 0.1, "re-encodes embed close: {hits:?}");
    // ... and dupes groups the three encodings.
    let groups = sb.dupes(&[]);
    let cat: Vec<String> = ["chelsea.avif", "chelsea.heic", "chelsea.jpg"]
        .iter()
        .map(|n| util::disp(&dir.join(n)))
        .collect();
    assert!(groups.contains(&cat), "{groups:?}");
}

#[test]
fn heif_pixels_match_the_source_photo() {
    if !heif::BUILT_IN {
        util::skip("built without --features heif (libheif, installed by scripts/setup)");
        return;
    }
    let cfg = DecodeConfig::default();
    let heic = decode_fixture("chelsea.heic", &cfg).expect("decode heic");
    let path = fixture("models", "chelsea.jpg");
    let bytes = decode::read_file(&path, &cfg).expect("read jpeg");
    let jpeg = decode::decode(&path, &bytes, &cfg).expect("decode jpeg");
    assert_eq!(heic.format, "heic");
    assert_eq!((heic.width, heic.height), (jpeg.width, jpeg.height));
    assert_eq!(heic.image.dimensions(), jpeg.image.dimensions());
    let mean_abs = mean_abs_diff(&heic.image, &jpeg.image);
    assert!(mean_abs < 8.0, "mean |heic - jpeg| = {mean_abs}");
    // Transparent pixels are composited over white, the ellipse stays red.
    let alpha = decode_fixture("alpha.avif", &cfg).expect("decode avif");
    assert_eq!(alpha.format, "avif");
    let (w, h) = alpha.image.dimensions();
    let corner = alpha.image.get_pixel(1, 1).0;
    let centre = alpha.image.get_pixel(w / 2, h / 2).0;
    assert!(corner.iter().all(|&c| c > 240), "corner {corner:?}");
    assert!(centre[0] > 180 && centre[1] < 80, "centre {centre:?}");
}

#[test]
fn damaged_heif_is_reported_and_the_run_goes_on() {
    let sb = Sandbox::new();
    let dir = sb.dir("phone");
    let good = std::fs::read(fixture("heif", "chelsea.heic")).expect("read");
    util::write(&dir.join("cut.heic"), &good[..good.len() / 3]);
    util::write(
        &dir.join("junk.avif"),
        b"\0\0\0\x18ftypavif\0\0\0\0avifmif1garbage",
    );
    std::fs::copy(fixture("models", "coffee.jpg"), dir.join("coffee.jpg")).expect("copy");
    let (out, summary) = sb.index_basic([&dir]);
    out.assert_code(1);
    assert_eq!(summary.indexed, 1, "{}", out.describe());
    for n in ["cut.heic", "junk.avif"] {
        let f = summary.failures_for(&dir.join(n));
        assert_eq!(f.len(), 1, "{n}: {}", out.describe());
        assert!(!f[0].error.is_empty());
    }
}

fn mean_abs_diff(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    let total: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(&x, &y)| u64::from(x.abs_diff(y)))
        .sum();
    total as f64 / a.as_raw().len() as f64
}
