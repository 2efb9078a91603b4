//! Hostile, broken and unusual inputs, each written by the test itself:
//! a bad file becomes one `failed` (or `skipped_files`) entry with its path
//! and never stops the run; unusual but valid images are indexed.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use image::{DynamicImage, ImageBuffer, ImageFormat, LumaA, Rgb, Rgba, RgbaImage};

use crate::util::*;

/// A valid image that every case directory also holds, so each test can
/// check that good files are still indexed next to the bad one.
fn good(dir: &Path, name: &str, seed: u64) -> PathBuf {
    let p = dir.join(name);
    write_png(&p, &scene(seed, 320, 240));
    p
}

fn valid_jpeg(seed: u64) -> Vec<u8> {
    jpeg_bytes(&scene(seed, 512, 384), 85)
}

fn mkfifo(p: &Path) {
    let st = Command::new("mkfifo").arg(p).status().expect("run mkfifo");
    assert!(st.success(), "mkfifo {} failed", p.display());
}

/// Exit code 0 or 1 (a normal end), never a crash or a signal.
fn assert_ran_to_completion(out: &Out) {
    assert!(
        matches!(out.code, Some(0) | Some(1)),
        "imgdex crashed or errored: {:?}\n{}",
        out.code,
        out.describe()
    );
}

/// Every failure path appears once.
fn assert_no_duplicate_failures(s: &IndexSummary) {
    let mut seen = BTreeSet::new();
    for f in &s.failed {
        assert!(
            seen.insert(f.path.clone()),
            "{} reported more than once: {:?}",
            f.path,
            s.failed
        );
        assert!(!f.error.is_empty(), "failure without a reason: {f:?}");
    }
}

#[test]
fn zero_byte_jpg_fails_with_its_path() {
    let sb = Sandbox::new();
    let dir = sb.dir("imgs");
    let ok = good(&dir, "ok.png", 1);
    let empty = dir.join("empty.jpg");
    write(&empty, b"");

    let (out, s) = sb.index_basic([&dir]);
    out.assert_code(1);
    let f = s.failures_for(&empty);
    assert_eq!(f.len(), 1, "{:?}", s.failed);
    assert!(f[0].error.contains("empty"), "{:?}", f[0]);
    assert_eq!(s.failed.len(), 1);
    assert_eq!(s.indexed, 1);
    assert_eq!(
        sb.query_basic(&ok, &["--by", "hash", "-k", "5"]).len(),
        0,
        "only ok.png itself is stored"
    );
    assert_eq!(sb.info().images, 1);
}

#[test]
fn truncated_jpeg_is_indexed_or_failed_once_without_crashing() {
    let sb = Sandbox::new();
    let dir = sb.dir("imgs");
    good(&dir, "ok.png", 2);
    let full = valid_jpeg(3);
    let trunc = dir.join("truncated.jpg");
    write(&trunc, &full[..full.len() * 3 / 10]);

    let (out, s) = sb.index_basic([&dir]);
    assert_ran_to_completion(&out);
    assert_no_duplicate_failures(&s);
    let failed = s.failures_for(&trunc).len();
    assert!(
        s.failed.len() == failed,
        "only the truncated file may fail: {:?}",
        s.failed
    );
    assert_eq!(s.indexed + failed, 2);
    assert_eq!(out.code, Some(if failed == 1 { 1 } else { 0 }));
    assert_eq!(sb.info().images, s.indexed);

    // Both decode paths survive it too.
    for mode in [&[][..], &["--no-scaled-jpeg"][..]] {
        let mut args = vec![OsStr::new("inspect"), trunc.as_os_str()];
        args.extend(mode.iter().chain(no_embed_for("inspect")).map(OsStr::new));
        let out = sb.imgdex(&args);
        assert!(
            matches!(out.code, Some(0) | Some(2)),
            "{mode:?}: {:?}\n{}",
            out.code,
            out.describe()
        );
    }
}

#[test]
fn text_file_named_png_fails_with_its_path() {
    let sb = Sandbox::new();
    let dir = sb.dir("imgs");
    good(&dir, "ok.png", 4);
    let fake = dir.join("notes.png");
    write(
        &fake,
        b"These are my holiday notes, not a picture.\n"
            .repeat(20)
            .as_slice(),
    );

    let (out, s) = sb.index_basic([&dir]);
    out.assert_code(1);
    let f = s.failures_for(&fake);
    assert_eq!(f.len(), 1, "{:?}", s.failed);
    assert!(f[0].error.contains("format"), "{:?}", f[0]);
    assert_eq!(s.indexed, 1);
}

