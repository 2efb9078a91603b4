//! Re-indexing: unchanged files are not re-analysed, changed and new files
//! are, deleted files' records go, and a bare mtime change is not a change.

use std::time::Duration;

use crate::util::*;

#[test]
fn reindex_counts_modified_deleted_touched_and_added_files_exactly() {
    let sb = Sandbox::new();
    let imgs = sb.dir("imgs");
    let n = 8;
    for i in 0..n {
        write_png(
            &imgs.join(format!("img{i}.png")),
            &scene(500 + i as u64, 384, 288),
        );
    }
    // A byte-identical copy of img3 (so it shows up in `dupes --by exact`).
    let doomed = imgs.join("img3_copy.png");
    std::fs::copy(imgs.join("img3.png"), &doomed).unwrap();
    let n = n + 1;

    let (out, s) = sb.index_basic([&imgs]);
    out.assert_code(0);
    assert_eq!(s.indexed, n);
    assert_eq!(
        sb.dupes(&["--by", "exact"]),
        vec![vec![disp(&imgs.join("img3.png")), disp(&doomed)]]
    );

    // Second run with nothing changed.
    let (out, s) = sb.index_basic([&imgs]);
    out.assert_code(0);
    assert_eq!(
        (s.indexed, s.unchanged, s.removed),
        (0, n, 0),
        "{}",
        out.describe()
    );

    // Modify one file's content (a different picture, different size) ...
    let modified = imgs.join("img1.png");
    let old_mtime = std::fs::metadata(&modified).unwrap().modified().unwrap();
    write_png(&modified, &scene(9001, 400, 300));
    // (make sure the mtime moved even on a coarse-grained filesystem)
    set_mtime(&modified, old_mtime + Duration::from_secs(5));
    // ... delete one ...
    std::fs::remove_file(&doomed).unwrap();
    // ... touch one (new mtime, same bytes) ...
    let touched = imgs.join("img5.png");
    let t = std::fs::metadata(&touched).unwrap().modified().unwrap();
    set_mtime(&touched, t + Duration::from_secs(3600));
    // ... and add one.
    let added = imgs.join("new.png");
    write_png(&added, &scene(9002, 384, 288));

    let (out, s) = sb.index_basic([&imgs]);
    out.assert_code(0);
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    assert_eq!(
        s.indexed,
        2,
        "modified + added are re-analysed: {}",
        out.describe()
    );
    assert_eq!(
        s.removed,
        1,
        "the deleted file's record is removed: {}",
        out.describe()
    );
    assert_eq!(
        s.unchanged,
        n - 2,
        "untouched files and the touched (same content) file: {}",
        out.describe()
    );

    let info = sb.info();
    assert_eq!(info.images, n); // -1 deleted, +1 added
    assert_eq!(info.features.hash, n);
    assert_eq!(info.corrupt, 0);

    // The touched file's record was refreshed: a further run has nothing to do.
    let (out, s) = sb.index_basic([&imgs]);
    out.assert_code(0);
    assert_eq!(
        (s.indexed, s.unchanged, s.removed),
        (0, n, 0),
        "{}",
        out.describe()
    );

    // The deleted path is gone from every report.
    assert!(
        sb.dupes(&["--by", "exact"]).is_empty(),
        "exact pair left after deleting one of them"
    );
    let probe = sb.dir("outside").join("img3_again.png");
    std::fs::copy(imgs.join("img3.png"), &probe).unwrap();
    let hits = sb.query_basic(&probe, &["--by", "hash", "-k", "50"]);
    assert_eq!(hits.len(), n);
    assert!(
        hits.iter().all(|h| h.path != disp(&doomed)),
        "deleted file still queried: {hits:?}"
    );
    assert_eq!(hits[0].path, disp(&imgs.join("img3.png")));

    // The modified file is indexed with its new content.
    let newpic = sb.dir("outside").join("modified_again.png");
    std::fs::copy(&modified, &newpic).unwrap();
    let hits = sb.query_basic(&newpic, &["--by", "hash", "-k", "1"]);
    assert_eq!(hits[0].path, disp(&modified));
    assert_eq!(hits[0].distance, 0.0);
    let hits = sb.query_basic(&newpic, &["--by", "hash", "-k", "2"]);
    assert!(
        hits[1].distance > 4.0,
        "the old content of img1 must not linger: {hits:?}"
    );
}

