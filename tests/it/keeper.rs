//! The suggested keeper when the clock cannot help: every file carries one
//! modification time (copies made with `cp -p` or by a sync tool), so the
//! content alone must rank the original above its edited copies.
//!
//! Not covered, because it does not hold: an upscaled copy. Rule 7 reads
//! bytes per pixel, and a photo upscaled 1.5–2× and saved at the original's
//! JPEG quality keeps 0.5–0.8× its bytes per pixel (measured on the
//! neardup originals), as much as a genuine original against its own
//! half-size copy (0.48–2.7×); telling them apart needs pixels at the
//! file's own resolution, which indexing never decodes (README, "Copies and
//! series").

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use image::{Rgb, RgbImage};
use serde_json::Value;

use crate::util::{self, Sandbox};

/// A photo-like scene with fine texture.
fn photo() -> RgbImage {
    let mut img = util::scene(31, 400, 300);
    let mut rng = util::Lcg::new(7);
    for p in img.pixels_mut() {
        let n = rng.range(0, 24) as u8;
        p.0 = p.0.map(|c| c.saturating_add(n));
    }
    img
}

/// `img` with a white caption band over its bottom sixth, with dark
/// letter-like blocks in it.
fn captioned(img: &RgbImage) -> RgbImage {
    let mut out = img.clone();
    let (w, h) = out.dimensions();
    let top = h - h / 6;
    for y in top..h {
        for x in 0..w {
            let letter = (x / 9) % 3 != 2 && (y - top) > 12 && (y - top) < h / 6 - 12;
            let c = if letter && (x * 7 + y * 3) % 5 < 3 {
                30
            } else {
                250
            };
            out.put_pixel(x, y, Rgb([c, c, c]));
        }
    }
    out
}

fn set_mtime(p: &Path, t: SystemTime) {
    let f = std::fs::File::options().write(true).open(p).expect("open");
    f.set_modified(t).expect("set mtime");
}

/// The member of `group` whose path ends with `name`.
fn member<'a>(group: &'a Value, name: &str) -> &'a Value {
    group["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["path"].as_str().unwrap().ends_with(name))
        .unwrap_or_else(|| panic!("{name} not in {group}"))
}

#[test]
fn with_one_modification_time_the_original_is_kept_over_captioned_framed_and_re_encoded_copies() {
    let sb = Sandbox::new();
    let dir = sb.dir("one_mtime");
    let orig = photo();
    let original = dir.join("IMG_0001.jpg");
    util::write_jpeg(&original, &orig, 92);
    // Names sort before the original's, and the captioned and framed
    // copies are larger files, so neither the path nor the size picks it.
    let mut framed = RgbImage::from_pixel(440, 340, Rgb([255, 255, 255]));
    image::imageops::overlay(&mut framed, &orig, 20, 20);
    // The caption band is a lighter, more contrasted strip: rule 4 or 5,
    // whichever its shift crosses first (there is no overlay rule).
    let copies: Vec<(PathBuf, &[&str])> = vec![
        (
            dir.join("a_captioned.jpg"),
            &["rule 4 (original brightness)", "rule 5 (original contrast)"],
        ),
        (dir.join("b_framed.jpg"), &["rule 1 (no added frame)"]),
        (dir.join("c_reencoded.jpg"), &["rule 6 (least compressed)"]),
    ];
    util::write_jpeg(&copies[0].0, &captioned(&orig), 95);
    util::write_jpeg(&copies[1].0, &framed, 92);
    util::write_jpeg(&copies[2].0, &orig, 40);
    let when = SystemTime::UNIX_EPOCH + Duration::from_secs(1_500_000_000);
    for p in std::iter::once(&original).chain(copies.iter().map(|c| &c.0)) {
        set_mtime(p, when);
    }
    let (out, _) = sb.index_basic([dir.as_os_str()]);
    out.assert_code(0);
    let out = sb.imgdex(["dupes", "--json"]);
    out.assert_code(0);
    let j = out.json();
    let details = j["details"].as_array().unwrap();
    assert_eq!(details.len(), 1, "{j}");
    let d = &details[0];
    assert_eq!(d["members"].as_array().unwrap().len(), 4, "{d}");
    assert_eq!(d["keeper"].as_str().unwrap(), util::disp(&original), "{d}");
    for (path, rules) in &copies {
        let name = path.file_name().unwrap().to_str().unwrap();
        let reason = member(d, name)["reason"].as_str().unwrap().to_string();
        assert!(
            rules
                .iter()
                .any(|r| reason.contains(&format!("the keeper wins by {r}"))),
            "{name}: {reason}\n{d}"
        );
    }
}