#[test]
fn decompression_bomb_header_fails_with_pixel_limit_message() {
    let sb = Sandbox::new();
    let dir = sb.dir("imgs");
    good(&dir, "ok.png", 5);
    let bomb = dir.join("bomb.png");
    let bytes = bomb_png(60_000, 60_000);
    assert!(bytes.len() < 100);
    write(&bomb, &bytes);

    let (out, s) = sb.index_basic([&dir]);
    out.assert_code(1);
    let f = s.failures_for(&bomb);
    assert_eq!(f.len(), 1, "{:?}", s.failed);
    let msg = &f[0].error;
    assert!(
        msg.contains("60000x60000"),
        "message should name the claimed size: {msg}"
    );
    assert!(
        msg.contains("limit") && msg.contains("pixels"),
        "message should mention the pixel limit: {msg}"
    );
    assert_eq!(s.indexed, 1);

    let mut args = vec![OsStr::new("inspect"), bomb.as_os_str()];
    args.extend(no_embed_for("inspect").iter().map(OsStr::new));
    let out = sb.imgdex(&args);
    out.assert_code(2);
    assert!(
        out.stderr.contains("pixels") && out.stderr.contains("limit"),
        "{}",
        out.describe()
    );
}

#[test]
fn complete_png_over_lowered_max_pixels_fails() {
    let sb = Sandbox::new();
    let dir = sb.dir("imgs");
    let small = dir.join("small.png");
    write_png(&small, &scene(6, 800, 600)); // 480 000 pixels
    let big = dir.join("big.png");
    write_png(&big, &scene(7, 1200, 1000)); // 1 200 000 pixels

    let (out, s) = sb.index_basic([
        dir.as_os_str(),
        OsStr::new("--max-pixels"),
        OsStr::new("1000000"),
    ]);
    out.assert_code(1);
    let f = s.failures_for(&big);
    assert_eq!(f.len(), 1, "{:?}", s.failed);
    assert!(
        f[0].error.contains("1200x1000") && f[0].error.contains("1000000"),
        "{:?}",
        f[0]
    );
    assert_eq!(s.failed.len(), 1);
    assert_eq!(s.indexed, 1);

    // With the default limit the same file is fine.
    let (out, s) = sb.index_basic([&dir]);
    out.assert_code(0);
    assert_eq!((s.indexed, s.unchanged), (1, 1));
}

#[test]
fn broken_gif_fails_once() {
    let sb = Sandbox::new();
    let dir = sb.dir("imgs");
    good(&dir, "ok.png", 8);
    let gif = dir.join("broken.gif");
    let mut bytes = b"GIF89a".to_vec();
    bytes.extend_from_slice(&[100, 0, 100, 0, 0xF7, 0, 0]); // 100x100, 256-colour global table
    bytes.extend(Lcg::new(8).bytes(40)); // ... which is cut short
    write(&gif, &bytes);

    let (out, s) = sb.index_basic([&dir]);
    out.assert_code(1);
    assert_eq!(s.failures_for(&gif).len(), 1, "{:?}", s.failed);
    assert_eq!(s.failed.len(), 1);
    assert_eq!(s.indexed, 1);
}

