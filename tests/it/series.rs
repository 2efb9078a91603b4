//! Copies versus series (issue 31): separate captures of one scene (a
//! shape moving over a fixed background) with edited copies of each are
//! grouped capture by capture and the captures reported as a series; a
//! chain of pictures is not one group; and the suggested keeper is the
//! original over a larger framed copy and a harder-compressed one; a
//! palette swap of a sprite (a shiny) is no copy, a brightened one is.

use std::collections::BTreeSet;

use image::{Rgb, RgbImage};

use crate::util::{self, Sandbox};

/// The background with a disc of radius `r` at (`cx`, `cy`).
fn with_disc(bg: &RgbImage, cx: i64, cy: i64, r: i64) -> RgbImage {
    let mut img = bg.clone();
    for (x, y, p) in img.enumerate_pixels_mut() {
        let (dx, dy) = (i64::from(x) - cx, i64::from(y) - cy);
        if dx * dx + dy * dy <= r * r {
            *p = Rgb([240, 240, 30]);
        }
    }
    img
}

#[test]
fn captures_are_a_series_and_their_copies_groups() {
    if util::no_model() {
        return;
    }
    let sb = Sandbox::new();
    let dir = sb.dir("shots");
    let bg = util::scene(31, 320, 240);
    let mut families = Vec::new();
    for k in 0..4i64 {
        let shot = with_disc(&bg, 100 + 36 * k, 120, 30);
        let orig = dir.join(format!("shot{k}.png"));
        util::write_png(&orig, &shot);
        let jpeg = dir.join(format!("shot{k}_q60.jpg"));
        util::write_jpeg(&jpeg, &shot, 60);
        let bright = dir.join(format!("shot{k}_bright.png"));
        util::write_png(&bright, &util::brightened(&shot, 1.15));
        let fam: BTreeSet<String> = [orig, jpeg, bright].iter().map(|p| util::disp(p)).collect();
        families.push(fam);
    }
    let (out, _) = sb.index([dir.as_os_str()]);
    out.assert_code(0);
    let out = sb.imgdex(["dupes", "--json"]);
    out.assert_code(0);
    let j = out.json();
    let groups: Vec<BTreeSet<String>> = serde_json::from_value(j["groups"].clone()).unwrap();
    let got: BTreeSet<BTreeSet<String>> = groups.into_iter().collect();
    let want: BTreeSet<BTreeSet<String>> = families.iter().cloned().collect();
    assert_eq!(got, want, "each capture grouped with exactly its copies");
    // The captures are one series (each capture listed once, by its keeper).
    let series = j["series"].as_array().unwrap();
    assert_eq!(series.len(), 1, "{series:?}");
    let shots: Vec<String> = serde_json::from_value(series[0]["shots"].clone()).unwrap();
    assert_eq!(shots.len(), 4, "{shots:?}");
    for f in &families {
        assert_eq!(
            shots.iter().filter(|s| f.contains(*s)).count(),
            1,
            "{shots:?}"
        );
    }
    assert!(shots.contains(&series[0]["best"].as_str().unwrap().to_string()));
    // The text output lists the series apart.
    let text = sb.imgdex(["dupes"]);
    assert!(
        text.stdout.contains("series 1 (4 similar shots"),
        "{}",
        text.stdout
    );
}

#[test]
fn a_chain_of_views_is_not_one_group() {
    // A pan: each view shifted 12% from the last. Neighbours are alike
    // enough to be candidates with a wide hash threshold; the ends are not
    // copies of each other, so no group may hold both.
    let sb = Sandbox::new();
    let dir = sb.dir("pan");
    let wide = util::scene(77, 640, 240);
    let views: Vec<String> = (0..3u32)
        .map(|k| {
            let v = image::imageops::crop_imm(&wide, k * 40, 0, 320, 240).to_image();
            let p = dir.join(format!("view{k}.png"));
            util::write_png(&p, &v);
            util::disp(&p)
        })
        .collect();
    let (out, _) = sb.index_basic([dir.as_os_str()]);
    out.assert_code(0);
    for g in sb.dupes(&["--by", "hash", "--threshold", "64"]) {
        assert!(
            !(g.contains(&views[0]) && g.contains(&views[2])),
            "chained group {g:?}"
        );
    }
}