#[test]
fn reindexing_one_root_keeps_records_of_other_roots() {
    let sb = Sandbox::new();
    let a = sb.dir("a");
    let b = sb.dir("b");
    for i in 0..3 {
        write_png(&a.join(format!("a{i}.png")), &scene(600 + i, 320, 240));
        write_png(&b.join(format!("b{i}.png")), &scene(700 + i, 320, 240));
    }
    let (out, s) = sb.index_basic([&a, &b]);
    out.assert_code(0);
    assert_eq!(s.indexed, 6);

    // Delete a file in b, but only re-index a: b's records are not touched.
    std::fs::remove_file(b.join("b0.png")).unwrap();
    let (out, s) = sb.index_basic([&a]);
    out.assert_code(0);
    assert_eq!(
        (s.indexed, s.unchanged, s.removed),
        (0, 3, 0),
        "{}",
        out.describe()
    );
    assert_eq!(sb.info().images, 6);

    // Re-indexing b notices the deletion.
    let (_, s) = sb.index_basic([&b]);
    assert_eq!((s.indexed, s.unchanged, s.removed), (0, 2, 1));
    assert_eq!(sb.info().images, 5);
}

#[test]
fn a_file_that_stops_decoding_loses_its_record() {
    let sb = Sandbox::new();
    let imgs = sb.dir("imgs");
    write_png(&imgs.join("ok.png"), &scene(41, 320, 240));
    let victim = imgs.join("victim.png");
    write_png(&victim, &scene(42, 320, 240));
    let (_, s) = sb.index_basic([&imgs]);
    assert_eq!(s.indexed, 2);

    std::fs::write(&victim, b"no longer an image").unwrap();
    let (out, s) = sb.index_basic([&imgs]);
    out.assert_code(1);
    assert_eq!(s.failures_for(&victim).len(), 1, "{:?}", s.failed);
    assert_eq!(s.unchanged, 1);
    assert_eq!(
        sb.info().images,
        1,
        "a stale record of the broken file was kept"
    );
    let groups = sb.dupes(&["--by", "hash", "--threshold", "64"]);
    assert!(
        groups.iter().flatten().all(|p| *p != disp(&victim)),
        "{groups:?}"
    );
}

#[test]
fn overlapping_and_repeated_roots_index_each_file_once() {
    let sb = Sandbox::new();
    let imgs = sb.dir("imgs");
    let sub = sb.dir("imgs/sub");
    write_png(&imgs.join("a.png"), &scene(71, 320, 240));
    write_png(&sub.join("b.png"), &scene(72, 320, 240));
    let (out, s) = sb.index_basic([&imgs, &sub, &imgs, &sub.join("b.png")]);
    out.assert_code(0);
    assert_eq!(s.indexed, 2, "{}", out.describe());
    assert_eq!(sb.info().images, 2);
    let (_, s) = sb.index_basic([&sub]);
    assert_eq!((s.indexed, s.unchanged, s.removed), (0, 1, 0));
}

#[test]
fn a_vanished_root_is_a_failure_and_keeps_its_records() {
    let sb = Sandbox::new();
    let imgs = sb.dir("imgs");
    for i in 0..3 {
        write_png(&imgs.join(format!("{i}.png")), &scene(80 + i, 320, 240));
    }
    let (_, s) = sb.index_basic([&imgs]);
    assert_eq!(s.indexed, 3);

    // Like an unmounted drive: the whole root is gone.
    std::fs::rename(&imgs, sb.root.join("elsewhere")).unwrap();
    let (out, s) = sb.index_basic([&imgs]);
    out.assert_code(1);
    assert_eq!(s.failures_for(&imgs).len(), 1, "{:?}", s.failed);
    assert_eq!(
        s.removed, 0,
        "records of an unreachable root must not be dropped"
    );
    assert_eq!(sb.info().images, 3);

    // Back in place: all unchanged.
    std::fs::rename(sb.root.join("elsewhere"), &imgs).unwrap();
    let (out, s) = sb.index_basic([&imgs]);
    out.assert_code(0);
    assert_eq!((s.indexed, s.unchanged, s.removed), (0, 3, 0));
}

#[test]
fn a_file_that_stops_looking_like_an_image_loses_its_record() {
    let sb = Sandbox::new();
    let imgs = sb.dir("imgs");
    write_png(&imgs.join("keep.png"), &scene(90, 320, 240));
    // Indexed because its first bytes are a PNG signature (no extension).
    let sniffed = imgs.join("scan0001");
    write_png(&sniffed, &scene(91, 320, 240));
    // Indexed by extension, later replaced by a directory of the same name.
    let replaced = imgs.join("replaced.png");
    write_png(&replaced, &scene(92, 320, 240));
    let (_, s) = sb.index_basic([&imgs]);
    assert_eq!(s.indexed, 3);

    std::fs::write(&sniffed, b"now a plain text file\n").unwrap();
    std::fs::remove_file(&replaced).unwrap();
    std::fs::create_dir(&replaced).unwrap();
    let (out, s) = sb.index_basic([&imgs]);
    out.assert_code(0);
    assert_eq!(s.removed, 2, "{}", out.describe());
    assert_eq!(
        sb.info().images,
        1,
        "stale records of files that are no longer images"
    );
}