#[test]
fn corrupt_jpeg_scan_data_does_not_crash() {
    let sb = Sandbox::new();
    let dir = sb.dir("imgs");
    good(&dir, "ok.png", 9);
    let mut rng = Lcg::new(99);
    let mut victims = Vec::new();
    for (i, (w, h)) in [(512u32, 384u32), (1280, 1024)].into_iter().enumerate() {
        let mut bytes = jpeg_bytes(&scene(10 + i as u64, w, h), 90);
        let start = jpeg_scan_start(&bytes);
        let scan_len = bytes.len() - 2 - start;
        let at = start + scan_len / 3;
        let junk = rng.bytes(scan_len / 4);
        bytes[at..at + junk.len()].copy_from_slice(&junk);
        let p = dir.join(format!("corrupt{i}.jpg"));
        write(&p, &bytes);
        victims.push(p);
    }

    let (out, s) = sb.index_basic([&dir]);
    assert_ran_to_completion(&out);
    assert_no_duplicate_failures(&s);
    let failed: usize = victims.iter().map(|v| s.failures_for(v).len()).sum();
    assert_eq!(
        s.failed.len(),
        failed,
        "only the corrupt files may fail: {:?}",
        s.failed
    );
    assert_eq!(s.indexed + failed, 3);
    assert_eq!(sb.info().images, s.indexed);

    for v in &victims {
        for mode in [&[][..], &["--no-scaled-jpeg"][..]] {
            let mut args = vec![OsStr::new("inspect"), v.as_os_str()];
            args.extend(mode.iter().chain(no_embed_for("inspect")).map(OsStr::new));
            let out = sb.imgdex(&args);
            assert!(
                matches!(out.code, Some(0) | Some(2)),
                "{mode:?}: {:?}\n{}",
                out.code,
                out.describe()
            );
        }
    }
}

#[test]
fn non_utf8_file_name_is_indexed_and_its_path_round_trips() {
    let sb = Sandbox::new();
    let dir = sb.dir("imgs");
    let weird = dir.join(OsStr::from_bytes(b"caf\xe9.png"));
    assert!(weird.to_str().is_none());
    write_png(&weird, &scene(12, 320, 240));
    let twin = dir.join("twin.png");
    std::fs::copy(&weird, &twin).unwrap();

    let (out, s) = sb.index_basic([&dir]);
    out.assert_code(0);
    assert_eq!(s.indexed, 2);
    assert!(s.failed.is_empty(), "{:?}", s.failed);

    // The displayed path is the lossy form of the real one.
    let lossy = disp(&weird);
    assert!(lossy.ends_with("caf\u{FFFD}.png"));
    assert_eq!(
        sb.dupes(&["--by", "exact"]),
        vec![vec![lossy.clone(), disp(&twin)]]
    );

    // The stored key is the exact byte path: a re-run finds the file
    // unchanged (a lossy key would be re-indexed and the old record removed).
    let (_, s) = sb.index_basic([&dir]);
    assert_eq!((s.indexed, s.unchanged, s.removed), (0, 2, 0));
    assert_eq!(sb.info().images, 2);

    // Querying with the file itself excludes its own record (matched by raw bytes).
    let hits = sb.query_basic(&weird, &["--by", "hash", "-k", "5"]);
    assert_eq!(
        hits,
        vec![Hit {
            path: disp(&twin),
            distance: 0.0
        }]
    );

    // Deleting it removes exactly its record.
    std::fs::remove_file(&weird).unwrap();
    let (_, s) = sb.index_basic([&dir]);
    assert_eq!((s.indexed, s.unchanged, s.removed), (0, 1, 1));
}

#[test]
fn file_name_of_250_bytes_is_indexed() {
    let sb = Sandbox::new();
    let dir = sb.dir("imgs");
    let name = format!("{}.png", "n".repeat(246));
    assert_eq!(name.len(), 250);
    let p = dir.join(&name);
    write_png(&p, &scene(13, 320, 240));

    let (out, s) = sb.index_basic([&dir]);
    out.assert_code(0);
    assert_eq!(s.indexed, 1);
    let twin = sb.dir("outside").join("twin.png");
    std::fs::copy(&p, &twin).unwrap();
    assert_eq!(
        sb.query_basic(&twin, &["--by", "hash", "-k", "1"]),
        vec![Hit {
            path: disp(&p),
            distance: 0.0
        }]
    );
    let (_, s) = sb.index_basic([&dir]);
    assert_eq!(s.unchanged, 1);
}

#[test]
fn symlink_loop_is_skipped_and_the_run_ends() {
    let sb = Sandbox::new();
    let dir = sb.dir("imgs");
    good(&dir, "top.png", 14);
    let sub = dir.join("sub");
    good(&sub, "inner.png", 15);
    let up = sub.join("up");
    std::os::unix::fs::symlink("..", &up).unwrap();

    let (out, s) = sb.index_basic([&dir]);
    out.assert_code(0);
    assert_eq!(s.indexed, 2, "each real image once: {}", out.describe());
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    let skips = s.skips_for(&up);
    assert_eq!(skips.len(), 1, "{:?}", s.skipped_files);
    assert!(skips[0].error.contains("loop"), "{:?}", skips[0]);
    assert_eq!(s.skipped, s.skipped_files.len());
    assert_eq!(sb.info().images, 2);
}

