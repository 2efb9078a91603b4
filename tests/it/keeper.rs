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

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use image::{Rgb, RgbImage};

use crate::util::{self, Sandbox};

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

#[test]
fn with_one_modification_time_the_original_is_kept_over_captioned_framed_and_re_encoded_copies() {
    let sb = Sandbox::new();
    let dir = sb.dir("one_mtime");
    let orig = util::textured_scene(31, 400, 300, 7);
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
        util::set_mtime(p, when);
    }
    let d = util::only_group(&sb, &dir);
    assert_eq!(d["members"].as_array().unwrap().len(), 4, "{d}");
    assert_eq!(d["keeper"].as_str().unwrap(), util::disp(&original), "{d}");
    for (path, rules) in &copies {
        let name = path.file_name().unwrap().to_str().unwrap();
        let reason = util::member_reason(&d, name);
        assert!(
            rules
                .iter()
                .any(|r| reason.contains(&format!("the keeper wins by {r}"))),
            "{name}: {reason}\n{d}"
        );
    }
}