#[test]
fn the_keeper_is_the_original_not_the_largest_copy() {
    let sb = Sandbox::new();
    let dir = sb.dir("keep");
    // Fine texture, as a photo has.
    let orig = util::textured_scene(12, 400, 300, 5);
    let original = dir.join("IMG_0001.jpg");
    util::write_jpeg(&original, &orig, 92);
    let mut framed = RgbImage::from_pixel(440, 340, Rgb([255, 255, 255]));
    image::imageops::overlay(&mut framed, &orig, 20, 20);
    util::write_jpeg(&dir.join("a_framed.jpg"), &framed, 92);
    util::write_jpeg(&dir.join("b_reencoded.jpg"), &orig, 35);
    let d = util::only_group(&sb, &dir);
    assert_eq!(d["members"].as_array().unwrap().len(), 3, "{d}");
    assert_eq!(d["keeper"].as_str().unwrap(), util::disp(&original), "{d}");
    let reason = util::member_reason(&d, &util::disp(&original));
    assert!(reason.contains("keeper rule"), "{reason}");
    // Each other member says which rule ranked it below the keeper: the
    // added frame, and the harder compression.
    let why = |name: &str| util::member_reason(&d, name);
    let framed = why("a_framed.jpg");
    assert!(
        framed.contains("the keeper wins by rule 1 (no added frame)"),
        "{framed}"
    );
    let reencoded = why("b_reencoded.jpg");
    assert!(
        reencoded.contains("the keeper wins by rule 6 (least compressed)"),
        "{reencoded}"
    );
}

/// A sprite-like figure on white: a body, a head and a belly of flat
/// colours with dark outlines, and two eyes.
fn figure(body: [u8; 3], head: [u8; 3]) -> RgbImage {
    let shapes = [
        (40.0, 58.0, 30.0, 34.0, body),
        (40.0, 24.0, 18.0, 18.0, head),
        (40.0, 64.0, 14.0, 18.0, [250, 230, 170]),
    ];
    RgbImage::from_fn(80, 96, |x, y| {
        let (x, y) = (x as f32, y as f32);
        let mut colour = [255, 255, 255];
        for (cx, cy, rx, ry, c) in shapes {
            let d = ((x - cx) / rx).powi(2) + ((y - cy) / ry).powi(2);
            if d <= 1.0 {
                colour = if d > 0.82 { [16, 16, 16] } else { c };
            }
        }
        if [33.0, 47.0]
            .iter()
            .any(|ex| (x - ex).powi(2) + (y - 22.0).powi(2) <= 5.0)
        {
            colour = [16, 16, 16];
        }
        Rgb(colour)
    })
}

/// A figure, its copy brightened by 1.15 and `variant` of it, as PNGs:
/// the copy must group with the figure and the variant must not.
fn assert_variant_apart(variant: RgbImage) {
    let sb = Sandbox::new();
    let dir = sb.dir("sprites");
    let normal = figure([220, 90, 60], [240, 200, 60]);
    let (orig, bright, other) = (
        dir.join("normal.png"),
        dir.join("normal_bright.png"),
        dir.join("variant.png"),
    );
    util::write_png(&orig, &normal);
    util::write_png(&bright, &util::brightened(&normal, 1.15));
    util::write_png(&other, &variant);
    let (out, _) = sb.index([dir.as_os_str()]);
    out.assert_code(0);
    let out = sb.imgdex(["dupes", "--json"]);
    out.assert_code(0);
    let groups: Vec<BTreeSet<String>> =
        serde_json::from_value(out.json()["groups"].clone()).unwrap();
    let with_orig = groups.iter().find(|g| g.contains(&util::disp(&orig)));
    let with_orig = with_orig.expect("the brightened copy grouped with its original");
    assert!(with_orig.contains(&util::disp(&bright)), "{groups:?}");
    assert!(!with_orig.contains(&util::disp(&other)), "{groups:?}");
}

#[test]
fn a_palette_swap_is_kept_apart_and_a_tone_edit_is_not() {
    if util::no_model() {
        return;
    }
    // Body and head recoloured (a shiny): every outline in place.
    assert_variant_apart(figure([230, 130, 50], [200, 215, 70]));
}

#[test]
fn a_graphic_with_one_region_desaturated_is_kept_apart_by_its_palette() {
    if util::no_model() {
        return;
    }
    // The body's colour at 0.6 of its saturation, the head's untouched:
    // every hue in place (the chroma grid sees no turn), but no one tone
    // edit maps the two palettes.
    let y = 0.299 * 220.0 + 0.587 * 90.0 + 0.114 * 60.0;
    let body = [220.0f32, 90.0, 60.0].map(|c| (y + 0.6 * (c - y)).round() as u8);
    assert_variant_apart(figure(body, [240, 200, 60]));
}