#[test]
fn symlink_to_the_parent_of_the_root_ends_in_a_reported_loop() {
    let sb = Sandbox::new();
    let dir = sb.dir("imgs");
    good(&dir, "top.png", 34);
    good(&sb.dir("sibling"), "beside.png", 35);
    // imgs/up -> .. leads to an ancestor of the root: following it would
    // walk the root again (and everything beside it).
    let up = dir.join("up");
    std::os::unix::fs::symlink("..", &up).unwrap();

    let (out, s) = sb.index_basic([&dir]);
    out.assert_code(0);
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    let skips = s.skips_for(&up);
    assert_eq!(skips.len(), 1, "{:?}", s.skipped_files);
    assert!(skips[0].error.contains("loop"), "{:?}", skips[0]);
    assert_eq!(
        s.indexed,
        1,
        "only top.png; nothing outside the root: {}",
        out.describe()
    );
}

#[test]
fn dangling_symlink_fails_with_its_path() {
    let sb = Sandbox::new();
    let dir = sb.dir("imgs");
    good(&dir, "ok.png", 16);
    let link = dir.join("gone.png");
    std::os::unix::fs::symlink(dir.join("never-existed.png"), &link).unwrap();

    let (out, s) = sb.index_basic([&dir]);
    out.assert_code(1);
    let f = s.failures_for(&link);
    assert_eq!(f.len(), 1, "{:?}", s.failed);
    assert!(f[0].error.contains("dangling"), "{:?}", f[0]);
    assert_eq!(s.failed.len(), 1);
    assert_eq!(s.indexed, 1);
}

#[test]
fn symlink_to_an_image_is_indexed_under_the_link_path() {
    let sb = Sandbox::new();
    let dir = sb.dir("imgs");
    let target = good(&sb.dir("elsewhere"), "real.png", 17);
    let link = dir.join("link.png");
    std::os::unix::fs::symlink(&target, &link).unwrap();

    let (out, s) = sb.index_basic([&dir]);
    out.assert_code(0);
    assert_eq!(s.indexed, 1);
    let hits = sb.query_basic(&target, &["--by", "hash", "-k", "1"]);
    assert_eq!(
        hits,
        vec![Hit {
            path: disp(&link),
            distance: 0.0
        }]
    );
}

#[test]
fn fifo_named_jpg_is_skipped_without_hanging() {
    let sb = Sandbox::new();
    let dir = sb.dir("imgs");
    good(&dir, "ok.png", 18);
    let fifo = dir.join("fifo.jpg");
    mkfifo(&fifo);

    // (Sandbox::index runs under a timeout: a hang fails the test.)
    let (out, s) = sb.index_basic([&dir]);
    out.assert_code(0);
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    let skips = s.skips_for(&fifo);
    assert_eq!(skips.len(), 1, "{:?}", s.skipped_files);
    assert!(skips[0].error.contains("pipe"), "{:?}", skips[0]);
    assert_eq!(s.indexed, 1);

    // Named directly on the command line, too.
    let (out, s) = sb.index_basic([&fifo]);
    out.assert_code(0);
    assert_eq!(s.skips_for(&fifo).len(), 1, "{:?}", s.skipped_files);
}

#[test]
fn inspect_and_query_of_a_fifo_fail_instead_of_hanging() {
    let sb = Sandbox::new();
    let dir = sb.dir("imgs");
    good(&dir, "ok.png", 19);
    let (out, _) = sb.index_basic([&dir]);
    out.assert_code(0);
    let fifo = sb.root.join("fifo.jpg");
    mkfifo(&fifo);
    for cmd in ["inspect", "query"] {
        let mut c = command(&sb.db());
        c.arg(cmd).arg(&fifo).args(no_embed_for(cmd));
        let out = run_with_timeout(c, vec![cmd.into()], Duration::from_secs(10));
        out.assert_code(2);
        assert!(
            out.stderr.contains("not a regular file"),
            "{}",
            out.describe()
        );
    }
}

#[test]
fn directory_named_like_an_image_is_not_a_failure() {
    let sb = Sandbox::new();
    let dir = sb.dir("imgs");
    good(&dir, "ok.png", 20);
    let folder = dir.join("folder.jpg");
    let inner = good(&folder, "inner.png", 21);

    let (out, s) = sb.index_basic([&dir]);
    out.assert_code(0);
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    assert!(s.skips_for(&folder).is_empty(), "{:?}", s.skipped_files);
    assert_eq!(s.indexed, 2, "the folder's content is indexed");
    assert_eq!(
        sb.query_basic(&inner, &["--by", "hash", "-k", "1"]).len(),
        1
    );
}

#[test]
fn unreadable_file_does_not_stop_the_run() {
    let sb = Sandbox::new();
    let dir = sb.dir("imgs");
    good(&dir, "ok.png", 22);
    let locked = good(&dir, "locked.png", 23);
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();

    let (out, s) = sb.index_basic([&dir]);
    assert_ran_to_completion(&out);
    assert_no_duplicate_failures(&s);
    if running_as_root() {
        // root reads mode-000 files: both are indexed.
        out.assert_code(0);
        assert_eq!(s.indexed, 2);
    } else {
        out.assert_code(1);
        let f = s.failures_for(&locked);
        assert_eq!(f.len(), 1, "{:?}", s.failed);
        assert!(
            f[0].error.to_lowercase().contains("permission denied"),
            "{:?}",
            f[0]
        );
        assert_eq!(s.indexed, 1);
    }
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o644)).unwrap();
}

#[test]
fn unusual_pngs_are_indexed() {
    let sb = Sandbox::new();
    let dir = sb.dir("imgs");
    let pic = scene(24, 320, 240);

    let one = dir.join("one_pixel.png");
    write(
        &one,
        &png_bytes(&DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
            1,
            1,
            Rgb([10, 200, 30]),
        ))),
    );

    let eight = dir.join("rgb8.png");
    write_png(&eight, &pic);
    let sixteen = dir.join("rgb16.png");
    let pic16: ImageBuffer<Rgb<u16>, Vec<u16>> = ImageBuffer::from_fn(320, 240, |x, y| {
        Rgb(pic.get_pixel(x, y).0.map(|v| u16::from(v) * 257))
    });
    write(&sixteen, &png_bytes(&DynamicImage::ImageRgb16(pic16)));

    let grey_alpha = dir.join("grey_alpha.png");
    let la: ImageBuffer<LumaA<u8>, Vec<u8>> = ImageBuffer::from_fn(200, 150, |x, y| {
        LumaA([
            (x + y) as u8,
            if x < 100 { 255 } else { (y * 255 / 150) as u8 },
        ])
    });
    write(&grey_alpha, &png_bytes(&DynamicImage::ImageLumaA8(la)));

    let (out, s) = sb.index_basic([&dir]);
    out.assert_code(0);
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    assert_eq!(s.indexed, 4);

    let r = inspect(&one, &[]);
    assert_eq!((r.width, r.height, r.format.as_str()), (1, 1, "png"));
    // A flat image: all of each channel's mass in one bin.
    assert!(
        r.histogram.g.iter().any(|&v| (v - 1.0).abs() < 1e-6),
        "{:?}",
        r.histogram.g
    );

    // 16 bits per channel hash exactly like the same picture in 8 bits.
    let h8 = inspect(&eight, &[]);
    let h16 = inspect(&sixteen, &[]);
    assert_eq!(h16.hashes, h8.hashes);
    assert_eq!((h16.width, h16.height), (320, 240));

    let r = inspect(&grey_alpha, &[]);
    assert_eq!((r.width, r.height), (200, 150));
    // Grey in, grey out: the three channel histograms agree.
    assert_eq!(r.histogram.r, r.histogram.g);
    assert_eq!(r.histogram.g, r.histogram.b);
}

#[test]
fn transparent_pixels_are_composited_over_white() {
    let dir = Sandbox::new();
    let pic = scene(25, 320, 240);
    // Fully transparent where the mask is set, half transparent in a band,
    // opaque elsewhere; only the colour under the transparent pixels differs.
    let make = |under: [u8; 3], alpha_in_mask: u8| -> RgbaImage {
        RgbaImage::from_fn(320, 240, |x, y| {
            let in_mask = (x as i32 - 100).pow(2) + (y as i32 - 120).pow(2) < 90 * 90;
            if in_mask {
                Rgba([under[0], under[1], under[2], alpha_in_mask])
            } else if y < 20 {
                let p = pic.get_pixel(x, y);
                Rgba([p[0], p[1], p[2], 128])
            } else {
                let p = pic.get_pixel(x, y);
                Rgba([p[0], p[1], p[2], 255])
            }
        })
    };
    let save = |name: &str, img: RgbaImage| {
        let p = dir.root.join(name);
        write(&p, &png_bytes(&DynamicImage::ImageRgba8(img)));
        p
    };
    let magenta = save("magenta_under.png", make([255, 0, 255], 0));
    let white = save("white_under.png", make([255, 255, 255], 0));
    let a = inspect(&magenta, &[]);
    let b = inspect(&white, &[]);
    assert_ne!(a.digest, b.digest, "the files differ");
    assert_eq!(
        a.hashes, b.hashes,
        "junk under transparent pixels reached the hashes"
    );
    assert_eq!(a.histogram.r, b.histogram.r);
    assert_eq!(a.histogram.g, b.histogram.g);
    assert_eq!(a.histogram.b, b.histogram.b);

    // Control: the region matters when it is opaque.
    let opaque_magenta = inspect(&save("opaque_magenta.png", make([255, 0, 255], 255)), &[]);
    let opaque_white = inspect(&save("opaque_white.png", make([255, 255, 255], 255)), &[]);
    assert_ne!(
        opaque_magenta.hashes, opaque_white.hashes,
        "the masked region is too small to test anything"
    );
    assert_ne!(opaque_magenta.histogram.g, opaque_white.histogram.g);
    // Fully transparent over anything == opaque white: alpha is composited over white.
    assert_eq!(b.hashes, opaque_white.hashes);
    assert_eq!(b.histogram.r, opaque_white.histogram.r);
    assert_eq!(b.histogram.b, opaque_white.histogram.b);
}

#[test]
fn webp_tiff_bmp_gif_are_indexed_and_grouped_with_their_png() {
    let sb = Sandbox::new();
    let dir = sb.dir("imgs");
    let pic = DynamicImage::ImageRgb8(scene(26, 400, 300));
    let mut paths = vec![];
    for (name, fmt, want) in [
        ("pic.png", ImageFormat::Png, "png"),
        ("pic.webp", ImageFormat::WebP, "webp"),
        ("pic.tiff", ImageFormat::Tiff, "tiff"),
        ("pic.bmp", ImageFormat::Bmp, "bmp"),
        ("pic.gif", ImageFormat::Gif, "gif"),
    ] {
        let p = dir.join(name);
        write(&p, &encode(&pic, fmt));
        let r = inspect(&p, &[]);
        assert_eq!(r.format, want, "{name}");
        assert_eq!((r.width, r.height), (400, 300), "{name}");
        paths.push(disp(&p));
    }
    good(&dir, "other.png", 27);

    let (out, s) = sb.index_basic([&dir]);
    out.assert_code(0);
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    assert_eq!(s.indexed, 6);
    paths.sort();
    assert_eq!(
        sb.dupes(&["--by", "hash"]),
        vec![paths],
        "the five encodings of one picture form one group"
    );
}

#[test]
fn content_decides_the_format_not_the_extension() {
    let sb = Sandbox::new();
    let dir = sb.dir("imgs");
    let png_as_jpg = dir.join("really_a_png.jpg");
    write(
        &png_as_jpg,
        &png_bytes(&DynamicImage::ImageRgb8(scene(28, 320, 240))),
    );
    let upper = dir.join("UPPER.JPG");
    write(&upper, &jpeg_bytes(&scene(29, 320, 240), 80));
    let no_ext = dir.join("no_extension");
    write(
        &no_ext,
        &png_bytes(&DynamicImage::ImageRgb8(scene(30, 320, 240))),
    );
    let readme = dir.join("README");
    write(&readme, b"just some text without an extension\n");
    let notes = dir.join("notes.txt");
    write(&notes, b"text\n");

    let (out, s) = sb.index_basic([&dir]);
    out.assert_code(0);
    assert_eq!(s.indexed, 3, "{}", out.describe());
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    assert!(
        s.skipped_files.is_empty(),
        "non-images are ignored silently: {:?}",
        s.skipped_files
    );

    assert_eq!(inspect(&png_as_jpg, &[]).format, "png");
    assert_eq!(inspect(&png_as_jpg, &["--no-scaled-jpeg"]).format, "png");
    assert_eq!(inspect(&upper, &[]).format, "jpeg");
    assert_eq!(inspect(&no_ext, &[]).format, "png");
    for p in [&png_as_jpg, &upper, &no_ext] {
        let twin = sb.dir("outside").join("twin");
        std::fs::copy(p, &twin).unwrap();
        assert_eq!(
            sb.query_basic(&twin, &["--by", "hash", "-k", "1"]),
            vec![Hit {
                path: disp(p),
                distance: 0.0
            }]
        );
    }
}

#[test]
fn svg_is_skipped_not_failed() {
    let sb = Sandbox::new();
    let dir = sb.dir("imgs");
    good(&dir, "ok.png", 31);
    let svg = dir.join("drawing.svg");
    write(
        &svg,
        br#"<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10" fill="red"/></svg>"#,
    );

    let (out, s) = sb.index_basic([&dir]);
    out.assert_code(0);
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    let skips = s.skips_for(&svg);
    assert_eq!(skips.len(), 1, "{:?}", s.skipped_files);
    assert!(skips[0].error.contains("vector"), "{:?}", skips[0]);
    assert_eq!((s.indexed, s.skipped), (1, 1));
}

#[test]
fn exif_orientation_6_is_applied_in_both_jpeg_decode_modes() {
    let sb = Sandbox::new();
    // Small: decoded at full size. Large (short side >= 2x the working
    // size): decoded at a reduced DCT scale by default.
    for (w, h) in [(400u32, 240u32), (1200, 720)] {
        let pic = scene(32 + w as u64, w, h);
        let plain = jpeg_bytes(&pic, 90);
        let p6 = sb.root.join(format!("rot6_{w}.jpg"));
        write(&p6, &with_exif_orientation(&plain, 6));
        let p8 = sb.root.join(format!("rot8_{w}.jpg"));
        write(&p8, &with_exif_orientation(&plain, 8));
        // What a viewer shows for orientation 6: the pixels turned 90° clockwise.
        let cw = sb.root.join(format!("cw_{w}.jpg"));
        write_jpeg(&cw, &rotated90(&pic), 90);
        let ccw = sb.root.join(format!("ccw_{w}.jpg"));
        write_jpeg(&ccw, &image::imageops::rotate270(&pic), 90);

        for mode in [&[][..], &["--no-scaled-jpeg"][..]] {
            let r6 = inspect(&p6, mode);
            assert_eq!(
                (r6.width, r6.height),
                (h, w),
                "{w}x{h} {mode:?}: orientation 6 must swap width and height"
            );
            let r8 = inspect(&p8, mode);
            assert_eq!(
                (r8.width, r8.height),
                (h, w),
                "{w}x{h} {mode:?}: orientation 8"
            );

            let rcw = inspect(&cw, mode);
            let rccw = inspect(&ccw, mode);
            let near = |a: &Inspect, b: &Inspect| {
                hex_distance(&a.hashes.phash, &b.hashes.phash) <= 6
                    && hex_distance(&a.hashes.dhash, &b.hashes.dhash) <= 6
            };
            assert!(
                near(&r6, &rcw),
                "{w}x{h} {mode:?}: orientation 6 is not a clockwise turn: {:?} vs {:?}",
                r6.hashes,
                rcw.hashes
            );
            assert!(
                near(&r8, &rccw),
                "{w}x{h} {mode:?}: orientation 8 is not a counter-clockwise turn"
            );
            assert!(
                !near(&r6, &rccw),
                "{w}x{h} {mode:?}: clockwise and counter-clockwise look alike; test is blind"
            );
        }
    }
}

/// All the bad cases in one folder next to good files: exit code 1, every
/// good file indexed, every failure listed exactly once with its path.
#[test]
fn mixed_folder_reports_each_failure_once_and_indexes_all_good_files() {
    let sb = Sandbox::new();
    let dir = sb.dir("imgs");
    let goods: Vec<PathBuf> = (0..4)
        .map(|i| good(&dir, &format!("good{i}.png"), 40 + i))
        .collect();
    let sub = dir.join("deeper");
    let good_jpg = sub.join("good.JPG");
    write(&good_jpg, &valid_jpeg(50));

    let must_fail = vec![
        (dir.join("empty.jpg"), Vec::new()),
        (dir.join("text.png"), b"hello, world\n".repeat(10)),
        (sub.join("bomb.png"), bomb_png(60_000, 60_000)),
        (
            dir.join("broken.gif"),
            b"GIF89a\x10\x00\x10\x00\xf7\x00\x00garbage".to_vec(),
        ),
    ];
    for (p, b) in &must_fail {
        write(p, b);
    }
    let dangling = dir.join("dangling.jpg");
    std::os::unix::fs::symlink(dir.join("nowhere.jpg"), &dangling).unwrap();
    let full = valid_jpeg(51);
    let trunc = sub.join("truncated.jpg");
    write(&trunc, &full[..full.len() * 3 / 10]);
    let svg = dir.join("vector.svg");
    write(&svg, b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>");
    mkfifo(&dir.join("pipe.png"));
    std::os::unix::fs::symlink("..", sub.join("loop")).unwrap();

    let (out, s) = sb.index_basic([&dir]);
    out.assert_code(1);
    assert_no_duplicate_failures(&s);
    let mut expected_failures: BTreeSet<String> = must_fail.iter().map(|(p, _)| disp(p)).collect();
    expected_failures.insert(disp(&dangling));
    let failed: BTreeSet<String> = s.failed.iter().map(|f| f.path.clone()).collect();
    let optional: BTreeSet<String> = [disp(&trunc)].into();
    assert!(
        failed.is_superset(&expected_failures),
        "missing failures: {:?}",
        expected_failures.difference(&failed).collect::<Vec<_>>()
    );
    assert!(
        failed
            .difference(&expected_failures)
            .all(|p| optional.contains(p)),
        "unexpected failures: {:?}",
        s.failed
    );
    let trunc_failed = failed.contains(&disp(&trunc)) as usize;
    assert_eq!(
        s.indexed,
        goods.len() + 1 + (1 - trunc_failed),
        "every good file is indexed"
    );
    let skipped: BTreeSet<String> = s.skipped_files.iter().map(|f| f.path.clone()).collect();
    let want_skipped: BTreeSet<String> = [
        disp(&svg),
        disp(&dir.join("pipe.png")),
        disp(&sub.join("loop")),
    ]
    .into();
    assert_eq!(skipped, want_skipped);
    assert_eq!(s.skipped, 3);

    let info = sb.info();
    assert_eq!(info.images, s.indexed);
    assert_eq!(info.corrupt, 0);
    for g in goods.iter().chain([&good_jpg]) {
        let twin = sb.dir("outside").join("twin.png");
        std::fs::copy(g, &twin).unwrap();
        assert_eq!(
            sb.query_basic(&twin, &["--by", "hash", "-k", "1"])[0].path,
            disp(g)
        );
    }

    // A second run: good files unchanged, the same failures again, once each.
    let (out, s2) = sb.index_basic([&dir]);
    out.assert_code(1);
    assert_no_duplicate_failures(&s2);
    assert_eq!((s2.indexed, s2.unchanged), (0, s.indexed));
    let failed2: BTreeSet<String> = s2.failed.iter().map(|f| f.path.clone()).collect();
    assert_eq!(failed2, failed);
}

#[test]
fn query_with_an_indexed_symlink_excludes_its_own_record() {
    let sb = Sandbox::new();
    let dir = sb.dir("imgs");
    good(&dir, "other.png", 36);
    let target = good(&sb.dir("elsewhere"), "real.png", 37);
    let link = dir.join("link.png");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let (out, _) = sb.index_basic([&dir]);
    out.assert_code(0);

    // As for a regular indexed file, the query image's own record is left out.
    let hits = sb.query_basic(&link, &["--by", "hash", "-k", "5"]);
    assert!(hits.iter().all(|h| h.path != disp(&link)), "{hits:?}");
    assert_eq!(hits.len(), 1);
}
